"""Fault injection and the local timer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from palxfel_globus.engine import Clock, Corruption, Engine, Faults, SimulatedCrash
from palxfel_globus.engine.faults import parse_fault
from palxfel_globus.engine.timer import run_timer

A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
COPY = {
    "StartAt": "Copy",
    "States": {
        "Copy": {
            "Type": "Action",
            "ActionUrl": "https://transfer.actions.globus.org/transfer",
            "Parameters": {
                "source_endpoint": A,
                "destination_endpoint": B,
                "DATA": [{"source_path": "/d", "destination_path": "/d"}],
            },
            "ResultPath": "$.copy",
            "ExceptionOnActionFailure": True,
            "Next": "Done",
        },
        "Done": {"Type": "Pass", "End": True},
    },
}


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a" / "d").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "d" / "one.bin").write_bytes(bytes(range(200)))
    (tmp_path / "a" / "d" / "two.bin").write_bytes(b"two" * 100)
    return {A: tmp_path / "a", B: tmp_path / "b"}


def test_a_failure_can_be_injected_a_number_of_times(dirs: dict[str, Path]) -> None:
    with Engine(collections=dirs, faults=Faults(fail={"Copy": 1})) as engine:
        assert engine.run(COPY, {})["status"] == "FAILED"
        assert engine.run(COPY, {})["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("flip", lambda data: len(data) == 200 and data != bytes(range(200))),
        ("truncate", lambda data: len(data) == 100),
    ],
)
def test_delivered_files_can_be_corrupted_after_the_transfer(dirs: dict[str, Path], mode: str, check) -> None:  # type: ignore[no-untyped-def]
    faults = Faults(corrupt=[Corruption("Copy", "*/one.bin", mode)])
    with Engine(collections=dirs, faults=faults) as engine:
        document = engine.run(COPY, {})
    assert document["status"] == "SUCCEEDED", "the transfer itself did not notice: only a later check can"
    assert check((dirs[B] / "d" / "one.bin").read_bytes())
    assert (dirs[B] / "d" / "two.bin").read_bytes() == b"two" * 100
    assert document["details"]["output"]["copy"]["details"]["damaged_by_fault_injection"] == ["/d/one.bin"]


def test_a_crash_between_states_leaves_the_work_done_so_far(dirs: dict[str, Path]) -> None:
    with Engine(collections=dirs, faults=Faults(crash={"Done"})) as engine:
        with pytest.raises(SimulatedCrash):
            engine.run(COPY, {})
        assert (dirs[B] / "d" / "one.bin").exists()
        assert engine.run(COPY, {})["status"] == "SUCCEEDED", "a crash happens once"


def test_fault_specs_parse_and_bad_ones_are_refused() -> None:
    faults = parse_fault("fail:Copy:2")
    parse_fault("crash:Done", faults)
    parse_fault("corrupt:Copy:*.h5:truncate", faults)
    assert faults.fail == {"Copy": 2} and faults.crash == {"Done"}
    assert faults.corrupt == [Corruption("Copy", "*.h5", "truncate")]
    with pytest.raises(ValueError, match="is not a fault"):
        parse_fault("explode:Copy")


HOLD = {"StartAt": "Hold", "States": {"Hold": {"Type": "Pass", "End": True}}}


def holding_engine(release: threading.Event, started: list[str]) -> Engine:
    """An engine whose runs wait at their first state until ``release`` is set: a run that is still going."""

    def on_event(entry: dict, context: dict) -> None:
        if entry["code"] == "PassStarted":
            started.append(context["run_id"])
            release.wait(timeout=30)

    return Engine(on_event=on_event, clock=Clock())  # real time: the runs overlap in threads


def test_the_timer_skips_ticks_while_the_previous_run_goes_on() -> None:
    release, started = threading.Event(), []

    def on_skip(tick: int) -> None:
        if tick == 2:
            release.set()

    with holding_engine(release, started) as engine:
        report = run_timer(engine, HOLD, lambda tick: {"tick": tick}, interval=0, ticks=3, on_skip=on_skip)
    assert len(report.runs) == 1 and report.skipped_ticks == [1, 2]


def test_the_timer_can_overlap_runs() -> None:
    release, started = threading.Event(), []
    with holding_engine(release, started) as engine:
        threading.Thread(target=lambda: (engine_wait(started, 3), release.set()), daemon=True).start()
        report = run_timer(engine, HOLD, lambda tick: {}, interval=0, ticks=3, allow_overlap=True)
    assert len(report.runs) == 3 and report.skipped_ticks == [] and len(set(started)) == 3


def engine_wait(started: list[str], count: int) -> None:
    """Waits until ``count`` runs are inside their first state at once (they cannot leave before release)."""
    import time

    while len(started) < count:
        time.sleep(0.001)


def test_the_timer_stops_when_asked(dirs: dict[str, Path]) -> None:
    stop = threading.Event()
    seen = []

    def on_run(tick: int, document: dict) -> None:
        seen.append(tick)
        stop.set()

    with Engine(collections=dirs) as engine:
        report = run_timer(engine, COPY, lambda tick: {}, interval=0.01, ticks=None, stop=stop, on_run=on_run)
    assert seen[0] == 0 and len(report.runs) >= 1
