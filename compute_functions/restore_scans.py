"""Compute function: plan a restore of scans from their backups, and finish each one.

Runs on the DAQ endpoint, where the ledger is: the restore flow's first step asks it which copies each scan has
(the healthiest first: last verified most recently, by the scrub or by its shipping), where the scan goes and
what its manifest is; its last step per scan (``finish``) says what became of it. A scan goes back to its DAQ
place by default, or under a place named (``to``), and only where nothing of it is: the plan refuses a target
that holds data, and the flow's Transfers never overwrite (sync_level exists, into a directory that did not
exist). On the DAQ the copy lands in a hidden staging directory beside the target, is read against the manifest
here, and only then renamed into place, so a scan appears whole and verified or not at all; a copy that does
not verify is discarded and the next copy is tried. Elsewhere, Transfer checks every file against the manifest
as it writes it (``copy_items``). A scan restored to its DAQ place is recorded as ``restored``, left alone by
every later run until a person runs ``scans retry`` (release it again) or ``scans forget``.
"""

from _checksums import checked_algorithm, compare_with_manifest, default_workers, describe_differences
from _layout import (
    RAW_DATA,
    DaqError,
    ScanError,
    confined,
    from_collection_path,
    is_within,
    real_root,
    split_scan_id,
    to_collection_path,
    tree_files,
)
from _ledger import (
    acquire_claim,
    claim_index,
    iso_time,
    ledger_path,
    manifest_is_frozen,
    plain_names,
    read_manifest,
    read_record,
    release_claim,
    write_record,
)
from _release import archived_records, read_released, trash_path
from _scrub import read_copies, scrub_verifier

MAX_RESTORE = 20  # scans one run restores: each carries its copies and outcome through the run state
STAGING_PREFIX = ".palxfel-restore-"
RESTORE_WAIT_SECONDS = 7 * 86400  # the flow's Transfer WaitTime: a task's deadline is the plan's time + this


def restore_scans(config, run_id, scans=None, to=None, source=None, finish=None, dry_run=False, now=None):
    """With ``scans`` (["EXPERIMENT/SCAN" or a scan name]): the plan, {scans: [item], refused: [{scan, reason}],
    transfer_deadline}; each item claims its scan (unless ``dry_run``) when it goes to its DAQ place. ``to``
    ({id, path}) names another place (each scan goes to PATH/SCAN), ``source`` the collection to take the copy
    from. With ``finish`` ({item, copied, files, attempts, refused}): what became of one scan, {scan, ok, state,
    sentence, retry, problem}: ``retry`` when the staged copy did not verify and the next copy should be tried."""
    import time

    now = time.time() if now is None else now
    if finish is not None:
        return _finish(config, run_id, finish, now)
    if not isinstance(scans, list) or not scans:
        raise DaqError("Name at least one scan to restore.")
    if len(scans) > MAX_RESTORE:
        raise DaqError(
            f"{len(scans)} scans is more than the {MAX_RESTORE} one restore run takes; restore them in parts."
        )
    items, refused = [], []
    for scan_id in scans:
        try:
            items.append(_plan_one(config, run_id, str(scan_id), to, source, dry_run, now))
        except DaqError as exc:
            refused.append({"scan": str(scan_id), "reason": str(exc)})
    return {"scans": items, "refused": refused, "transfer_deadline": iso_time(now + RESTORE_WAIT_SECONDS)}


def _find_scan(ledger, scan_id):
    """(experiment, scan) for EXPERIMENT/SCAN, or for a scan name whose manifest one experiment holds."""
    import os

    experiment, scan = split_scan_id(scan_id)
    if experiment is not None:
        return experiment, scan
    owners = [
        name
        for name in plain_names(os.path.join(ledger, "manifests"))
        if os.path.exists(ledger_path(ledger, "manifests", name, scan + ".json"))
    ]
    if not owners:
        raise DaqError("the ledger holds no manifest of a scan so named (it never shipped).")
    if len(owners) > 1:
        raise DaqError(f"several experiments have a scan so named ({', '.join(owners)}); give EXPERIMENT/SCAN.")
    return owners[0], scan


def _known_record(ledger, experiment, scan):
    """The scan's record: the live one, else its released record (recent or compacted), else None."""
    record, problem = read_record(ledger, experiment, scan)
    if problem:
        raise DaqError(problem)
    if record is None:
        record, _problem = read_released(ledger, experiment, scan)
    if record is None:
        record = next((item for item in archived_records(ledger, experiment) if item.get("scan") == scan), None)
    return record


def _copies_of(config, record, experiment, scan, source):
    """The scan's copies, healthiest first: verified, most recently verified first; a copy that last failed its
    check comes last (it is checked again before it is used, like every other)."""
    entry, _problem = read_copies(config["ledger"], experiment, scan)
    places = (entry or {}).get("places") or [
        place for place in (record or {}).get("destinations") or [] if isinstance(place, dict)
    ]
    places = [place for place in places if place.get("collection") and place.get("path")]
    if source is not None:
        chosen = [place for place in places if place["collection"] == source]
        if not chosen:
            held = ", ".join(place["collection"] for place in places) or "none"
            raise DaqError(f"it has no copy at {source} (its copies: {held}).")
        places = chosen
    if not places:
        raise DaqError("the ledger knows no copy of it.")
    places.sort(key=lambda place: str(place.get("verified_at") or ""), reverse=True)
    places.sort(key=lambda place: place.get("state") == "failed")
    return places


def _target(config, experiment, scan, to):
    """(target {collection, path, where}, staging parent on the DAQ or None, the DAQ path it takes, its DAQ
    place?) for a scan going to its DAQ place or to ``to``; refuses a place that holds data."""
    import os

    root = real_root(config["daq_root"])
    daq = config["collection"]
    if to is None:
        path = confined(root, experiment, RAW_DATA, scan)
        if os.path.lexists(trash_path(root, experiment, scan)):
            raise DaqError(
                f"{experiment}/{scan}: its release is not finished (the next run finishes it); restore after."
            )
        where = "its DAQ place"
    elif to.get("id") == daq:
        base = from_collection_path(root, config["collection_root"], str(to.get("path")))
        path = os.path.join(base, scan)
        if not is_within(root, os.path.dirname(path)):
            raise DaqError(f"{to.get('path')} leads outside the DAQ root through a link; name another place.")
        where = f"the DAQ at {to_collection_path(root, config['collection_root'], path)}"
    else:
        target = str(to.get("path")).rstrip("/") + "/" + scan + "/"
        return {"collection": to.get("id"), "path": target, "where": f"{to.get('id')}:{target}"}, None, None, False
    if os.path.lexists(path):
        raise DaqError(f"{where} ({path}) holds data already; nothing is overwritten.")
    collection_path = to_collection_path(root, config["collection_root"], path) + "/"
    return {"collection": daq, "path": collection_path, "where": where}, os.path.dirname(path), path, to is None


def _plan_one(config, run_id, scan_id, to, source, dry_run, now):
    import hashlib
    import os

    ledger = config["ledger"]
    experiment, scan = _find_scan(ledger, scan_id)
    record = _known_record(ledger, experiment, scan)
    manifest, digest = read_manifest(ledger, experiment, scan)
    if manifest is None:
        raise DaqError("the ledger holds no manifest of it (it never shipped).")
    if not manifest_is_frozen(record):
        raise DaqError("none of its copies was ever verified; there is nothing to restore.")
    places = _copies_of(config, record, experiment, scan, source)
    target, parent, daq_path, home = _target(config, experiment, scan, to)
    root = real_root(config["daq_root"])
    key = hashlib.sha256(scan.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    candidates = []
    for index, place in enumerate(places):
        how = scrub_verifier(config, experiment, scan, place)
        landing = target["path"]
        if parent is not None:
            staging = os.path.join(parent, f"{STAGING_PREFIX}{key}-{index}")
            landing = to_collection_path(root, config["collection_root"], staging) + "/"
        candidates.append(
            {
                "collection": place["collection"],
                "path": place["path"],
                "state": place.get("state") or "verified",
                "verified_at": place.get("verified_at"),
                "verify_endpoint": how and how[0],
                "verify_root": how and how[1],
                "scan_path": f"{experiment}/{RAW_DATA}/{scan}",
                "manifest_path": f"{experiment}/{RAW_DATA}/{scan}.manifest.json",
                "landing": landing,
            }
        )
    gen = None
    if home and not dry_run:
        generations = claim_index(ledger, experiment).get(scan, {})
        gen = acquire_claim(ledger, experiment, scan, run_id, now, config["lease_seconds"], generations)
        if gen is None:
            raise DaqError("another run holds it now (shipping, releasing or reading it back); try again once it ends.")
    return {
        "experiment": experiment,
        "scan": scan,
        "scan_id": f"{experiment}/{scan}",
        "files": manifest["file_count"],
        "bytes": manifest["bytes"],
        "manifest_digest": digest,
        "state": (record or {}).get("state") or "released",
        "target": target,
        "daq_path": daq_path,
        "home": home,
        "staged": parent is not None,
        "check_target": parent is None,
        "candidates": candidates,
        "count": len(candidates),
        "claim_gen": gen,
        "label": f"palxfel-globus restore {scan}"[:128],
    }


def _finish(config, run_id, finish, now):
    import os

    item = finish["item"]
    experiment, scan = item["experiment"], item["scan"]
    copied, attempts = finish.get("copied"), list(finish.get("attempts") or [])
    root = real_root(config["daq_root"])
    outcome = {"scan": item["scan_id"], "ok": False, "state": "failed", "retry": False, "problem": None}
    if copied is not None and item["staged"]:
        staging = from_collection_path(root, config["collection_root"], copied["landing"].rstrip("/"))
        problem = _staged_problem(config, root, experiment, scan, staging)
        if problem is not None:  # Transfer said every file matched; this read says otherwise: the next copy
            _discard(root, staging)
            return dict(outcome, retry=True, problem=f"what arrived from {copied['collection']}: {problem}")
    try:
        if copied is not None and item["staged"] and os.path.lexists(item["daq_path"]):
            problem = f"something appeared at {item['daq_path']} meanwhile; nothing was overwritten"
            attempts.append({"collection": copied["collection"], "problem": problem})
        elif copied is not None and item["staged"]:
            os.makedirs(os.path.dirname(item["daq_path"]), exist_ok=True)
            os.rename(staging, item["daq_path"])
            if item["home"]:
                _record_restored(config, run_id, item, copied, now)
            return dict(outcome, ok=True, state="restored", sentence=_said(item, copied, attempts))
        elif copied is not None:
            return dict(outcome, ok=True, state="copied", sentence=_said(item, copied, attempts))
        return dict(outcome, sentence=_failed(item, finish, attempts))
    finally:
        _discard_staging(config, root, item)
        if item.get("claim_gen") is not None:
            release_claim(config["ledger"], experiment, scan, run_id, now)


def _staged_problem(config, root, experiment, scan, staging):
    """Why the staged copy is not the scan's manifest, or None: every file read here against it."""
    manifest, _digest = read_manifest(config["ledger"], experiment, scan)
    try:
        files = tree_files(root, staging)
        result = compare_with_manifest(manifest, files, checked_algorithm(manifest["algorithm"]), default_workers())
    except (ScanError, OSError) as exc:
        return f"what arrived cannot be read ({getattr(exc, 'strerror', None) or exc})"
    return None if result["ok"] else f"what arrived differs from its manifest ({describe_differences(result)})"


def _discard(root, staging):
    """Remove one of our staging directories (never through a link)."""
    import os
    import shutil

    if os.path.islink(staging) or not os.path.realpath(staging).startswith(root.rstrip(os.sep) + os.sep):
        return
    shutil.rmtree(staging, ignore_errors=True)


def _discard_staging(config, root, item):
    """Every staging directory of this scan's attempts that is left (a failed copy, an earlier crash)."""
    if not item.get("staged"):
        return
    for candidate in item["candidates"]:
        _discard(root, from_collection_path(root, config["collection_root"], candidate["landing"].rstrip("/")))


def _said(item, copied, attempts):
    """What became of a restored scan, naming each copy that did not verify (a person must look at its storage)."""
    files, where = item["files"], item["target"]["where"]
    if item["staged"]:
        text = f"restored to {where} from {copied['collection']}: its {files} files match its manifest"
        if item["home"]:
            text += "; it is left alone as restored ('palxfel-globus scans retry' releases it again)"
    else:
        text = f"copied to {where} from {copied['collection']}: Transfer checked each of its {files} files"
    for attempt in attempts:
        text += f"; the copy at {attempt.get('collection')} did not verify ({attempt.get('problem')}): check it"
    return text


def _failed(item, finish, attempts):
    if finish.get("refused"):
        return f"not restored: {finish['refused']}"
    tried = "; ".join(f"{attempt.get('collection')}: {attempt.get('problem')}" for attempt in attempts)
    text = f"not restored: no copy verified against its manifest ({tried or 'no copy was tried'})"
    if finish.get("written") and not item["staged"]:
        text += (
            f"; files were written to {item['target']['where']} before the check failed: remove them, then restore "
            "again with --from another copy"
        )
    else:
        text += f"; nothing was written to {item['target']['where']}"
    return text


def _record_restored(config, run_id, item, copied, now):
    """The scan is back at its DAQ place, verified: restored, left alone by every later run."""
    ledger, experiment, scan = config["ledger"], item["experiment"], item["scan"]
    record = _known_record(ledger, experiment, scan) or {"experiment": experiment, "scan": scan}
    for key in ("blocked_kind", "blocked_at", "blocked_from", "told"):
        record.pop(key, None)
    record.update(
        experiment=experiment,
        scan=scan,
        state="restored",
        restored_at=iso_time(now),
        restored_from=copied["collection"],
        run_id=run_id,
        updated_at=iso_time(now),
        reason=(
            f"restored by run {run_id} from {copied['collection']}, its {item['files']} files verified against its "
            "manifest; left alone: it is neither shipped nor released again until a person runs 'palxfel-globus "
            "scans retry' (release it again) or 'scans forget' (a new scan)"
        ),
    )
    write_record(ledger, record)
