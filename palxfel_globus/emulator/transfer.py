"""The Transfer API over the config's [local] directories: collection lookups and search, directory
listings, stat and mkdir, access-rule lists, and tasks (submit a transfer or delete, get, list,
cancel; see transfer_tasks.py). A collection is a GCSv5 mapped collection (as a facility's storage
is, so deploy asks for the data_access consents it would in Globus) unless [local]
guest_collections names it; a guest collection's access rules are the ones the engine's
manage_permission keeps.

Documents have the keys of globus-sdk's registered responses (``globus_sdk/testing/data/transfer``),
and a collection also the GCSv5 fields of the Transfer API's endpoint document (globus-sdk-javascript's
Transfer types), which ``collections search`` and deploy read; errors are Transfer's
``{code, message, request_id, resource}``, a missing path ``NotFound``."""

from __future__ import annotations

import datetime
import stat
import uuid
from pathlib import Path
from typing import Any

from palxfel_globus.emulator.api import ApiError, Route, json_object


def _collection(emulator: Any, collection_id: str) -> dict[str, Any]:
    names = emulator.collection_names
    key = collection_id.lower()
    if key not in names:
        raise ApiError(404, "EndpointNotFound", f"No such endpoint with id '{collection_id}'")
    guest = emulator.engine.collections.is_guest(key)
    owner = f"{emulator.client_id}@clients.auth.globus.org"
    return {
        "DATA_TYPE": "endpoint",
        "id": key,
        "display_name": names[key],
        "canonical_name": f"local#{key[:8]}",
        "name": None,
        "entity_type": "GCSv5_guest_collection" if guest else "GCSv5_mapped_collection",
        "gcs_version": "5.4.0",
        "username": owner,
        "owner_string": owner,
        "owner_id": emulator.client_id,
        "description": f"{names[key]}: {emulator.collections.get(key, '')}",
        "organization": "palxfel-globus local serve",
        "department": None,
        "keywords": None,
        "contact_email": None,
        "contact_info": None,
        "info_link": None,
        "user_message": None,
        "user_message_link": None,
        "public": False,
        "subscription_id": None,
        "high_assurance": False,
        "authentication_assurance_timeout": None,
        "authentication_timeout_mins": None,
        "acl_max_expiration_period_mins": None,
        "is_globus_connect": False,
        "globus_connect_setup_key": None,
        "gcp_connected": None,
        "gcp_paused": None,
        "s3_url": None,
        "s3_owner_activated": False,
        "host_endpoint": None,
        "host_endpoint_id": None,
        "host_endpoint_display_name": None,
        "host_path": None,
        "mapped_collection_id": None,
        "mapped_collection_display_name": None,
        "disable_verify": False,
        "disable_anonymous_writes": False,
        "force_verify": False,
        "force_encryption": False,
        "french_english_bilingual": False,
        "mfa_required": False,
        "myproxy_server": None,
        "myproxy_dn": None,
        "oauth_server": None,
        "non_functional": False,
        "non_functional_endpoint_display_name": None,
        "non_functional_endpoint_id": None,
        "default_directory": "/~/",
        "activated": True,
        "expires_in": -1,
        "expire_time": None,
        "shareable": not guest,
        "acl_available": guest,
        "acl_editable": guest,
        "my_effective_roles": ["administrator"],
        "in_use": False,
        "requester_pays": False,
        "local_user_info_available": None,
        "https_server": None,
        "gcs_manager_url": None,
        "network_use": None,
        "location": None,
        "max_concurrency": None,
        "preferred_concurrency": None,
        "max_parallelism": None,
        "preferred_parallelism": None,
        "DATA": [],
    }


def get_endpoint(emulator: Any, request: Any, collection_id: str) -> dict[str, Any]:
    return _collection(emulator, collection_id)


def endpoint_search(emulator: Any, request: Any) -> dict[str, Any]:
    words = (request.args.get("filter_fulltext") or "").lower().split()
    found = [
        _collection(emulator, key)
        for key, name in emulator.collection_names.items()
        if all(word in f"{name} {key}".lower() for word in words)
    ]
    return {"DATA_TYPE": "endpoint_list", "DATA": found, "offset": 0, "limit": len(found), "has_next_page": False}


def _local(emulator: Any, collection_id: str, path: str) -> Path:
    from palxfel_globus.engine.providers.base import ProviderError

    _collection(emulator, collection_id)
    try:
        return emulator.engine.collections.resolve(collection_id, path)
    except ProviderError as exc:
        raise ApiError(400, "ClientError.BadRequest", str(exc)) from None


def _file(entry: Path) -> dict[str, Any]:
    """A directory entry as ls and stat show it (the SDK's operation_stat data)."""
    info = entry.lstat()
    link = stat.S_ISLNK(info.st_mode)
    kind = "dir" if stat.S_ISDIR(info.st_mode) else "invalid_symlink" if link else "file"
    modified = datetime.datetime.fromtimestamp(info.st_mtime, datetime.timezone.utc)
    return {
        "DATA_TYPE": "file",
        "name": entry.name,
        "type": kind,
        "size": info.st_size,
        "last_modified": modified.strftime("%Y-%m-%d %H:%M:%S+00:00"),
        "permissions": f"{stat.S_IMODE(info.st_mode):04o}",
        "user": None,
        "group": None,
        "link_target": None,
        "link_user": None,
        "link_group": None,
        "link_size": None,
        "link_last_modified": None,
    }


def _missing(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"Path not found, Error (list)\nMessage: '{path}' not found")


def operation_ls(emulator: Any, request: Any, collection_id: str) -> dict[str, Any]:
    path = request.args.get("path") or "/~/"
    directory = _local(emulator, collection_id, path)
    if not directory.is_dir():
        raise _missing(path)
    hidden = request.args.get("show_hidden", "true").lower() != "false"
    entries = [_file(entry) for entry in sorted(directory.iterdir()) if hidden or not entry.name.startswith(".")]
    return {
        "DATA_TYPE": "file_list",
        "DATA": entries,
        "path": path,
        "absolute_path": path,
        "endpoint": collection_id,
        "length": len(entries),
        "total": len(entries),
        "rename_supported": True,
        "symlink_supported": False,
    }


def operation_stat(emulator: Any, request: Any, collection_id: str) -> dict[str, Any]:
    path = request.args.get("path") or "/~/"
    local = _local(emulator, collection_id, path)
    if not local.exists() and not local.is_symlink():
        raise _missing(path)
    return _file(local)


def operation_mkdir(emulator: Any, request: Any, collection_id: str) -> dict[str, Any]:
    path = str(json_object(request).get("path") or "")
    local = _local(emulator, collection_id, path)
    if local.exists():
        raise ApiError(502, "ExternalError.MkdirFailed.Exists", f"Path already exists, Error (mkdir)\n'{path}'")
    try:
        local.mkdir(parents=False)
    except FileNotFoundError:
        raise _missing(str(Path(path).parent)) from None
    return {
        "DATA_TYPE": "mkdir_result",
        "code": "DirectoryCreated",
        "message": "The directory was created successfully",
        "request_id": uuid.uuid4().hex[:9],
        "resource": f"/operation/endpoint/{collection_id}/mkdir",
    }


def access_list(emulator: Any, request: Any, collection_id: str) -> dict[str, Any]:
    from palxfel_globus.engine.providers.transfer import access_rules

    collection = _collection(emulator, collection_id)
    if collection["entity_type"] != "GCSv5_guest_collection":
        raise ApiError(
            400, "ClientError.BadRequest", f"{collection_id} is not a guest collection; it has no access rules."
        )
    rules = [
        {key: rule[key] for key in ("DATA_TYPE", "id", "path", "permissions", "principal", "principal_type", "role_id")}
        for rule in access_rules(emulator.engine.state, collection_id.lower())
    ]
    return {"DATA_TYPE": "access_list", "endpoint": collection_id, "DATA": rules, "length": len(rules)}


def submission_id(emulator: Any, request: Any) -> dict[str, Any]:
    return {"value": str(uuid.uuid4())}


def _submit(emulator: Any, request: Any, kind: str) -> dict[str, Any]:
    body = json_object(request)
    ends = ("source_endpoint", "destination_endpoint") if kind == "TRANSFER" else ("endpoint",)
    for end in ends:
        _collection(emulator, str(body.get(end) or ""))
    return emulator.transfer_tasks.submit(kind, body, emulator.client_id, emulator.collection_names)


def submit_transfer(emulator: Any, request: Any) -> dict[str, Any]:
    return _submit(emulator, request, "TRANSFER")


def submit_delete(emulator: Any, request: Any) -> dict[str, Any]:
    return _submit(emulator, request, "DELETE")


def get_task(emulator: Any, request: Any, task_id: str) -> dict[str, Any]:
    return emulator.transfer_tasks.get(task_id)


def task_list(emulator: Any, request: Any) -> dict[str, Any]:
    """The caller's tasks, newest first, with ``filter`` ``status:A,B/type:T`` and offset paging."""
    tasks = emulator.transfer_tasks.all()
    for clause in (request.args.get("filter") or "").split("/"):
        field, _, values = clause.partition(":")
        if field in ("status", "type", "task_id", "label") and values:
            tasks = [task for task in tasks if str(task.get(field)) in values.split(",")]
    try:
        offset = max(0, int(request.args.get("offset") or 0))
        limit = max(1, min(int(request.args.get("limit") or 10), 1000))
    except ValueError:
        raise ApiError(400, "ClientError.BadRequest", "offset and limit must be integers.") from None
    shown = tasks[offset : offset + limit]
    return {
        "DATA_TYPE": "task_list",
        "DATA": shown,
        "length": len(shown),
        "limit": limit,
        "offset": offset,
        "total": len(tasks),
    }


def cancel_task(emulator: Any, request: Any, task_id: str) -> dict[str, Any]:
    answer = emulator.transfer_tasks.cancel(task_id)
    return {
        "DATA_TYPE": "result",
        **answer,
        "resource": f"/task/{task_id}/cancel",
        "request_id": uuid.uuid4().hex[:9],
    }


ROUTES = [
    Route("transfer", "/v0.10/endpoint/<collection_id>", ("GET",), get_endpoint),
    Route("transfer", "/v0.10/endpoint_search", ("GET",), endpoint_search),
    Route("transfer", "/v0.10/operation/endpoint/<collection_id>/ls", ("GET",), operation_ls),
    Route("transfer", "/v0.10/operation/endpoint/<collection_id>/stat", ("GET",), operation_stat),
    Route("transfer", "/v0.10/operation/endpoint/<collection_id>/mkdir", ("POST",), operation_mkdir),
    Route("transfer", "/v0.10/endpoint/<collection_id>/access_list", ("GET",), access_list),
    Route("transfer", "/v0.10/submission_id", ("GET",), submission_id),
    Route("transfer", "/v0.10/transfer", ("POST",), submit_transfer),
    Route("transfer", "/v0.10/delete", ("POST",), submit_delete),
    Route("transfer", "/v0.10/task/<task_id>", ("GET",), get_task),
    Route("transfer", "/v0.10/task_list", ("GET",), task_list),
    Route("transfer", "/v0.10/task/<task_id>/cancel", ("POST",), cancel_task),
]
