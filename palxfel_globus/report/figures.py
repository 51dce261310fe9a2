"""The report's figures from the rows of ``scans list``: what a data manager is asked about every morning.

Everything is counted from the ledger as list_scans reads it on the DAQ host (every scan, the compacted
released ones too), so the page and ``scans list`` never disagree. A scan *waits* from complete until a copy is
verified at every destination of its route (compute_functions/_recovery.py); a copy's day is the day it was first
verified (a release's fresh verification does not move it).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from palxfel_globus.cli.status import NEED_A_PERSON

DAY = 86400
WAITING = ("pending", "claimed", "failed", "quarantined", "blocked", "unrouted")  # as in _recovery
BACKLOG_POINTS = 168  # samples of the backlog over the window
WAIT_BINS = (300, 900, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800)  # upper bounds; the last bin is open
SHOWN_EXPERIMENTS = 100
SHOWN_PEOPLE = 200
SHOWN_REASONS = 10
COUNTED = ("complete", "waiting", "shipped", "released", "blocked", "quarantined", "failed")
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_SCAN_NAME = re.compile(r"\b\d{6}_.+?_\d{5}_DIR\b")


def seconds_of(iso: Optional[str]) -> Optional[float]:
    """Epoch seconds of a ledger time, or None."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def is_waiting(row: dict[str, Any]) -> bool:
    """Complete, and never yet verified at every destination (compute_functions/_recovery.is_waiting)."""
    return row["state"] in WAITING and not row.get("shipped_at")


def destination_label(destination: dict[str, Any]) -> str:
    """``<collection>:<base_path>``, as the Prometheus figures name a destination (compute_functions/_metrics.py)."""
    return "{}:{}".format(destination["collection"], destination["base_path"].rstrip("/") or "/")


@dataclass
class Place:
    """A destination of a route, and what the ledger says of its copies."""

    route: str
    collection: str
    base_path: str
    label: str
    counts: Counter = field(default_factory=Counter)  # scans of its route by state, and "verified"
    verified_bytes: int = 0
    verified_in_window: int = 0
    waiting: int = 0  # complete scans of its route without a verified copy here yet


@dataclass
class Figures:
    generated_at: float
    days: int
    daq_root: str
    host: str
    recovery: dict[str, Any]
    totals: dict[str, int]
    experiments: list[dict[str, Any]]
    experiments_hidden: int
    experiments_cut: int
    places: list[Place]
    backlog_times: list[float]
    backlog: dict[str, list[int]]  # route -> waiting scans at each time
    day_starts: list[float]
    bytes_per_day: dict[str, list[int]]  # destination label -> bytes verified on each day
    wait_bins: tuple[int, ...]
    waits: dict[str, list[int]]  # route -> scans per wait bin
    failures: list[tuple[str, int]]  # (reason, scans), most first
    need_a_person: list[dict[str, Any]]
    need_a_person_cut: int

    def as_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def reason_kind(reason: str, experiment: str, scan: str) -> str:
    """A reason without what differs from scan to scan (its names, ids), so alike failures count together."""
    text = reason.replace(f"{experiment}/{scan}", "<scan>").replace(scan, "<scan>").replace(experiment, "<experiment>")
    text = _SCAN_NAME.sub("<scan>", _UUID.sub("<id>", text))
    return text if len(text) <= 200 else text[:199] + "…"


def first_verified(place: dict[str, Any], row: dict[str, Any]) -> Optional[float]:
    """When a copy was first verified: its ``verified_at``, unless a later verification (before a release) moved
    it past the scan's ``shipped_at``."""
    times = [time for time in (seconds_of(place.get("verified_at")), seconds_of(row.get("shipped_at"))) if time]
    return min(times) if times else None


def local_midnight(moment: float) -> float:
    """The start of the local day ``moment`` is in (naive local times: a clock change is the library's)."""
    return datetime.fromtimestamp(moment).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def build(listing: dict[str, Any], routes: list[dict[str, Any]], now: float, days: int, daq_root: str) -> Figures:
    """The figures of the last ``days`` days from ``listing`` (list_scans' result, its compacted rows included)."""
    import socket

    rows = listing["scans"]
    since = now - days * DAY
    route_of = _router(routes)
    places = [
        Place(route["match"], place["collection"], place["base_path"], destination_label(place))
        for route in routes
        for place in _destinations(route)
    ]
    by_route: dict[str, list[Place]] = {}
    for place in places:
        by_route.setdefault(place.route, []).append(place)
    day_starts = _day_starts(since, now)
    per_day = {place.label: [0] * len(day_starts) for place in places}
    starts: dict[str, list[float]] = {route["match"]: [] for route in routes}
    ends: dict[str, list[float]] = {route["match"]: [] for route in routes}
    waits = {route["match"]: [0] * (len(WAIT_BINS) + 1) for route in routes}
    experiments: dict[str, dict[str, Any]] = {}
    totals: Counter = Counter()
    failures: Counter = Counter()
    people = []
    for row in rows:
        state = row["state"]
        route = route_of(row["experiment"])
        counts = _count_row(row, totals)
        experiment = experiments.setdefault(row["experiment"], dict.fromkeys(COUNTED, 0))
        experiment.update(experiment=row["experiment"], active=experiment.get("active", False))
        for key, value in counts.items():
            experiment[key] += value
        completed, shipped = seconds_of(row.get("completed_at")), seconds_of(row.get("shipped_at"))
        if (
            counts["waiting"]
            or state in ("blocked", "quarantined", "failed", "releasing")
            or any(time is not None and time > since for time in (completed, shipped))
        ):
            experiment["active"] = True
        if state in ("failed", "quarantined", "blocked") and (row.get("reason") or row.get("last_error")):
            failures[reason_kind(row.get("reason") or row["last_error"], row["experiment"], row["scan"])] += 1
        if state in NEED_A_PERSON:
            people.append(row)
        if route is None:
            continue
        if completed is not None:
            starts[route].append(completed)
            if not counts["waiting"]:
                ends[route].append(shipped if shipped is not None else completed)
        if shipped is not None and since < shipped <= now and row.get("wait_seconds") is not None:
            waits[route][bisect.bisect_left(WAIT_BINS, row["wait_seconds"])] += 1
        for place, recorded in zip(by_route.get(route, []), row.get("destinations") or []):
            place.counts[state] += 1
            if recorded.get("state") != "verified":
                place.waiting += counts["waiting"]
                continue
            place.counts["verified"] += 1
            place.verified_bytes += row.get("bytes") or 0
            verified = first_verified(recorded, row)
            if verified is not None and since < verified <= now:
                place.verified_in_window += 1
                per_day[place.label][max(0, bisect.bisect_right(day_starts, verified) - 1)] += row.get("bytes") or 0
    times = [since + (now - since) * index / (BACKLOG_POINTS - 1) for index in range(BACKLOG_POINTS)]
    backlog = {route: _backlog(sorted(starts[route]), sorted(ends[route]), times) for route in starts}
    shown = sorted(
        (entry for entry in experiments.values() if entry.pop("active")),
        key=lambda entry: (_experiment_date(entry["experiment"]), entry["experiment"]),
        reverse=True,
    )
    return Figures(
        generated_at=now,
        days=days,
        daq_root=daq_root,
        host=socket.gethostname(),
        recovery=listing["recovery"],
        totals={key: totals[key] for key in COUNTED},
        experiments=shown[:SHOWN_EXPERIMENTS],
        experiments_hidden=len(experiments) - len(shown),
        experiments_cut=max(0, len(shown) - SHOWN_EXPERIMENTS),
        places=places,
        backlog_times=times,
        backlog=backlog,
        day_starts=day_starts,
        bytes_per_day=per_day,
        wait_bins=WAIT_BINS,
        waits=waits,
        failures=failures.most_common(),
        need_a_person=[_person(row) for row in people[:SHOWN_PEOPLE]],
        need_a_person_cut=max(0, len(people) - SHOWN_PEOPLE),
    )


def _router(routes: list[dict[str, Any]]) -> Any:
    """experiment -> the match of its route (the first whose glob matches), or None; remembered per experiment."""
    import fnmatch
    import functools

    @functools.cache
    def route_of(experiment: str) -> Optional[str]:
        return next((route["match"] for route in routes if fnmatch.fnmatchcase(experiment, route["match"])), None)

    return route_of


def _destinations(route: dict[str, Any]) -> list[dict[str, Any]]:
    """A route's destinations, in order (compute_functions/_layout.destinations_of)."""
    if route.get("destinations"):
        return list(route["destinations"])
    return [{key: route.get(key) for key in ("collection", "base_path")}]


def _count_row(row: dict[str, Any], totals: Counter) -> dict[str, int]:
    state = row["state"]
    counts = {
        "complete": int(state != "incomplete"),
        "waiting": int(is_waiting(row)),
        "shipped": int(state == "shipped"),
        "released": int(state == "released"),
        "blocked": int(state == "blocked"),
        "quarantined": int(state == "quarantined"),
        "failed": int(state == "failed"),
    }
    totals.update(counts)
    return counts


def _backlog(starts: list[float], ends: list[float], times: list[float]) -> list[int]:
    """Scans complete by each time and not yet verified by it."""
    return [bisect.bisect_right(starts, time) - bisect.bisect_right(ends, time) for time in times]


def _day_starts(since: float, now: float) -> list[float]:
    """The local midnights of the days the window touches, oldest first."""
    starts = [local_midnight(since)]
    while True:
        following = local_midnight(starts[-1] + 1.5 * DAY)  # a day of a clock change is 23 or 25 hours long
        if following > now:
            return starts
        starts.append(following)


def _experiment_date(name: str) -> str:
    parts = name.split("_")
    return parts[1] if len(parts) > 2 else ""


def _person(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "scan": f"{row['experiment']}/{row['scan']}",
        "state": row["state"],
        "reason": row.get("reason") or row.get("last_error") or "",
    }
