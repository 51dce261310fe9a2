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
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, help="Port on 127.0.0.1 (default 0: the last start's if free, else a free one)."
        ),
    ] = 0,
    compute_sdk_port: Annotated[
        int,
        typer.Option(
            "--compute-sdk-port",
            min=0,
            max=65535,
            help="Also answer Compute where the Compute SDK looks with GLOBUS_SDK_ENVIRONMENT=local (0: not at all).",
        ),
    ] = 5000,
) -> None:
    """Serve the Globus Auth, Flows, Timers, Compute, Transfer and Search APIs on 127.0.0.1, backed by the local engine.

    Then, in another shell, `source STATE/env.sh` and use palxfel-globus (deploy, status, runs, timer), the
    `globus` CLI or a globus-sdk / Compute SDK script as against Globus. Runs ship scans between the config's
    `[local]` directories. Stops at once on Ctrl-C or SIGTERM (runs still active end FAILED); state survives a
    restart, which keeps the port when it is free.
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
    emulator = Emulator(load_config(config, with_local=True), state, port, compute_sdk_port or None)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    url = emulator.start()
    if emulator.interrupted:
        warn(
            f"{len(emulator.interrupted)} run(s) or task(s) were active when the emulator was last killed; they are "
            "marked FAILED."
        )
    for sentence in emulator.warnings:
        warn(sentence)
    say(f"Globus emulator at {url}, state in {state}.")
    compute = f"; the Compute SDK's address {emulator.compute_sdk_url} too" if emulator.compute_sdk_url else ""
    say(f"In another shell: source {state / 'env.sh'}   (Ctrl-C here stops it{compute})")
    stop.wait()
    emulator.stop()
    if emulator.stopped_runs:
        warn(f"{len(emulator.stopped_runs)} active run(s) ended FAILED: the emulator stopped.")
    say("Emulator stopped.")
