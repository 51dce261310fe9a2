"""Fault injection for tests and demos: what can go wrong in a real deployment, on purpose.

``fail`` makes an action end FAILED (as a Transfer task that hit a full or read-only
destination would), ``corrupt`` damages a file after a Transfer action delivered it (as
bit rot or a bad disk would, so that only a later verification can notice), ``crash``
stops the engine before a state starts (as a killed process would), leaving everything
done so far in place.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from palxfel_globus.engine.errors import SimulatedCrash


@dataclass
class Corruption:
    state: str
    pattern: str  # glob on the destination path, relative to its collection
    mode: str = "flip"  # "flip" one byte, or "truncate" to half


@dataclass
class Faults:
    fail: dict[str, int] = field(default_factory=dict)  # state -> how many times its action fails (-1: always)
    corrupt: list[Corruption] = field(default_factory=list)
    crash: set[str] = field(default_factory=set)  # states the engine dies before, once each
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_failure(self, state: str) -> bool:
        with self._lock:
            remaining = self.fail.get(state, 0)
            if remaining == 0:
                return False
            if remaining > 0:
                self.fail[state] = remaining - 1
            return True

    def maybe_crash(self, state: str) -> None:
        with self._lock:
            if state not in self.crash:
                return
            self.crash.discard(state)
        raise SimulatedCrash(f"simulated crash before state {state}")

    def damage(self, state: str, delivered: list[tuple[str, Path]]) -> list[str]:
        """Corrupt delivered files whose collection path matches; returns the damaged paths."""
        damaged = []
        for corruption in self.corruptions_for(state):
            for collection_path, local in delivered:
                if fnmatch.fnmatchcase(collection_path, corruption.pattern):
                    _damage_file(local, corruption.mode)
                    damaged.append(collection_path)
        return damaged

    def corruptions_for(self, state: str) -> list[Corruption]:
        return [corruption for corruption in self.corrupt if corruption.state == state]


def _damage_file(path: Path, mode: str) -> None:
    data = bytearray(path.read_bytes())
    if mode == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    elif data:
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(b"\x00")


def parse_fault(text: str, faults: Optional[Faults] = None) -> Faults:
    """``fail:STATE[:N]``, ``crash:STATE``, ``corrupt:STATE:GLOB[:truncate]`` (the CLI's --fault)."""
    faults = faults or Faults()
    kind, _, rest = text.partition(":")
    parts = rest.split(":") if rest else []
    usage = "use fail:STATE[:N], crash:STATE or corrupt:STATE:GLOB[:truncate]"
    if kind == "fail" and 1 <= len(parts) <= 2:
        if len(parts) == 2 and not (parts[1].isdigit() and 1 <= int(parts[1]) <= 1_000_000):
            raise ValueError(f"--fault {text!r}: N ({parts[1]!r}) is how many times STATE fails, a whole number from 1")
        faults.fail[parts[0]] = int(parts[1]) if len(parts) == 2 else -1
    elif kind == "crash" and len(parts) == 1:
        faults.crash.add(parts[0])
    elif kind == "corrupt" and 2 <= len(parts) <= 3:
        if len(parts) == 3 and parts[2] not in ("truncate", "flip"):
            raise ValueError(f"--fault {text!r}: {parts[2]!r} is not a way to damage a file; use truncate or flip")
        faults.corrupt.append(Corruption(parts[0], parts[1], parts[2] if len(parts) == 3 else "flip"))
    else:
        raise ValueError(f"--fault {text!r} is not a fault; {usage}")
    return faults


def check_faults(faults: Faults, states: dict[str, Any]) -> None:
    """Every fault names a state of the definition it runs with (a typo would silently test nothing)."""
    named = [*faults.fail, *faults.crash, *(corruption.state for corruption in faults.corrupt)]
    unknown = sorted({name for name in named if name not in states})
    if unknown:
        raise ValueError(
            f"--fault names {', '.join(unknown)}, which the flow does not have; its states are "
            + ", ".join(sorted(states))
        )
