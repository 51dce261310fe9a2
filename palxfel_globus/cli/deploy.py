"""``palxfel-globus deploy``: register the functions, deploy the flow, create the timer."""

from typing import Any

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import ConfigOption
from palxfel_globus.cli.output import console, say, warn
from palxfel_globus.errors import PalxfelError


def _print_plan(title: str, steps: list[Any]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{title}: {len(steps)} change(s)"), title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("step", "what", "why"):
        table.add_column(column)
    for step in steps:
        table.add_row(step.kind, Text(step.target), Text(step.reason))
    console.print(table)


def ask_the_flows_service(current: Any, documents: dict[str, dict[str, Any]]) -> bool:
    """Send each flow document to the Flows validate endpoint and print its answers; False when it
    refused one (deploy --dry-run and flow validate --remote)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from palxfel_globus.globus.errors import globus_errors
    from palxfel_globus.globus.validation import validate_remotely

    with globus_errors():
        verdicts = validate_remotely(current.clients.flows, documents)
    table = Table(title="The Flows service on the definitions", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("flow", "", "answer"):
        table.add_column(column, overflow="fold")
    for verdict in verdicts:
        mark = Text("ok", style="green") if verdict.accepted else Text("REFUSED", style="bold red")
        table.add_row(Text(verdict.flow), mark, Text(verdict.answer))
    console.print(table)
    return all(verdict.accepted for verdict in verdicts)


def _accepted_if_logged_in(loaded: Any, desired: Any) -> bool:
    """Dry run: the definitions go to the Flows validate endpoint when a login is at hand (never starts
    one). False when the service refused one."""
    from palxfel_globus.cli.session import session

    try:
        current = session(loaded)
    except PalxfelError as exc:
        say(f"The Flows service was not asked to check the definitions: {exc}")
        return True
    if current.needs_person():
        say("Not logged in, so the Flows service was not asked to check the definitions; run 'palxfel-globus login'.")
        return True
    return ask_the_flows_service(current, {name: document for name, (_, document) in desired.flows().items()})


def deploy(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show what would change and, when logged in, what the Flows service says."),
    ] = False,
    no_subscription: Annotated[
        bool,
        typer.Option(
            "--no-subscription",
            help="Deploy without [globus] subscription_id: one flow only, which Globus deletes after 30 days.",
        ),
    ] = False,
) -> None:
    """Make Globus match the config: only what changed since the last deploy is registered, updated or replaced."""
    import dataclasses

    from rich.text import Text

    from palxfel_globus.cli.session import ensure_login, load_globus_config, session
    from palxfel_globus.globus.auth import require_deployed
    from palxfel_globus.globus.deployment import (
        Deployment,
        Desired,
        apply,
        check_deployable,
        deployment_path,
        plan,
    )
    from palxfel_globus.globus.errors import globus_errors

    loaded = load_globus_config(config)
    check_deployable(loaded, no_subscription)
    desired = Desired.of(loaded)
    deployment = Deployment.load(deployment_path(loaded))
    steps = plan(desired, deployment)
    if dry_run:
        if steps:
            _print_plan("Plan", steps)
        else:
            console.print(Text(f"Nothing to change: Globus matches {loaded.source}."))
        accepted = _accepted_if_logged_in(loaded, desired)
        console.print("Dry run: nothing was changed.")
        if not accepted:
            raise PalxfelError("The Flows service would refuse a definition (see above); nothing changed.", exit_code=1)
        return
    if not steps:
        console.print(Text(f"Nothing to do: Globus matches {loaded.source} ({deployment.path.name})."))
        return
    current = session(loaded)

    def consent_to_flows(_flow_id: str, data_access: list[str]) -> None:
        """The flows' ids are new, so the consent to run them (the timer runs the scan flow as you) can only
        be asked for now: one login, before the timer is created."""
        require_deployed(current, deployment)
        mapped = f" (and to Transfer's data access on {len(data_access)} mapped collection(s))" if data_access else ""
        ensure_login(current, f"The timer runs the flow as you, so Globus asks for your consent to that{mapped}")

    with globus_errors():
        ensure_login(current, "Deploying needs your Globus login")
        _warn_of_unshareable_destinations(loaded, current)
        _refuse_a_destination_on_the_daq(loaded, current)
        _refuse_an_unwritable_catalog(loaded, current)
        _print_plan("Deploying", steps)
        apply(
            steps,
            desired,
            deployment,
            dataclasses.replace(current.clients, on_flow=consent_to_flows),
            report=lambda step: console.print(Text(f"  done: {step.kind} {step.target}")),
        )
        require_deployed(current, deployment)  # a flow made by a deploy that kept its timer
        ensure_login(current, "Globus asks for your consent to start the new flow")
    console.print(Text(f"Deployed; ids are in {deployment.path}."))
    registered = {step.target.split(" ", 1)[1] for step in steps if step.kind == "register"}
    _say_which_endpoints_to_restart(loaded, registered)


def _warn_of_unshareable_destinations(config: Any, current: Any) -> None:
    """A [[share]] on a route that lands on a mapped collection would fail every night: say so now."""
    from palxfel_globus.globus.sharing import not_guest_problem, shared_routes

    for number, route in shared_routes(config):
        problem = not_guest_problem(number, route, current.transfer.get_endpoint(route.primary.collection))
        if problem:
            warn(f"{problem}.")


def _refuse_a_destination_on_the_daq(config: Any, current: Any) -> None:
    """A destination that is the DAQ storage itself holds no copy, and a release from it would lose the data."""
    from palxfel_globus.globus.distinct import daq_alias_problems

    problems = daq_alias_problems(current.clients.transfer, config)
    if problems:
        raise PalxfelError(f"Nothing was deployed: {problems[0]}.")


def _refuse_an_unwritable_catalog(config: Any, current: Any) -> None:
    """A [catalog] index the flow cannot write would fail every run's catalog step: nothing is deployed."""
    from palxfel_globus.globus.catalog import index_problem

    if config.catalog.index:
        problem = index_problem(config.catalog.index, current.search)
        if problem:
            raise PalxfelError(f"Nothing was deployed: {problem}.")


def _say_which_endpoints_to_restart(config: Any, registered: set[str]) -> None:
    """A running endpoint refuses a newly registered id until its config.yaml allows it and it restarts."""
    from palxfel_globus.globus.endpoints import endpoint_roles

    stale = [role for role in endpoint_roles(config) if registered & set(role.functions)]
    if not stale:
        return
    say("New function ids: each endpoint below refuses them until it runs with the config.yaml printed by")
    for role in stale:
        say(f"  palxfel-globus endpoint config {role.selector}    ({role.what}, endpoint {role.endpoint_id})")
    say("Save it as the endpoint's ~/.globus_compute/NAME/config.yaml, then: globus-compute-endpoint restart NAME")


def destroy(
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete the timer and the flows from Globus (the functions and the ledger stay)."""
    import sys

    from palxfel_globus.config import load_config
    from palxfel_globus.globus.auth import open_session
    from palxfel_globus.globus.deployment import Deployment, deployment_path
    from palxfel_globus.globus.errors import globus_errors

    loaded = load_config(config, check_tree=False)
    deployment = Deployment.load(deployment_path(loaded))
    if not (deployment.flow or deployment.timer or deployment.transfer_flow or deployment.restore_flow):
        say(f"Nothing to destroy: {deployment.path.name} records no flow or timer.")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise PalxfelError("Refusing to destroy without --yes when not run interactively.")
        if not typer.confirm("Delete the timer and the flow from Globus? Backups stop until you deploy again."):
            raise PalxfelError("Nothing was deleted.", exit_code=1)
    clients = open_session(loaded).clients
    with globus_errors():
        if deployment.timer:
            clients.timers.delete_job(deployment.timer["id"])
            deployment.timer = {}
            deployment.save()
        for attribute in ("flow", "transfer_flow", "restore_flow"):  # left behind, each holds a flow of the plan
            record = getattr(deployment, attribute)
            if record:
                clients.flows.delete_flow(record["id"])
                setattr(deployment, attribute, {})
                deployment.save()
    console.print("The timer and the flows are deleted; 'palxfel-globus deploy' creates them again.")
