"""Issue 25, item 7: the one-off copy flow gives a copy the same guarantee as a scan's. A file damaged
after Transfer delivered it (``corrupt:``) is found by a second checksum-sync Transfer, copied again
and said; a destination that keeps damaging what it is sent fails the run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import pytest

from palxfel_globus.resources import data_dir

SOURCE = "aaaaaaaa-0000-4000-8000-000000000001"
DESTINATION = "bbbbbbbb-0000-4000-8000-000000000002"
Cli = Callable[..., "tuple[int, str, str]"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def copy_run(tmp_path: Path, cli: Cli) -> Callable[..., tuple[int, dict, Path, Path]]:
    """``flow simulate`` of flow_definitions/transfer.json, as deployed, copying a directory of .h5 files."""
    source, destination = tmp_path / "source", tmp_path / "destination"
    (source / "run7").mkdir(parents=True)
    destination.mkdir()
    for number in range(3):
        (source / "run7" / f"frame{number}.h5").write_bytes(bytes(range(256)) * (number + 4))
    body = {
        "source": {"id": SOURCE, "path": "/run7/"},
        "destination": {"id": DESTINATION, "path": "/copies/run7/"},
        "deadline": "2999-01-01T00:00:00+00:00",
    }
    (tmp_path / "input.json").write_text(json.dumps(body), encoding="utf-8")

    def run(*faults: str) -> tuple[int, dict, Path, Path]:
        arguments = ["flow", "simulate", str(data_dir("flow_definitions") / "transfer.json")]
        arguments += ["--input", str(tmp_path / "input.json"), "--json"]
        arguments += ["--collection", f"{SOURCE}={source}", "--collection", f"{DESTINATION}={destination}"]
        for fault in faults:
            arguments += ["--fault", fault]
        code, out, _err = cli(*arguments)
        return code, json.loads(out), source / "run7", destination / "copies" / "run7"

    return run


def test_a_copy_damaged_after_delivery_is_found_copied_again_and_said(copy_run: Callable[..., tuple]) -> None:
    code, run, source, copy = copy_run("corrupt:Transfer:*.h5")
    assert code == 0 and run["status"] == "SUCCEEDED", run["details"]
    for original in source.iterdir():
        assert sha256(copy / original.name) == sha256(original), "the copy is what was sent"
    summary = run["details"]["output"]["summary"]
    assert summary["repaired"] == 3
    assert summary["message"] == (
        "copied and verified by checksum; 3 file(s) differed from the source after the copy and were copied again"
    )


def test_a_clean_copy_is_verified_by_a_round_that_moves_nothing(copy_run: Callable[..., tuple]) -> None:
    code, run, _source, _copy = copy_run()
    summary = run["details"]["output"]["summary"]
    assert code == 0 and summary["repaired"] == 0 and summary["message"] == "copied and verified by checksum"
    assert summary["files_transferred"] == 3 and summary["verified_by"] != summary["task_id"]


def test_a_destination_that_keeps_damaging_the_copy_fails_the_run(copy_run: Callable[..., tuple]) -> None:
    code, run, _source, _copy = copy_run("corrupt:Transfer:*.h5", "corrupt:VerifyCopy:*.h5")
    assert code == 1 and run["status"] == "FAILED"
    failure = run["details"]["failure"]
    assert failure["error"] == "CopyNotVerified"
    assert failure["cause"].startswith("every one of 3 checksum verification rounds found files that differ")
