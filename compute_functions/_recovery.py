"""The recovery point: when a scan was complete, and how long it waited for its verified copies.

A scan is complete at its marker's mtime (the earliest marker present, inside it or beside it) or, where
quiet-period completion is configured and no marker is there, ``quiet_seconds`` after the newest change in it.
Its ledger record keeps that time as ``completed_at`` from its first recording on. A scan *waits* from then
until a copy is verified at every destination of its route (``shipped_at``); a scan shipped once no longer
waits (a later problem with a copy makes it blocked or pending, with news of its own). Its wait is
``shipped_at - completed_at``. Standard library only, valid on Python 3.9 (see _layout).
"""

from _layout import RAW_DATA, DaqError, ScanError, confined, route_for, scan_files
from _ledger import iso_time

WAITING = ("pending", "claimed", "failed", "quarantined", "blocked", "unrouted")  # complete, no verified copies yet
DAY = 86400


def completion_time(config, root_real, experiment, scan):
    """When the scan became complete (epoch seconds), or None when the DAQ no longer shows it."""
    import os

    try:
        raw = confined(root_real, experiment, RAW_DATA)
    except DaqError:
        return None
    times = []
    for marker in config.get("markers") or ():
        for path in (os.path.join(raw, scan, marker), os.path.join(raw, scan + marker)):
            try:
                times.append(os.lstat(path).st_mtime)
            except OSError:
                pass
    if times:
        return min(times)
    if not config.get("quiet_seconds"):
        return None
    try:
        files = scan_files(root_real, experiment, scan)
        newest = max([entry[3] for entry in files] + [os.stat(os.path.join(raw, scan)).st_mtime])
    except (ScanError, DaqError, OSError):
        return None
    return newest + config["quiet_seconds"]


def note_completion(config, root_real, record):
    """``record`` with ``completed_at`` when it has none yet and the DAQ shows when the scan was complete."""
    if record.get("completed_at"):
        return record
    when = completion_time(config, root_real, record["experiment"], record["scan"])
    return record if when is None else dict(record, completed_at=iso_time(when))


def seconds_of(iso):
    """Epoch seconds of a ledger time (ISO 8601), or None."""
    import datetime

    try:
        return datetime.datetime.fromisoformat(str(iso)).timestamp() if iso else None
    except ValueError:
        return None


def wait_seconds(completed_at, shipped_at):
    """How long a scan waited from complete to verified at every destination (ledger times), or None while unknown."""
    completed, shipped = seconds_of(completed_at), seconds_of(shipped_at)
    if completed is None or shipped is None:
        return None
    return max(0.0, shipped - completed)


def is_waiting(state, record):
    """Complete, and never yet verified at every destination."""
    return state in WAITING and not (record or {}).get("shipped_at")


def nearest_rank(ordered, fraction):
    """The value at ``fraction`` (0-1] of sorted ``ordered`` by nearest rank: always one of the values."""
    import math

    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def wait_summary(waits):
    """{count, median_seconds, p95_seconds, worst_seconds} of a list of waits (the figures None when empty)."""
    import statistics

    ordered = sorted(waits)
    if not ordered:
        return {"count": 0, "median_seconds": None, "p95_seconds": None, "worst_seconds": None}
    return {
        "count": len(ordered),
        "median_seconds": statistics.median(ordered),
        "p95_seconds": nearest_rank(ordered, 0.95),
        "worst_seconds": ordered[-1],
    }


def recovery_point(rows, routes, now, days):
    """The recovery point from ``scans list`` rows: the oldest complete scan without its verified copies, and per
    route its waiting scans and the wait of the scans verified in the last ``days`` days. Returns {days, oldest,
    unrouted, routes: [{route, waiting, oldest, count, median_seconds, p95_seconds, worst_seconds}]}, each
    oldest {scan, completed_at, age_seconds} or None."""
    since = now - days * DAY
    per_route = {route["match"]: {"waiting": 0, "oldest": None, "waits": []} for route in routes}
    oldest, unrouted = None, 0
    for row in rows:
        route = route_for(row["experiment"], routes)
        figures = per_route.get(route["match"]) if route else None
        completed = seconds_of(row.get("completed_at"))
        if is_waiting(row["state"], row):
            if figures is None:
                unrouted += 1
            else:
                figures["waiting"] += 1
            if completed is None:
                continue
            entry = {
                "scan": f"{row['experiment']}/{row['scan']}",
                "completed_at": row["completed_at"],
                "age_seconds": max(0.0, now - completed),
            }
            if figures is not None and (
                figures["oldest"] is None or entry["age_seconds"] > figures["oldest"]["age_seconds"]
            ):
                figures["oldest"] = entry
            if oldest is None or entry["age_seconds"] > oldest["age_seconds"]:
                oldest = entry
            continue
        shipped = seconds_of(row.get("shipped_at"))
        wait = row.get("wait_seconds")
        if figures is not None and wait is not None and since < shipped <= now:
            figures["waits"].append(wait)
    summary = []
    for match, figures in per_route.items():
        summary.append(
            dict(wait_summary(figures.pop("waits")), route=match, waiting=figures["waiting"], oldest=figures["oldest"])
        )
    return {"days": days, "oldest": oldest, "unrouted": unrouted, "routes": summary}
