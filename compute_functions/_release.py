"""Releasing DAQ space: which shipped scans are due, and removing a DAQ copy without ever losing data.

Ledger areas (beside those of _ledger):

    retained/<day>/<experiment>/<scan> empty; its mtime is when the scan last shipped, on <day>
                                       (YYYYMMDD, UTC). Every shipped scan whose DAQ copy is still
                                       there (or still being deleted), by the day it shipped, so a tick
                                       reads only the days that are due, never the archive
    released/<experiment>/<scan>.json  the record of a released scan (its destinations, manifest digest)
    released-names/<experiment>/<scan> empty; every scan ever released, never compacted: a released scan
                                       that comes back on the DAQ is known for restored data from one
                                       readdir, and left alone
    archive/<experiment>.jsonl         older released records, one line each (compacted), and
    archive/<experiment>.json          {count, bytes, size, batch}: what the lines hold

A DAQ copy goes only after a fresh verification at every destination (and a probe showing that none
of them is the DAQ storage itself) and a fresh read of the DAQ copy against its manifest, and never
through a link. Then, in this order: the scan's name is added to released-names, the scan directory
is renamed to a hidden trash name in its rawData (one atomic step: the scan is gone from every
listing), the record says ``releasing``, the trash is deleted, and only once nothing of it is left
does the record move to released/ and the other ledger entries go. A delete that cannot finish (an
immutable file, a directory of another account) leaves the scan ``releasing`` with the reason, and
every later run tries again. A crash between any two steps is finished by a later run, never undone:
the rename only ever follows a verification. Nothing outside the scan directory is touched: a marker
beside it stays. Standard library only, valid on Python 3.9 (see _layout).
"""

from _layout import RAW_DATA, DaqError, add_problem, confined, destinations_of, real_root, route_for
from _ledger import (
    atomic_write,
    bump_generation,
    claim_index,
    clear_claims,
    current_claim,
    day_queue,
    encode_json,
    exclusive_create,
    iso_time,
    ledger_path,
    plain_names,
    read_json,
    read_record,
    remove_if_present,
    unmark_shipped_index,
    write_record,
)

RETAINED = "retained"
RETAINED_FILLED = "retained-filled"  # the scans shipped before the queue existed have been queued
RELEASED_NAMES = "released-names"
RELEASED_NAMES_FILLED = ".filled"  # in released-names/<experiment>/: the experiment's earlier releases are named
TRASH_PREFIX = ".palxfel-released-"
PROBE_NAME = ".palxfel-globus-probe"  # in a rawData: what a release run copies to each destination beside its scans
KEEP_RELEASED = 100  # the most recent released records stay one file each; older ones are archived
MAX_COPIES = 100  # copies (a scan at one of its destinations) a run ships or verifies again: each carries a
# verification result through the run state, which must stay well under the Flows service's 200 KB


def _day(shipped_time):
    import datetime

    return datetime.datetime.fromtimestamp(shipped_time, datetime.timezone.utc).strftime("%Y%m%d")


def _retained_path(ledger, day, experiment, scan):
    import os

    return os.path.join(ledger, RETAINED, day, experiment, scan)


def queue_for_release(ledger, experiment, scan, shipped_time):
    """The scan shipped at ``shipped_time``: its DAQ copy may go ``release_after`` later."""
    import os

    ledger_path(ledger, RETAINED, experiment, scan)  # refuses names that are not plain
    path = _retained_path(ledger, _day(shipped_time), experiment, scan)
    atomic_write(path, b"")
    os.utime(path, (shipped_time, shipped_time))


def unqueue_release(ledger, experiment, scan, shipped_at):
    """Take the scan shipped at ``shipped_at`` (the record's ISO time) off the queue."""
    shipped_time = _parse_time(shipped_at)
    if shipped_time is not None:
        remove_if_present(_retained_path(ledger, _day(shipped_time), experiment, scan))


def _parse_time(text):
    import datetime

    try:
        return datetime.datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def _fill_queue(ledger):
    """Queue, once, the scans shipped before the queue existed (one walk of the shipped index)."""
    import os

    marker = os.path.join(ledger, RETAINED_FILLED)
    if os.path.exists(marker):
        return
    for experiment in plain_names(os.path.join(ledger, "shipped")):
        for scan in plain_names(ledger_path(ledger, "shipped", experiment)):
            record, _problem = read_record(ledger, experiment, scan)
            shipped_time = _parse_time((record or {}).get("shipped_at"))
            if shipped_time is not None:
                queue_for_release(ledger, experiment, scan, shipped_time)
    os.makedirs(ledger, exist_ok=True)
    atomic_write(marker, b"")


def released_names(ledger, experiment):
    """The scans of an experiment that were ever released, from one readdir."""
    _fill_released_names(ledger, experiment)
    return set(plain_names(ledger_path(ledger, RELEASED_NAMES, experiment)))


def _name_released(ledger, experiment, scan):
    exclusive_create(ledger_path(ledger, RELEASED_NAMES, experiment, scan), b"")


def forget_released(ledger, experiment, scan):
    """A person's ``forget``: the scan is no longer known as released (a copy on the DAQ is then a new scan)."""
    remove_if_present(ledger_path(ledger, RELEASED_NAMES, experiment, scan))
    remove_if_present(released_path(ledger, experiment, scan))


def _fill_released_names(ledger, experiment):
    """Name, once per experiment, the scans a ledger released before it kept their names: one read of that
    experiment's released records and archive, when a scan of it first needs the names (a reader that may not
    write the ledger, such as 'scans list' run by another account, leaves it to the next run)."""
    import os

    marker = ledger_path(ledger, RELEASED_NAMES, experiment, RELEASED_NAMES_FILLED)
    if os.path.exists(marker) or not os.access(ledger, os.W_OK):
        return
    try:
        for name in plain_names(ledger_path(ledger, "released", experiment)):
            if name.endswith(".json"):
                _name_released(ledger, experiment, name[: -len(".json")])
        for record in archived_records(ledger, experiment):
            _name_released(ledger, experiment, record["scan"])
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        atomic_write(marker, b"")
    except (OSError, ValueError, KeyError, TypeError):
        pass  # a damaged area: the names stay as they are, and a released record still marks a restore


def due_for_release(config, now):
    """[(shipped_time, experiment, scan)] of retained scans shipped ``release_after`` ago or more, oldest
    first; [] without ``[retention]``. Only the days that can hold a due scan are read."""
    import os

    retention = config.get("retention")
    if not retention:
        return []
    ledger = config["ledger"]
    _fill_queue(ledger)
    last_due_day = _day(now - retention["release_after"])
    due = []
    for day, experiment, scan, shipped_time in day_queue(os.path.join(ledger, RETAINED)):
        if day > last_due_day:
            break
        if shipped_time + retention["release_after"] <= now:
            due.append((shipped_time, experiment, scan))
    due.sort()
    return due


def release_candidates(config, now, problems, settle=True):
    """The scans a run would release now, oldest shipped first: {experiment, scan, route, shipped_at} for each
    shipped scan whose time on the DAQ is up, still on disk, routed and not claimed by a run. A run (``settle``)
    also gets the releases a crash or a stuck delete left unfinished ({..., "settle": True}: the run finishes
    them) and drops queue entries that no longer apply; a dry run claims and settles nothing, so both see the
    same scans (either may queue, once, the scans a ledger shipped before the queue existed: ``_fill_queue``)."""
    root = real_root(config["daq_root"])
    for shipped_time, experiment, scan in due_for_release(config, now):
        try:
            item = _candidate(config, root, now, problems, settle, iso_time(shipped_time), experiment, scan)
        except (DaqError, OSError, ValueError, KeyError, TypeError) as exc:  # one odd entry: its scan's alone
            add_problem(problems, f"{experiment}/{scan} is not released this run: {exc}")
            continue
        if item is not None:
            yield item


def _candidate(config, root, now, problems, settle, queued_at, experiment, scan):
    """One queued scan as ``release_candidates`` yields it, or None (dropping its queue entry where it no longer
    applies, when ``settle``)."""
    import os

    ledger = config["ledger"]
    record, problem = read_record(ledger, experiment, scan)
    if problem:
        add_problem(problems, problem)
        return None
    if interrupted(config, root, experiment, scan, record):
        if not settle:  # a dry run lists what a run releases, not what it finishes
            return None
        return {"experiment": experiment, "scan": scan, "route": None, "shipped_at": queued_at, "settle": True}
    if record is None or record.get("state") != "shipped" or record.get("shipped_at") != queued_at:
        if settle:  # forgotten, blocked, shipping again, or shipped again since: it is queued when it ships
            unqueue_release(ledger, experiment, scan, queued_at)
        return None
    if not os.path.lexists(os.path.join(root, experiment, RAW_DATA, scan)):
        add_problem(
            problems,
            f"{experiment}/{scan} shipped, but its DAQ copy is gone (removed by hand?); nothing to release",
        )
        if settle:
            unqueue_release(ledger, experiment, scan, queued_at)
        return None
    route = route_for(experiment, config["routes"])
    if route is None:
        add_problem(problems, f"{experiment}/{scan} is due for release, but no route matches it now; it stays")
        return None
    lease = current_claim(ledger, experiment, scan, claim_index(ledger, experiment).get(scan, {}), now)
    if lease is not None and lease["active"]:
        return None
    return {
        "experiment": experiment,
        "scan": scan,
        "route": config["routes"].index(route),
        "shipped_at": record.get("shipped_at"),
    }


def release_batch(config, now, problems, take, settle=True):
    """The scans one run releases: candidates in order while ``take(item)`` accepts them (a run claims
    each), at most ``max_release`` and MAX_COPIES copies to verify again (a release to finish verifies
    nothing). Returns (items, copies, more)."""
    items, copies, more = [], 0, False
    for item in release_candidates(config, now, problems, settle):
        needed = 0 if item.get("settle") else len(destinations_of(config["routes"][item["route"]]))
        if len(items) >= config["retention"]["max_release"] or copies + needed > MAX_COPIES:
            more = True
            break
        if take(item):
            items.append(item)
            copies += needed
    return items, copies, more


def ship_again(ledger, record, reason, now, run_id):
    """A shipped scan one of whose copies failed a fresh verification: pending again with a fresh attempt count,
    off the shipped index and the release queue, so the next tick ships it again (its DAQ copy checked against the
    manifest first) and its DAQ copy stays until every copy verifies. Returns the record; a person hears of it
    (``reverify_failed``)."""
    experiment, scan = record["experiment"], record["scan"]
    record = dict(record)
    record.update(
        state="pending",
        attempts=0,
        retry_after=None,
        last_error=reason,
        run_id=run_id,
        updated_at=iso_time(now),
        reverify_failed_at=iso_time(now),
    )
    write_record(ledger, record)
    unmark_shipped_index(ledger, experiment, scan)
    unqueue_release(ledger, experiment, scan, record.get("shipped_at"))
    bump_generation(ledger)  # its experiment may be cached as all shipped: the next tick must look again
    return record


def interrupted(config, root_real, experiment, scan, record):
    """Whether this tool began a release of the scan and did not finish it: its record says ``releasing``, or was
    moved to released/ while the queue still held it, or its DAQ copy is gone and a trash of its name is there (a
    crash between the rename and the record). A directory of the trash's name beside a scan still on the DAQ is
    nobody's release of ours: it is never taken for one (the rename, finding it, keeps the scan)."""
    import os

    if (record or {}).get("state") == "releasing" or os.path.exists(released_path(config["ledger"], experiment, scan)):
        return True
    trash = os.path.lexists(trash_path(root_real, experiment, scan))
    return trash and not os.path.lexists(os.path.join(root_real, experiment, RAW_DATA, scan))


def trash_path(root_real, experiment, scan):
    """Where a scan's DAQ copy waits for deletion: a hidden name in its rawData (the same filesystem, so
    the rename is atomic), of fixed length (a 240-byte scan name plus a prefix would not fit in 255)."""
    import hashlib
    import os

    digest = hashlib.sha256(scan.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return os.path.join(root_real, experiment, RAW_DATA, TRASH_PREFIX + digest)


def released_path(ledger, experiment, scan):
    return ledger_path(ledger, "released", experiment, scan + ".json")


def read_released(ledger, experiment, scan):
    return read_json(released_path(ledger, experiment, scan))


def link_problem(root_real, experiment, scan):
    """Why the scan's DAQ copy is not where its name says (a link on the way: the scan directory, its rawData
    or its experiment), or None. Removing such a copy would remove a link and leave the bytes where it led."""
    import os

    path = os.path.join(root_real, experiment, RAW_DATA, scan)
    if os.path.realpath(path) == path:
        return None
    return f"its DAQ copy {path} is reached through a symbolic link; links are never released (or followed)"


def release_copy(config, record, now, destinations):
    """Remove a verified scan's DAQ copy (see the module docstring for the order). Returns (state, reason):
    ("released", None), ("releasing", why its delete could not finish) or ("kept", why nothing was removed)."""
    import os

    root = real_root(config["daq_root"])
    experiment, scan = record["experiment"], record["scan"]
    problem = link_problem(root, experiment, scan)
    if problem:
        return "kept", problem + "; nothing was released"
    _name_released(config["ledger"], experiment, scan)
    try:
        os.rename(os.path.join(root, experiment, RAW_DATA, scan), trash_path(root, experiment, scan))
    except OSError as exc:
        return "kept", f"its DAQ copy could not be moved aside for removal ({exc.strerror or exc}); it stays"
    record = dict(record, state="releasing", reason=None, last_error=None, updated_at=iso_time(now))
    if destinations:
        record["destinations"] = destinations
    write_record(config["ledger"], record)
    return _settle(config, root, record, now)


def finish_release(config, experiment, scan, now):
    """Finish a release a crash or a stuck delete left unfinished (see ``interrupted``): the DAQ copy is renamed
    to the trash only ever after its verification, so what is left is to empty the trash and settle the
    ledger. Returns (state, reason) as ``release_copy``."""
    ledger = config["ledger"]
    record, _problem = read_record(ledger, experiment, scan)
    if record is None:
        record, _problem = read_released(ledger, experiment, scan)
    record = record or {"experiment": experiment, "scan": scan}
    return _settle(config, real_root(config["daq_root"]), record, now)


def _settle(config, root, record, now):
    """Steps after the rename: the trash deleted; then, only once nothing of it is left, the record to released/,
    the scan's other ledger entries gone. A delete that cannot finish keeps the record ``releasing``, its reason
    said (the state's time kept while the reason stays, so a person is told once)."""
    import os

    ledger = config["ledger"]
    experiment, scan = record["experiment"], record["scan"]
    left = _delete_tree(trash_path(root, experiment, scan))
    if left:
        since = record.get("releasing_at") if record.get("state") == "releasing" else None
        record = dict(record, state="releasing", reason=left, releasing_at=since or iso_time(now))
        write_record(ledger, dict(record, updated_at=iso_time(now)))
        return "releasing", left
    _name_released(ledger, experiment, scan)
    path = released_path(ledger, experiment, scan)
    if not os.path.exists(path):
        released = dict(record, state="released", reason=None, released_at=iso_time(now), updated_at=iso_time(now))
        atomic_write(path, encode_json(dict(released, version=1)))
    remove_if_present(ledger_path(ledger, "scans", experiment, scan + ".json"))
    unmark_shipped_index(ledger, experiment, scan)
    clear_claims(ledger, experiment, scan)
    unqueue_release(ledger, experiment, scan, record.get("shipped_at"))
    return "released", None


def _delete_tree(path):
    """Delete a trash directory, children first; None once nothing of it is left, else one sentence naming
    what stays and why (the next run tries again)."""
    import os

    failures = []

    def attempt(remove, target):
        try:
            remove(target)
        except FileNotFoundError:
            pass
        except OSError as exc:
            failures.append((target, exc.strerror or str(exc)))

    if not os.path.lexists(path):
        return None
    if os.path.islink(path) or not os.path.isdir(path):
        attempt(os.unlink, path)
    else:
        for directory, subdirectories, files in os.walk(path, topdown=False, onerror=lambda exc: None):
            for name in files:
                attempt(os.unlink, os.path.join(directory, name))
            for name in subdirectories:
                entry = os.path.join(directory, name)
                attempt(os.unlink if os.path.islink(entry) else os.rmdir, entry)
        attempt(os.rmdir, path)
    if not os.path.lexists(path):
        return None
    failed, reason = failures[0] if failures else (path, "it could not be read")
    shown = os.path.relpath(failed, path) if failed != path else os.path.basename(path)
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return (
        f"its DAQ copy could not be deleted completely: {shown} in {path}: {reason}{more}; it is tried again every run"
    )


def probe_name(destination):
    """The name, in each experiment's rawData at a destination, of the probe a release run copies there: fixed
    per destination (the next release run overwrites it), so a DAQ that sees it knows which one maps onto it."""
    import hashlib

    key = "{}\0{}".format(destination.get("collection"), destination.get("base_path"))
    return PROBE_NAME + "-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def write_probes(root_real, experiments, run_id):
    """This run's id in ``<experiment>/rawData/.palxfel-globus-probe`` for each experiment it releases from:
    the file the flow copies to every destination before anything is released (``probe_seen``). Returns the
    experiments that got one (none is written through a link that leaves the root)."""
    import os

    written = []
    for experiment in experiments:
        try:
            raw = confined(root_real, experiment, RAW_DATA)
            atomic_write(os.path.join(raw, PROBE_NAME), run_id.encode("utf-8"), durable=False)
        except (DaqError, OSError):
            continue  # its scans are kept: their release finds no probe, or refuses the link
        written.append(experiment)
    return written


def probe_seen(root_real, experiment, name):
    """Whether a probe copied to a destination (``name``: see ``probe_name``) has ever arrived on the DAQ itself:
    the destination is the DAQ's own storage, under another collection or path (a bind mount, a second
    collection onto the same files), and a release would leave no copy anywhere. The DAQ host cannot look at a
    destination; it can only see whether what was written there appeared here. Any such file counts, whichever
    run wrote it (two runs may overlap), and it stays: only a person's 'scans retry' of a scan blocked for it
    removes it (``forget_probes``), after which the next release run probes again."""
    import os

    return os.path.lexists(os.path.join(root_real, experiment, RAW_DATA, name))


def forget_probes(root_real, experiment):
    """Remove the probes that came back to an experiment's rawData (a person says the destination is fixed)."""
    import os

    raw = os.path.join(root_real, experiment, RAW_DATA)
    try:
        names = [name for name in os.listdir(raw) if name.startswith(PROBE_NAME + "-")]
    except OSError:
        return
    for name in names:
        remove_if_present(os.path.join(raw, name))


def released_records(ledger):
    """Every record in released/ (the recent ones, one file each), oldest release first."""
    import os

    records = []
    for experiment in plain_names(os.path.join(ledger, "released")):
        for name in plain_names(ledger_path(ledger, "released", experiment)):
            record, _problem = read_json(ledger_path(ledger, "released", experiment, name))
            if record is not None:
                records.append(record)
    records.sort(key=lambda record: (str(record.get("released_at")), record["experiment"], record["scan"]))
    return records


def archive_summary(ledger, experiment):
    """{count, bytes, size, batch} of an experiment's archived records ({} when there are none)."""
    summary, _problem = read_json(ledger_path(ledger, "archive", experiment + ".json"))
    return summary or {}


def compact_released(ledger, keep=KEEP_RELEASED):
    """Move all but the ``keep`` most recent released records into their experiments' archives, so that
    listing the ledger costs the same after 100,000 releases as after 100. Returns how many moved.

    Per experiment: the lines file is cut back to the size its summary vouches for (a crash may have
    left lines beyond it), the records appended and synced, the summary replaced (naming the batch),
    and only then the single files removed; a batch a crash left behind is removed first."""
    import os

    for experiment in plain_names(os.path.join(ledger, "released")):
        for scan in (
            archive_summary(ledger, experiment).get("batch") or []
        ):  # archived before a crash, files not yet removed
            remove_if_present(released_path(ledger, experiment, scan))
    records = released_records(ledger)
    older = records[: max(0, len(records) - keep)]
    by_experiment = {}
    for record in older:
        by_experiment.setdefault(record["experiment"], []).append(record)
    for experiment, batch in by_experiment.items():
        _archive(ledger, experiment, batch)
    return len(older)


def _archive(ledger, experiment, batch):
    import json
    import os

    summary = archive_summary(ledger, experiment)
    lines = ledger_path(ledger, "archive", experiment + ".jsonl")
    os.makedirs(os.path.dirname(lines), exist_ok=True)
    with open(lines, "ab") as handle:
        handle.truncate(int(summary.get("size", 0)))
        for record in batch:
            line = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            handle.write(line.encode("utf-8") + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
        size = handle.tell()
    summary = {
        "count": int(summary.get("count", 0)) + len(batch),
        "bytes": int(summary.get("bytes", 0)) + sum(int(record.get("bytes") or 0) for record in batch),
        "size": size,
        "batch": [record["scan"] for record in batch],
    }
    atomic_write(ledger_path(ledger, "archive", experiment + ".json"), encode_json(summary))
    for record in batch:
        remove_if_present(released_path(ledger, experiment, record["scan"]))
    try:  # a directory that held thousands of names stays slow to list even once emptied
        os.rmdir(ledger_path(ledger, "released", experiment))
    except OSError:  # not empty: recent records stay in it
        pass


def archived_records(ledger, experiment):
    """The archived released records of an experiment (reads the whole lines file: for --all only)."""
    import json

    summary = archive_summary(ledger, experiment)
    try:
        with open(ledger_path(ledger, "archive", experiment + ".jsonl"), "rb") as handle:
            data = handle.read(int(summary.get("size", 0)))
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
