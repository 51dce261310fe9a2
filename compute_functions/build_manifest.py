"""Compute function: the checksum manifest of one scan, kept in the ledger; or, for a scan whose
backups were verified already, a check of the DAQ copy against that manifest.

Runs on the DAQ endpoint, one task per scan (the flow's fan-out), for every scan a run ships or
releases, before anything of it moves. The manifest itself stays in the ledger (and ships beside
the data); the run state gets only its digest and counts. Once a destination verified a copy
against a manifest, that manifest is the truth (``_ledger.manifest_is_frozen``): it is never
rebuilt, and a DAQ copy that no longer matches it (a flipped bit, a file rewritten) is blocked
rather than synced over the verified backups. A problem with the scan is this scan's outcome,
returned, never raised: one task that raises fails the whole action, and with it every other scan
of the run.
"""

from _checksums import checked_algorithm, compare_with_manifest, default_workers, describe_differences, hash_files
from _layout import DaqError, ScanError, checked_scan, real_root, scan_files, shown
from _ledger import (
    DAQ_DIFFERS,
    atomic_write,
    encode_json,
    iso_time,
    manifest_is_frozen,
    manifest_path,
    read_manifest,
    read_record,
)
from _release import link_problem


def _refused(experiment, scan, error, blocked, kind=None):
    return {"experiment": experiment, "scan": scan, "error": error, "blocked": blocked, "kind": kind}


def build_manifest(config, experiment, scan, algorithm="sha256", workers=None, now=None):
    """Hash every file of a scan into the ledger's manifest, or check the DAQ copy against the manifest its
    backups were verified against; returns {experiment, scan, files, bytes, manifest_digest, error: None,
    kind: None}, kept small because the flow's run state holds one per scan.

    When the scan cannot be hashed the result is {experiment, scan, error, blocked, kind}: ``blocked``
    true for what stays wrong until someone acts (a link, an unreadable file, a DAQ copy that differs from
    its verified backups: ``kind`` "daq_differs"), false for what the next attempt may not meet (a file
    that changed or vanished while it was read)."""
    import hashlib
    import time

    checked_scan(experiment, scan)
    algorithm = checked_algorithm(algorithm)
    root = real_root(config["daq_root"])
    workers = workers or default_workers()
    record, problem = read_record(config["ledger"], experiment, scan)
    if problem:
        return _refused(experiment, scan, problem, True)
    if manifest_is_frozen(record):
        return _checked_against_ledger(config, root, experiment, scan, workers)
    try:
        entries = _hashed_entries(root, experiment, scan, algorithm, workers)
    except ScanError as exc:
        return _refused(experiment, scan, str(exc), not exc.transient)
    except DaqError as exc:  # the scan or its rawData became a link out of the root
        return _refused(experiment, scan, str(exc), True)
    manifest = {
        "experiment": experiment,
        "scan": scan,
        "algorithm": algorithm,
        "file_count": len(entries),
        "bytes": sum(entry["size"] for entry in entries),
        "created_at": iso_time(time.time() if now is None else now),
        "files": entries,
    }
    data = encode_json(manifest)
    atomic_write(manifest_path(config["ledger"], experiment, scan), data)
    return {
        "experiment": experiment,
        "scan": scan,
        "files": manifest["file_count"],
        "bytes": manifest["bytes"],
        "manifest_digest": hashlib.sha256(data).hexdigest(),
        "error": None,
        "kind": None,
    }


def _checked_against_ledger(config, root, experiment, scan, workers):
    """The DAQ copy of a scan whose backups were verified, read against that manifest: the result of a fresh
    manifest when it matches (the same digest), else the scan is blocked and nothing of it moves."""
    try:
        manifest, digest = read_manifest(config["ledger"], experiment, scan)
    except (UnicodeDecodeError, ValueError):
        manifest, digest = None, None
    if manifest is None:
        return _refused(
            experiment,
            scan,
            "its backups were verified against a manifest the ledger no longer holds (or holds damaged), so the "
            "DAQ copy cannot be shown to match them; nothing is shipped over them",
            True,
            DAQ_DIFFERS,
        )
    moved = link_problem(root, experiment, scan)
    if moved:
        return _refused(experiment, scan, f"{moved}; put the scan directory itself back", True)
    try:
        files = scan_files(root, experiment, scan)
        result = compare_with_manifest(manifest, files, checked_algorithm(manifest["algorithm"]), workers)
    except ScanError as exc:
        return _refused(experiment, scan, str(exc), not exc.transient)
    except DaqError as exc:
        return _refused(experiment, scan, str(exc), True)
    except (KeyError, TypeError) as exc:  # entries of the manifest are damaged
        reason = f"its verified manifest in the ledger is damaged ({exc!r}); nothing is shipped over its backups"
        return _refused(experiment, scan, reason, True, DAQ_DIFFERS)
    except OSError as exc:
        where = shown(exc.filename or scan)
        return _refused(experiment, scan, f"cannot read {where} ({exc.strerror or exc}); it is tried again", False)
    if not result["ok"]:
        return _refused(
            experiment,
            scan,
            f"the DAQ copy differs from the verified backups ({describe_differences(result)}); nothing is shipped "
            "over them or released until a person decides",
            True,
            DAQ_DIFFERS,
        )
    return {
        "experiment": experiment,
        "scan": scan,
        "files": manifest["file_count"],
        "bytes": manifest["bytes"],
        "manifest_digest": digest,
        "error": None,
        "kind": None,
    }


def _hashed_entries(root, experiment, scan, algorithm, workers):
    """[{path, size, digest}] of the scan's files, or a ScanError (transient when the scan changed
    under the reader rather than being unreadable)."""
    import errno

    files = scan_files(root, experiment, scan)
    try:
        hashes = hash_files([path for _rel, path, _size, _mtime in files], algorithm, workers)
    except OSError as exc:
        where = shown(exc.filename or scan)
        if exc.errno in (errno.ENOENT, errno.ESTALE):
            message = f"{where} vanished while it was hashed; is the scan still being written?"
            raise ScanError(message, transient=True) from None
        raise ScanError(f"cannot read {where} ({exc.strerror or exc})") from None
    entries = []
    for (rel, _path, size, _mtime), (digest, read) in zip(files, hashes):
        if read != size:
            raise ScanError(
                f"{shown(rel)} changed while it was hashed; is the scan still being written?", transient=True
            )
        entries.append({"path": rel, "size": size, "digest": digest})
    return entries
