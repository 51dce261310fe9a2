"""``palxfel-globus local run``: the scan_backup flow on the local engine, tick after tick; and
``local serve`` (its own module), the Globus APIs on this machine."""

import json
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.local_state import register as register_state_commands
from palxfel_globus.cli.options import (
    ConfigOption,
    RealTimeOption,
    command_group,
    engine_clock,
    faults_option,
    interval_option,
)
from palxfel_globus.cli.output import console
from palxfel_globus.cli.restore import local_restore
from palxfel_globus.cli.serve import serve
from palxfel_globus.errors import PalxfelError

app = command_group("Run the scan backup on this machine, with local stand-ins for Globus.")

STATUS_STYLE = {"SUCCEEDED": "green", "FAILED": "bold red"}


def tick_line(tick: int, summary: Any) -> str:
    """One line per tick: what a person wants to know at a glance (rich markup), and the run's own
    summary under it when it says more than the counts (a problem, a note: notes follow a "; ")."""
    from rich.markup import escape

    from palxfel_globus.units import format_size

    style = STATUS_STYLE.get(summary.status, "yellow")
    line = (
        f"tick {tick}: [{style}]{summary.status}[/]  found {summary.found}, shipped {len(summary.shipped)}, "
        + (f"released {len(summary.released)}, " if summary.released or summary.shipping_again else "")
        + (f"to ship again {len(summary.shipping_again)}, " if summary.shipping_again else "")
        + f"failed {len(summary.failed)}, quarantined {len(summary.quarantined)}, blocked {len(summary.blocked)}, "
        f"moved {format_size(summary.bytes_transferred)} in {summary.transfer_tasks} transfer task(s), "
        f"{summary.actions} actions"
    )
    if summary.status != "SUCCEEDED" or summary.blocked or summary.warnings or ";" in summary.message:
        line += f"\n  {escape(summary.message)}"
    return line


class TickProgress:
    """The spinner line under the ticks: the tick and the state it is in, or, between ticks that wait
    for real, when the next one starts (a tick's last state is no news once the tick is printed)."""

    def __init__(self, status: Any, interval: float, waits: bool) -> None:
        self.status = status
        self.interval = interval
        self.waits = waits
        self.tick = 0

    def on_event(self, entry: dict[str, Any], _context: dict[str, Any]) -> None:
        if entry["code"].endswith("Started") and entry["code"] != "FlowStarted":
            self.status.update(f"tick {self.tick}: {entry['details']['state_name']} …")

    def on_tick(self, tick: int, summary: Any) -> None:
        import time

        console.print(tick_line(tick, summary), highlight=False)
        self.tick = tick + 1
        if self.waits:
            due = time.strftime("%H:%M:%S", time.localtime(time.time() + self.interval))
            self.status.update(f"waiting: tick {self.tick} starts at {due} (Ctrl-C stops)")
        else:
            self.status.update(f"tick {self.tick}: starting …")


@app.command("run")
def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run one tick and stop.")] = False,
    ticks: Annotated[
        Optional[int], typer.Option("--ticks", min=1, help="Run this many ticks (default: until Ctrl-C).")
    ] = None,
    interval: Annotated[
        Optional[str], typer.Option("--interval", help="Time between ticks (default: [timer] interval).")
    ] = None,
    fault: Annotated[
        Optional[list[str]],
        typer.Option("--fault", help="Inject a fault: fail:STATE[:N], crash:STATE, corrupt:STATE:GLOB."),
    ] = None,
    real_time: RealTimeOption = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON summary object per tick.")] = False,
) -> None:
    """Ship completed scans with the scan_backup flow on the local engine ([local] in the config)."""
    from palxfel_globus.backup import load_flow, run_ticks
    from palxfel_globus.config import load_config
    from palxfel_globus.engine import SimulatedCrash

    if once and ticks is not None:
        raise PalxfelError("Give either --once or --ticks, not both.")
    loaded = load_config(config, with_local=True)
    seconds = loaded.timer_interval if interval is None else interval_option(interval)
    faults = faults_option(fault, load_flow("scan_backup")[0])
    count = 1 if once else ticks
    # a run until Ctrl-C is a service on this machine: its ticks wait in real time
    clock = engine_clock(real_time or count is None)
    try:
        if json_output:
            summaries = run_ticks(
                loaded,
                ticks=count,
                interval=seconds,
                engine_options={"faults": faults, "clock": clock},
                on_tick=lambda _tick, summary: print(json.dumps(summary.as_json(), ensure_ascii=False), flush=True),
            )
        else:
            with console.status("tick 0: starting …") as status:
                shown = TickProgress(status, seconds, waits=not clock.virtual)
                summaries = run_ticks(
                    loaded,
                    ticks=count,
                    interval=seconds,
                    engine_options={"faults": faults, "on_event": shown.on_event, "clock": clock},
                    on_tick=shown.on_tick,
                )
    except SimulatedCrash as crash:
        raise PalxfelError(f"The run stopped: {crash} (--fault); the next tick recovers it.", exit_code=1) from None
    if any(summary.status != "SUCCEEDED" for summary in summaries):
        raise typer.Exit(1)


app.command("serve")(serve)
app.command("restore")(local_restore)
register_state_commands(app)
