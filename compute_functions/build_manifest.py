"""Compute function: the checksum manifest of one scan, kept in the ledger.

Runs on the DAQ endpoint, one task per scan (the flow's fan-out). The manifest itself stays
in the ledger (and ships beside the data); the run state gets only its digest and counts.
A problem with the scan is this scan's outcome, returned, never raised: one task that
raises fails the whole action, and with it every other scan of the run.
"""

from _checksums import checked_algorithm, default_workers, hash_files
from _layout import ScanError, checked_scan, real_root, scan_files, shown
from _ledger import atomic_write, encode_json, iso_time, manifest_path


def build_manifest(config, experiment, scan, algorithm="sha256", workers=None, now=None):
    """Hash every file of a scan into the ledger's manifest; returns {experiment, scan, files, bytes,
    manifest_digest, error: None}, kept small because the flow's run state holds one per scan.

    When the scan cannot be hashed the result is {experiment, scan, error, blocked}: ``blocked``
    true for what stays wrong until someone acts (a link, an unreadable file), false for what the
    next attempt may not meet (a file that changed or vanished while it was read)."""
    import hashlib
    import time

    checked_scan(experiment, scan)
    algorithm = checked_algorithm(algorithm)
    root = real_root(config["daq_root"])
    try:
        entries = _hashed_entries(root, experiment, scan, algorithm, workers or default_workers())
    except ScanError as exc:
        return {"experiment": experiment, "scan": scan, "error": str(exc), "blocked": not exc.transient}
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
