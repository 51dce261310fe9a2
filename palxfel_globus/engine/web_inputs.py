"""The web inputs a run opens (CreateWebInput) and a person answers (AwaitWebInput).

Kept in the engine's local state, as the service keeps them: each option gets an id, a person
answers with an option's id ('local serve' at ``/web_inputs/{id}/respond``) or, on the command
line, with the option's Value (``--web-input``), and the run sees the Value.
"""

from __future__ import annotations

import uuid
from typing import Any

from palxfel_globus.engine.providers.local_state import LocalState

KIND = "web_inputs"


def open_web_input(state: LocalState, parameters: dict[str, Any], run_context: dict[str, Any], now: str) -> str:
    """Keep a new web input from CreateWebInput's ``parameters``; returns its id."""
    web_input_id = str(uuid.uuid4())
    options = parameters.get("Options") if isinstance(parameters.get("Options"), list) else []
    context = parameters.get("Context") if isinstance(parameters.get("Context"), dict) else {}
    with state.changing(KIND, web_input_id) as kept:
        kept.update(
            id=web_input_id,
            status="open",
            input_type=str(parameters.get("InputType", "Selection")).lower(),
            title=context.get("Title"),
            context=context,
            options=[_option(web_input_id, number, option) for number, option in enumerate(options)],
            respondent_urns=parameters.get("RespondentUrns") or [],
            run={"id": run_context["run_id"], "flow_id": run_context["flow_id"]},
            created_timestamp=now,
            closed_timestamp=None,
        )
    return web_input_id


def _option(web_input_id: str, number: int, option: Any) -> dict[str, Any]:
    described = option if isinstance(option, dict) else {"Value": option}
    return {
        "option_id": str(uuid.uuid5(uuid.UUID(web_input_id), str(number))),
        "value": described.get("Value"),
        "label": described.get("Label"),
        "description": described.get("Description"),
    }


def close_web_input(state: LocalState, web_input_id: Any, now: str) -> None:
    """An answered or expired web input is closed; an id this engine did not open is left alone."""
    if not isinstance(web_input_id, str) or not state.read(KIND, web_input_id):
        return
    with state.changing(KIND, web_input_id) as kept:
        kept.update(status="closed", closed_timestamp=now)


def web_input(state: LocalState, web_input_id: str) -> dict[str, Any]:
    """A kept web input; KeyError if none."""
    kept = state.read(KIND, web_input_id)
    if not kept:
        raise KeyError(web_input_id)
    return kept


def web_inputs(state: LocalState) -> list[dict[str, Any]]:
    return [state.read(KIND, key) for key in state.keys(KIND)]
