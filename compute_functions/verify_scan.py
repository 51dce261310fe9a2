"""Compute function: check one scan's files against its manifest, file by file.

Runs where the copy is (the destination's endpoint, or the DAQ endpoint for a local check).
Every path is taken relative to ``root`` and refused if it leaves it.
"""

from _checksums import checked_algorithm, compare_with_manifest, default_workers, describe_differences
from _layout import DaqError, confined, real_root, tree_files
from _ledger import encode_json, read_json


def verify_scan(root, scan_path, manifest=None, manifest_path=None, workers=None):
    """Compare ``root/scan_path`` with a manifest given inline or as a file under ``root``.

    Returns {ok, experiment, scan, manifest_digest, files_checked, bytes_checked, problem_count,
    summary} and, where not empty, the capped lists missing, extra, size_mismatch and
    digest_mismatch: it travels in the run state (200 KB cap) for every scan. A copy that cannot
    be checked at all (no manifest, an unreadable file) is ``ok: false`` with the reason as its
    summary, never an exception: one task that raises fails the action for every scan of the route.
    """
    try:
        return _verify(root, scan_path, manifest, manifest_path, workers)
    except DaqError as exc:
        parts = str(scan_path).strip("/").split("/")
        return {
            "ok": False,
            "experiment": parts[0] if len(parts) == 3 else None,
            "scan": parts[-1],
            "problem_count": 1,
            "summary": f"the copy could not be checked: {exc}",
        }


def _verify(root, scan_path, manifest, manifest_path, workers):
    import hashlib
    import os

    root_real = real_root(root)
    if (manifest is None) == (manifest_path is None):
        raise DaqError("verify_scan needs exactly one of manifest and manifest_path.")
    if manifest is None:
        manifest, problem = read_json(confined(root_real, *manifest_path.strip("/").split("/")))
        if problem:
            raise DaqError(f"The shipped manifest {manifest_path} is damaged; the next attempt ships it again.")
        if manifest is None:
            raise DaqError(f"The manifest {manifest_path} does not exist under {root}.")
    top = confined(root_real, *scan_path.strip("/").split("/"))
    files = tree_files(root_real, top) if os.path.isdir(top) else []
    result = compare_with_manifest(
        manifest, files, checked_algorithm(manifest["algorithm"]), workers or default_workers()
    )
    result.update(
        experiment=manifest.get("experiment"),
        scan=manifest.get("scan"),
        manifest_digest=hashlib.sha256(encode_json(manifest)).hexdigest(),
        summary=describe_differences(result) if not result["ok"] else f"all {len(files)} files match",
    )
    return {key: value for key, value in result.items() if value != []}
