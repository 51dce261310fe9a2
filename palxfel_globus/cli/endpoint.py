"""``palxfel-globus endpoint config daq|ROUTE``: an endpoint's config.yaml with the deployed function ids."""

import sys
from typing import Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import command_group
from palxfel_globus.cli.session import ConfigOption

app = command_group("The Globus Compute endpoints that run the flow's functions.")


@app.command("config")
def config(
    which: Annotated[
        str, typer.Argument(metavar="daq|ROUTE", help="`daq`, or a route by its number (1 = the first) or its match.")
    ],
    config_path: ConfigOption = None,
    engine: Annotated[
        Optional[str],
        typer.Option(
            help="`process` (one host) or `slurm` (batch jobs). Default: process for the DAQ, slurm for a route."
        ),
    ] = None,
    partition: Annotated[Optional[str], typer.Option(help="Slurm partition for the verification jobs.")] = None,
    account: Annotated[Optional[str], typer.Option(help="Slurm account the jobs are charged to, if any.")] = None,
    worker_env: Annotated[
        Optional[str],
        typer.Option(help="Virtualenv on the nodes' shared filesystem with globus-compute-endpoint (slurm)."),
    ] = None,
) -> None:
    """Print the endpoint's config.yaml, its allowed_functions filled in from the last deploy.

    Save it as ~/.globus_compute/NAME/config.yaml on the endpoint's host and restart the endpoint;
    do it again after a deploy that registers a function (deploy and `doctor` say when).
    """
    from palxfel_globus.config import load_config
    from palxfel_globus.errors import PalxfelError
    from palxfel_globus.globus.deployment import Deployment, deployment_path
    from palxfel_globus.globus.endpoints import Slurm, endpoint_config, pick_role, registered_ids

    loaded = load_config(config_path, check_tree=False)
    role = pick_role(loaded, which)
    chosen = engine or ("process" if role.on_daq_host else "slurm")
    if chosen not in ("process", "slurm"):
        raise PalxfelError(f"--engine {chosen!r} is not an engine; choose process or slurm.")
    slurm = None
    if chosen == "slurm":
        if not (partition and worker_env):
            raise PalxfelError(
                "A slurm endpoint needs --partition and --worker-env (a virtualenv with globus-compute-endpoint "
                "that the batch nodes can activate); --engine process writes a one-host endpoint instead."
            )
        slurm = Slurm(partition, worker_env, account)
    ids = registered_ids(role, Deployment.load(deployment_path(loaded)))
    sys.stdout.write(endpoint_config(role, ids, slurm))
