"""Issue 28, item 3: the figures for Prometheus, written after every run in node_exporter's textfile-collector
format, read back with the Prometheus client library's own text parser and held against the ledger."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from conftest import NOW, Daq
from prometheus_client.parser import text_string_to_metric_families
from tests_support import Runs, two_destinations

from palxfel_globus.config import load_config
from palxfel_globus.demo import DemoSite, make_site
from palxfel_globus.engine.faults import parse_fault
from palxfel_globus.functions import call
from palxfel_globus.report.figures import destination_label, is_waiting, seconds_of

Samples = dict[tuple[str, frozenset], float]
FAMILIES = {
    "palxfel_globus_shipped_scans": "counter",
    "palxfel_globus_shipped_bytes": "counter",
    "palxfel_globus_released_scans": "counter",
    "palxfel_globus_released_bytes": "counter",
    "palxfel_globus_failed_attempts": "counter",
    "palxfel_globus_complete_to_verified_seconds": "histogram",
    "palxfel_globus_backlog_scans": "gauge",
    "palxfel_globus_backlog_bytes": "gauge",
    "palxfel_globus_oldest_waiting_scan_age_seconds": "gauge",
    "palxfel_globus_blocked_scans": "gauge",
    "palxfel_globus_quarantined_scans": "gauge",
    "palxfel_globus_unrouted_scans": "gauge",
    "palxfel_globus_last_run_timestamp_seconds": "gauge",
    "palxfel_globus_last_success_timestamp_seconds": "gauge",
}


def read_figures(ledger: Path) -> Samples:
    """Every sample of the file, by the Prometheus client library's own parser; each family of FAMILIES is there
    once, of its type."""
    families = list(text_string_to_metric_families((ledger / "palxfel_globus.prom").read_text("utf-8")))
    assert {family.name: family.type for family in families} == FAMILIES
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }


def labels(**values: str) -> frozenset:
    return frozenset(values.items())


@pytest.fixture
def runs_of() -> Iterator[Callable[[DemoSite], Runs]]:
    with contextlib.ExitStack() as stack:
        yield lambda site: stack.enter_context(Runs(site))


def size_on_disk(site: DemoSite, experiment: str, scan: str) -> int:
    path = site.daq_root / experiment / "rawData" / scan
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())


def check_against_the_ledger(site: DemoSite, rows: list[dict[str, Any]], figures: Samples) -> None:
    """Each figure is what the ledger says now: its rows (list_scans) and the tree."""
    config = load_config(site.config_path)
    routes = {
        route.match: [destination_label(d.function_config()) for d in route.destinations] for route in config.routes
    }
    last_run = figures[("palxfel_globus_last_run_timestamp_seconds", labels())]
    for route, places in routes.items():
        mine = [row for row in rows if fnmatch.fnmatchcase(row["experiment"], route)]
        for index, place in enumerate(places):
            where = labels(route=route, destination=place)
            copies = [row for row in mine if row["destinations"][index]["state"] == "verified" and row["shipped_at"]]
            assert figures[("palxfel_globus_shipped_scans_total", where)] == len(copies), (route, place)
            assert figures[("palxfel_globus_shipped_bytes_total", where)] == sum(row["bytes"] for row in copies)
            waiting = [row for row in mine if is_waiting(row) and row["destinations"][index]["state"] != "verified"]
            assert figures[("palxfel_globus_backlog_scans", where)] == len(waiting), (route, place)
            sizes = sum(size_on_disk(site, row["experiment"], row["scan"]) for row in waiting)
            assert figures[("palxfel_globus_backlog_bytes", where)] == sizes
            age = figures[("palxfel_globus_oldest_waiting_scan_age_seconds", where)]
            oldest = min((seconds_of(row["completed_at"]) for row in waiting), default=None)
            assert (age == 0) if oldest is None else abs(last_run - age - oldest) < 1.0
        released = [row for row in mine if row["state"] == "released"]
        assert figures[("palxfel_globus_released_scans_total", labels(route=route))] == len(released)
        assert figures[("palxfel_globus_released_bytes_total", labels(route=route))] == sum(
            r["bytes"] for r in released
        )
        attempts = sum(row["attempts"] for row in mine)
        assert figures[("palxfel_globus_failed_attempts_total", labels(route=route))] == attempts
        for state in ("blocked", "quarantined"):
            count = sum(row["state"] == state for row in mine)
            assert figures[(f"palxfel_globus_{state}_scans", labels(route=route))] == count, (route, state)
        waits = [row["wait_seconds"] for row in mine if row["shipped_at"] and row["wait_seconds"] is not None]
        histogram = "palxfel_globus_complete_to_verified_seconds"
        assert figures[(f"{histogram}_count", labels(route=route))] == len(waits)
        assert figures[(f"{histogram}_sum", labels(route=route))] == pytest.approx(sum(waits))
        assert figures[(f"{histogram}_bucket", labels(route=route, le="+Inf"))] == len(waits)
        assert figures[(f"{histogram}_bucket", labels(route=route, le="3600.0"))] == sum(w <= 3600 for w in waits)


def test_the_figures_agree_with_the_ledger_after_runs_with_shipped_failed_blocked_and_released_scans(
    tmp_path: Path, runs_of: Callable[[DemoSite], Runs]
) -> None:
    """Run 1: the Transfer to ue_*'s first destination fails (its scans are failed there, verified at the
    archive), one ms_* scan is blocked (a link in it), the other ships; run 2 releases it; run 3 has nothing to do
    and ends before RecordOutcome. After each, the file says what the ledger says; a rename replaced it."""
    site = make_site(tmp_path / "site", scans=9, total_bytes=9000)
    two_destinations(site, release_after="0s")
    blocked = next(scan for scan in site.scans if scan.experiment.startswith("ms_") and scan.kind == "complete")
    (blocked.path / "ScanInfo" / "alias.h5").symlink_to("/etc/hostname")
    runs = runs_of(site)
    ledger = load_config(site.config_path).daq.ledger
    expected = [  # (what the run recorded, whether it succeeded as a whole)
        ({"shipped": 1, "failed": 5}, False),
        ({"released": 1}, True),
        (None, True),  # nothing to do: the figures came from FindCompletedScans
    ]
    inodes = set()
    success = 0.0
    for fault, (recorded, succeeded) in zip(("fail:TransferScans:1", None, None), expected):
        started = time.time()
        run = runs.run(parse_fault(fault) if fault else None)
        outcome = run["details"]["output"].get("recorded", {}).get("outcome")
        if recorded is None:
            assert outcome is None
        else:
            assert {key: len(outcome[key]) for key in recorded} == recorded
        figures = read_figures(ledger)
        last_run = figures[("palxfel_globus_last_run_timestamp_seconds", labels())]
        assert started <= last_run <= time.time()
        success = last_run if succeeded else success
        assert figures[("palxfel_globus_last_success_timestamp_seconds", labels())] == success
        rows = call("list_scans", config=runs.config.function_config(), archived=True)["scans"]
        check_against_the_ledger(site, rows, figures)
        inodes.add(os.stat(ledger / "palxfel_globus.prom").st_ino)
        assert not [name for name in os.listdir(ledger) if name.startswith(".tmp-")], "no half-written file left"
    assert len(inodes) == 3, "each run replaced the file by a rename, never wrote into it"
    states = {row["state"] for row in runs.rows().values()}
    assert {"failed", "blocked", "released"} <= states


def test_a_quiet_run_moves_the_ages_on_and_a_run_is_counted_once(daq: Daq) -> None:
    """FindCompletedScans of a run that takes nothing rewrites the gauges (the oldest waiting scan is older now);
    a RecordOutcome that runs twice for one run counts its scans once; a quarantined scan waits, and is a gauge."""
    shipped = daq.scan("ue_251023_FXL", "alignment", 1)
    waiting = daq.scan("ue_251023_FXL", "alignment", 2)
    stuck = daq.scan("ms_251020_timing", "timing", 1)
    complete = NOW - 7200
    for scan in (shipped, waiting, stuck):
        os.utime(scan / ".done", (complete, complete))
    daq.ship("ue_251023_FXL", shipped.name, run_id="run-s", now=NOW - 3600)
    failure = [{"experiment": "ms_251020_timing", "scan": stuck.name, "error": "the Transfer task ended FAILED"}]
    config = {**daq.config, "max_attempts": 1}
    result = daq.call("record_outcome", config=config, run_id="run-q", now=NOW - 1800, outcomes=failure)
    assert [item["scan"] for item in result["quarantined"]] == [f"ms_251020_timing/{stuck.name}"]
    later = NOW + 600
    found = daq.call("find_completed_scans", config={**daq.config, "max_scans": 0}, run_id="run-b", now=later)
    assert found["count"] == 0 and found["more"], "a scan waits, and this run took none"
    figures = read_figures(daq.ledger)
    ue = labels(route="ue_*", destination="22222222-2222-4222-8222-222222222222:/backup/ue")
    ms = labels(route="ms_*", destination="33333333-3333-4333-8333-333333333333:/~/ms")
    assert figures[("palxfel_globus_last_run_timestamp_seconds", labels())] == later
    assert figures[("palxfel_globus_last_success_timestamp_seconds", labels())] == later, "nothing to do is a success"
    assert figures[("palxfel_globus_backlog_scans", ue)] == 1 and figures[("palxfel_globus_backlog_scans", ms)] == 1
    assert figures[("palxfel_globus_backlog_bytes", ue)] == sum(
        p.stat().st_size for p in waiting.rglob("*") if p.is_file()
    )
    for place in (ue, ms):
        assert figures[("palxfel_globus_oldest_waiting_scan_age_seconds", place)] == later - complete
    assert figures[("palxfel_globus_quarantined_scans", labels(route="ms_*"))] == 1
    assert figures[("palxfel_globus_shipped_scans_total", ue)] == 1
    assert figures[("palxfel_globus_complete_to_verified_seconds_bucket", labels(route="ue_*", le="3600.0"))] == 1
    assert figures[("palxfel_globus_complete_to_verified_seconds_bucket", labels(route="ue_*", le="1800.0"))] == 0
    assert figures[("palxfel_globus_failed_attempts_total", labels(route="ms_*"))] == 1
    for _ in range(2):
        call("record_outcome", function="note_run", config=daq.config, run_id="run-x", result=result, now=later)
    figures = read_figures(daq.ledger)
    assert figures[("palxfel_globus_failed_attempts_total", labels(route="ms_*"))] == 2, "run-q and run-x, once each"
