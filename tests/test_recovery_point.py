"""Issue 28, item 1: the recovery point, from a tree whose markers and verification times the test chose.

A scan is complete at its marker's mtime (the earliest, when it has one inside and one beside it); the ledger
keeps that as ``completed_at`` from its first recording on; it waits until a copy is verified at every
destination of its route. ``scans list`` (and ``status``) show the oldest scan still waiting and, per route, the
median, 95th percentile (nearest rank) and worst wait of the scans verified in the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import Daq
from tests_support import HOUR, MS, UE, chosen_tree, config_file


@pytest.fixture
def tree(daq: Daq) -> dict[str, Any]:
    return chosen_tree(daq)


def test_the_ledger_keeps_when_each_scan_was_complete(daq: Daq, tree: dict[str, Any]) -> None:
    from palxfel_globus.functions import load

    iso_time = load("record_outcome").__globals__["iso_time"]
    for name, when in tree["complete"].items():
        if name == "c":  # never recorded
            continue
        experiment = MS if name == "d" else UE
        record = (daq.ledger / "scans" / experiment / f"{tree['scans'][name].name}.json").read_text("utf-8")
        assert f'"completed_at": "{iso_time(when)}"' in record, name
    row = {row["scan"]: row for row in daq.call("list_scans", now=tree["now"])["scans"]}[tree["scans"]["c"].name]
    assert row["completed_at"] == iso_time(tree["complete"]["c"]), "a scan not recorded yet: its marker says"
    assert row["wait_seconds"] is None and row["state"] == "pending"


def test_the_recovery_point_over_a_week_and_over_a_month(daq: Daq, tree: dict[str, Any]) -> None:
    now = tree["now"]
    week = daq.call("list_scans", now=now)["recovery"]
    assert week["days"] == 7 and week["unrouted"] == 0
    assert week["oldest"] == {
        "scan": f"{UE}/{tree['scans']['c'].name}",
        "completed_at": week["oldest"]["completed_at"],
        "age_seconds": 3 * HOUR,
    }
    ue, ms = week["routes"]
    assert ue == {
        "route": "ue_*",
        "waiting": 1,
        "oldest": week["oldest"],
        "count": 2,
        "median_seconds": 45 * 60,  # a waited 1 h, b 30 min (from its earlier marker)
        "p95_seconds": HOUR,
        "worst_seconds": HOUR,
    }
    assert ms == dict(
        ue, route="ms_*", waiting=0, oldest=None, count=1, median_seconds=HOUR, p95_seconds=HOUR, worst_seconds=HOUR
    )
    month = daq.call("list_scans", now=now, days=30)["recovery"]
    assert month["routes"][0] | {"oldest": None} == dict(
        ue, oldest=None, count=3, median_seconds=HOUR, p95_seconds=24 * HOUR, worst_seconds=24 * HOUR
    )


def test_scans_list_says_the_recovery_point(
    daq: Daq,
    tree: dict[str, Any],
    tmp_path: Path,
    cli: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a sentence a line (at 80 columns they fold, as the table does)
    config = config_file(daq, tmp_path / "palxfel-globus.toml")
    code, out, err = cli("scans", "list", "--config", str(config), "--days", "7")
    assert (code, err) == (0, ""), err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    start = lines.index("Recovery point (waits over the last 7 days):")
    assert lines[start + 1 :] == [
        f"Oldest waiting: {UE}/{tree['scans']['c'].name}, complete 3 h ago.",
        "ue_*: 1 waiting; 2 verified in the last 7 days, complete to verified: median 45 min, 95th percentile 1 h, "
        "worst 1 h.",
        "ms_*: 0 waiting; 1 verified in the last 7 days, complete to verified: median 1 h, 95th percentile 1 h, "
        "worst 1 h.",
    ]
    code, _out, err = cli("scans", "list", "--config", str(config), "--days", "0")
    assert code == 2 and "--days" in err and err.count("\n") == 1
