"""Compute function: what the next run would release, and why, for ``palxfel-globus scans release --dry-run``.

Runs on the DAQ host (directly from the CLI) or on the DAQ endpoint. It takes the scans the way a
run's discovery does (``_release.release_candidates``) without claiming or changing anything, so
it lists what the next run releases as long as every copy then verifies.
"""

from _layout import destination_path, destinations_of
from _release import release_candidates


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
    import datetime
    import time

    now = time.time() if now is None else now
    retention = config.get("retention")
    problems, scans, more = [], [], False
    if retention:
        for item in release_candidates(config, now, problems, settle=False):
            if len(scans) >= retention["max_release"]:
                more = True
                break
            route = config["routes"][item["route"]]
            shipped = datetime.datetime.fromisoformat(item["shipped_at"]).timestamp() if item["shipped_at"] else now
            places = [
                {"collection": place["collection"], "path": destination_path(place, item["experiment"], item["scan"])}
                for place in destinations_of(route)
            ]
            scans.append(
                {
                    "experiment": item["experiment"],
                    "scan": item["scan"],
                    "shipped_at": item["shipped_at"],
                    "reason": f"shipped {_age(now - shipped)} ago; release_after is {_age(retention['release_after'])}",
                    "destinations": places,
                }
            )
    return {"retention": retention or None, "scans": scans, "more": more, "problems": problems}
