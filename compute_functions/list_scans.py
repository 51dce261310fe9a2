"""Compute function: every scan with its state, for ``palxfel-globus scans list``.

Runs on the DAQ host (directly from the CLI) or on the DAQ endpoint. Unlike the tick, it
sizes every scan that is not shipped, so it reads the whole tree; shipped scans are sized
from their records. Records whose data is gone from disk are listed too (``on_disk``
false): a data manager auditing the backup still wants them.
"""

from _layout import (
    DaqError,
    ScanError,
    add_problem,
    destination_path,
    destinations_of,
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
from _ledger import TEMP_PREFIX, claim_index, current_claim, iso_time, ledger_path, plain_names, read_record
from _recovery import completion_time, recovery_point, wait_seconds
from _release import archive_summary, archived_records, read_released, released_names, trash_path
from _scrub import scrubbed_names, with_scrubbed


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


RECORDED_STATES = ("shipped", "released", "releasing", "restored", "failed", "quarantined", "blocked")


def _state(record, lease, complete):
    if lease is not None and lease["active"]:
        return "claimed"
    if record is not None and record.get("state") in RECORDED_STATES:
        return record["state"]
    return "pending" if complete else "incomplete"


def _destinations(destinations, record, experiment, scan, state):
    """Each of the route's ``destinations`` with the scan's state there: what the ledger recorded of it
    (verified, failed), "not shipped" where it recorded nothing; a scan shipped before the ledger kept
    destinations counts as verified at each."""
    recorded = {(place.get("collection"), place.get("path")): place for place in record.get("destinations") or []}
    places = []
    for destination in destinations:
        path = destination_path(destination, experiment, scan)
        known = recorded.get((destination["collection"], path)) or {}
        if not known and not recorded and state in ("shipped", "released"):
            known = {"state": "verified"}
        places.append(
            {
                "collection": destination["collection"],
                "path": path,
                "state": known.get("state") or "not shipped",
                "verified_at": known.get("verified_at"),
                "problem": known.get("problem"),
            }
        )
    return places


def _ledger_experiments(ledger):
    """Experiments the ledger has records of (some may be gone from the DAQ)."""
    import os

    names = set(plain_names(os.path.join(ledger, "scans"))) | set(plain_names(os.path.join(ledger, "released")))
    names.update(
        name[: -len(".json")] for name in plain_names(os.path.join(ledger, "archive")) if name.endswith(".json")
    )
    return [name for name in names if parse_experiment_name(name)]


def list_scans(config, now=None, archived=False, days=7):
    """Returns {scans: [{experiment, kind, scan, state, reason, files, bytes, on_disk, destination,
    destinations: [{collection, path, state, verified_at, problem}], completed_at, wait_seconds, ...}],
    archived: [{experiment, count, bytes}], recovery, problems}; ``reason`` says why a blocked scan cannot ship,
    or a failed one's last error; ``recovery`` is the recovery point over the last ``days`` days (see _recovery).
    Released scans are rows while recent; older ones are compacted in the ledger and only counted in
    ``archived``, unless ``archived`` asks for their rows too (a read of every one of them)."""
    import functools
    import os
    import time

    now = time.time() if now is None else now
    root = real_root(config["daq_root"])
    ledger = config["ledger"]
    problems = []
    rows = []
    experiments = {exp["experiment"]: exp for exp in list_experiments(root, problems)}
    for name in _ledger_experiments(ledger):
        experiments.setdefault(name, parse_experiment_name(name))
    compacted = []
    for name in sorted(experiments, key=lambda exp: (experiments[exp]["date"], exp)):
        try:
            on_disk_scans, raw_names = (
                list_scans_of(root, name, problems) if os.path.isdir(os.path.join(root, name)) else ([], set())
            )
        except DaqError as exc:  # its rawData leads outside the root: its ledger rows are still listed
            add_problem(problems, f"The experiment {name}'s scans on disk are not listed: {exc}")
            on_disk_scans, raw_names = [], set()
        recorded = _ledger_scan_names(ledger, name, problems)
        released = [item[: -len(".json")] for item in plain_names(ledger_path(ledger, "released", name))]
        ever_released = released_names(ledger, name) if set(on_disk_scans) - set(recorded) else set()
        claims = claim_index(ledger, name)
        scrubbed = scrubbed_names(ledger, name)  # one listing, not a read per row of a scan the scrub never saw
        route = route_for(name, config["routes"])
        row_of = functools.partial(
            _row,
            config,
            root,
            experiments[name],
            route,
            destinations_of(route) if route else [],
            now,
            problems,
            scrubbed,
        )
        on_disk = set(on_disk_scans)
        summary = archive_summary(ledger, name)
        if summary.get("count"):
            compacted.append({"experiment": name, "count": summary["count"], "bytes": summary.get("bytes")})
        for scan in on_disk_scans + sorted((set(recorded) | set(released)) - on_disk):
            try:
                record, problem = read_record(ledger, name, scan)
                if record is None and not problem and scan in released:
                    record, problem = read_released(ledger, name, scan)
                if problem:
                    add_problem(problems, problem)
                if scan in on_disk and scan in ever_released and (record is None or record.get("state") == "released"):
                    record = dict(record or {}, state="restored", reason=RESTORED_UNRECORDED)
                rows.append(row_of(scan, record, claims, on_disk, raw_names))
            except (DaqError, OSError, ValueError, KeyError, TypeError) as exc:  # one odd entry: named, not fatal
                add_problem(problems, f"{name}/{scan} cannot be listed ({exc}); inspect its ledger record")
        if archived and summary.get("count"):
            rows += [row_of(record["scan"], record, {}, set(), set()) for record in archived_records(ledger, name)]
    recovery = recovery_point(rows, config["routes"], now, days)
    return {"scans": rows, "archived": compacted, "recovery": recovery, "problems": problems}


def _when(timestamp):
    """A record's time as ISO 8601; None when it has none, or one that is not a number."""
    try:
        return iso_time(float(timestamp)) if timestamp else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


RESTORED_UNRECORDED = (
    "came back on the DAQ after its release; left alone: it is neither shipped nor released again until a person "
    "runs 'palxfel-globus scans retry' (release it again) or 'scans forget' (a new scan)"
)
INTERRUPTED = "its release was cut short after its copy was moved aside for deletion; the next run finishes it"
EXPLAINED = ("blocked", "releasing", "restored")  # states whose record's ``reason`` is the row's reason


def _row(
    config, root, experiment, route, destinations, now, problems, scrubbed, scan, record, claims, on_disk, raw_names
):
    """One scan's row: its state from the record, its claim and the tree as it is now."""
    import os

    name = experiment["experiment"]
    lease = current_claim(config["ledger"], name, scan, claims.get(scan, {}), now)
    complete = scan in on_disk and has_marker(root, name, scan, raw_names, config["markers"])
    if (
        record is not None
        and record.get("state") == "shipped"
        and scan not in on_disk
        and os.path.lexists(trash_path(root, name, scan))
    ):
        record = dict(record, state="releasing", reason=INTERRUPTED)  # a crash between the rename and the record
    files = size = blocked_now = None
    if record is not None and record.get("state") in ("shipped", "released", "releasing", "restored"):
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
    if scan in scrubbed:
        record = with_scrubbed(config["ledger"], record, name, scan)  # each copy as the scrub last read it
    if blocked_now and state in ("pending", "failed", "blocked"):
        # the reason as the tree shows it now (the next tick records the same)
        state, record = "blocked", dict(record or {}, reason=blocked_now)
    elif blocked_now:
        add_problem(problems, f"{name}/{scan}: {blocked_now}")
    if state == "pending" and config["routes"] and route is None:
        state = "unrouted"
    record = record or {}
    completed = record.get("completed_at")
    if not completed and complete:  # recorded before the ledger kept it, or not recorded yet: its marker says
        completed = completion_time(config, root, name, scan)
        completed = None if completed is None else iso_time(completed)
    primary = destinations[0] if destinations else None
    return {
        "experiment": name,
        "kind": experiment["kind"],
        "scan": scan,
        "state": state,
        "files": files,
        "bytes": size,
        "on_disk": scan in on_disk,
        "destination": primary and {"collection": primary["collection"], "path": destination_path(primary, name, scan)},
        "destinations": _destinations(destinations, record, name, scan, state),
        "attempts": record.get("attempts", 0),
        "retry_after": _when(record.get("retry_after")),
        "reason": record.get("reason") if state in EXPLAINED else record.get("last_error"),
        "blocked_kind": record.get("blocked_kind") if state == "blocked" else None,
        "last_error": record.get("last_error"),
        "claimed_by": lease["run_id"] if state == "claimed" else None,
        "shipped_at": record.get("shipped_at"),
        "released_at": record.get("released_at"),
        "completed_at": completed,
        "wait_seconds": wait_seconds(completed, record.get("shipped_at")),
    }
