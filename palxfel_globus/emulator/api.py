"""What every emulated service shares: its routes, its errors, and the request body it reads.

Error documents are each service's own (globus-sdk's registered error responses,
``globus_sdk/testing/data``): Flows and Timers nest ``{"error": {code, detail}}``, Transfer answers
``{code, message, request_id, resource}``, Auth ``{errors: [{id, title, status, code, detail}],
error, error_description}`` and Search a ``GError``, so a client reads the code and message of an
emulator's error where it reads the service's. Compute has no registered error response; it keeps
the plain ``{code, message, request_id}`` globus-sdk reads from any service."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable, Optional

from palxfel_globus.errors import PalxfelError
from palxfel_globus.jsonfile import parse_json


def service_resource_server(service: str) -> str:
    """The resource server a token for ``service`` is issued for, as globus-sdk's scope data names it.
    A route of a specific flow (run, resume) takes the flow's own token instead (Route.audience)."""
    from globus_sdk import scopes

    builders = {
        "auth": scopes.AuthScopes,
        "flows": scopes.FlowsScopes,
        "timer": scopes.TimersScopes,
        "transfer": scopes.TransferScopes,
        "compute": scopes.ComputeScopes,
        "search": scopes.SearchScopes,
    }
    return str(builders[service].resource_server)


class ApiError(Exception):
    """An error answer: the service's HTTP status, its error code and a sentence."""

    def __init__(self, status: int, code: str, text: str, **extra: Any) -> None:
        super().__init__(text)
        self.status, self.code, self.message, self.extra = status, code, text, extra


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"No {what} with id {key} exists, or you cannot see it.")


@dataclass(frozen=True)
class Route:
    """``rule`` is under the service's own prefix (``/flows/<flow_id>`` of the Flows service);
    ``handler(emulator, request, **values)`` returns the JSON answer, or ``(status, answer)``.
    ``audience(emulator, values)`` names the resource server whose token the route takes when it is not the
    service's own (a specific flow's run); ``public`` routes take none (the token endpoint, which
    checks the client's own credentials)."""

    service: str
    rule: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    public: bool = False
    audience: Optional[Callable[[Any, dict[str, Any]], str]] = None

    def resource_server(self, emulator: Any, values: dict[str, Any]) -> str:
        return self.audience(emulator, values) if self.audience else service_resource_server(self.service)


def json_object(request: Any) -> dict[str, Any]:
    """The request's JSON object, bounded as every JSON input of the product is."""
    raw = request.get_data(as_text=True)
    if not raw:
        raise ApiError(400, "BAD_REQUEST", "The request has no JSON body.")
    try:
        body = parse_json(raw, "the request body")
    except PalxfelError as exc:
        raise ApiError(400, "BAD_REQUEST", str(exc)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "BAD_REQUEST", "The request body must be a JSON object.")
    return body


def error_document(service: str, error: ApiError, request_id: str, path: str) -> dict[str, Any]:
    """The error body in the service's own shape, so globus-sdk reads its code and message as it
    would the real service's."""
    extra = dict(error.extra)
    if service == "flows":
        detail = extra.pop("detail", error.message)
        return {"error": {"code": error.code, "detail": detail, **extra}, "debug_id": request_id}
    if service == "timer":
        return {"error": {"code": error.code, "detail": error.message, "status": error.status, **extra}}
    if service == "auth":
        title = _phrase(error.status)
        item = {"status": str(error.status), "id": request_id, "code": error.code, "detail": error.message}
        return {
            "errors": [dict(item, title=title)],
            "error": extra.pop("error", error.code.lower()),
            "error_description": error.message,
            **extra,
        }
    if service == "search":
        return {
            "@datatype": "GError",
            "@version": "2017-09-01",
            "status": error.status,
            "code": error.code,
            "message": error.message,
            "request_id": request_id,
            "error_data": extra.pop("error_data", {"cause": error.message}),
            **extra,
        }
    if service == "transfer":
        return {"code": error.code, "message": error.message, "request_id": request_id, "resource": path, **extra}
    return {"code": error.code, "message": error.message, "request_id": request_id, **extra}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def page(
    items: list[dict[str, Any]], key: str, request: Any, limit_default: int = 20, null_marker: bool = True
) -> dict[str, Any]:
    """One page of a marker-paginated list (Flows' shape: the marker is the next offset). On the
    last page the flow and run lists say ``"marker": null``; a run's log leaves it out
    (``null_marker=False``), as the SDK's data for each shows."""
    try:
        limit = max(1, min(int(request.args.get("per_page") or request.args.get("limit") or limit_default), 1000))
        start = int(request.args.get("marker") or 0)
    except ValueError:
        raise ApiError(400, "BAD_REQUEST", "per_page and marker must be integers.") from None
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    answer: dict[str, Any] = {key: chunk, "limit": limit, "has_next_page": more}
    if more or null_marker:
        answer["marker"] = str(start + limit) if more else None
    return answer
