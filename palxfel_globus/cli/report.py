"""``palxfel-globus report``: the backup at a glance, in the terminal or as one HTML page with charts.

It reads the ledger on the DAQ host through the list_scans Compute function (every scan, the compacted released
ones too), as ``scans list --archived`` does, so the page and the table never disagree. Nothing runs between ticks:
the page is made when someone asks for it (or by cron, to a shared disk).
"""

from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.scans import ConfigOption, DaqRootOption, JsonOption, LedgerOption


def report(
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="The days the charts and the waits cover.")] = 14,
    html: Annotated[
        Optional[Path],
        typer.Option(
            "--html",
            metavar="FILE",
            help="Write the page to FILE: one self-contained HTML file (charts inline, nothing fetched) that opens "
            "offline in any browser, reads on a phone and prints.",
        ),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", metavar="en|ko", help="The page's language: en or ko.")] = "en",
    config: ConfigOption = None,
    daq_root: DaqRootOption = None,
    ledger: LedgerOption = None,
    json_output: JsonOption = False,
) -> None:
    """The backup at a glance: the recovery point, per experiment and destination what is shipped, released,
    blocked or quarantined, the backlog over time, bytes per day per destination, the waits, failures by reason and
    the scans that need a person. With --html, as a page with charts; else in the terminal."""
    from palxfel_globus.cli.output import print_json, say
    from palxfel_globus.cli.scans import _function_config
    from palxfel_globus.errors import PalxfelError
    from palxfel_globus.report.words import LANGUAGES

    if lang not in LANGUAGES:
        raise PalxfelError(f"--lang {lang}: give one of {', '.join(LANGUAGES)}.")
    if html is not None:
        _check_target(html)
    function_config = _function_config(config, daq_root, ledger)
    figures, count = read_figures(function_config, days)
    if html is not None:
        write_page(figures, html, lang)
    if json_output:
        print_json(figures.as_json())
    elif html is not None:
        say(f"Wrote the report of {count} scan{'' if count == 1 else 's'} (the last {days} days) to {html}.")
    else:
        _terminal(figures)


def read_figures(function_config: dict[str, Any], days: int) -> tuple[Any, int]:
    """(the report's figures, the number of scans) from the ledger, read on this (the DAQ) host."""
    import time

    from palxfel_globus.cli.output import warn
    from palxfel_globus.functions import call
    from palxfel_globus.report.figures import build

    now = time.time()
    listing = call("list_scans", config=function_config, now=now, archived=True, days=days)
    for problem in listing["problems"]:
        warn(problem)
    figures = build(listing, function_config["routes"], now, days, function_config["daq_root"])
    return figures, len(listing["scans"])


def write_page(figures: Any, path: Path, language: str = "en") -> None:
    """The page, replacing ``path`` by a rename: whoever opens it from a shared disk sees the old page or the new."""
    import os
    import tempfile

    from palxfel_globus.report.page import render

    page = render(figures, language)
    handle, temporary = tempfile.mkstemp(prefix=".palxfel-report-", suffix=".html", dir=path.absolute().parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(page)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _check_target(path: Path) -> None:
    """Before the ledger is read: a FILE that cannot be written is one sentence."""
    from palxfel_globus.errors import PalxfelError

    if path.is_dir():
        raise PalxfelError(f"--html {path} is a directory; give a file name such as {path / 'backup-report.html'}.")
    if not path.absolute().parent.is_dir():
        raise PalxfelError(f"--html {path}: the directory {path.absolute().parent} does not exist.")


def _terminal(figures: Any) -> None:
    """The page's figures that fit a terminal: the recovery point, the totals, what needs a person."""
    from palxfel_globus.cli.output import say
    from palxfel_globus.report.words import recovery_sentences

    say(f"Recovery point (waits over the last {figures.days} days):")
    for line in recovery_sentences(figures.recovery):
        say(f"  {line}")
    totals = figures.totals
    say(
        "Scans: "
        + ", ".join(f"{totals[key]:,} {key}" for key in ("complete", "waiting", "shipped", "released", "blocked"))
        + f", {totals['quarantined']:,} quarantined."
    )
    people = figures.need_a_person
    extra = figures.need_a_person_cut
    if people:
        say(f"{len(people) + extra} scan(s) need a person; 'palxfel-globus scans list' says why.")
    say("'palxfel-globus report --html FILE' writes the page with its charts.")
