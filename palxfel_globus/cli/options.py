"""Option values the run commands share, turned into one sentence naming the option when wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.errors import PalxfelError

# Help texts name config sections ("[local]", "[timer]"): as rich markup they would vanish; as markdown
# they stay text, and the help keeps its rich panels.
RICH_MARKUP = "markdown"


def command_group(help: str) -> typer.Typer:
    """A group of subcommands, with the help conventions of the whole CLI."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=RICH_MARKUP)


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
