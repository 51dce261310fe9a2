"""A command group's help (its usage line, its text, ``--help`` and its commands), drawn with rich alone.

typer draws every help through ``typer.rich_utils``, whose imports (``rich.markdown``, ``rich.traceback`` and,
through ``rich.pretty``, the ``attrs`` that jsonschema installs) take 0.15 s: more than half of what
``palxfel-globus --help`` may take (scripts/bench.py). A group's help holds only those four things, so it is
drawn here in the same panels; a command's help, with its options and arguments, stays typer's.
"""

from __future__ import annotations

import inspect
from typing import Any


def paragraphs(text: str) -> list[str]:
    """A help text's paragraphs, each on one line (what comes after a line holding only \\f is not help)."""
    return [" ".join(part.split()) for part in inspect.cleandoc(text or "").partition("\f")[0].split("\n\n")]


def first_paragraph(text: str) -> str:
    """What a command's row shows of its help, as typer shows it."""
    return paragraphs(text)[0]


def print_group_help(group: Any, ctx: Any) -> None:
    from rich import box
    from rich.console import Console
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    console.print(Padding(Text(group.get_usage(ctx), style="bold"), 1))
    for paragraph in paragraphs(group.help) if group.help else []:
        console.print(Padding(Text(paragraph), (0, 1, 1, 1)))

    def panel(title: str, rows: list[tuple[str, ...]]) -> None:
        table = Table.grid(padding=(0, 2), expand=True)
        for _ in rows[0]:
            table.add_column()
        table.columns[-1].ratio = 1
        for row in rows:
            table.add_row(*[Text(cell) for cell in row])
        console.print(Panel(table, title=title, title_align="left", border_style="dim", box=box.ROUNDED))

    options = [param for param in group.get_params(ctx) if getattr(param, "opts", None) and not param.hidden]
    if options:
        panel("Options", [_option_row(option) for option in options])
    commands = [(name, group.get_command(ctx, name)) for name in group.list_commands(ctx)]
    shown = [(name, first_paragraph(command.help or "")) for name, command in commands if not command.hidden]
    if shown:
        panel("Commands", shown)


def _option_row(option: Any) -> tuple[str, str, str]:
    longs = [name for name in option.opts + option.secondary_opts if name.startswith("--")]
    shorts = [name for name in option.opts + option.secondary_opts if not name.startswith("--")]
    return ",".join(longs), ",".join(shorts), first_paragraph(option.help or "")
