"""The Flows API: flows (create, get, list, update, delete, validate), runs of them on the local
engine (start, list, get, log, cancel, resume), with the input-schema check of a run's start."""

from __future__ import annotations

import time
import uuid
from typing import Any

from palxfel_globus.emulator.api import ApiError, Route, json_object, not_found, page
from palxfel_globus.engine.runner import iso

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


def _definition_problems(definition: Any) -> list[str]:
    from palxfel_globus.engine.definition import checked
    from palxfel_globus.engine.errors import DefinitionError

    if not isinstance(definition, dict):
        return ["the definition must be a JSON object"]
    try:
        checked(definition)
    except DefinitionError as exc:
        return exc.problems
    return []


def _schema_problems(schema: Any) -> list[str]:
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [f"input_schema: {exc.message}"]
    return []


def _unprocessable(problems: list[str]) -> ApiError:
    detail = [{"loc": ["definition"], "msg": problem, "type": "value_error"} for problem in problems]
    message = f"{len(problems)} validation error(s) in body. " + " ".join(problems)
    return ApiError(422, "UNPROCESSABLE_ENTITY", message, detail=detail, message=message)


def _check(document: dict[str, Any]) -> None:
    problems = _definition_problems(document.get("definition"))
    if "input_schema" in document:
        problems += _schema_problems(document["input_schema"])
    if problems:
        raise _unprocessable(problems)


def _flow(emulator: Any, flow_id: str) -> dict[str, Any]:
    flow = emulator.store.get("flow", flow_id)
    if flow is None:
        raise not_found("flow", flow_id)
    return flow


def create_flow(emulator: Any, request: Any) -> tuple[int, dict[str, Any]]:
    body = json_object(request)
    if "definition" not in body or "title" not in body:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "A flow needs a definition and a title.")
    _check(body)
    flow_id = str(uuid.uuid4())
    owner = f"urn:globus:auth:identity:{emulator.client_id}"
    now = iso(time.time())
    scope = f"https://auth.globus.org/scopes/{flow_id}/flow_{flow_id.replace('-', '_')}_user"
    flow = {
        "id": flow_id,
        "definition": body["definition"],
        "input_schema": body.get("input_schema") or {},
        **{key: body.get(key) for key in FLOW_FIELDS},
        "keywords": body.get("keywords") or [],
        "flow_owner": owner,
        "created_by": owner,
        "created_at": now,
        "updated_at": now,
        "globus_auth_scope": scope,
        "globus_auth_username": f"{flow_id}@clients.auth.globus.org",
        "principal_urn": f"urn:globus:auth:identity:{flow_id}",
        "flow_url": f"{emulator.url('flows')}flows/{flow_id}",
        "run_url": f"{emulator.url('flows')}flows/{flow_id}/run",
        "user_role": "flow_owner",
    }
    for key in ("flow_viewers", "flow_starters", "flow_administrators", "run_managers", "run_monitors"):
        flow[key] = flow[key] or []
    return 201, emulator.store.put("flow", flow_id, flow)


def get_flow(emulator: Any, request: Any, flow_id: str) -> dict[str, Any]:
    return _flow(emulator, flow_id)


def list_flows(emulator: Any, request: Any) -> dict[str, Any]:
    return page(emulator.store.all("flow"), "flows", request)


def update_flow(emulator: Any, request: Any, flow_id: str) -> dict[str, Any]:
    flow = _flow(emulator, flow_id)
    body = json_object(request)
    _check({"definition": body.get("definition", flow["definition"]), **body})
    for key in ("definition", "input_schema", *FLOW_FIELDS):
        if key in body:
            flow[key] = body[key]
    flow["updated_at"] = iso(time.time())
    return emulator.store.put("flow", flow_id, flow)


def delete_flow(emulator: Any, request: Any, flow_id: str) -> dict[str, Any]:
    flow = _flow(emulator, flow_id)
    emulator.store.delete("flow", flow_id)
    return dict(flow, deleted=True)


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


def start_run(emulator: Any, flow_id: str, request_body: dict[str, Any]) -> dict[str, Any]:
    """A run of ``flow_id``, after the checks the service makes: known fields, input against the schema."""
    from palxfel_globus.backup import check_input
    from palxfel_globus.errors import PalxfelError

    flow = _flow(emulator, flow_id)
    unknown = sorted(set(request_body) - set(RUN_REQUEST_FIELDS))
    if unknown:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", f"Unknown field(s) in the run request: {', '.join(unknown)}.")
    body = request_body.get("body")
    if not isinstance(body, dict):
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "The run request's body must be a JSON object.")
    try:
        check_input(body, flow.get("input_schema") or {})
    except PalxfelError as exc:
        raise ApiError(400, "FLOW_INPUT_ERROR", str(exc)) from None
    return emulator.runs.start(flow, request_body)


def run_flow(emulator: Any, request: Any, flow_id: str) -> tuple[int, dict[str, Any]]:
    return 201, start_run(emulator, flow_id, json_object(request))


def list_runs(emulator: Any, request: Any) -> dict[str, Any]:
    runs = emulator.store.all("run")
    wanted = {value for item in request.args.getlist("filter_flow_id") for value in item.split(",") if value}
    if wanted:
        runs = [run for run in runs if run["flow_id"] in wanted]
    runs.sort(key=lambda run: run["start_time"], reverse=True)
    return page(runs, "runs", request)


def get_run(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    return emulator.runs.get(run_id)


def run_log(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    emulator.runs.get(run_id)
    entries = emulator.store.log(run_id)
    if request.args.get("reverse_order", "").lower() == "true":
        entries.reverse()
    return page(entries, "entries", request, limit_default=10)


def cancel_run(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    return emulator.runs.cancel(run_id)


def resume_run(emulator: Any, request: Any, run_id: str) -> dict[str, Any]:
    return emulator.runs.resume(run_id)


ROUTES = [
    Route("flows", "/flows", ("POST",), create_flow),
    Route("flows", "/flows", ("GET",), list_flows),
    Route("flows", "/flows/validate", ("POST",), validate_flow),
    Route("flows", "/flows/<flow_id>", ("GET",), get_flow),
    Route("flows", "/flows/<flow_id>", ("PUT",), update_flow),
    Route("flows", "/flows/<flow_id>", ("DELETE",), delete_flow),
    Route("flows", "/flows/<flow_id>/run", ("POST",), run_flow),
    Route("flows", "/runs", ("GET",), list_runs),
    Route("flows", "/runs/<run_id>", ("GET",), get_run),
    Route("flows", "/runs/<run_id>/log", ("GET",), run_log),
    Route("flows", "/runs/<run_id>/cancel", ("POST",), cancel_run),
    Route("flows", "/runs/<run_id>/resume", ("POST",), resume_run),
]
