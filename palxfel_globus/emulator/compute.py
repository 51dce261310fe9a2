"""The Compute API as the product, the Compute SDK and the Flows' Compute actions use it: the
version check every Compute SDK client makes when it starts, function registration (what runs
for an id is what was registered), the function's record, and the status and allow-list of the
config's [local] endpoints (which, like endpoints restarted after each deploy, allow every
function registered here).

A registration is source text (``serialized: false``, or the Compute SDK's source-text strategy
``st``, as ``register_source_code`` sends it) or a function the Compute SDK serialized its default
way (``register_function``), which the Compute SDK decodes, here and in the worker that runs it.
Documents have the keys of globus-sdk's registered responses (``testing/data/compute``)."""

from __future__ import annotations

import platform
import uuid
from typing import Any

from palxfel_globus.emulator.api import ApiError, Route, json_object, not_found
from palxfel_globus.engine.providers.compute import SERIALIZED

API_VERSION = "1.0.0"
# what the Compute SDK's version check reads (its client reads min_ep_version; the SDK's data names
# the same figure min_endpoint_version): versions from before 1.0 are long gone
MIN_VERSION = "1.0.0"


def _runnable(body: dict[str, Any], name: str) -> tuple[str, str]:
    """(what the workers run, its encoding): source text, or the Compute SDK's packed function."""
    code = body.get("function_code")
    if not isinstance(code, str) or not code:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "function_code must be the function's code.")
    if body.get("serialized") is False:
        return _compiled(code, name), "source"
    try:
        from globus_compute_sdk.serialize import ComputeSerializer
    except ImportError:
        if code.startswith("st\n"):
            return _compiled(code[3:].split(":", 1)[1], name), "source"
        raise ApiError(
            422,
            "UNPROCESSABLE_ENTITY",
            "This function was serialized by the Compute SDK, and the emulator's Python has no globus-compute-sdk "
            "to decode it: install globus-compute-sdk next to palxfel-globus, or register source text.",
        ) from None
    serializer = ComputeSerializer()
    try:
        (packed,) = serializer.unpack_buffers(code)
    except Exception:
        packed = code
    if packed.startswith("st\n"):
        return _compiled(packed[3:].split(":", 1)[1], name), "source"
    try:
        function = serializer.deserialize(packed)
    except Exception as exc:
        raise ApiError(
            422, "UNPROCESSABLE_ENTITY", f"The Compute SDK cannot decode this function: {type(exc).__name__}: {exc}."
        ) from None
    if not callable(function):
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "function_code does not decode to a function.")
    return code, SERIALIZED


def _compiled(source: str, name: str) -> str:
    try:
        compile(source, f"<function {name}>", "exec")
    except SyntaxError as exc:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", f"The function source does not compile: {exc}.") from None
    return source


def register_function(emulator: Any, request: Any) -> dict[str, Any]:
    body = json_object(request)
    name = body.get("function_name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "function_name must name the entry function.")
    runnable, encoding = _runnable(body, name)
    meta = body.get("meta") or body.get("metadata") or {}
    function_id = str(uuid.uuid4())
    record = {
        "function_uuid": function_id,
        "function_name": name,
        "function_code": body["function_code"],
        "description": body.get("description"),
        "metadata": {
            "python_version": str(meta.get("python_version") or platform.python_version()),
            "sdk_version": str(meta.get("sdk_version") or ""),
        },
        "runnable": runnable,
        "encoding": encoding,
    }
    emulator.store.put("function", function_id, record)
    emulator.load_function(record)
    return {"function_uuid": function_id}


FUNCTION_FIELDS = ("function_uuid", "function_name", "function_code", "description", "metadata")


def get_function(emulator: Any, request: Any, function_id: str) -> dict[str, Any]:
    record = emulator.store.get("function", function_id)
    if record is None:
        raise not_found("function", function_id)
    return {key: record.get(key) for key in FUNCTION_FIELDS}


def _endpoint(emulator: Any, endpoint_id: str) -> str:
    if endpoint_id.lower() not in emulator.endpoints:
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"Endpoint {endpoint_id} is not one of the config's endpoints.")
    return endpoint_id.lower()


def endpoint_status(emulator: Any, request: Any, endpoint_id: str) -> dict[str, Any]:
    """Online, with the worker figures of the endpoint's local process pool."""
    endpoint = _endpoint(emulator, endpoint_id)
    workers = emulator.engine.compute.endpoint_workers.get(endpoint, 2)
    details = {"total_workers": workers, "idle_workers": workers, "pending_tasks": 0, "outstanding_tasks": 0}
    return {"status": "online", "details": {**details, "managers": 1}}


def endpoint_allowlist(emulator: Any, request: Any, endpoint_id: str) -> dict[str, Any]:
    endpoint = _endpoint(emulator, endpoint_id)
    functions = [record["function_uuid"] for record in emulator.store.all("function")]
    return {"endpoint_id": endpoint, "restricted": True, "functions": functions}


def get_endpoint(emulator: Any, request: Any, endpoint_id: str) -> dict[str, Any]:
    endpoint = _endpoint(emulator, endpoint_id)
    return {
        "uuid": endpoint,
        "name": f"local-{endpoint[:8]}",
        "display_name": "palxfel-globus local endpoint",
        "multi_user": False,
        "public": False,
        "endpoint_config": "display_name: palxfel-globus local endpoint\nengine:\n  type: local process pool",
        "user_config_template": "",
        "user_config_schema": {},
        "description": "A [local] endpoint of 'palxfel-globus local serve': worker processes on this machine",
        "hostname": platform.node(),
        "local_user": None,
        "ip_address": "127.0.0.1",
        "endpoint_version": None,
        "sdk_version": None,
        "subscription_uuid": None,
    }


def version(emulator: Any, request: Any) -> Any:
    """The API version, or with ``service=all`` every figure the Compute SDK's version check reads."""
    if request.args.get("service") != "all":
        return API_VERSION
    return {
        "api": API_VERSION,
        "min_sdk_version": MIN_VERSION,
        "min_endpoint_version": MIN_VERSION,
        "min_ep_version": MIN_VERSION,
        "git_sha": "local",
    }


ROUTES = [
    Route("compute", "/v2/version", ("GET",), version, public=True),
    Route("compute", "/v3/functions", ("POST",), register_function),
    Route("compute", "/v2/functions", ("POST",), register_function),
    Route("compute", "/v2/functions/<function_id>", ("GET",), get_function),
    Route("compute", "/v2/endpoints/<endpoint_id>", ("GET",), get_endpoint),
    Route("compute", "/v2/endpoints/<endpoint_id>/status", ("GET",), endpoint_status),
    Route("compute", "/v3/endpoints/<endpoint_id>/allowed_functions", ("GET",), endpoint_allowlist),
]
