"""Compute function: list complete, not yet shipped scans and claim them for this run.

The flow's first action, on the DAQ endpoint. Cost grows with the scans that are new, not
with the archive: shipped scans are known from one readdir of the shipped index per
experiment, completion is a marker look-up, and only the scans it returns are walked
(to size them), unless quiet-period completion is configured.
"""

from _layout import (
    RAW_DATA,
    ScanError,
    add_problem,
    confined,
    destination_path,
    has_marker,
    list_experiments,
    list_scans_of,
    manifest_destination_path,
    real_root,
    route_for,
    scan_files,
    scan_is_quiet,
    to_collection_path,
    transfer_label,
)
from _ledger import (
    acquire_claim,
    claim_index,
    current_claim,
    iso_time,
    manifest_path,
    mark_shipped_index,
    read_record,
    release_claim,
    shipped_names,
)


def _eligible(record, now):
    """Whether a scan's ledger record lets it ship now (None = never tried)."""
    if record is None:
        return True
    state = record.get("state")
    if state == "failed":
        return float(record.get("retry_after", 0)) <= now
    return state == "pending"


def _groups(claimed, routes):
    """One group per route: the one Transfer task (DATA: a recursive item per scan and its manifest)
    and the verification tasks for that destination, so the flow's action count depends on the
    routes, never on the number of scans."""
    groups = []
    for index, route in enumerate(routes):
        members = [item for item in claimed if item["route"] == index]
        if not members:
            continue
        data = []
        for item in members:
            data.append(
                {"source_path": item["source_path"], "destination_path": item["destination_path"], "recursive": True}
            )
            if item["manifest_source_path"]:
                data.append(
                    {
                        "source_path": item["manifest_source_path"],
                        "destination_path": item["manifest_destination_path"],
                        "recursive": False,
                    }
                )
        verify_root = route.get("verify_root")
        groups.append(
            {
                "route": index,
                "destination_collection": route["collection"],
                "verify_endpoint": route.get("compute_endpoint"),
                "label": transfer_label(len(members), members[0]["scan"], members[-1]["scan"]),
                "DATA": data,
                "scans": [{"experiment": item["experiment"], "scan": item["scan"]} for item in members],
                "verify_kwargs": [
                    {
                        "root": verify_root,
                        "scan_path": "{}/{}/{}".format(item["experiment"], RAW_DATA, item["scan"]),
                        "manifest_path": "{}/{}/{}.manifest.json".format(item["experiment"], RAW_DATA, item["scan"]),
                    }
                    for item in members
                ]
                if verify_root
                else [],
            }
        )
    return groups


def find_completed_scans(config, run_id, now=None):
    """Claim up to ``max_scans`` / ``max_bytes`` of complete scans, oldest first.

    Returns {run_id, scans: [{experiment, kind, scan, route, source_path, destination_collection,
    destination_path, manifest_source_path, manifest_destination_path, files, bytes, claim_gen,
    lease_expires}], groups (see ``_groups``), count, bytes, more, unrouted, problems}. A single
    scan larger than ``max_bytes`` still ships, alone, so that no scan waits forever. The
    manifest ships beside the scan only when the ledger is inside the DAQ collection.
    """
    import os
    import time

    now = time.time() if now is None else now
    root = real_root(config["daq_root"])
    ledger = config["ledger"]
    ledger_in_root = os.path.realpath(ledger).startswith(root.rstrip(os.sep) + os.sep)
    markers = config["markers"]
    quiet = config.get("quiet_seconds", 0)
    max_scans = config["max_scans"]
    max_bytes = config["max_bytes"]
    claimed, problems, unrouted = [], [], []
    total_bytes = 0
    more = False
    for experiment in list_experiments(root, problems):
        name = experiment["experiment"]
        scans, raw_names = list_scans_of(root, name, problems)
        if not scans:
            continue
        shipped = shipped_names(ledger, name)
        claims = claim_index(ledger, name)
        route = route_for(name, config["routes"])
        for scan in scans:
            if scan in shipped:
                continue
            marked = has_marker(root, name, scan, raw_names, markers)
            if not marked and not quiet:
                continue
            record, problem = read_record(ledger, name, scan)
            if problem:
                add_problem(problems, problem)
                continue
            if record is not None and record.get("state") == "shipped":
                mark_shipped_index(ledger, name, scan)
                continue
            if not _eligible(record, now):
                continue
            lease = current_claim(ledger, name, scan, claims.get(scan, {}), now)
            if lease is not None and lease["active"]:
                continue
            if route is None:
                unrouted.append(f"{name}/{scan}")
                continue
            if len(claimed) >= max_scans:
                more = True
                break
            try:
                files = scan_files(root, name, scan)
                if not marked and not scan_is_quiet(root, name, scan, files, now, quiet):
                    continue
            except ScanError as exc:
                add_problem(problems, str(exc))
                continue
            size = sum(entry[2] for entry in files)
            if claimed and total_bytes + size > max_bytes:
                more = True
                break
            gen = acquire_claim(ledger, name, scan, run_id, now, config["lease_seconds"], claims.get(scan, {}))
            if gen is None:
                continue
            record, _problem = read_record(ledger, name, scan)
            if not _eligible(record, now):
                release_claim(ledger, name, scan, run_id, now)
                continue
            total_bytes += size
            claimed.append(
                {
                    "experiment": name,
                    "kind": experiment["kind"],
                    "scan": scan,
                    "route": config["routes"].index(route),
                    "source_path": to_collection_path(
                        root, config["collection_root"], confined(root, name, "rawData", scan)
                    )
                    + "/",
                    "destination_collection": route["collection"],
                    "destination_path": destination_path(route, name, scan),
                    "manifest_source_path": (
                        to_collection_path(
                            root, config["collection_root"], os.path.realpath(manifest_path(ledger, name, scan))
                        )
                        if ledger_in_root
                        else None
                    ),
                    "manifest_destination_path": manifest_destination_path(route, name, scan),
                    "files": len(files),
                    "bytes": size,
                    "claim_gen": gen,
                    "lease_expires": iso_time(now + config["lease_seconds"]),
                }
            )
        if more:
            break
    return {
        "run_id": run_id,
        "scans": claimed,
        "groups": _groups(claimed, config["routes"]),
        "count": len(claimed),
        "bytes": total_bytes,
        "more": more,
        "unrouted": unrouted[:50],
        "problems": problems,
    }
