"""A local stand-in for a Globus Timer: run a flow every interval, for N ticks or until stopped.

Like the service (globus-flows.md 4), tick n is due at start + n * interval and a tick is
skipped while the previous run is still going; ``allow_overlap`` starts it anyway, to
test what a manual run overlapping a timer run does. On the engine's simulated clock the
ticks run one after another and the clock jumps to each due time, so a day of ticks
takes as long as its runs; a tick that fell due while the previous run went on (in
simulated time) is skipped, as the service skips it. A run left INACTIVE (waiting for a
person) is still in progress, so every later tick is skipped until it ends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from palxfel_globus.engine.errors import SimulatedCrash
from palxfel_globus.engine.runner import Engine


@dataclass
class TimerReport:
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped_ticks: list[int] = field(default_factory=list)
    crashed_ticks: list[int] = field(default_factory=list)  # runs stopped by an injected crash


@dataclass
class _Ticker:
    engine: Engine
    definition: dict[str, Any]
    body: Callable[[int], dict[str, Any]]
    report: TimerReport
    on_run: Optional[Callable[[int, dict[str, Any]], None]]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def waiting(self) -> bool:
        """A run of this timer is INACTIVE: still in progress for the service."""
        with self.lock:
            return any(run["status"] == "INACTIVE" for run in self.report.runs)

    def run(self, tick: int) -> None:
        try:
            document = self.engine.run(
                self.definition, self.body(tick), label=f"local timer tick {tick}", tags=["local-timer"]
            )
        except SimulatedCrash:
            with self.lock:
                self.report.crashed_ticks.append(tick)
            return
        with self.lock:
            self.report.runs.append(document)
        if self.on_run is not None:
            self.on_run(tick, document)


def run_timer(
    engine: Engine,
    definition: dict[str, Any],
    body: Callable[[int], dict[str, Any]],
    *,
    interval: float,
    ticks: Optional[int],
    allow_overlap: bool = False,
    stop: Optional[threading.Event] = None,
    on_run: Optional[Callable[[int, dict[str, Any]], None]] = None,
    on_skip: Optional[Callable[[int], None]] = None,
) -> TimerReport:
    """Run ticks until ``ticks`` have been due or ``stop`` is set; returns the runs in finishing order."""
    stop = stop or threading.Event()
    report = TimerReport()
    ticker = _Ticker(engine, definition, body, report, on_run)

    def skip(tick: int) -> None:
        report.skipped_ticks.append(tick)
        if on_skip is not None:
            on_skip(tick)

    if engine.clock.virtual and not allow_overlap:
        _simulated(engine, ticker, interval, ticks, stop, skip)
    else:
        _threaded(ticker, interval, ticks, stop, skip, allow_overlap)
    return report


def _simulated(
    engine: Engine,
    ticker: _Ticker,
    interval: float,
    ticks: Optional[int],
    stop: threading.Event,
    skip: Callable[[int], None],
) -> None:
    start, busy_until, tick = engine.clock.now(), None, 0
    while (ticks is None or tick < ticks) and not stop.is_set():
        due = start + tick * interval
        if (busy_until is not None and due < busy_until) or ticker.waiting():
            skip(tick)
        else:
            engine.clock.sleep(due - engine.clock.now())
            ticker.run(tick)
            busy_until = engine.clock.now()
        tick += 1


def _threaded(
    ticker: _Ticker,
    interval: float,
    ticks: Optional[int],
    stop: threading.Event,
    skip: Callable[[int], None],
    allow_overlap: bool,
) -> None:
    threads: list[threading.Thread] = []
    errors: list[Exception] = []

    def guarded(tick: int) -> None:
        try:
            ticker.run(tick)
        except Exception as exc:  # re-raised in the caller's thread below
            errors.append(exc)

    start, tick = time.monotonic(), 0
    while ticks is None or tick < ticks:
        if stop.wait(max(0.0, start + tick * interval - time.monotonic())):
            break
        if not allow_overlap and (any(thread.is_alive() for thread in threads) or ticker.waiting()):
            skip(tick)
        else:
            thread = threading.Thread(target=guarded, args=(tick,), name=f"timer-tick-{tick}")
            thread.start()
            threads.append(thread)
        tick += 1
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
