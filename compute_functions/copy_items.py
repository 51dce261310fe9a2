"""Compute function: the per-file Transfer items of copies whose every file Transfer checks against the manifest
the ledger holds.

Transfer checks a file against a known checksum when its item carries ``external_checksum`` with its
``checksum_algorithm``: after the data moves, the source file and the file written must both match it, and a
mismatch fails the whole task (the Transfer task submission document's transfer_item; globus-sdk's
``TransferData.add_item``, whose wording globus-sdk pull request #406 fixed to say so). A directory item cannot
carry one. So a copy checked file by file against the manifest is a Transfer of per-file items: the restore
copies a backup to the DAQ that way, and the scrub reads back a backup that has no Compute endpoint (into a
scratch directory beside it) and repairs one copy from another. The manifests stay in the ledger; a run asks for
the items one chunk at a time (at most CHUNK_ITEMS, and ITEM_CHUNK_BYTES of JSON), so a scan of any size goes through
in bounded pieces, far under the run state's 200 KB. Runs on the DAQ endpoint, where the ledger is.
"""

from _layout import checked_scan
from _ledger import read_manifest

CHUNK_ITEMS = 100
ITEM_CHUNK_BYTES = 32 * 1024  # the items as JSON with every non-ASCII character escaped: the run state holds them twice
TRANSFER_ALGORITHMS = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256", "sha512": "SHA512"}


def copy_items(config, copies, cursor=None, chunk=CHUNK_ITEMS):
    """The next chunk of items for ``copies`` ([{experiment, scan, source_path, destination_path, manifest?}]:
    collection paths of a scan directory where the copy is read and where it is written, each ending in "/"; with
    ``manifest``, the manifest shipped beside the scan too).

    Returns {tasks: [{experiment, scan, path (the copy's source_path), files, DATA}], refused: [{experiment, scan,
    problem}], cursor}: one task per copy in the chunk (a task that fails names its copy alone), each item one
    file with the manifest's checksum; ``cursor`` ({copy, offset}) is where the next call starts, None once every
    file of every copy was given."""
    import json

    position = dict(cursor or {})
    index, offset = int(position.get("copy") or 0), int(position.get("offset") or 0)
    tasks, refused, size, count = [], [], 0, 0
    while index < len(copies):
        copy = copies[index]
        experiment, scan = checked_scan(copy.get("experiment"), copy.get("scan"))
        manifest, digest, problem = _manifest(config, experiment, scan)
        if problem:
            refused.append({"experiment": experiment, "scan": scan, "problem": problem})
            index, offset = index + 1, 0
            continue
        algorithm = TRANSFER_ALGORITHMS[manifest["algorithm"]]
        task = {"experiment": experiment, "scan": scan, "path": copy["source_path"], "files": 0, "DATA": []}
        entries = [(entry["path"], entry["digest"], algorithm) for entry in manifest["files"]]
        if copy.get("manifest"):  # the manifest shipped beside the copy: its bytes are the ledger's (their sha256)
            entries.append((None, digest, "SHA256"))
        while offset < len(entries):
            path, checksum, algorithm = entries[offset]
            item = {
                "source_path": _beside(copy["source_path"], path),
                "destination_path": _beside(copy["destination_path"], path),
                "external_checksum": checksum,
                "checksum_algorithm": algorithm,
                "recursive": False,  # a directory where the manifest has a file fails, never copied unchecked
            }
            weight = len(json.dumps(item)) + 2
            if count and (count >= chunk or size + weight > ITEM_CHUNK_BYTES):
                break
            task["DATA"].append(item)
            size, count, offset = size + weight, count + 1, offset + 1
        if task["DATA"]:
            task["files"] = len(task["DATA"])
            tasks.append(task)
        if offset < len(entries):
            return {"tasks": tasks, "refused": refused, "cursor": {"copy": index, "offset": offset}}
        index, offset = index + 1, 0
    return {"tasks": tasks, "refused": refused, "cursor": None}


def _beside(scan_path, relative):
    """A file of the scan directory ``scan_path`` (".../<scan>/"), or with None the manifest shipped beside it
    (".../<scan>.manifest.json", as the scan_backup flow ships it)."""
    return scan_path + relative if relative is not None else scan_path.rstrip("/") + ".manifest.json"


def _manifest(config, experiment, scan):
    """(manifest, the sha256 of its bytes, None), or (None, None, why its files cannot be checked by Transfer)."""
    try:
        manifest, digest = read_manifest(config["ledger"], experiment, scan)
    except (OSError, ValueError) as exc:
        return None, None, f"its manifest in the ledger cannot be read ({exc})"
    if manifest is None:
        return None, None, "the ledger holds no manifest of it"
    if manifest.get("algorithm") not in TRANSFER_ALGORITHMS:
        names = ", ".join(sorted(TRANSFER_ALGORITHMS))
        return None, None, f"its manifest's {manifest.get('algorithm')} checksums are not one Transfer checks ({names})"
    return manifest, digest, None
