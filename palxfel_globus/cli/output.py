"""What the CLI prints: rich tables for people, plain JSON for scripts, plain text on stderr.

Messages carry user text (paths, scan names, TOML section names like ``[daq]``), so they
are never parsed as rich markup.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

from rich.console import Console

console = Console(highlight=False)


def say(text: str) -> None:
    """One line of plain text for a person: never parsed as markup, never folded (ids stay whole)."""
    console.print(text, markup=False, soft_wrap=True, highlight=False)


def this_command() -> str:
    """How a new shell runs this CLI: "palxfel-globus" when its PATH finds this one, else the script's path
    (a virtualenv that was never activated: the plain name would be "command not found")."""
    import shlex
    import shutil
    from pathlib import Path

    script = Path(sys.executable).parent / "palxfel-globus"
    found = shutil.which("palxfel-globus")
    if script.is_file() and (found is None or Path(found).resolve() != script.resolve()):
        return shlex.quote(str(script))
    return "palxfel-globus"


def when(iso: Optional[str], missing: str = "-") -> str:
    """A service timestamp (UTC) in this machine's local time, to the minute: what staff compare with the DAQ log."""
    from datetime import datetime

    if not iso:
        return missing
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


PRIVATE_PREFIX = "_private"  # flow-input keys holding secrets (the mail server login deploy puts in the timer)


def without_private(data: Any) -> Any:
    """``data`` without any ``_private…`` key, at any depth: a timer's or run's body as Globus returns
    it may hold the mail login, and what a command prints ends up in terminals, logs and tickets."""
    if isinstance(data, dict):
        return {key: without_private(value) for key, value in data.items() if not str(key).startswith(PRIVATE_PREFIX)}
    if isinstance(data, list):
        return [without_private(item) for item in data]
    return data


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(without_private(data), ensure_ascii=False, indent=2) + "\n")


def done(answer: Any, json_output: bool, sentence: str) -> None:
    """After a change in Globus: the service's own answer for scripts, one sentence for people."""
    if json_output:
        print_json(getattr(answer, "data", answer))
    else:
        say(sentence)


def warn(message: str) -> None:
    sys.stderr.write(f"Warning: {message}\n")


def error(message: str) -> None:
    sys.stderr.write(f"Error: {message}\n")


def problem(message: str) -> None:
    sys.stderr.write(f"Problem: {message}\n")


def display(
    rows: list[dict[str, Any]],
    fields: list[tuple[str, Any]],
    *,
    json_output: bool,
    empty: str,
    title: Optional[str] = None,
) -> None:
    """Rows as JSON (as they are) for scripts, or as a table of ``fields`` for people: each field is
    (header, key) or (header, function of the row). One place decides how a listing looks."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    if json_output:
        print_json(rows)
        return
    if not rows:
        say(empty)
        return
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    for header, _field in fields:
        table.add_column(header, overflow="fold")
    for row in rows:
        cells = [field(row) if callable(field) else row.get(field) for _header, field in fields]
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in cells))
    console.print(table)
