"""The Flows API: flows (create, get, list, update, delete, validate), runs of them on the local
engine (start, validate, list, get, log, definition, update, cancel, resume, release), with the
checks the service makes: principals in their roles, the input schema, the run's label and tags,
and the 200 KB run state, refused when the run is asked for.

Documents have the keys of globus-sdk's registered responses for each method (FlowsClient in
``globus_sdk/testing/data/flows``); tests/test_emulator_conformance.py holds them to it."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from palxfel_globus.emulator.api import ApiError, Route, json_object, not_found, page
from palxfel_globus.emulator.runs import action_view
from palxfel_globus.engine.runner import MAX_RUN_STATE_BYTES, iso

FLOW_FIELDS = (
    "title",
    "subtitle",
    "description",
    "keywords",
    "flow_viewers",
    "flow_starters",
    "flow_administrators",
    "run_managers",
    "run_monitors",
    "subscription_id",
)
RUN_REQUEST_FIELDS = ("body", "label", "tags", "run_managers", "run_monitors", "activity_notification_policy")
MAX_LABEL = 64  # UNVERIFIED: the published types say only "string"; the web app's run form stops at 64
PRINCIPAL = re.compile(r"^urn:globus:(auth:identity|groups:id):[0-9a-fA-F-]{36}$")
# role -> (the service's name for it, the one keyword it takes besides principal URNs)
ROLES = {
    "flow_viewers": ("FlowViewer", "public"),
    "flow_starters": ("FlowStarter", "all_authenticated_users"),
    "flow_administrators": ("FlowAdministrator", None),
    "run_managers": ("RunManager", None),
    "run_monitors": ("RunMonitor", None),
}
# Not in a deleted flow's document (delete_flow's registered response)
NOT_IN_DELETED = ("action_url", "flow_url", "run_managers", "run_monitors")
FLOW_DESCRIPTION = (
    "created_at",
    "flow_owner",
    "created_by",
    "description",
    "globus_auth_scope",
    "id",
    "keywords",
    "subtitle",
    "title",
    "updated_at",
)


def _definition_problems(definition: Any) -> list[tuple[list[Any], str]]:
    """(location, message) for each error in a definition, including an action URL the service
    would not resolve (a retired one, or one this emulator has no provider for)."""
    from palxfel_globus.engine.definition import validate

    if not isinstance(definition, dict):
        return [(["definition"], "the definition must be a JSON object")]
    problems = []
    for finding in validate(definition):
        if not finding.warning or finding.unresolved:
            location = ["definition"] if finding.state.startswith("(") else ["definition", "States", finding.state]
            problems.append((location, finding.message))
    return problems


def _schema_problems(schema: Any) -> list[tuple[list[Any], str]]:
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [(["input_schema"], exc.message)]
    return []


def _principal_problems(document: dict[str, Any]) -> list[tuple[list[Any], str]]:
    """Each principal that is not a URN (or its role's keyword), where the service says it."""
    problems = []
    for field, (role, keyword) in ROLES.items():
        value = document.get(field)
        if value is None:
            continue
        if not isinstance(value, list):
            problems.append(([field], f"{field} must be a list of principal URNs"))
            continue
        allowed = "[<AuthGroupUrn>, <AuthIdentityUrn>" + (f", {keyword!r}]" if keyword else "]")
        for number, principal in enumerate(value):
            if not (isinstance(principal, str) and (PRINCIPAL.match(principal) or principal == keyword)):
                problems.append(
                    (
                        [field, number],
                        f"Unrecognized principal string: {json.dumps(principal)}. Allowed principal types in "
                        f'role "{role}": {allowed}',
                    )
                )
    return problems


def _unprocessable(problems: list[tuple[list[Any], str]], part: str = "body") -> ApiError:
    detail = [{"loc": location, "msg": message, "type": "value_error"} for location, message in problems]
    where = lambda location: "$." + ".".join(str(part) for part in location)  # noqa: E731
    message = f"{len(problems)} validation error(s) in {part}. " + " ".join(
        f"{where(location)}: {text}" for location, text in problems
    )
    return ApiError(422, "UNPROCESSABLE_ENTITY", message, detail=detail, message=message)


def _check(document: dict[str, Any]) -> None:
    problems = _definition_problems(document.get("definition"))
    if "input_schema" in document:
        problems += _schema_problems(document["input_schema"])
    problems += _principal_problems(document)
    if problems:
        raise _unprocessable(problems)


def _flow(emulator: Any, flow_id: str) -> dict[str, Any]:
    flow = emulator.store.get("flow", flow_id)
    if flow is None:
        raise not_found("flow", flow_id)
    return flow


def _view(emulator: Any, flow: dict[str, Any]) -> dict[str, Any]:
    """The flow as the service shows it (the SDK's get_flow data); subscription_id only once set."""
    url = f"{emulator.url('flows')}flows/{flow['id']}"
    shown = {
        **{key: value for key, value in flow.items() if key != "subscription_id" or value},
        "action_url": url,
        "flow_url": url,
    }
    return shown


def create_flow(emulator: Any, request: Any) -> tuple[int, dict[str, Any]]:
    """201, as the Flows API's published types say (globus-sdk's data says 200)."""
    body = json_object(request)
    if "definition" not in body or "title" not in body:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "A flow needs a definition and a title.")
    _check(body)
    flow_id = str(uuid.uuid4())
    owner = f"urn:globus:auth:identity:{emulator.client_id}"
    now = iso(time.time())
    flow = {
        "id": flow_id,
        "definition": body["definition"],
        "input_schema": body.get("input_schema") or {},
        **{key: body.get(key) for key in FLOW_FIELDS},
        "keywords": body.get("keywords") or [],
        "subtitle": body.get("subtitle") or "",
        "description": body.get("description") or "",
        "flow_owner": owner,
        "created_by": owner,
        "created_at": now,
        "updated_at": now,
        "globus_auth_scope": f"https://auth.globus.org/scopes/{flow_id}/flow_{flow_id.replace('-', '_')}_user",
        "globus_auth_username": f"{flow_id}@clients.auth.globus.org",
        "principal_urn": f"urn:globus:auth:identity:{flow_id}",
        "user_role": "flow_owner",
        "synchronous": False,
        "log_supported": True,
        "types": ["Action"],
        "api_version": "1.0",
        "visible_to": [],
        "runnable_by": [],
        "administered_by": [],
    }
    for key in ROLES:
        flow[key] = flow[key] or []
    emulator.store.put("flow", flow_id, flow)
    return 201, _view(emulator, flow)


def get_flow(emulator: Any, request: Any, flow_id: str) -> dict[str, Any]:
    return _view(emulator, _flow(emulator, flow_id))


def list_flows(emulator: Any, request: Any) -> dict[str, Any]:
    return page([_view(emulator, flow) for flow in emulator.store.all("flow")], "flows", request)


def update_flow(emulator: Any, request: Any, flow_id: str) -> dict[str, Any]:
    flow = _flow(emulator, flow_id)
    body = json_object(request)
    _check({"definition": body.get("definition", flow["definition"]), **body})
    for key in ("definition", "input_schema", *FLOW_FIELDS):
        if key in body:
            flow[key] = body[key]
    flow["updated_at"] = iso(time.time())
    emulator.store.put("flow", flow_id, flow)
    return _view(emulator, flow)


def delete_flow(emulator: Any, request: Any, flow_id: str) -> dict[str, Any]:
    flow = _flow(emulator, flow_id)
    emulator.store.delete("flow", flow_id)
    now = iso(time.time())
    shown = {key: value for key, value in _view(emulator, flow).items() if key not in NOT_IN_DELETED}
    return dict(shown, DELETED=True, deleted_at=now, updated_at=now)


def validate_flow(emulator: Any, request: Any) -> dict[str, Any]:
    body = json_object(request)
    _check(body)
    return {"scopes": {"User": sorted(_action_scopes(body["definition"]))}}


def _action_scopes(definition: dict[str, Any]) -> set[str]:
    """The scopes a run needs, one per kind of action provider its states call."""
    scopes = set()
    for state in (definition.get("States") or {}).values():
        url = str(state.get("ActionUrl") or "")
        if "transfer.actions.globus.org" in url:
            scopes.add("urn:globus:auth:scope:transfer.api.globus.org:all")
        elif "compute.actions.globus.org" in url:
            scopes.add("https://auth.globus.org/scopes/facd7ccc-c5f4-42aa-916b-a0e270e2c2a9/all")
        elif url:
            scopes.add(state.get("ActionScope") or url)
    return scopes


def _run_request_problems(request_body: dict[str, Any]) -> list[tuple[list[Any], str]]:
    """What the service refuses in a run request (422): unknown fields, a label that is not 1 to 64
    characters of text, tags that are not strings, principals that are not URNs."""
    problems: list[tuple[list[Any], str]] = [
        ([field], "extra fields not permitted") for field in sorted(set(request_body) - set(RUN_REQUEST_FIELDS))
    ]
    label = request_body.get("label")
    if label is not None and not (isinstance(label, str) and 1 <= len(label) <= MAX_LABEL):
        problems.append((["label"], f"label must be a string of 1 to {MAX_LABEL} characters"))
    tags = request_body.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)):
        problems.append((["tags"], "tags must be a list of strings"))
    policy = request_body.get("activity_notification_policy")
    statuses = policy.get("status") if isinstance(policy, dict) else None
    if policy is not None and not (isinstance(statuses, list) and set(statuses) <= {"INACTIVE", "FAILED", "SUCCEEDED"}):
        problems.append((["activity_notification_policy"], "status must list INACTIVE, FAILED or SUCCEEDED"))
    return problems + _principal_problems({key: request_body.get(key) for key in ("run_managers", "run_monitors")})


def _checked_run(emulator: Any, flow_id: str, request_body: dict[str, Any]) -> dict[str, Any]:
    """The flow, after the checks the service makes of a run request: its fields, the input's size
    (the run state's 200 KB, refused here rather than at the first state) and its input schema."""
    from jsonschema import Draft202012Validator, FormatChecker

    flow = _flow(emulator, flow_id)
    problems = _run_request_problems(request_body)
    if problems:
        raise _unprocessable(problems)
    body = request_body.get("body")
    if not isinstance(body, dict):
        raise _unprocessable([(["body"], "the run request's body must be a JSON object")])
    size = len(json.dumps(body))
    if size > MAX_RUN_STATE_BYTES:
        message = f"The input is {size} bytes; a run's state may hold at most {MAX_RUN_STATE_BYTES} (200 KB)."
        detail = [{"loc": ["$"], "type": "InputTooLarge", "msg": message}]
        raise ApiError(400, "FLOW_INPUT_ERROR", message, detail=detail, message=message)  # UNVERIFIED: code
    validator = Draft202012Validator(flow.get("input_schema") or {}, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        detail = [
            {
                "loc": ["$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.path)],
                "type": "InvalidActionInput",
                "msg": error.message,
            }
            for error in errors
        ]
        message = f"Input failed schema validation with {len(errors)} error(s). " + " ".join(
            f"{item['loc'][0]}: {item['msg']}." for item in detail
        )
        raise ApiError(400, "FLOW_INPUT_ERROR", message, detail=detail, message=message)
    return flow


def start_run(emulator: Any, flow_id: str, request_body: dict[str, Any]) -> dict[str, Any]:
    """A run of ``flow_id``, after the checks the service makes."""
    return emulator.runs.start(_checked_run(emulator, flow_id, request_body), request_body)


def run_flow(emulator: Any, request: Any, flow_id: str) -> tuple[int, dict[str, Any]]:
    """201, as the Flows API's published types say (globus-sdk's data says 200)."""
    return 201, start_run(emulator, flow_id, json_object(request))


def validate_run(emulator: Any, request: Any, flow_id: str) -> dict[str, Any]:
    _checked_run(emulator, flow_id, json_object(request))
    return {"message": "validation successful"}


def list_runs(emulator: Any, request: Any) -> dict[str, Any]:
    runs = emulator.store.all("run")
    wanted = {value for item in request.args.getlist("filter_flow_id") for value in item.split(",") if value}
    if wanted:
        runs = [run for run in runs if run["flow_id"] in wanted]
    for field, descending in reversed(_run_order(request)):  # stable sorts: the first criterion decides first
        runs.sort(key=lambda run: str(run.get(field) or ""), reverse=descending)
    return page(runs, "runs", request)


RUN_ORDER_FIELDS = ("start_time", "completion_time", "status", "label", "run_id", "flow_id", "flow_title")


def _run_order(request: Any) -> list[tuple[str, bool]]:
    """GET /runs ``orderby``: comma-separated "FIELD ORDERING" criteria (ASC or DESC; globus-sdk repeats the
    parameter for several), as globus-sdk-javascript's flows.ts documents it; newest first when none is given.
    An unknown field or ordering is refused with 422, as the service validates its query."""
    criteria = [part.strip() for value in request.args.getlist("orderby") for part in value.split(",") if part.strip()]
    order, problems = [], []
    for criterion in criteria:
        field, _space, ordering = criterion.partition(" ")
        ordering = ordering.strip().upper() or "ASC"
        if field not in RUN_ORDER_FIELDS or ordering not in ("ASC", "DESC"):
            problems.append(
                (
                    ["query", "orderby"],
                    f"{criterion!r} is not one of FIELD ASC|DESC, FIELD in {', '.join(RUN_ORDER_FIELDS)}",
                )
            )
        order.append((field, ordering == "DESC"))
    if problems:
        raise _unprocessable(problems, part="query")
    return order or [("start_time", True)]


def get_run(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    run = emulator.runs.get(run_id)
    if request.args.get("include_flow_description", "").lower() == "true":
        flow = emulator.store.get("flow", run["flow_id"])
        if flow is not None:
            run["flow_description"] = {key: flow.get(key) for key in FLOW_DESCRIPTION}
    return run


def run_definition(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    """The definition and input schema the run started with (the flow may have changed since)."""
    emulator.runs.get(run_id)
    kept = emulator.store.get("run_definition", run_id)
    if kept is None:
        raise not_found("run definition", run_id)
    return kept


def run_log(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    emulator.runs.get(run_id)
    entries = emulator.store.log(run_id)
    if request.args.get("reverse_order", "").lower() == "true":
        entries.reverse()
    return page(entries, "entries", request, limit_default=10, null_marker=False)


def update_run(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    """A run's label, tags, managers and monitors; nothing else changes (the service's RunUpdate)."""
    run = emulator.runs.get(run_id)
    body = json_object(request)
    problems = [([key], "extra fields not permitted") for key in sorted(set(body) - set(RUN_REQUEST_FIELDS[1:5]))]
    problems += _run_request_problems({key: value for key, value in body.items() if key in RUN_REQUEST_FIELDS})
    if problems:
        raise _unprocessable(problems)
    for key in ("label", "tags", "run_managers", "run_monitors"):
        if key in body:
            run[key] = body[key]
    run["manage_by"], run["monitor_by"] = run["run_managers"], run["run_monitors"]
    return action_view(emulator.store.put("run", run_id, run))


def release_run(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    """Remove an ended run's record (``globus flows run delete``); 409 while it is not ended."""
    from palxfel_globus.emulator.runs import ENDED_STATUSES

    run = emulator.runs.get(run_id)
    if run["status"] not in ENDED_STATUSES:
        raise ApiError(409, "STATE_CONFLICT", f"Run {run_id} is {run['status']}; only an ended run can be removed.")
    emulator.store.delete("run", run_id)
    emulator.store.delete("run_definition", run_id)
    return action_view(run)


def cancel_run(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    return emulator.runs.cancel(run_id)


def resume_run(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    return emulator.runs.resume(run_id)


def _the_flow(emulator: Any, values: dict[str, Any]) -> str:
    """A specific flow's routes take a token of the flow's own scope (SpecificFlowClient)."""
    return str(values["flow_id"])


def _the_runs_flow(emulator: Any, values: dict[str, Any]) -> str:
    """Resuming a run takes its flow's token too (SpecificFlowClient.resume_run)."""
    run = emulator.store.get("run", values["run_id"])
    return str(run["flow_id"]) if run else "flows.globus.org"


ROUTES = [
    Route("flows", "/flows", ("POST",), create_flow),
    Route("flows", "/flows", ("GET",), list_flows),
    Route("flows", "/flows/validate", ("POST",), validate_flow),
    Route("flows", "/flows/<flow_id>", ("GET",), get_flow),
    Route("flows", "/flows/<flow_id>", ("PUT",), update_flow),
    Route("flows", "/flows/<flow_id>", ("DELETE",), delete_flow),
    Route("flows", "/flows/<flow_id>/run", ("POST",), run_flow, audience=_the_flow),
    Route("flows", "/flows/<flow_id>/validate_run", ("POST",), validate_run, audience=_the_flow),
    Route("flows", "/runs", ("GET",), list_runs),
    Route("flows", "/runs/<run_id>", ("GET",), get_run),
    Route("flows", "/runs/<run_id>", ("PUT",), update_run),
    Route("flows", "/runs/<run_id>/definition", ("GET",), run_definition),
    Route("flows", "/runs/<run_id>/log", ("GET",), run_log),
    Route("flows", "/runs/<run_id>/cancel", ("POST",), cancel_run),
    Route("flows", "/runs/<run_id>/release", ("POST",), release_run),
    Route("flows", "/runs/<run_id>/resume", ("POST",), resume_run, audience=_the_runs_flow),
]
