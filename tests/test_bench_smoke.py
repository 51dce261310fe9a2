"""scripts/bench.py keeps running: its quick mode prints one well-formed row per measurement.

Speed itself is judged by the benchmark against its baselines, never here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def test_quick_bench_prints_well_formed_rows() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json"], capture_output=True, text=True, check=True, timeout=300
    )
    rows = json.loads(result.stdout)
    assert len(rows) == 18
    for row in rows:
        assert set(row) == {"name", "unit", "value", "baseline", "ratio", "target", "met"}
        assert isinstance(row["value"], (int, float)) and isinstance(row["met"], bool)
        assert row["target"][:2] in ("<=", ">=")
        assert (row["baseline"] is None) == (row["ratio"] is None)
