"""``palxfel-globus collections search QUERY``: find a collection's UUID for the config."""

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.options import command_group
from palxfel_globus.cli.output import console, print_json
from palxfel_globus.cli.session import ConfigOption, JsonOption, session

app = command_group("Globus collections, for filling in palxfel-globus.toml.")


@app.command("search")
def search(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help="Words from the collection's name, owner or description.")
    ],
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="At most this many results.")] = 25,
    json_output: JsonOption = False,
) -> None:
    """Collections whose name or description matches QUERY, with the UUID to put in the config."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from palxfel_globus.config import load_config
    from palxfel_globus.globus.errors import globus_errors

    with globus_errors():
        found = session(load_config(config, check_tree=False)).transfer.endpoint_search(
            query, filter_non_functional=False, limit=limit
        )
        collections = [dict(item) for item in found]
    if json_output:
        print_json(collections)
        return
    if not collections:
        console.print(Text(f"No collection matches {query!r}."))
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("id", no_wrap=True, min_width=36)
    table.add_column("name", overflow="fold")
    table.add_column("owner", overflow="fold")
    for item in collections:
        table.add_row(item.get("id"), Text(item.get("display_name") or ""), Text(item.get("owner_string") or ""))
    console.print(table)
