"""``palxfel-globus transfer SOURCE DESTINATION``: one checksum-verified copy, through the deployed copy flow."""

from typing import Any, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.session import ConfigOption, JsonOption, deployed, session
from palxfel_globus.errors import PalxfelError

SourceArgument = Annotated[
    str, typer.Argument(metavar="SOURCE", help="What to copy: COLLECTION_UUID:/absolute/path of a file or directory.")
]
DestinationArgument = Annotated[
    str, typer.Argument(metavar="DESTINATION", help="Where the copy goes: COLLECTION_UUID:/absolute/path.")
]


def collection_path(value: str, what: str) -> dict[str, str]:
    """``UUID:/path`` -> {"id", "path"}, or one sentence saying what is wrong."""
    from palxfel_globus.cli.options import parse_uuid

    text, separator, path = value.partition(":")
    collection = parse_uuid(text)
    if collection is None or not separator or not path.startswith("/"):
        raise PalxfelError(f"The {what} {value!r} is not COLLECTION_UUID:/absolute/path.")
    return {"id": collection, "path": path}


def _deadline(wait_seconds: int) -> str:
    """The task's deadline: as long as the flow waits for it, so the task never outlives the run."""
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc)
    return (now + datetime.timedelta(seconds=wait_seconds)).isoformat(timespec="seconds")


def transfer(
    source: SourceArgument,
    destination: DestinationArgument,
    config: ConfigOption = None,
    label: Annotated[Optional[str], typer.Option("--label", help="The Transfer task's label.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Copy one file or directory between collections, checksum-verified, as a run of the copy flow."""
    from palxfel_globus.backup import check_input, load_flow
    from palxfel_globus.cli.runs import start_run
    from palxfel_globus.cli.session import ensure_login
    from palxfel_globus.globus.consents import data_access_collections, flow_scope
    from palxfel_globus.globus.errors import globus_errors

    definition, schema = load_flow("transfer")
    body: dict[str, Any] = {
        "source": collection_path(source, "source"),
        "destination": collection_path(destination, "destination"),
        "deadline": _deadline(definition["States"]["Transfer"]["WaitTime"]),
    }
    if label:
        body["label"] = label
    check_input(body, schema)
    loaded, _deployment, flow_id = deployed(config, "transfer_flow")
    current = session(loaded)
    flow = current.specific_flow(flow_id)
    with globus_errors():
        mapped = data_access_collections(current.transfer, {body["source"]["id"], body["destination"]["id"]})
        if mapped:
            current.require({flow_id: flow_scope(flow_id, mapped)})
            ensure_login(current, f"This copy needs your consent to Transfer's data access on {', '.join(mapped)}")
    start_run(
        flow, body, label=label or "palxfel-globus one-off copy", kind="copy", what="copy run", json_output=json_output
    )
