"""Which destinations ``[[share]]`` sets access rules on, and whether Globus lets it.

Access rules live on guest collections only: on a mapped collection Transfer refuses them, so
a share whose route lands on one would fail every night. ``doctor`` and ``deploy`` say so first.
"""

from __future__ import annotations

import fnmatch
from typing import Any

GUEST_COLLECTIONS = ("GCSv5_guest_collection", "GCP_guest_collection")


def shared_routes(config: Any) -> list[tuple[int, Any]]:
    """(number, route) of each route a [[share]] may apply to: their globs overlap, read as either
    matching the other ("ue_*" and "ue_251023_*"), which is how facilities write them."""
    return [
        (number, route)
        for number, route in enumerate(config.routes, 1)
        if any(
            fnmatch.fnmatchcase(share.match, route.match) or fnmatch.fnmatchcase(route.match, share.match)
            for share in config.shares
        )
    ]


def not_guest_problem(number: int, route: Any, collection: Any) -> str:
    """One sentence for a shared route whose (first) destination is not a guest collection, or "" when it is one."""
    if collection.get("entity_type") in GUEST_COLLECTIONS:
        return ""
    return (
        f"route #{number} ({route.match}) lands on {collection.get('display_name') or route.primary.collection}, a "
        f"{collection.get('entity_type') or 'collection'} that cannot hold access rules: [[share]] needs a guest "
        "collection there (make one on it and use its id as the route's (first) collection), or remove the [[share]]"
    )
