"""Transfer tasks submitted to the Transfer API (``globus transfer``, ``globus delete``,
``TransferClient.submit_transfer``), run in a thread each by the same local Transfer provider the
flows' Transfer actions use, so a task really copies and verifies; ``get_task`` and ``task_list``
follow it (``globus task show``, ``task wait``) in the task document's shape (the SDK's task_list
data). A submission id makes a submission once: the same id again answers with the first task.

A task that was ACTIVE when the emulator stopped ends FAILED at the stop (or, after a kill, at the
next start), its ``fatal_error`` saying so."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Callable

from palxfel_globus.emulator.api import ApiError
from palxfel_globus.engine.clock import Clock
from palxfel_globus.engine.faults import Faults
from palxfel_globus.engine.providers.base import ActionContext, ActionResult, ProviderError
from palxfel_globus.engine.providers.transfer import TransferProvider

KIND = "transfer_task"
SYNC_LEVELS = {"exists": 0, "size": 1, "mtime": 2, "checksum": 3}
STOPPED = {"code": "EMULATOR_STOPPED", "description": "The emulator stopped while this task was active."}
# What the Transfer API takes that a task here has no use for (they tune a real data channel)
API_ONLY = ("submission_id", "recursive_symlinks", "perf_cc", "perf_p", "perf_pp", "perf_udt", "DATA_TYPE")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


class TransferTasks:
    def __init__(self, store: Any, collections: Any) -> None:
        self.store = store
        self.provider = TransferProvider(collections)
        self._lock = threading.Lock()
        self.closed = False

    # submission --------------------------------------------------------------------------
    def submit(self, kind: str, body: dict[str, Any], owner: str, names: dict[str, str]) -> dict[str, Any]:
        """Start a TRANSFER or DELETE task; returns the submission's result document."""
        submission = str(body.get("submission_id") or uuid.uuid4())
        resource = f"/v0.10/{kind.lower()}"
        with self._lock:
            earlier = self.store.get("transfer_submission", submission)
            if earlier is not None:
                return _accepted(kind, earlier["task_id"], submission, resource, "Duplicate")
            if not isinstance(body.get("DATA"), list) or not body["DATA"]:
                what = "transfer" if kind == "TRANSFER" else "delete"
                raise ApiError(
                    400, f"ClientError.BadRequest.No{what.title()}Items", f"A {what} requires at least one item"
                )
            task = self._task(kind, body, owner, names)
            self.store.put(KIND, task["task_id"], task)
            self.store.put("transfer_submission", submission, {"task_id": task["task_id"]})
        work = self.provider.transfer if kind == "TRANSFER" else self.provider.delete
        request = {key: value for key, value in body.items() if key not in API_ONLY}
        if kind == "DELETE":
            request["DATA"] = [{"path": item.get("path")} for item in body["DATA"] if isinstance(item, dict)]
        threading.Thread(target=self._execute, args=(task, work, request), daemon=True).start()
        return _accepted(kind, task["task_id"], submission, resource, "Accepted")

    def _task(self, kind: str, body: dict[str, Any], owner: str, names: dict[str, str]) -> dict[str, Any]:
        """The task document as task_list shows one, ACTIVE until its thread ends."""
        source = str(body.get("source_endpoint") or body.get("endpoint") or "")
        destination = str(body.get("destination_endpoint") or "") or None
        level = body.get("sync_level")
        return {
            "DATA_TYPE": "task",
            "task_id": str(uuid.uuid4()),
            "type": kind,
            "status": "ACTIVE",
            "label": body.get("label"),
            "owner_id": owner,
            "username": f"u_{owner.replace('-', '')[:26]}",
            "command": "API 0.10",
            "request_time": _now(),
            "completion_time": None,
            "deadline": body.get("deadline"),
            "source_endpoint": names.get(source.lower(), source),
            "source_endpoint_id": source,
            "source_endpoint_display_name": names.get(source.lower(), source),
            "destination_endpoint": names.get(destination.lower(), destination) if destination else None,
            "destination_endpoint_id": destination,
            "destination_endpoint_display_name": names.get(destination.lower(), destination) if destination else None,
            "sync_level": SYNC_LEVELS.get(level, level),
            "verify_checksum": bool(body.get("verify_checksum", kind == "TRANSFER")),
            "encrypt_data": bool(body.get("encrypt_data", False)),
            "preserve_timestamp": bool(body.get("preserve_timestamp", False)),
            "delete_destination_extra": bool(body.get("delete_destination_extra", False)),
            "skip_source_errors": bool(body.get("skip_source_errors", False)),
            "fail_on_quota_errors": bool(body.get("fail_on_quota_errors", False)),
            "recursive_symlinks": body.get("recursive_symlinks", "ignore"),
            "filter_rules": body.get("filter_rules"),
            "files": 0,
            "directories": 0,
            "symlinks": 0,
            "files_transferred": 0,
            "files_skipped": 0,
            "bytes_transferred": 0,
            "bytes_checksummed": 0,
            "effective_bytes_per_second": 0,
            "faults": 0,
            "subtasks_total": len(body["DATA"]),
            "subtasks_pending": len(body["DATA"]),
            "subtasks_succeeded": 0,
            "subtasks_failed": 0,
            "subtasks_canceled": 0,
            "subtasks_expired": 0,
            "subtasks_retrying": 0,
            "subtasks_skipped_errors": 0,
            "fatal_error": None,
            "is_ok": True,
            "is_paused": False,
            "nice_status": "Queued",
            "nice_status_details": None,
            "nice_status_expires_in": -1,
            "nice_status_short_description": "Queued",
            "canceled_by_admin": None,
            "canceled_by_admin_message": None,
            "history_deleted": False,
        }

    def _execute(
        self, task: dict[str, Any], work: Callable[[dict[str, Any], ActionContext], ActionResult], request: Any
    ) -> None:
        context = ActionContext(task["task_id"], "transfer task", Faults(), None, lambda *_: None, Clock())
        started = time.monotonic()
        try:
            result = work(request, context)
            outcome, details = result.status, result.details
        except ProviderError as exc:  # what the service would have refused at submission, found on the way
            outcome, details = "FAILED", {"fatal_error": {"code": "BAD_REQUEST", "description": str(exc)}}
        counts = (
            "files",
            "directories",
            "files_transferred",
            "files_skipped",
            "bytes_transferred",
            "bytes_checksummed",
        )
        ended = {key: details[key] for key in counts if key in details}
        seconds = max(time.monotonic() - started, 1e-3)
        ended.update(
            status=outcome,
            completion_time=_now(),
            fatal_error=details.get("fatal_error"),
            is_ok=outcome == "SUCCEEDED",
            nice_status=None if outcome == "SUCCEEDED" else (details.get("fatal_error") or {}).get("code"),
            nice_status_short_description=None,
            nice_status_expires_in=None,
            subtasks_pending=0,
            subtasks_succeeded=task["subtasks_total"] if outcome == "SUCCEEDED" else 0,
            subtasks_failed=0 if outcome == "SUCCEEDED" else task["subtasks_total"],
            effective_bytes_per_second=int(ended.get("bytes_transferred", 0) / seconds),
        )
        self._settle(task["task_id"], ended)

    def _settle(self, task_id: str, ended: dict[str, Any]) -> None:
        with self._lock:
            current = None if self.closed else self.store.get(KIND, task_id)
            if current is not None and current["status"] == "ACTIVE":
                self.store.put(KIND, task_id, {**current, **ended})

    # reading -----------------------------------------------------------------------------
    def get(self, task_id: str) -> dict[str, Any]:
        task = self.store.get(KIND, task_id)
        if task is None:
            raise ApiError(404, "TaskNotFound", f"Task {task_id} not found")
        return task

    def all(self) -> list[dict[str, Any]]:
        return sorted(self.store.all(KIND), key=lambda task: task["request_time"], reverse=True)

    def cancel(self, task_id: str) -> dict[str, Any]:
        """An ACTIVE task ends FAILED (code CANCELED) now; what its thread copies later is not recorded."""
        with self._lock:
            task = self.get(task_id)
            if task["status"] != "ACTIVE":
                return {"code": "TaskComplete", "message": "The task is already complete; it cannot be cancelled."}
            canceled = {"code": "CANCELED", "description": "The task was cancelled by its owner."}
            self.store.put(KIND, task_id, {**task, **_failed(canceled)})
        return {"code": "Canceled", "message": "The task has been cancelled successfully."}

    # stopping ----------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Tasks a killed emulator left ACTIVE end FAILED; returns their ids."""
        stopped = [task for task in self.store.all(KIND) if task["status"] == "ACTIVE"]
        for task in stopped:
            self.store.put(KIND, task["task_id"], {**task, **_failed(STOPPED)})
        return [task["task_id"] for task in stopped]

    def close(self) -> None:
        with self._lock:
            self.recover()
            self.closed = True


def _failed(fatal_error: dict[str, str]) -> dict[str, Any]:
    return {
        "status": "FAILED",
        "completion_time": _now(),
        "fatal_error": fatal_error,
        "is_ok": False,
        "nice_status": fatal_error["code"],
        "subtasks_pending": 0,
    }


def _accepted(kind: str, task_id: str, submission: str, resource: str, code: str) -> dict[str, Any]:
    """A submission's answer (the SDK's submit_transfer / submit_delete data)."""
    what = "transfer" if kind == "TRANSFER" else "delete"
    return {
        "DATA_TYPE": f"{what}_result",
        "code": code,
        "message": f"The {what} has been accepted and a task has been created and queued for execution",
        "request_id": uuid.uuid4().hex[:9],
        "resource": resource,
        "submission_id": submission,
        "task_id": task_id,
        "task_link": {
            "DATA_TYPE": "link",
            "href": f"/v0.10/task/{task_id}?format=json",
            "rel": "related",
            "resource": "task",
            "title": "related task",
        },
    }
