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
    counts: dict[str, int] = field(default_factory=dict)  # scans of its route by state, and "verified"
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

    tally = _Tally(routes, now, days)
    for row in listing["scans"]:
        tally.add(row)
    times = [tally.since + (now - tally.since) * index / (BACKLOG_POINTS - 1) for index in range(BACKLOG_POINTS)]
    experiments = tally.experiments.values()
    shown = sorted(
        (entry for entry in experiments if entry.pop("active")),
        key=lambda entry: (_experiment_date(entry["experiment"]), entry["experiment"]),
        reverse=True,
    )
    return Figures(
        generated_at=now,
        days=days,
        daq_root=daq_root,
        host=socket.gethostname(),
        recovery=listing["recovery"],
        totals={key: sum(entry[key] for entry in experiments) for key in COUNTED},
        experiments=shown[:SHOWN_EXPERIMENTS],
        experiments_hidden=len(experiments) - len(shown),
        experiments_cut=max(0, len(shown) - SHOWN_EXPERIMENTS),
        places=tally.places,
        backlog_times=times,
        backlog={
            route: _backlog(sorted(tally.starts[route]), sorted(tally.ends[route]), times) for route in tally.starts
        },
        day_starts=tally.day_starts,
        bytes_per_day=tally.per_day,
        wait_bins=WAIT_BINS,
        waits=tally.waits,
        failures=tally.failures.most_common(),
        need_a_person=[_person(row) for row in tally.people[:SHOWN_PEOPLE]],
        need_a_person_cut=max(0, len(tally.people) - SHOWN_PEOPLE),
    )


class _Tally:
    """The figures counted row by row, in one pass (a report of 100,000 scans must take seconds)."""

    def __init__(self, routes: list[dict[str, Any]], now: float, days: int) -> None:
        self.now, self.since = now, now - days * DAY
        self.route_of = _router(routes)
        self.places = [
            Place(route["match"], place["collection"], place["base_path"], destination_label(place))
            for route in routes
            for place in _destinations(route)
        ]
        self.by_route: dict[str, list[Place]] = {}
        for place in self.places:
            self.by_route.setdefault(place.route, []).append(place)
        self.day_starts = _day_starts(self.since, now)
        self.per_day = {place.label: [0] * len(self.day_starts) for place in self.places}
        self.starts: dict[str, list[float]] = {route["match"]: [] for route in routes}
        self.ends: dict[str, list[float]] = {route["match"]: [] for route in routes}
        self.waits = {route["match"]: [0] * (len(WAIT_BINS) + 1) for route in routes}
        self.experiments: dict[str, dict[str, Any]] = {}
        self.failures: Counter = Counter()
        self.people: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        state = row["state"]
        waiting = state in WAITING and not row.get("shipped_at")
        completed, shipped = seconds_of(row.get("completed_at")), seconds_of(row.get("shipped_at"))
        entry = self.experiments.get(row["experiment"])
        if entry is None:
            entry = self.experiments[row["experiment"]] = dict.fromkeys(COUNTED, 0)
            entry.update(experiment=row["experiment"], active=False)
        entry["complete"] += state != "incomplete"
        entry["waiting"] += waiting
        if state in entry:
            entry[state] += 1
        if waiting or state in NEED_A_PERSON or state == "failed" or max(completed or 0, shipped or 0) > self.since:
            entry["active"] = True
        if state in ("failed", "quarantined", "blocked") and (row.get("reason") or row.get("last_error")):
            self.failures[reason_kind(row.get("reason") or row["last_error"], row["experiment"], row["scan"])] += 1
        if state in NEED_A_PERSON:
            self.people.append(row)
        route = self.route_of(row["experiment"])
        if route is not None:
            self._over_time(route, row, waiting, completed, shipped)
            self._at_places(route, row, state, waiting)

    def _over_time(
        self, route: str, row: dict[str, Any], waiting: bool, completed: Optional[float], shipped: Optional[float]
    ) -> None:
        if completed is not None:
            self.starts[route].append(completed)
            if not waiting:
                self.ends[route].append(shipped if shipped is not None else completed)
        if shipped is not None and self.since < shipped <= self.now and row.get("wait_seconds") is not None:
            self.waits[route][bisect.bisect_left(WAIT_BINS, row["wait_seconds"])] += 1

    def _at_places(self, route: str, row: dict[str, Any], state: str, waiting: bool) -> None:
        for place, recorded in zip(self.by_route.get(route, ()), row.get("destinations") or ()):
            place.counts[state] = place.counts.get(state, 0) + 1
            if recorded.get("state") != "verified":
                place.waiting += waiting
                continue
            place.counts["verified"] = place.counts.get("verified", 0) + 1
            place.verified_bytes += row.get("bytes") or 0
            verified = first_verified(recorded, row)
            if verified is not None and self.since < verified <= self.now:
                place.verified_in_window += 1
                day = max(0, bisect.bisect_right(self.day_starts, verified) - 1)
                self.per_day[place.label][day] += row.get("bytes") or 0


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
