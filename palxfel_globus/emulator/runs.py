"""Runs of flows on the local engine, one thread each, with their documents and logs in the store.

A run's document is written when it starts (ACTIVE) and when it ends or waits; its log entries
as they happen, so ``runs logs`` and ``runs watch`` see a run in progress. A run waiting for a
person (INACTIVE, at an AwaitWebInput) goes on in a new thread when the web input is answered,
and a cancel ends it ENDED. A run that was ACTIVE when the emulator stopped cannot go on (its
worker processes went with it): on the next start it is marked FAILED with a description that
says so, never left ACTIVE forever nor dropped; an INACTIVE one still waits, as the engine kept it."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Callable, Optional

from palxfel_globus.emulator.api import ApiError, not_found
from palxfel_globus.engine.runner import iso

ENDED_STATUSES = ("SUCCEEDED", "FAILED", "ENDED")
INTERRUPTED = "The emulator stopped while this run was active; its actions did not finish. Start it again."


def _failed(description: str) -> dict[str, Any]:
    """The fields of a run document that ended FAILED now, for ``description``."""
    return {
        "status": "FAILED",
        "display_status": "FAILED",
        "completion_time": iso(time.time()),
        "details": {"code": "FlowFailed", "description": description},
    }


class Runs:
    def __init__(self, store: Any, engine: Any, owner: str) -> None:
        self.store, self.engine, self.owner = store, engine, owner
        self._cancelled: set[str] = set()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._ended = threading.Condition()
        self.ended_count = 0

    def recover(self) -> list[str]:
        """Mark the runs a stopped emulator left ACTIVE; returns their ids."""
        marked = []
        for run in self.store.all("run"):
            if run["status"] == "ACTIVE" or (run["status"] == "INACTIVE" and not self._kept(run["run_id"])):
                ended = _failed(INTERRUPTED)
                self.store.put("run", run["run_id"], {**run, **ended})
                self.store.add_log_entry(
                    run["run_id"],
                    {"time": ended["completion_time"], "code": "FlowFailed", "description": INTERRUPTED, "details": {}},
                )
                marked.append(run["run_id"])
        return marked

    def start(self, flow: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        """Start a run of ``flow`` with a run request ({body, label, tags, run_managers, run_monitors})."""
        run_id = str(uuid.uuid4())
        owner = f"urn:globus:auth:identity:{self.owner}"
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
            "run_managers": list(request.get("run_managers") or []),
            "run_monitors": list(request.get("run_monitors") or []),
            "manage_by": list(request.get("run_managers") or []),
            "monitor_by": list(request.get("run_monitors") or []),
            "user_role": "run_owner",
            "status": "ACTIVE",
            "display_status": "ACTIVE",
            "start_time": iso(time.time()),
            "completion_time": None,
            "details": {"code": "FlowStarting", "description": "The Flow is starting execution"},
        }
        self.store.put("run", run_id, document)

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
        return document

    def _go(self, document: dict[str, Any], step: Callable[[Callable[[], bool]], dict[str, Any]]) -> None:
        """Run ``step`` (the engine's run or resume of this run) in a thread of its own."""
        run_id = document["run_id"]
        thread = threading.Thread(target=self._execute, args=(document, step), daemon=True)
        with self._lock:
            self._threads[run_id] = thread
        thread.start()

    def _execute(self, document: dict[str, Any], step: Callable[[Callable[[], bool]], dict[str, Any]]) -> None:
        run_id = document["run_id"]
        try:
            result = step(lambda: run_id in self._cancelled)
            ended = {key: result[key] for key in ("status", "display_status", "completion_time", "details")}
        except Exception as exc:  # a crash of the engine is the run's failure, never a silent ACTIVE run
            ended = _failed(f"The local engine failed: {type(exc).__name__}: {exc}")
        self._settle(run_id, document, ended)

    def _settle(self, run_id: str, document: dict[str, Any], ended: dict[str, Any]) -> None:
        current = self.store.get("run", run_id) or document
        self.store.put("run", run_id, {**current, **ended})
        with self._lock:
            self._threads.pop(run_id, None)
            self._cancelled.discard(run_id)
        with self._ended:
            if ended["status"] in ENDED_STATUSES:
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
        run = self.get(run_id)
        if run["status"] in ENDED_STATUSES:
            return run
        if run["status"] == "INACTIVE":  # nothing runs it: end it now
            result = self.engine.cancel(run_id)
            ended = {key: result[key] for key in ("status", "display_status", "completion_time", "details")}
            self._settle(run_id, run, ended)
            return self.get(run_id)
        with self._lock:
            self._cancelled.add(run_id)
        return run

    def is_active(self, run_id: Optional[str]) -> bool:
        run = self.store.get("run", run_id) if run_id else None
        return bool(run) and run["status"] not in ENDED_STATUSES

    def wait(self, timeout: Optional[float] = None) -> None:
        """Until every run started so far has ended (the server's stop, and tests)."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)

    def resume(self, run_id: str) -> dict[str, Any]:
        run = self.get(run_id)
        if run["status"] != "INACTIVE":
            raise ApiError(409, "CONFLICT", f"Run {run_id} is {run['status']}; only an INACTIVE run can resume.")
        return run
