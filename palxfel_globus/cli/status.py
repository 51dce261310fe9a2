"""``palxfel-globus status``: the timer, the last runs and, on the DAQ host, the ledger."""

from collections import Counter
from dataclasses import asdict
from typing import Any

from palxfel_globus.cli.output import console, print_json, warn, when
from palxfel_globus.cli.scans import RecoveryDaysOption
from palxfel_globus.cli.session import ConfigOption, JsonOption, config_and_deployment, not_deployed, session

NEED_A_PERSON = ("blocked", "quarantined", "releasing")
NEED_A_PERSON_HINT = (
    "a blocked scan ships by itself once its cause is fixed, unless its reason asks for a decision "
    "('palxfel-globus scans retry --help'); 'scans retry EXPERIMENT/SCAN' tries a quarantined one again; "
    "a releasing one is deleted by the next run once its files can be"
)
SHOWN = 10


def status(config: ConfigOption = None, json_output: JsonOption = False, days: RecoveryDaysOption = 7) -> None:
    """What a person checks in the morning: is the timer running, did the last runs succeed, what is waiting.

    On the DAQ host it also counts the ledger's scans, deployed or not (after 'local run', say)."""
    from rich.table import Table
    from rich.text import Text

    from palxfel_globus.cli.runs import latest_runs, runs_table
    from palxfel_globus.errors import PalxfelError
    from palxfel_globus.functions import call
    from palxfel_globus.globus.deployment import flow_expiry
    from palxfel_globus.globus.errors import globus_errors
    from palxfel_globus.report.words import recovery_sentences
    from palxfel_globus.side_steps import failing

    loaded, deployment = config_and_deployment(config)
    flow_id = deployment.flow.get("id")
    if flow_id is None and not loaded.daq.root.is_dir():  # nothing to show: neither Globus nor the ledger
        raise PalxfelError(not_deployed(loaded, deployment, "flow"))
    report: dict[str, Any] = {
        "flow_id": flow_id,
        "flow_expires": None,
        "timer": None,
        "runs": [],
        "ledger": None,
        "need_a_person": [],
        "side_steps_failing": [],
        "recovery": None,
        "scrub": None,
    }
    if flow_id is not None:
        current = session(loaded)
        with globus_errors():
            report["flow_expires"] = flow_expiry(current.clients.flows.get_flow(flow_id))
            if deployment.timer:
                report["timer"] = current.clients.timers.get_job(deployment.timer["id"]).data
            report["runs"] = latest_runs(current.clients.flows, flow_id, 5)
    failing_steps = failing(report["runs"])
    report["side_steps_failing"] = [asdict(failure) for failure in failing_steps]
    if loaded.daq.root.is_dir():  # else loading the config already said the DAQ root is not here
        try:
            listing = call("list_scans", config=loaded.function_config(), days=days)
            scans = listing["scans"]
            report["recovery"] = listing["recovery"]
            counts = Counter(row["state"] for row in scans)
            counts["released"] += sum(item["count"] for item in listing["archived"])  # the compacted ones too
            report["ledger"] = {state: count for state, count in counts.items() if count}
            report["need_a_person"] = [
                {key: row[key] for key in ("experiment", "scan", "state", "reason")}
                for row in scans
                if row["state"] in NEED_A_PERSON
            ]
            report["scrub"] = call("list_scans", function="scrub_progress", config=loaded.function_config())
        except PalxfelError as exc:
            warn(f"the ledger is not readable from here ({exc}); run 'status' on the DAQ host for scan counts.")
    if json_output:
        print_json(report)
        return
    table = Table(show_header=False, box=None)
    timer = report["timer"] or {}
    table.add_row("flow", flow_id or "not deployed: 'palxfel-globus deploy' makes it (docs/operations.md)")
    if report["flow_expires"]:
        table.add_row("expires", Text(f"{report['flow_expires']} (made without a subscription)", style="bold red"))
        table.add_row("", Text("set [globus] subscription_id, then palxfel-globus deploy"))
    table.add_row("timer", Text(f"{timer.get('status', 'none deployed')}, next run {when(timer.get('next_run'))}"))
    if report["ledger"] is not None:
        table.add_row(
            "scans", Text(", ".join(f"{count} {state}" for state, count in sorted(report["ledger"].items())) or "none")
        )
    else:
        table.add_row("scans", "counted on the DAQ host only ('palxfel-globus status' there)")
    for row in report["need_a_person"][:SHOWN]:
        table.add_row("", Text(f"{row['experiment']}/{row['scan']} {row['state']}: {row['reason']}", style="red"))
    if len(report["need_a_person"]) > SHOWN:
        table.add_row("", Text(f"… and {len(report['need_a_person']) - SHOWN} more: palxfel-globus scans list"))
    if report["need_a_person"]:
        table.add_row("", Text(NEED_A_PERSON_HINT))
    for number, line in enumerate(recovery_sentences(report["recovery"]) if report["recovery"] else []):
        table.add_row("" if number else "recovery", Text(line))
    if report["scrub"] is not None:
        table.add_row("scrub", Text(scrub_line(report["scrub"])))
    for failure in failing_steps:  # the backup went on; these need a person all the same
        table.add_row("side step", Text(failure.sentence(), style="yellow"))
    console.print(table)
    if flow_id is not None:
        runs_table(report["runs"])


def scrub_line(progress: dict[str, Any]) -> str:
    """How far the scrub is through its period, and the copy verified longest ago."""
    from palxfel_globus.cli.output import when
    from palxfel_globus.units import format_duration

    total, within = progress["scans"], progress["within"]
    share = f" ({100 * within // total} %)" if total else ""
    text = (
        f"{within} of {total} shipped or released scans read back within the last {format_duration(progress['every'])}"
        f"{share}"
    )
    oldest = progress.get("oldest")
    if oldest:
        verified = when(oldest["verified_at"])
        text += f"; the copy verified longest ago: {oldest['scan']} at {oldest['collection']}, on {verified}"
    return text
