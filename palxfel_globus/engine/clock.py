"""The engine's time: real, or simulated so that waiting costs nothing.

A flow with a 30-minute ``Wait`` or a retry loop must be testable in seconds, yet its
log must still read as the service's would (the Wait's 30 minutes between two entries).
``VirtualClock`` starts at the real time and runs at the real rate, so work that takes
real time (a copy, a Compute task) still shows; a ``sleep`` moves it on at once.
"""

from __future__ import annotations

import datetime
import threading
import time


class Clock:
    """Real time: a sleep waits."""

    virtual = False

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class VirtualClock(Clock):
    """Simulated time: real time plus every sleep so far, each taken at once."""

    virtual = True

    def __init__(self, start: float | None = None) -> None:
        self._origin = time.time() if start is None else start
        self._monotonic = time.monotonic()
        self._skipped = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._monotonic) + self._skipped

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._skipped += max(0.0, seconds)


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="microseconds")
