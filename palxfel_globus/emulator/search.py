"""Globus Search over the indexes the engine's Search ingest provider fills: what ``catalog search``,
``doctor``'s index check and ``globus search`` ask (``GET /v1/index/{id}``, ``GET|POST
/v1/index/{id}/search``, ``GET /v1/index_list``, ``POST /v1/index``), in the shapes of globus-sdk's
own test data (GSearchIndex, GSearchResult).

The config's ``[catalog] index`` exists from the start, as if made in the web app, owned by the
emulator's identity; other indexes exist once made (``globus search index create``) or ingested
into. The caller owns every index here, and an owner is shown every entry (UNVERIFIED: the service
may show an owner only what ``visible_to`` lets it see)."""

from __future__ import annotations

import uuid
from typing import Any

from palxfel_globus.emulator.api import ApiError, Route, json_object, not_found
from palxfel_globus.engine.providers.search import INDEX, search

MAX_RESULTS = 10_000  # Search's offset + limit bound


def _known(emulator: Any, index_id: str) -> dict[str, Any]:
    """The index's settings, or 404: the configured catalog index, one made here, or one a flow ingested into."""
    try:
        index_id = str(uuid.UUID(index_id))
    except ValueError:
        raise not_found("index", index_id) from None
    kept = emulator.engine.state.read(INDEX, index_id)
    if not kept and index_id != (emulator.config.catalog.index or ""):
        raise not_found("index", index_id)
    return dict(kept.get("index") or {}, id=index_id, entries=len(kept.get("entries") or {}))


def _document(index: dict[str, Any]) -> dict[str, Any]:
    subjects = index["entries"]
    return {
        "@datatype": "GSearchIndex",
        "@version": "2017-09-01",
        "id": index["id"],
        "display_name": index.get("display_name") or "palxfel-globus catalog (local serve)",
        "description": index.get("description") or "The [catalog] index of the emulated services",
        "status": "open",
        "is_trial": True,
        "subscription_id": None,
        "creation_date": index.get("creation_date") or "2026-01-01 00:00:00",
        "max_size_in_mb": 1,
        "size_in_mb": 0,
        "num_subjects": subjects,
        "num_entries": subjects,
        "permissions": ["owner"],
    }


def get_index(emulator: Any, request: Any, index_id: str) -> dict[str, Any]:
    return _document(_known(emulator, index_id))


def index_list(emulator: Any, request: Any) -> dict[str, Any]:
    ids = set(emulator.engine.state.keys(INDEX)) | ({emulator.config.catalog.index} - {None})
    return {"index_list": [_document(_known(emulator, index_id)) for index_id in sorted(ids)]}


def create_index(emulator: Any, request: Any) -> dict[str, Any]:
    import datetime

    body = json_object(request)
    name = body.get("display_name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "BadRequest.ValidationError", "display_name is required.")
    index_id = str(uuid.uuid4())
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    with emulator.engine.state.changing(INDEX, index_id) as kept:
        kept["index"] = {
            "display_name": name,
            "description": str(body.get("description") or ""),
            "creation_date": created,
        }
        kept.setdefault("entries", {})
    return _document(_known(emulator, index_id))


def _query(request: Any) -> dict[str, Any]:
    """The query of a POST (a search document) or a GET (``q``, ``limit``, ``offset``)."""
    if request.method == "POST":
        return json_object(request)
    return {key: request.args.get(key) for key in ("q", "limit", "offset") if request.args.get(key) is not None}


def _filtered(entry: dict[str, Any], filters: Any) -> bool:
    """Search's match_all / match_any filters on a content field (a dotted path)."""
    if not isinstance(filters, list):
        raise ApiError(400, "BadRequest.ValidationError", "filters must be a list.")
    for rule in filters:
        if not isinstance(rule, dict) or rule.get("type") not in ("match_all", "match_any"):
            raise ApiError(400, "BadRequest.ValidationError", "Only match_all and match_any filters are emulated.")
        value: Any = entry["content"]
        for part in str(rule.get("field_name") or "").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        wanted = [str(item) for item in rule.get("values") or []]
        held = [str(item) for item in value] if isinstance(value, list) else [str(value)]
        test = all if rule["type"] == "match_all" else any
        if not test(item in held for item in wanted):
            return False
    return True


def search_index(emulator: Any, request: Any, index_id: str) -> dict[str, Any]:
    index = _known(emulator, index_id)
    query = _query(request)
    try:
        limit = max(0, min(int(query.get("limit", 10)), MAX_RESULTS))
        offset = max(0, int(query.get("offset", 0)))
    except (TypeError, ValueError):
        raise ApiError(400, "BadRequest.ValidationError", "limit and offset must be whole numbers.") from None
    if offset + limit > MAX_RESULTS:
        raise ApiError(400, "BadRequest.ValidationError", f"offset + limit must be at most {MAX_RESULTS}.")
    text = str(query.get("q") or "")
    found = [
        entry
        for entry in search(emulator.engine.state, index["id"], text)
        if _filtered(entry, query.get("filters") or [])
    ]
    page = found[offset : offset + limit]
    return {
        "@datatype": "GSearchResult",
        "@version": "2017-09-01",
        "count": len(page),
        "offset": offset,
        "total": len(found),
        "has_next_page": offset + limit < len(found),
        "gmeta": [
            {
                "@datatype": "GMetaResult",
                "@version": "2019-08-27",
                "subject": entry["subject"],
                "entries": [{"content": entry["content"], "entry_id": entry.get("id"), "matched_principal_sets": []}],
            }
            for entry in page
        ],
    }


ROUTES = [
    Route("search", "/v1/index", ("POST",), create_index),
    Route("search", "/v1/index_list", ("GET",), index_list),
    Route("search", "/v1/index/<index_id>", ("GET",), get_index),
    Route("search", "/v1/index/<index_id>/search", ("GET", "POST"), search_index),
]
