"""The ledger: atomic records, crash safety, record_outcome's rules, retry and forget."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import NOW, Daq

from palxfel_globus import functions

EXPERIMENT = "ue_251023_FXL"
SCAN = "251023_alignment_00001_DIR"
SCAN_ID = f"{EXPERIMENT}/{SCAN}"


def record(daq: Daq, scan: str = SCAN) -> dict:
    return json.loads((daq.ledger / "scans" / EXPERIMENT / f"{scan}.json").read_text("utf-8"))


def fail(daq: Daq, run_id: str = "run-1", now: float = NOW, error: str = "destination not writable") -> dict:
    return daq.call(
        "record_outcome", run_id=run_id, now=now, outcomes=[{"experiment": EXPERIMENT, "scan": SCAN, "error": error}]
    )


class SimulatedCrash(BaseException):
    """Raised where the process would have died; BaseException so no handler swallows it."""


def test_a_crash_between_temp_write_and_rename_leaves_the_previous_record(
    daq: Daq, monkeypatch: pytest.MonkeyPatch
) -> None:
    daq.scan()
    daq.find()
    fail(daq)
    before = record(daq)

    def crash(*_args: object) -> None:
        raise SimulatedCrash

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(SimulatedCrash):
        fail(daq, now=NOW + 100)
    monkeypatch.undo()
    assert record(daq) == before
    assert daq.states() == {SCAN_ID: "failed"}
    leftovers = [p.name for p in (daq.ledger / "scans" / EXPERIMENT).iterdir()]
    assert leftovers == [f"{SCAN}.json"], "the temp file is removed even when the rename fails"


def test_a_temp_file_left_by_a_killed_process_does_not_disturb_readers(daq: Daq) -> None:
    daq.scan()
    daq.find()
    fail(daq)
    (daq.ledger / "scans" / EXPERIMENT / f".tmp-{SCAN}.json-deadbeef").write_text('{"state": "shipp')
    assert daq.states() == {SCAN_ID: "failed"}
    assert daq.call("list_scans", now=NOW)["problems"] == []


def test_corrupt_and_foreign_ledger_files_are_reported_not_fatal(daq: Daq) -> None:
    daq.scan(number=1)
    daq.scan(number=2)
    records = daq.ledger / "scans" / EXPERIMENT
    records.mkdir(parents=True)
    (records / f"{SCAN}.json").write_text("{not json")
    (records / "notes.txt").write_text("hello")
    listed = daq.call("list_scans", now=NOW)
    problems = "\n".join(listed["problems"])
    assert f"{SCAN}.json is unreadable" in problems and "notes.txt is not a ledger record" in problems
    found = daq.find()
    assert [item["scan"] for item in found["scans"]] == ["251023_alignment_00002_DIR"], "a scan with a bad record waits"
    assert f"{SCAN}.json is unreadable" in "\n".join(found["problems"])


def test_shipped_needs_a_passing_verification_of_the_ledgers_own_manifest(daq: Daq, tmp_path: Path) -> None:
    daq.scan()
    daq.find()
    daq.call("build_manifest", experiment=EXPERIMENT, scan=SCAN)
    good = daq.verify_at(daq.root, EXPERIMENT, SCAN)
    forged = dict(good, manifest_digest="0" * 64)
    outcome = daq.call(
        "record_outcome",
        run_id="run-1",
        now=NOW,
        outcomes=[{"experiment": EXPERIMENT, "scan": SCAN, "verification": forged}],
    )
    assert outcome["shipped"] == [] and "different manifest" in outcome["failed"][0]["reason"]
    daq.find("run-2", now=NOW + 10_000)
    outcome = daq.call(
        "record_outcome",
        run_id="run-2",
        now=NOW + 10_000,
        outcomes=[{"experiment": EXPERIMENT, "scan": SCAN, "verification": good, "task_id": "t-1"}],
    )
    assert outcome == {
        "ok": True,
        "shipped": [SCAN_ID],
        "released": [],
        "releasing": [],
        "shipping_again": [],
        "failed": [],
        "quarantined": [],
        "blocked": [],
        "skipped": [],
        "news": [],
        "warnings": [],
        "summary": "1 shipped",
    }
    shipped = record(daq)
    assert (shipped["state"], shipped["task_id"], shipped["files"], shipped["bytes"]) == ("shipped", "t-1", 5, 4000)
    assert (daq.ledger / "shipped" / EXPERIMENT / SCAN).exists()
    assert not any((daq.ledger / "claims" / EXPERIMENT).iterdir()), "claims are cleared once shipped"


def test_a_failed_verification_is_failed_with_the_file_named(daq: Daq, tmp_path: Path) -> None:
    scan = daq.scan()
    daq.find()
    daq.call("build_manifest", experiment=EXPERIMENT, scan=SCAN)
    copy = tmp_path / "copy"
    shutil.copytree(scan, copy / EXPERIMENT / "rawData" / SCAN)
    (copy / EXPERIMENT / "rawData" / SCAN / "ScanInfo" / "scaninfo_00001.h5").write_bytes(b"short")
    bad = daq.verify_at(copy, EXPERIMENT, SCAN)
    outcome = daq.call(
        "record_outcome",
        run_id="run-1",
        now=NOW,
        outcomes=[{"experiment": EXPERIMENT, "scan": SCAN, "verification": bad}],
    )
    assert outcome["ok"] is False
    assert outcome["failed"][0]["reason"] == "verification failed: ScanInfo/scaninfo_00001.h5 (size differs)"
    assert record(daq)["state"] == "failed"


def test_failures_back_off_exponentially_then_quarantine(daq: Daq) -> None:
    daq.scan()
    daq.config["max_attempts"] = 3
    now = NOW
    delays = []
    for attempt in (1, 2):
        assert daq.find(f"run-{attempt}", now=now)["count"] == 1
        outcome = fail(daq, run_id=f"run-{attempt}", now=now)
        assert outcome["failed"][0]["attempts"] == attempt
        delays.append(record(daq)["retry_after"] - now)
        assert daq.find("early", now=now + delays[-1] - 1)["count"] == 0
        now += delays[-1]
    assert delays == [60, 120]
    assert daq.find("run-3", now=now)["count"] == 1
    outcome = fail(daq, run_id="run-3", now=now)
    assert outcome["quarantined"] == [{"scan": SCAN_ID, "attempts": 3, "reason": "destination not writable"}]
    assert daq.find("later", now=now + 10**7)["count"] == 0


def test_a_failure_releases_the_claim_so_the_scan_retries_after_back_off(daq: Daq) -> None:
    daq.scan()
    daq.find("run-1")
    fail(daq, run_id="run-1")
    assert daq.states() == {SCAN_ID: "failed"}
    assert daq.find("run-2", now=NOW + 60)["count"] == 1


def test_a_stale_run_cannot_fail_a_scan_another_run_holds(daq: Daq) -> None:
    daq.scan()
    daq.find("slow-run")
    daq.find("new-run", now=NOW + 7200)
    outcome = fail(daq, run_id="slow-run", now=NOW + 7300)
    assert outcome["skipped"] == [{"scan": SCAN_ID, "reason": "another run holds or has finished this scan"}]
    assert daq.states() == {SCAN_ID: "claimed"}


def test_recording_a_shipped_scan_again_changes_nothing(daq: Daq) -> None:
    daq.scan()
    daq.find()
    daq.ship(EXPERIMENT, SCAN, now=NOW)
    first = record(daq)
    verification = daq.verify_at(daq.root, EXPERIMENT, SCAN)
    again = daq.call(
        "record_outcome",
        run_id="run-9",
        now=NOW + 50,
        outcomes=[{"experiment": EXPERIMENT, "scan": SCAN, "verification": verification}],
    )
    assert again["shipped"] == [SCAN_ID] and record(daq) == first


def test_outcomes_with_bad_names_are_skipped_before_any_write(daq: Daq) -> None:
    record_outcome = functions.load("record_outcome")
    outcomes = [{"experiment": "../etc", "scan": SCAN}, {"experiment": EXPERIMENT, "scan": "passwd"}]
    result = record_outcome(config=daq.config, run_id="r", outcomes=outcomes)
    assert [entry["reason"] for entry in result["skipped"]] == [
        "'../etc' is not an experiment name of the form <kind>_<YYMMDD>_<tag>.",
        "'passwd' is not a scan name of the form <YYMMDD>_<name>_<NNNNN>_DIR.",
    ]
    assert not result["ok"] and not daq.ledger.exists()


def test_retry_makes_a_quarantined_scan_pending_and_refuses_other_states(daq: Daq) -> None:
    daq.scan()
    daq.config["max_attempts"] = 1
    daq.find()
    fail(daq)
    assert daq.states() == {SCAN_ID: "quarantined"}
    result = daq.call("manage_scan", scan_id=SCAN, action="retry", now=NOW)
    assert (result["previous_state"], result["state"]) == ("quarantined", "pending")
    assert daq.states() == {SCAN_ID: "pending"} and record(daq)["attempts"] == 0
    with pytest.raises(Exception, match="is pending, not failed, quarantined, blocked or restored"):
        daq.call("manage_scan", scan_id=SCAN, action="retry", now=NOW)
    assert daq.find("again")["count"] == 1


def test_forget_drops_a_shipped_scan_so_the_next_tick_ships_it_again(daq: Daq) -> None:
    daq.scan()
    daq.find()
    daq.ship(EXPERIMENT, SCAN)
    assert daq.find("run-2")["count"] == 0
    daq.call("manage_scan", scan_id=SCAN_ID, action="forget", now=NOW)
    assert daq.states() == {SCAN_ID: "pending"}
    assert daq.find("run-3")["count"] == 1


def test_changes_are_refused_while_a_run_holds_the_claim(daq: Daq) -> None:
    daq.scan()
    daq.find("busy-run")
    with pytest.raises(Exception, match="is claimed by run busy-run until"):
        daq.call("manage_scan", scan_id=SCAN, action="forget", now=NOW)


def test_an_ambiguous_scan_name_asks_for_the_experiment(daq: Daq) -> None:
    daq.scan("ue_251023_FXL")
    daq.scan("ue_251023_OTHER")
    with pytest.raises(Exception, match="exists in several experiments"):
        daq.call("manage_scan", scan_id=SCAN, action="forget", now=NOW)
    with pytest.raises(Exception, match="No scan named 251023_alignment_00009_DIR"):
        daq.call("manage_scan", scan_id="251023_alignment_00009_DIR", action="forget", now=NOW)


def test_shipped_scans_whose_data_is_gone_stay_listed_for_audit(daq: Daq) -> None:
    scan = daq.scan()
    daq.find()
    daq.ship(EXPERIMENT, SCAN)
    shutil.rmtree(scan)
    rows = daq.call("list_scans", now=NOW)["scans"]
    assert [(row["state"], row["on_disk"], row["files"]) for row in rows] == [("shipped", False, 5)]


def test_a_crash_before_the_shipped_index_is_written_is_repaired_by_the_next_tick(daq: Daq) -> None:
    """The record is written first and the index second; a record alone still counts as shipped."""
    daq.scan()
    daq.find()
    daq.ship(EXPERIMENT, SCAN)
    index_entry = daq.ledger / "shipped" / EXPERIMENT / SCAN
    index_entry.unlink()
    assert daq.find("run-2")["count"] == 0
    assert index_entry.exists()


def test_a_run_whose_discovery_failed_gives_back_every_claim_it_took(daq: Daq) -> None:
    daq.scan(number=1)
    daq.scan("ue_251024_TWO", number=2)
    taken = daq.find("run-x")["scans"]
    assert len(taken) == 2 and set(daq.states().values()) == {"claimed"}
    outcome = daq.call("record_outcome", run_id="run-x", now=NOW, error="ActionTimeout: the find took too long")
    assert outcome["released"] == sorted(f"{scan['experiment']}/{scan['scan']}" for scan in taken)
    assert outcome["summary"] == "2 claims given back; ActionTimeout: the find took too long"
    assert set(daq.states().values()) == {"pending"}
    assert daq.call("record_outcome", run_id="other", now=NOW, error="e")["released"] == []
