"""What every emulated service shares: its routes, its errors, and the request body it reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from palxfel_globus.errors import PalxfelError
from palxfel_globus.jsonfile import parse_json


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
    ``handler(emulator, request, **values)`` returns the JSON answer, or ``(status, answer)``."""

    service: str
    rule: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    public: bool = False  # answers without a bearer token (the token endpoint itself)


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


def error_document(service: str, error: ApiError, request_id: str) -> dict[str, Any]:
    """The error body in the service's own shape, so globus-sdk reads its code and message as it
    would the real service's."""
    if service == "flows":
        return {"error": {"code": error.code, "detail": error.message, **error.extra}, "debug_id": request_id}
    if service == "auth" and error.status == 401:
        return {"errors": [{"status": "401", "code": error.code, "detail": error.message}], "error": "invalid_client"}
    return {"code": error.code, "message": error.message, "request_id": request_id, **error.extra}


def page(items: list[dict[str, Any]], key: str, request: Any, limit_default: int = 20) -> dict[str, Any]:
    """One page of a marker-paginated list (Flows' shape: the marker is the next offset)."""
    try:
        limit = max(1, min(int(request.args.get("per_page") or request.args.get("limit") or limit_default), 1000))
        start = int(request.args.get("marker") or 0)
    except ValueError:
        raise ApiError(400, "BAD_REQUEST", "per_page and marker must be integers.") from None
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return {key: chunk, "limit": limit, "has_next_page": more, "marker": str(start + limit) if more else None}
