"""Option values the run commands share, turned into one sentence naming the option when wrong."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup
from typing_extensions import Annotated

from palxfel_globus.errors import PalxfelError

# Help texts name config sections ("[local]", "[timer]"): as rich markup they would vanish; as markdown
# they stay text, and the help keeps its rich panels.
RICH_MARKUP = "markdown"


class _FlagsWithoutType:
    """A flag shows no value type beside it, whatever typer version draws the help: typer's "<bool>"
    reads as if the flag took a value (globus-cli shows none)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd, kill), raised where the program is so that it unwinds as Ctrl-C does."""


class Stopped(Exception):
    """A command that Ctrl-C or SIGTERM stopped, once it has unwound (worker pools ended, locks gone)."""

    def __init__(self, interrupt: KeyboardInterrupt) -> None:
        terminated = isinstance(interrupt, Terminated)
        super().__init__()
        self.by = "SIGTERM" if terminated else "Ctrl-C"
        self.exit_code = 128 + (signal.SIGTERM if terminated else signal.SIGINT)


class Command(_FlagsWithoutType, TyperCommand):
    """A command with the CLI's help conventions: its usage line names each argument once, as
    globus-cli's do: NAME, [NAME] when optional, NAME... when repeated (typer draws {NAME...}...).
    Ctrl-C and SIGTERM leave it as ``Stopped``: click and typer would turn them into "Aborted!" or
    a silent exit, each version its own way."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as interrupt:
            raise Stopped(interrupt) from None

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = (param.metavar or param.name.upper()) + ("..." if param.nargs != 1 else "")
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class Group(_FlagsWithoutType, TyperGroup):
    """A group of commands with the CLI's help conventions; its help is drawn without typer's renderer (see
    group_help), so that ``palxfel-globus --help`` stays quick."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        from palxfel_globus.cli.group_help import print_group_help

        print_group_help(self, ctx)


class CommandGroup(typer.Typer):
    """A typer app whose commands all follow the CLI's help conventions."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


def command_group(help: Optional[str] = None, **settings: Any) -> typer.Typer:
    """A group of subcommands (or, with ``settings``, the whole CLI), with the help conventions of the whole CLI."""
    return CommandGroup(cls=Group, help=help, no_args_is_help=True, rich_markup_mode=RICH_MARKUP, **settings)


CONFIG_DEFAULT = "(default: $PALXFEL_GLOBUS_CONFIG or ./palxfel-globus.toml)"
ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help=f"Config file {CONFIG_DEFAULT}.")]


def faults_option(specs: Optional[list[str]], definition: dict[str, Any]) -> Any:
    """``--fault`` values as one Faults, checked against ``definition``'s states, or None when there are none."""
    from palxfel_globus.engine.faults import check_faults, parse_fault

    faults = None
    try:
        for spec in specs or []:
            faults = parse_fault(spec, faults)
        if faults is not None:
            check_faults(faults, definition.get("States") or {})
    except ValueError as exc:
        raise PalxfelError(f"{exc}.") from None
    return faults


def interval_option(text: str) -> int:
    """``--interval`` in seconds."""
    from palxfel_globus.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise PalxfelError(f"--interval: {exc}.") from None


RealTimeOption = Annotated[
    bool,
    typer.Option(
        "--real-time",
        help="Wait as the service would: Wait states, sleeping actions and the time between ticks take real "
        "time (default: simulated time, which moves on at once and still shows in the run's log).",
    ),
]


def engine_clock(real_time: bool) -> Any:
    """The engine clock ``--real-time`` asks for."""
    from palxfel_globus.engine import Clock, VirtualClock

    return Clock() if real_time else VirtualClock()


StateOption = Annotated[
    Optional[Path],
    typer.Option(
        "--state",
        help="Where the local Search indexes and guest-collection access rules are kept between runs "
        "(default: $XDG_STATE_HOME/palxfel-globus/local).",
    ),
]


def state_dir(option: Optional[Path]) -> Path:
    """``--state``, else the default; a file there is one sentence, not a traceback later."""
    from palxfel_globus.engine.providers.local_state import default_state_dir

    directory = option or default_state_dir()
    if directory.exists() and not directory.is_dir():
        raise PalxfelError(f"--state {directory} is a file; give a directory for the local services' state.")
    return directory


def parse_uuid(text: str) -> Optional[str]:
    """``text`` as a canonical (lower-case) UUID, or None when it is not one: each caller says why in its own words."""
    import uuid

    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None
