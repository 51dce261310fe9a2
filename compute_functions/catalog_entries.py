"""Compute function: the Globus Search catalog entries of shipped scans, and what became of them.

With ``[catalog] index``, every shipped scan gets one entry in that index. Its subject is the scan's
backup as a ``globus://COLLECTION/PATH`` URL, so shipping a scan again replaces its entry instead of
adding one; its content says what the scan is (experiment, kind, dates, name and number, files,
bytes, checksum algorithm, the manifest beside it, when it shipped, where it is) and what the DAQ
wrote in its ScanInfo and PulseInfo directories, bounded in size. It is visible to the principals
of the experiment's ``[[share]]`` entries, to everyone only with ``[catalog] public = true``, and
otherwise to whoever runs the flow.

Which entries are due is known without walking the archive: record_outcome leaves an empty file
``catalog/<experiment>/<scan>`` in the ledger when a scan ships (or ships again), and the first run
with a new index queues every scan already shipped (a backfill, once). Called on the DAQ endpoint
twice in a run with entries due: ``catalog_entries(config, owner)`` plans a batch, which the flow
ingests one entry per Search ingest action, as the action provider documents (at most MAX_ENTRIES
and MAX_BATCH_BYTES: each entry is an action, and the batch sits in the run state, capped at 200 KB;
the rest follow next run); then ``catalog_entries(config, owner, ingested=[...], refused=...)``
clears what Search took, unless a scan shipped again meanwhile (then its new entry is still due).
The flow stops at the first refusal: that entry waits REFUSED_RETRY_SECONDS (so one entry Search
will not take never holds up the others, and a refusing index costs one action a run), and the
catalog step's failure is a sentence in the run and, when it keeps failing, an e-mail.
"""

from _layout import (
    RAW_DATA,
    DaqError,
    confined,
    destination_path,
    destinations_of,
    ledger_inside_root,
    parse_experiment_name,
    parse_scan_name,
    primary_destination,
    real_root,
    route_for,
    share_principals,
)
from _ledger import (
    CATALOG_INDEX_FILE,
    atomic_write,
    catalog_filled_for,
    encode_json,
    ledger_path,
    note_side_step,
    plain_names,
    queue_for_catalog,
    read_json,
    read_manifest,
    read_record,
    remove_if_present,
)
from _release import read_released

MAX_ENTRIES = 20  # entries (one Search ingest action each) a run makes, as many as the sharing loop's rules
MAX_BATCH_BYTES = 32_000  # their JSON; the plan sits twice in the run state (result and results)
REFUSED_RETRY_SECONDS = 6 * 3600  # an entry Search refused waits this long; the others go on
MAX_METADATA_BYTES = 1_500  # of an entry's metadata, as JSON
MAX_METADATA_FILE_BYTES = 16_384  # read of one metadata file; a larger or binary file is listed only
MAX_METADATA_FILES = 20  # listed per metadata directory
MAX_VALUE_CHARS = 200
METADATA_DIRECTORIES = ("ScanInfo", "PulseInfo")


def _subject(collection, path):
    from urllib.parse import quote

    return "globus://" + collection + quote(path, safe="/~-._")


def _visible_to(experiment, config, owner):
    if config["catalog"].get("public"):
        return ["public"]
    principals = sorted(share_principals(experiment, config.get("shares") or []))
    return principals or [owner]


def _text_values(text):
    """{key: value} from a JSON object or ``key = value`` / ``key: value`` lines."""
    import json
    import re

    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        return {str(key): value for key, value in document.items() if isinstance(value, (str, int, float, bool))}
    values = {}
    for line in text.splitlines():
        match = re.match(r"\s*([A-Za-z_][\w .\-/()]{0,63}?)\s*[=:\t]\s*(.*?)\s*$", line)
        if match and not line.lstrip().startswith(("#", ";")):
            values[match.group(1)] = match.group(2)
    return values


def _file_values(path):
    """The values a small text file holds; {} for a binary, large or unreadable one (or a link)."""
    import os

    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return {}
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(MAX_METADATA_FILE_BYTES + 1)
    if len(data) > MAX_METADATA_FILE_BYTES or b"\x00" in data:
        return {}
    try:
        return _text_values(data.decode("utf-8"))
    except UnicodeDecodeError:
        return {}


def scan_metadata(root, experiment, scan):
    """{ScanInfo: {files: [names], values: {key: value}}, PulseInfo: ...} as far as the DAQ wrote them, at
    most MAX_METADATA_BYTES of JSON ("truncated": true when something was left out). HDF5 and other
    binary files are listed by name: the function has the standard library only."""
    import json
    import os

    metadata, used, truncated = {}, 0, False
    for name in METADATA_DIRECTORIES:
        try:
            directory = confined(root, experiment, RAW_DATA, scan, name)
            with os.scandir(directory) as listing:
                entries = sorted(
                    (entry for entry in listing if entry.is_file(follow_symlinks=False)), key=lambda e: e.name
                )
        except (DaqError, OSError):
            continue
        truncated = truncated or len(entries) > MAX_METADATA_FILES
        part = {"files": [entry.name for entry in entries[:MAX_METADATA_FILES]], "values": {}}
        used += len(json.dumps(part, ensure_ascii=False))
        for entry in entries[:MAX_METADATA_FILES]:
            for key, value in _file_values(entry.path).items():
                value = value[:MAX_VALUE_CHARS] if isinstance(value, str) else value
                size = len(json.dumps({key: value}, ensure_ascii=False))
                if used + size > MAX_METADATA_BYTES:
                    truncated = True
                    continue
                part["values"][key] = value
                used += size
        metadata[name] = part
    if truncated:
        metadata["truncated"] = True
    return metadata


def _entry(config, root, route, record, owner, manifest_ships):
    experiment, scan = record["experiment"], record["scan"]
    named = parse_experiment_name(experiment) or {}
    parsed = parse_scan_name(scan) or {}
    primary = primary_destination(route)
    path = destination_path(primary, experiment, scan)
    algorithm = record.get("algorithm")
    if algorithm is None:  # shipped before records kept it
        try:
            manifest, _digest = read_manifest(config["ledger"], experiment, scan)
        except ValueError:  # damaged: the entry goes without it
            manifest = None
        algorithm = (manifest or {}).get("algorithm")
    content = {
        "experiment": experiment,
        "kind": named.get("kind"),
        "experiment_date": named.get("date"),
        "scan": scan,
        "scan_name": parsed.get("name"),
        "scan_number": parsed.get("number"),
        "scan_date": parsed.get("date"),
        "files": record.get("files"),
        "bytes": record.get("bytes"),
        "checksum_algorithm": algorithm,
        "manifest": path.rstrip("/") + ".manifest.json" if manifest_ships else None,
        "manifest_digest": record.get("manifest_digest"),
        "shipped_at": record.get("shipped_at"),
        "destinations": [
            {"collection": place["collection"], "path": place["path"]} for place in record.get("destinations") or []
        ]
        or [
            {"collection": place["collection"], "path": destination_path(place, experiment, scan)}
            for place in destinations_of(route)
        ],
        "metadata": scan_metadata(root, experiment, scan),
    }
    return {
        "subject": _subject(primary["collection"], path),
        "visible_to": _visible_to(experiment, config, owner),
        "content": content,
    }


def _due(ledger):
    """(experiment, scan) of each entry due, experiment by experiment; read lazily, so a run that takes
    only a batch reads only as far as the batch."""
    import os

    for experiment in plain_names(os.path.join(ledger, "catalog")):
        for scan in plain_names(ledger_path(ledger, "catalog", experiment)):
            yield experiment, scan


def _backfill(ledger, index):
    """Queue every shipped scan once for an index this ledger has not filled yet; returns how many."""
    import os

    if catalog_filled_for(ledger, index):
        return 0
    queued = 0
    for experiment in plain_names(os.path.join(ledger, "shipped")):
        for scan in plain_names(ledger_path(ledger, "shipped", experiment)):
            queued += queue_for_catalog(ledger, experiment, scan)
    atomic_write(os.path.join(ledger, CATALOG_INDEX_FILE), encode_json({"index": index, "queued": queued}))
    return queued


def _refused_at(ledger, experiment, scan):
    """When Search last refused the scan's entry (the due file then says so), or None."""
    document, _problem = read_json(ledger_path(ledger, "catalog", experiment, scan))
    return (document or {}).get("refused_at")


def _plan(config, owner, now):
    ledger = config["ledger"]
    root = real_root(config["daq_root"])
    queued = _backfill(ledger, config["catalog"]["index"])
    manifest_ships = ledger_inside_root(root, ledger)
    due, notes, size, more, waiting = [], [], 0, False, 0
    for experiment, scan in _due(ledger):
        refused_at = _refused_at(ledger, experiment, scan)
        if refused_at is not None and now - refused_at < REFUSED_RETRY_SECONDS:
            waiting += 1
            continue
        record, problem = read_record(ledger, experiment, scan)
        if record is None and not problem:  # released (its DAQ copy gone) before its entry was made
            record, problem = read_released(ledger, experiment, scan)
        if problem:
            notes.append(problem)
            continue
        if record is None or record.get("state") not in ("shipped", "released"):  # forgotten: shipping again queues it
            remove_if_present(ledger_path(ledger, "catalog", experiment, scan))
            continue
        route = route_for(experiment, config["routes"])
        if route is None:
            notes.append(f"{experiment} has no route now, so its scans are not catalogued")
            continue
        entry = _entry(config, root, route, record, owner, manifest_ships)
        weight = len(encode_json(entry))
        if len(due) >= MAX_ENTRIES or (due and size + weight > MAX_BATCH_BYTES):
            more = True
            break
        due.append(dict(entry, scan={"experiment": experiment, "scan": scan, "shipped_at": record.get("shipped_at")}))
        size += weight
    if queued:
        notes.append(f"{queued} scan{'' if queued == 1 else 's'} shipped before are queued for the new catalog")
    if waiting:
        notes.append(f"{waiting} catalog entr{'y waits' if waiting == 1 else 'ies wait'} after Search refused it")
    if more:
        notes.append(f"more catalog entries are due than a run takes ({len(due)}): the rest follow next run")
    return {"due": due, "more": more, "notes": list(dict.fromkeys(notes))[:10]}


def _record(config, ingested, refused, now):
    """Clear the due files of what Search took, unless the scan shipped again since (its new entry is
    still due); mark the entry Search ``refused`` ({scan, reason}) so it waits; note how the step went."""
    import os

    ledger = config["ledger"]
    cleared = 0
    for item in ingested:
        experiment, scan = item["experiment"], item["scan"]
        record, _problem = read_record(ledger, experiment, scan)
        if record is not None and record.get("shipped_at") != item.get("shipped_at"):
            continue
        remove_if_present(ledger_path(ledger, "catalog", experiment, scan))
        cleared += 1
        try:
            os.rmdir(ledger_path(ledger, "catalog", experiment))
        except OSError:  # not empty yet
            pass
    failed = None
    if refused:
        scan_id = f"{refused['scan']['experiment']}/{refused['scan']['scan']}"
        failed = f"Search refused the catalog entry of {scan_id}: {str(refused.get('reason'))[:300]}"
        path = ledger_path(ledger, "catalog", refused["scan"]["experiment"], refused["scan"]["scan"])
        if os.path.exists(path):  # still due (not cleared by a run that took it meanwhile)
            atomic_write(path, encode_json({"refused_at": now, "reason": failed}))
    news = note_side_step(ledger, "catalog", failed, now)
    note = f"; {cleared} catalog entr{'y' if cleared == 1 else 'ies'} ingested" if cleared else ""
    if failed:
        note += f"; catalog: {failed} (it waits {REFUSED_RETRY_SECONDS // 3600} hours, the rest are due next run)"
    return {"catalogued": cleared, "note": note, "failed": failed, "news": [news] if news else []}


def catalog_entries(config, owner, ingested=None, refused=None, now=None):
    """Without ``ingested``: {due: [{subject, visible_to, content, scan: {experiment, scan, shipped_at}}], more,
    notes}, each entry the Search ingest action provider's documented input. With ``ingested`` (the ``scan``
    of each entry Search took) and ``refused`` ({scan, reason} of the one it refused, or None): {catalogued,
    note, failed, news}. ``owner`` (the run's user, a principal URN) sees the entries no [[share]] names."""
    import time

    if not config.get("catalog"):
        raise DaqError("The config has no [catalog] index; there is nothing to catalogue.")
    now = time.time() if now is None else now
    if ingested is not None:
        return _record(config, ingested, refused, now)
    return _plan(config, owner, now)
