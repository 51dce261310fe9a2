"""Compute function: write each scan's outcome to the ledger and give back the claims.

The flow's last action, on the DAQ endpoint. A scan becomes ``shipped`` only when the copy
at its destination is shown to hold the bytes of the very manifest the ledger holds: a
verify_scan result against that manifest (same digest), or a checksum-sync Transfer that
found nothing to move *and* a fresh read of the DAQ copy that still matches the manifest
(the Transfer compares source with destination, not with the manifest: a file rewritten
after its manifest would otherwise ship unnoticed). A scan that cannot ship as it is
becomes ``blocked``; anything else is a failed attempt with back-off, and ``quarantined``
after ``max_attempts``.
"""

from _checksums import checked_algorithm, compare_with_manifest, default_workers, describe_differences
from _layout import RAW_DATA, DaqError, ScanError, checked_scan, join_collection_path, real_root, scan_files, tick_notes
from _ledger import (
    bump_generation,
    claim_index,
    clear_claims,
    current_claim,
    iso_time,
    mark_shipped_index,
    mark_told,
    news_of,
    queue_for_catalog,
    read_manifest,
    read_record,
    release_claim,
    release_run_claims,
    unmark_shipped_index,
    write_record,
)
from _release import compact_released, queue_for_release, release_copy, unqueue_release

MAX_BACKOFF_SECONDS = 24 * 3600


TRANSFER_CHECK = "checksum-sync transfer"


def _is_verified(verification, ledger_digest):
    """A verify_scan result against the ledger's own manifest, or a checksum-sync Transfer that
    found nothing to move (Globus compared both ends) for a scan the ledger has a manifest of."""
    if not isinstance(verification, dict) or verification.get("ok") is not True or ledger_digest is None:
        return False
    return verification.get("method") == TRANSFER_CHECK or verification.get("manifest_digest") == ledger_digest


MAX_ERROR_CHARS = 2000  # a run's error goes into every scan's ledger record and the run's summary


def _transfer_problem(transfer):
    fatal = transfer.get("fatal_error") or {}
    reason = fatal.get("description") or fatal.get("code") or "no details given"
    task = f"the Transfer task {transfer['task_id']}" if transfer.get("task_id") else "the Transfer action"
    return f"{task} ended {transfer.get('status')}: {reason}"


def outcomes_from_run(found, groups_done, error=None, manifest_problems=None):
    """Per-scan outcomes from what the flow gathered: the scans whose manifest could not be made
    (their own outcome, whatever happened to the rest), then each scan's result at each of its
    destinations, from the group of that destination: its Transfer task and its verification (Compute
    results from verify_scan, or a checksum-sync Transfer). A scan due for release is marked so."""
    outcomes = []
    unhashed = set()
    for problem in manifest_problems or []:
        unhashed.add((problem.get("experiment"), problem.get("scan")))
        outcomes.append(
            {
                "experiment": problem.get("experiment"),
                "scan": problem.get("scan"),
                "error": problem.get("error") or "its manifest could not be made",
                "blocked": problem.get("blocked") is True,
            }
        )
    by_scan = {}
    groups = found.get("groups", []) if isinstance(found, dict) else []
    for index, group in enumerate(groups):
        done = groups_done[index] if error is None and index < len(groups_done or []) else None
        transfer = (done or {}).get("transfer") or {}
        verify = (done or {}).get("verify") or {}
        results = {}
        if done is None:
            problem = error or "the run ended before this scan's transfer"
        elif transfer.get("status") not in ("SUCCEEDED", "NOT_NEEDED"):
            problem = _transfer_problem(transfer)
        elif verify.get("status") != "SUCCEEDED":
            problem = f"the verification ended {verify.get('status')}: {verify.get('problem') or 'no details'}"
        elif group.get("verify_endpoint"):
            problem = None
            results = {(item.get("experiment"), item.get("scan")): item for item in verify.get("result") or []}
        else:
            moved = verify.get("files_transferred")
            check = {
                "ok": moved == 0,
                "method": TRANSFER_CHECK,
                "task_id": verify.get("task_id"),
                "summary": f"the checksum-sync Transfer had to move {moved} file(s)",
            }
            results = {(scan["experiment"], scan["scan"]): check for scan in group["scans"]}
            problem = None
        for scan in group["scans"]:
            key = (scan["experiment"], scan["scan"])
            if key in unhashed:
                continue
            if key not in by_scan:
                by_scan[key] = {
                    "experiment": key[0],
                    "scan": key[1],
                    "task_id": transfer.get("task_id"),
                    "destinations": [],
                }
                if group.get("release"):
                    by_scan[key]["release"] = True
                outcomes.append(by_scan[key])
            place = {
                "collection": group.get("destination_collection"),
                "path": join_collection_path(group.get("base_path") or "/", key[0], RAW_DATA, key[1]) + "/",
                "task_id": transfer.get("task_id"),
            }
            verification = results.get(key)
            if problem is None and verification is not None:
                place["verification"] = verification
            else:
                place["error"] = problem or "no verification result came back for this scan"
            by_scan[key]["destinations"].append(place)
    return outcomes


def _source_problem(config, experiment, scan, manifest):
    """Why the DAQ copy no longer matches its manifest, or None: the second half of a Transfer-verified
    ship (the Transfer showed destination == source; this shows source == manifest, afterwards)."""
    try:
        files = scan_files(real_root(config["daq_root"]), experiment, scan)
        result = compare_with_manifest(manifest, files, checked_algorithm(manifest["algorithm"]), default_workers())
    except ScanError as exc:
        return f"the DAQ copy cannot be read again after the transfer: {exc}"
    except OSError as exc:
        return f"the DAQ copy cannot be read again after the transfer: {exc.strerror or exc}"
    if result["ok"]:
        return None
    differences = describe_differences(result)
    return f"the DAQ copy changed after its manifest was written ({differences}); the next attempt ships it again"


def _places(outcome):
    """An outcome's results per destination; an outcome given in the one-destination form is one."""
    if isinstance(outcome.get("destinations"), list) and outcome["destinations"]:
        return outcome["destinations"]
    return [{"verification": outcome.get("verification"), "error": None}]


def _place_problem(place, ledger_digest):
    """Why the copy at one destination is not shown to hold the ledger's manifest, or None."""
    verification = place.get("verification")
    if place.get("error"):
        return str(place["error"])
    if _is_verified(verification, ledger_digest):
        return None
    if ledger_digest is None:
        return "no manifest in the ledger for this scan"
    if not isinstance(verification, dict):
        return "no verification result"
    if verification.get("ok") is not True:
        return f"verification failed: {verification.get('summary') or 'files differ'}"
    return "verified against a different manifest than the ledger's"


def _checked_places(places, ledger_digest, now):
    """(the first destination's problem as a sentence or None, each destination's state for the record)."""
    first, states = None, []
    for place in places:
        problem = _place_problem(place, ledger_digest)
        verification = place.get("verification") if isinstance(place.get("verification"), dict) else {}
        if problem is not None and first is None:
            first = f"at {place['collection']}: {problem}" if len(places) > 1 and place.get("collection") else problem
        if place.get("collection"):
            states.append(
                {
                    "collection": place["collection"],
                    "path": place.get("path"),
                    "state": "failed" if problem else "verified",
                    "verified_at": None if problem else iso_time(now),
                    "method": verification.get("method") or ("verify_scan" if verification else None),
                    "problem": problem,
                }
            )
    return first, states


def record_outcome(
    config,
    run_id,
    outcomes=None,
    found=None,
    groups_done=None,
    error=None,
    manifest_problems=None,
    now=None,
    told=None,
):
    """Record one run's result for every scan it claimed.

    Either ``outcomes`` ([{experiment, scan, verification?, error?, blocked?, task_id?}]), or what
    the flow gathered: ``found`` (find_completed_scans' result) with ``groups_done`` (per group
    {transfer, verify}) or an ``error`` that stopped the run, and ``manifest_problems`` (the scans
    build_manifest could not hash). With only an ``error`` (the run's discovery itself failed), every
    claim the run still holds is given back. Returns {ok, shipped: [id], failed: [{scan, attempts,
    retry_after, reason}], quarantined: [{scan, attempts, reason}], blocked: [{scan, reason}],
    skipped: [{scan, reason}], news: [{scan, state, since, reason, command}] (scans this run blocked or
    quarantined), summary}. With ``told`` (news items a person was just e-mailed) it only notes that
    they were told, so each state is told once, and returns {told: count}.
    """
    import time

    now = time.time() if now is None else now
    ledger = config["ledger"]
    if told is not None:
        return {"told": mark_told(ledger, told)}
    if error is not None:  # the flow's own words for a failure, of whatever shape and size it came in
        error = str(error)
        error = error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"
    if outcomes is None and found is None and error is not None:
        released = release_run_claims(ledger, run_id, now)
        summary = f"{len(released)} claim{'' if len(released) == 1 else 's'} given back; {error}"
        nothing = {key: [] for key in ("shipped", "failed", "quarantined", "blocked", "skipped", "news")}
        return dict(nothing, ok=False, released=released, summary=summary)
    if outcomes is None and found is not None:
        outcomes = outcomes_from_run(found, groups_done, error, manifest_problems)
    if not isinstance(outcomes, list):
        raise DaqError("record_outcome needs a list of outcomes, or found with groups_done or error.")
    shipped, failed, quarantined, blocked, skipped, news, released, again = [], [], [], [], [], [], [], []
    for outcome in outcomes:
        try:
            experiment, scan = checked_scan(outcome.get("experiment"), outcome.get("scan"))
        except DaqError as exc:
            skipped.append({"scan": str(outcome.get("scan")), "reason": str(exc)})
            continue
        scan_id = f"{experiment}/{scan}"
        record, problem = read_record(ledger, experiment, scan)
        if problem:
            skipped.append({"scan": scan_id, "reason": problem})
            continue
        record = record or {"experiment": experiment, "scan": scan, "attempts": 0}
        manifest, ledger_digest = read_manifest(ledger, experiment, scan)
        places = _places(outcome)
        problem, destinations = _checked_places(places, ledger_digest, now)
        problem = str(outcome["error"]) if outcome.get("error") else problem
        changed = None
        by_transfer = any((place.get("verification") or {}).get("method") == TRANSFER_CHECK for place in places)
        if outcome.get("release") or (problem is None and by_transfer):  # a change on the DAQ explains all else
            changed = _source_problem(config, experiment, scan, manifest) if manifest is not None else None
        if outcome.get("release"):
            damaged = changed is None and problem is not None
            result, reason = _record_release(config, run_id, record, changed or problem, destinations, now, damaged)
            if result == "released":
                released.append(scan_id)
            elif result == "kept":
                skipped.append({"scan": scan_id, "reason": reason})
            else:
                again.append({"scan": scan_id, "reason": reason})
                news.append(news_of(record, scan_id))
            continue
        if problem is None and changed is None:
            if record.get("state") != "shipped" or record.get("manifest_digest") != ledger_digest:
                record.update(
                    state="shipped",
                    run_id=run_id,
                    task_id=outcome.get("task_id"),
                    files=manifest["file_count"],
                    bytes=manifest["bytes"],
                    manifest_digest=ledger_digest,
                    algorithm=manifest.get("algorithm"),
                    shipped_at=iso_time(now),
                    updated_at=iso_time(now),
                    last_error=None,
                    retry_after=None,
                    **({"destinations": destinations} if destinations else {}),
                )
                write_record(ledger, record)
                if config.get("catalog"):
                    queue_for_catalog(ledger, experiment, scan)
                queue_for_release(ledger, experiment, scan, now)
            mark_shipped_index(ledger, experiment, scan)
            clear_claims(ledger, experiment, scan)
            shipped.append(scan_id)
            continue
        lease = current_claim(ledger, experiment, scan, claim_index(ledger, experiment).get(scan, {}), now)
        if record.get("state") == "shipped" or (lease is not None and lease["active"] and lease["run_id"] != run_id):
            skipped.append({"scan": scan_id, "reason": "another run holds or has finished this scan"})
            continue
        reason = problem or changed
        if destinations:
            record["destinations"] = destinations
        if outcome.get("blocked"):
            since = record.get("blocked_at") if record.get("state") == "blocked" else iso_time(now)
            record.update(state="blocked", reason=reason, run_id=run_id, blocked_at=since, updated_at=iso_time(now))
            write_record(ledger, record)
            release_claim(ledger, experiment, scan, run_id, now)
            blocked.append({"scan": scan_id, "reason": reason})
            news.append(news_of(record, scan_id))
            continue
        attempts = int(record.get("attempts") or 0) + 1
        record.update(
            attempts=attempts,
            run_id=run_id,
            task_id=outcome.get("task_id"),
            last_error=reason,
            updated_at=iso_time(now),
        )
        if attempts >= config["max_attempts"]:
            record.update(state="quarantined", retry_after=None, quarantined_at=iso_time(now))
            quarantined.append({"scan": scan_id, "attempts": attempts, "reason": reason})
            news.append(news_of(record, scan_id))
        else:
            delay = min(MAX_BACKOFF_SECONDS, config["backoff_seconds"] * 2 ** (attempts - 1))
            record.update(state="failed", retry_after=now + delay)
            failed.append(
                {"scan": scan_id, "attempts": attempts, "retry_after": iso_time(now + delay), "reason": reason}
            )
        write_record(ledger, record)
        release_claim(ledger, experiment, scan, run_id, now)
    if released:
        compact_released(ledger)
    found = found if isinstance(found, dict) else {}
    return {
        "ok": not (failed or quarantined or skipped or again),
        "shipped": shipped,
        "released": released,
        "shipping_again": again,
        "failed": failed,
        "quarantined": quarantined,
        "blocked": blocked,
        "skipped": skipped,
        "news": [item for item in news if item is not None],
        "summary": _summary(shipped, released, again, failed, quarantined, skipped)
        + tick_notes(
            blocked + (found.get("blocked") or []), _repairs(found, groups_done) + (found.get("problems") or [])
        ),
    }


def _record_release(config, run_id, record, problem, destinations, now, damaged):
    """A scan due for release, after its re-verification: its DAQ copy removed (state ``released``)
    when every destination verified and the DAQ copy still matches its manifest; else shipped again:
    pending, out of the shipped index (a damaged copy is then repaired by the next run's checksum-sync
    Transfer), and, when a copy is ``damaged`` (a destination failed while the DAQ copy matches), news
    for a person (``record`` is updated for it). Returns ("released", None), ("kept", why the DAQ copy
    stays as it is) or ("again", why it ships again)."""
    ledger = config["ledger"]
    experiment, scan = record["experiment"], record["scan"]
    if record.get("state") != "shipped":
        release_claim(ledger, experiment, scan, run_id, now)
        return "kept", f"it is {record.get('state', 'not in the ledger')} now, not shipped; nothing was released"
    if problem is None:
        try:
            release_copy(config, record, now, destinations)
        except OSError as exc:
            release_claim(ledger, experiment, scan, run_id, now)
            return "kept", f"its DAQ copy could not be moved aside for removal ({exc.strerror or exc}); it stays"
        return "released", None
    record.update(
        state="pending", attempts=0, retry_after=None, last_error=problem, run_id=run_id, updated_at=iso_time(now)
    )
    if destinations:
        record["destinations"] = destinations
    if damaged:
        record["reverify_failed_at"] = iso_time(now)
    write_record(ledger, record)
    unmark_shipped_index(ledger, experiment, scan)
    unqueue_release(ledger, experiment, scan, record.get("shipped_at"))
    release_claim(ledger, experiment, scan, run_id, now)
    bump_generation(ledger)  # its experiment may be cached as all shipped: the next tick must look again
    return "again", problem


def _repairs(found, groups_done):
    """A checksum-sync Transfer cannot say which scan's copy it repaired: when re-verifying scans due for
    release had to move files, the run's summary says so of the destination (the copies are released once a
    round moved nothing, as when shipping)."""
    notes = []
    for group, done in zip(found.get("groups") or [], groups_done or []):
        verify = (done or {}).get("verify") or {}
        if group.get("release") and not group.get("verify_endpoint") and (verify.get("rounds") or 0) > 1:
            count = len(group["scans"])
            notes.append(
                f"re-verifying {count} scan{'' if count == 1 else 's'} at {group['destination_collection']} had to "
                "repair copies there first (check that storage)"
            )
    return notes


def _summary(shipped, released, again, failed, quarantined, skipped):
    """One sentence for the run's log and its FAILED message: what happened, and the first problem.
    Blocked scans and warnings follow it (``tick_notes``): a blocked scan alone does not fail a run."""
    parts = [f"{len(shipped)} shipped"]
    named = (
        (released, "released"),
        (again, "to ship again"),
        (failed, "failed"),
        (quarantined, "quarantined"),
        (skipped, "skipped"),
    )
    for entries, word in named:
        if entries:
            parts.append(f"{len(entries)} {word}")
    text = ", ".join(parts)
    first = (again or failed or quarantined or skipped or [None])[0]
    if first is not None:
        text += f"; {first['scan']}: {first['reason']}"
    return text
