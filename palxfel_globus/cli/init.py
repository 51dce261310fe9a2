"""``palxfel-globus init``: write palxfel-globus.toml from a few answers, checked before it is written."""

from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import CONFIG_DEFAULT
from palxfel_globus.cli.output import say, warn
from palxfel_globus.errors import PalxfelError

HEADER = """palxfel-globus configuration, written by 'palxfel-globus init'.
Every key is described in the README's Configuration section; 'palxfel-globus doctor' checks it.
A route may also verify at its destination with Compute: add compute_endpoint and verify_root."""

RouteOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--route",
        metavar="GLOB=COLLECTION:/BASE/PATH",
        help="Where experiments matching GLOB go, e.g. 'ue_*=UUID:/backup/ue' (repeat; first match wins).",
    ),
]


def parse_route(value: str) -> dict[str, str]:
    """``GLOB=UUID:/base/path`` -> a [[route]] table, or one sentence saying what is wrong."""
    from palxfel_globus.cli.transfer import collection_path

    match, separator, destination = value.partition("=")
    malformed = PalxfelError(f"The route {value!r} is not GLOB=COLLECTION_UUID:/base/path.")
    if not separator or not match:
        raise malformed
    try:
        target = collection_path(destination, "destination")
    except PalxfelError:
        raise malformed from None
    return {"match": match, "collection": target["id"], "base_path": target["path"]}


def _answers(given: dict[str, Any], routes: list[dict[str, str]]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Fill what was not given by asking, when a person is at the terminal; else say what is missing."""
    import sys

    questions = {
        "daq_root": "DAQ root directory (e.g. /xfel/ffs/dat)",
        "daq_collection": "Globus collection id of the DAQ storage",
        "collection_root": "The DAQ root as that collection shows it (e.g. /~/dat)",
        "compute_endpoint": "Globus Compute endpoint id on the DAQ host",
    }
    missing = [name for name in questions if not given[name]]
    if (missing or not routes) and not sys.stdin.isatty():
        options = [f"--{name.replace('_', '-')}" for name in missing] + ([] if routes else ["--route"])
        raise PalxfelError(f"Missing {', '.join(options)} (or run 'palxfel-globus init' at a terminal to be asked).")
    for name in missing:
        given[name] = typer.prompt(questions[name])
    if not routes:
        routes.append(_ask_route("Route: experiments matching GLOB go to COLLECTION:/BASE/PATH (GLOB=UUID:/path)"))
        while more := _ask_route("Another route (empty to finish)", optional=True):
            routes.append(more)
    return given, routes


def _ask_route(question: str, optional: bool = False) -> Optional[dict[str, str]]:
    """Ask until the answer is a route (or, if ``optional``, empty): the format is easy to get wrong,
    and everything before it is already typed in."""
    from palxfel_globus.cli.output import problem

    while True:
        answer = typer.prompt(question, default="" if optional else None, show_default=False)
        if optional and not answer:
            return None
        try:
            return parse_route(answer)
        except PalxfelError as exc:
            problem(str(exc))


def init(
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help=f"Where to write it {CONFIG_DEFAULT}.")
    ] = None,
    daq_root: Annotated[Optional[str], typer.Option("--daq-root", help="The DAQ filesystem.")] = None,
    daq_collection: Annotated[
        Optional[str], typer.Option("--daq-collection", help="The Globus collection that shows it.")
    ] = None,
    collection_root: Annotated[
        Optional[str], typer.Option("--collection-root", help="The DAQ root as the collection sees it.")
    ] = None,
    compute_endpoint: Annotated[
        Optional[str], typer.Option("--compute-endpoint", help="The Globus Compute endpoint on the DAQ host.")
    ] = None,
    route: RouteOption = None,
    interval: Annotated[str, typer.Option("--interval", help="How often the timer runs the backup.")] = "10m",
    client_id: Annotated[
        Optional[str], typer.Option("--client-id", help="The native app registered for palxfel-globus.")
    ] = None,
    subscription_id: Annotated[
        Optional[str],
        typer.Option(
            "--subscription-id",
            help="Your facility's Globus subscription: without one, Globus keeps one flow per user, for 30 days.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing config file.")] = False,
) -> None:
    """Write palxfel-globus.toml: the DAQ side, where each kind of experiment goes, how often. Nothing is written
    unless all of it is valid."""
    import os

    from palxfel_globus.config import CONFIG_ENV, CONFIG_FILE_NAME, parse_config
    from palxfel_globus.config_text import render_config

    target = config or Path(os.environ.get(CONFIG_ENV) or CONFIG_FILE_NAME)
    if target.exists() and not force:
        raise PalxfelError(f"{target} already exists; pass --force to replace it, or --config to write elsewhere.")
    given = {
        "daq_root": daq_root,
        "daq_collection": daq_collection,
        "collection_root": collection_root,
        "compute_endpoint": compute_endpoint,
    }
    given, routes = _answers(given, [parse_route(value) for value in route or []])
    document: dict[str, Any] = {
        "daq": {
            "root": given["daq_root"],
            "collection": given["daq_collection"],
            "collection_root": given["collection_root"],
            "compute_endpoint": given["compute_endpoint"],
        },
        "route": routes,
        "timer": {"interval": interval},
    }
    globus = {"client_id": client_id, "subscription_id": subscription_id}
    if any(globus.values()):
        document["globus"] = {key: value for key, value in globus.items() if value}
    root_here = Path(given["daq_root"]).is_dir()
    parse_config(document, check_tree=root_here)  # every mistake on its own line, and nothing written
    if not root_here:
        warn(f"the DAQ root {given['daq_root']} is not on this machine; the routes were not checked against it.")
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(render_config(document, HEADER), encoding="utf-8")
    temporary.replace(target)
    say(f"Wrote {target}.")
    if not subscription_id:
        warn(
            "no --subscription-id: without a Globus subscription 'deploy' needs --no-subscription, makes one flow "
            "only, and Globus deletes it after 30 days; add [globus] subscription_id when you have one."
        )
    say("Next: 'palxfel-globus login', 'palxfel-globus deploy --dry-run', 'palxfel-globus deploy'; then")
    say("'palxfel-globus doctor' checks the collections, the endpoints, the flow and the timer.")
