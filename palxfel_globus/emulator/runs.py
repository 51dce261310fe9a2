"""Runs of flows on the local engine, one thread each, with their documents and logs in the store.

A run's document is written when it starts (ACTIVE) and when it ends or waits; its log entries
as they happen, so ``runs logs`` and ``runs watch`` see a run in progress. A run waiting for a
person (INACTIVE, at an AwaitWebInput) goes on in a new thread when the web input is answered.

A cancel answers as the service does (globus-sdk's cancel_run data): the run is FAILED with the
code ``FlowCanceled`` at once; a Wait it sleeps in ends then, an action it waits on is left to end
and its result dropped. A stop of the emulator ends every ACTIVE run the same way, FAILED with a
description that says the emulator stopped, and returns at once; a run the process lost without a
stop (a kill) is marked so at the next start. An INACTIVE run still waits, as the engine kept it."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Callable, Optional

from palxfel_globus.emulator.api import ApiError, not_found
from palxfel_globus.engine.clock import Clock
from palxfel_globus.engine.runner import iso

ENDED_STATUSES = ("SUCCEEDED", "FAILED", "ENDED")
INTERRUPTED = "The emulator stopped while this run was active; its actions did not finish. Start it again."
CANCELED = "The Flow Instance was canceled by the user"
# What POST /flows/{id}/run, /runs/{id}/cancel and /resume answer (their registered responses): the
# run without the fields of its full record (action_id, completion_time, created_by, manage_by, ...).
ACTION_VIEW = (
    "run_id",
    "flow_id",
    "flow_title",
    "flow_last_updated",
    "start_time",
    "status",
    "display_status",
    "details",
    "run_owner",
    "run_managers",
    "run_monitors",
    "user_role",
    "label",
    "tags",
)


def _ended(code: str, description: str) -> dict[str, Any]:
    """The fields of a run document that ended FAILED now, with ``code`` (FlowFailed, FlowCanceled)."""
    now = iso(time.time())
    return {
        "status": "FAILED",
        "display_status": "FAILED",
        "completion_time": now,
        "details": {"time": now, "code": code, "description": description, "details": {}},
    }


class ServiceClock(Clock):
    """Real time whose sleeps end early when the sleeping run is cancelled or the emulator stops:
    a run's Wait takes its real time, yet a cancel or a stop never waits for it."""

    def __init__(self, interrupted: Callable[[], bool]) -> None:
        self._interrupted = interrupted
        self._wake = threading.Condition()

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + max(0.0, seconds)
        with self._wake:
            self._wake.wait_for(lambda: self._interrupted() or time.monotonic() >= deadline, max(0.0, seconds))

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()


class Runs:
    def __init__(self, store: Any, owner: str) -> None:
        """``engine`` is set once the engine exists: it runs on this object's ``clock``."""
        self.store, self.owner = store, owner
        self.engine: Any = None
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._ended = threading.Condition()
        self._current = threading.local()  # the run a thread executes, for the clock's interruptions
        self.closed = False  # set by close(): late results of interrupted runs are dropped
        self.ended_count = 0
        self.clock = ServiceClock(self._interrupted)

    def _interrupted(self) -> bool:
        return self.closed or getattr(self._current, "run_id", None) in self._cancelled

    def recover(self) -> list[str]:
        """Mark the runs a killed emulator left ACTIVE; returns their ids."""
        marked = []
        for run in self.store.all("run"):
            if run["status"] == "ACTIVE" or (run["status"] == "INACTIVE" and not self._kept(run["run_id"])):
                self._interrupt(run)
                marked.append(run["run_id"])
        return marked

    def _interrupt(self, run: dict[str, Any]) -> None:
        ended = _ended("FlowFailed", INTERRUPTED)
        self.store.put("run", run["run_id"], {**run, **ended})
        self.store.add_log_entry(
            run["run_id"],
            {"time": ended["completion_time"], "code": "FlowFailed", "description": INTERRUPTED, "details": {}},
        )

    def close(self) -> list[str]:
        """The emulator stops: every ACTIVE run ends FAILED now (the description says why), their sleeps
        end, and nothing a run thread finishes later is written. Returns the runs it ended."""
        with self._lock:
            self.closed = True
        self.clock.wake()
        ended = []
        for run in self.store.all("run"):
            if run["status"] == "ACTIVE":
                self._interrupt(run)
                ended.append(run["run_id"])
        with self._ended:
            self._ended.notify_all()
        return ended

    def start(self, flow: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        """Start a run of ``flow`` with a run request ({body, label, tags, run_managers, run_monitors});
        returns the run as the run request answers it."""
        run_id = str(uuid.uuid4())
        owner = f"urn:globus:auth:identity:{self.owner}"
        managers, monitors = list(request.get("run_managers") or []), list(request.get("run_monitors") or [])
        document = {
            "run_id": run_id,
            "action_id": run_id,
            "flow_id": flow["id"],
            "flow_title": flow.get("title") or "",
            "flow_last_updated": flow.get("updated_at"),
            "label": request.get("label"),
            "tags": list(request.get("tags") or []),
            "run_owner": owner,
            "created_by": owner,
            "run_managers": managers,
            "run_monitors": monitors,
            "manage_by": managers,
            "monitor_by": monitors,
            "user_role": "run_owner",
            "status": "ACTIVE",
            "display_status": "ACTIVE",
            "start_time": iso(time.time()),
            "completion_time": None,
            "details": {
                "code": "FlowStarting",
                "description": "The Flow is starting execution",
                "details": {"input": request.get("body") or {}},
            },
        }
        self.store.put("run", run_id, document)
        self.store.put(
            "run_definition",
            run_id,
            {"flow_id": flow["id"], "definition": flow["definition"], "input_schema": flow.get("input_schema") or {}},
        )

        def first_run(cancelled: Callable[[], bool]) -> dict[str, Any]:
            return self.engine.run(
                flow["definition"],
                request.get("body") or {},
                label=document["label"],
                tags=document["tags"],
                flow_id=document["flow_id"],
                flow_title=document["flow_title"],
                run_id=run_id,
                cancelled=cancelled,
            )

        self._go(document, first_run)
        return action_view(document)

    def _go(self, document: dict[str, Any], step: Callable[[Callable[[], bool]], dict[str, Any]]) -> None:
        """Run ``step`` (the engine's run or resume of this run) in a thread of its own."""
        threading.Thread(target=self._execute, args=(document, step), daemon=True).start()

    def _execute(self, document: dict[str, Any], step: Callable[[Callable[[], bool]], dict[str, Any]]) -> None:
        run_id = document["run_id"]
        self._current.run_id = run_id
        try:
            result = step(lambda: run_id in self._cancelled or self.closed)
            ended = {key: result[key] for key in ("status", "display_status", "completion_time", "details")}
        except Exception as exc:  # a crash of the engine is the run's failure, never a silent ACTIVE run
            ended = _ended("FlowFailed", f"The local engine failed: {type(exc).__name__}: {exc}")
        self._settle(run_id, document, ended)

    def _settle(self, run_id: str, document: dict[str, Any], ended: dict[str, Any]) -> None:
        with self._lock:
            cancelled = run_id in self._cancelled
            self._cancelled.discard(run_id)
            if self.closed:
                return
            current = self.store.get("run", run_id) or document
            if not cancelled:
                self.store.put("run", run_id, {**current, **ended})
        with self._ended:
            if cancelled or ended["status"] in ENDED_STATUSES:
                self.ended_count += 1
            self._ended.notify_all()

    def _kept(self, run_id: str) -> bool:
        """Whether the engine still holds this INACTIVE run (its state directory may have been removed)."""
        try:
            self.engine.inactive(run_id)
        except KeyError:
            return False
        return True

    def answer(self, run_id: str, value: Any) -> None:
        """Go on with an INACTIVE run: ``value`` answers the web input it waits for."""
        run = self.get(run_id)
        going = {"status": "ACTIVE", "display_status": "ACTIVE", "details": {"code": "FlowResumed"}}
        self.store.put("run", run_id, {**run, **going})
        self._go(run, lambda cancelled: self.engine.resume(run_id, value, cancelled=cancelled))

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Until ``condition`` holds after a run settled (ended or waits); False if ``timeout`` passed first."""
        with self._ended:
            return self._ended.wait_for(condition, timeout)

    def wait_for_ended(self, count: int, timeout: float) -> bool:
        """Until ``count`` runs started by this emulator have ended; False if ``timeout`` passed first."""
        with self._ended:
            return self._ended.wait_for(lambda: self.ended_count >= count, timeout)

    def get(self, run_id: str) -> dict[str, Any]:
        run = self.store.get("run", run_id)
        if run is None:
            raise not_found("run", run_id)
        return run

    def cancel(self, run_id: str) -> dict[str, Any]:
        """FAILED with FlowCanceled now, as the service answers; an ended run is answered as it is."""
        with self._lock:
            run = self.get(run_id)
            if run["status"] in ENDED_STATUSES:
                return action_view(run)
            cancelled = {**run, **_ended("FlowCanceled", CANCELED)}
            self.store.put("run", run_id, cancelled)
            inactive = run["status"] == "INACTIVE"
            if not inactive:
                self._cancelled.add(run_id)
        self.clock.wake()
        if inactive:  # nothing runs it: the engine forgets it now, and writes its FlowCanceled log entry
            self.engine.cancel(run_id)
            with self._ended:
                self.ended_count += 1
                self._ended.notify_all()
        return action_view(cancelled)

    def is_active(self, run_id: Optional[str]) -> bool:
        run = self.store.get("run", run_id) if run_id else None
        return bool(run) and run["status"] not in ENDED_STATUSES

    def resume(self, run_id: str) -> dict[str, Any]:
        run = self.get(run_id)
        if run["status"] != "INACTIVE":
            raise ApiError(409, "CONFLICT", f"Run {run_id} is {run['status']}; only an INACTIVE run can resume.")
        return action_view(run)


def action_view(run: dict[str, Any]) -> dict[str, Any]:
    """The run as a run, cancel or resume request answers it, with the id of the run's Search record."""
    view = {key: run.get(key) for key in ACTION_VIEW}
    view["search"] = {"task_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"run-search:{run['run_id']}"))}
    return view
