"""What the Globus commands share: the config, the deployment file and a Globus session."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import ConfigOption as ConfigOption  # the commands import it from here
from palxfel_globus.errors import PalxfelError

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def deployed(config_path: Optional[Path], what: str) -> tuple[Any, Any, str]:
    """(config, deployment, the id of ``what``: "flow", "timer" or "transfer_flow"), or a sentence saying to
    deploy first."""
    from palxfel_globus.globus.deployment import Deployment, deployment_path

    config = load_globus_config(config_path)
    deployment = Deployment.load(deployment_path(config))
    record = getattr(deployment, what)
    if not record:
        name = what.replace("_", " ")
        raise PalxfelError(f"No {name} is deployed for {config.source}; run 'palxfel-globus deploy' first.")
    return config, deployment, record["id"]


def load_globus_config(config_path: Optional[Path]) -> Any:
    """The config for a command that talks to Globus: often run away from the DAQ host, so the
    DAQ root is checked (routes against its experiments) only where it is mounted."""
    from palxfel_globus.cli.output import warn
    from palxfel_globus.config import load_config

    config = load_config(config_path, check_tree=False)
    if config.daq.root.is_dir():
        return load_config(config_path)
    warn(f"the DAQ root {config.daq.root} is not on this machine; the routes were not checked against it.")
    return config


def session(config: Any) -> Any:
    from palxfel_globus.globus.auth import open_session

    return open_session(config)


def ensure_login(current: Any, why: str) -> None:
    """Log in now when what follows needs a person's login or consent: on a terminal, the login starts
    here; elsewhere (cron, CI) nobody could answer it, so the command stops with what to run."""
    import sys

    from palxfel_globus.cli.output import say

    if not current.needs_person():
        return
    if not sys.stdin.isatty():
        raise PalxfelError(f"{why}; run 'palxfel-globus login' on a terminal, then run this command again.")
    say(f"{why}; log in below.")
    current.app.login()
