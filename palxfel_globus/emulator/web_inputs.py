"""The Flows web-input API (``GET /web_inputs``, ``GET /web_inputs/{id}``, ``POST .../respond``)
over the web inputs the engine's runs opened: what the web app shows a respondent, and what
``FlowsClient.respond_to_web_input`` answers. A selection is answered with an option's id, as
in the service, and the run that waits for it goes on with that option's Value."""

from __future__ import annotations

from typing import Any

from palxfel_globus.emulator.api import ApiError, Route, json_object

NOT_IN_SUMMARY = ("context", "options", "roles", "input_schema", "creator_urn")


def _document(emulator: Any, kept: dict[str, Any]) -> dict[str, Any]:
    """The web input as the service shows it (globus_sdk.testing's get_web_input data): a selection's
    ``input_schema`` is a JSON Schema whose one valid answer per option is that option's id."""
    run = emulator.store.get("run", kept["run"]["id"]) or {}
    options = [{key: option[key] for key in ("option_id", "label", "description")} for option in kept["options"]]
    context = {key.lower(): value for key, value in (kept.get("context") or {}).items()}
    return {
        "id": kept["id"],
        "status": kept["status"],
        "user_roles": ["viewer", "respondent"],
        "input_type": kept["input_type"],
        "input_schema": {
            "$schema": "http://json-schema.org/draft-07/schema",
            "title": context.get("title") or "Please select an option",
            "type": "string",
            "oneOf": [
                {"const": option["option_id"], "title": option["label"], "description": option["description"]}
                for option in options
            ],
        },
        "context": context,
        "options": options,
        "roles": {"viewer_urns": [], "respondent_urns": kept.get("respondent_urns") or []},
        "creator_urn": run.get("run_owner"),
        "flow": {"id": kept["run"]["flow_id"], "title": run.get("flow_title")},
        "run": {"id": kept["run"]["id"], "label": run.get("label")},
        "created_timestamp": kept["created_timestamp"],
        "edited_timestamp": kept["created_timestamp"],
        "closed_timestamp": kept["closed_timestamp"],
    }


def _kept(emulator: Any, web_input_id: str) -> dict[str, Any]:
    try:
        return emulator.engine.web_input(web_input_id)
    except KeyError:
        raise ApiError(404, "NOT_FOUND", f"No Web Input exists with id value {web_input_id}") from None


def list_web_inputs(emulator: Any, request: Any) -> dict[str, Any]:
    states = ",".join(request.args.getlist("filter_states") or ["open,closed"]).split(",")
    summaries = []
    for kept in emulator.engine.web_inputs():
        if kept["status"] in states:
            document = _document(emulator, kept)
            summary = {key: value for key, value in document.items() if key not in NOT_IN_SUMMARY}
            summaries.append(dict(summary, title=kept.get("title")))
    return {"web_input_summaries": summaries, "marker": None}


def get_web_input(emulator: Any, request: Any, web_input_id: str) -> dict[str, Any]:
    return _document(emulator, _kept(emulator, web_input_id))


def respond(emulator: Any, request: Any, web_input_id: str) -> dict[str, Any]:
    kept = _kept(emulator, web_input_id)
    if kept["status"] != "open":
        raise ApiError(409, "STATE_CONFLICT", f"Web Input {web_input_id} is already closed.")
    value = (json_object(request).get("response") or {}).get("value")
    chosen = [option for option in kept["options"] if option["option_id"] == value]
    if kept["options"] and not chosen:
        ids = ", ".join(option["option_id"] for option in kept["options"])
        raise ApiError(
            422, "UNPROCESSABLE_ENTITY", f"{value!r} is not a registered option id for this input (one of {ids})."
        )
    run = emulator.runs.get(kept["run"]["id"])
    if run["status"] != "INACTIVE" or (run.get("details") or {}).get("blocking_web_input_id") != web_input_id:
        raise ApiError(409, "STATE_CONFLICT", f"Run {run['run_id']} is not waiting for web input {web_input_id}.")
    emulator.runs.answer(run["run_id"], chosen[0]["value"] if chosen else value)
    return {"status": "ok"}


ROUTES = [
    Route("flows", "/web_inputs", ("GET",), list_web_inputs),
    Route("flows", "/web_inputs/<web_input_id>", ("GET",), get_web_input),
    Route("flows", "/web_inputs/<web_input_id>/respond", ("POST",), respond),
]
