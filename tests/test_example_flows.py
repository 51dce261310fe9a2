"""Flows in the shapes the Globus documentation shows, run to their documented result on local directories.

Sources: the official globus/globus-flows-examples repository (transfer_examples/simple,
move, two_hop, looping_batched_move; compute_transfer_examples; web_input_examples) and
docs.globus.org/api/flows/authoring-flows/. The definitions in tests/data/flows are
written for this repository in the same shapes (see its README).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from palxfel_globus.engine import Engine, FunctionRef, load_definition, validate

DATA = Path(__file__).parent / "data"
SOURCE = "aaaaaaaa-0000-4000-8000-000000000001"
DESTINATION = "bbbbbbbb-0000-4000-8000-000000000002"
INTERMEDIATE = "cccccccc-0000-4000-8000-000000000003"
ENDPOINT = "dddddddd-0000-4000-8000-000000000004"
FUNCTION = "eeeeeeee-0000-4000-8000-000000000005"


def flow(name: str) -> tuple[dict, dict]:
    return load_definition(DATA / "flows" / f"{name}.json"), json.loads(
        (DATA / "flows" / f"{name}.input.json").read_text("utf-8")
    )


@pytest.fixture
def collections(tmp_path: Path) -> dict[str, Path]:
    directories = {
        SOURCE: tmp_path / "source",
        DESTINATION: tmp_path / "destination",
        INTERMEDIATE: tmp_path / "intermediate",
    }
    for directory in directories.values():
        directory.mkdir()
    return directories


@pytest.mark.parametrize(
    "name", ["transfer", "move", "two_hop", "looping_batched_move", "compute_then_transfer", "approval"]
)
def test_every_example_definition_validates_without_errors(name: str) -> None:
    definition, _ = flow(name)
    assert [str(finding) for finding in validate(definition) if not finding.warning] == []


def test_simple_transfer_copies_a_directory_with_odd_names(collections: dict[str, Path]) -> None:
    definition, body = flow("transfer")
    run_dir = collections[SOURCE] / "experiment" / "run 1"
    (run_dir / "빔").mkdir(parents=True)
    (run_dir / "빔" / "a.h5").write_bytes(b"a" * 1000)
    (run_dir / "b.txt").write_text("b")
    with Engine(collections=collections) as engine:
        run = engine.run(definition, body)
    assert run["status"] == "SUCCEEDED"
    result = run["details"]["output"]["TransferResult"]
    assert result["status"] == "SUCCEEDED" and result["label"] == "Copy of run 1"
    assert (result["details"]["files_transferred"], result["details"]["bytes_transferred"]) == (2, 1001)
    assert (collections[DESTINATION] / "archive" / "run 1" / "빔" / "a.h5").read_bytes() == b"a" * 1000


def test_move_puts_a_file_into_an_existing_directory_and_deletes_the_source(collections: dict[str, Path]) -> None:
    definition, body = flow("move")
    (collections[SOURCE] / "data").mkdir()
    (collections[SOURCE] / "data" / "scan.h5").write_bytes(b"scan")
    (collections[DESTINATION] / "incoming").mkdir()
    with Engine(collections=collections) as engine:
        run = engine.run(definition, body)
    assert run["status"] == "SUCCEEDED"
    assert run["details"]["output"]["Target"] == {"path": "/incoming/scan.h5"}
    assert (collections[DESTINATION] / "incoming" / "scan.h5").read_bytes() == b"scan"
    assert not (collections[SOURCE] / "data" / "scan.h5").exists()
    assert run["details"]["output"]["Result"] == {"message": "Move complete"}


def test_move_refuses_a_directory_onto_a_file_with_the_flows_own_error(collections: dict[str, Path]) -> None:
    definition, body = flow("move")
    (collections[SOURCE] / "data" / "scan.h5").mkdir(parents=True)
    (collections[DESTINATION] / "incoming").write_text("a file")
    body["destination"]["path"] = "/incoming"
    with Engine(collections=collections) as engine:
        run = engine.run(definition, body)
    assert run["status"] == "FAILED"
    assert run["details"]["failure"]["error"] == "DirectoryOntoFile"
    assert (collections[SOURCE] / "data" / "scan.h5").is_dir(), "nothing was deleted"


def test_two_hop_arrives_and_cleans_the_intermediate(collections: dict[str, Path]) -> None:
    definition, body = flow("two_hop")
    (collections[SOURCE] / "beamtime" / "sub").mkdir(parents=True)
    (collections[SOURCE] / "beamtime" / "sub" / "x.bin").write_bytes(bytes(range(256)) * 40)
    with Engine(collections=collections) as engine:
        run = engine.run(definition, body)
    assert run["status"] == "SUCCEEDED"
    assert (collections[DESTINATION] / "archive" / "beamtime" / "sub" / "x.bin").read_bytes() == bytes(range(256)) * 40
    assert not (collections[INTERMEDIATE] / "staging" / "beamtime").exists()


def test_looping_batched_move_empties_the_source_in_batches(collections: dict[str, Path]) -> None:
    definition, body = flow("looping_batched_move")
    (collections[SOURCE] / "outbox").mkdir()
    (collections[DESTINATION] / "inbox").mkdir()
    for number in range(8):
        (collections[SOURCE] / "outbox" / f"f{number}.dat").write_text(str(number))
    (collections[SOURCE] / "outbox" / "nested").mkdir()
    (collections[SOURCE] / "outbox" / "nested" / "deep.dat").write_text("deep")
    with Engine(collections=collections) as engine:
        run = engine.run(definition, body)
    assert run["status"] == "SUCCEEDED"
    assert run["details"]["output"]["Plan"]["batches"] == 3, "9 entries in batches of 3"
    assert list((collections[SOURCE] / "outbox").iterdir()) == []
    moved = sorted(
        path.relative_to(collections[DESTINATION] / "inbox").as_posix()
        for path in (collections[DESTINATION] / "inbox").rglob("*")
        if path.is_file()
    )
    assert moved == [f"f{number}.dat" for number in range(8)] + ["nested/deep.dat"]


def test_compute_then_transfer_ships_what_the_function_made(collections: dict[str, Path]) -> None:
    definition, body = flow("compute_then_transfer")
    (collections[SOURCE] / "data").mkdir()
    (collections[SOURCE] / "data" / "a.txt").write_text("alpha")
    (collections[SOURCE] / "data" / "b.txt").write_text("beta")
    (collections[DESTINATION] / "bundles").mkdir()
    body["compute_root"] = str(collections[SOURCE])
    functions = {FUNCTION: FunctionRef(str(DATA / "functions" / "bundle.py"), "bundle")}
    with Engine(collections=collections, functions=functions) as engine:
        run = engine.run(definition, body, run_id="11111111-2222-4333-8444-555555555555")
    assert run["status"] == "SUCCEEDED", run["details"]
    output = run["details"]["output"]
    assert output["constants"]["work_path"] == "/~/work/11111111-2222-4333-8444-555555555555/"
    assert output["bundle"]["details"]["result"] == ["/~/work/11111111-2222-4333-8444-555555555555/bundle.tar"]
    assert output["constants"]["started_by"].endswith("(urn:globus:auth:identity:00000000-0000-4000-8000-00000000c0de)")
    with tarfile.open(collections[DESTINATION] / "bundles" / "bundle.tar") as archive:
        assert sorted(archive.getnames()) == ["a.txt", "b.txt"]
    assert not (collections[SOURCE] / "work" / "11111111-2222-4333-8444-555555555555").exists()


@pytest.mark.parametrize(
    ("answers", "status", "copied"),
    [(["approve"], "SUCCEEDED", True), (["deny"], "FAILED", False), ([], "INACTIVE", False)],
)
def test_approval_waits_for_a_person(
    collections: dict[str, Path], answers: list[str], status: str, copied: bool
) -> None:
    definition, body = flow("approval")
    (collections[SOURCE] / "data").mkdir()
    (collections[SOURCE] / "data" / "scan.h5").write_text("x")
    (collections[DESTINATION] / "approved").mkdir()
    with Engine(collections=collections, web_inputs=answers) as engine:
        run = engine.run(definition, body)
    assert run["status"] == status
    assert (collections[DESTINATION] / "approved" / "scan.h5").exists() == copied
    if status == "FAILED":
        assert run["details"]["failure"] == {"state_name": "Denied", "error": "NotApproved", "cause": "/data/scan.h5"}


def test_an_unanswered_approval_waits_inactive_until_resumed_or_cancelled_or_expires(
    collections: dict[str, Path], tmp_path: Path
) -> None:
    """INACTIVE is a run waiting for a person: it resumes with an answer (even from another engine
    on the same state, as a later 'flow simulate --resume' is), or is cancelled and ENDED."""
    definition, body = flow("approval")
    (collections[SOURCE] / "data").mkdir()
    (collections[SOURCE] / "data" / "scan.h5").write_text("x")
    (collections[DESTINATION] / "approved").mkdir()
    state = tmp_path / "state"
    with Engine(collections=collections, state_dir=state) as engine:
        waiting = [engine.run(definition, body) for _ in range(2)]
    assert [run["status"] for run in waiting] == ["INACTIVE", "INACTIVE"]
    assert waiting[0]["details"]["blocking_web_input_id"] and waiting[0]["completion_time"] is None
    with Engine(collections=collections, state_dir=state) as engine:
        assert sorted(engine.inactive_runs()) == sorted(run["run_id"] for run in waiting)
        resumed = engine.resume(waiting[0]["run_id"], "approve")
        ended = engine.cancel(waiting[1]["run_id"])
        assert engine.inactive_runs() == []
    assert resumed["status"] == "SUCCEEDED" and (collections[DESTINATION] / "approved" / "scan.h5").exists()
    assert [entry["code"] for entry in resumed["log"]].count("FlowStarted") == 1, "one run, one log"
    assert "FlowResumed" in [entry["code"] for entry in resumed["log"]]
    assert ended["status"] == "ENDED" and ended["details"]["code"] == "FlowCanceled"
    with Engine(collections=collections, expire_web_inputs=True) as engine:
        expired = engine.run(definition, body)
    assert expired["status"] == "FAILED" and expired["details"]["failure"]["state_name"] == "Denied"
