"""A small synthetic PAL-XFEL DAQ tree: the README's first command and the tests' fixture.

It has what the real one has: user experiments and machine studies, scans finished with
an inner or a sibling marker, scans still being written, ``dat/`` and ``scratch/``
folders that are not scan data, and names with spaces and Korean text.
Run ``python -m palxfel_globus.sample_tree DIR`` to make one.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Optional

SCAN_PARTS = ("PulseInfo", "ScanInfo", "detector1", "diagnostic1")

# (experiment, scan label, number, marker): "inner" = <scan>/.done, "sibling" =
# <scan>.complete beside it, None = still being written.
SAMPLE_SCANS = (
    ("ue_251023_FXL", "alignment", 1, "inner"),
    ("ue_251023_FXL", "alignment", 2, "sibling"),
    ("ue_251023_FXL", "pump probe", 3, "inner"),
    ("ue_251023_FXL", "pump probe", 4, None),
    ("ms_251101_빔정렬", "빔 정렬", 1, "inner"),
    ("ms_251101_빔정렬", "timing scan", 2, None),
)


def write_scan(raw_data: Path, date: str, label: str, number: int, sizes: dict[str, int], rng: random.Random) -> Path:
    """``<raw_data>/<date>_<label>_<NNNNN>_DIR`` with a random-content file per relative path in ``sizes``."""
    scan = raw_data / f"{date}_{label}_{number:05d}_DIR"
    for relative, size in sizes.items():
        (scan / relative).parent.mkdir(parents=True, exist_ok=True)
        (scan / relative).write_bytes(rng.randbytes(max(1, size)))
    return scan


def part_files(number: int, file_bytes: int) -> dict[str, int]:
    """One file of ``file_bytes`` in each of the scan's parts (PulseInfo, ScanInfo, ...)."""
    return {f"{part}/{part.lower()}_{number:05d}.h5": file_bytes for part in SCAN_PARTS}


def mark_complete(scan: Path, marker: Optional[str]) -> None:
    """``inner``: <scan>/.done; ``sibling``: <scan>.complete beside it; None: still being written."""
    if marker == "inner":
        (scan / ".done").touch()
    elif marker == "sibling":
        (scan.parent / f"{scan.name}.complete").touch()


def make_sample_tree(root: Path, *, file_bytes: int = 4096, seed: int = 0) -> list[Path]:
    """Create the sample scans under ``root``; returns the scan directories."""
    rng = random.Random(seed)
    scans = []
    for experiment, label, number, marker in SAMPLE_SCANS:
        experiment_dir = root / experiment
        for folder in ("dat", "scratch"):
            (experiment_dir / folder).mkdir(parents=True, exist_ok=True)
        date = experiment.split("_")[1]
        scan = write_scan(experiment_dir / "rawData", date, label, number, part_files(number, file_bytes), rng)
        mark_complete(scan, marker)
        scans.append(scan)
    return scans


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("Usage: python -m palxfel_globus.sample_tree DIR\n")
        return 2
    root = Path(argv[0]).absolute()
    scans = make_sample_tree(root)
    print(f"Made {len(scans)} scans under {root}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
