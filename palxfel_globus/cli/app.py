"""The ``palxfel-globus`` entry point and its error boundary.

Every failure leaves here as one sentence on stderr and a non-zero exit code: our own
``PalxfelError`` (2 = bad input, 1 = failed operation), a command-line usage mistake (2),
an OS error (1). Ctrl-C (130) and SIGTERM (143) stop any command the same way, with one line: the
command unwinds, so worker pools end and locks go. Anything unexpected is one sentence too, with the
way to get the traceback (``PALXFEL_GLOBUS_DEBUG=1``) for a bug report.
"""

import os
import signal
import sys
import threading
from typing import Optional

import typer

from palxfel_globus.cli import (
    auth,
    catalog,
    collections,
    demo,
    deploy,
    doctor,
    endpoint,
    flow,
    init,
    local,
    report,
    runs,
    scans,
    shares,
    status,
    timer,
    transfer,
)
from palxfel_globus.cli.options import Stopped, Terminated, command_group
from palxfel_globus.cli.output import error
from palxfel_globus.errors import PalxfelError

DEBUG_ENV = "PALXFEL_GLOBUS_DEBUG"

app = command_group(
    "Automatic, verified backup of completed PAL-XFEL DAQ scans with Globus.",
    name="palxfel-globus",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("init")(init.init)
app.add_typer(scans.app, name="scans")
app.add_typer(shares.app, name="shares")
app.add_typer(catalog.app, name="catalog")
app.add_typer(flow.app, name="flow")
app.add_typer(local.app, name="local")
app.command("demo")(demo.demo)
app.command("deploy")(deploy.deploy)
app.command("destroy")(deploy.destroy)
app.command("status")(status.status)
app.command("report")(report.report)
app.command("transfer")(transfer.transfer)
app.command("doctor")(doctor.doctor)
app.add_typer(collections.app, name="collections")
app.add_typer(endpoint.app, name="endpoint")
app.add_typer(timer.app, name="timer")
app.add_typer(runs.app, name="runs")
for command in (auth.login, auth.logout, auth.whoami):
    app.command()(command)


def _usage_error_text(exc: Exception) -> str:
    """Click's usage errors (typer vendors click, so matched by shape, not by class)."""
    message = exc.format_message().rstrip(".")  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "palxfel-globus"
    return f"{message} (see '{command} --help')."


def _terminated(_signum: int, _frame: object) -> None:
    raise Terminated()


def main(argv: Optional[list[str]] = None) -> int:
    """Run the CLI; returns the exit code instead of raising."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main_thread else None
    try:
        return _run(argv)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _run(argv: Optional[list[str]]) -> int:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="palxfel-globus", standalone_mode=False)
    except PalxfelError as exc:
        for line in str(exc).splitlines():
            error(line)
        return exc.exit_code
    except Stopped as stop:
        sys.stderr.write(f"Stopped ({stop.by}).\n")
        return stop.exit_code
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        error(f"{exc.strerror or exc}{where}.")
        return 1
    except Exception as exc:
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            if type(exc).__name__ == "Abort":
                error("Aborted.")
                return 1
            if not exc.format_message():  # no_args_is_help: the help is already on screen
                return int(exc.exit_code)
            error(_usage_error_text(exc))
            return int(exc.exit_code)
        if os.environ.get(DEBUG_ENV):
            raise
        error(f"Internal error ({type(exc).__name__}: {exc}); rerun with {DEBUG_ENV}=1 and report the traceback.")
        return 1
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
