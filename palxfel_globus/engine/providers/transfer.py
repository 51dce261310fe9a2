"""The Transfer action provider over local directories (transfer.actions.globus.org/*).

``transfer`` behaves as a Transfer task: items are files or (recursively) directories,
``sync_level`` decides what to skip (exists, size, mtime, checksum), ``verify_checksum``
re-reads each copy and compares, ``preserve_timestamp``, ``delete_destination_extra`` and
``skip_source_errors`` do what they say, and every file lands under a temporary name and is
renamed into place, so a reader never sees half a file. As Globus Transfer does, a link
given as an item is followed, but no link inside a directory is followed or created
(globus-cli's ``transfer`` reference). A temporary file is locked while it is written, so
the next task into the same directory removes what a killed process left behind. A task
that cannot finish ends FAILED with a ``fatal_error`` as the service reports it. The
result's ``details`` is shaped like the Transfer task document (globus-flows.md 3.1).
"""

from __future__ import annotations

import concurrent.futures
import errno
import fcntl
import fnmatch
import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from palxfel_globus.engine.providers.base import (
    ActionContext,
    ActionResult,
    Collections,
    ProviderError,
    check_parameters,
    new_id,
    require,
)
from palxfel_globus.engine.providers.documented import DELETE, STAT, TRANSFER, TRANSFER_ITEM, manage_permission_form
from palxfel_globus.engine.providers.local_state import LocalState

SYNC_LEVELS = {
    None: None,
    0: "exists",
    1: "size",
    2: "mtime",
    3: "checksum",
    "exists": "exists",
    "size": "size",
    "mtime": "mtime",
    "checksum": "checksum",
}
CHUNK = 8 * 1024 * 1024
COPY_WORKERS = 4
PARTIAL_PREFIX = ".palxfel-part-"  # short and fixed: a 250-byte file name still leaves room for it
SOURCE_ERRORS = (errno.EACCES, errno.EPERM, errno.ENOENT)  # what skip_source_errors skips, as Transfer's
QUOTA_ERRORS = (errno.ENOSPC, errno.EDQUOT)
NOTIFY = ("notify_on_succeeded", "notify_on_failed", "notify_on_inactive")
TRANSFER_PARAMETERS = TRANSFER.allowed  # documented.py has the page
ITEM_PARAMETERS = TRANSFER_ITEM.allowed
# the documented breaking rename when the providers moved to transfer.actions.globus.org (.../migration)
RENAMED = {
    "source_endpoint_id": "source_endpoint",
    "destination_endpoint_id": "destination_endpoint",
    "transfer_items": "DATA",
}
CHECKSUMS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512", "ADLER32": "adler32"}
RULE_PERMISSIONS = ("r", "rw")
PRINCIPAL_TYPES = ("identity", "group", "all_authenticated_users", "anonymous")


class TaskFailure(Exception):
    """The task ended FAILED: ``code`` as Transfer's fatal_error codes."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class FilePair:
    source: Path
    destination: Path
    destination_path: str  # as the destination collection names it
    size: int


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(timestamp))


def _deadline(value: Any) -> Optional[float]:
    """The task's ``deadline`` (an ISO 8601 time with its offset) as a Unix time; absent, Transfer's
    default would be 24 hours, which no local task comes near."""
    import datetime

    if value is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ProviderError(f"deadline {value!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise ProviderError(f"deadline {value!r} has no time zone offset (e.g. +00:00)")
    return moment.timestamp()


class _Adler32:
    """zlib's adler32 with hashlib's update/hexdigest, for Transfer's ADLER32 checksums."""

    def __init__(self) -> None:
        self.value = 1

    def update(self, data: Any) -> None:
        import zlib

        self.value = zlib.adler32(data, self.value)

    def hexdigest(self) -> str:
        return format(self.value, "08x")


def _digest(path: Path, algorithm: str = "sha256") -> str:
    """The file's checksum, read in chunks (a scan's files run to gigabytes)."""
    digest: Any = _Adler32() if algorithm == "adler32" else hashlib.new(algorithm)
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(min(CHUNK, os.fstat(handle.fileno()).st_size + 1))
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


class TransferProvider:
    """All the transfer.actions.globus.org operations, over one collection map."""

    def __init__(self, collections: Collections) -> None:
        self.collections = collections

    # transfer -----------------------------------------------------------------
    def transfer(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        check_parameters(body, "the Transfer action provider", TRANSFER_PARAMETERS, RENAMED)
        source_id, destination_id, items = require(body, "source_endpoint", "destination_endpoint", "DATA")
        if not isinstance(items, list) or not items:
            raise ProviderError("DATA must be a non-empty list of items")
        rules = _filter_rules(body.get("filter_rules"))
        if body.get("sync_level") not in SYNC_LEVELS:
            raise ProviderError(f"sync_level {body.get('sync_level')!r} is not exists, size, mtime or checksum")
        sync_level = SYNC_LEVELS[body.get("sync_level")]
        verify = bool(body.get("verify_checksum", True))
        deadline = _deadline(body.get("deadline"))
        task_id = new_id()
        started = context.clock.now()
        document: dict[str, Any] = {
            "task_id": task_id,
            "type": "TRANSFER",
            "label": body.get("label"),
            "source_endpoint_id": str(source_id),
            "destination_endpoint_id": str(destination_id),
            "sync_level": sync_level,
            "verify_checksum": verify,
            "deadline": body.get("deadline"),
            "preserve_timestamp": bool(body.get("preserve_timestamp", False)),
            "delete_destination_extra": bool(body.get("delete_destination_extra", False)),
            "skip_source_errors": bool(body.get("skip_source_errors", False)),
            "encrypt_data": bool(body.get("encrypt_data", False)),  # recorded: a local copy crosses no network
            "fail_on_quota_errors": bool(body.get("fail_on_quota_errors", False)),
            "store_base_path_info": bool(body.get("store_base_path_info", False)),
            "filter_rules": body.get("filter_rules"),
            **{key: bool(body.get(key, True)) for key in NOTIFY},  # Transfer's task defaults: all true
            "DATA_TYPE": "task",
            "subtasks_skipped_errors": 0,
            "request_time": _iso(started),
            "files": 0,
            "directories": 0,
            "files_transferred": 0,
            "files_skipped": 0,
            "bytes_transferred": 0,
            "bytes_checksummed": 0,
            "files_deleted": 0,
        }
        delivered: list[tuple[str, Path]] = []
        try:
            pairs = self._plan(source_id, destination_id, items, document, rules)
            self._copy_all(pairs, sync_level, verify, document, delivered, context, deadline)
        except TaskFailure as failure:
            document.update(
                status="FAILED",
                nice_status=failure.code,
                fatal_error={"code": failure.code, "description": failure.description},
            )
        else:
            document.update(status="SUCCEEDED", nice_status=None, fatal_error=None)
        document["completion_time"] = _iso(context.clock.now())
        document["is_ok"] = document["status"] == "SUCCEEDED"
        if document["notify_on_" + document["status"].lower()]:
            # Transfer e-mails the task's owner itself; recorded apart from the flow's own e-mails
            context.record("transfer_notice", {"task_id": task_id, "status": document["status"]})
        document["damaged_by_fault_injection"] = context.faults.damage(context.state_name, delivered) or None
        return ActionResult(document["status"], document, body.get("label"))

    def _plan(
        self,
        source_id: Any,
        destination_id: Any,
        items: list[Any],
        document: dict[str, Any],
        rules: list[tuple[str, Optional[str], str]],
    ) -> list[FilePair]:
        pairs: list[FilePair] = []
        for number, item in enumerate(items):
            if not isinstance(item, dict):
                raise ProviderError(f"DATA[{number}] must be an object with source_path and destination_path")
            check_parameters(item, f"DATA[{number}]", ITEM_PARAMETERS)
            source_path, destination_path = require(item, "source_path", "destination_path")
            destination = self._writable(destination_id, destination_path)
            try:
                source = self.collections.resolve(source_id, source_path)
            except ProviderError as exc:  # a link out of the collection: no file of it can be read
                if "through a link" not in str(exc):
                    raise
                self._source_error(document, source_path, PermissionError(errno.EACCES, "a link out of the collection"))
                continue
            recursive = item.get("recursive")
            if not source.exists():
                raise TaskFailure("FILE_NOT_FOUND", f"{source_path} does not exist on the source collection")
            if source.is_dir():
                if recursive is False:
                    raise TaskFailure("NOT_A_FILE", f"{source_path} is a directory but its item is not recursive")
                pairs.extend(
                    self._plan_directory(source, destination, destination_id, destination_path, document, rules)
                )
                if document["delete_destination_extra"]:
                    self._delete_extra(source, destination, document)
            else:
                if recursive is True:
                    raise TaskFailure("NOT_A_DIRECTORY", f"{source_path} is a file but the item is recursive")
                _check_external(source, source_path, item)
                pairs.append(FilePair(source, destination, destination_path, source.stat().st_size))
        document["files"] = len(pairs)
        return pairs

    def _writable(self, collection_id: Any, path: str) -> Path:
        """The local path a destination item writes to. A path that leads out of the collection through a link
        (at the item, or above it) fails the task as Transfer's permission check does when it runs, not the
        submission: the task document says PERMISSION_DENIED and names the path."""
        try:
            return self.collections.resolve(collection_id, path)
        except ProviderError as exc:
            if "through a link" not in str(exc):
                raise
            raise TaskFailure("PERMISSION_DENIED", f"{path}: it leads outside the collection through a link") from None

    def _plan_directory(
        self,
        source: Path,
        destination: Path,
        destination_id: Any,
        destination_path: str,
        document: dict[str, Any],
        rules: list[tuple[str, Optional[str], str]],
    ) -> list[FilePair]:
        pairs = []
        base = destination_path.rstrip("/")
        for directory, subdirectories, files in os.walk(source):
            subdirectories[:] = sorted(name for name in subdirectories if _included(rules, name, "dir"))
            files = [name for name in files if _included(rules, name, "file")]
            relative = Path(directory).relative_to(source)
            document["directories"] += 1
            for name in sorted(files):
                path = Path(directory) / name
                if path.is_symlink():
                    continue  # Transfer follows no link inside a directory, and creates none
                rel = (relative / name).as_posix()
                try:
                    rel.encode("utf-8")
                    size = path.stat().st_size
                except (UnicodeEncodeError, OSError) as exc:
                    # UNVERIFIED what the service does with a name that is not UTF-8: its API cannot carry it
                    self._source_error(document, f"{base}/{rel.encode('utf-8', 'backslashreplace').decode()}", exc)
                    continue
                pairs.append(FilePair(path, destination / relative / name, f"{base}/{rel}", size))
        root = self.collections.root(destination_id).resolve()
        for pair in pairs:  # a link below the item at the destination (a directory, a file) is followed no further
            real = Path(os.path.realpath(pair.destination))
            if real != root and root not in real.parents:
                raise TaskFailure(
                    "PERMISSION_DENIED", f"{pair.destination_path}: it leads outside the collection through a link"
                )
        return pairs

    @staticmethod
    def _source_error(document: dict[str, Any], path: str, exc: Exception) -> None:
        """A source path that cannot be read: skipped with skip_source_errors, else the task fails."""
        code = "PERMISSION_DENIED" if isinstance(exc, PermissionError) else "FILE_NOT_FOUND"
        if isinstance(exc, UnicodeError):
            code = "INVALID_PATH"
        if not document["skip_source_errors"]:
            raise TaskFailure(code, f"{path}: {getattr(exc, 'strerror', None) or exc}")
        document["subtasks_skipped_errors"] += 1

    def _delete_extra(self, source: Path, destination: Path, document: dict[str, Any]) -> None:
        if not destination.is_dir():
            return
        for directory, _subdirectories, files in os.walk(destination):
            relative = Path(directory).relative_to(destination)
            for name in files:
                if not (source / relative / name).exists() and not name.startswith(PARTIAL_PREFIX):
                    (Path(directory) / name).unlink()
                    document["files_deleted"] += 1

    def _skip(self, pair: FilePair, sync_level: Optional[str]) -> bool:
        if sync_level is None or not pair.destination.is_file():
            return False
        if sync_level == "exists":
            return True
        destination_size = pair.destination.stat().st_size
        if sync_level == "size":
            return destination_size == pair.size
        if sync_level == "mtime":
            return pair.destination.stat().st_mtime >= pair.source.stat().st_mtime
        return destination_size == pair.size and _digest(pair.destination) == _digest(pair.source)

    def _copy_all(
        self,
        pairs: list[FilePair],
        sync_level: Optional[str],
        verify: bool,
        document: dict[str, Any],
        delivered: list[tuple[str, Path]],
        context: ActionContext,
        deadline: Optional[float],
    ) -> None:
        preserve = document["preserve_timestamp"]

        for parent in sorted({pair.destination.parent for pair in pairs}):
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TaskFailure("PERMISSION_DENIED", f"cannot create {parent}: {exc.strerror}") from None
            _remove_dead_partials(parent)

        def copy(pair: FilePair) -> tuple[FilePair, Optional[bool], int]:
            if context.deadline is not None and context.clock.now() > context.deadline:
                raise TaskFailure("DEADLINE_EXCEEDED", "the task did not finish within the action's WaitTime")
            if deadline is not None and context.clock.now() > deadline:
                raise TaskFailure("DEADLINE_EXCEEDED", "the task passed its deadline")
            try:
                if self._skip(pair, sync_level):
                    return pair, False, 0
                return pair, True, _copy_file(pair, verify, preserve)
            except _SourceUnreadable as unreadable:
                self._source_error(document, pair.destination_path, unreadable.error)
                return pair, None, 0

        with concurrent.futures.ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
            for pair, copied, checksummed in pool.map(copy, pairs):
                document["bytes_checksummed"] += checksummed
                if copied is None:
                    continue
                if copied:
                    document["files_transferred"] += 1
                    document["bytes_transferred"] += pair.size
                    delivered.append((pair.destination_path, pair.destination))
                else:
                    document["files_skipped"] += 1

    # the other operations ------------------------------------------------------
    def ls(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        check_parameters(
            body,
            "Transfer ls",
            {"endpoint_id", "path", "show_hidden", "limit", "offset", "orderby", "filter", "local_user"},
        )
        collection, path = require(body, "endpoint_id", "path")
        local = self.collections.resolve(collection, path)
        if not local.is_dir():
            return ActionResult(
                "FAILED",
                {"code": "NotFound" if not local.exists() else "NotADirectory", "path": path, "DATA": [], "total": 0},
            )
        entries = sorted(local.iterdir(), key=lambda entry: entry.name)
        if not body.get("show_hidden", True):
            entries = [entry for entry in entries if not entry.name.startswith(".")]
        limit = body.get("limit")
        offset = int(body.get("offset", 0))
        shown = entries[offset : offset + int(limit)] if limit is not None else entries[offset:]
        return ActionResult(
            "SUCCEEDED",
            {
                "DATA": [_entry(entry) for entry in shown],
                "path": path,
                "endpoint": str(collection),
                "total": len(entries),
                "length": len(shown),
                "offset": offset,
                "has_next_page": offset + len(shown) < len(entries),
            },
        )

    def stat(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        """A missing path is SUCCEEDED with ``details.code == "NotFound"``, as the official move example
        reads it (``'code' not in DestinationStat.details or ... != 'NotFound'``); UNVERIFIED whether the
        service marks that status FAILED."""
        check_parameters(body, "Transfer stat", STAT.allowed)
        collection, path = require(body, "endpoint_id", "path")
        local = self.collections.resolve(collection, path)
        if not local.exists():
            return ActionResult("SUCCEEDED", {"code": "NotFound", "path": path, "message": f"{path} does not exist"})
        return ActionResult("SUCCEEDED", dict(_entry(local), path=path))

    def mkdir(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        check_parameters(body, "Transfer mkdir", {"endpoint_id", "path", "local_user"})
        collection, path = require(body, "endpoint_id", "path")
        local = self.collections.resolve(collection, path)
        if local.exists():
            return ActionResult(
                "FAILED",
                {"code": "ExternalError.MkdirFailed.Exists", "path": path, "message": f"{path} already exists"},
            )
        try:
            local.mkdir(parents=True)
        except OSError as exc:
            return ActionResult("FAILED", {"code": "ExternalError.MkdirFailed", "path": path, "message": str(exc)})
        return ActionResult("SUCCEEDED", {"code": "DirectoryCreated", "path": path})

    def delete(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        check_parameters(body, "Transfer delete", DELETE.allowed, {"endpoint_id": "endpoint"})
        collection, items = require(body, "endpoint", "DATA")
        recursive = bool(body.get("recursive", False))
        ignore_missing = bool(body.get("ignore_missing", False))
        document: dict[str, Any] = {"task_id": new_id(), "type": "DELETE", "files_deleted": 0, "fatal_error": None}
        for item in items if isinstance(items, list) else []:
            (path,) = require(item if isinstance(item, dict) else {}, "path")
            local = self.collections.resolve(collection, path)
            if local.resolve() == self.collections.root(collection).resolve():
                raise ProviderError(f"refusing to delete {path!r}: it is the collection's own root")
            if not local.exists() and not local.is_symlink():
                if ignore_missing:
                    continue
                document.update(status="FAILED", fatal_error={"code": "FILE_NOT_FOUND", "description": path})
                return ActionResult("FAILED", document)
            if local.is_dir() and not local.is_symlink():
                if not recursive:
                    document.update(status="FAILED", fatal_error={"code": "DIRECTORY_NOT_EMPTY", "description": path})
                    return ActionResult("FAILED", document)
                document["files_deleted"] += sum(len(files) for _, _, files in os.walk(local))
                shutil.rmtree(local)
            else:
                local.unlink()
                document["files_deleted"] += 1
        document["status"] = "SUCCEEDED"
        return ActionResult("SUCCEEDED", document, body.get("label"))

    def collection_info(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        """Transfer's collection document, as the action provider returns it: ``entity_type`` says
        guest or mapped ([local] guest_collections / --guest-collection)."""
        check_parameters(body, "Transfer collection_info", {"endpoint_id"})
        (collection,) = require(body, "endpoint_id")
        root = self.collections.root(collection)
        guest = self.collections.is_guest(collection)
        return ActionResult(
            "SUCCEEDED",
            {
                "DATA_TYPE": "endpoint",
                "id": str(collection),
                "display_name": f"local {'guest' if guest else 'mapped'} collection: {root}",
                "entity_type": "GCSv5_guest_collection" if guest else "GCSv5_mapped_collection",
                "local_path": str(root),
            },
        )

    def create_guest_collection(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        """gcsv5/create_guest_collection: a guest collection on ``collection_base_path`` of a mapped
        collection, a collection (a guest one) for every later action and run on this engine's state.
        docs.globus.org/api/transfer/action-providers/create-guest-collection-gcsv5"""
        allowed = {"mapped_collection_id", "collection_base_path", "display_name"}
        check_parameters(body, "Transfer create_guest_collection", allowed)
        mapped, base_path, display_name = require(body, "mapped_collection_id", "collection_base_path", "display_name")
        if self.collections.is_guest(mapped):
            raise ProviderError(f"{mapped} is a guest collection; a guest collection is made on a mapped one")
        directory = self.collections.resolve(mapped, base_path)
        if not directory.is_dir():
            return ActionResult(
                "FAILED", {"code": "NotFound", "message": f"{base_path} is not a directory on {mapped}"}
            )
        collection_id = new_id()
        document = {
            "DATA_TYPE": "collection#1.9.0",
            "id": collection_id,
            "collection_type": "guest",
            "display_name": str(display_name),
            "mapped_collection_id": str(mapped).lower(),
            "collection_base_path": base_path,
            "created_at": _iso(context.clock.now())[:10],
            "public": False,
        }
        self.collections.add_guest(collection_id, directory, document)
        return ActionResult("SUCCEEDED", document)

    def manage_permission(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        """Access rules on a guest collection: CREATE, then UPDATE (permissions) and DELETE by the ``rule_id``
        CREATE answered as ``access_id``, kept with the collection in the engine's local state (the rules
        are recorded, not enforced: a local directory has no Globus ACLs). Only the documented forms
        (documented.py): an ``access_id`` given to DELETE is refused, as the service's schema refuses it."""
        manage_permission_form(body).check(body)
        collection, operation = body["endpoint_id"], body["operation"]
        self.collections.root(collection)
        if not self.collections.is_guest(collection):
            return _rule_failure(
                "PermissionDenied", "it is a mapped collection; access rules live on guest collections"
            )
        with self.collections.state.changing("access_rules", str(collection)) as stored:
            rules = stored.setdefault("rules", {})
            if operation == "CREATE":
                return self._create_rule(collection, body, rules, context)
            rule_id = body["rule_id"]
            if rule_id not in rules:
                return _rule_failure("AccessRuleNotFound", f"no access rule {rule_id} on {collection}")
            if operation == "DELETE":
                del rules[rule_id]
                return ActionResult("SUCCEEDED", _rule_result(rule_id, "Deleted", "Access rule deleted successfully"))
            if body["permissions"] not in RULE_PERMISSIONS:
                raise ProviderError(f"permissions {body['permissions']!r} is not r or rw")
            rules[rule_id]["permissions"] = body["permissions"]
            return ActionResult("SUCCEEDED", _rule_result(rule_id, "Updated", "Access rule updated successfully"))

    def _create_rule(
        self, collection: Any, body: dict[str, Any], rules: dict[str, Any], context: ActionContext
    ) -> ActionResult:
        path, permissions = body["path"], body["permissions"]
        principal_type, principal = body["principal_type"], body.get("principal", "")
        if permissions not in RULE_PERMISSIONS:
            raise ProviderError(f"permissions {permissions!r} is not r or rw")
        if principal_type not in PRINCIPAL_TYPES:
            raise ProviderError(f"principal_type {principal_type!r} is not one of {', '.join(PRINCIPAL_TYPES)}")
        if principal_type in ("identity", "group") and not principal:
            raise ProviderError(f"a principal_type of {principal_type} needs the principal's UUID")
        local = self.collections.resolve(collection, path)
        if not path.endswith("/"):  # Transfer's rules are on directories; the official transfer_share
            if local.exists() and not local.is_dir():  # example passes one without the slash
                raise ProviderError(f"path {path!r} is a file; an access rule is on a directory")
            path += "/"
        for rule in rules.values():
            if (rule["path"], rule["principal_type"], rule["principal"]) == (path, principal_type, principal):
                return _rule_failure("Exists", f"a rule for {principal or principal_type} on {path} already exists")
        access_id = new_id()
        rules[access_id] = {
            "DATA_TYPE": "access",
            "id": access_id,
            "path": path,
            "permissions": permissions,
            "principal_type": principal_type,
            "principal": principal,
            "role_id": None,
            "create_time": _iso(context.clock.now()),
            "run_id": context.run_id,
        }
        context.record("permission", dict(rules[access_id], collection=str(collection)))
        return ActionResult("SUCCEEDED", _rule_result(access_id, "Created", "Access rule created successfully."))


def access_rules(state: LocalState, collection: Any) -> list[dict[str, Any]]:
    """The rules kept for a guest collection, oldest first."""
    rules = state.read("access_rules", str(collection)).get("rules") or {}
    return sorted(rules.values(), key=lambda rule: (rule["create_time"], rule["id"]))


def _rule_result(access_id: str, code: str, message: str) -> dict[str, Any]:
    return {"DATA_TYPE": "access_create_result", "access_id": access_id, "code": code, "message": message}


def _rule_failure(code: str, message: str) -> ActionResult:
    return ActionResult("FAILED", {"code": code, "message": message})


def _filter_rules(value: Any) -> list[tuple[str, Optional[str], str]]:
    """Transfer's ``filter_rules``: [{method: include|exclude, type?: file|dir, name: glob}], checked in
    order against each name in a recursive item; the first that matches decides, none means include."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProviderError("filter_rules must be a list of {method, type, name}")
    rules = []
    for number, rule in enumerate(value):
        if not isinstance(rule, dict):
            raise ProviderError(f"filter_rules[{number}] must be an object")
        check_parameters(rule, f"filter_rules[{number}]", {"DATA_TYPE", "method", "type", "name"})
        method, name = require(rule, "method", "name")
        if method not in ("include", "exclude") or rule.get("type") not in (None, "file", "dir"):
            raise ProviderError(f"filter_rules[{number}]: method is include or exclude, type is file or dir")
        rules.append((method, rule.get("type"), str(name)))
    return rules


def _included(rules: list[tuple[str, Optional[str], str]], name: str, kind: str) -> bool:
    for method, rule_kind, pattern in rules:
        if rule_kind in (None, kind) and fnmatch.fnmatchcase(name, pattern):
            return method == "include"
    return True


def _check_external(source: Path, source_path: str, item: dict[str, Any]) -> None:
    """An item's ``external_checksum`` (``checksum_algorithm``, default MD5) must match the file, or
    the task fails as Transfer's checksum verification does."""
    expected = item.get("external_checksum")
    if expected is None:
        return
    algorithm = str(item.get("checksum_algorithm") or "MD5").upper()
    if algorithm not in CHECKSUMS:
        raise ProviderError(f"checksum_algorithm {algorithm!r} is not one of {', '.join(CHECKSUMS)}")
    actual = _digest(source, CHECKSUMS[algorithm])
    if actual != str(expected).lower():
        raise TaskFailure("VERIFY_CHECKSUM", f"{source_path}: its {algorithm} is {actual}, not the external {expected}")


def _entry(path: Path) -> dict[str, Any]:
    info = path.stat()
    return {
        "name": path.name,
        "type": "dir" if path.is_dir() else "file",
        "size": info.st_size,
        "last_modified": _iso(info.st_mtime),
        "permissions": oct(info.st_mode & 0o777)[2:],
    }


class _SourceUnreadable(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _remove_dead_partials(directory: Path) -> None:
    """Remove temporary files whose writer is gone: each is locked while written, and a lock dies
    with its process, so one that can be locked now was left by a killed copy."""
    try:
        names = [name for name in os.listdir(directory) if name.startswith(PARTIAL_PREFIX)]
    except OSError:
        return
    for name in names:
        path = directory / name
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink(missing_ok=True)
        except OSError:
            pass  # locked: a copy in flight
        finally:
            os.close(fd)


def _send(source_fd: int, destination_fd: int) -> None:
    """The kernel's copy (sendfile), from the start of both files."""
    os.lseek(destination_fd, 0, os.SEEK_SET)
    os.ftruncate(destination_fd, 0)
    offset = 0
    while True:
        sent = os.sendfile(destination_fd, source_fd, offset, CHUNK)
        if not sent:
            return
        offset += sent


def _copy_file(pair: FilePair, verify: bool, preserve: bool) -> int:
    """Copy under a locked temporary name, check, rename into place; returns the bytes checksummed.

    The copy is the kernel's (sendfile); verification then hashes the source and the copy, as
    Transfer checksums both ends. Across files the hashing runs in the task's thread pool, so
    both cores work. A source that cannot be read is ``_SourceUnreadable`` (skip_source_errors)."""
    try:
        source_fd = os.open(pair.source, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in SOURCE_ERRORS:
            raise _SourceUnreadable(exc) from None
        raise TaskFailure("ENDPOINT_ERROR", f"{pair.destination_path}: {exc.strerror or exc}") from None
    temp = pair.destination.with_name(f"{PARTIAL_PREFIX}{new_id()[:18]}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            for _attempt in range(2):
                _send(source_fd, fd)
                if not verify or _digest(temp) == _digest(pair.source):
                    break
            else:
                raise TaskFailure("VERIFY_CHECKSUM", f"checksum verification of {pair.destination_path} failed twice")
            if preserve:
                info = os.fstat(source_fd)
                os.utime(fd, (info.st_atime, info.st_mtime))
            os.replace(temp, pair.destination)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
    except PermissionError as exc:
        raise TaskFailure("PERMISSION_DENIED", f"cannot write {pair.destination_path}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno in QUOTA_ERRORS:  # Transfer fails at once with fail_on_quota_errors, else at its deadline
            raise TaskFailure("QUOTA_EXCEEDED", f"cannot write {pair.destination_path}: {exc.strerror}") from None
        raise TaskFailure("ENDPOINT_ERROR", f"{pair.destination_path}: {exc.strerror or exc}") from None
    finally:
        os.close(source_fd)
    return 2 * pair.size if verify else 0
