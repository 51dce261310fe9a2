"""``palxfel-globus catalog search``: find shipped scans in the catalog the flow fills ([catalog] index).

Once the flow is deployed the catalog is Globus Search (or ``local serve``'s, when the environment
points globus-sdk there); before that, the flow runs on the local engine, and its entries are in the
local index kept with the local services' state (``[local] state``)."""

from typing import Any, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import command_group
from palxfel_globus.cli.output import display, say, when
from palxfel_globus.cli.session import ConfigOption, JsonOption
from palxfel_globus.errors import PalxfelError

app = command_group("The Globus Search catalog of shipped scans ([catalog] index): one entry per scan.")


def _destinations(content: dict[str, Any]) -> list[str]:
    return [str(place.get("collection"))[:8] + "…" for place in content.get("destinations") or []]


def _scan_id(entry: dict[str, Any]) -> str:
    return f"{entry['content'].get('experiment')}/{entry['content'].get('scan')}"


def _size(count: Any) -> str:
    from palxfel_globus.units import format_size

    return format_size(count) if isinstance(count, int) else ""


@app.command("search")
def search(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="Words every entry shown holds (default: all).")] = "",
    experiment: Annotated[
        Optional[str], typer.Option("--experiment", "-e", help="Only this experiment's scans, e.g. ue_251023_FXL.")
    ] = None,
    config: ConfigOption = None,
    json_output: JsonOption = False,
) -> None:
    """Catalog entries of shipped scans: where each is backed up and what it holds."""
    from palxfel_globus.config import load_config
    from palxfel_globus.globus.deployment import Deployment, deployment_path

    loaded = load_config(config, check_tree=False)
    index = loaded.catalog.index
    if not index:
        raise PalxfelError(
            f'{loaded.source} has no [catalog] index: add [catalog] index = "UUID" (a Globus Search index you can '
            "write) and the flow catalogues every scan it ships."
        )
    if Deployment.load(deployment_path(loaded)).flow:
        entries = _from_globus(loaded, index, text, experiment)
        where = f"Globus Search index {index}"
    else:
        entries = _from_local_engine(loaded, index, text, experiment)
        where = f"the local engine's index {index}"
    fields = [  # the subject (the backup's globus:// URL) is long: --json has it, and every destination
        ("scan", _scan_id),
        ("files", lambda entry: entry["content"].get("files")),
        ("size", lambda entry: _size(entry["content"].get("bytes"))),
        ("shipped", lambda entry: when(entry["content"].get("shipped_at"))),
        ("backed up on", lambda entry: ", ".join(_destinations(entry["content"]))),
    ]
    for entry in entries:  # an entry found is a scan someone wants back: the command that does, with its name
        if entry["content"].get("experiment") and entry["content"].get("scan"):
            entry["restore"] = f"palxfel-globus scans restore {_scan_id(entry)}"
    asked = " ".join(
        part for part in (text and f"matching {text!r}", experiment and f"of experiment {experiment}") if part
    )
    display(
        entries,
        fields,
        json_output=json_output,
        empty=f"No entry {asked + ' ' if asked else ''}in {where}.",
        title=f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} in {where}",
    )
    restorable = [entry for entry in entries if "restore" in entry]
    if restorable and not json_output:
        say(
            f"To get a scan back, verified: {restorable[0]['restore']} (--dry-run first says which copy and where; "
            "'local restore' on the local engine)."
        )


def _from_globus(config: Any, index: str, text: str, experiment: Optional[str]) -> list[dict[str, Any]]:
    from palxfel_globus.cli.session import session
    from palxfel_globus.globus.catalog import search_entries
    from palxfel_globus.globus.errors import globus_errors

    current = session(config)
    with globus_errors():
        return search_entries(current.search, index, text, experiment)


def _from_local_engine(config: Any, index: str, text: str, experiment: Optional[str]) -> list[dict[str, Any]]:
    from palxfel_globus.cli.options import state_dir
    from palxfel_globus.engine.providers.local_state import LocalState
    from palxfel_globus.engine.providers.search import search as find

    where = {"experiment": experiment} if experiment else None
    found = find(LocalState(state_dir(config.local.state)), index, text, where)
    return [{"subject": entry["subject"], "content": entry["content"]} for entry in found]
