"""``palxfel-globus timer show | pause | resume | delete``: the Globus Timer that runs the backup."""

import sys

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import command_group
from palxfel_globus.cli.output import console, done, print_json, when
from palxfel_globus.cli.session import ConfigOption, JsonOption, deployed, session
from palxfel_globus.errors import PalxfelError

app = command_group("The Globus Timer that runs the scan backup.")


def _show(job: dict, json_output: bool) -> None:
    if json_output:
        print_json(job)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, box=None)
    schedule = job.get("schedule") or {}
    rows = [
        ("timer", job.get("job_id")),
        ("name", job.get("name")),
        ("status", job.get("status")),
        ("every", f"{schedule.get('interval_seconds')} s" if schedule.get("interval_seconds") else schedule),
        ("next run", when(job.get("next_run"), missing="")),
        ("last ran", when(job.get("last_ran_at"), missing="")),
        ("paused because", job.get("inactive_reason") and (job["inactive_reason"] or {}).get("cause")),
    ]
    for key, value in rows:
        if value:
            table.add_row(key, Text(str(value)))
    console.print(table)


@app.command("show")
def show(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """The timer's schedule, status and next run."""
    from palxfel_globus.globus.errors import globus_errors

    loaded, _deployment, timer_id = deployed(config, "timer")
    with globus_errors():
        _show(session(loaded).clients.timers.get_job(timer_id).data, json_output)


@app.command("pause")
def pause(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Stop the timer starting runs until 'timer resume'."""
    from palxfel_globus.globus.errors import globus_errors

    loaded, _deployment, timer_id = deployed(config, "timer")
    with globus_errors():
        answer = session(loaded).clients.timers.pause_job(timer_id)
    done(answer, json_output, f"Timer {timer_id} paused; 'palxfel-globus timer resume' starts it again.")


@app.command("resume")
def resume(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Start the timer again, renewing its credentials if a consent had lapsed."""
    from palxfel_globus.globus.errors import globus_errors

    loaded, _deployment, timer_id = deployed(config, "timer")
    with globus_errors():
        answer = session(loaded).clients.timers.resume_job(timer_id, update_credentials=True)
    done(answer, json_output, f"Timer {timer_id} resumed.")


@app.command("delete")
def delete(
    config: ConfigOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Delete the timer; no more scans are backed up until the next 'palxfel-globus deploy'."""
    from palxfel_globus.globus.errors import globus_errors

    loaded, deployment, timer_id = deployed(config, "timer")
    if not yes:
        if not sys.stdin.isatty():
            raise PalxfelError("Refusing to delete the timer without --yes when not run interactively.")
        if not typer.confirm(f"Delete timer {timer_id}? Scans stop being backed up until you deploy again."):
            raise PalxfelError("Nothing was deleted.", exit_code=1)
    with globus_errors():
        answer = session(loaded).clients.timers.delete_job(timer_id)
    deployment.timer = {}
    deployment.save()
    done(answer, json_output, f"Timer {timer_id} deleted; 'palxfel-globus deploy' creates a new one.")
