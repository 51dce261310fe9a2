"""Compute function: write each scan's outcome to the ledger and give back the claims.

The flow's last action, on the DAQ endpoint. A scan becomes ``shipped`` only when the copy
at its destination is shown to hold the bytes of the very manifest the ledger holds: a
verify_scan result against that manifest (same digest), or a checksum-sync Transfer that
found nothing to move *and* a fresh read of the DAQ copy that still matches the manifest
(the Transfer compares source with destination, not with the manifest: a file rewritten
after its manifest would otherwise ship unnoticed). A scan that cannot ship as it is
becomes ``blocked``; anything else is a failed attempt with back-off, and ``quarantined``
after ``max_attempts``. Once a destination verified a copy, the manifest is the truth: a DAQ
copy found to differ from it is blocked for a person's decision, never shipped over the
backups nor released. Each scan's outcome is its own: one that cannot be recorded (a link
that appeared, an unreadable entry) is said and skipped, and every other scan is recorded.
"""

from _checksums import checked_algorithm, compare_with_manifest, default_workers, describe_differences
from _layout import (
    RAW_DATA,
    DaqError,
    ScanError,
    checked_scan,
    join_collection_path,
    real_root,
    scan_files,
    shown,
    tick_notes,
)
from _ledger import (
    DAQ_DIFFERS,
    ROUTE_IS_DAQ,
    WAITS_FOR_A_PERSON,
    bump_generation,
    claim_index,
    clear_claims,
    current_claim,
    iso_time,
    manifest_is_frozen,
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
from _metrics import note_run
from _recovery import note_completion
from _release import (
    compact_released,
    finish_release,
    probe_seen,
    queue_for_release,
    release_copy,
    ship_again,
    unqueue_release,
)
from _scrub import (
    READ_BACK,
    give_back_scrub,
    note_leftovers,
    queue_for_scrub,
    read_back_verdict,
    record_repaired,
    record_verified,
)

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


def _key(item):
    return (item.get("experiment"), item.get("scan"))


def outcomes_from_run(config, found, groups_done, error=None, manifest_problems=None):
    """Per-scan outcomes from what the flow gathered: the releases to finish, the scans whose manifest could not
    be made or whose DAQ copy differs from it (their own outcome, whatever happened to the rest), then each scan's
    result at each of its destinations, from the group of that destination: its Transfer task (or the error of
    the task that failed on it, when the flow set it aside and made the task again for the others), the probe
    of a release group, and its verification (Compute results from verify_scan, a release's read-back of its copies
    by Transfer, or a checksum-sync Transfer). A scan due for release is marked so."""
    found = found if isinstance(found, dict) else {}
    releasing = {_key(item) for item in found.get("releases") or []}
    outcomes = [dict(_key_fields(item), settle=True) for item in found.get("settles") or []]
    unhashed = set()
    for problem in manifest_problems or []:
        unhashed.add(_key(problem))
        outcome = dict(
            _key_fields(problem),
            error=problem.get("error") or "its manifest could not be made",
            blocked=problem.get("blocked") is True,
            kind=problem.get("kind"),
        )
        if _key(problem) in releasing:
            outcome["release"] = True
        outcomes.append(outcome)
    by_scan = {}
    for index, group in enumerate(found.get("groups") or []):
        done = groups_done[index] if error is None and index < len(groups_done or []) else None
        transfer = (done or {}).get("transfer") or {}
        verify = (done or {}).get("verify") or {}
        set_aside = {_key(item): str(item.get("error")) for item in (done or {}).get("set_aside") or []}
        results = {}
        if done is None:
            problem = error or "the run ended before this scan's transfer"
        elif transfer.get("status") not in ("SUCCEEDED", "NOT_NEEDED"):
            problem = _transfer_problem(transfer)
        elif verify.get("status") != "SUCCEEDED":
            problem = f"the verification ended {verify.get('status')}: {verify.get('problem') or 'no details'}"
        elif group.get("verify_endpoint"):
            problem = None
            results = {_key(item): item for item in verify.get("result") or []}
        elif group.get("readback"):
            problem = None
            results = _read_back_checks(config, group["readback"], verify.get("result"))
        else:
            moved = verify.get("files_transferred")
            check = {
                "ok": moved == 0,
                "method": TRANSFER_CHECK,
                "task_id": verify.get("task_id"),
                "summary": f"the checksum-sync Transfer had to move {moved} file(s)",
            }
            results = {_key(scan): check for scan in group["scans"]}
            problem = None
        for scan in group["scans"]:
            key = _key(scan)
            if key in unhashed:
                continue
            if key not in by_scan:
                by_scan[key] = dict(_key_fields(scan), task_id=transfer.get("task_id"), destinations=[])
                if group.get("release"):
                    by_scan[key]["release"] = True
                outcomes.append(by_scan[key])
            place = {
                "collection": group.get("destination_collection"),
                "path": join_collection_path(group.get("base_path") or "/", key[0], RAW_DATA, key[1]) + "/",
                "task_id": transfer.get("task_id"),
                "route": group.get("route"),
            }
            if group.get("release"):
                probe = (done or {}).get("probe") or {}
                place["probe"] = {
                    "name": group.get("probe"),
                    "written": key[0] in (group.get("probe_experiments") or []),
                    "status": probe.get("status"),
                    "problem": probe.get("problem"),
                }
            verification = results.get(key)
            if key in set_aside:  # the group's Transfer task failed on this scan, and was made again without it
                place["error"] = set_aside[key]
            elif problem is None and verification is not None:
                place["verification"] = verification
            else:
                place["error"] = problem or "no verification result came back for this scan"
            by_scan[key]["destinations"].append(place)
    return outcomes


def _read_back_checks(config, readback, result):
    """Each copy a release read back by Transfer: verified against the ledger's manifest when every file was
    carried and checked, damaged when Transfer's check failed, and with no verification (an error) when the
    read-back did not run or carried too few files."""
    checks = {}
    for key, (state, problem, _method) in read_back_verdict(config, readback, result).items():
        if state == "unchecked":
            continue  # no verification result: the place carries the error below
        _manifest, digest = read_manifest(config["ledger"], *key)
        checks[key] = {
            "ok": state == "verified",
            "method": READ_BACK,
            "manifest_digest": digest,
            "summary": problem or "every file read back and checked against the manifest",
        }
    return checks


def _key_fields(item):
    return {"experiment": item.get("experiment"), "scan": item.get("scan")}


def _source_problem(config, experiment, scan, manifest):
    """Why the DAQ copy no longer matches its manifest, or None: the second half of a Transfer-verified
    ship (the Transfer showed destination == source; this shows source == manifest, afterwards), and the
    last look before a release removes it."""
    try:
        files = scan_files(real_root(config["daq_root"]), experiment, scan)
        result = compare_with_manifest(manifest, files, checked_algorithm(manifest["algorithm"]), default_workers())
    except ScanError as exc:
        return f"the DAQ copy cannot be read again after the transfer: {exc}"
    except OSError as exc:
        return f"the DAQ copy cannot be read again after the transfer: {exc.strerror or exc}"
    if result["ok"]:
        return None
    return f"the DAQ copy changed after its manifest was written ({describe_differences(result)})"


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


def _merged(record, destinations):
    """This run's destination states, and, for the destinations a scan shipping again did not go to (its copy
    there verified already), the verified state the record kept."""
    seen = {(place["collection"], place["path"]) for place in destinations}
    kept = [
        place
        for place in record.get("destinations") or []
        if isinstance(place, dict)
        and place.get("state") == "verified"
        and (place.get("collection"), place.get("path")) not in seen
    ]
    return kept + destinations


def _unverified(place, changed):
    """A destination a checksum-sync Transfer showed equal to a DAQ copy that no longer matches its manifest."""
    if place["state"] != "verified" or place["method"] != TRANSFER_CHECK:
        return place
    return dict(place, state="failed", verified_at=None, problem=changed)


class _Run:
    """What one run's RecordOutcome does to the ledger, scan by scan, and what it says of it."""

    def __init__(self, config, run_id, now):
        self.config, self.run_id, self.now = config, run_id, now
        self.ledger = config["ledger"]
        self.root = real_root(config["daq_root"])
        self.shipped, self.released, self.again, self.failed, self.quarantined = [], [], [], [], []
        self.blocked, self.skipped, self.releasing, self.news, self.warnings = [], [], [], [], []
        self.probes = {}  # (probe name, experiment) -> whether it arrived on the DAQ

    def record(self, outcome):
        try:
            experiment, scan = checked_scan(outcome.get("experiment"), outcome.get("scan"))
        except DaqError as exc:
            self.skipped.append({"scan": shown(str(outcome.get("scan"))), "reason": str(exc)})
            return
        scan_id = f"{experiment}/{scan}"
        try:
            self._record(outcome, experiment, scan, scan_id)
        except (DaqError, OSError, ValueError, KeyError) as exc:  # this scan's alone: the others are recorded
            reason = f"its outcome could not be recorded ({getattr(exc, 'strerror', None) or exc}); it is tried again"
            self.skipped.append({"scan": scan_id, "reason": reason})
            try:
                release_claim(self.ledger, experiment, scan, self.run_id, self.now)
            except (DaqError, OSError):
                pass  # the claim then ends with its lease

    def _record(self, outcome, experiment, scan, scan_id):
        if outcome.get("settle"):
            self._released(scan_id, *finish_release(self.config, experiment, scan, self.now))
            return
        record, problem = read_record(self.ledger, experiment, scan)
        if problem:
            self.skipped.append({"scan": scan_id, "reason": problem})
            return
        record = note_completion(
            self.config, self.root, record or {"experiment": experiment, "scan": scan, "attempts": 0}
        )
        try:
            manifest, ledger_digest = read_manifest(self.ledger, experiment, scan)
        except ValueError:  # damaged: the scan's own outcome (build_manifest blocked it, or it fails here)
            manifest, ledger_digest = None, None
        places = _places(outcome)
        problem, destinations = _checked_places(places, ledger_digest, self.now)
        synced = [
            place
            for place in places
            if _is_verified(place.get("verification"), ledger_digest)
            and place["verification"].get("method") == TRANSFER_CHECK
        ]
        changed = None
        if manifest is not None and not outcome.get("error") and (outcome.get("release") or synced):
            changed = _source_problem(self.config, experiment, scan, manifest)  # a Transfer compared with the DAQ
        if changed is not None:  # what a checksum-sync Transfer compared with the DAQ copy is not the manifest
            destinations = [_unverified(place, changed) for place in destinations]
        if any(place["state"] == "verified" for place in destinations) or (
            problem is None and changed is None and ledger_digest
        ):
            record["verified_digest"] = ledger_digest  # from now on the manifest is the truth
        problem = str(outcome["error"]) if outcome.get("error") else problem
        if outcome.get("release"):
            self._release(outcome, record, manifest, problem, changed, places, destinations, scan_id)
            return
        if problem is None and changed is None:
            self._ship(outcome, record, manifest, ledger_digest, destinations, scan_id)
            return
        lease = current_claim(
            self.ledger, experiment, scan, claim_index(self.ledger, experiment).get(scan, {}), self.now
        )
        if record.get("state") == "shipped" or (
            lease is not None and lease["active"] and lease["run_id"] != self.run_id
        ):
            self.skipped.append({"scan": scan_id, "reason": "another run holds or has finished this scan"})
            return
        if destinations:
            record["destinations"] = destinations
        if changed and manifest_is_frozen(record):
            reason = f"{changed}, while its backups were verified against that manifest; {_transfer_note(places)}"
            self._block(record, reason, DAQ_DIFFERS, scan_id)
        elif outcome.get("blocked"):
            self._block(record, problem, outcome.get("kind"), scan_id)
        else:
            self._fail(outcome, record, problem or changed + "; the next attempt ships it again", scan_id)

    def _ship(self, outcome, record, manifest, ledger_digest, destinations, scan_id):
        experiment, scan = record["experiment"], record["scan"]
        if record.get("state") != "shipped" or record.get("manifest_digest") != ledger_digest:
            record.update(
                state="shipped",
                run_id=self.run_id,
                task_id=outcome.get("task_id"),
                files=manifest["file_count"],
                bytes=manifest["bytes"],
                manifest_digest=ledger_digest,
                algorithm=manifest.get("algorithm"),
                shipped_at=iso_time(self.now),
                updated_at=iso_time(self.now),
                last_error=None,
                retry_after=None,
                reason=None,
                blocked_kind=None,
                **({"destinations": _merged(record, destinations)} if destinations else {}),
            )
            write_record(self.ledger, record)
            if self.config.get("catalog"):
                queue_for_catalog(self.ledger, experiment, scan)
            queue_for_release(self.ledger, experiment, scan, self.now)
            queue_for_scrub(self.ledger, record, self.now)
        mark_shipped_index(self.ledger, experiment, scan)
        clear_claims(self.ledger, experiment, scan)
        self.shipped.append(scan_id)

    def _block(self, record, reason, kind, scan_id):
        """Blocked: it cannot ship (or leave the DAQ) as it is. A shipped scan found so leaves the shipped index
        and the release queue; one whose ``kind`` waits for a person is looked at again only after their command."""
        experiment, scan = record["experiment"], record["scan"]
        was_shipped = record.get("state") == "shipped"
        since = record.get("blocked_at") if record.get("state") == "blocked" else iso_time(self.now)
        record.update(
            state="blocked",
            reason=reason,
            blocked_kind=kind if kind in WAITS_FOR_A_PERSON else None,
            run_id=self.run_id,
            blocked_at=since,
            updated_at=iso_time(self.now),
        )
        write_record(self.ledger, record)
        if was_shipped:
            unmark_shipped_index(self.ledger, experiment, scan)
            unqueue_release(self.ledger, experiment, scan, record.get("shipped_at"))
            bump_generation(self.ledger)  # its experiment may be cached as all shipped
        release_claim(self.ledger, experiment, scan, self.run_id, self.now)
        self.blocked.append({"scan": scan_id, "reason": reason, "kind": record["blocked_kind"]})
        self._tell(record, scan_id)

    def _fail(self, outcome, record, reason, scan_id):
        attempts = int(record.get("attempts") or 0) + 1
        record.update(
            attempts=attempts,
            run_id=self.run_id,
            task_id=outcome.get("task_id"),
            last_error=reason,
            updated_at=iso_time(self.now),
        )
        if attempts >= self.config["max_attempts"]:
            record.update(state="quarantined", retry_after=None, quarantined_at=iso_time(self.now))
            self.quarantined.append({"scan": scan_id, "attempts": attempts, "reason": reason})
            self._tell(record, scan_id)
        else:
            delay = min(MAX_BACKOFF_SECONDS, self.config["backoff_seconds"] * 2 ** (attempts - 1))
            record.update(state="failed", retry_after=self.now + delay)
            self.failed.append(
                {"scan": scan_id, "attempts": attempts, "retry_after": iso_time(self.now + delay), "reason": reason}
            )
        write_record(self.ledger, record)
        release_claim(self.ledger, record["experiment"], record["scan"], self.run_id, self.now)

    def _release(self, outcome, record, manifest, problem, changed, places, destinations, scan_id):
        """A scan due for release, after its re-verification: its DAQ copy removed (``released``, or
        ``releasing`` while its delete cannot finish) only when the DAQ copy matched its manifest before anything
        moved, every destination verified afresh, no destination is the DAQ itself (the probe), and the DAQ copy
        still matches its manifest now. A DAQ copy that differs is blocked for a person; a destination that is the
        DAQ blocks the scan too; a copy shown damaged (the DAQ copy matching) ships again, repaired from the DAQ's
        verified bytes, and a person is told; a check that could not run keeps the scan as it is."""
        experiment, scan = record["experiment"], record["scan"]
        if record.get("state") != "shipped":
            release_claim(self.ledger, experiment, scan, self.run_id, self.now)
            self._kept(
                scan_id, f"it is {record.get('state', 'not in the ledger')} now, not shipped; nothing was released"
            )
            return
        if outcome.get("error"):  # its DAQ copy was checked against the manifest before anything moved
            if outcome.get("blocked"):  # it differs, or cannot be read as it is: it stays until that changes
                self._block(record, problem, outcome.get("kind"), scan_id)
            else:
                release_claim(self.ledger, experiment, scan, self.run_id, self.now)
                self._kept(scan_id, f"{problem}; it stays on the DAQ")
            return
        refusal = self._probe_refusal(record, places)
        if refusal is not None:
            kind, reason = refusal
            if kind == ROUTE_IS_DAQ:
                self._block(record, reason, kind, scan_id)
            else:
                release_claim(self.ledger, experiment, scan, self.run_id, self.now)
                self._kept(scan_id, reason)
            return
        if changed is not None:
            self._block(
                record, f"{changed}, after its backups were verified; {_transfer_note(places)}", DAQ_DIFFERS, scan_id
            )
            return
        if problem is None:
            state, reason = release_copy(self.config, record, self.now, destinations)
            if state == "kept":  # still shipped: its record says why it is still on the DAQ (scans list shows it)
                write_record(
                    self.ledger, dict(record, last_error=f"not released: {reason}", updated_at=iso_time(self.now))
                )
                release_claim(self.ledger, experiment, scan, self.run_id, self.now)
                self._kept(scan_id, reason)
            else:
                queue_for_scrub(self.ledger, dict(record, destinations=destinations), self.now)  # all just verified
                self._released(scan_id, state, reason)
            return
        if not any(_shown_damaged(place) for place in places):  # a check that did not run says nothing of a copy
            release_claim(self.ledger, experiment, scan, self.run_id, self.now)
            self._kept(scan_id, f"{problem}; it stays on the DAQ, and its copies are verified again next run")
            return
        if destinations:
            record["destinations"] = destinations
        record = ship_again(self.ledger, record, problem, self.now, self.run_id)
        release_claim(self.ledger, experiment, scan, self.run_id, self.now)
        self.again.append({"scan": scan_id, "reason": problem})
        self._tell(record, scan_id)

    def _probe_refusal(self, record, places):
        """(kind, reason) when a probe keeps this scan on the DAQ: ROUTE_IS_DAQ when the probe written at one of
        its destinations arrived on the DAQ itself, "kept" when a probe could not run; else None."""
        experiment = record["experiment"]
        for place in places:
            probe = place.get("probe")
            if probe is None:
                continue
            where = f"{place.get('collection')} {place.get('path')}"
            if not probe.get("written") or probe.get("status") != "SUCCEEDED":
                why = "no probe file could be written into its rawData" if not probe.get("written") else None
                why = why or f"the probe ended {probe.get('status')}: {probe.get('problem') or 'no details'}"
                return "kept", f"the probe of {where} did not complete ({why}); nothing is released until one does"
            key = (probe.get("name"), experiment)
            if key not in self.probes:
                self.probes[key] = probe_seen(self.root, experiment, probe.get("name"))
            if self.probes[key]:
                number = (place.get("route") or 0) + 1
                return ROUTE_IS_DAQ, (
                    f"its destination {where} is the DAQ storage itself (a probe written there appeared in "
                    f"{experiment}/rawData on the DAQ): no copy exists apart from the DAQ's, so nothing is released "
                    f"from [[route]] #{number}"
                )
        return None

    def _released(self, scan_id, state, reason):
        if state == "released":
            self.released.append(scan_id)
            return
        self.releasing.append({"scan": scan_id, "reason": reason})
        self.warnings.append(f"{scan_id} {reason}")
        experiment, _, scan = scan_id.partition("/")
        record, _problem = read_record(self.ledger, experiment, scan)
        self._tell(record, scan_id)

    def _kept(self, scan_id, reason):
        self.skipped.append({"scan": scan_id, "reason": reason})

    def _tell(self, record, scan_id):
        item = news_of(record, scan_id)
        if item is not None:
            self.news.append(item)


def _shown_damaged(place):
    """Whether a fresh verification came back and showed the copy not to hold the manifest (an error says only
    that no verification came back: the copy may be good, and nothing is shipped over it for that)."""
    verification = place.get("verification")
    return not place.get("error") and not (isinstance(verification, dict) and verification.get("ok") is True)


def _transfer_note(places):
    """What a person must know of a DAQ copy found to differ from the manifest its backups were verified against:
    nothing more is shipped over them, and a copy a checksum-sync Transfer compared with the DAQ copy meanwhile
    may hold the DAQ's bytes (the DAQ copy was checked just before that Transfer, so only a change in between)."""
    synced = sorted(
        {
            place["collection"]
            for place in places
            if (place.get("verification") or {}).get("method") == TRANSFER_CHECK and place.get("collection")
        }
    )
    text = "nothing is shipped over the backups or released until a person decides"
    if synced:
        text += (
            " (it changed after its check, while a checksum-sync Transfer to {} ran from it: compare that copy "
            "with the manifest too)".format(", ".join(synced))
        )
    return text


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
    scrub=None,
    scrub_done=None,
    scrub_left=None,
    scrub_repairs=None,
):
    """Record one run's result for every scan it claimed.

    Either ``outcomes`` ([{experiment, scan, verification?, error?, blocked?, kind?, task_id?, release?,
    settle?}]), or what the flow gathered: ``found`` (find_completed_scans' result) with ``groups_done`` (per
    group {transfer, verify, probe}) or an ``error`` that stopped the run, and ``manifest_problems`` (the scans
    build_manifest could not hash or found changed). With only an ``error`` (the run's discovery itself failed),
    every claim the run still holds is given back. Returns {ok, shipped: [id], released: [id], releasing: [{scan,
    reason}], shipping_again, failed: [{scan, attempts, retry_after, reason}], quarantined: [{scan, attempts,
    reason}], blocked: [{scan, reason, kind}], skipped: [{scan, reason}], news: [{scan, state, since, reason,
    command}] (scans a person must hear of), warnings: [sentence], summary}. With ``told`` (news items a person
    was just e-mailed) it only notes that they were told, so each state is told once, and returns {told: count}.
    With ``scrub`` (find's scrub plan) and ``scrub_done`` it records what the scrub read back (_scrub.record_verified);
    with ``scrub_repairs`` and ``scrub_done``, the repairs it made (_scrub.record_repaired).
    """
    import time

    now = time.time() if now is None else now
    ledger = config["ledger"]
    if told is not None:
        return {"told": mark_told(ledger, told)}
    if scrub_repairs is not None:
        return record_repaired(config, run_id, scrub_repairs, scrub_done, now)
    if scrub is not None:
        return record_verified(config, run_id, scrub, scrub_done, scrub_left, now)
    if error is not None:  # the flow's own words for a failure, of whatever shape and size it came in
        error = str(error)
        error = error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"
    if outcomes is None and found is None and error is not None:
        released = release_run_claims(ledger, run_id, now)
        summary = f"{len(released)} claim{'' if len(released) == 1 else 's'} given back; {error}"
        nothing = {key: [] for key in ("shipped", "failed", "quarantined", "blocked", "skipped", "news", "warnings")}
        note_run(config, run_id, None, now)  # the figures for Prometheus (see _metrics)
        return dict(nothing, ok=False, released=released, summary=summary)
    if outcomes is None and found is not None:
        outcomes = outcomes_from_run(config, found, groups_done, error, manifest_problems)
        if error is not None:  # the run ends here: its scrub never comes
            give_back_scrub(ledger, found.get("scrub") if isinstance(found, dict) else None, run_id, now)
    if not isinstance(outcomes, list):
        raise DaqError("record_outcome needs a list of outcomes, or found with groups_done or error.")
    run = _Run(config, run_id, now)
    for outcome in outcomes:
        run.record(outcome if isinstance(outcome, dict) else {})
    if run.released:
        compact_released(ledger)
    found = found if isinstance(found, dict) else {}
    warnings = _read_back_leftovers(config, found, groups_done) + run.warnings
    decisions = [item for item in run.blocked if item["kind"] in WAITS_FOR_A_PERSON]
    result = {
        "ok": not (run.failed or run.quarantined or run.skipped or run.again or run.releasing or decisions),
        "shipped": run.shipped,
        "released": run.released,
        "releasing": run.releasing,
        "shipping_again": run.again,
        "failed": run.failed,
        "quarantined": run.quarantined,
        "blocked": run.blocked,
        "skipped": run.skipped,
        "news": run.news,
        "warnings": warnings,
        "summary": _summary(run)
        + tick_notes(run.blocked + (found.get("blocked") or []), warnings + (found.get("problems") or [])),
    }
    note_run(config, run_id, result, now, found)  # the figures for Prometheus (see _metrics)
    return result


def _read_back_leftovers(config, found, groups_done):
    """The scratch directories release read-backs could not remove, kept in the ledger for the next read-back at
    that destination to remove; a warning for each."""
    groups, left = [], []
    for group, done in zip(found.get("groups") or [], groups_done or []):
        if group.get("readback"):
            groups.append(group["readback"])
            left += ((((done or {}).get("verify") or {}).get("result") or {}).get("left")) or []
    return note_leftovers(config["ledger"], groups, left) if groups else []


def _summary(run):
    """One sentence for the run's log and its FAILED message: what happened, and the first problem.
    Blocked scans and warnings follow it (``tick_notes``): a blocked scan alone does not fail a run,
    unless it waits for a person's decision."""
    parts = [f"{len(run.shipped)} shipped"]
    named = (
        (run.released, "released"),
        (run.releasing, "still being deleted"),
        (run.again, "to ship again"),
        (run.failed, "failed"),
        (run.quarantined, "quarantined"),
        (run.skipped, "skipped"),
    )
    for entries, word in named:
        if entries:
            parts.append(f"{len(entries)} {word}")
    text = ", ".join(parts)
    first = (run.again or run.failed or run.quarantined or run.skipped or run.releasing or [None])[0]
    if first is not None:
        text += f"; {first['scan']}: {first['reason']}"
    return text
