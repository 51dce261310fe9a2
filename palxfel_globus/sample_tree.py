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


def write_scan(
    raw_data: Path, label: str, number: int, date: str, marker: str | None, file_bytes: int, rng: random.Random
) -> Path:
    """One scan directory with a file in each part, finished with the given marker kind."""
    scan = raw_data / f"{date}_{label}_{number:05d}_DIR"
    for part in SCAN_PARTS:
        (scan / part).mkdir(parents=True, exist_ok=True)
        (scan / part / f"{part.lower()}_{number:05d}.h5").write_bytes(rng.randbytes(file_bytes))
    if marker == "inner":
        (scan / ".done").touch()
    elif marker == "sibling":
        (raw_data / f"{scan.name}.complete").touch()
    return scan


def make_sample_tree(root: Path, *, file_bytes: int = 4096, seed: int = 0) -> list[Path]:
    """Create the sample scans under ``root``; returns the scan directories."""
    rng = random.Random(seed)
    scans = []
    for experiment, label, number, marker in SAMPLE_SCANS:
        experiment_dir = root / experiment
        for folder in ("dat", "scratch"):
            (experiment_dir / folder).mkdir(parents=True, exist_ok=True)
        date = experiment.split("_")[1]
        scans.append(write_scan(experiment_dir / "rawData", label, number, date, marker, file_bytes, rng))
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
