"""The Globus Search index ``[catalog]`` names: whether the flow can write it, and what it holds.

The flow ingests as the identity that runs it (the timer's), which must be able to write the index;
``deploy`` refuses an index that is missing or read-only, and ``doctor`` checks it every time.
"""

from __future__ import annotations

from typing import Any

WRITING_ROLES = ("owner", "admin", "writer")
MAX_ENTRIES_SHOWN = 10_000  # Search pages by offset up to this many results
PAGE = 1_000


def index_problem(index_id: str, client: Any) -> str:
    """One sentence when the index is missing, closed or not writable by this login; "" when the flow can use it."""
    from globus_sdk import GlobusAPIError

    try:
        index = client.get_index(index_id)
    except GlobusAPIError as error:
        if error.http_status != 404:
            raise
        return (
            f"the Globus Search index {index_id} ([catalog] index) does not exist or you cannot see it: create one "
            "('globus search index create NAME DESCRIPTION') and put its id in [catalog] index"
        )
    name = index.get("display_name") or index_id
    if index.get("status", "open") != "open":
        return f"the Search index {name} is {index.get('status')}: reopen it, or use another in [catalog] index"
    roles = index.get("permissions") or []
    if not set(roles) & set(WRITING_ROLES):
        held = ", ".join(roles) or "no role"
        return (
            f"you hold {held} on the Search index {name}, so the flow (which runs as you) cannot write it: ask its "
            "owner for the writer role ('globus search index role create INDEX writer YOU')"
        )
    return ""


def search_entries(client: Any, index_id: str, text: str, experiment: str | None) -> list[dict[str, Any]]:
    """Every entry matching ``text`` (all with none) in one experiment or all, as {subject, content}."""
    query: dict[str, Any] = {"q": text.strip() or "*", "limit": PAGE, "offset": 0}
    if experiment:
        query["filters"] = [{"type": "match_all", "field_name": "experiment", "values": [experiment]}]
    entries: list[dict[str, Any]] = []
    while query["offset"] < MAX_ENTRIES_SHOWN:
        answer = client.post_search(index_id, query)
        for result in answer.get("gmeta") or []:
            entries += [{"subject": result["subject"], "content": entry.get("content")} for entry in result["entries"]]
        if not answer.get("has_next_page"):
            break
        query["offset"] += PAGE
    return entries
