"""``palxfel-globus demo``: the whole job on a synthetic PAL-XFEL tree, no account, no network."""

import shlex
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typing_extensions import Annotated

from palxfel_globus.cli.output import console, say, this_command
from palxfel_globus.errors import PalxfelError

DEMO_TICKS = 3
RUN_TIMEOUT = 600  # seconds one tick's run may take before the demo gives up


def demo(
    workdir: Annotated[
        Optional[Path], typer.Option("--workdir", help="An empty or new directory (default: a new temporary one).")
    ] = None,
    scans: Annotated[int, typer.Option("--scans", min=1, max=500, help="How many scans to generate.")] = 12,
    size: Annotated[str, typer.Option("--size", help="Total size of the generated scans, e.g. 200MB.")] = "200MB",
) -> None:
    """Generate a DAQ tree, deploy the scan backup to Globus emulated on this machine, let its timer run a few
    times, and check every scan byte for byte."""
    import tempfile

    from rich import box
    from rich.table import Table
    from rich.text import Text

    from palxfel_globus.config import load_config
    from palxfel_globus.demo import arrive_markers, check_site, make_site
    from palxfel_globus.units import format_size, parse_size

    try:
        total = parse_size(size)
    except ValueError as exc:
        raise PalxfelError(f"--size: {exc}.") from None
    temporary = workdir is None
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="palxfel-demo-"))
    elif workdir.exists() and (not workdir.is_dir() or any(workdir.iterdir())):
        raise PalxfelError(f"--workdir {workdir} is not empty; give a new or empty directory.")
    started = time.monotonic()
    site = make_site(workdir, scans=scans, total_bytes=total, catalog=True)
    kinds = {kind: sum(scan.kind == kind for scan in site.scans) for kind in ("complete", "arriving", "incomplete")}
    console.print(
        Text(
            f"DAQ tree: {scans} scans, {format_size(total)}, in {site.daq_root} — {kinds['complete']} complete, "
            f"{kinds['arriving']} finishing between ticks, {kinds['incomplete']} still being written."
        )
    )
    console.print(Text(f"Config: {site.config_path}"))

    def between(tick: int) -> None:
        if tick == 1:
            arrive_markers(site)
            console.print(f"  markers arrived for {kinds['arriving']} scan(s)")

    config = load_config(site.config_path)
    with console.status("starting …") as status:
        summaries, catalogued = _ticks_through_globus(config, workdir / "globus", between, status)
    checks = check_site(site, [summary.shipped for summary in summaries])
    elapsed = time.monotonic() - started
    table = Table(title="What a data manager would check", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("scan", no_wrap=True)
    table.add_column("expected")
    table.add_column("result")
    for check in checks:
        result = Text("ok", style="green") if check.ok else Text(f"FAILED: {check.detail}", style="bold red")
        table.add_row(Text(check.scan_id), Text(check.expected), result)
    console.print(table)
    shipped = sum(len(summary.shipped) for summary in summaries)
    moved = sum(summary.bytes_transferred for summary in summaries)
    if all(check.ok for check in checks):
        console.print(
            Text(
                f"All {kinds['complete'] + kinds['arriving']} complete scans reached their destinations, "
                f"verified, exactly once ({shipped} shipped, {format_size(moved)} moved); "
                f"{kinds['incomplete']} scan(s) still being written stayed on the DAQ. "
                f"Wall time {elapsed:.1f} s.",
                style="green",
            )
        )
        _say_what_the_catalog_holds(catalogued, shipped)
        command = this_command()
        _write_the_report(config, workdir / "report.html")
        config_option = f"--config {shlex.quote(str(site.config_path))}"
        state = shlex.quote(str(workdir / "globus"))
        say(f"Look around: {command} scans list {config_option}")
        say(
            f"and on the Globus side: {command} local serve {config_option} --state {state}; then, in another "
            f"shell, source {state}/env.sh and {command} status {config_option} (or catalog search)"
        )
        if temporary:
            say(
                f"The demo's files ({format_size(_disk_use(workdir))}) stay in {workdir} for that; "
                f"'rm -r {shlex.quote(str(workdir))}' removes them."
            )
        return
    console.print(
        Text(f"{sum(not check.ok for check in checks)} check(s) failed; see the table above.", style="bold red")
    )
    raise typer.Exit(1)


def _disk_use(directory: Path) -> int:
    """Bytes the files under ``directory`` take on disk (what 'du' counts)."""
    return sum(path.lstat().st_blocks * 512 for path in directory.rglob("*"))


def _say_what_the_catalog_holds(catalogued: list[str], shipped: int) -> None:
    """The catalog holds each shipped scan once (subjects are unique); it may lag a run that shipped more than
    a run catalogues."""
    if len(catalogued) == shipped:
        say(f"Catalog: {shipped} Search entries, one per shipped scan.")
    else:
        say(f"Catalog: {len(catalogued)} Search entries for {shipped} shipped scans; the rest follow in later runs.")


def _write_the_report(config: Any, page: Path) -> None:
    """The demo ends with the morning page, and says where it and the figures for Prometheus are."""
    from palxfel_globus.cli.report import read_figures, write_page

    figures, _count = read_figures(config.function_config(), days=14)
    write_page(figures, page)
    figures_file = config.daq.ledger / "palxfel_globus.prom"
    say(f"Report: {page} (open it in a browser); the figures for Prometheus: {figures_file}")


def _ticks_through_globus(
    config: Any, state_dir: Path, between: Callable[[int], None], status: Any
) -> tuple[list[Any], list[str]]:
    """The production path: 'deploy' against 'local serve' started here; the timer's first run starts
    at once, and the emulator's clock is moved on one interval for each later tick. Returns each tick's
    summary and the scans (EXPERIMENT/SCAN) the Search index holds an entry for."""
    from palxfel_globus.backup import TickSummary
    from palxfel_globus.cli.deploy import deploy
    from palxfel_globus.cli.local import tick_line
    from palxfel_globus.emulator.session import emulated_globus, latest_run
    from palxfel_globus.engine.providers.search import search

    summaries = []
    with emulated_globus(config, state_dir) as emulator:
        status.update("deploying to the emulated Globus …")
        with console.capture():  # its advice on endpoints and subscriptions is for a real deployment
            deploy(config=config.source, no_subscription=True)
        say(f"Deployed the functions, the flow and its timer to Globus emulated at {emulator.base_url}.")
        started = time.monotonic()
        for tick in range(DEMO_TICKS):
            if tick:
                between(tick)
                emulator.scheduler.advance(config.timer_interval)
            status.update(f"the timer's run {tick + 1} …")
            if not emulator.runs.wait_for_ended(tick + 1, timeout=RUN_TIMEOUT):
                raise PalxfelError(f"The timer's run {tick + 1} did not end within {RUN_TIMEOUT} s.", exit_code=1)
            if tick == 0:
                say(f"Deployed, and the timer's first run ended {time.monotonic() - started:.1f} s later.")
            summaries.append(TickSummary.of(latest_run(emulator)))
            console.print(tick_line(tick, summaries[-1]), highlight=False)
        entries = search(emulator.engine.state, config.catalog.index)
    return summaries, [f"{entry['content']['experiment']}/{entry['content']['scan']}" for entry in entries]
