"""``palxfel-globus doctor``: everything the nightly backup needs, checked, with what to do for each problem."""

import functools
from dataclasses import asdict, dataclass
from typing import Any, Callable

import typer

from palxfel_globus.cli.output import console, print_json, when
from palxfel_globus.cli.session import ConfigOption, JsonOption


@dataclass
class Check:
    what: str
    ok: bool
    detail: str
    fix: str = ""


def _probe(what: str, call: Callable[[], str], fix: str) -> Check:
    """Run one Globus look-up; its error becomes the detail, never a traceback."""
    from globus_sdk import GlobusError

    from palxfel_globus.globus.errors import describe

    try:
        return Check(what, True, call())
    except GlobusError as error:
        return Check(what, False, describe(error), fix)
    except _NotReady as problem:
        return Check(what, False, str(problem), problem.fix or fix)


class _NotReady(Exception):
    """A look-up answered, but what it found is not ready (offline, paused, different)."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.fix = fix


def _expect(condition: bool, ok: str, problem: str, fix: str = "") -> str:
    """``ok`` when ``condition`` holds; else the check fails with ``problem`` (and ``fix``, if it has its own)."""
    if not condition:
        raise _NotReady(problem, fix)
    return ok


def run_checks(config: Any, current: Any) -> list[Check]:
    from palxfel_globus.config import route_place
    from palxfel_globus.globus.deployment import Deployment, Desired, deployment_path, plan
    from palxfel_globus.globus.endpoints import endpoint_roles, registered_ids
    from palxfel_globus.globus.sharing import not_guest_problem, shared_routes

    checks = [Check("config", True, f"{config.source} is valid")]
    desired, deployment = Desired.of(config), Deployment.load(deployment_path(config))
    steps = plan(desired, deployment)
    checks.append(
        Check(
            "deployment",
            not steps,
            "matches the config" if not steps else f"{len(steps)} change(s) not deployed",
            "palxfel-globus deploy",
        )
    )
    if current is None:
        return checks
    from palxfel_globus.globus.auth import token_file_problem

    exposed = token_file_problem(current.app)
    if exposed:
        checks.append(Check("token file", False, exposed, "palxfel-globus login (it makes the file yours alone)"))
    if current.needs_person():
        missing = "no valid Globus login, or a consent the flow needs is missing"
        checks.append(Check("login", False, missing, "palxfel-globus login"))
        return checks
    checks.append(Check("login", True, "tokens and consents present"))
    collections = [("DAQ collection", config.daq.collection)] + [
        (f"{route_place(number, place, route)} collection", destination.collection)
        for number, place, route, destination in config.destinations()
    ]
    for what, collection_id in collections:

        def reachable(collection_id: str = collection_id) -> str:
            from palxfel_globus.globus.consents import needs_data_access

            collection = current.transfer.get_endpoint(collection_id)
            name = str(collection["display_name"])
            if not needs_data_access(collection):
                return name
            return _expect(
                not deployment.timer or collection_id in deployment.data_access,
                f"{name} (mapped: the timer holds its data_access consent)",
                f"{name} is a mapped collection, and the timer was created without its data_access consent",
                "palxfel-globus timer delete, then palxfel-globus deploy (it asks for the consent)",
            )

        checks.append(_probe(what, reachable, f"check {collection_id} in the web app"))
    for number, place, route, destination in config.destinations():

        def apart(where: str = route_place(number, place, route), destination: Any = destination) -> str:
            from palxfel_globus.globus.distinct import daq_alias_problem

            problem = daq_alias_problem(current.transfer, config, where, destination)
            return _expect(not problem, "a probe written there does not appear on the DAQ", problem)

        checks.append(
            _probe(
                f"{route_place(number, place, route)} apart from the DAQ",
                apart,
                "give the route a destination on other storage",
            )
        )
    for number, route in shared_routes(config):

        def guest(number: int = number, route: Any = route) -> str:
            collection = current.transfer.get_endpoint(route.primary.collection)
            problem = not_guest_problem(number, route, collection)
            ok = f"{collection['display_name']} is a guest collection: [[share]] can set access rules there"
            return _expect(not problem, ok, problem, "use a guest collection as the route's collection")

        checks.append(_probe(f"route #{number} sharing", guest, f"check {route.primary.collection} in the web app"))
    if config.catalog.index:

        def writable() -> str:
            from palxfel_globus.globus.catalog import index_problem

            problem = index_problem(config.catalog.index, current.search)
            return _expect(not problem, f"{config.catalog.index} exists and you may write it", problem)

        checks.append(_probe("catalog index", writable, "[catalog] index: a Search index you may write"))
    for role in endpoint_roles(config):

        def online(endpoint_id: str = role.endpoint_id) -> str:
            status = current.compute_status.get_endpoint_status(endpoint_id)["status"]
            return _expect(status == "online", "online", f"{endpoint_id} is {status}")

        checks.append(
            _probe(f"{role.what} Compute endpoint", online, "globus-compute-endpoint start ENDPOINT on its host")
        )
        if all(name in deployment.functions for name in role.functions):
            allowed = functools.partial(_allows_deployed, current, role, registered_ids(role, deployment))
            checks.append(_probe(f"{role.what} allowed functions", allowed, "palxfel-globus endpoint config"))
    get_flow = functools.cache(current.clients.flows.get_flow)  # the definition and subscription checks share it
    if deployment.flow:

        def same_flow() -> str:
            remote = get_flow(deployment.flow["id"])["definition"]
            return _expect(
                remote == desired.definition,
                "definition matches flow_definitions/scan_backup.json",
                "the deployed definition differs from flow_definitions/scan_backup.json",
            )

        checks.append(_probe("flow", same_flow, "palxfel-globus deploy"))

    if deployment.flow:
        checks += _side_step_checks(current, deployment.flow["id"])
    flows = (
        ("flow subscription", deployment.flow),
        ("copy flow subscription", deployment.transfer_flow),
        ("restore flow subscription", deployment.restore_flow),
    )
    for what, record in flows:
        if record:
            subscribed = functools.partial(_subscribed, get_flow, config, record["id"])
            checks.append(_probe(what, subscribed, "palxfel-globus deploy"))
    if deployment.timer:

        def timer_running() -> str:

            job = current.clients.timers.get_job(deployment.timer["id"])
            next_run = when(job.get("next_run"), missing="not scheduled")
            return _expect(
                job.get("status") != "inactive",
                f"{job.get('status')}, next run {next_run}",
                f"paused ({(job.get('inactive_reason') or {}).get('cause', 'unknown reason')})",
            )

        checks.append(_probe("timer", timer_running, "palxfel-globus timer resume"))
    return checks


def _side_step_checks(current: Any, flow_id: str) -> list[Check]:
    """Sharing, catalog and e-mail as the last runs tell them: a side step that fails leaves the run
    SUCCEEDED (the backup is what it was), so doctor says which one fails and since how many runs."""
    from globus_sdk import GlobusError

    from palxfel_globus.cli.runs import latest_runs
    from palxfel_globus.globus.errors import describe
    from palxfel_globus.side_steps import FIX, failing

    try:
        runs = latest_runs(current.clients.flows, flow_id, 5)
    except GlobusError as error:
        return [Check("side steps", False, describe(error), "palxfel-globus runs list")]
    found = failing(runs)
    if not found:
        detail = "sharing, catalog and e-mail failed in none of the last runs" if runs else "no runs yet"
        return [Check("side steps", True, detail)]
    return [Check(f"{failure.step} step", False, failure.sentence(), FIX[failure.step]) for failure in found]


def _allows_deployed(current: Any, role: Any, function_ids: dict[str, str]) -> str:
    """A deploy that re-registers a function leaves a running endpoint refusing the new id until its
    config names it and it restarts: the next run would fail at that function's state."""
    from palxfel_globus.globus.endpoints import allowlist_lag

    lag = allowlist_lag(role, function_ids, current.compute_allowlist.get_endpoint_allowlist(role.endpoint_id).data)
    return _expect(
        lag is None,
        f"allows the {len(function_ids)} deployed function(s)",
        lag or "",
        f"palxfel-globus endpoint config {role.selector} > its config.yaml, then globus-compute-endpoint restart NAME",
    )


def _subscribed(get_flow: Callable[[str], Any], config: Any, flow_id: str) -> str:
    """A flow without a subscription is deleted on its 30th day, and with the scan flow every backup."""
    from palxfel_globus.globus.deployment import flow_expiry

    flow = get_flow(flow_id)
    wanted, held = config.globus.subscription_id, flow.get("subscription_id")
    if not held:
        raise _NotReady(
            f"no subscription: Globus deletes this flow on {flow_expiry(flow) or 'its 30th day'}",
            "set [globus] subscription_id, then palxfel-globus deploy",
        )
    return _expect(
        wanted in (None, held),
        f"subscription {held}",
        f"under subscription {held}, not [globus] subscription_id {wanted}",
        "palxfel-globus deploy",
    )


def doctor(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Check the config, the deployment, the login, the collections, the catalog index, the endpoints, the flow
    and the timer."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from palxfel_globus.cli.session import load_globus_config, session
    from palxfel_globus.errors import PalxfelError

    loaded = load_globus_config(config)
    try:
        current = session(loaded)
    except PalxfelError as exc:  # no app to log in with: the other checks need one
        current = None
        checks = run_checks(loaded, None) + [
            Check("Globus app", False, str(exc), "register an app: docs/operations.md")
        ]
    if current is not None:
        checks = run_checks(loaded, current)
    if json_output:
        print_json([asdict(check) for check in checks])
    else:
        # what to fix goes under the detail: a column of its own left each a few letters a line at 80 columns
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("check", no_wrap=True)
        table.add_column("", no_wrap=True)
        table.add_column("detail, and what to fix", ratio=1, overflow="fold")  # ids whole
        for check in checks:
            detail = Text(check.detail)
            if not check.ok and check.fix:
                detail.append(f"\nto fix: {check.fix}", style="yellow")
            table.add_row(
                Text(check.what), Text("ok", style="green") if check.ok else Text("NO", style="bold red"), detail
            )
        console.print(table)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
