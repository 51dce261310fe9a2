"""``palxfel-globus demo``: the whole job on a synthetic PAL-XFEL tree, checked byte for byte.

It builds a DAQ tree (user experiments and machine studies, scans finished with inner
or sibling markers, scans still being written, scans whose marker arrives between
ticks), writes a config whose collections and endpoints are local stand-ins, runs
several ticks of the real scan_backup flow on the local engine, and then checks what a
data manager would: every complete scan is at its routed destination, identical, and
shipped exactly once; no incomplete scan left the DAQ.
"""

from __future__ import annotations

import filecmp
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palxfel_globus.sample_tree import SCAN_PARTS, mark_complete, write_scan

_NAMESPACE = uuid.UUID("0b6a3c52-81f4-4e0d-9c77-3f1e2d5a6b90")
IDS = {
    name: str(uuid.uuid5(_NAMESPACE, name))
    for name in ("daq-collection", "daq-endpoint", "ue-collection", "ms-collection", "ms-endpoint", "catalog-index")
}
# The machine study is the oldest, so that a tick bounded by max_scans still has both routes.
EXPERIMENTS = ("ue_251023_FXL", "ue_251024_빔라인 2", "ms_251020_timing")
COLLECTION_ROOT = "/xfel/ffs/dat"


@dataclass
class DemoScan:
    experiment: str
    name: str
    path: Path
    kind: str  # "complete", "arriving" (marker comes between ticks) or "incomplete"


@dataclass
class DemoSite:
    workdir: Path
    config_path: Path
    daq_root: Path
    scans: list[DemoScan] = field(default_factory=list)

    def destination(self, scan: DemoScan) -> Path:
        if scan.experiment.startswith("ue_"):
            return self.workdir / "backup-ue" / "backup" / "ue" / scan.experiment / "rawData" / scan.name
        return self.workdir / "backup-ms" / "ms" / scan.experiment / "rawData" / scan.name


def _scan_files(number: int, file_bytes: int) -> dict[str, int]:
    """A realistic mix: a large detector image, smaller pulse and diagnostic data, a small ScanInfo."""
    sizes = {
        "PulseInfo": file_bytes // 8,
        "ScanInfo": 2048,
        "detector1": file_bytes // 2,
        "diagnostic1": file_bytes // 4,
    }
    files = {f"{part}/{part.lower()}_{number:05d}.h5": sizes[part] for part in SCAN_PARTS}
    files[f"detector1/detector1_{number:05d}_b.h5"] = file_bytes // 8
    return files


def make_site(
    workdir: Path,
    *,
    scans: int = 12,
    total_bytes: int = 200_000_000,
    seed: int = 1,
    experiments: tuple[str, ...] = EXPERIMENTS,
    catalog: bool = False,
) -> DemoSite:
    """The tree and its config; about two thirds of the scans complete, the rest arriving or still written.
    Scans go to ``experiments`` in turn (ue_* and ms_* names route to the two backup collections); with
    ``catalog``, the shipped scans are catalogued in a Search index."""
    rng = random.Random(seed)
    workdir = workdir.absolute()
    daq_root = workdir / "daq" / COLLECTION_ROOT.strip("/")
    site = DemoSite(workdir, workdir / "palxfel-globus.toml", daq_root)
    per_scan = max(1024, total_bytes // max(scans, 1))
    for experiment in experiments:  # every one, so each route matches an experiment however few the scans
        for folder in ("dat", "scratch", "rawData"):
            (daq_root / experiment / folder).mkdir(parents=True, exist_ok=True)
    for number in range(scans):
        experiment = experiments[number % len(experiments)]
        label = ("alignment", "pump probe", "빔 정렬", "delay scan")[number % 4]
        date = experiment.split("_")[1]
        path = write_scan(
            daq_root / experiment / "rawData", date, label, number + 1, _scan_files(number + 1, per_scan), rng
        )
        kind = "incomplete" if number % 6 == 5 else "arriving" if number % 6 == 4 else "complete"
        scan = DemoScan(experiment, path.name, path, kind)
        if kind == "complete":
            mark_complete(path, "sibling" if number % 2 else "inner")
        site.scans.append(scan)
    for directory in ("backup-ue", "backup-ms/ms"):
        (workdir / directory).mkdir(parents=True, exist_ok=True)
    site.config_path.write_text(_config_text(site, catalog), encoding="utf-8")
    return site


def _config_text(site: DemoSite, catalog: bool) -> str:
    from palxfel_globus.config_text import render_config

    header = (
        "Written by 'palxfel-globus demo': local stand-ins for the DAQ collection, two backup\n"
        "collections and two Compute endpoints. Machine studies are verified on their destination's\n"
        "endpoint; user experiments by a second checksum-sync transfer."
    )
    return render_config(config_document(site, catalog), header)


def config_document(site: DemoSite, catalog: bool = False) -> dict[str, Any]:
    """The demo site's config as a TOML document (a dict), for tests that vary it."""
    work = site.workdir
    return {
        "daq": {
            "root": site.daq_root,
            "collection": IDS["daq-collection"],
            "collection_root": COLLECTION_ROOT,
            "compute_endpoint": IDS["daq-endpoint"],
        },
        "route": [
            {"match": "ue_*", "collection": IDS["ue-collection"], "base_path": "/backup/ue"},
            {
                "match": "ms_*",
                "collection": IDS["ms-collection"],
                "base_path": "/~/ms",
                "compute_endpoint": IDS["ms-endpoint"],
                "verify_root": work / "backup-ms" / "ms",
            },
        ],
        "timer": {"interval": "1m"},
        "limits": {"max_scans": 50, "max_bytes": "1TB", "max_attempts": 3, "retry_backoff": "1m"},
        "local": {
            "collections": {
                IDS["daq-collection"]: work / "daq",
                IDS["ue-collection"]: work / "backup-ue",
                IDS["ms-collection"]: work / "backup-ms",
            },
            "endpoints": {IDS["daq-endpoint"]: {"workers": 2}, IDS["ms-endpoint"]: {"workers": 2}},
        },
        **({"catalog": {"index": IDS["catalog-index"]}} if catalog else {}),
    }


@dataclass
class Check:
    scan_id: str
    expected: str  # what should have happened to it
    ok: bool
    detail: str = ""


def check_site(site: DemoSite, shipped_per_tick: list[list[str]]) -> list[Check]:
    """What a data manager checks: complete scans arrived identical, once; incomplete ones never left."""
    shipped = [scan_id for tick in shipped_per_tick for scan_id in tick]
    checks = []
    for scan in site.scans:
        scan_id = f"{scan.experiment}/{scan.name}"
        destination = site.destination(scan)
        if scan.kind == "incomplete":
            stayed = not destination.exists() and scan_id not in shipped
            checks.append(Check(scan_id, "still being written: stays on the DAQ", stayed, "" if stayed else "shipped"))
            continue
        times = shipped.count(scan_id)
        same, detail = _identical(scan.path, destination)
        when = "complete" if scan.kind == "complete" else "finished between ticks"
        problem = detail or ("" if times == 1 else f"shipped {times} times")
        checks.append(Check(scan_id, f"{when}: shipped once, identical", same and times == 1, problem))
    return checks


def _identical(source: Path, destination: Path) -> tuple[bool, str]:
    if not destination.is_dir():
        return False, "missing at the destination"
    files = sorted(path.relative_to(source) for path in source.rglob("*") if path.is_file())
    copies = sorted(path.relative_to(destination) for path in destination.rglob("*") if path.is_file())
    if files != copies:
        return False, "the file lists differ"
    for relative in files:
        if not filecmp.cmp(source / relative, destination / relative, shallow=False):
            return False, f"{relative} differs"
    return True, ""


def arrive_markers(site: DemoSite) -> None:
    """Between ticks: the DAQ finishes the scans that were still being closed."""
    for scan in site.scans:
        if scan.kind == "arriving":
            mark_complete(scan.path, "sibling")
