"""The ledger on the DAQ side: one small JSON record per scan, claims, manifests.

Layout under the ledger directory (names are the experiment and scan directory names):

    scans/<experiment>/<scan>.json        the record: pending, shipped, failed, quarantined, blocked,
                                          releasing, restored
    shipped/<experiment>/<scan>           empty; present only once the record says shipped,
                                          so a tick lists shipped scans in one readdir
    claims/<experiment>/<scan>.<gen>.claim     a run's lease, generation <gen>
    claims/<experiment>/<scan>.<gen>.released  that lease given back
    manifests/<experiment>/<scan>.json    the checksum manifest
    catalog/<experiment>/<scan>           empty; the scan's catalog entry is due (made or replaced);
                                          after Search refused it, when and why
    side-steps/<step>.json                a side step (catalog, sharing) failing run after run
    palxfel_globus.prom, metrics.json     the figures for Prometheus, rewritten by every run, and their counters
                                          (see _metrics; metrics.lock is held while they are written)

Every write is atomic (temp file, fsync, rename, fsync of the directory) and a claim is an
exclusive create (temp file, fsync, hard link to the final name), so a crash at any point
leaves either the old or the new file, and a shared filesystem sees one winner.
Standard library only, valid on Python 3.9 (see _layout).
"""

from _layout import DaqError

LEDGER_VERSION = 1
CLAIM_SUFFIX = ".claim"
RELEASED_SUFFIX = ".released"
TEMP_PREFIX = ".tmp-"
GENERATION_FILE = "generation"
SETTLE_SECONDS = 120  # a stamp is trusted only once this old, so a coarse mtime cannot hide a change
FOREIGN_LEASE_SECONDS = 12 * 3600  # a lease file we cannot read is honoured this long
STAT_THREADS = 16  # concurrent rawData stats in a tick: beyond 16 nothing more was gained here
STAT_WINDOW = 4 * STAT_THREADS  # experiments whose stamps are read together


def ledger_path(ledger, area, experiment, name=None):
    import os

    for part in (experiment, name):
        if part is not None and (not part or part in (".", "..") or "/" in part or "\x00" in part):
            raise DaqError(f"Refusing the ledger name {part!r}: it is not a plain name.")
    directory = os.path.join(ledger, area, experiment)
    return directory if name is None else os.path.join(directory, name)


def _fsync_dir(directory):
    import os

    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(directory, data, durable):
    import os
    import uuid

    os.makedirs(directory, exist_ok=True)
    # not derived from final_name: a scan name near the 255-byte limit would overflow it
    temp = os.path.join(directory, f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    return temp


def encode_json(document):
    import json

    return (json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode("utf-8")


def _publish(path, data, exclusive, durable=None):
    """Write a temp file, then move it into place: ``os.replace``, or ``os.link`` when the
    name must not exist yet (a hard link never overwrites: that is the exclusive create).

    Only replaced files (the records) are synced, file and directory: the exclusive creates
    are leases and index entries, whose loss in a power cut costs at most a retry (a claim
    that vanished or came back empty is free again; a lost release expires with its lease;
    a lost index entry is rebuilt from its record), and a tick makes one per scan."""
    import os

    directory = os.path.dirname(path)
    durable = not exclusive if durable is None else durable
    temp = _write_temp(directory, data, durable=durable)
    try:
        (os.link if exclusive else os.replace)(temp, path)
    except FileExistsError:
        return False
    finally:
        remove_if_present(temp)
    if durable:
        _fsync_dir(directory)
    return True


def atomic_write(path, data, durable=True):
    """Replace ``path`` with ``data`` so a reader sees the old or the new bytes, never a mix; not
    ``durable`` (no fsync) for a cache, which a crash may leave empty (its reader then rebuilds it)."""
    _publish(path, data, exclusive=False, durable=durable)


def exclusive_create(path, data):
    """Create ``path`` with ``data`` only if it does not exist; True if this call made it."""
    return _publish(path, data, exclusive=True)


def remove_if_present(path):
    import os

    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_json(path):
    """(document, None), (None, None) when absent, or (None, problem sentence) when unreadable."""
    import json

    try:
        with open(path, "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"The ledger file {path} is unreadable ({exc}); inspect it or run 'palxfel-globus scans forget'."
    if not isinstance(document, dict):
        return None, f"The ledger file {path} does not hold a JSON object; inspect it or remove it."
    return document, None


def read_record(ledger, experiment, scan):
    return read_json(ledger_path(ledger, "scans", experiment, scan + ".json"))


def write_record(ledger, record):
    record = dict(record, version=LEDGER_VERSION)
    atomic_write(ledger_path(ledger, "scans", record["experiment"], record["scan"] + ".json"), encode_json(record))


def plain_names(directory):
    """The names in a ledger directory, sorted, without temp files and other dot names; [] when it is absent."""
    import os

    try:
        return sorted(name for name in os.listdir(directory) if not name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):  # a file where a directory belongs holds no entries
        return []


def day_queue(directory):
    """(day, experiment, name, mtime) of each entry of a queue kept by day (``<directory>/<YYYYMMDD>/<experiment>/
    <name>``, empty files whose mtime is the entry's time), oldest day first: a reader stops once it has what it
    needs, so it lists only the days it reaches, never the whole queue."""
    import os

    for day in plain_names(directory):
        for experiment in plain_names(os.path.join(directory, day)):
            try:
                entries = list(os.scandir(os.path.join(directory, day, experiment)))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    yield day, experiment, entry.name, entry.stat().st_mtime
                except FileNotFoundError:
                    continue


def shipped_names(ledger, experiment):
    """Scans of an experiment that the shipped index lists, from one directory read."""
    return set(plain_names(ledger_path(ledger, "shipped", experiment)))


def mark_shipped_index(ledger, experiment, scan):
    path = ledger_path(ledger, "shipped", experiment, scan)
    exclusive_create(path, b"")


def unmark_shipped_index(ledger, experiment, scan):
    remove_if_present(ledger_path(ledger, "shipped", experiment, scan))


CATALOG_INDEX_FILE = "catalog-index.json"  # the index the ledger's shipped scans were queued for


def catalog_filled_for(ledger, index):
    """Whether the scans shipped before ``index`` was configured have been queued for it (the backfill)."""
    import os

    known, _problem = read_json(os.path.join(ledger, CATALOG_INDEX_FILE))
    return (known or {}).get("index") == index


def catalog_due(ledger, index):
    """Whether a run's catalog step has anything to do: entries due, or an index not filled yet. One readdir
    and one small read, so a quiet tick skips the step's Compute action."""
    import os

    if not index:
        return False
    return not catalog_filled_for(ledger, index) or bool(plain_names(os.path.join(ledger, "catalog")))


SHARES_PLAN_FILE = "shares-plan.json"  # what the last plan of access rules was made from, and what it left


def shares_due(ledger, fingerprint, now):
    """Whether a run must plan access rules beyond the experiments it shipped: the config's shares changed
    since the last plan (removing the last [[share]] too), that plan left changes to make, or a destination
    that refused is due to be asked again."""
    import os

    last, _problem = read_json(os.path.join(ledger, SHARES_PLAN_FILE))
    if last is None:
        return fingerprint is not None
    retry_at = last.get("retry_at")
    refused_due = retry_at is not None and retry_at <= now
    return last.get("fingerprint") != fingerprint or bool(last.get("pending")) or refused_due


def queue_for_catalog(ledger, experiment, scan):
    """The scan's catalog entry is due: the catalog step finds it from a readdir of what is due, never by
    walking the archive. True if it was not due yet. The catalog step removes an experiment's directory
    once it is empty, so a create that lost that race is made again."""
    path = ledger_path(ledger, "catalog", experiment, scan)
    for attempt in range(4):
        try:
            return exclusive_create(path, b"")
        except FileNotFoundError:
            if attempt == 3:
                raise


def parse_claim_name(name):
    """``<scan>.<gen>.claim`` / ``.released`` -> (scan, gen, kind); None for foreign names."""
    import re

    match = re.fullmatch(r"(.+_DIR)\.(\d+)\.(claim|released)", name, re.DOTALL)
    if not match:
        return None
    return match.group(1), int(match.group(2)), match.group(3)


def claim_index(ledger, experiment):
    """{scan: {gen: {"claim": bool, "released": bool}}} for an experiment, from one readdir."""
    import os

    index = {}
    try:
        names = os.listdir(ledger_path(ledger, "claims", experiment))
    except (FileNotFoundError, NotADirectoryError):
        return index
    for name in names:
        parsed = parse_claim_name(name)
        if parsed is None:
            continue
        scan, gen, kind = parsed
        index.setdefault(scan, {}).setdefault(gen, {"claim": False, "released": False})[kind] = True
    return index


def current_claim(ledger, experiment, scan, generations, now):
    """The newest generation's lease: {gen, run_id, expires_at, active}, or None."""
    import os

    claimed = [gen for gen, kinds in generations.items() if kinds["claim"]]
    if not claimed:
        return None
    gen = max(claimed)
    path = ledger_path(ledger, "claims", experiment, f"{scan}.{gen}{CLAIM_SUFFIX}")
    lease, _problem = read_json(path)
    if lease is None:
        try:
            info = os.stat(path)
        except FileNotFoundError:
            info = None
        # empty: its writer died before the data reached the disk; anything else is foreign
        expires_at = info.st_mtime + FOREIGN_LEASE_SECONDS if info is not None and info.st_size else 0
        lease = {"run_id": None, "expires_at": expires_at}
    released = generations[gen]["released"]
    expires_at = float(lease.get("expires_at", 0))
    # a run of the local engine that died (its lock is free) holds nothing, whatever its lease says;
    # a run in Globus leaves no lock here, so its lease is all there is to go by
    active = not released and expires_at > now and not local_run_has_ended(ledger, lease.get("run_id"))
    return {
        "gen": gen,
        "run_id": lease.get("run_id"),
        "expires_at": expires_at,
        "released": released,
        "active": active,
    }


def acquire_claim(ledger, experiment, scan, run_id, now, lease_seconds, generations):
    """Take the next generation's lease; the gen number, or None when another run holds it.

    Generation numbers make a takeover of an expired lease an exclusive create like any
    other claim: two runs that both see generation N expired race for N+1 and one wins.
    A run that created a generation older than one now present has lost and gives it back.
    """
    current = current_claim(ledger, experiment, scan, generations, now)
    if current is not None and current["active"]:
        return None
    gen = 1 if current is None else current["gen"] + 1
    lease = {"run_id": run_id, "claimed_at": now, "expires_at": now + lease_seconds, "scan": scan}
    path = ledger_path(ledger, "claims", experiment, f"{scan}.{gen}{CLAIM_SUFFIX}")
    if not exclusive_create(path, encode_json(lease)):
        return None
    newest = max(claim_index(ledger, experiment).get(scan, {gen: None}))
    if newest > gen:
        release_generation(ledger, experiment, scan, gen, run_id)
        return None
    return gen


def release_generation(ledger, experiment, scan, gen, run_id):
    path = ledger_path(ledger, "claims", experiment, f"{scan}.{gen}{RELEASED_SUFFIX}")
    exclusive_create(path, encode_json({"run_id": run_id}))


def local_run_lock_path(ledger, run_id):
    """Where a run on the local engine keeps a file locked for as long as it runs (see
    ``palxfel_globus.backup``); its lock dies with the process, however the process ends."""
    import os
    import re

    if not isinstance(run_id, str) or not re.fullmatch(r"[0-9a-fA-F-]{1,64}", run_id):
        return None
    return os.path.join(ledger, "runs", run_id + ".lock")


def local_run_has_ended(ledger, run_id):
    """True when ``run_id`` ran on the local engine and its process is gone (its lock is free)."""
    import fcntl
    import os

    path = local_run_lock_path(ledger, run_id)
    try:
        fd = os.open(path, os.O_RDONLY) if path else None
    except OSError:
        return False
    if fd is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def release_claim(ledger, experiment, scan, run_id, now):
    """Give back this run's lease; True if it held the newest one."""
    generations = claim_index(ledger, experiment).get(scan, {})
    current = current_claim(ledger, experiment, scan, generations, now)
    if current is None or current["run_id"] != run_id or current["released"]:
        return False
    release_generation(ledger, experiment, scan, current["gen"], run_id)
    return True


def release_run_claims(ledger, run_id, now):
    """Give back every lease ``run_id`` still holds, wherever it is: for a run that ended before it
    could say which scans it took (its discovery failed or timed out after claiming some).
    Returns the scans released, as EXPERIMENT/SCAN."""
    import os

    released = []
    try:
        experiments = sorted(os.listdir(os.path.join(ledger, "claims")))
    except FileNotFoundError:
        return released
    for experiment in experiments:
        for scan in sorted(claim_index(ledger, experiment)):
            if release_claim(ledger, experiment, scan, run_id, now):
                released.append(f"{experiment}/{scan}")
    return released


def clear_claims(ledger, experiment, scan):
    """Remove every lease file of a scan once its record is final (shipped or forgotten)."""
    import os

    directory = ledger_path(ledger, "claims", experiment)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        parsed = parse_claim_name(name)
        if parsed is not None and parsed[0] == scan:
            remove_if_present(os.path.join(directory, name))


def mtime_stamp(path):
    """A directory's mtime_ns (an entry made, removed or renamed in it changes it), or None."""
    import os

    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def experiment_stamp(root_real, experiment):
    """rawData's stamp: a new scan or a sibling marker changes it."""
    import os

    return mtime_stamp(os.path.join(root_real, experiment, "rawData"))


def experiment_stamps(root_real, experiments, pool=None):
    """{experiment: stamp} for all of them, the stats spread over ``pool``'s threads when given.

    In a steady-state tick these stats are nearly all the work, and each one waits on the
    storage (a cold inode, a round trip to a network filesystem), not on the CPU: overlapping
    them cut a cold tick over 500 experiments from 0.07 s to 0.03 s here, and more where the
    DAQ filesystem is remote.
    """
    names = list(experiments)
    if pool is None:
        return {name: experiment_stamp(root_real, name) for name in names}
    return dict(zip(names, pool.map(lambda name: experiment_stamp(root_real, name), names)))


class StampReader:
    """name -> stamp, read a window of experiments ahead at a time: a tick that stops early (max_scans
    reached in the first experiments) does not pay for the stats of all the others. One pool of threads
    for the whole tick (few experiments are not worth one); ``close()`` ends it."""

    def __init__(self, root_real, experiments):
        self.root_real = root_real
        self.names = list(experiments)
        self.position = {name: index for index, name in enumerate(self.names)}
        self.known = {}
        self.pool = None
        if len(self.names) >= 2 * STAT_THREADS:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=STAT_THREADS)

    def __call__(self, name):
        if name not in self.known:
            start = self.position[name]
            window = self.names[start : start + STAT_WINDOW]
            self.known.update(experiment_stamps(self.root_real, window, self.pool))
        return self.known[name]

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()


def read_generation(ledger):
    """A counter that every manual change to the ledger (retry, forget) moves on."""
    import os

    try:
        with open(os.path.join(ledger, GENERATION_FILE), "rb") as handle:
            return int(handle.read().decode("ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


def bump_generation(ledger):
    import os

    os.makedirs(ledger, exist_ok=True)
    atomic_write(os.path.join(ledger, GENERATION_FILE), b"%d\n" % (read_generation(ledger) + 1))


def manifest_path(ledger, experiment, scan):
    return ledger_path(ledger, "manifests", experiment, scan + ".json")


def read_manifest(ledger, experiment, scan):
    """(manifest, sha256 of its bytes) from one read, or (None, None) when there is none; ValueError when the
    file is not a manifest (damaged), which each caller makes that scan's outcome alone."""
    import hashlib
    import json

    try:
        with open(manifest_path(ledger, experiment, scan), "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None, None
    manifest = json.loads(data.decode("utf-8"))
    shape = {"algorithm": str, "files": list, "file_count": int, "bytes": int}
    if not isinstance(manifest, dict) or not all(isinstance(manifest.get(key), kind) for key, kind in shape.items()):
        raise ValueError(f"the manifest of {experiment}/{scan} in the ledger is damaged")
    return manifest, hashlib.sha256(data).hexdigest()


def iso_time(timestamp):
    import datetime

    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


def manifest_is_frozen(record):
    """Whether a destination has verified a copy against the scan's manifest. From then on that manifest is
    the truth: it is never rebuilt from the DAQ's bytes, and no transfer of the scan starts before the DAQ
    copy is shown to match it (a flipped bit on the DAQ must never be synced over a verified backup)."""
    record = record or {}
    if record.get("verified_digest") or record.get("shipped_at"):
        return True
    places = record.get("destinations") or []
    return any(isinstance(place, dict) and place.get("state") == "verified" for place in places)


# Why a scan is blocked, when a person must decide rather than fix a cause the next tick sees by itself:
# such a scan is looked at again only once a person ran the command its news names.
DAQ_DIFFERS = "daq_differs"  # the DAQ copy no longer matches the manifest its backups were verified against
ROUTE_IS_DAQ = "route_is_daq"  # a destination of its route is the DAQ storage itself: no distinct copy
NO_GOOD_COPY = "no_good_copy"  # the scrub found no copy of a released scan that still matches its manifest
WAITS_FOR_A_PERSON = (DAQ_DIFFERS, ROUTE_IS_DAQ, NO_GOOD_COPY)

# What a person must hear about once: a scan that became blocked, quarantined or stuck in its release. ``<state>_at``
# is when it entered that state, and ``told`` names the state and time a person was told of, so the same state is
# told once and a scan that leaves it and comes back is told again. A copy that failed its re-verification before
# release is news too (``reverify_failed``), though the scan's state is then pending: it ships again by itself, and
# its DAQ copy stays until every copy verifies.
NEWS_COMMANDS = {
    "blocked": "fix the cause on the DAQ; the scan is then pending again and ships by itself",
    DAQ_DIFFERS: (
        "compare the DAQ copy with a backup: if the backups are right, put their files back on the DAQ, then "
        "'palxfel-globus scans retry {scan}'; if the DAQ copy is right, 'palxfel-globus scans replace {scan}' "
        "ships it over the backups"
    ),
    ROUTE_IS_DAQ: (
        "give the route a destination on other storage (or fix the mount that maps it onto the DAQ), then "
        "'palxfel-globus scans retry {scan}'"
    ),
    NO_GOOD_COPY: (
        "find a good copy of its files (another backup, tape, the experiment's own disk) and put it back at one "
        "destination, then 'palxfel-globus scans retry {scan}': the next scrub reads every copy back and repairs the "
        "others from it"
    ),
    "quarantined": "palxfel-globus scans retry {scan}   (once the cause is fixed)",
    "releasing": "make the files named deletable (permissions, immutable flags); the next run deletes them",
    "reverify_failed": "none: it ships again by itself and its DAQ copy stays; check that destination's storage",
}


def _news_state(record):
    state = record.get("state")
    if state in ("blocked", "quarantined", "releasing"):
        return state
    return "reverify_failed" if record.get("reverify_failed_at") and state == "pending" else None


def news_of(record, scan_id):
    """{scan, state, since, reason, command} when nobody has been told of the scan's state yet, else None."""
    state = _news_state(record or {})
    if state is None:
        return None
    since = record.get(state + "_at")
    if record.get("told") == f"{state} {since}":
        return None
    kind = record.get("blocked_kind") if state == "blocked" else None
    return {
        "scan": scan_id,
        "state": state,
        "since": since,
        "reason": record.get("reason") or record.get("last_error") or "no reason recorded",
        "command": NEWS_COMMANDS[kind or state].format(scan=scan_id),
    }


# A side step (the catalog, the sharing) never changes what the backup did, so its failure is a sentence
# in the run; when it fails KEEPS_FAILING runs in a row, a person hears of it once for that streak.
KEEPS_FAILING = 3
SIDE_STEP_COMMANDS = {
    "catalog": "check [catalog] index with 'palxfel-globus doctor'; the entries not ingested are due again",
    "sharing": "'palxfel-globus shares list' on the DAQ host shows each rule and what Transfer holds",
}


def _side_step_path(ledger, step):
    return ledger_path(ledger, "side-steps", step + ".json")


def note_side_step(ledger, step, problem, now):
    """Record how this run's ``step`` went (``problem`` None: it worked). Returns news ({scan, step, state,
    since, reason, command}) when the step has now failed KEEPS_FAILING runs in a row and nobody was
    told of this streak yet, else None."""
    path = _side_step_path(ledger, step)
    kept, _problem = read_json(path)
    if problem is None:
        if kept is not None:
            remove_if_present(path)
        return None
    previous = kept or {}
    kept = {
        "failures": previous.get("failures", 0) + 1,
        "since": previous.get("since") or iso_time(now),
        "reason": problem,
        "told": previous.get("told"),
    }
    atomic_write(path, encode_json(kept))
    if kept["failures"] < KEEPS_FAILING or kept["told"] == kept["since"]:
        return None
    return {
        "scan": f"the {step} step",
        "step": step,
        "state": "failing",
        "since": kept["since"],
        "reason": f"{kept['failures']} runs in a row: {problem}",
        "command": SIDE_STEP_COMMANDS[step],
    }


def _mark_side_step_told(ledger, item):
    path = _side_step_path(ledger, item["step"])
    kept, _problem = read_json(path)
    if kept is None or kept.get("since") != item.get("since"):
        return 0
    atomic_write(path, encode_json(dict(kept, told=kept["since"])))
    return 1


def mark_told(ledger, news):
    """Note that a person was told of each item's state; a scan that changed state since is left as it is
    (its new state is news of its own). Returns how many records were marked."""
    marked = 0
    for item in news or []:
        if item.get("step") in SIDE_STEP_COMMANDS:
            marked += _mark_side_step_told(ledger, item)
            continue
        experiment, _, scan = str(item.get("scan")).partition("/")
        record, problem = read_record(ledger, experiment, scan)
        if problem or not record or _news_state(record) != item.get("state"):
            continue
        if record.get(item["state"] + "_at") != item.get("since"):
            continue
        write_record(ledger, dict(record, told=f"{item['state']} {item['since']}"))
        marked += 1
    return marked
