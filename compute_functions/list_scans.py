"""Compute function: every scan with its state, for ``palxfel-globus scans list``.

Runs on the DAQ host (directly from the CLI) or on the DAQ endpoint. Unlike the tick, it
sizes every scan that is not shipped, so it reads the whole tree; shipped scans are sized
from their records. Records whose data is gone from disk are listed too (``on_disk``
false): a data manager auditing the backup still wants them.
"""

from _layout import (
    ScanError,
    add_problem,
    destination_path,
    has_marker,
    list_experiments,
    list_scans_of,
    parse_experiment_name,
    parse_scan_name,
    real_root,
    route_for,
    scan_files,
    scan_is_quiet,
)
from _ledger import TEMP_PREFIX, claim_index, current_claim, iso_time, ledger_path, read_record


def _ledger_scan_names(ledger, experiment, problems):
    """Scans with a record, reporting files in the ledger that are not ours."""
    import os

    try:
        names = sorted(os.listdir(ledger_path(ledger, "scans", experiment)))
    except FileNotFoundError:
        return []
    scans = []
    for name in names:
        if name.startswith(TEMP_PREFIX):
            continue
        if name.endswith(".json") and parse_scan_name(name[: -len(".json")]):
            scans.append(name[: -len(".json")])
        else:
            add_problem(
                problems,
                "{} is not a ledger record; it is ignored.".format(ledger_path(ledger, "scans", experiment, name)),
            )
    return scans


def _state(record, lease, complete):
    if lease is not None and lease["active"]:
        return "claimed"
    if record is not None and record.get("state") in ("shipped", "failed", "quarantined", "blocked"):
        return record["state"]
    return "pending" if complete else "incomplete"


def list_scans(config, now=None):
    """Returns {scans: [{experiment, kind, scan, state, reason, files, bytes, on_disk, destination, ...}],
    problems}; ``reason`` says why a blocked scan cannot ship, or a failed one's last error."""
    import os
    import time

    now = time.time() if now is None else now
    root = real_root(config["daq_root"])
    ledger = config["ledger"]
    problems = []
    rows = []
    experiments = {exp["experiment"]: exp for exp in list_experiments(root, problems)}
    try:
        ledger_experiments = [
            name
            for name in os.listdir(os.path.join(ledger, "scans"))
            if parse_experiment_name(name) and name not in experiments
        ]
    except FileNotFoundError:
        ledger_experiments = []
    for name in ledger_experiments:
        experiments[name] = parse_experiment_name(name)
    for name in sorted(experiments, key=lambda exp: (experiments[exp]["date"], exp)):
        on_disk_scans, raw_names = (
            list_scans_of(root, name, problems) if os.path.isdir(os.path.join(root, name)) else ([], set())
        )
        recorded = _ledger_scan_names(ledger, name, problems)
        claims = claim_index(ledger, name)
        route = route_for(name, config["routes"])
        on_disk = set(on_disk_scans)
        for scan in on_disk_scans + sorted(set(recorded) - on_disk):
            record, problem = read_record(ledger, name, scan)
            if problem:
                add_problem(problems, problem)
            lease = current_claim(ledger, name, scan, claims.get(scan, {}), now)
            complete = scan in on_disk and has_marker(root, name, scan, raw_names, config["markers"])
            files = size = blocked_now = None
            if record is not None and record.get("state") == "shipped":
                files, size = record.get("files"), record.get("bytes")
            elif scan in on_disk:
                try:
                    found = scan_files(root, name, scan)
                    files, size = len(found), sum(entry[2] for entry in found)
                    if not complete and config.get("quiet_seconds"):
                        complete = scan_is_quiet(root, name, scan, found, now, config["quiet_seconds"])
                except ScanError as exc:
                    blocked_now = str(exc)
            state = _state(record, lease, complete)
            if blocked_now and state in ("pending", "failed", "blocked"):
                # the reason as the tree shows it now (the next tick records the same)
                state, record = "blocked", dict(record or {}, reason=blocked_now)
            elif blocked_now:
                add_problem(problems, f"{name}/{scan}: {blocked_now}")
            if state == "pending" and config["routes"] and route is None:
                state = "unrouted"
            record = record or {}
            rows.append(
                {
                    "experiment": name,
                    "kind": experiments[name]["kind"],
                    "scan": scan,
                    "state": state,
                    "files": files,
                    "bytes": size,
                    "on_disk": scan in on_disk,
                    "destination": route
                    and {"collection": route["collection"], "path": destination_path(route, name, scan)},
                    "attempts": record.get("attempts", 0),
                    "retry_after": iso_time(record["retry_after"]) if record.get("retry_after") else None,
                    "reason": record.get("reason") if state == "blocked" else record.get("last_error"),
                    "last_error": record.get("last_error"),
                    "claimed_by": lease["run_id"] if state == "claimed" else None,
                    "shipped_at": record.get("shipped_at"),
                }
            )
    return {"scans": rows, "problems": problems}
