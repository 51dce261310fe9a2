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
from datetime import datetime, timezone
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


def row(name: str, unit: str, value: float, baseline: Optional[float], target: str) -> Row:
    """ratio = ours / baseline; the target applies to the ratio, or to the value where there is no baseline."""
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


def emulated_tick(work: Path, scans: int, total: int, repeats: int) -> Row:
    """One run of the deployed flow started by the timer of 'local serve' (HTTP, SQLite, the timer
    scheduler, the registered functions), deploy to run end, vs 'local run' of the same tick."""
    from palxfel_globus.backup import run_ticks
    from palxfel_globus.cli.app import main as cli_main
    from palxfel_globus.cli.output import console
    from palxfel_globus.config import load_config
    from palxfel_globus.demo import arrive_markers, make_site
    from palxfel_globus.emulator.session import emulated_globus

    site = make_site(work / "emulated-site", scans=scans, total_bytes=total)
    arrive_markers(site)
    config = load_config(site.config_path)
    shipped = sum(scan.kind != "incomplete" for scan in site.scans)
    backups = [site.workdir / "backup-ue" / "backup", site.workdir / "backup-ms" / "ms"]

    def reset() -> None:
        shutil.rmtree(config.daq.ledger, ignore_errors=True)
        for directory in backups:
            shutil.rmtree(directory, ignore_errors=True)
        backups[1].mkdir(parents=True)

    with emulated_globus(config, work / "emulated-state") as emulator:
        with console.capture():
            assert cli_main(["deploy", "--config", str(site.config_path), "--no-subscription"]) == 0
        assert emulator.runs.wait_for_ended(1, 600), "the timer's first run did not end"

        def emulated() -> float:
            reset()
            start = time.perf_counter()
            emulator.scheduler.advance(config.timer_interval)
            assert emulator.runs.wait_for_ended(emulator.runs.ended_count + 1, 600), "the run did not end"
            seconds = time.perf_counter() - start
            assert len(list(config.daq.ledger.glob("shipped/*/*"))) == shipped, "the run did not ship every scan"
            return seconds

        def local() -> float:
            reset()
            return timed(lambda: run_ticks(config, ticks=1, interval=0))

        seconds, baseline = interleaved(emulated, local, repeats)
    return row(f"a timer's run in 'local serve', {shipped} scans, vs 'local run' of the same tick", "s", seconds,
               baseline, "<=1.5")  # fmt: skip


def drop_page_cache() -> bool:
    """Start cold where the machine lets us (root on Linux); the row names say which it was."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def find_config(root: Path, max_scans: int = 50) -> dict:
    return {
        "daq_root": str(root),
        "ledger": str(root / ".palxfel-backup"),
        "collection": None,
        "collection_root": "/",
        "markers": [".done"],
        "quiet_seconds": 0,
        "routes": [{"match": "*", "collection": "c", "base_path": "/b", "compute_endpoint": None}],
        "max_scans": max_scans,
        "max_bytes": 10**15,
        "lease_seconds": 3600,
        "max_attempts": 3,
        "backoff_seconds": 60,
    }


def finding_scans(work: Path, experiments: int, scans: int, files: int, repeats: int) -> list[Row]:
    """find_completed_scans against `find ROOT -name .done`, cold (nothing shipped) and steady
    (all but 50 scans shipped): it never walks scan contents, so it should not cost like find."""
    from palxfel_globus.functions import load

    root = work / "daq"
    for e in range(experiments):
        experiment = f"ue_2510{e % 28 + 1:02d}_exp{e:04d}"
        raw = root / experiment / "rawData"
        for n in range(scans):
            scan = raw / f"2510{e % 28 + 1:02d}_scan_{n + 1:05d}_DIR"
            scan.mkdir(parents=True)
            for f in range(files - 1):
                (scan / f"f{f:03d}.h5").touch()
            (scan / ".done").touch()
    find_and_claim = load("find_completed_scans")
    config = find_config(root)
    ledger = Path(config["ledger"])
    cold = drop_page_cache()

    def ours(prepare: Callable[[], None]) -> float:
        prepare()
        drop_page_cache()
        return timed(lambda: find_and_claim(config=config, run_id="bench"))

    def theirs() -> float:
        drop_page_cache()
        return timed(
            lambda: subprocess.run(["find", str(root), "-name", ".done"], check=True, stdout=subprocess.DEVNULL)
        )

    def fresh_ledger() -> None:
        shutil.rmtree(ledger, ignore_errors=True)

    def all_but_50_shipped() -> None:
        shutil.rmtree(ledger / "claims", ignore_errors=True)
        if not (ledger / "shipped").exists():
            left = 50
            for experiment in sorted(root.iterdir(), reverse=True):
                if experiment.name.startswith("."):
                    continue
                index = ledger / "shipped" / experiment.name
                index.mkdir(parents=True)
                for scan in (experiment / "rawData").iterdir():
                    if left > 0:
                        left -= 1
                        continue
                    (index / scan.name).touch()
                long_ago = time.time() - 86400  # an archive's experiments are old, their stamps settled
                os.utime(experiment / "rawData", (long_ago, long_ago))

    total = experiments * scans * files
    temperature = "cold" if cold else "warm (the page cache could not be dropped)"
    first, find_time = interleaved(lambda: ours(fresh_ledger), theirs, repeats)
    fresh_ledger()
    ours(all_but_50_shipped)  # the first tick after shipping records the finished experiments
    steady, find_steady = interleaved(lambda: ours(all_but_50_shipped), theirs, repeats)
    return [
        row(
            f"find completed scans, {total:,} files, nothing shipped, {temperature}, vs find -name .done",
            "s",
            first,
            find_time,
            "<=0.2",
        ),
        row(
            f"find completed scans, {total:,} files, all but 50 scans shipped, {temperature}, vs find",
            "s",
            steady,
            find_steady,
            "<=0.05",
        ),
    ]


def manifest_hashing(work: Path, total: int, repeats: int) -> list[Row]:
    """build_manifest's throughput against sha256sum over the same files (1-200 MB each)."""
    from palxfel_globus.functions import load

    scan = work / "hash" / "ue_251023_HASH" / "rawData" / "251023_hash_00001_DIR"
    scan.mkdir(parents=True)
    sizes, remaining, size = [], total, 1_000_000
    while remaining > 0:
        sizes.append(min(size, remaining))
        remaining -= sizes[-1]
        size = min(size * 3, 200_000_000)
    block = os.urandom(1_000_000)
    for number, file_size in enumerate(sizes):
        with open(scan / f"f{number:03d}.h5", "wb") as handle:
            for _ in range(file_size // len(block)):
                handle.write(block)
            handle.write(block[: file_size % len(block)])
    config = find_config(work / "hash")
    build = load("build_manifest")
    files = sorted(str(path) for path in scan.iterdir())

    def ours(workers: int) -> Callable[[], float]:
        return lambda: timed(lambda: build(config=config, experiment="ue_251023_HASH", scan=scan.name, workers=workers))

    def theirs() -> float:
        return timed(lambda: subprocess.run(["sha256sum", *files], check=True, stdout=subprocess.DEVNULL))

    rows = []
    for workers, target in ((1, ">=0.95"), (2, ">=1.7")):
        seconds, baseline = interleaved(ours(workers), theirs, repeats)
        rate, baseline_rate = total / seconds / 1e6, total / baseline / 1e6
        rows.append(
            row(
                f"manifest hashing, {total / 1e9:.1f} GB in {len(sizes)} files, {workers} worker(s), "
                "vs sha256sum (one core)",
                "MB/s",
                rate,
                baseline_rate,
                target,
            )
        )
    return rows


def start_up(work: Path, repeats: int) -> list[Row]:
    """How long a person waits for --help and for scans list, above the interpreter's own start."""
    from palxfel_globus.sample_tree import make_sample_tree

    make_sample_tree(work / "startup")
    command = [sys.executable, "-m", "palxfel_globus"]

    def run(arguments: list[str]) -> float:
        return timed(lambda: subprocess.run(arguments, check=True, stdout=subprocess.DEVNULL))

    interpreter = statistics.median(run([sys.executable, "-c", "pass"]) for _ in range(repeats))
    rows = []
    for label, arguments, target in (
        ("--help", ["--help"], "<=0.25"),
        ("scans list (6 scans)", ["scans", "list", "--daq-root", str(work / "startup")], "<=0.5"),
    ):
        seconds = statistics.median(run(command + arguments) for _ in range(repeats))
        rows.append(
            row(
                f"palxfel-globus {label}: seconds above `python -c pass` ({interpreter:.3f} s)",
                "s",
                seconds - interpreter,
                None,
                target,
            )
        )
    return rows


def archive_site(root: Path, experiments: int, on_disk: int, released: int) -> dict:
    """A DAQ tree after years of backups, as the ledger keeps it: ``experiments`` experiments whose
    ``on_disk`` scans are shipped and waiting out [retention] and whose ``released`` scans are gone from
    the DAQ, their records compacted by the ledger's own code (all but the 100 most recent). Returns the
    function config ([retention] set, nothing due)."""
    from palxfel_globus.functions import call

    config = find_config(root / "daq")
    config["retention"] = {"release_after": 365 * 86400, "max_release": 20}
    ledger = Path(config["ledger"])
    long_ago = time.time() - 90 * 86400  # years of experiments: most untouched for months
    for e in range(experiments):
        experiment = f"ue_{(e // 28) % 90 + 10:02d}{e % 12 + 1:02d}{e % 28 + 1:02d}_exp{e:05d}"
        raw = root / "daq" / experiment / "rawData"
        raw.mkdir(parents=True)
        for n in range(on_disk):
            scan = f"251001_kept_{n + 1:05d}_DIR"
            (raw / scan).mkdir()
            (raw / scan / "f.h5").write_bytes(b"x")
            (raw / scan / ".done").touch()
            for area in ("shipped", "retained/20260101"):
                (ledger / area / experiment).mkdir(parents=True, exist_ok=True)
                (ledger / area / experiment / scan).touch()
            record = {
                "experiment": experiment,
                "scan": scan,
                "state": "shipped",
                "shipped_at": "2026-01-01T00:00:00+00:00",
            }
            (ledger / "scans" / experiment).mkdir(parents=True, exist_ok=True)
            (ledger / "scans" / experiment / f"{scan}.json").write_text(json.dumps(record))
        os.utime(raw, (long_ago, long_ago))
        gone = [
            {"experiment": experiment, "scan": f"240101_gone_{n + 1:05d}_DIR", "state": "released", "bytes": 10**9,
             "files": 40, "released_at": f"2026-01-01T00:00:{n % 60:02d}+00:00"}
            for n in range(released)
        ]  # fmt: skip
        if len(gone) > 1:  # archived as compaction does it, a run's releases at a time
            for start in range(0, len(gone) - 1, 20):
                call(
                    "record_outcome",
                    function="_archive",
                    ledger=str(ledger),
                    experiment=experiment,
                    batch=gone[start : min(start + 20, len(gone) - 1)],
                )
        if gone:  # the most recent stays a record of its own
            (ledger / "released" / experiment).mkdir(parents=True, exist_ok=True)
            (ledger / "released" / experiment / f"{gone[-1]['scan']}.json").write_text(json.dumps(gone[-1]))
    (ledger / "retained-filled").touch()
    os.utime(root / "daq", (long_ago, long_ago))  # no experiment came or went lately
    return config


def released_ledger(work: Path, small: int, large: int, repeats: int) -> Row:
    """find_completed_scans and scans list over the same DAQ tree after ``large`` released scans against
    after ``small``: released records are compacted, so neither reads them one by one."""
    from palxfel_globus.functions import load

    find_and_claim, list_scans = load("find_completed_scans"), load("list_scans")
    configs = [archive_site(work / f"released-{count}", 100, 2, count // 100) for count in (small, large)]

    def tick_and_list(config: dict) -> Callable[[], float]:
        return lambda: timed(lambda: (find_and_claim(config=config, run_id="bench"), list_scans(config=config)))

    for config in configs:
        tick_and_list(config)()  # the first tick records the finished experiments
    seconds, baseline = interleaved(tick_and_list(configs[1]), tick_and_list(configs[0]), repeats)
    return row(
        f"find completed scans + scans list, 100 experiments, after {large:,} released scans vs after {small:,}",
        "s",
        seconds,
        baseline,
        "<=1.2",
    )


def steady_tick(work: Path, experiments: int, repeats: int) -> Row:
    """A steady-state tick of scan_backup on the local engine (nothing new, nothing due) over an archive
    ten times larger than another: ``experiments`` against 10 x ``experiments``, all shipped or released."""
    from palxfel_globus.backup import LOCAL_FUNCTION_IDS, load_flow
    from palxfel_globus.engine import BUNDLED, FunctionRef

    definition, _schema = load_flow("scan_backup")
    functions = {function_id: FunctionRef(BUNDLED, name) for name, function_id in LOCAL_FUNCTION_IDS.items()}
    daq = "11111111-1111-4111-8111-111111111111"

    def body(config: dict) -> dict:
        return {"daq_endpoint": daq, "daq_collection": daq, "functions": LOCAL_FUNCTION_IDS, "config": config}

    configs = [archive_site(work / f"archive-{count}", count, 2, 20) for count in (experiments, 10 * experiments)]
    with Engine(collections={daq: work}, functions=functions, state_dir=work / "state") as engine:

        def tick(config: dict) -> Callable[[], float]:
            return lambda: timed(lambda: engine.run(definition, body(config)))

        for config in configs:
            tick(config)()  # the first tick records the finished experiments
        seconds, baseline = interleaved(tick(configs[1]), tick(configs[0]), repeats)
    return row(
        f"steady-state tick on the local engine, {10 * experiments:,} experiments vs {experiments:,} (all shipped "
        "or released)",
        "s",
        seconds,
        baseline,
        "<=1.2",
    )


def report_ledger(root: Path, experiments: int, per_experiment: int) -> dict:
    """A DAQ tree and ledger of ``experiments`` x ``per_experiment`` scans over the last 60 days, as the ledger's
    own code leaves them: nine in ten released (their records compacted in the experiment's archive), the rest
    shipped with their DAQ copy still there, and per experiment one failed and one complete but not yet shipped.
    Each record has its completion and verification times and its destinations. Returns the function config."""
    config = find_config(root / "daq")
    collection = config["routes"][0]["collection"]
    ledger = Path(config["ledger"])
    now = time.time()
    for e in range(experiments):
        experiment = f"{'ms' if e % 2 else 'ue'}_25{e // 28 % 12 + 1:02d}{e % 28 + 1:02d}_exp{e:05d}"
        raw = root / "daq" / experiment / "rawData"
        raw.mkdir(parents=True)
        released, kept = [], 0
        for n in range(per_experiment):
            scan = f"250101_scan_{n + 1:05d}_DIR"
            complete = now - 60 * 86400 * (1 - (e * per_experiment + n) / (experiments * per_experiment))
            shipped = complete + 600 + 60 * (n % 30)
            record = {
                "experiment": experiment,
                "scan": scan,
                "state": "shipped",
                "attempts": 0,
                "files": 40,
                "bytes": 2 * 10**9 + n,
                "completed_at": datetime.fromtimestamp(complete, timezone.utc).isoformat(timespec="seconds"),
                "shipped_at": datetime.fromtimestamp(shipped, timezone.utc).isoformat(timespec="seconds"),
                "destinations": [
                    {
                        "collection": collection,
                        "path": f"/b/{experiment}/rawData/{scan}/",
                        "state": "verified",
                        "verified_at": datetime.fromtimestamp(shipped, timezone.utc).isoformat(timespec="seconds"),
                        "method": "checksum-sync transfer",
                        "problem": None,
                    }
                ],
            }
            if n < per_experiment * 9 // 10:
                released.append(dict(record, state="released", released_at=record["shipped_at"]))
                continue
            (raw / scan).mkdir()
            (raw / scan / ".done").touch()
            (raw / scan / "f.h5").write_bytes(b"x")
            if n >= per_experiment - 2:  # one failed, one complete and not claimed yet
                if n == per_experiment - 1:
                    continue
                record = dict(record, state="failed", attempts=1, last_error="the Transfer task ended FAILED")
                record.pop("shipped_at")
            else:
                kept += 1
                (ledger / "shipped" / experiment).mkdir(parents=True, exist_ok=True)
                (ledger / "shipped" / experiment / scan).touch()
            (ledger / "scans" / experiment).mkdir(parents=True, exist_ok=True)
            (ledger / "scans" / experiment / f"{scan}.json").write_text(json.dumps(record))
        lines = "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in released).encode("utf-8")
        (ledger / "archive").mkdir(parents=True, exist_ok=True)
        (ledger / "archive" / f"{experiment}.jsonl").write_bytes(lines)
        summary = {"count": len(released), "bytes": sum(item["bytes"] for item in released), "size": len(lines)}
        (ledger / "archive" / f"{experiment}.json").write_text(json.dumps(dict(summary, batch=[])))
        names = ledger / "released-names" / experiment  # every scan ever released, named once
        names.mkdir(parents=True)
        for item in released:
            (names / item["scan"]).touch()
        (names / ".filled").touch()
    return config


def report_page(work: Path, experiments: int, per_experiment: int, repeats: int) -> Row:
    """'report --html' (the ledger read through list_scans, the figures, the page) over a ledger of
    ``experiments`` x ``per_experiment`` scans, against reading that ledger alone as 'scans list --archived' does:
    the charts and the page must cost little beside the read every listing pays."""
    from palxfel_globus.cli.report import read_figures, write_page
    from palxfel_globus.functions import load

    config = report_ledger(work / "report", experiments, per_experiment)
    list_scans = load("list_scans")
    page = work / "report.html"

    def report() -> float:
        return timed(lambda: write_page(read_figures(config, 14)[0], page))

    def listing() -> float:
        return timed(lambda: list_scans(config=config, archived=True))

    seconds, baseline = interleaved(report, listing, repeats)
    count = experiments * per_experiment
    return row(f"report --html, {count:,} scans, vs reading them (scans list --archived)", "s", seconds, baseline,
               "<=1.5")  # fmt: skip


def bench_site(root: Path, count: int, **options: object) -> object:
    """``count`` complete scans waiting, ten an experiment, machine studies and user experiments alternating
    by date, so every tick (bounded by max_scans) has scans of both routes."""
    from palxfel_globus.demo import arrive_markers, make_site

    names = tuple(
        f"{'ms' if n % 2 else 'ue'}_25{n // 28 + 1:02d}{n % 28 + 1:02d}_bench" for n in range(max(2, count // 10))
    )
    site = make_site(root, scans=max(2, count), total_bytes=max(2, count) * 2048, experiments=names, **options)
    arrive_markers(site)
    return site


def actions_per_tick(work: Path, counts: tuple[int, ...]) -> Row:
    """Globus actions one tick makes with 1 ... 1,000 complete scans waiting (two routes, a catalog): bounded
    by the one-scan tick plus the rest of the catalog's batch of single-entry ingests (one action an entry,
    as the Search ingest provider documents), whatever the number of scans."""
    from palxfel_globus.backup import run_ticks
    from palxfel_globus.config import load_config
    from palxfel_globus.functions import load

    actions = []
    for count in counts:
        site = bench_site(work / f"actions-{count}", count, catalog=True)
        (summary,) = run_ticks(load_config(site.config_path), ticks=1, interval=0)  # type: ignore[attr-defined]
        actions.append(summary.actions)
    bound = actions[0] + load("catalog_entries").__globals__["MAX_ENTRIES"] - 1  # the first ships one scan
    shown = ", ".join(f"{count:,}: {number}" for count, number in zip(counts, actions))
    return row(
        f"Globus actions per tick by scans waiting ({shown}): the largest", "actions", max(actions), None, f"<={bound}"
    )


def peak_run_state(work: Path) -> Row:
    """The largest run state of a tick that ships 100 scans, plans a full catalog batch and shares every user
    experiment with two principals, against the Flows service's 200 KB cap (the local engine weighs it as the
    service would: the run's JSON)."""
    from palxfel_globus.backup import LOCAL_FUNCTION_IDS, flow_input, load_flow, local_engine
    from palxfel_globus.config import load_config

    site = bench_site(work / "run-state", 120, catalog=True)
    principals = '["urn:globus:groups:id:aaaaaaaa-1111-4111-8111-111111111111", ' + (
        '"urn:globus:auth:identity:bbbbbbbb-2222-4222-8222-222222222222"]'
    )
    path = site.config_path  # type: ignore[attr-defined]
    text = path.read_text("utf-8").replace("max_scans = 50", "max_scans = 100")
    path.write_text(text + f'\n[[share]]\nmatch = "ue_*"\nprincipals = {principals}\n', "utf-8")
    config = load_config(path)
    definition, _schema = load_flow("scan_backup")
    with local_engine(config) as engine:
        run = engine.run(definition, flow_input(config, LOCAL_FUNCTION_IDS))
    return row(
        "peak run state, a tick of 100 scans with a full catalog batch and sharing",
        "KB",
        run["peak_state_bytes"] / 1024,
        None,
        "<=150",
    )


SCRUB_EVERY = 90 * 86400  # [scrub] every, as the docs suggest
TICK_SECONDS = 600  # the default [timer] interval


def scrub_ledger(root: Path, scans: int, now: float, every: int) -> dict:
    """A ledger whose ``scans`` released scans (at two destinations with Compute endpoints, a manifest each) were
    last read back at times spread evenly over the last period (``every``), as a scrub in its steady state leaves
    them.
    Written directly (no fsync per file): the bench measures the runs, not the making of the archive."""
    config = find_config(root / "daq")
    archive = {"collection": "a", "base_path": "/a", "compute_endpoint": "e1", "verify_root": str(root / "a")}
    mirror = {"collection": "m", "base_path": "/m", "compute_endpoint": "e2", "verify_root": str(root / "m")}
    config["routes"] = [{"match": "*", "destinations": [archive, mirror]}]
    config["scrub"] = {"every": every, "max_copies": 20}
    ledger = Path(config["ledger"])
    (root / "daq").mkdir(parents=True)
    made: set[Path] = set()
    for number in range(scans):
        experiment = f"ue_25{number // 2800 % 12 + 1:02d}{number // 100 % 28 + 1:02d}_e{number // 100:05d}"
        scan = f"250101_gone_{number % 100 + 1:05d}_DIR"
        queued = now - every * (number + 0.5) / scans
        day = time.strftime("%Y%m%d", time.gmtime(queued))
        places = [
            {"collection": place["collection"], "path": f"{place['base_path']}/{experiment}/rawData/{scan}/",
             "state": "verified", "verified_at": None}
            for place in (archive, mirror)
        ]  # fmt: skip
        entry = {"experiment": experiment, "scan": scan, "places": places, "queued": queued}
        manifest = {
            "experiment": experiment,
            "scan": scan,
            "algorithm": "sha256",
            "file_count": 1,
            "bytes": 1,
            "files": [],
        }
        for path, text in (
            (ledger / "scrub" / "copies" / experiment / f"{scan}.json", json.dumps(entry)),
            (ledger / "manifests" / experiment / f"{scan}.json", json.dumps(manifest)),
            (ledger / "released-names" / experiment / scan, ""),
            (ledger / "scrub" / "due" / day / experiment / scan, ""),
        ):
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            path.write_text(text)
        os.utime(ledger / "scrub" / "due" / day / experiment / scan, (queued, queued))
    (ledger / "scrub" / "filled").touch()
    return config


def scrub_runs(config: dict, start: float, runs: int) -> tuple[list[int], list[float]]:
    """``runs`` runs a tick apart from ``start``: the DAQ side's share of each (plan_scrub claims the overdue
    copies, record_outcome records them as every copy verifying), as (copies read, seconds) per run."""
    from palxfel_globus.functions import load

    find = load("find_completed_scans").__globals__
    record = load("record_outcome")
    copies, seconds = [], []
    for number in range(runs):
        now, run_id = start + (number + 1) * TICK_SECONDS, f"bench-{number}"
        began = time.perf_counter()
        plan = find["plan_scrub"](config, run_id, now, [])
        digests = {
            (item["experiment"], item["scan"]): find["read_manifest"](
                config["ledger"], item["experiment"], item["scan"]
            )[1]
            for item in plan["scans"]
        }
        done = [
            {"result": [dict(item, ok=True, manifest_digest=digests[item["experiment"], item["scan"]])
                        for item in group["scans"]]}
            for group in plan["groups"]
        ]  # fmt: skip
        record(config=config, run_id=run_id, scrub=plan, scrub_done=done, now=now)
        seconds.append(time.perf_counter() - began)
        copies.append(plan["copies"])
    return copies, seconds


def scrub_rows(work: Path, small: int, large: int, runs: int) -> list[Row]:
    """The scrub's share of each run over ``large`` released scans at two destinations (every 90 d, a run each
    10 min), bounded by max_copies; and the DAQ side's cost of a run over ``large`` against ``small`` scans
    whose period is as much shorter, so that both runs read back as many copies: what the archive's size adds."""
    now = time.time()
    shares, costs = {}, {}
    for count in (small, large):
        config = scrub_ledger(work / f"scrub-{count}", count, now, SCRUB_EVERY * count // large)
        shares[count], seconds = scrub_runs(config, now, runs)
        costs[count] = statistics.median(seconds)
    pace = 2 * large * TICK_SECONDS / SCRUB_EVERY
    return [
        row(
            f"scrub: copies read back per run, {large:,} released scans at two destinations, every 90 d, a run each "
            f"10 min (once a period needs {pace:.1f}): the largest of {runs} runs",
            "copies",
            max(shares[large]),
            None,
            "<=20",
        ),
        row(
            f"scrub: the DAQ side of a run (plan, record) over {large:,} released scans vs {small:,} (as many copies "
            "read back a run)",
            "s",
            costs[large],
            costs[small],
            "<=1.5",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small trees, few repetitions")
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    options = parser.parse_args()
    repeats = 3 if options.quick else 5
    with tempfile.TemporaryDirectory(prefix="palxfel-bench-") as temp:
        work = Path(temp)
        if options.quick:
            rows = finding_scans(work, experiments=50, scans=20, files=10, repeats=repeats)
            rows += manifest_hashing(work, total=200_000_000, repeats=repeats)
            rows.append(engine_states_per_second(2_000, repeats))
            rows += local_transfer(work, files=100, size=1024 * 1024, repeats=repeats)
            rows.append(full_tick(work, scans=24, total=120_000_000, repeats=repeats))
            rows.append(emulated_tick(work, scans=12, total=12_000_000, repeats=repeats))
        else:
            rows = finding_scans(work, experiments=500, scans=40, files=50, repeats=repeats)
            rows += manifest_hashing(work, total=2_000_000_000, repeats=repeats)
            rows.append(engine_states_per_second(10_000, repeats))
            rows += local_transfer(work, files=400, size=2 * 1024 * 1024, repeats=repeats)
            rows.append(full_tick(work, scans=24, total=1_200_000_000, repeats=repeats))
            rows.append(emulated_tick(work, scans=24, total=120_000_000, repeats=repeats))
        rows += start_up(work, repeats)
        rows.append(actions_per_tick(work, (1, 10, 100, 1000)))
        rows.append(peak_run_state(work))
        rows.append(released_ledger(work, 100, 10_000 if options.quick else 100_000, repeats))
        rows.append(steady_tick(work, 50 if options.quick else 200, repeats))
        rows.append(report_page(work, 100 if options.quick else 1000, 100, repeats))
        rows += scrub_rows(
            work, 500 if options.quick else 1_000, 5_000 if options.quick else 100_000, 6 if options.quick else 30
        )
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
