"""The small hosted providers: hello_world, the e-mail notification (recorded, not sent),
expression evaluation, and DataCite mint (recorded, with a stand-in DOI)."""

from __future__ import annotations

import uuid
from typing import Any

from palxfel_globus.engine import jsonpath
from palxfel_globus.engine.errors import ExpressionError, JsonPathError
from palxfel_globus.engine.expressions import evaluate
from palxfel_globus.engine.providers.base import ActionContext, ActionResult, ProviderError, check_parameters, require
from palxfel_globus.engine.providers.documented import NOTIFY

TEST_PREFIX = "10.5072"  # DataCite's prefix for tests: a stand-in DOI never looks like a real one


def hello_world(body: dict[str, Any], context: ActionContext) -> ActionResult:
    check_parameters(body, "hello_world", {"echo_string", "sleep_time"})
    sleep = body.get("sleep_time", 0)
    if not isinstance(sleep, (int, float)) or sleep < 0:
        raise ProviderError("sleep_time must be a number of seconds")
    context.clock.sleep(float(sleep))  # the service answers ACTIVE until sleep_time has passed
    return ActionResult("SUCCEEDED", {"Hello": "World", "hello": "world", "echo_string": body.get("echo_string")})


def notify(body: dict[str, Any], context: ActionContext) -> ActionResult:
    """Renders ``body_template`` with ``$Name`` variables; the message is recorded, never sent. Only the
    documented form (documented.py): ``destination`` one address, so a list is refused."""
    import string

    NOTIFY.check(body)
    destination = body["destination"]
    message = string.Template(body["body_template"]).safe_substitute(body.get("body_variables") or {})
    record = {"destination": destination, "subject": body.get("subject", ""), "body": message}
    context.record("notification", record)
    # the message itself stays in the run (at the state's ResultPath), where a person or a test reads it
    return ActionResult("SUCCEEDED", {"sent_to": destination, **record, "delivered": "recorded, not sent"})


def expression_eval(body: dict[str, Any], context: ActionContext) -> ActionResult:
    """actions.globus.org/expression_eval: ``expression``, ``arguments``, ``result_path`` (default
    ``result``, a place in ``details``), or a list of them in ``expressions``, evaluated in order
    (docs: hosted-action-providers/ap-expression-eval). The service uses simpleeval; this engine's
    sandboxed subset, the one ``.=`` uses, evaluates the same arithmetic and string expressions."""
    check_parameters(body, "expression_eval", {"expression", "arguments", "result_path", "expressions"})
    requests = body["expressions"] if "expressions" in body else [body]
    if not isinstance(requests, list) or not requests:
        raise ProviderError("expressions must be a non-empty list of {expression, arguments?, result_path?}")
    details: dict[str, Any] = {}
    for number, request in enumerate(requests):
        if not isinstance(request, dict):
            raise ProviderError(f"expressions[{number}] must be an object")
        (expression,) = require(request, "expression")
        arguments = request.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise ProviderError("arguments must be a JSON object")
        try:
            value = evaluate(expression, arguments, {})
            path = str(request.get("result_path") or "result")
            details = jsonpath.put(details, path if path.startswith("$") else "$." + path, value)
        except (ExpressionError, JsonPathError) as exc:
            return ActionResult("FAILED", {"error": f"{expression!r}: {exc}"})
    return ActionResult("SUCCEEDED", details)


def datacite_mint(body: dict[str, Any], context: ActionContext) -> ActionResult:
    """actions.globus.org/datacite/mint/basic_auth: ``as_test``, ``username``, ``password`` and
    ``Doi`` in the DataCite JSON API's shape. Recorded, never sent: the answer is DataCite's
    document for a stand-in DOI under the test prefix, and the credentials are nowhere in it."""
    check_parameters(body, "DataCite mint", {"as_test", "username", "password", "Doi"})
    (doi_document,) = require(body, "Doi")
    attributes = doi_document.get("attributes") if isinstance(doi_document, dict) else None
    if not isinstance(attributes, dict):
        raise ProviderError("Doi must be a DataCite JSON API object with attributes")
    missing = [key for key in ("creators", "titles", "publisher", "publicationYear") if not attributes.get(key)]
    if attributes.get("event") == "publish" and missing:
        return ActionResult("FAILED", {"errors": [{"source": key, "title": "can't be blank"} for key in missing]})
    suffix = f"palxfel-{uuid.uuid4().hex[:8]}"
    doi = str(attributes.get("doi") or f"{TEST_PREFIX}/{suffix}")
    state = "findable" if attributes.get("event") == "publish" else "draft"
    minted = {"id": doi, "type": "dois", "attributes": {**attributes, "doi": doi, "state": state}}
    context.record("datacite", {"doi": doi, "as_test": bool(body.get("as_test", False)), "attributes": attributes})
    return ActionResult("SUCCEEDED", {"data": minted, "recorded": "not sent to DataCite"})


def wait_for_option(body: dict[str, Any], context: ActionContext) -> ActionResult:
    """actions.globus.org/weboption/wait_for_option: the action waits until a person selects one of
    ``options`` (by its ``name`` or ``url_suffix``); here the selection is the next --web-input
    answer. With none, the action stays ACTIVE as the service's would, so the engine's clock moves to
    the state's WaitTime and the state ends in ActionTimeout."""
    check_parameters(body, "wait_for_option", {"options", "landing_page"})
    (options,) = require(body, "options")
    if not isinstance(options, list) or not options or not all(isinstance(o, dict) for o in options):
        raise ProviderError("options must be a non-empty list of {name, url_suffix, ...}")
    answer = context.answer()
    if answer is None:
        if context.deadline is not None:
            context.clock.sleep(context.deadline - context.clock.now() + 1)
        raise TimeoutError("no option was selected (answers come from --web-input) before the WaitTime passed")
    for option in options:
        if answer in (option.get("name"), option.get("url_suffix")):
            return ActionResult("SUCCEEDED", {"name": option.get("name"), "url_suffix": option.get("url_suffix")})
    names = ", ".join(str(option.get("name")) for option in options)
    raise ProviderError(f"the answer {answer!r} is not one of the options ({names})")
