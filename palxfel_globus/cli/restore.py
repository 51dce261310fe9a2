"""``palxfel-globus scans restore`` (a run of the deployed restore flow, in Globus) and ``local restore`` (the same
flow on the local engine): scans back from a backup copy that verifies against the manifest their ledger keeps."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.output import display, say, warn
from palxfel_globus.errors import PalxfelError

RestoredScans = Annotated[
    list[str],
    typer.Argument(metavar="EXPERIMENT/SCAN", help="Scans to restore (a scan name alone where only one has it)."),
]
ToOption = Annotated[
    Optional[str],
    typer.Option(
        "--to",
        metavar="COLLECTION:PATH",
        help="Restore under this directory (each scan to PATH/SCAN, which must not exist) instead of each scan's "
        "own place on the DAQ.",
    ),
]
FromOption = Annotated[
    Optional[str],
    typer.Option(
        "--from",
        metavar="DESTINATION",
        help="Take the copy at this destination collection (UUID) only; default: the healthiest copy that verifies.",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Say which copy each scan would come from and where it would go; change nothing."),
]
ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="Config file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _where(to: Optional[str], source: Optional[str]) -> tuple[Optional[dict[str, str]], Optional[str]]:
    """``--to`` and ``--from`` checked: one sentence each when wrong."""
    from palxfel_globus.cli.options import parse_uuid
    from palxfel_globus.cli.transfer import collection_path

    place = collection_path(to, "place to restore to (--to)") if to is not None else None
    collection = None
    if source is not None:
        collection = parse_uuid(source)
        if collection is None:
            raise PalxfelError(f"--from {source!r} is not a destination collection's UUID.")
    return place, collection


@dataclass(frozen=True)
class Asked:
    """A restore as the command line asked for it, checked: the same for 'scans restore' and 'local restore'."""

    scans: list[str]
    place: Optional[dict[str, str]]  # --to, as {id, path}
    source: Optional[str]  # --from, a collection UUID
    dry_run: bool
    config: Optional[Path]
    json_output: bool


def _dry_run(config: Any, asked: Asked) -> None:
    """The plan, as the DAQ side would make it now, with nothing claimed or written."""
    from palxfel_globus.functions import call
    from palxfel_globus.units import format_size

    plan = call(
        "restore_scans",
        config=config.function_config(),
        run_id="dry-run",
        scans=asked.scans,
        to=asked.place,
        source=asked.source,
        dry_run=True,
    )
    plan = {key: plan[key] for key in ("scans", "refused")}
    if asked.json_output:
        from palxfel_globus.cli.output import print_json

        print_json(plan)
        return
    fields = [
        ("scan", "scan_id"),
        ("from, in the order tried", lambda item: ", ".join(copy["collection"] for copy in item["candidates"])),
        ("to", lambda item: item["target"]["where"]),
        ("files", "files"),
        ("size", lambda item: format_size(item["bytes"])),
    ]
    display(plan["scans"], fields, json_output=False, empty="Nothing would be restored.")
    for refusal in plan["refused"]:
        warn(f"{refusal['scan']}: {refusal['reason']}")
    if plan["scans"]:
        say(
            "A copy is used only once it verifies against the scan's manifest (checked at its destination, or by "
            "Transfer file by file), and what arrives is verified again before the run says it is restored."
        )


def restore_command(run: Callable[[Asked], None]) -> Callable[..., None]:
    """A typer command taking the restore's arguments and options, checking them (one sentence each when wrong)
    and handing them to ``run``, whose docstring is its help."""

    def command(
        scans: RestoredScans,
        to: ToOption = None,
        source: FromOption = None,
        dry_run: DryRunOption = False,
        config: ConfigOption = None,
        json_output: JsonOption = False,
    ) -> None:
        place, collection = _where(to, source)
        run(Asked(scans, place, collection, dry_run, config, json_output))

    command.__doc__ = run.__doc__
    return command


def in_globus(asked: Asked) -> None:
    """Get scans back from their backups, verified: a run of the deployed restore flow in Globus.

    Each scan comes from a copy that verifies against the manifest the ledger keeps (the healthiest destination
    first, or the one --from names), goes to its own place on the DAQ (only where nothing of it is) or under
    --to, and is verified against that manifest again before the run says it is restored. A scan restored to its
    DAQ place is left alone by every later run until 'palxfel-globus scans retry' releases it again. Follow the
    run with 'palxfel-globus runs watch RUN_ID'; 'local restore' does the same on this machine."""
    from palxfel_globus.backup import check_input, load_flow
    from palxfel_globus.cli.runs import start_run
    from palxfel_globus.cli.session import deployed, ensure_login, load_globus_config, session
    from palxfel_globus.globus.consents import data_access_collections, flow_scope
    from palxfel_globus.globus.errors import globus_errors
    from palxfel_globus.restore import restore_input

    if asked.dry_run:
        _dry_run(load_globus_config(asked.config), asked)
        return
    loaded, deployment, flow_id = deployed(asked.config, "restore_flow")
    body = restore_input(loaded, deployment.restore_function_ids(), asked.scans, asked.place, asked.source)
    check_input(body, load_flow("restore")[1])
    current = session(loaded)
    involved = set(loaded.collections()) | ({asked.place["id"]} if asked.place else set())
    with globus_errors():
        mapped = data_access_collections(current.transfer, involved)
        if mapped:
            current.require({flow_id: flow_scope(flow_id, mapped)})
            ensure_login(current, f"This restore needs your consent to Transfer's data access on {', '.join(mapped)}")
    count = len(asked.scans)
    label = f"palxfel-globus restore of {count} scan{'' if count == 1 else 's'}"
    flow = current.specific_flow(flow_id)
    start_run(flow, body, label=label, kind="restore", what="restore run", json_output=asked.json_output)


def on_local_engine(asked: Asked) -> None:
    """Get scans back from their backups, verified: the restore flow on the local engine ([local] in the config).

    The same arguments as 'scans restore', and the same checks: a copy is used only once it verifies against the
    scan's manifest, nothing at the target is overwritten, and the bytes restored are verified before a scan is
    said to be restored."""
    from palxfel_globus.cli.output import print_json
    from palxfel_globus.config import load_config
    from palxfel_globus.restore import outcomes, run_restore

    loaded = load_config(asked.config)
    if asked.dry_run:
        _dry_run(loaded, asked)
        return
    run = run_restore(loaded, asked.scans, asked.place, asked.source)
    said = outcomes(run)
    if asked.json_output:
        print_json({"run_id": run["run_id"], "status": run["status"], "scans": said})
    else:
        for outcome in said:
            say(f"{outcome['scan']}: {outcome['sentence']}")
    if not all(outcome["ok"] for outcome in said):
        raise typer.Exit(1)


restore = restore_command(in_globus)
local_restore = restore_command(on_local_engine)
