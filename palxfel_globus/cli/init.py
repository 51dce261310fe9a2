"""``palxfel-globus init``: write palxfel-globus.toml from a few answers, checked before it is written.

Given as options (for scripts), every value is checked at the end and every mistake reported at once.
At a terminal, each answer is checked when it is given, by the config's own rules, and asked again
with the reason: nothing typed before it is lost.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import CONFIG_DEFAULT
from palxfel_globus.cli.output import problem, say, warn
from palxfel_globus.errors import PalxfelError

HEADER = """palxfel-globus configuration, written by 'palxfel-globus init'.
Every key is described in docs/configuration.md; 'palxfel-globus doctor' checks it.
A route may also verify at its destination with Compute: add compute_endpoint and verify_root."""

APP_REGISTRATION = "app.globus.org/settings/developers"

RouteOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--route",
        metavar="GLOB=COLLECTION:/BASE/PATH",
        help="Where experiments matching GLOB go, e.g. 'ue_*=UUID:/backup/ue' (repeat; first match wins).",
    ),
]


@dataclass(frozen=True)
class Question:
    """One value init needs: its option, what a person is asked, and why it matters when left empty."""

    name: str
    option: str
    asks: str
    why: str  # said when a needed answer is empty; empty for an optional one
    check: Callable[[Any], Any]  # the config's own rule for the value; ValueError says what is wrong


def _questions() -> tuple[Question, ...]:
    from palxfel_globus.config import _absolute_path, _collection_path, _uuid

    return (
        Question(
            "daq_root",
            "--daq-root",
            "DAQ root directory (e.g. /xfel/ffs/dat)",
            "the directory that holds the experiments",
            _absolute_path,
        ),
        Question(
            "daq_collection",
            "--daq-collection",
            "Globus collection id of the DAQ storage",
            "the UUID of the collection that shows the DAQ root ('palxfel-globus collections search WORDS' finds it)",
            _uuid,
        ),
        Question(
            "collection_root",
            "--collection-root",
            "The DAQ root as that collection shows it (e.g. /~/dat)",
            "the path on the collection that is the DAQ root",
            _collection_path,
        ),
        Question(
            "compute_endpoint",
            "--compute-endpoint",
            "Globus Compute endpoint id on the DAQ host",
            "the UUID 'globus-compute-endpoint list' shows on the DAQ host",
            _uuid,
        ),
        Question(
            "client_id",
            "--client-id",
            f"Client id of the native app registered at {APP_REGISTRATION} (empty: none yet)",
            "",
            _uuid,
        ),
        Question(
            "subscription_id",
            "--subscription-id",
            "Your facility's Globus subscription id (empty: none; Globus then deletes the flow after 30 days)",
            "",
            _uuid,
        ),
    )


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


def _document(given: dict[str, Any], routes: list[dict[str, str]], interval: str) -> dict[str, Any]:
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
    globus = {key: given[key] for key in ("client_id", "subscription_id") if given[key]}
    if globus:
        document["globus"] = globus
    return document


def _given_values_problems(given: dict[str, Any], routes: list[str], interval: str) -> list[str]:
    """What is wrong with the values given as options, by option: said before any question is asked."""
    from palxfel_globus.config import timer_interval

    problems = []
    for question in _questions():
        if given[question.name] is not None:
            try:
                question.check(given[question.name])
            except ValueError as exc:
                problems.append(f"{question.option}: {exc}.")
    for value in routes:
        try:
            parse_route(value)
        except PalxfelError as exc:
            problems.append(f"--route: {exc}")
    try:
        timer_interval(interval)
    except ValueError as exc:
        problems.append(f"--interval: {exc}.")
    return problems


def _ask(question: Question) -> Optional[str]:
    """Ask until the answer passes the config's rule; an empty answer to a needed value says why it is needed."""
    while True:
        answer = typer.prompt(question.asks, default="", show_default=False).strip()
        if not answer:
            if not question.why:
                return None
            problem(f"an answer is needed: {question.why}.")
            continue
        try:
            question.check(answer)
        except ValueError as exc:
            problem(f"{exc}; try again.")
            continue
        return answer


def _ask_routes(given: dict[str, Any], interval: str) -> list[dict[str, str]]:
    """Ask for routes until one is given and an empty answer ends the list; each is checked at once against
    the DAQ tree (when it is on this machine) and the routes before it."""
    from palxfel_globus.config import ConfigError, parse_config

    routes: list[dict[str, str]] = []
    check_tree = Path(given["daq_root"]).is_dir()
    while True:
        first = not routes
        question = (
            "Route: experiments matching GLOB go to COLLECTION:/BASE/PATH (GLOB=UUID:/path)"
            if first
            else "Another route (empty to finish)"
        )
        answer = typer.prompt(question, default="", show_default=False).strip()
        if not answer:
            if not first:
                return routes
            problem("an answer is needed: at least one route, e.g. ue_*=UUID:/backup/ue.")
            continue
        try:
            route = parse_route(answer)
            parse_config(_document(given, [*routes, route], interval), check_tree=check_tree)
        except ConfigError as exc:
            for line in exc.problems:
                problem(line)
            continue
        except PalxfelError as exc:
            problem(str(exc))
            continue
        routes.append(route)


def _client_id_known(client_id: Optional[str]) -> bool:
    """Whether 'login' will find an app: the config's, $PALXFEL_GLOBUS_CLIENT_ID, or a service identity."""
    from palxfel_globus.globus.auth import CLIENT_ID_ENV, SERVICE_ID_ENV, SERVICE_SECRET_ENV

    service = os.environ.get(SERVICE_ID_ENV) and os.environ.get(SERVICE_SECRET_ENV)
    return bool(client_id or os.environ.get(CLIENT_ID_ENV) or service)


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
    unless all of it is valid; at a terminal, what is not given is asked, each answer checked as it is given."""
    import sys

    from palxfel_globus.config import CONFIG_ENV, CONFIG_FILE_NAME, parse_config
    from palxfel_globus.config_text import render_config

    target = config or Path(os.environ.get(CONFIG_ENV) or CONFIG_FILE_NAME)
    if target.exists() and not force:
        raise PalxfelError(f"{target} already exists; pass --force to replace it, or --config to write elsewhere.")
    given: dict[str, Any] = {
        "daq_root": daq_root,
        "daq_collection": daq_collection,
        "collection_root": collection_root,
        "compute_endpoint": compute_endpoint,
        "client_id": client_id,
        "subscription_id": subscription_id,
    }
    needed = [question for question in _questions() if question.why and not given[question.name]]
    if needed or not route:
        problems = _given_values_problems(given, route or [], interval)
        if not sys.stdin.isatty():
            options = [question.option for question in needed] + ([] if route else ["--route"])
            missing = f"Missing {', '.join(options)} (or run 'palxfel-globus init' at a terminal to be asked)."
            raise PalxfelError("\n".join([missing, *problems]))
        if problems:  # said now, before anything is typed that a refusal at the end would lose
            raise PalxfelError("\n".join(problems))
        for question in _questions():
            if not given[question.name]:
                given[question.name] = _ask(question)
    routes = [parse_route(value) for value in route] if route else _ask_routes(given, interval)
    document = _document(given, routes, interval)
    root_here = Path(given["daq_root"]).is_dir()
    parse_config(document, check_tree=root_here)  # every mistake on its own line, and nothing written
    if not root_here:
        warn(f"the DAQ root {given['daq_root']} is not on this machine; the routes were not checked against it.")
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(render_config(document, HEADER), encoding="utf-8")
    temporary.replace(target)
    say(f"Wrote {target}.")
    _say_next_steps(target, given)


def _say_next_steps(target: Path, given: dict[str, Any]) -> None:
    """The steps that work from here: login needs an app, deploy a subscription or --no-subscription."""
    deploy = "palxfel-globus deploy"
    if not given["subscription_id"]:
        deploy += " --no-subscription"
        warn(
            "no subscription id: without a Globus subscription 'deploy' needs --no-subscription, makes one flow "
            "only, and Globus deletes it after 30 days; add [globus] subscription_id when you have one."
        )
    steps = f"'palxfel-globus login', '{deploy} --dry-run', '{deploy}'"
    if _client_id_known(given["client_id"]):
        say(f"Next: {steps}; then")
    else:  # 'login' would stop at "No Globus app to log in with"
        say(
            f"Next: register a native app at {APP_REGISTRATION} and put its client id in {target} "
            f'([globus] client_id = "…") or in $PALXFEL_GLOBUS_CLIENT_ID; then {steps}; then'
        )
    say("'palxfel-globus doctor' checks the collections, the endpoints, the flow and the timer.")
