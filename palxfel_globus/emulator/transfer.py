"""The Transfer API's collection lookups, directory listings and access-rule lists over the
config's [local] directories, which is what ``collections search``, ``doctor``, deploy's
mapped-collection check and ``globus endpoint permission list`` ask. A collection is a GCSv5
mapped collection (as a facility's storage is, so deploy asks for the data_access consents it
would in Globus) unless [local] guest_collections names it; a guest collection's access rules
are the ones the engine's manage_permission keeps."""

from __future__ import annotations

import datetime
import stat
from typing import Any

from palxfel_globus.emulator.api import ApiError, Route, not_found


def _collection(emulator: Any, collection_id: str) -> dict[str, Any]:
    names = emulator.collection_names
    key = collection_id.lower()
    if key not in names:
        raise not_found("collection", collection_id)
    guest = emulator.engine.collections.is_guest(key)
    return {
        "DATA_TYPE": "endpoint",
        "id": key,
        "display_name": names[key],
        "canonical_name": f"local#{key[:8]}",
        "entity_type": "GCSv5_guest_collection" if guest else "GCSv5_mapped_collection",
        "gcs_version": "5.4.0",
        "owner_string": f"{emulator.client_id}@clients.auth.globus.org",
        "owner_id": emulator.client_id,
        "description": f"{names[key]}: {emulator.collections[key]}",
        "organization": "palxfel-globus local serve",
        "high_assurance": False,
        "is_globus_connect": False,
        "activated": True,
        "public": False,
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


def operation_ls(emulator: Any, request: Any, collection_id: str) -> dict[str, Any]:
    from palxfel_globus.engine.providers.base import ProviderError

    _collection(emulator, collection_id)
    path = request.args.get("path") or "/~/"
    try:
        directory = emulator.engine.collections.resolve(collection_id, path)
    except ProviderError as exc:
        raise ApiError(400, "ClientError.BadRequest", str(exc)) from None
    if not directory.is_dir():
        raise ApiError(404, "ClientError.NotFound", f"Directory '{path}' not found.")
    entries = []
    for entry in sorted(directory.iterdir()):
        info = entry.lstat()
        kind = "dir" if stat.S_ISDIR(info.st_mode) else "link" if stat.S_ISLNK(info.st_mode) else "file"
        modified = datetime.datetime.fromtimestamp(info.st_mtime, datetime.timezone.utc)
        entries.append(
            {
                "DATA_TYPE": "file",
                "name": entry.name,
                "type": kind,
                "size": info.st_size,
                "last_modified": modified.strftime("%Y-%m-%d %H:%M:%S+00:00"),
                "permissions": f"{stat.S_IMODE(info.st_mode):04o}",
            }
        )
    return {"DATA_TYPE": "file_list", "DATA": entries, "path": path, "endpoint": collection_id, "length": len(entries)}


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


ROUTES = [
    Route("transfer", "/v0.10/endpoint/<collection_id>", ("GET",), get_endpoint),
    Route("transfer", "/v0.10/endpoint_search", ("GET",), endpoint_search),
    Route("transfer", "/v0.10/operation/endpoint/<collection_id>/ls", ("GET",), operation_ls),
    Route("transfer", "/v0.10/endpoint/<collection_id>/access_list", ("GET",), access_list),
]
