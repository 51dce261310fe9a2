"""The scrub: every copy of every shipped and released scan read back against its manifest once a period.

Once the DAQ copy is released the backups are the only copies, and a copy that rots is found only when someone
reads it. So each run reads back a small share of the copies, the ones whose last look is oldest, at most
``[scrub] max_copies`` of them, so that over each ``[scrub] every`` every copy is read once, and a run's actions
stay bounded whatever the archive holds. A copy that differs from its manifest is repaired from another copy
that was verified in the same run (never from bytes that do not match the manifest; a shipped scan with no good
copy left ships again from its DAQ copy, which is checked against the manifest first); a released scan with no
good copy left is blocked for a person, who is told at once.

Ledger areas (beside those of _ledger and _release):

    scrub/copies/<experiment>/<scan>.json  the scan's copies: [{collection, path, state, verified_at, checked_at,
                                           method, problem}] and ``queued``, when the scrub looked last
    scrub/due/<day>/<experiment>/<scan>    empty; its mtime is ``queued``, on <day> (YYYYMMDD, UTC): a run lists
                                           only the oldest days, never the archive
    scrub/filled                           the scans shipped before the scrub existed were queued (once)
    scrub/leftovers.json                   {collection: [path]}: scratch directories a failed delete left behind
    scrub/planned.json                     {collection: {path: time}}: the scratch directories of read-backs not yet
                                           removed, noted before any task writes them: a run that dies before its
                                           delete leaves one there, and a read-back there removes it once no task
                                           can still write it (TRANSFER_WAIT_SECONDS)

Standard library only, valid on Python 3.9 (see _layout).
"""

from _layout import (
    RAW_DATA,
    TRANSFER_WAIT_SECONDS,
    add_problem,
    destination_path,
    destinations_of,
    join_collection_path,
    ledger_inside_root,
    real_root,
    route_for,
    transfer_label,
)
from _ledger import (
    NO_GOOD_COPY,
    acquire_claim,
    atomic_write,
    claim_index,
    current_claim,
    day_queue,
    encode_json,
    iso_time,
    ledger_path,
    news_of,
    plain_names,
    read_json,
    read_manifest,
    read_record,
    release_claim,
    remove_if_present,
    write_record,
)
from _release import RELEASED_NAMES, archived_records, read_released, released_names, released_records, ship_again

COPIES = "scrub/copies"
DUE = "scrub/due"
FILLED = "scrub/filled"
LEFTOVERS = "scrub/leftovers.json"
READ_BACK = "transfer checksums"  # the method of a copy whose every file Transfer read back against the manifest
SCRATCH = ".palxfel-globus-scrub"  # in a destination's base path: where a Transfer reads a copy back to
# the Transfer task errors that speak of a copy's files (a checksum that differs from the manifest's, a file that is
# not there or is not a file); any other failure of a read-back (no room, no permission, a deadline) leaves it unknown
DAMAGE_CODES = ("VERIFY_CHECKSUM", "FILE_NOT_FOUND", "NOT_A_FILE")
SCRUBBED = ("shipped", "released", "restored")  # the states whose copies the scrub reads (restored: its backups)
LOOK_AHEAD = 4  # entries a run looks at per copy it may take: claimed or moved scans do not stall it
RECHECK_SECONDS = 86400  # a scan whose copies could not be read (an endpoint down) is looked at again after this
MAX_LEFTOVERS = 10  # scratch directories of earlier runs a run removes at one destination


def _scrub_day(timestamp):
    import datetime

    return datetime.datetime.fromtimestamp(max(0.0, timestamp), datetime.timezone.utc).strftime("%Y%m%d")


def _copies_path(ledger, experiment, scan):
    return ledger_path(ledger, COPIES, experiment, scan + ".json")


def _due_path(ledger, queued, experiment, scan):
    import os

    ledger_path(ledger, DUE, experiment, scan)  # refuses names that are not plain
    return os.path.join(ledger, DUE, _scrub_day(queued), experiment, scan)


def read_copies(ledger, experiment, scan):
    """(the scan's copies entry, None), (None, None) when the scrub does not know it, or (None, problem)."""
    return read_json(_copies_path(ledger, experiment, scan))


def _queue(ledger, entry, queued):
    """Write the entry with its new ``queued`` time, and move its due index file to that time's day."""
    import os

    previous = entry.get("queued")
    entry = dict(entry, queued=queued)
    atomic_write(_copies_path(ledger, entry["experiment"], entry["scan"]), encode_json(entry))
    path = _due_path(ledger, queued, entry["experiment"], entry["scan"])
    for attempt in range(2):  # a run that emptied that day's directory may remove it under us: once more
        try:
            atomic_write(path, b"")
            break
        except FileNotFoundError:
            if attempt:
                raise
    os.utime(path, (queued, queued))
    if previous is not None and _scrub_day(previous) != _scrub_day(queued):
        _unindex(ledger, previous, entry["experiment"], entry["scan"])
    return entry


def _unindex(ledger, queued, experiment, scan):
    """Remove a due index file, and its directories once empty (a day read every run stays small)."""
    import os

    path = _due_path(ledger, queued, experiment, scan)
    remove_if_present(path)
    for directory in (os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
        try:
            os.rmdir(directory)
        except OSError:
            return


def queue_for_scrub(ledger, record, now):
    """A scan just shipped (or shipped again): its copies as RecordOutcome verified them, read back a period on."""
    places = [_place(place) for place in record.get("destinations") or [] if isinstance(place, dict)]
    places = [place for place in places if place["collection"]]
    entry, _problem = read_copies(ledger, record["experiment"], record["scan"])
    base = entry or {"experiment": record["experiment"], "scan": record["scan"]}
    _queue(ledger, dict(base, places=places), now)


def _place(place, verified_at=None):
    return {
        "collection": place.get("collection"),
        "path": place.get("path"),
        "state": place.get("state") or "verified",
        "verified_at": place.get("verified_at") or verified_at,
        "checked_at": place.get("checked_at") or place.get("verified_at") or verified_at,
        "method": place.get("method"),
        "problem": place.get("problem"),
    }


def forget_copies(ledger, experiment, scan):
    """A person's ``forget``: the scrub knows the scan no more (it is queued again when it ships again)."""
    entry, _problem = read_copies(ledger, experiment, scan)
    if entry is not None:
        _unindex(ledger, entry.get("queued") or 0, experiment, scan)
    remove_if_present(_copies_path(ledger, experiment, scan))


def due_now(ledger, experiment, scan):
    """Queue the scan first, for the next run's scrub (after a person fixed its copies)."""
    entry, _problem = read_copies(ledger, experiment, scan)
    if entry is not None:
        _queue(ledger, entry, 0.0)


def _time_of(text):
    import datetime

    try:
        return datetime.datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def _enter_known(config, record):
    """Queue a scan shipped before the scrub existed, by the time its copies were last verified."""
    ledger, experiment, scan = config["ledger"], record.get("experiment"), record.get("scan")
    if not experiment or not scan or read_copies(ledger, experiment, scan)[0] is not None:
        return
    shipped = record.get("shipped_at") or record.get("released_at")
    places = [_place(place, shipped) for place in record.get("destinations") or [] if isinstance(place, dict)]
    if not places:  # shipped before the ledger kept its destinations: the route's, as the config says now
        route = route_for(experiment, config["routes"])
        places = [
            _place({"collection": place["collection"], "path": destination_path(place, experiment, scan)}, shipped)
            for place in (destinations_of(route) if route else [])
        ]
    times = [_time_of(place["verified_at"]) for place in places if place["verified_at"]]
    times = [time for time in times if time is not None]
    _queue(ledger, {"experiment": experiment, "scan": scan, "places": places}, min(times) if times else 0.0)


def _fill(config):
    """Queue, once, the scans a ledger shipped, released or restored before the scrub existed (one walk of
    the ledger, then never again)."""
    import os

    ledger = config["ledger"]
    marker = os.path.join(ledger, FILLED)
    if os.path.exists(marker) or not os.access(ledger, os.W_OK):
        return
    live = set()
    for experiment in plain_names(os.path.join(ledger, "scans")):
        for name in plain_names(ledger_path(ledger, "scans", experiment)):
            record, _problem = read_json(ledger_path(ledger, "scans", experiment, name))
            if record and record.get("state") in ("shipped", "restored"):
                _enter_known(config, record)
            if record:
                live.add((experiment, record.get("scan")))
    experiments = set(plain_names(os.path.join(ledger, "released")))
    experiments.update(name[: -len(".json")] for name in plain_names(os.path.join(ledger, "archive")))
    recent = {}
    for record in released_records(ledger):
        recent.setdefault(record["experiment"], []).append(record)
    for experiment in sorted(experiments):
        released_names(ledger, experiment)  # names the releases of a ledger older than released-names
        for record in recent.get(experiment, []) + archived_records(ledger, experiment):
            if (experiment, record.get("scan")) not in live:
                _enter_known(config, record)
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    atomic_write(marker, b"")


def _overdue(ledger, cutoff, limit):
    """[(queued, experiment, scan)] last looked at by ``cutoff`` or before, oldest first, at most ``limit``:
    reads the oldest days only (a day listed whole, so nothing older than what is returned is left out)."""
    import os

    last_day, found, previous = _scrub_day(cutoff), [], None
    for day, experiment, scan, queued in day_queue(os.path.join(ledger, DUE)):
        if day > last_day or (day != previous and len(found) >= limit):
            break
        previous = day
        if queued <= cutoff:
            found.append((queued, experiment, scan))
    found.sort()
    return found[:limit]


def _state_now(ledger, experiment, scan):
    """The scan's state as the ledger says it now: its record's, "released" when it has none but was released,
    None when the ledger knows nothing of it (forgotten)."""
    import os

    record, problem = read_record(ledger, experiment, scan)
    if problem:
        return "unreadable"
    if record is not None:
        return record.get("state")
    return "released" if os.path.exists(ledger_path(ledger, RELEASED_NAMES, experiment, scan)) else None


def plan_scrub(config, run_id, now, problems):
    """The scans this run's scrub reads back, claimed for the run (so no release, ship or other scrub touches
    them meanwhile): the overdue ones, oldest look first, at most ``max_copies`` copies. Returns {count, copies,
    more, scans: [{experiment, scan, state, claim_gen}], groups} (see ``_scrub_groups``); count 0 without [scrub]."""
    settings = config.get("scrub")
    if not settings:
        return {"count": 0, "copies": 0, "more": False, "scans": [], "groups": []}
    _fill(config)
    taken, more = [], False
    try:
        more = _take(config, run_id, now, problems, taken)
        scans = [{key: entry[key] for key in ("experiment", "scan", "state", "claim_gen")} for entry in taken]
        groups = _scrub_groups(config, run_id, taken, now) if taken else []
    except BaseException:  # the run ends here (find's Catch): give back what this took
        give_back_scrub(config["ledger"], {"scans": taken}, run_id, now)
        raise
    copies = sum(len(entry["places"]) for entry in taken)
    return {"count": len(taken), "copies": copies, "more": more, "scans": scans, "groups": groups}


def _take(config, run_id, now, problems, taken):
    """Claim overdue scans into ``taken`` while their copies fit ``max_copies``; True when more are overdue."""
    ledger, settings = config["ledger"], config["scrub"]
    budget, copies = settings["max_copies"], 0
    for queued, experiment, scan in _overdue(ledger, now - settings["every"], LOOK_AHEAD * budget):
        entry, problem = read_copies(ledger, experiment, scan)
        if problem:
            add_problem(problems, problem)
            continue
        if entry is None or _scrub_day(entry.get("queued") or 0.0) != _scrub_day(queued):
            _unindex(ledger, queued, experiment, scan)  # forgotten, or left behind by a crash as it moved on
            continue
        state = _state_now(ledger, experiment, scan)
        if state is None:
            forget_copies(ledger, experiment, scan)
            continue
        if state not in SCRUBBED or not entry.get("places"):
            _queue(ledger, entry, now)  # shipping again, or waiting for a person: looked at a period on
            continue
        if taken and copies + len(entry["places"]) > budget:
            return True
        generations = claim_index(ledger, experiment).get(scan, {})
        gen = acquire_claim(ledger, experiment, scan, run_id, now, config["lease_seconds"], generations)
        if gen is not None:
            taken.append(dict(entry, state=state, claim_gen=gen))
            copies += len(entry["places"])
    return False


def scrub_verifier(config, experiment, scan, place):
    """(compute endpoint, verify_root) where the copy sits where its route's destination with a Compute endpoint
    puts it; None: the copy is read back by Transfer (the route changed, or the destination has only Transfer)."""
    route = route_for(experiment, config["routes"])
    for destination in destinations_of(route) if route else []:
        if destination["collection"] != place["collection"] or destination_path(destination, experiment, scan) != (
            place.get("path")
        ):
            continue
        if destination.get("compute_endpoint") and destination.get("verify_root"):
            return destination["compute_endpoint"], destination["verify_root"]
    return None


def _base(path, experiment, scan):
    """The base path a copy ``<base>/<experiment>/rawData/<scan>/`` was shipped under."""
    parts = [part for part in str(path).split("/") if part]
    keep = parts[:-3] if parts[-3:] == [experiment, RAW_DATA, scan] else parts[:-1]
    return "/" + "/".join(keep)


def _group(kind, method, source, destination, **fields):
    group = {
        "kind": kind,
        "method": method,
        "collection": destination,
        "source_collection": source,
        "destination_collection": destination,
        "verify_endpoint": None,
        "verify_root": None,
        "scans": [],
        "copies": [],
        "cleanup": [],
        "label": "",
    }
    group.update(fields)
    return group


def _scrub_groups(config, run_id, taken, now):
    """The run's work, one group per destination and way of reading: a Compute action of verify_scan tasks where
    the destination has a Compute endpoint ({method: compute, verify_endpoint, verify_root, scans}); else copies
    read back by Transfer with every file checked against the manifest (``copy_items``) into a scratch directory
    beside them that the group removes afterwards ({method: transfer, copies, cleanup})."""
    ledger = config["ledger"]
    shipped_manifests = ledger_inside_root(real_root(config["daq_root"]), ledger)
    by_key = {}
    for entry in taken:
        experiment, scan = entry["experiment"], entry["scan"]
        for place in entry["places"]:
            collection, how = place["collection"], scrub_verifier(config, experiment, scan, place)
            if how is not None:
                group = by_key.setdefault(
                    ("compute", collection) + how,
                    _group("verify", "compute", collection, collection, verify_endpoint=how[0], verify_root=how[1]),
                )
                group["scans"].append(
                    {
                        "experiment": experiment,
                        "scan": scan,
                        "path": place["path"],
                        "scan_path": f"{experiment}/{RAW_DATA}/{scan}",
                        "manifest_path": f"{experiment}/{RAW_DATA}/{scan}.manifest.json",
                    }
                )
                continue
            group = by_key.setdefault(("transfer", collection), _group("verify", "transfer", collection, collection))
            base = _base(place["path"], experiment, scan)
            _read_back(group, place["path"], base, experiment, scan, run_id, shipped_manifests)
    groups = list(by_key.values())
    for group in groups:
        members = group["scans"] or group["copies"]
        label = transfer_label(len(members), members[0]["scan"], members[-1]["scan"])
        group["label"] = label.replace("palxfel-globus", "palxfel-globus scrub", 1)[:128]
        if group["method"] == "transfer":
            _add_leftovers(ledger, group, now)
    return groups


def _add_leftovers(ledger, group, now):
    """Note the scratch directory of a read-back ``group`` in scrub/planned.json before anything writes it, and
    give the group those earlier read-backs left at its destination to remove: the ones whose delete failed, and
    those of runs that died before their delete, once no task of theirs can still be writing. Only ever a
    scratch directory (``<base>/.palxfel-globus-scrub/<run>``), whatever a damaged ledger file holds."""
    planned_path = ledger_path(ledger, "scrub", "planned.json")
    planned = _mapping(read_json(planned_path)[0])
    mine = _mapping(planned.get(group["collection"]))
    abandoned = [path for path, when in sorted(mine.items()) if _seconds(when) < now - TRANSFER_WAIT_SECONDS]
    mine.update({path: now for path in group["cleanup"]})
    atomic_write(planned_path, encode_json(dict(planned, **{group["collection"]: mine})))
    leftovers = _mapping(read_json(ledger_path(ledger, "scrub", "leftovers.json"))[0])
    earlier = [path for path in list(leftovers.get(group["collection"]) or []) + abandoned if _is_scratch(path)]
    group["cleanup"] += [path for path in dict.fromkeys(earlier) if path not in group["cleanup"]][:MAX_LEFTOVERS]


def _mapping(value):
    return dict(value) if isinstance(value, dict) else {}


def _seconds(value):
    """A planned time, or now-ish (never old enough to remove) when the ledger file holds something else."""
    return float(value) if isinstance(value, (int, float)) else float("inf")


def _is_scratch(path):
    import posixpath

    return isinstance(path, str) and posixpath.basename(posixpath.dirname(path.rstrip("/"))) == SCRATCH


def _read_back(group, path, base, experiment, scan, run_id, manifest):
    """Add the copy at ``path`` (shipped under ``base``; with ``manifest``, the manifest beside it too) to a
    Transfer read-back ``group``: into this run's scratch directory under ``base``, which the group removes
    afterwards."""
    scratch = join_collection_path(base, SCRATCH, run_id)
    group["copies"].append(
        {
            "experiment": experiment,
            "scan": scan,
            "source_path": path,
            "destination_path": f"{scratch}/{experiment}/{scan}/",
            "manifest": manifest,
        }
    )
    if scratch not in group["cleanup"]:
        group["cleanup"].append(scratch)


def release_read_back(config, run_id, destination, scans, manifest, label, now):
    """The read-back of the copies at a Transfer-only destination that a release checks (kind "release"): each
    file Transfer reads from the copy, into a scratch directory, against the manifest's checksum, so the check
    writes nothing onto a verified copy, whatever the DAQ holds meanwhile (a checksum-sync from the DAQ would
    copy changed DAQ bytes over it). ``scans``: [{experiment, scan}]; ``manifest``: the manifest ships beside
    each copy. Scratch directories earlier read-backs there could not remove are removed with this one's."""
    collection, base = destination["collection"], destination["base_path"].rstrip("/") or "/"
    group = _group("release", "transfer", collection, collection, label=label)
    for item in scans:
        experiment, scan = item["experiment"], item["scan"]
        _read_back(group, destination_path(destination, experiment, scan), base, experiment, scan, run_id, manifest)
    _add_leftovers(config["ledger"], group, now)
    return group


def read_back_verdict(config, group, result):
    """{(experiment, scan): verdict} (see ``_transferred``) for a release's read-back ``group``, from what the flow
    gathered of it (``result``: {chunks, refused, problem})."""
    result = result if isinstance(result, dict) else {}
    verdicts = _verdicts(config, [group], [result])
    return {(key[0], key[1]): verdict for key, verdict in verdicts.items()}


def _verdicts(config, groups, done):
    """{(experiment, scan, collection, path): (state, problem, method)} for every copy a pass read: "verified",
    "failed" (shown to differ from the manifest, or not readable as a copy), or "unchecked" (the action itself
    did not run: nothing is known of the copy)."""
    verdicts = {}
    for index, group in enumerate(groups):
        outcome = done[index] if index < len(done or []) else None
        outcome = outcome if isinstance(outcome, dict) else {}
        unable = str(outcome.get("problem") or "") or "the run did not reach this copy"
        if group["method"] == "compute":
            results = {(item.get("experiment"), item.get("scan")): item for item in outcome.get("result") or []}
            for item in group["scans"]:
                key = (item["experiment"], item["scan"], group["collection"], item["path"])
                result = results.get((item["experiment"], item["scan"]))
                verdicts[key] = _computed(config, item, result, unable)
            continue
        chunks, refused = {}, {}
        for chunk in outcome.get("chunks") or []:  # by copy: two destinations may share a collection
            chunks.setdefault((chunk.get("experiment"), chunk.get("scan"), chunk.get("path")), []).append(chunk)
        for item in outcome.get("refused") or []:
            refused[(item.get("experiment"), item.get("scan"))] = str(item.get("problem"))
        for copy in group["copies"]:
            pair = (copy["experiment"], copy["scan"])
            key = (copy["experiment"], copy["scan"], group["collection"], copy["source_path"])
            found = chunks.get((*pair, copy["source_path"])) or []
            verdicts[key] = _transferred(config, copy, found, refused.get(pair), unable)
    return verdicts


def _computed(config, item, result, unable):
    if not isinstance(result, dict):
        return "unchecked", unable, None
    _manifest, digest = read_manifest(config["ledger"], item["experiment"], item["scan"])
    if result.get("ok") is True and result.get("manifest_digest") == digest:
        return "verified", None, "verify_scan"
    if result.get("ok") is True:
        return "failed", "verified against a manifest that is not the ledger's", "verify_scan"
    return "failed", str(result.get("summary") or "files differ"), "verify_scan"


def _transferred(config, copy, chunks, refused, unable):
    """A copy read back by Transfer: verified when every chunk's task succeeded and together they carried every
    file of the manifest (and the manifest beside the copy, when it ships); failed when a task failed on it with
    an error about the copy's files (DAMAGE_CODES); unchecked when it failed for another reason (no room or no
    permission for the scratch directory, a deadline): that says nothing of the copy."""
    if refused:
        return "unchecked", refused, None
    failed = [chunk for chunk in chunks if chunk.get("status") == "FAILED"]
    damage = [chunk for chunk in failed if chunk.get("code") in DAMAGE_CODES]
    if damage:
        return (
            "failed",
            f"Transfer's check against the manifest failed: {damage[0].get('problem') or 'no details'}",
            None,
        )
    manifest, _digest = read_manifest(config["ledger"], copy["experiment"], copy["scan"])
    expected = (manifest or {}).get("file_count", -1) + (1 if copy.get("manifest") else 0)
    if expected == 0 and not chunks:
        return "verified", None, READ_BACK  # an empty scan: nothing to read, nothing that can differ
    if failed or not chunks or any(chunk.get("status") != "SUCCEEDED" for chunk in chunks):
        reason = next((chunk.get("problem") for chunk in chunks if chunk.get("problem")), None)
        return "unchecked", str(reason or unable), None
    carried = sum(int(chunk.get("files") or 0) for chunk in chunks)
    if carried != expected:
        return "unchecked", f"Transfer checked {carried} of its {expected} files", None
    return "verified", None, READ_BACK


def _checked(place, verdict, now):
    state, problem, method = verdict
    place = dict(place, state=state, checked_at=iso_time(now), problem=problem)
    if state == "verified":
        place.update(verified_at=iso_time(now), method=method)
    return place


def _ours(ledger, experiment, scan, run_id, now):
    """Whether this run still holds the scan's claim (so it may change the scan's state)."""
    lease = current_claim(ledger, experiment, scan, claim_index(ledger, experiment).get(scan, {}), now)
    return lease is not None and lease["run_id"] == run_id and not lease["released"]


def record_verified(config, run_id, scrub, done, left=None, now=None):
    """What this run's scrub read: each copy's state in the ledger, then, per scan, the repairs to make (each
    differing copy from one verified in this run), a shipped scan with no good copy sent to ship again from its
    DAQ copy, a released one with no good copy blocked for a person. Returns {repairs: [group], blocked: [{scan,
    reason}], news, warnings, note}; the claims of the scans with nothing to repair are given back."""
    import time

    now = time.time() if now is None else now
    ledger = config["ledger"]
    verdicts = _verdicts(config, scrub.get("groups") or [], done)
    shipped_manifests = ledger_inside_root(real_root(config["daq_root"]), ledger)
    report = {"repairs": [], "blocked": [], "news": [], "warnings": [], "note": ""}
    read, differing, pairs = 0, 0, {}
    for item in scrub.get("scans") or []:
        experiment, scan = item["experiment"], item["scan"]
        entry, _problem = read_copies(ledger, experiment, scan)
        if entry is None:
            release_claim(ledger, experiment, scan, run_id, now)
            continue
        missing = ("unchecked", "the run did not reach this copy", None)
        places = [
            _checked(place, verdicts.get((experiment, scan, place["collection"], place["path"]), missing), now)
            for place in entry["places"]
        ]
        read += sum(1 for place in places if place["state"] != "unchecked")
        good = [place for place in places if place["state"] == "verified"]
        bad = [place for place in places if place["state"] == "failed"]
        differing += len(bad)
        ours = _ours(ledger, experiment, scan, run_id, now)
        scan_id = f"{experiment}/{scan}"
        queued = now if good or not places else now - config["scrub"]["every"] + RECHECK_SECONDS
        entry = _queue(ledger, dict(entry, places=places), queued)
        if bad and good and ours:
            for place in bad:
                source = good[0]
                group = pairs.setdefault(
                    (source["collection"], place["collection"]),
                    _group("repair", "transfer", source["collection"], place["collection"]),
                )
                group["copies"].append(
                    {
                        "experiment": experiment,
                        "scan": scan,
                        "source_path": source["path"],
                        "destination_path": place["path"],
                        "manifest": shipped_manifests,
                        "problem": place["problem"],
                    }
                )
            continue
        if bad and not good and ours:
            _no_good_copy(config, run_id, item["state"], entry, bad, places, now, report)
        elif bad:
            report["warnings"].append(
                f"{scan_id}: its copy at {bad[0]['collection']} differs from its manifest ({bad[0]['problem']}), and "
                "no other copy was shown good in this run; it is read back again next period"
            )
        for place in places:
            if place["state"] == "unchecked" and not bad:
                report["warnings"].append(
                    f"{scan_id}: its copy at {place['collection']} was not read back: "
                    f"{place['problem']}; it is tried again within a day"
                )
                break
        release_claim(ledger, experiment, scan, run_id, now)
    for group in pairs.values():
        members = group["copies"]
        label = transfer_label(len(members), members[0]["scan"], members[-1]["scan"])
        group["label"] = label.replace("palxfel-globus", "palxfel-globus repair", 1)[:128]
    report["repairs"] = list(pairs.values())
    report["warnings"] += note_leftovers(ledger, scrub.get("groups") or [], left or [])
    repairs = sum(len(group["copies"]) for group in report["repairs"])
    report["note"] = (
        f"; scrub: {read} cop{'y' if read == 1 else 'ies'} read back"
        + (f", {differing} differed from the manifest" if differing else "")
        + (f", {repairs} to repair" if repairs else "")
        + (f", {len(report['blocked'])} with no good copy left" if report["blocked"] else "")
    )
    return report


def _no_good_copy(config, run_id, state, entry, bad, places, now, report):
    """No copy of the scan verified, and one at least differs from its manifest. A shipped scan ships again from
    its DAQ copy (the next run checks that copy against the manifest before anything moves); a released or
    restored one is blocked for a person, who hears of it now."""
    ledger, experiment, scan = config["ledger"], entry["experiment"], entry["scan"]
    scan_id = f"{experiment}/{scan}"
    where = ", ".join(f"{place['collection']} ({place['problem']})" for place in bad)
    record, _problem = read_record(ledger, experiment, scan)
    if state == "shipped" and record is not None:
        reason = f"the scrub found no good copy of it: {where}; it ships again from its DAQ copy"
        record = ship_again(ledger, dict(record, destinations=places), reason, now, run_id)
        report["warnings"].append(f"{scan_id}: {reason}")
        _add_news(report, news_of(record, scan_id))
        return
    if record is None:
        record, _problem = read_released(ledger, experiment, scan)
    if record is None:
        found = [item for item in archived_records(ledger, experiment) if item.get("scan") == scan]
        record = found[0] if found else {"experiment": experiment, "scan": scan}
    unread = [place["collection"] for place in places if place["state"] == "unchecked"]
    reason = f"no copy of it verifies against its manifest any more: {where}" + (
        f"; {', '.join(unread)} could not be read back" if unread else ""
    )
    record = dict(record, experiment=experiment, scan=scan, destinations=places)
    record.update(
        state="blocked",
        blocked_kind=NO_GOOD_COPY,
        blocked_from=state,
        reason=reason,
        blocked_at=iso_time(now),
        run_id=run_id,
        updated_at=iso_time(now),
    )
    write_record(ledger, record)
    report["blocked"].append({"scan": scan_id, "reason": reason, "kind": NO_GOOD_COPY})
    _add_news(report, news_of(record, scan_id))


def _add_news(report, item):
    if item is not None:
        report["news"].append(item)


def note_leftovers(ledger, groups, left):
    """After the read-back ``groups`` tried their deletes: keep the scratch directories whose delete failed (the
    next read-back at that destination removes them), forget the others (and that they were planned); a warning
    for each destination that kept one."""
    path = ledger_path(ledger, "scrub", "leftovers.json")
    kept = _mapping(read_json(path)[0])
    planned_path = ledger_path(ledger, "scrub", "planned.json")
    planned = _mapping(read_json(planned_path)[0])
    for group in groups:
        if group["method"] == "transfer":
            removed = set(group["cleanup"])
            kept[group["collection"]] = [item for item in kept.get(group["collection"], []) if item not in removed]
            mine = _mapping(planned.get(group["collection"]))
            planned[group["collection"]] = {item: when for item, when in mine.items() if item not in removed}
    if planned:
        atomic_write(planned_path, encode_json({key: value for key, value in planned.items() if value}))
    warnings = []
    for item in left:
        paths = [str(path) for path in item.get("paths") or []]
        kept[item.get("collection")] = (kept.get(item.get("collection")) or []) + paths
        warnings.append(
            f"the read-back scratch directory {paths[0] if paths else '?'} at {item.get('collection')} could not be "
            f"removed ({item.get('problem') or 'no details'}); the next read-back there removes it"
        )
    kept = {collection: paths for collection, paths in kept.items() if paths}
    if kept or read_json(path)[0] is not None:
        atomic_write(path, encode_json(kept))
    return warnings


def record_repaired(config, run_id, repairs, done, now=None):
    """Each repaired copy is verified (Transfer checked every file it wrote against the manifest, and every file it
    skipped equals the copy verified in this run); each repair is a warning of the run and news for a person.
    The claims are given back. Returns {news, warnings, note}."""
    import time

    now = time.time() if now is None else now
    ledger = config["ledger"]
    verdicts = _verdicts(config, repairs, done)
    report = {"news": [], "warnings": [], "note": ""}
    repaired, scans = 0, []
    for group in repairs:
        for copy in group["copies"]:
            experiment, scan = copy["experiment"], copy["scan"]
            state, problem, _method = verdicts.get(
                (experiment, scan, group["collection"], copy["source_path"]), ("unchecked", "not reached", None)
            )
            target, source = group["destination_collection"], group["source_collection"]
            entry, _problem = read_copies(ledger, experiment, scan)
            if entry is not None:
                places = []
                for place in entry["places"]:
                    if (place["collection"], place["path"]) == (target, copy["destination_path"]):
                        place = _checked(place, (state, problem, f"repaired from {source}"), now)
                    places.append(place)
                _queue(ledger, dict(entry, places=places), entry.get("queued") or now)
            scan_id = f"{experiment}/{scan}"
            if state == "verified":
                repaired += 1
                said = (
                    f"its copy at {target} differed from its manifest ({copy.get('problem')}) and was repaired from "
                    f"{source}, every file written checked against the manifest"
                )
                command = "none: check the storage of that destination"
            else:
                said = (
                    f"its copy at {target} differs from its manifest ({copy.get('problem')}); the repair from {source} "
                    f"did not finish ({problem}); the next scrub tries again"
                )
                command = "check the storage of that destination; the next scrub tries again"
            report["warnings"].append(f"{scan_id}: {said}")
            report["news"].append(
                {
                    "scan": scan_id,
                    "state": "repaired" if state == "verified" else "repair failed",
                    "since": iso_time(now),
                    "reason": said,
                    "command": command,
                }
            )
            scans.append((experiment, scan))
    for experiment, scan in dict.fromkeys(scans):
        release_claim(ledger, experiment, scan, run_id, now)
    report["note"] = f", {repaired} repaired" if repaired else ""
    return report


def give_back_scrub(ledger, scrub, run_id, now):
    """The claims of a scrub the run never reached (it failed before): given back at once."""
    for item in (scrub or {}).get("scans") or []:
        release_claim(ledger, item["experiment"], item["scan"], run_id, now)


def unblock_no_good_copy(config, record, now):
    """A person's retry of a scan blocked for having no good copy (its copies put right by hand): back to the state
    it had, and first in line for the next scrub, which reads every copy back. Returns that state."""
    ledger = config["ledger"]
    experiment, scan = record["experiment"], record["scan"]
    state = record.get("blocked_from") or "released"
    for key in ("blocked_kind", "blocked_from", "reason", "blocked_at", "told"):
        record.pop(key, None)
    if state == "released":
        remove_if_present(ledger_path(ledger, "scans", experiment, scan + ".json"))
    else:
        write_record(ledger, dict(record, state=state, updated_at=iso_time(now)))
    due_now(ledger, experiment, scan)
    return state


def scrubbed_names(ledger, experiment):
    """The scans of ``experiment`` the scrub keeps copies of (see ``with_scrubbed``)."""
    suffix = ".json"
    return {
        name[: -len(suffix)] for name in plain_names(ledger_path(ledger, COPIES, experiment)) if name.endswith(suffix)
    }


def with_scrubbed(ledger, record, experiment, scan):
    """``record`` with its destinations as the scrub last found them (for 'scans list')."""
    entry, _problem = read_copies(ledger, experiment, scan)
    if not entry or not entry.get("places"):
        return record
    return dict(record or {}, destinations=entry["places"])


def scrub_progress(config, now=None):
    """How far the scrub is through its period, for 'status': {every, scans, within (read back within the last
    period), oldest: {scan, collection, verified_at} or None}; None without [scrub]. Lists every due day (a
    person's command, not a run)."""
    import os
    import time

    settings = config.get("scrub")
    if not settings:
        return None
    now = time.time() if now is None else now
    ledger = config["ledger"]
    total, within, oldest = 0, 0, None
    for _listed, experiment, scan, queued in day_queue(os.path.join(ledger, DUE)):
        total += 1
        within += queued > now - settings["every"]
        if oldest is None or queued < oldest[0]:
            oldest = (queued, experiment, scan)
    shown = None
    if oldest is not None:
        entry, _problem = read_copies(ledger, oldest[1], oldest[2])
        places = sorted(
            (entry or {}).get("places") or [], key=lambda place: (place.get("verified_at") or "", place["collection"])
        )
        if places:
            shown = {
                "scan": f"{oldest[1]}/{oldest[2]}",
                "collection": places[0]["collection"],
                "verified_at": places[0].get("verified_at"),
            }
    return {"every": settings["every"], "scans": total, "within": within, "oldest": shown}
