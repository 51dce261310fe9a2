"""Compute function: list complete, not yet shipped scans and claim them for this run.

The flow's first action, on the DAQ endpoint. Cost grows with the scans that are new, not
with the archive: an experiment whose every scan was shipped is skipped on one stat
while its rawData did not change and nobody retried or forgot a scan (the ledger's
finished-experiments cache); otherwise shipped scans are known from one readdir of the shipped index,
completion is a marker look-up, and only the scans it returns are walked (to size them),
unless quiet-period completion is configured.
"""

from _checksums import compare_with_manifest, describe_differences
from _experiments import TickPlan
from _layout import (
    MAX_PROBLEMS,
    TRANSFER_WAIT_SECONDS,
    DaqError,
    ScanError,
    add_problem,
    destination_path,
    destinations_of,
    has_marker,
    ledger_inside_root,
    list_scans_of,
    real_root,
    route_for,
    scan_files,
    scan_is_quiet,
    shares_fingerprint,
    tick_notes,
    to_collection_path,
    transfer_label,
)
from _ledger import (
    SETTLE_SECONDS,
    WAITS_FOR_A_PERSON,
    StampReader,
    acquire_claim,
    catalog_due,
    claim_index,
    current_claim,
    iso_time,
    mark_shipped_index,
    news_of,
    read_generation,
    read_manifest,
    read_record,
    release_claim,
    shares_due,
    shipped_names,
    write_record,
)
from _metrics import note_quiet_run
from _recovery import note_completion
from _release import (
    MAX_COPIES,
    archived_records,
    probe_name,
    read_released,
    release_batch,
    released_names,
    write_probes,
)
from _scrub import plan_scrub, release_read_back


def _eligible(record, now):
    """Whether a scan's ledger record lets it ship now (None = never tried). A blocked scan is looked at again
    every tick, unless it waits for a person's decision; a restored one is never touched."""
    if record is None:
        return True
    state = record.get("state")
    if state == "failed":
        try:
            return float(record.get("retry_after") or 0) <= now
        except (TypeError, ValueError):  # a retry time that is not a number: try now rather than never
            return True
    if state == "blocked":
        return record.get("blocked_kind") not in WAITS_FOR_A_PERSON
    return state == "pending"


def _verified_places(record, route, experiment, scan):
    """The places (indices of the route's destinations) where a scan shipping again already has a copy verified
    against its manifest, unless that is every one of them (then it goes everywhere, as a new scan does)."""
    recorded = {
        (place.get("collection"), place.get("path"))
        for place in (record or {}).get("destinations") or []
        if isinstance(place, dict) and place.get("state") == "verified"
    }
    places = destinations_of(route)
    verified = [
        index
        for index, destination in enumerate(places)
        if (destination["collection"], destination_path(destination, experiment, scan)) in recorded
    ]
    return verified if len(verified) < len(places) else []


def _set_restored(config, root, experiment, scan, now):
    """A released scan is on the DAQ again (staff copied it back for re-analysis): restored data, recorded once
    with how it compares with its manifest by names and sizes (no byte is read), and left alone: never shipped
    over its backups, never released, its files and markers untouched, until a person says otherwise. Returns
    the warning for the run's summary."""
    ledger = config["ledger"]
    released, _problem = read_released(ledger, experiment, scan)
    if released is None:  # compacted: restores are rare, so one read of the experiment's archive is fine
        released = next((item for item in archived_records(ledger, experiment) if item.get("scan") == scan), None)
    try:
        manifest, _digest = read_manifest(ledger, experiment, scan)
        if manifest is None:
            comparison = "its manifest is no longer in the ledger"
        else:
            result = compare_with_manifest(manifest, scan_files(root, experiment, scan), "sha256", 1, contents=False)
            count = manifest.get("file_count")
            comparison = (
                f"its {count} files match its manifest by name and size"
                if result["ok"]
                else f"it differs from its manifest: {describe_differences(result)}"
            )
    except ScanError as exc:
        comparison = f"it cannot be read as it is ({exc})"
    except (ValueError, KeyError, TypeError):
        comparison = "its manifest in the ledger is damaged, so it was not compared"
    reason = (
        f"came back on the DAQ after its release ({comparison}); left alone: it is neither shipped nor released "
        "again until a person runs 'palxfel-globus scans retry' (release it again) or 'scans forget' (a new scan)"
    )
    record = dict(released or {"experiment": experiment, "scan": scan}, experiment=experiment, scan=scan)
    record.update(state="restored", reason=reason, restored_at=iso_time(now), updated_at=iso_time(now))
    write_record(ledger, record)
    return f"{experiment}/{scan} {reason}"


def _set_blocked(ledger, experiment, scan, record, reason, now):
    """Record why a complete scan cannot ship as it is; rewritten only when the reason changes, and
    ``blocked_at`` kept while it stays blocked (a new reason is not a new state). Returns the record."""
    if record is not None and record.get("state") == "blocked" and record.get("reason") == reason:
        return record
    record = dict(record or {"experiment": experiment, "scan": scan, "attempts": 0})
    since = record.get("blocked_at") if record.get("state") == "blocked" else iso_time(now)
    record.update(state="blocked", reason=reason, blocked_at=since, updated_at=iso_time(now))
    write_record(ledger, record)
    return record


def _unblock(ledger, record, now):
    """The cause is gone: the scan is pending again, like any new one."""
    if record is not None and record.get("state") == "blocked":
        record = dict(record, state="pending", reason=None, updated_at=iso_time(now))
        write_record(ledger, record)


def _groups(config, claimed, source_root, manifest_root, now, release_run=None, probed=()):
    """One group per route destination with scans: the flow makes one Transfer task and one
    verification of each (a ``release`` group, of scans due to leave the DAQ, a probe of the destination
    instead of the Transfer: see _release.probe_seen), so its action count depends on the destinations,
    never on the number of scans.

    A group carries the roots (collection paths without a trailing slash) and the scan names;
    the flow joins them into Transfer items (``<source_root>/<experiment>/rawData/<scan>/`` to
    ``<base_path>/<experiment>/rawData/<scan>/``, and the manifest beside it) and verify_scan
    tasks, so the run state holds a few names per scan rather than full paths (200 KB cap). A scan shipping
    again goes only to the destinations whose copy is not verified (``verified_at``: their places): a copy that
    verified against the manifest is never synced again from the DAQ, whose bytes may have changed since. For
    the same reason a release group (``release_run``: the run's id) at a destination without a Compute endpoint
    reads its copies back (``readback``: _scrub.release_read_back) instead of syncing them from the DAQ."""
    release = release_run is not None
    groups = []
    for index, route in enumerate(config["routes"]):
        members = [item for item in claimed if item["route"] == index]
        if not members:
            continue
        for place, destination in enumerate(destinations_of(route)):
            going = [item for item in members if place not in item.get("verified_at", ())]
            if not going:
                continue
            label = transfer_label(len(going), going[0]["scan"], going[-1]["scan"])
            if release:
                label = label.replace("palxfel-globus", "palxfel-globus re-verify", 1)[:128]
            scans = [{"experiment": item["experiment"], "scan": item["scan"]} for item in going]
            groups.append(
                {
                    "route": index,
                    "destination": place,
                    "release": release,
                    "destination_collection": destination["collection"],
                    "source_root": source_root,
                    "base_path": destination["base_path"].rstrip("/"),
                    "manifest_root": manifest_root,
                    "verify_endpoint": destination.get("compute_endpoint"),
                    "verify_root": destination.get("verify_root"),
                    "label": label,
                    "scans": scans,
                    "probe": probe_name(destination) if release else None,
                    "probe_experiments": sorted({item["experiment"] for item in going} & set(probed)),
                }
            )
            if release and not destination.get("compute_endpoint"):
                groups[-1]["readback"] = release_read_back(
                    config, release_run, destination, scans, manifest_root is not None, label, now
                )
    return groups


def _claim_releases(config, run_id, now, problems, releases):
    """Claim the scans this run releases (see _release.release_batch) into ``releases`` as they are taken
    (so a failure midway gives back each); returns the copies they take. The flow verifies each at every
    destination before RecordOutcome removes its DAQ copy; a release to finish ({settle: true}: its copy is
    in the trash already) only goes to RecordOutcome."""
    ledger = config["ledger"]

    def claim(item):
        generations = claim_index(ledger, item["experiment"]).get(item["scan"], {})
        gen = acquire_claim(ledger, item["experiment"], item["scan"], run_id, now, config["lease_seconds"], generations)
        if gen is not None:
            taken = {"experiment": item["experiment"], "scan": item["scan"], "route": item["route"], "claim_gen": gen}
            releases.append(dict(taken, settle=True) if item.get("settle") else taken)
        return gen is not None

    return release_batch(config, now, problems, claim)[1]


def find_completed_scans(config, run_id, now=None):
    """Claim up to ``max_scans`` / ``max_bytes`` of complete scans, oldest first.

    Returns {run_id, scans: [{experiment, kind, scan, route, files, bytes, claim_gen}],
    releases: [{experiment, scan, route, claim_gen}] (shipped scans due to leave the DAQ, with
    ``[retention]``: checked against their manifests, probed and verified before RecordOutcome removes them),
    settles: [{experiment, scan, route, claim_gen, settle}] (releases a crash or a stuck delete left
    unfinished, for RecordOutcome to finish), lease_expires, groups (see ``_groups``; the releases' come
    first), count, release_count, settle_count, bytes, more, unrouted, blocked: [{scan, reason}],
    news: [{scan, state, since, reason, command}] (blocked or quarantined scans a person has not
    been told of; the flow e-mails them and marks them told), problems, catalog_due (whether catalog
    entries are due from earlier runs), shares_due (whether access rules must be planned beyond the
    experiments a run ships), scrub (the copies the run reads back, see _scrub.plan_scrub)}. One experiment or scan that
    cannot be read never stops the others: it is a problem (a warning in the run's summary) or, for a
    complete scan that cannot ship as it is, ``blocked``. A single
    scan larger than ``max_bytes`` still ships, alone, so that no scan waits forever. The
    manifest ships beside the scan only when the ledger is inside the DAQ collection.
    """
    import os
    import time

    now = time.time() if now is None else now
    root = real_root(config["daq_root"])
    ledger = config["ledger"]
    markers = config["markers"]
    quiet = config.get("quiet_seconds", 0)
    max_scans = config["max_scans"]
    max_bytes = config["max_bytes"]
    claimed, releases, problems, unrouted, blocked, news = [], [], [], [], [], []
    total_bytes = 0
    more = False
    plan = TickPlan(ledger, root, read_generation(ledger), now, problems)
    copies = 0  # scan copies to ship or verify again (see _release.MAX_COPIES); releases are taken first
    learnt = {}  # experiment -> the stamp at which every scan is shipped, or None
    stamp_of = StampReader(root, plan.names)
    try:
        if config.get("retention"):
            copies = _claim_releases(config, run_id, now, problems, releases)
        for name in plan.names:
            stamp = stamp_of(name)
            if stamp is not None and plan.known.get(name) == stamp:
                learnt[name] = stamp
                continue
            learnt[name] = None
            try:
                scans, raw_names = list_scans_of(root, name, problems)
            except DaqError as exc:
                add_problem(problems, f"The experiment {name} is skipped: {exc}")
                continue
            shipped = shipped_names(ledger, name) if scans else set()
            if stamp is not None and shipped.issuperset(scans) and now - stamp / 1e9 > SETTLE_SECONDS:
                learnt[name] = stamp  # every scan shipped (or released: an empty rawData)
            if not scans:
                continue
            claims = claim_index(ledger, name)
            route = route_for(name, config["routes"])
            released = None  # the experiment's released scans, read once a scan with no record needs them
            for scan in scans:
                try:
                    if scan in shipped:
                        continue
                    marked = has_marker(root, name, scan, raw_names, markers)
                    if not marked and not quiet:
                        continue
                    record, problem = read_record(ledger, name, scan)
                    if problem:
                        add_problem(problems, problem)
                        continue
                    if record is None:
                        if released is None:
                            released = released_names(ledger, name)
                        if scan in released or read_released(ledger, name, scan)[0] is not None:
                            add_problem(problems, _set_restored(config, root, name, scan, now))
                            continue
                    if record is not None and record.get("state") == "shipped":
                        mark_shipped_index(ledger, name, scan)
                        continue
                    if not _eligible(record, now):
                        _tell(news, news_of(record, f"{name}/{scan}"))  # a quarantined scan nobody heard of yet
                        continue
                    lease = current_claim(ledger, name, scan, claims.get(scan, {}), now)
                    if lease is not None and lease["active"]:
                        continue
                    if route is None:
                        unrouted.append(f"{name}/{scan}")
                        continue
                    needed = len(destinations_of(route))
                    if len(claimed) >= max_scans or (claimed and copies + needed > MAX_COPIES):
                        more = True
                        break
                    try:
                        files = scan_files(root, name, scan)
                        if not marked and not scan_is_quiet(root, name, scan, files, now, quiet):
                            continue
                    except ScanError as exc:
                        record = note_completion(
                            config, root, record or {"experiment": name, "scan": scan, "attempts": 0}
                        )
                        record = _set_blocked(ledger, name, scan, record, str(exc), now)
                        if len(blocked) < MAX_PROBLEMS:
                            blocked.append({"scan": f"{name}/{scan}", "reason": str(exc)})
                        _tell(news, news_of(record, f"{name}/{scan}"))
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
                    if (record or {}).get("state") == "pending":  # a copy that failed re-verification, if untold
                        _tell(news, news_of(record, f"{name}/{scan}"))
                    _unblock(ledger, record, now)
                    total_bytes += size
                    copies += needed
                    item = {
                        "experiment": name,
                        "kind": plan.kinds[name],
                        "scan": scan,
                        "route": config["routes"].index(route),
                        "files": len(files),
                        "bytes": size,
                        "claim_gen": gen,
                    }
                    verified = _verified_places(record, route, name, scan)
                    if verified:
                        item["verified_at"] = verified
                    claimed.append(item)
                except (DaqError, OSError, ValueError, KeyError, TypeError) as exc:  # one odd entry: its scan's alone
                    add_problem(problems, f"{name}/{scan} is skipped this run: {exc}")
            if more:
                break
    except BaseException:
        # this run ends here (its flow's Catch goes straight to Fail): give back what it took
        for item in claimed + releases:
            release_claim(ledger, item["experiment"], item["scan"], run_id, now)
        raise
    finally:
        stamp_of.close()
    plan.save(learnt)
    if not claimed and not releases:  # the run ends before RecordOutcome: the figures for Prometheus move on here
        note_quiet_run(config, now, problems)
    settles = [item for item in releases if item.get("settle")]
    releases = [item for item in releases if not item.get("settle")]
    probed = write_probes(root, sorted({item["experiment"] for item in releases}), run_id) if releases else []
    scrub = plan_scrub(config, run_id, now, problems)  # copies read back against their manifests ([scrub])
    source_root = to_collection_path(root, config["collection_root"], root).rstrip("/")
    manifest_root = None
    if ledger_inside_root(root, ledger):
        manifests = os.path.join(os.path.realpath(ledger), "manifests")
        manifest_root = to_collection_path(root, config["collection_root"], manifests)
    return {
        "run_id": run_id,
        "scans": claimed,
        "lease_expires": iso_time(now + config["lease_seconds"]),
        "transfer_deadline": iso_time(now + TRANSFER_WAIT_SECONDS),
        "groups": _groups(config, releases, source_root, manifest_root, now, release_run=run_id, probed=probed)
        + _groups(config, claimed, source_root, manifest_root, now),
        "count": len(claimed),
        "releases": releases,
        "release_count": len(releases),
        "settles": settles,
        "settle_count": len(settles),
        "bytes": total_bytes,
        "more": more,
        "unrouted": unrouted[:MAX_PROBLEMS],
        "blocked": blocked,
        "news": news,
        "problems": problems,
        "notes": tick_notes(blocked, problems),
        "catalog_due": catalog_due(ledger, (config.get("catalog") or {}).get("index")),
        "shares_due": shares_due(ledger, shares_fingerprint(config), now),
        "scrub": scrub,
    }


def _tell(news, item):
    if item is not None and len(news) < MAX_PROBLEMS:
        news.append(item)
