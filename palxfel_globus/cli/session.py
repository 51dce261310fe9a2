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
    """(config, deployment, the id of ``what``: "flow", "timer" or "transfer_flow"), or a sentence saying
    what makes it."""
    config, deployment = config_and_deployment(config_path)
    record = getattr(deployment, what)
    if not record:
        raise PalxfelError(not_deployed(config, deployment, what))
    return config, deployment, record["id"]


def config_and_deployment(config_path: Optional[Path]) -> tuple[Any, Any]:
    """The config and what the last deploy made for it (an empty deployment before the first)."""
    from palxfel_globus.globus.deployment import Deployment, deployment_path

    config = load_globus_config(config_path)
    return config, Deployment.load(deployment_path(config))


def not_deployed(config: Any, deployment: Any, what: str) -> str:
    """The sentence for a command that needs ``what`` deployed, naming the step that makes it: a deploy
    without a subscription makes no copy flow, and deploying again would only answer "Nothing to do"."""
    if what == "transfer_flow" and deployment.flow and not config.globus.subscription_id:
        return (
            f"No one-off copy flow is deployed for {config.source}: a deploy without [globus] subscription_id "
            "makes the scan-backup flow only; set subscription_id to your facility's subscription, then run "
            "'palxfel-globus deploy'."
        )
    return f"No {what.replace('_', ' ')} is deployed for {config.source}; run 'palxfel-globus deploy' first."


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
