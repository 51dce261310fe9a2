"""Checksums for manifests and verification: streamed reads, threads across files.

hashlib releases the GIL on large updates, so a thread per file uses every core without
a process pool; reads go through one reused buffer, never a whole file in memory.
Standard library only, valid on Python 3.9 (see _layout).
"""

from _layout import DaqError

CHUNK_BYTES = 8 * 1024 * 1024
ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "blake2b", "sha3_256")
MAX_LISTED = 20


def checked_algorithm(algorithm):
    name = str(algorithm).lower().replace("-", "")
    if name not in ALGORITHMS:
        raise DaqError(
            "The checksum algorithm {!r} is not supported; use one of {}.".format(algorithm, ", ".join(ALGORITHMS))
        )
    return name


def hash_file(path, algorithm):
    """(hex digest, bytes read) of one file, read in chunks of at most CHUNK_BYTES.

    The buffer is sized to the file: a fresh 8 MiB buffer per small file would cost more
    than hashing it."""
    import hashlib
    import os

    digest = hashlib.new(algorithm)
    size = 0
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(min(CHUNK_BYTES, os.fstat(handle.fileno()).st_size + 1))
        view = memoryview(buffer)
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
            size += count
    return digest.hexdigest(), size


def hash_files(paths, algorithm, workers):
    """[(digest, size)] in the order of ``paths``."""
    import concurrent.futures

    if workers <= 1 or len(paths) <= 1:
        return [hash_file(path, algorithm) for path in paths]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda path: hash_file(path, algorithm), paths))


def default_workers():
    import os

    return max(1, min(8, os.cpu_count() or 1))


def capped(items):
    """At most MAX_LISTED entries: the result travels in the flow's run state."""
    return items[:MAX_LISTED]


def compare_with_manifest(manifest, files, algorithm, workers, contents=True):
    """Per-file differences between a manifest and the files found on disk; by names and sizes only, without
    reading a byte, when not ``contents``."""
    expected = {entry["path"]: entry for entry in manifest["files"]}
    found = {rel: (path, size) for rel, path, size, _mtime in files}
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    size_mismatch = []
    to_hash = []
    for rel in sorted(set(expected) & set(found)):
        if found[rel][1] != expected[rel]["size"]:
            size_mismatch.append({"path": rel, "expected": expected[rel]["size"], "actual": found[rel][1]})
        else:
            to_hash.append(rel)
    if not contents:
        to_hash = []
    digests = hash_files([found[rel][0] for rel in to_hash], algorithm, workers)
    digest_mismatch = [
        {"path": rel, "expected": expected[rel]["digest"], "actual": digest}
        for rel, (digest, _size) in zip(to_hash, digests)
        if digest != expected[rel]["digest"]
    ]
    return {
        "ok": not (missing or extra or size_mismatch or digest_mismatch),
        "files_checked": len(to_hash),
        "bytes_checked": sum(size for _digest, size in digests),
        "problem_count": len(missing) + len(extra) + len(size_mismatch) + len(digest_mismatch),
        "missing": capped(missing),
        "extra": capped(extra),
        "size_mismatch": capped(size_mismatch),
        "digest_mismatch": capped(digest_mismatch),
    }


def describe_differences(result):
    """One sentence naming the first differing files, for the ledger and the run log."""
    parts = []
    for key, label in (
        ("missing", "missing"),
        ("extra", "extra"),
        ("size_mismatch", "size differs"),
        ("digest_mismatch", "checksum differs"),
    ):
        for entry in result.get(key, []):
            parts.append("{} ({})".format(entry if isinstance(entry, str) else entry["path"], label))
    shown = parts[:5]
    hidden = result.get("problem_count", len(parts)) - len(shown)
    return ", ".join(shown) + (f" and {hidden} more" if hidden > 0 else "")
