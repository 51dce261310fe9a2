"""``palxfel-globus runs list | show | logs | watch | cancel``: the flow's runs in Globus."""

import time
from typing import Any

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import command_group
from palxfel_globus.cli.output import console, done, print_json, say, when
from palxfel_globus.cli.session import ConfigOption, JsonOption, deployed, session

app = command_group("Runs of the deployed scan-backup flow in Globus.")

RunArgument = Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id from 'runs list'.")]
STYLES = {"SUCCEEDED": "green", "FAILED": "bold red", "ACTIVE": "cyan", "INACTIVE": "yellow", "ENDED": "dim"}
FINISHED = ("SUCCEEDED", "FAILED", "ENDED")


def start_run(flow: Any, body: dict[str, Any], *, label: str, kind: str, what: str, json_output: bool) -> None:
    """Start a run of a deployed flow and say so: asked once (a retried create could start two runs),
    e-mailing its owner if it fails, tagged with ``kind`` for the web app's filters."""
    from palxfel_globus.globus.deployment import RUN_NOTIFICATIONS, once
    from palxfel_globus.globus.errors import globus_errors

    with globus_errors(), once(flow):
        run = flow.run_flow(
            body, label=label, tags=["palxfel-globus", kind], activity_notification_policy=RUN_NOTIFICATIONS
        )
    run_id = run["run_id"]
    done(run, json_output, f"Started {what} {run_id}; follow it with 'palxfel-globus runs watch {run_id}'.")


def latest_runs(flows: Any, flow_id: Any, limit: int) -> list[dict[str, Any]]:
    """The newest runs of the flow (or flows: ``flow_id`` may be several) first, in the order the service was
    asked for (GET /runs documents ``orderby``): one page sorted here could miss the newest runs."""
    from palxfel_globus.engine.providers.documented import NEWEST_RUNS_FIRST

    query = {"per_page": limit, "orderby": NEWEST_RUNS_FIRST}
    return list(flows.list_runs(filter_flow_id=flow_id, query_params=query))[:limit]


def runs_table(runs: list[dict[str, Any]]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from palxfel_globus.backup import run_message, side_step_failures

    if not runs:
        console.print("No runs yet.")
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("started", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("run, and what it did", overflow="fold")  # the id on a line of its own stays whole
    for run in runs:
        status = run.get("status", "")
        failed_steps = list(dict.fromkeys(failure["step"] for failure in side_step_failures(run)))
        quiet = status == "SUCCEEDED" and not failed_steps
        story = Text.assemble(str(run.get("run_id")), "\n", (run_message(run), "dim" if quiet else ""))
        if failed_steps:  # the backup went on, but a person must see it: the run is not all green
            story.append(f"\nside step failed: {', '.join(failed_steps)}; 'runs show' says why", style="yellow")
        table.add_row(when(run.get("start_time"), missing=""), Text(status, style=STYLES.get(status, "")), story)
    console.print(table)


@app.command("list")
def list_runs(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many runs, newest first.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """The latest runs of the deployed flow, and of the restore flow ('scans restore')."""
    from palxfel_globus.globus.errors import globus_errors

    loaded, deployment, flow_id = deployed(config, "flow")
    flows = [flow_id] + ([deployment.restore_flow["id"]] if deployment.restore_flow else [])
    with globus_errors():
        runs = latest_runs(session(loaded).clients.flows, flows, limit)
    print_json(runs) if json_output else runs_table(runs)


@app.command("show")
def show(run_id: RunArgument, config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """One run: its status and, when it failed, why."""
    from palxfel_globus.globus.errors import globus_errors

    loaded, _deployment, _flow_id = deployed(config, "flow")
    with globus_errors():
        run = session(loaded).clients.flows.get_run(run_id).data
    if json_output:
        print_json(run)
        return
    _run_fields(run)


def _run_fields(run: dict[str, Any]) -> None:
    """One run as key-value lines: ids stay whole for copying, the failure reason reads as a sentence."""
    from rich.table import Table
    from rich.text import Text

    from palxfel_globus.backup import run_message, side_step_failures

    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    status = run.get("status", "")
    for key, value in (
        ("run", run.get("run_id")),
        ("status", status),
        ("label", run.get("label")),
        ("started", run.get("start_time")),
        ("finished", run.get("completion_time")),
        ("outcome", run_message(run)),
    ):
        if value:
            table.add_row(key, Text(str(value), style=STYLES.get(str(value), "") if key == "status" else ""))
    for failure in side_step_failures(run):
        table.add_row(f"{failure['step']} failed", Text(failure["problem"], style="yellow"))
    console.print(table)


@app.command("logs")
def logs(run_id: RunArgument, config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """The run's event log, state by state."""
    from palxfel_globus.globus.errors import globus_errors

    loaded, _deployment, _flow_id = deployed(config, "flow")
    with globus_errors():
        flows = session(loaded).clients.flows
        # every page: the service answers 10 entries a page unless asked, and a run of ours logs hundreds
        entries = list(flows.paginated.get_run_logs(run_id, limit=100).items())
    if json_output:
        print_json(entries)
        return
    for entry in entries:
        say(f"{entry.get('time', '')}  {entry.get('code', '')}  {entry.get('description', '')}")


@app.command("cancel")
def cancel(run_id: RunArgument, config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Cancel a run; its claimed scans are retried after their lease expires."""
    from palxfel_globus.globus.errors import globus_errors

    loaded, _deployment, _flow_id = deployed(config, "flow")
    with globus_errors():
        answer = session(loaded).clients.flows.cancel_run(run_id)
    done(answer, json_output, _cancel_sentence(run_id, answer.get("status")))


def _cancel_sentence(run_id: str, status: Any) -> str:
    """What the cancel did, by the status the service answered with (a run that SUCCEEDED stays so)."""
    if status == "SUCCEEDED":
        return f"Run {run_id} had already SUCCEEDED; there was nothing to cancel."
    if status in ("ACTIVE", "INACTIVE"):
        return (
            f"Run {run_id} is being cancelled: it ends before its next state; its scans are tried again once "
            "their claims expire."
        )
    return f"Run {run_id} is {status or 'cancelled'}; its scans are tried again once their claims expire."


@app.command("watch")
def watch(
    run_id: RunArgument,
    config: ConfigOption = None,
    every: Annotated[float, typer.Option("--every", min=1.0, help="Seconds between checks.")] = 10.0,
    json_output: Annotated[bool, typer.Option("--json", help="No live view; print the ended run as JSON.")] = False,
) -> None:
    """Follow a run until it ends; exit 0 if it SUCCEEDED, 1 otherwise."""
    import contextlib

    from palxfel_globus.globus.errors import globus_errors

    loaded, _deployment, _flow_id = deployed(config, "flow")
    flows = session(loaded).clients.flows
    live = contextlib.nullcontext() if json_output else console.status(f"run {run_id}")
    with globus_errors(), live as status:
        while True:
            run = flows.get_run(run_id).data
            if status is not None:
                status.update(f"run {run_id}: {run.get('status')}")
            if run.get("status") in FINISHED:
                break
            time.sleep(every)
    print_json(run) if json_output else _run_fields(run)
    if run.get("status") != "SUCCEEDED":
        raise typer.Exit(1)
