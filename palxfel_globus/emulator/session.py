"""An emulator started for this process, with globus-sdk pointed at it: what the demo (and the
benchmark) use to run the production commands without a shell that sourced env.sh."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def emulated_globus(config: Any, state_dir: Path) -> Iterator[Any]:
    """The started emulator; inside, ``os.environ`` holds its env.sh variables, and HOME is the state
    directory so the service identity's token file stays there. Both are restored on the way out,
    and the server stops."""
    from palxfel_globus.emulator.server import Emulator

    emulator = Emulator(config, state_dir)
    emulator.start()
    variables = {**emulator.environment(), "HOME": str(state_dir)}
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield emulator
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        emulator.stop()


def latest_run(emulator: Any) -> dict[str, Any]:
    """The newest run, with its log (what TickSummary reads)."""
    run = max(emulator.store.all("run"), key=lambda run: run["start_time"])
    return {**run, "log": emulator.store.log(run["run_id"])}
