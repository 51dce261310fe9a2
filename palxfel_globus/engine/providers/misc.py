"""The small hosted providers: hello_world and the e-mail notification (recorded, not sent)."""

from __future__ import annotations

from typing import Any

from palxfel_globus.engine.providers.base import ActionContext, ActionResult, ProviderError, require


def hello_world(body: dict[str, Any], context: ActionContext) -> ActionResult:
    sleep = body.get("sleep_time", 0)
    if not isinstance(sleep, (int, float)) or sleep < 0:
        raise ProviderError("sleep_time must be a number of seconds")
    context.clock.sleep(float(sleep))  # the service answers ACTIVE until sleep_time has passed
    return ActionResult("SUCCEEDED", {"Hello": "World", "hello": "world", "echo_string": body.get("echo_string")})


def notify(body: dict[str, Any], context: ActionContext) -> ActionResult:
    """Renders ``body_template`` with ``$Name`` variables; the message is recorded, never sent."""
    import string

    destination, body_template = require(body, "destination", "body_template")
    message = string.Template(str(body_template)).safe_substitute(body.get("body_variables") or {})
    record = {"destination": destination, "subject": body.get("subject", ""), "body": message}
    context.record("notification", record)
    # the message itself stays in the run (at the state's ResultPath), where a person or a test reads it
    return ActionResult("SUCCEEDED", {"sent_to": destination, **record, "delivered": "recorded, not sent"})
