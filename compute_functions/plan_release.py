"""Compute function: what the next run would release, and why, for ``palxfel-globus scans release --dry-run``.

Runs on the DAQ host (directly from the CLI) or on the DAQ endpoint. It takes the scans the way a
run's discovery does (``_release.release_batch``) without claiming or settling anything, so
it lists what the next run releases as long as every copy then verifies.
"""

from _layout import destination_path, destinations_of
from _release import release_batch


def _age(seconds):
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def plan_release(config, now=None):
    """Returns {retention: {release_after, max_release} or None, scans: [{experiment, scan, shipped_at,
    reason, destinations: [{collection, path}]}], more (more are due than one run takes), problems}."""
    import time

    now = time.time() if now is None else now
    retention = config.get("retention")
    problems = []
    if not retention:
        return {"retention": None, "scans": [], "more": False, "problems": problems}
    items, _copies, more = release_batch(config, now, problems, lambda item: True, settle=False)
    return {
        "retention": retention,
        "scans": [_described(config, item, now) for item in items],
        "more": more,
        "problems": problems,
    }


def _described(config, item, now):
    import datetime

    experiment, scan = item["experiment"], item["scan"]
    shipped = datetime.datetime.fromisoformat(item["shipped_at"]).timestamp() if item["shipped_at"] else now
    return {
        "experiment": experiment,
        "scan": scan,
        "shipped_at": item["shipped_at"],
        "reason": f"shipped {_age(now - shipped)} ago; release_after is {_age(config['retention']['release_after'])}",
        "destinations": [
            {"collection": place["collection"], "path": destination_path(place, experiment, scan)}
            for place in destinations_of(config["routes"][item["route"]])
        ],
    }
