"""Compute function: the checksum manifest of one scan, kept in the ledger.

Runs on the DAQ endpoint, one task per scan (the flow's fan-out). The manifest itself stays
in the ledger (and ships beside the data); the run state gets only its digest and counts.
"""

from _checksums import checked_algorithm, default_workers, hash_files
from _layout import ScanError, checked_scan, real_root, scan_files
from _ledger import atomic_write, encode_json, iso_time, manifest_path


def build_manifest(config, experiment, scan, algorithm="sha256", workers=None, now=None):
    """Hash every file of a scan into the ledger's manifest; returns {experiment, scan, files, bytes,
    manifest_digest}, kept small because the flow's run state holds one per scan (twice)."""
    import hashlib
    import time

    checked_scan(experiment, scan)
    algorithm = checked_algorithm(algorithm)
    root = real_root(config["daq_root"])
    files = scan_files(root, experiment, scan)
    hashes = hash_files([path for _rel, path, _size, _mtime in files], algorithm, workers or default_workers())
    entries = []
    for (rel, _path, size, _mtime), (digest, read) in zip(files, hashes):
        if read != size:
            raise ScanError(f"{scan}/{rel} changed while it was hashed; is the scan still being written?")
        entries.append({"path": rel, "size": size, "digest": digest})
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
    }
