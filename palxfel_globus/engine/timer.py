"""A local stand-in for a Globus Timer: run a flow every interval, for N ticks or until stopped.

Like the service (globus-flows.md 4), tick n is due at start + n * interval and a tick is
skipped while the previous run is still going; ``allow_overlap`` starts it anyway, to
test what a manual run overlapping a timer run does.
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
    lock = threading.Lock()
    threads: list[threading.Thread] = []
    start = time.monotonic()

    errors: list[Exception] = []

    def tick_run(tick: int) -> None:
        try:
            document = engine.run(definition, body(tick), label=f"local timer tick {tick}", tags=["local-timer"])
        except SimulatedCrash:
            with lock:
                report.crashed_ticks.append(tick)
            return
        except Exception as exc:  # re-raised in the caller's thread below
            errors.append(exc)
            return
        with lock:
            report.runs.append(document)
        if on_run is not None:
            on_run(tick, document)

    tick = 0
    while ticks is None or tick < ticks:
        if stop.wait(max(0.0, start + tick * interval - time.monotonic())):
            break
        if not allow_overlap and any(thread.is_alive() for thread in threads):
            report.skipped_ticks.append(tick)
            if on_skip is not None:
                on_skip(tick)
        else:
            thread = threading.Thread(target=tick_run, args=(tick,), name=f"timer-tick-{tick}")
            thread.start()
            threads.append(thread)
        tick += 1
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return report
