"""Globus Search ingest and delete (actions.globus.org/search/ingest, /search/delete) over a local
index, and the query a person (or 'catalog search') runs against it.

The parameters are the action providers' (docs.globus.org/api/flows/hosted-action-providers/
ap-search-ingest and ap-search-delete): ingest takes one entry, ``search_index``, ``subject``,
``visible_to``, ``content`` and an optional entry ``id`` (documented.py); delete takes ``search_index`` and
``delete_by`` (``subject``, ``entry`` or ``query``). Search's own API (what ``local serve`` answers at
``POST /v1/index/{id}/ingest``) takes its ingest document instead: ``ingest_document``. As in Globus
Search, an entry is keyed by (subject, id), so ingesting the same subject again replaces its entry
instead of adding one.
The index is one document in the engine's local state, named by the index UUID.
"""

from __future__ import annotations

import uuid
from typing import Any

from palxfel_globus.engine.clock import iso
from palxfel_globus.engine.providers.base import ActionContext, ActionResult, ProviderError, check_parameters, require
from palxfel_globus.engine.providers.documented import SEARCH_INGEST
from palxfel_globus.engine.providers.local_state import LocalState

INDEX = "search"
ENTRY_KEYS = ("subject", "visible_to", "content", "id")


def _index_id(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ProviderError(f"search_index {value!r} is not an index UUID") from None


def _entry(body: dict[str, Any]) -> dict[str, Any]:
    """The one entry an ingest carries, in the documented form (documented.py). Search's own ingest
    document (``ingest_type`` GMetaList with ``ingest_data``) is refused: no page documents it for the
    action provider and no public flow sends it."""
    SEARCH_INGEST.check(body)
    if not body["subject"]:
        raise ProviderError("subject must be a non-empty string")
    if not body["visible_to"] or not all(isinstance(p, str) for p in body["visible_to"]):
        raise ProviderError('visible_to must be a non-empty list of principal URNs or "public"')
    return {key: body[key] for key in ENTRY_KEYS if key in body}


def _task(context: ActionContext, index_id: str, kind: str, count: int) -> dict[str, Any]:
    """What the action's details show: Search's task document for the (already finished) task."""
    now = iso(context.clock.now())
    return {
        "task_id": str(uuid.uuid4()),
        "state": "SUCCESS",
        "task_type": kind,
        "index_id": index_id,
        "creation_date": now,
        "completion_date": now,
        "message": f"{count} {'entry' if count == 1 else 'entries'} {'ingested' if kind == 'INGEST' else 'deleted'}",
    }


def _api_entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of Search's own ingest document (``ingest_type`` GMetaEntry or GMetaList with
    ``ingest_data``), what the Search API's ``POST /v1/index/{id}/ingest`` takes (``local serve``), never
    the action provider."""
    check_parameters(body, "Search's ingest API", {"search_index", "ingest_type", "ingest_data"})
    kind, data = require(body, "ingest_type", "ingest_data")
    if kind == "GMetaEntry":
        items = [data]
    elif kind == "GMetaList":
        items = data.get("gmeta") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            raise ProviderError('a GMetaList\'s ingest_data must be {"gmeta": [entries]} with at least one entry')
    else:
        raise ProviderError(f"ingest_type {kind!r} is not GMetaEntry or GMetaList")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            raise ProviderError("an entry must be a JSON object with subject, visible_to and content")
        unknown = sorted(set(item) - set(ENTRY_KEYS) - {"@datatype", "@version"})
        if unknown:
            raise ProviderError(f"an entry has unknown fields {', '.join(unknown)}; it takes {', '.join(ENTRY_KEYS)}")
        entries.append(_entry({"search_index": body["search_index"], **item}))
    return entries


class SearchProvider:
    def __init__(self, state: LocalState) -> None:
        self.state = state

    def ingest(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        """The action provider: one entry, in its documented form."""
        entry = _entry(body)
        return self._store(body["search_index"], [entry], context)

    def ingest_document(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        """Search's ingest API: one GMetaEntry, or a GMetaList of many."""
        (index_id,) = require(body, "search_index")
        return self._store(index_id, _api_entries(body), context)

    def _store(self, index_id: Any, entries: list[dict[str, Any]], context: ActionContext) -> ActionResult:
        index_id = _index_id(index_id)
        now = iso(context.clock.now())
        with self.state.changing(INDEX, index_id) as index:
            kept = index.setdefault("entries", {})
            for entry in entries:
                kept[f"{entry['subject']}\n{entry.get('id') or ''}"] = {
                    "subject": entry["subject"],
                    "id": entry.get("id"),
                    "visible_to": entry["visible_to"],
                    "content": entry["content"],
                    "ingested_at": now,
                    "run_id": context.run_id,
                }
        return ActionResult("SUCCEEDED", _task(context, index_id, "INGEST", len(entries)))

    def delete(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        allowed = {"search_index", "delete_by", "subject", "entry_id", "q", "filters", "query_template", "advanced"}
        check_parameters(body, "Search delete", allowed)
        index_id, delete_by = require(body, "search_index", "delete_by")
        index_id = _index_id(index_id)
        with self.state.changing(INDEX, index_id) as index:
            entries = index.setdefault("entries", {})
            if delete_by == "subject":
                (subject,) = require(body, "subject")
                doomed = [key for key, entry in entries.items() if entry["subject"] == subject]
            elif delete_by == "entry":
                (subject,) = require(body, "subject")
                doomed = [f"{subject}\n{body.get('entry_id') or ''}"]
            elif delete_by == "query":
                (text,) = require(body, "q")
                doomed = [key for key, entry in entries.items() if _matches(entry, str(text), {})]
            else:
                raise ProviderError(f"delete_by {delete_by!r} is not subject, entry or query")
            removed = sum(1 for key in doomed if entries.pop(key, None) is not None)
        return ActionResult("SUCCEEDED", _task(context, index_id, "DELETE_BY_" + delete_by.upper(), removed))


def search(
    state: LocalState, index_id: str, text: str = "", where: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Entries of a local index whose content holds every word of ``text`` and whose ``where``
    fields are equal, in subject order; each as Search returns a subject: subject and content."""
    index = state.read(INDEX, _index_id(index_id)).get("entries") or {}
    found = [entry for entry in index.values() if _matches(entry, text, where or {})]
    return [
        {
            "subject": entry["subject"],
            "id": entry.get("id"),
            "visible_to": entry["visible_to"],
            "content": entry["content"],
        }
        for entry in sorted(found, key=lambda entry: (entry["subject"], entry.get("id") or ""))
    ]


def _matches(entry: dict[str, Any], text: str, where: dict[str, str]) -> bool:
    content = entry.get("content") or {}
    if any(str(content.get(field)) != value for field, value in where.items()):
        return False
    if text.strip() in ("", "*"):
        return True
    haystack = " ".join([entry.get("subject", ""), *_strings(content)]).lower()
    return all(word in haystack for word in text.lower().split())


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [str(value)]
