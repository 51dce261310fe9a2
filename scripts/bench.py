"""Speed of palxfel-globus, each figure against a named baseline measured in the same run.

Every measurement and its baseline run interleaved, several repetitions, and the median
counts, so machine noise hits both alike. Trees are generated in a temporary directory.

    python scripts/bench.py            # the full run
    python scripts/bench.py --quick    # a smoke run for CI, under a minute on 2 cores
    python scripts/bench.py --json     # one object per row: name, unit, value, baseline, ratio, target, met

A row's ``target`` applies to ``ratio`` where there is a baseline, else to ``value``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from palxfel_globus.engine import Engine  # noqa: E402


@dataclass
class Row:
    name: str
    unit: str
    value: float
    baseline: Optional[float]
    ratio: Optional[float]
    target: str
    met: bool


def meets(target: str, figure: float) -> bool:
    operator, bound = target[:2], float(target[2:])
    return figure <= bound if operator == "<=" else figure >= bound


def row(name: str, unit: str, value: float, baseline: Optional[float], target: str, ratio_of: str = "time") -> Row:
    """``ratio_of``: "time" = ours / baseline (lower is better), "rate" = ours / baseline (higher is better)."""
    ratio = None if baseline is None else value / baseline
    return Row(
        name,
        unit,
        round(value, 4),
        None if baseline is None else round(baseline, 4),
        None if ratio is None else round(ratio, 3),
        target,
        meets(target, value if ratio is None else ratio),
    )


def interleaved(ours: Callable[[], float], theirs: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Median seconds of each, run alternately."""
    mine, baseline = [], []
    for _ in range(repeats):
        mine.append(ours())
        baseline.append(theirs())
    return statistics.median(mine), statistics.median(baseline)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# rows ---------------------------------------------------------------------------------------------------------------
def engine_states_per_second(iterations: int, repeats: int) -> Row:
    """A Choice/ExpressionEval/Pass loop: the interpreter's own overhead per state."""
    loop = {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.i", "Next": "Loop"},
            "Loop": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericGreaterThanEquals": iterations, "Next": "Done"}],
                "Default": "Increment",
            },
            "Increment": {
                "Type": "ExpressionEval",
                "Parameters": {"i.=": "i + 1"},
                "ResultPath": "$.next",
                "Next": "Store",
            },
            "Store": {"Type": "Pass", "InputPath": "$.next.i", "ResultPath": "$.i", "Next": "Loop"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    states = 3 * iterations + 3
    with Engine() as engine:
        seconds = statistics.median(timed(lambda: engine.run(loop, {})) for _ in range(repeats))
    return row(
        f"engine: states per second ({iterations:,}-iteration loop)", "states/s", states / seconds, None, ">=20000"
    )


def make_tree(root: Path, files: int, size: int) -> None:
    for number in range(files):
        directory = root / f"d{number % 10}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{number:05d}.bin").write_bytes(os.urandom(size))


def local_transfer(work: Path, files: int, size: int, repeats: int) -> list[Row]:
    """Our Transfer provider vs cp -r, and with verification vs cp -r + sha256sum -c."""
    source, destination = work / "collection-a", work / "collection-b"
    make_tree(source / "tree", files, size)
    collections = {"aaaaaaaa-0000-4000-8000-000000000001": source, "bbbbbbbb-0000-4000-8000-000000000002": destination}
    sums = work / "tree.sha256"
    subprocess.run(
        f"cd {source / 'tree'} && find . -type f -print0 | xargs -0 sha256sum > {sums}", shell=True, check=True
    )

    def ours(verify: bool) -> float:
        shutil.rmtree(destination, ignore_errors=True)
        destination.mkdir()
        flow = {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Action",
                    "ActionUrl": "https://transfer.actions.globus.org/transfer",
                    "WaitTime": 3600,
                    "ExceptionOnActionFailure": True,
                    "End": True,
                    "Parameters": {
                        "source_endpoint": "aaaaaaaa-0000-4000-8000-000000000001",
                        "destination_endpoint": "bbbbbbbb-0000-4000-8000-000000000002",
                        "verify_checksum": verify,
                        "DATA": [{"source_path": "/tree", "destination_path": "/tree", "recursive": True}],
                    },
                }
            },
        }
        with Engine(collections=collections) as engine:
            return timed(lambda: engine.run(flow, {}))

    def cp(check: bool) -> float:
        target = work / "cp-target"
        shutil.rmtree(target, ignore_errors=True)
        command = f"cp -r {source / 'tree'} {target}"
        if check:
            command += f" && cd {target} && sha256sum --quiet -c {sums}"
        return timed(lambda: subprocess.run(command, shell=True, check=True))

    total = files * size
    plain, cp_plain = interleaved(lambda: ours(False), lambda: cp(False), repeats)
    verified, cp_verified = interleaved(lambda: ours(True), lambda: cp(True), repeats)
    label = f"{files} files, {total / 1e6:.0f} MB"
    return [
        row(f"local transfer, no verification ({label}) vs cp -r", "s", plain, cp_plain, "<=1.5"),
        row(f"local transfer, verify_checksum ({label}) vs cp -r + sha256sum -c", "s", verified, cp_verified, "<=1.3"),
    ]


def full_tick(work: Path, scans: int, total: int, repeats: int) -> Row:
    """One local scan_backup tick (find, manifests, checksum-sync transfer, verification, record) vs the
    shell way to a verified copy of the same scans: sha256sum the sources, cp -r, sha256sum -c the copies."""
    from palxfel_globus.backup import run_ticks
    from palxfel_globus.config import load_config
    from palxfel_globus.demo import arrive_markers, make_site

    site = make_site(work / "site", scans=scans, total_bytes=total)
    arrive_markers(site)
    shipped = [scan for scan in site.scans if scan.kind != "incomplete"]
    config = load_config(site.config_path)
    ledger = config.daq.ledger
    backups = [site.workdir / "backup-ue" / "backup", site.workdir / "backup-ms" / "ms"]

    def ours() -> float:
        shutil.rmtree(ledger, ignore_errors=True)
        for directory in backups:
            shutil.rmtree(directory, ignore_errors=True)
        backups[1].mkdir(parents=True)
        seconds = timed(lambda: run_ticks(config, ticks=1, interval=0))
        assert len(list(ledger.glob("shipped/*/*"))) == len(shipped), "the tick did not ship every scan"
        return seconds

    def shell() -> float:
        target = work / "shell-copy"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        sources = " ".join(f"'{scan.path}'" for scan in shipped)
        command = (
            f'cd {site.daq_root} && for d in {sources}; do (cd "$d" && find . -type f -print0 | xargs -0 '
            f'sha256sum > "{target}/$(basename "$d").sha256"); cp -r "$d" {target}/; done && '
            f'cd {target} && for f in *.sha256; do (cd "${{f%.sha256}}" && sha256sum --quiet -c "../$f"); '
            "done"
        )
        return timed(lambda: subprocess.run(command, shell=True, check=True, executable="/bin/bash"))

    seconds, baseline = interleaved(ours, shell, repeats)
    moved = sum(path.stat().st_size for scan in shipped for path in scan.path.rglob("*") if path.is_file())
    return row(
        f"full local tick, {len(shipped)} scans / {moved / 1e9:.2f} GB vs sha256sum + cp -r + sha256sum -c",
        "s",
        seconds,
        baseline,
        "<=1.3",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small trees, few repetitions")
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    options = parser.parse_args()
    repeats = 3 if options.quick else 5
    with tempfile.TemporaryDirectory(prefix="palxfel-bench-") as temp:
        rows = [engine_states_per_second(2_000 if options.quick else 10_000, repeats)]
        if options.quick:
            rows += local_transfer(Path(temp), files=100, size=1024 * 1024, repeats=repeats)
            rows.append(full_tick(Path(temp), scans=24, total=120_000_000, repeats=repeats))
        else:
            rows += local_transfer(Path(temp), files=400, size=2 * 1024 * 1024, repeats=repeats)
            rows.append(full_tick(Path(temp), scans=24, total=1_200_000_000, repeats=repeats))
    if options.json:
        print(json.dumps([asdict(item) for item in rows], indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="palxfel-globus benchmarks (medians; ratio = ours / baseline)")
        table.add_column("measurement", ratio=1)
        for column in ("unit", "ours", "baseline", "ratio", "target", "met"):
            table.add_column(column, justify="right", no_wrap=True)
        for item in rows:
            table.add_row(
                item.name,
                item.unit,
                f"{item.value:,.3f}",
                "-" if item.baseline is None else f"{item.baseline:,.3f}",
                "-" if item.ratio is None else f"{item.ratio:.2f}",
                item.target,
                "yes" if item.met else "NO",
            )
        Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
