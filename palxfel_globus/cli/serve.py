"""``palxfel-globus local serve``: Globus on one machine, for this product and any globus-sdk client."""

from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import CONFIG_DEFAULT


def serve(
    state: Annotated[Path, typer.Option("--state", help="Directory for the emulator's state and env.sh.")],
    config: Annotated[
        Optional[Path],
        typer.Option("--config", "-c", help=f"Config file: its [local] stand-ins hold the data {CONFIG_DEFAULT}."),
    ] = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1; 0 takes a free one.")] = 0,
) -> None:
    """Serve the Globus Auth, Flows, Timers, Compute and Transfer APIs on 127.0.0.1, backed by the local engine.

    Then, in another shell, `source STATE/env.sh` and use palxfel-globus (deploy, status, runs, timer) or
    the `globus` CLI as against Globus. Runs ship scans between the config's `[local]` directories.
    Stops on Ctrl-C or SIGTERM; state survives a restart.
    """
    import signal
    import threading

    from palxfel_globus.cli.output import say, warn
    from palxfel_globus.config import load_config
    from palxfel_globus.emulator.server import Emulator
    from palxfel_globus.errors import PalxfelError

    state = state.absolute()
    if state.exists() and not state.is_dir():
        raise PalxfelError(f"--state {state} is a file; give a directory (it is made if missing).")
    emulator = Emulator(load_config(config, with_local=True), state, port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    url = emulator.start()
    if emulator.interrupted:
        warn(f"{len(emulator.interrupted)} run(s) were active when the emulator last stopped; they are marked FAILED.")
    say(f"Globus emulator at {url}, state in {state}.")
    say(f"In another shell: source {state / 'env.sh'}   (Ctrl-C here stops it)")
    stop.wait()
    emulator.stop()
    say("Emulator stopped.")
