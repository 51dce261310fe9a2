"""``palxfel-globus scans list | retry | replace | forget | release``: the ledger on the DAQ host."""

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import command_group
from palxfel_globus.cli.output import console, print_json, say, warn
from palxfel_globus.cli.restore import restore
from palxfel_globus.errors import PalxfelError

app = command_group("Scans on the DAQ host and their backup state (reads the ledger).")
app.command("restore")(restore)

ConfigOption = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="Config file (default: $PALXFEL_GLOBUS_CONFIG or ./palxfel-globus.toml)."),
]
DaqRootOption = Annotated[
    Optional[Path], typer.Option("--daq-root", help="Read this DAQ tree directly, without a config file.")
]
LedgerOption = Annotated[
    Optional[Path], typer.Option("--ledger", help="Ledger directory (default: .palxfel-backup in the DAQ root).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RecoveryDaysOption = Annotated[
    int,
    typer.Option(
        "--days",
        min=1,
        max=3650,
        help="The recovery point's window: the waits of the scans verified in the last N days.",
    ),
]

STATE_STYLES = {
    "shipped": "green",
    "released": "dim green",
    "pending": "cyan",
    "claimed": "blue",
    "incomplete": "dim",
    "failed": "yellow",
    "quarantined": "bold red",
    "blocked": "red",
    "releasing": "bold red",
    "restored": "magenta",
    "unrouted": "magenta",
}


def _function_config(config: Optional[Path], daq_root: Optional[Path], ledger: Optional[Path]) -> dict[str, Any]:
    from dataclasses import replace

    from palxfel_globus.config import daq_only_config, load_config

    if config is not None and daq_root is not None:
        raise PalxfelError("Give either --config or --daq-root, not both.")
    if daq_root is not None:
        return daq_only_config(daq_root, ledger).function_config()
    loaded = load_config(config)
    if ledger is not None:
        loaded = replace(loaded, daq=replace(loaded.daq, ledger=ledger.absolute()))
    return loaded.function_config()


def _note(row: dict[str, Any]) -> str:
    state = row["state"]
    if state == "failed":
        return f"attempt {row['attempts']}, retry after {row['retry_after']}: {row['last_error']}"
    if state == "quarantined":
        return f"after {row['attempts']} attempts: {row['last_error']}; fix, then 'scans retry'"
    if state == "claimed":
        return f"being shipped by run {row['claimed_by']}"
    if state == "blocked" and row.get("blocked_kind"):
        return f"{row['reason']}; see 'palxfel-globus scans retry --help' and 'scans replace --help'"
    if state == "blocked":
        return f"{row['reason']}; it ships by itself once that is fixed"
    if state in ("releasing", "restored"):
        return row["reason"] or ""
    if state == "unrouted":
        return "no [[route]] matches this experiment"
    if state == "shipped":
        return f"{row['shipped_at'] or ''}{'' if row['on_disk'] else ' (no longer on disk)'}"
    if state == "released":
        return f"DAQ copy removed {row['released_at'] or ''} after every copy verified again"
    if state == "pending" and row.get("last_error"):
        return f"ships again: {row['last_error']}"
    return ""


NOTE_MIN_WIDTH = 32  # a narrower Note column reads a word, or a letter, per line: the notes go under the table


def _copies(row: dict[str, Any]) -> str:
    """Each destination's copy of a shipped or released scan, one line each: its collection (short) and when it
    was last verified against the manifest (by its shipping, a release re-check or the scrub), or its state."""
    from palxfel_globus.cli.output import when

    if row["state"] not in ("shipped", "released", "releasing", "restored", "blocked"):
        return ""
    lines = []
    for place in row.get("destinations") or []:
        state = place.get("state")
        shown = (
            when(place.get("verified_at"))
            if state == "verified"
            else f"{state} (verified {when(place.get('verified_at'))})"
        )
        lines.append(f"{str(place.get('collection'))[:8]} {shown}")
    return "\n".join(lines)


def _scans_table(root: str, rows: list[dict[str, Any]], notes: Optional[list[str]], copies: Optional[list[str]]) -> Any:
    """The table, with a column of each copy's last verification when ``copies`` are given and a Note column when
    ``notes`` are. Each experiment heads its scans on a line of its own: as a column beside them it took a
    quarter of an 80-column terminal, and cut the sizes off."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from palxfel_globus.units import format_size

    table = Table(title=Text(f"Scans under {root}"), title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("Experiment / scan", overflow="fold")
    table.add_column("State", no_wrap=True)
    table.add_column("Files", justify="right", min_width=5)
    table.add_column("Size", justify="right", no_wrap=True)
    if copies is not None:
        table.add_column("Copies: last verified", no_wrap=True)
    if notes is not None:
        table.add_column("Note", ratio=1, min_width=NOTE_MIN_WIDTH)
    previous = None
    for number, row in enumerate(rows):
        if row["experiment"] != previous:
            if previous is not None:
                table.add_section()
            table.add_row(Text(row["experiment"], style="bold"))
        table.add_row(
            Text(f"  {row['scan']}"),
            Text(row["state"], style=STATE_STYLES[row["state"]]),
            "-" if row["files"] is None else str(row["files"]),
            format_size(row["bytes"]),
            *([] if copies is None else [Text(copies[number])]),
            *([] if notes is None else [Text(notes[number])]),
        )
        previous = row["experiment"]
    return table


def _render_table(rows: list[dict[str, Any]], root: str, archived: list[dict[str, Any]]) -> None:
    from collections import Counter

    from rich.text import Text

    compacted = sum(item["count"] for item in archived)
    if compacted:
        said = f"{compacted} older released scan{'' if compacted == 1 else 's'} in {len(archived)} experiment"
        footer = Text(f"{said}{'' if len(archived) == 1 else 's'} are compacted in the ledger; --archived lists them.")
    if not rows:
        console.print(Text(f"No scans found under {root}."))
        if compacted:
            console.print(footer)
        return
    notes = [_note(row) for row in rows]
    checked: Optional[list[str]] = [_copies(row) for row in rows]
    table = _scans_table(root, rows, None, checked)
    unbounded = console.options.update_width(10**6)  # the width the table wants, not what the terminal allows
    if not any(checked) or console.measure(table, options=unbounded).maximum > console.width:  # room for it?
        checked = None  # (scans list --json has each copy's last verification always)
        table = _scans_table(root, rows, None, None)
    beside = any(notes) and console.width - console.measure(table).maximum >= NOTE_MIN_WIDTH
    if beside:
        table = _scans_table(root, rows, notes, checked)
    console.print(table)
    counts = Counter(row["state"] for row in rows)
    summary = ", ".join(f"{counts[state]} {state}" for state in STATE_STYLES if counts[state])
    console.print(Text(f"{len(rows)} scans: {summary}."))
    if not beside:  # under the table, each across the whole width; a shipped or released scan's note is its time
        for row, note in zip(rows, notes):
            if note and row["state"] not in ("shipped", "released"):
                console.print(Text(f"{row['experiment']}/{row['scan']}, {row['state']}: {note}"))
    if compacted:
        console.print(footer)


@app.command("list")
def list_scans(
    config: ConfigOption = None,
    daq_root: DaqRootOption = None,
    ledger: LedgerOption = None,
    json_output: JsonOption = False,
    archived: Annotated[
        bool, typer.Option("--archived", help="Also list the older released scans the ledger keeps compacted.")
    ] = False,
    days: RecoveryDaysOption = 7,
) -> None:
    """Every scan with its state: incomplete, pending, claimed, shipped, releasing, released, restored, failed,
    quarantined, blocked, unrouted; then the recovery point."""
    from palxfel_globus.functions import call

    function_config = _function_config(config, daq_root, ledger)
    result = call("list_scans", config=function_config, archived=archived, days=days)
    for problem in result["problems"]:
        warn(problem)
    if json_output:
        print_json(result["scans"])
    else:
        _render_table(result["scans"], function_config["daq_root"], [] if archived else result["archived"])
        _say_recovery(result)


def _say_recovery(result: dict[str, Any]) -> None:
    """The recovery point under the table (see 'palxfel-globus report')."""
    from rich.text import Text

    from palxfel_globus.report.words import recovery_sentences

    if result["scans"]:  # folded at the terminal's width, as the table is (a scan's id may be long)
        console.print(Text(f"Recovery point (waits over the last {result['recovery']['days']} days):"))
        for line in recovery_sentences(result["recovery"]):
            console.print(Text(f"  {line}"))


ScanArgument = Annotated[
    list[str], typer.Argument(metavar="SCAN", help="Scan name, or EXPERIMENT/SCAN when the name is not unique.")
]


def _change(
    action: str,
    scan_ids: list[str],
    config: Optional[Path],
    daq_root: Optional[Path],
    ledger: Optional[Path],
    json_output: bool,
    explain: Any,
) -> None:
    """Apply ``action`` to each scan and say what became of it (``explain``: one sentence, or one per new state)."""
    from palxfel_globus.functions import call

    function_config = _function_config(config, daq_root, ledger)
    results = []
    for scan_id in scan_ids:
        try:
            result = call("manage_scan", config=function_config, scan_id=scan_id, action=action)
        except PalxfelError as error:
            holder = getattr(error.__cause__, "run_id", None)
            if not holder or not _globus_run_ended(config, holder):
                raise
            result = call("manage_scan", config=function_config, scan_id=scan_id, action=action, ended_runs=[holder])
        results.append(result)
    if json_output:
        print_json(results)
        return
    for result in results:
        holder = result["released_claim_of"]
        released = f" the claim of ended run {holder} was released;" if holder else ""
        said = explain.get(result["state"], explain["pending"]) if isinstance(explain, dict) else explain
        say(f"{result['experiment']}/{result['scan']}: was {result['previous_state']};{released} {said}")


def _globus_run_ended(config: Optional[Path], run_id: str) -> bool:
    """Whether Globus Flows reports ``run_id`` ended (SUCCEEDED, FAILED or ENDED). False when nothing is
    deployed or Flows cannot be asked: then the claim is honoured until its lease expires."""
    from globus_sdk import GlobusAPIError

    from palxfel_globus.cli.session import deployed, session

    try:
        loaded, _deployment, _flow_id = deployed(config, "flow")
        run = session(loaded).clients.flows.get_run(run_id).data
    except (PalxfelError, GlobusAPIError):
        return False
    return run.get("status") in ("SUCCEEDED", "FAILED", "ENDED")


@app.command("retry")
def retry(
    scans: Annotated[
        Optional[list[str]],
        typer.Argument(metavar="SCAN", help="Scan name, or EXPERIMENT/SCAN when the name is not unique."),
    ] = None,
    run: Annotated[
        Optional[str],
        typer.Option("--run", metavar="RUN_ID", help="Give back every claim of this run, once it has ended."),
    ] = None,
    config: ConfigOption = None,
    daq_root: DaqRootOption = None,
    ledger: LedgerOption = None,
    json_output: JsonOption = False,
) -> None:
    """Look at scans again: failed, quarantined and blocked ones become pending with a fresh attempt count.

    A scan blocked because its DAQ copy differs from its verified backups is checked against them again and ships
    only once it matches (put the backup's files back first); one blocked because a destination is the DAQ storage
    itself ships again to the route as the config now says. A restored scan (a released one copied back to the
    DAQ) goes back to shipped: the next run past [retention] release_after verifies its copies and removes it from
    the DAQ again. A scan blocked because the scrub found no good copy of it left goes back to released (or
    restored) once you have put good files back at one destination: the next scrub reads every copy back first
    and repairs the others from the good one. With --run, every scan claimed by that run is given back at once,
    once the run has ended.
    """
    if run is not None:
        if scans:
            raise PalxfelError("Give either scans or --run, not both.")
        _give_back(run, config, daq_root, ledger, json_output)
        return
    if not scans:
        raise PalxfelError("Name the scans to retry, or give --run RUN_ID to give back an ended run's claims.")
    _change("retry", scans, config, daq_root, ledger, json_output, RETRIED)


RETRIED = {
    "pending": "now pending, the next tick ships it.",
    "shipped": "shipped again: the first run past [retention] release_after verifies its copies and releases it.",
    "released": "released again: the next run's scrub reads every copy back first and repairs from a good one.",
    "restored": "restored again: the next run's scrub reads every copy back first and repairs from a good one.",
}


def _give_back(
    run_id: str, config: Optional[Path], daq_root: Optional[Path], ledger: Optional[Path], json_output: bool
) -> None:
    from palxfel_globus.functions import call

    function_config = _function_config(config, daq_root, ledger)
    ended = [run_id] if _globus_run_ended(config, run_id) else []
    given = call("manage_scan", function="give_back", config=function_config, run_id=run_id, ended_runs=ended)
    if json_output:
        print_json(given)
    elif given:
        say(f"{len(given)} claim{'' if len(given) == 1 else 's'} of run {run_id} given back: {', '.join(given)}.")
    else:
        say(f"Run {run_id} holds no claim now; nothing to give back.")


@app.command("replace")
def replace(
    scans: ScanArgument,
    config: ConfigOption = None,
    daq_root: DaqRootOption = None,
    ledger: LedgerOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Ship the DAQ copy of scans blocked because it differs from their verified backups, REPLACING those backups.

    Use it only when the DAQ copy is the right one (its files were changed on purpose). The next tick makes a new
    manifest from the DAQ copy as it is and ships it to every destination of the scan's route: the files that
    differ there are overwritten, the files the DAQ copy no longer has are deleted there, and the bytes the
    backups held until then are gone. The old manifest stays in
    the ledger's manifests/EXPERIMENT/ as .replaced-DIGEST-TIME.json (it names its scan). If the backups are the
    right ones instead, put their files back on the DAQ and run 'palxfel-globus scans retry'. ('scans forget'
    refuses such a scan: it would keep no record of what the backups held.)
    """
    if not yes:
        if not sys.stdin.isatty():
            raise PalxfelError("Refusing to replace backups without --yes when not run interactively.")
        question = f"Replace the verified backups of {', '.join(scans)} with the DAQ copy as it is now?"
        if not typer.confirm(question):
            raise PalxfelError("Nothing was replaced.", exit_code=1)
    _change(
        "replace",
        scans,
        config,
        daq_root,
        ledger,
        json_output,
        "now pending: the next tick ships the DAQ copy over its backups.",
    )


@app.command("forget")
def forget(
    scans: ScanArgument,
    config: ConfigOption = None,
    daq_root: DaqRootOption = None,
    ledger: LedgerOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Remove scans from the ledger; the next tick ships them as new scans.

    A new manifest is made from the DAQ copy as it is, and the checksum-sync Transfer replaces whatever differs
    at the destinations and deletes there the files the DAQ copy does not have: use it only for a DAQ copy you
    want backed up as it is now.
    """
    if not yes:
        if not sys.stdin.isatty():
            raise PalxfelError("Refusing to forget scans without --yes when not run interactively.")
        if not typer.confirm(f"Forget {', '.join(scans)}? The next tick will ship them again."):
            raise PalxfelError("Nothing was forgotten.", exit_code=1)
    _change("forget", scans, config, daq_root, ledger, json_output, "forgotten, the next tick ships it again.")


@app.command("release")
def release(
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Required: list what the next run would release, and why, and change nothing (only the flow's "
            "runs release scans).",
        ),
    ] = False,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """With --dry-run: what the next run releases, shipped scans past [retention] release_after whose DAQ copy
    goes once every copy verifies again."""
    from palxfel_globus.cli.output import display
    from palxfel_globus.functions import call

    if not dry_run:
        raise PalxfelError(
            "Scans are released only by the flow's runs, after every copy verifies again; "
            "'palxfel-globus scans release --dry-run' shows what the next run releases."
        )
    function_config = _function_config(config, None, None)
    plan = call("plan_release", config=function_config)
    for problem in plan["problems"]:
        warn(problem)
    if plan["retention"] is None and not json_output:
        say(
            'The config has no [retention], so DAQ copies are never removed; add release_after = "30d" there '
            "to free DAQ space."
        )
        return
    fields = [
        ("Experiment", "experiment"),
        ("Scan", "scan"),
        ("Why", "reason"),
        ("Copies to verify", lambda row: len(row["destinations"])),
    ]
    empty = "The next run releases nothing: no shipped scan is due."
    display(plan["scans"], fields, json_output=json_output, empty=empty)
    if plan["scans"] and not json_output:
        count = len(plan["scans"])
        more = " More are due: the runs after it take them." if plan["more"] else ""
        say(
            f"The next run releases {count} scan{'' if count == 1 else 's'} if every copy verifies again and the DAQ "
            f"copy still matches its manifest; a scan that fails either check ships again instead.{more}"
        )
