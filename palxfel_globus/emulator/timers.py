"""The Timers API for flow timers, and the scheduler that starts their runs.

As the service does: a recurring schedule with no ``start`` runs first at creation, then every
``interval_seconds``; a tick while the timer's previous run is still active is skipped (counted,
not queued); ``end`` (``iterations`` or ``time``) makes the timer inactive once reached. The
flow-start document (``body``) may hold only ``body``, ``tags``, ``run_managers`` and
``run_monitors``: anything else is refused, because what the real service does with it is not
documented and a field silently dropped is how a promised e-mail got lost."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Optional

from palxfel_globus.emulator.api import ApiError, Route, json_object, not_found
from palxfel_globus.engine.definition import parse_timestamp
from palxfel_globus.engine.runner import iso

FLOW_START_FIELDS = ("body", "tags", "run_managers", "run_monitors")
# the Flows service's own run URL: what the globus CLI recognises as a flow timer
FLOWS_CALLBACK = "https://flows.automate.globus.org/flows/{flow_id}/run"
# the fields of a timer /jobs shows (get_job's registered response), and of create_timer's answer
JOB_FIELDS = (
    "name", "callback_url", "callback_body", "inactive_reason", "scope", "job_id", "status", "submitted_at",
    "last_ran_at", "next_run", "n_runs", "n_errors", "results", "schedule", "timer_type",
)  # fmt: skip
CREATED_FIELDS = (
    "callback_body", "callback_url", "inactive_reason", "interval", "job_id", "last_ran_at", "n_errors", "n_runs",
    "name", "next_run", "results", "schedule", "scope", "status", "stop_after", "submitted_at", "timer_type",
)  # fmt: skip
TIMER_FIELDS = ("timer_type", "flow_id", "name", "schedule", "body", "scope", "resource_server")


def _parse_time(text: Any, what: str) -> float:
    try:
        return parse_timestamp(text).timestamp()
    except ValueError:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", f"{what} {text!r} is not an ISO 8601 date and time.") from None


def _checked_schedule(schedule: Any) -> dict[str, Any]:
    if not isinstance(schedule, dict) or schedule.get("type") not in ("recurring", "once"):
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "schedule must be an object whose type is recurring or once.")
    if schedule["type"] == "recurring":
        interval = schedule.get("interval_seconds")
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 60:
            raise ApiError(422, "UNPROCESSABLE_ENTITY", "schedule.interval_seconds must be an integer of at least 60.")
        end = schedule.get("end")
        if end is not None:
            condition = end.get("condition") if isinstance(end, dict) else None
            if condition == "iterations" or (condition is None and "count" in end):
                count = _iterations(end)
                if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                    raise ApiError(422, "UNPROCESSABLE_ENTITY", "schedule.end.iterations must be a positive integer.")
            elif condition == "time":
                _parse_time(end.get("datetime"), "schedule.end.datetime")
            else:
                raise ApiError(422, "UNPROCESSABLE_ENTITY", "schedule.end.condition must be iterations or time.")
    for key in ("start", "datetime"):
        if schedule.get(key) is not None:
            _parse_time(schedule[key], f"schedule.{key}")
    return schedule


def create_timer(emulator: Any, request: Any) -> tuple[int, dict[str, Any]]:
    timer = json_object(request).get("timer")
    if not isinstance(timer, dict):
        raise ApiError(422, "UNPROCESSABLE_ENTITY", 'The request must be {"timer": {...}}.')
    unknown = sorted(set(timer) - set(TIMER_FIELDS))
    if unknown:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", f"Unknown timer field(s): {', '.join(unknown)}.")
    if timer.get("timer_type") != "flow":
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "This emulator keeps flow timers only (timer_type flow).")
    flow_id = str(timer.get("flow_id") or "")
    if emulator.store.get("flow", flow_id) is None:
        raise ApiError(422, "UNPROCESSABLE_ENTITY", f"There is no flow {flow_id!r} to run.")
    start_document = timer.get("body") or {}
    if not isinstance(start_document, dict):
        raise ApiError(422, "UNPROCESSABLE_ENTITY", "body (the flow-start document) must be an object.")
    extra = sorted(set(start_document) - set(FLOW_START_FIELDS))
    if extra:
        raise ApiError(
            422,
            "UNPROCESSABLE_ENTITY",
            f"The flow-start document holds {', '.join(extra)}, which the Timers API does not define; it may have "
            f"only {', '.join(FLOW_START_FIELDS)}.",
        )
    schedule = _checked_schedule(timer.get("schedule"))
    now = emulator.scheduler.now()
    first = schedule.get("start") or schedule.get("datetime")
    timer_id = str(uuid.uuid4())
    document = {
        "job_id": timer_id,
        "timer_type": "flow",
        "name": timer.get("name") or "",
        "flow_id": flow_id,
        "callback_url": FLOWS_CALLBACK.format(flow_id=flow_id),
        "callback_body": start_document,
        "schedule": schedule,
        "status": "new",
        "inactive_reason": None,
        "submitted_at": iso(now),
        "next_run": iso(_parse_time(first, "start") if first else now),
        "last_ran_at": None,
        "n_runs": 0,
        "n_errors": 0,
        "last_run_id": None,
        "results": {"data": [], "page_next": None},
        "scope": f"https://auth.globus.org/scopes/{flow_id}/flow_{flow_id.replace('-', '_')}_user",
    }
    emulator.store.put("timer", timer_id, document)
    emulator.scheduler.wake()
    created = {key: value for key, value in _view(emulator, document).items() if key in CREATED_FIELDS}
    return 201, {"timer": dict(created, results=[])}


def _timer(emulator: Any, timer_id: str) -> dict[str, Any]:
    timer = emulator.store.get("timer", timer_id)
    if timer is None:
        raise not_found("timer", timer_id)
    return timer


def _view(emulator: Any, timer: dict[str, Any]) -> dict[str, Any]:
    """The timer as ``/jobs`` shows it (the SDK's get_job data): the v1 fields ``interval``, ``start``
    and ``stop_after`` worked out from the schedule, and ``activity``, which the globus CLI reads,
    besides the v2 ``schedule`` and ``timer_type`` that create_timer's answer carries."""
    schedule, end = timer["schedule"], timer["schedule"].get("end") or {}
    running = emulator.runs.is_active(timer.get("last_run_id"))
    if timer["status"] == "inactive":
        paused = (timer.get("inactive_reason") or {}).get("cause") == "user"
        activity = {"code": "paused"} if paused else None
    elif running:
        activity = {"code": "run_in_progress", "start_timestamp": timer.get("last_ran_at")}
    else:
        activity = {"code": "awaiting_next_run"}
    once = schedule["type"] == "once"
    count = 1 if once else _iterations(end)
    interval = schedule.get("interval_seconds")
    shown = {key: value for key, value in timer.items() if key in JOB_FIELDS}
    return {
        **shown,
        "activity": activity,
        "interval": None if interval is None else float(interval),
        "start": schedule.get("start") or schedule.get("datetime") or timer["submitted_at"],
        "stop_after": {"date": end.get("datetime"), "n_runs": count} if (count or end.get("datetime")) else None,
    }


def _iterations(end: dict[str, Any]) -> Any:
    """An ``iterations`` end condition's count (the SDK writes ``iterations``; some documents show ``count``)."""
    return end.get("iterations", end.get("count")) if end.get("condition", "iterations") == "iterations" else None


def get_job(emulator: Any, request: Any, timer_id: str) -> dict[str, Any]:
    return _view(emulator, _timer(emulator, timer_id))


def list_jobs(emulator: Any, request: Any) -> dict[str, Any]:
    return {"jobs": [_view(emulator, timer) for timer in emulator.store.all("timer")]}


def pause_job(emulator: Any, request: Any, timer_id: str) -> dict[str, Any]:
    with emulator.scheduler.lock:
        timer = _timer(emulator, timer_id)
        timer.update(status="inactive", inactive_reason={"cause": "user", "detail": {}})
        emulator.store.put("timer", timer_id, timer)
    return {"message": f"Successfully paused job {timer_id}."}


def resume_job(emulator: Any, request: Any, timer_id: str) -> dict[str, Any]:
    with emulator.scheduler.lock:
        timer = _timer(emulator, timer_id)
        if _ended(timer, emulator.scheduler.now()) is not None or timer.get("next_run") is None:
            raise ApiError(409, "CONFLICT", f"Timer {timer_id} has reached its end condition.")
        timer.update(status="loaded", inactive_reason=None, next_run=iso(max(emulator.scheduler.now(), _next(timer))))
        emulator.store.put("timer", timer_id, timer)
    emulator.scheduler.wake()
    return {"message": f"Successfully resumed job {timer_id}."}


def delete_job(emulator: Any, request: Any, timer_id: str) -> dict[str, Any]:
    """The timer as it was (the SDK's delete_job data shows the deleted job's last status)."""
    with emulator.scheduler.lock:
        timer = _timer(emulator, timer_id)
        emulator.store.delete("timer", timer_id)
    return _view(emulator, timer)


def _next(timer: dict[str, Any]) -> float:
    return _parse_time(timer["next_run"], "next_run") if timer.get("next_run") else float("inf")


def _ended(timer: dict[str, Any], now: float) -> Optional[str]:
    """Why the timer's schedule is over at ``now``, or None."""
    schedule = timer["schedule"]
    if schedule["type"] == "once":
        return "the timer ran once" if timer["n_runs"] >= 1 else None
    end = schedule.get("end") or {}
    if _iterations(end) is not None and timer["n_runs"] >= _iterations(end):
        return f"the timer ran {_iterations(end)} times"
    if end.get("condition") == "time" and now >= _parse_time(end["datetime"], "end"):
        return f"the timer passed its end time {end['datetime']}"
    return None


class Scheduler:
    """One thread that starts each due timer's run; ``lock`` keeps pause/resume/delete and a tick apart.

    Its clock is the real one moved on by ``advance``: the demo lets a 60 s interval pass at once
    and the timers still show the times they would have."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.offset = 0.0
        self.lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="timer-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def wake(self) -> None:
        self._wake.set()

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the timers' clock on by ``seconds``; what falls due runs now."""
        self.offset += seconds
        self.wake()

    def _loop(self) -> None:
        while not self._stop.is_set():
            soonest = self.tick(self.now())
            self._wake.wait(None if soonest is None else max(0.0, min(soonest - self.now(), 60.0)))
            self._wake.clear()

    def tick(self, now: float) -> Optional[float]:
        """Start every due run; returns when the next timer is due (None: none is active)."""
        soonest = None
        with self.lock:
            for timer in self.emulator.store.all("timer"):
                if timer["status"] == "inactive":
                    continue
                due = _next(timer)
                if due <= now:
                    self._fire(timer, now)
                    self.emulator.store.put("timer", timer["job_id"], timer)
                    if timer["status"] == "inactive":
                        continue
                    due = _next(timer)
                soonest = due if soonest is None else min(soonest, due)
        return soonest

    def _fire(self, timer: dict[str, Any], now: float) -> None:
        from palxfel_globus.emulator.flows import start_run

        reason = _ended(timer, now)
        if reason is None:
            if self.emulator.runs.is_active(timer.get("last_run_id")):
                result = {"ran_at": iso(now), "status": 409, "errors": "the previous run is still active; skipped"}
            else:
                try:
                    run = start_run(self.emulator, timer["flow_id"], {**timer["callback_body"], "label": timer["name"]})
                    timer["last_run_id"] = run["run_id"]
                    result = {"ran_at": iso(now), "status": 201, "data": run, "errors": None}
                except ApiError as error:
                    timer["n_errors"] += 1
                    result = {"ran_at": iso(now), "status": error.status, "errors": error.message}
                timer["n_runs"] += 1
                timer["last_ran_at"] = iso(now)
            timer["results"]["data"] = [result, *timer["results"]["data"]][:20]
            timer["status"] = "loaded"
            reason = _ended(timer, now)
        if reason is not None:
            timer.update(status="inactive", inactive_reason={"cause": "ended", "detail": {"message": reason}})
            timer["next_run"] = None
            return
        interval = timer["schedule"].get("interval_seconds") or 0
        due = _next(timer)
        while due <= now:  # a missed tick is not made up: the next one is the first still ahead
            due += interval
        timer["next_run"] = iso(due)


ROUTES = [
    Route("timer", "/v2/timer", ("POST",), create_timer),
    Route("timer", "/jobs", ("GET",), list_jobs),
    Route("timer", "/jobs/<timer_id>", ("GET",), get_job),
    Route("timer", "/jobs/<timer_id>", ("DELETE",), delete_job),
    Route("timer", "/jobs/<timer_id>/pause", ("POST",), pause_job),
    Route("timer", "/jobs/<timer_id>/resume", ("POST",), resume_job),
]
