"""``palxfel-globus local search`` and ``local access-rules``: what the local services kept.

A flow run on the local engine ingests into a local Search index and sets access rules on
local guest collections; these commands show them as a person would look them up in Globus
(the web app's search, a guest collection's Permissions tab)."""

import json

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import StateOption, parse_uuid, state_dir
from palxfel_globus.cli.output import display
from palxfel_globus.errors import PalxfelError


def _uuid(value: str, what: str) -> str:
    parsed = parse_uuid(value)
    if parsed is None:
        raise PalxfelError(f"{value!r} is not a {what} UUID.")
    return parsed


def search(
    index: Annotated[str, typer.Argument(metavar="INDEX", help="The Search index UUID a flow ingested into.")],
    text: Annotated[
        str, typer.Argument(metavar="WORDS", help="Words every entry shown holds (default: all entries).")
    ] = "",
    state: StateOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the entries as JSON.")] = False,
) -> None:
    """Entries of a local Search index: subject, who may see it, and its content."""
    from palxfel_globus.engine.providers.local_state import LocalState
    from palxfel_globus.engine.providers.search import search as find

    entries = find(LocalState(state_dir(state)), _uuid(index, "Search index"), text)
    fields = [
        ("subject", "subject"),
        ("visible to", lambda entry: ", ".join(entry["visible_to"])),
        ("content", lambda entry: json.dumps(entry["content"], ensure_ascii=False)),
    ]
    display(entries, fields, json_output=json_output, empty=f"No entry in index {index} matches.")


def access_rules(
    collection: Annotated[str, typer.Argument(metavar="COLLECTION", help="The guest collection UUID.")],
    state: StateOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the rules as JSON.")] = False,
) -> None:
    """The access rules flows set on a local guest collection, with their ids."""
    from palxfel_globus.engine.providers.local_state import LocalState
    from palxfel_globus.engine.providers.transfer import access_rules as rules_of

    rules = rules_of(LocalState(state_dir(state)), _uuid(collection, "collection"))
    fields = [
        ("id", "id"),
        ("path", "path"),
        ("permissions", "permissions"),
        ("principal", lambda rule: rule["principal"] or rule["principal_type"]),
        ("created", "create_time"),
    ]
    display(rules, fields, json_output=json_output, empty=f"No access rule on collection {collection}.")


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("access-rules")(access_rules)
