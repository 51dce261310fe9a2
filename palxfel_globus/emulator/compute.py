"""The Compute API as the product and the Flows' Compute actions use it: function registration
(the registered source text is what the engine runs for that id), the function's record, and the
status and allow-list of the config's [local] endpoints (which, like endpoints restarted after
each deploy, allow every function registered here)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from palxfel_globus.emulator.api import ApiError, Route, json_object, not_found
from palxfel_globus.engine.runner import iso


def _source_text(body: dict[str, Any]) -> str:
    """The source of a registration: plain text (``serialized: false``), or the Compute SDK's
    source-text serialization (``st\\n`` + ``name:`` + source) that older SDKs send."""
    code = body.get("function_code")
    if not isinstance(code, str) or not code:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "function_code must be the function's source text.")
    if body.get("serialized") is False:
        return code
    try:
        from globus_compute_sdk.serialize import ComputeSerializer

        (packed,) = ComputeSerializer.unpack_buffers(code)
    except Exception:
        packed = code
    if packed.startswith("st\n"):
        return packed[3:].split(":", 1)[1]
    raise ApiError(422, "UNPROCESSABLE_ENTITY", "Only source-text registrations can run here (serialized: false).")


def register_function(emulator: Any, request: Any) -> dict[str, Any]:
    body = json_object(request)
    name = body.get("function_name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "function_name must name the entry function.")
    source = _source_text(body)
    try:
        compile(source, f"<function {name}>", "exec")
    except SyntaxError as exc:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", f"The function source does not compile: {exc}.") from None
    function_id = str(uuid.uuid4())
    record = {
        "function_uuid": function_id,
        "function_name": name,
        "function_code": source,
        "description": body.get("description"),
        "metadata": body.get("metadata") or {},
        "public": bool(body.get("public")),
        "created_at": iso(time.time()),
    }
    emulator.store.put("function", function_id, record)
    emulator.load_function(record)
    return {"function_uuid": function_id}


def get_function(emulator: Any, request: Any, function_id: str) -> dict[str, Any]:
    record = emulator.store.get("function", function_id)
    if record is None:
        raise not_found("function", function_id)
    return record


def _endpoint(emulator: Any, endpoint_id: str) -> str:
    if endpoint_id.lower() not in emulator.endpoints:
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"Endpoint {endpoint_id} is not one of the config's endpoints.")
    return endpoint_id.lower()


def endpoint_status(emulator: Any, request: Any, endpoint_id: str) -> dict[str, Any]:
    _endpoint(emulator, endpoint_id)
    return {"status": "online", "details": {"local": True}}


def endpoint_allowlist(emulator: Any, request: Any, endpoint_id: str) -> dict[str, Any]:
    endpoint = _endpoint(emulator, endpoint_id)
    functions = [record["function_uuid"] for record in emulator.store.all("function")]
    return {"endpoint_id": endpoint, "restricted": True, "functions": functions}


def get_endpoint(emulator: Any, request: Any, endpoint_id: str) -> dict[str, Any]:
    endpoint = _endpoint(emulator, endpoint_id)
    return {"uuid": endpoint, "name": f"local-{endpoint[:8]}", "display_name": "palxfel-globus local endpoint"}


ROUTES = [
    Route("compute", "/v3/functions", ("POST",), register_function),
    Route("compute", "/v2/functions", ("POST",), register_function),
    Route("compute", "/v2/functions/<function_id>", ("GET",), get_function),
    Route("compute", "/v2/endpoints/<endpoint_id>", ("GET",), get_endpoint),
    Route("compute", "/v2/endpoints/<endpoint_id>/status", ("GET",), endpoint_status),
    Route("compute", "/v3/endpoints/<endpoint_id>/allowed_functions", ("GET",), endpoint_allowlist),
]
