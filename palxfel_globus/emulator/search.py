"""Globus Search over the indexes the engine's Search ingest provider fills: what ``catalog search``,
``doctor``'s index check and ``globus search`` ask (``GET /v1/index/{id}``, ``GET|POST
/v1/index/{id}/search``, ``GET /v1/index_list``, ``POST /v1/index``, ``DELETE /v1/index/{id}``), and
what changes an index, through the same provider a flow's ingest and delete actions use (``POST
.../ingest``, ``.../delete_by_query``, ``.../batch_delete_by_subject``, ``DELETE .../subject``, with
``GET /v1/task/{id}`` and ``/v1/task_list/{index}`` following each task, done when answered), in the
shapes of globus-sdk's own test data (GSearchIndex, GSearchResult, GError).

The config's ``[catalog] index`` exists from the start, as if made in the web app, owned by the
emulator's identity; other indexes exist once made (``globus search index create``) or ingested
into. The caller owns every index here, and an owner is shown every entry (UNVERIFIED: the service
may show an owner only what ``visible_to`` lets it see)."""

from __future__ import annotations

import uuid
from typing import Any

from palxfel_globus.emulator.api import ApiError, Route, json_object
from palxfel_globus.engine.providers.search import INDEX, SearchProvider, search

MAX_RESULTS = 10_000  # Search's offset + limit bound


def _not_found(what: str) -> ApiError:
    return ApiError(404, "NotFound.Generic", f"{what} was not found", error_data={"cause": f"{what} does not exist"})


def _known(emulator: Any, index_id: str) -> dict[str, Any]:
    """The index's settings, or 404: the configured catalog index, one made here, or one a flow ingested into."""
    try:
        index_id = str(uuid.UUID(index_id))
    except ValueError:
        raise _not_found(f"Index {index_id!r}") from None
    kept = emulator.engine.state.read(INDEX, index_id)
    if not kept and index_id != (emulator.config.catalog.index or ""):
        raise _not_found(f"Index {index_id}")
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
    created = _document(_known(emulator, index_id))
    created.pop("permissions")  # not in a new index's document (the SDK's create_index data)
    return created


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
        "gmeta": [_gmeta(entry["subject"], [entry]) for entry in page],
    }


def _run(emulator: Any, index_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """One ingest or delete through the engine's Search provider; its task, kept for get_task."""
    from palxfel_globus.engine.clock import Clock
    from palxfel_globus.engine.faults import Faults
    from palxfel_globus.engine.providers.base import ActionContext, ProviderError

    index_id = _known(emulator, index_id)["id"]
    context = ActionContext(str(uuid.uuid4()), "search " + action, Faults(), None, lambda *_: None, Clock())
    provider = SearchProvider(emulator.engine.state)
    try:
        task = getattr(provider, action)({"search_index": index_id, **body}, context).details
    except ProviderError as exc:
        raise ApiError(400, "BadRequest.ValidationError", str(exc)) from None
    emulator.store.put("search_task", task["task_id"], task)
    return task


def ingest(emulator: Any, request: Any, index_id: str) -> dict[str, Any]:
    body = json_object(request)
    document = {key: body[key] for key in ("ingest_type", "ingest_data") if key in body}
    task = _run(emulator, index_id, "ingest_document", document)
    count = len((body.get("ingest_data") or {}).get("gmeta") or [1]) if body.get("ingest_type") == "GMetaList" else 1
    return {
        "acknowledged": True,
        "task_id": task["task_id"],
        "success": True,
        "num_documents_ingested": count,
        "as_identity": f"urn:globus:auth:identity:{emulator.client_id}",
    }


def delete_by_query(emulator: Any, request: Any, index_id: str) -> dict[str, Any]:
    body = json_object(request)
    task = _run(emulator, index_id, "delete", {"delete_by": "query", "q": body.get("q") or "*"})
    return {"task_id": task["task_id"]}


def delete_subject(emulator: Any, request: Any, index_id: str) -> dict[str, Any]:
    subject = request.args.get("subject") or ""
    return {"task_id": _run(emulator, index_id, "delete", {"delete_by": "subject", "subject": subject})["task_id"]}


def batch_delete_by_subject(emulator: Any, request: Any, index_id: str) -> dict[str, Any]:
    subjects = json_object(request).get("subjects")
    if not isinstance(subjects, list) or not all(isinstance(subject, str) for subject in subjects):
        raise ApiError(400, "BadRequest.ValidationError", "subjects must be a list of strings.")
    tasks = [_run(emulator, index_id, "delete", {"delete_by": "subject", "subject": subject}) for subject in subjects]
    return {"task_id": tasks[-1]["task_id"] if tasks else str(uuid.uuid4())}


def get_subject(emulator: Any, request: Any, index_id: str) -> dict[str, Any]:
    index = _known(emulator, index_id)
    subject = request.args.get("subject") or ""
    entries = [entry for entry in search(emulator.engine.state, index["id"]) if entry["subject"] == subject]
    if not entries:
        raise _not_found(f"Subject {subject!r}")
    return _gmeta(subject, entries)


def _gmeta(subject: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@datatype": "GMetaResult",
        "@version": "2019-08-27",
        "subject": subject,
        "entries": [
            {"content": entry["content"], "entry_id": entry.get("id"), "matched_principal_sets": []}
            for entry in entries
        ],
    }


def get_task(emulator: Any, request: Any, task_id: str) -> dict[str, Any]:
    task = emulator.store.get("search_task", task_id)
    if task is None:
        raise _not_found(f"Task {task_id}")
    return task


def task_list(emulator: Any, request: Any, index_id: str) -> dict[str, Any]:
    index = _known(emulator, index_id)
    tasks = [task for task in emulator.store.all("search_task") if task["index_id"] == index["id"]]
    return {"tasks": list(reversed(tasks))}


def delete_index(emulator: Any, request: Any, index_id: str) -> dict[str, Any]:
    index = _known(emulator, index_id)
    emulator.engine.state.remove(INDEX, index["id"])
    return {"index_id": index["id"], "acknowledged": True}


ROUTES = [
    Route("search", "/v1/index", ("POST",), create_index),
    Route("search", "/v1/index/<index_id>", ("DELETE",), delete_index),
    Route("search", "/v1/index/<index_id>/ingest", ("POST",), ingest),
    Route("search", "/v1/index/<index_id>/delete_by_query", ("POST",), delete_by_query),
    Route("search", "/v1/index/<index_id>/batch_delete_by_subject", ("POST",), batch_delete_by_subject),
    Route("search", "/v1/index/<index_id>/subject", ("GET",), get_subject),
    Route("search", "/v1/index/<index_id>/subject", ("DELETE",), delete_subject),
    Route("search", "/v1/task/<task_id>", ("GET",), get_task),
    Route("search", "/v1/task_list/<index_id>", ("GET",), task_list),
    Route("search", "/v1/index_list", ("GET",), index_list),
    Route("search", "/v1/index/<index_id>", ("GET",), get_index),
    Route("search", "/v1/index/<index_id>/search", ("GET", "POST"), search_index),
]
