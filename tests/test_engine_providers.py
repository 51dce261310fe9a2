"""Local action providers: Transfer over directories and Compute on worker processes.

What a result looks like follows docs.globus.org/api/transfer/action-providers/transfer
(details = the Transfer task document) and the Compute action provider's docs
(details.result and details.results); see globus-flows.md 3.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from palxfel_globus.engine import Engine, FunctionRef
from palxfel_globus.engine.providers.compute import BUNDLED

A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
ENDPOINT = "dddddddd-0000-4000-8000-000000000004"
TRANSFER = "https://transfer.actions.globus.org/"


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    directories = {A: tmp_path / "a", B: tmp_path / "b"}
    for directory in directories.values():
        directory.mkdir()
    return directories


def run_action(engine: Engine, url: str, parameters: dict[str, Any], **state: Any) -> dict[str, Any]:
    """The run document of a one-state flow calling ``url``."""
    action = {
        "Type": "Action",
        "ActionUrl": url,
        "Parameters": parameters,
        "ResultPath": "$.r",
        "WaitTime": 60,
        "End": True,
        **state,
    }
    return engine.run({"StartAt": "S", "States": {"S": action}}, {})


def act(url: str, parameters: dict[str, Any], engine: Engine) -> dict[str, Any]:
    document = run_action(engine, url, parameters)
    if document["status"] != "SUCCEEDED":
        raise AssertionError(document["details"])
    return document["details"]["output"]["r"]


def transfer(dirs: dict[str, Path], items: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    with Engine(collections=dirs) as engine:
        return act(
            TRANSFER + "transfer", {"source_endpoint": A, "destination_endpoint": B, "DATA": items, **options}, engine
        )


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_recursive_transfer_copies_everything_and_leaves_no_partial_files(dirs: dict[str, Path]) -> None:
    (dirs[A] / "scan" / "det").mkdir(parents=True)
    (dirs[A] / "scan" / "det" / "big.h5").write_bytes(os.urandom(3 * 1024 * 1024))
    (dirs[A] / "scan" / "info.txt").write_text("info")
    result = transfer(dirs, [{"source_path": "/scan/", "destination_path": "/~/copy/", "recursive": True}])
    assert result["status"] == "SUCCEEDED"
    details = result["details"]
    assert (details["files"], details["files_transferred"], details["files_skipped"]) == (2, 2, 0)
    assert details["bytes_transferred"] == 3 * 1024 * 1024 + 4 and details["verify_checksum"] is True
    assert tree(dirs[B] / "copy") == tree(dirs[A] / "scan")
    assert not [p for p in dirs[B].rglob("*") if ".palxfel-part-" in p.name]


@pytest.mark.parametrize(
    ("sync_level", "skipped"), [(None, 0), ("exists", 3), ("size", 2), ("mtime", 2), ("checksum", 1)]
)
def test_sync_levels_decide_what_is_skipped(dirs: dict[str, Path], sync_level: Any, skipped: int) -> None:
    (dirs[A] / "d").mkdir()
    (dirs[B] / "d").mkdir()
    for name, source, destination in (
        ("same", b"same", b"same"),
        ("size", b"longer", b"short"),
        ("content", b"abcd", b"abce"),
    ):
        (dirs[A] / "d" / name).write_bytes(source)
        (dirs[B] / "d" / name).write_bytes(destination)
        os.utime(dirs[A] / "d" / name, (1000, 1000))
        os.utime(dirs[B] / "d" / name, (1000 if name != "size" else 10, 1000 if name != "size" else 10))
    result = transfer(dirs, [{"source_path": "/d", "destination_path": "/d"}], sync_level=sync_level)
    assert result["details"]["files_skipped"] == skipped
    if sync_level == "checksum":
        assert tree(dirs[B]) == tree(dirs[A])


def test_preserve_timestamp_and_delete_destination_extra(dirs: dict[str, Path]) -> None:
    (dirs[A] / "d").mkdir()
    (dirs[A] / "d" / "keep").write_text("k")
    os.utime(dirs[A] / "d" / "keep", (1_600_000_000, 1_600_000_000))
    (dirs[B] / "d").mkdir()
    (dirs[B] / "d" / "stale").write_text("s")
    result = transfer(
        dirs,
        [{"source_path": "/d", "destination_path": "/d", "recursive": True}],
        preserve_timestamp=True,
        delete_destination_extra=True,
    )
    assert result["details"]["files_deleted"] == 1
    assert sorted(p.name for p in (dirs[B] / "d").iterdir()) == ["keep"]
    assert (dirs[B] / "d" / "keep").stat().st_mtime == 1_600_000_000


def test_a_missing_source_fails_the_task_with_a_fatal_error(dirs: dict[str, Path]) -> None:
    result = transfer(dirs, [{"source_path": "/nope", "destination_path": "/x"}])
    assert result["status"] == "FAILED"
    assert result["details"]["fatal_error"] == {
        "code": "FILE_NOT_FOUND",
        "description": "/nope does not exist on the source collection",
    }


@pytest.mark.parametrize("path", ["/../etc", "/a/../../x", "relative"])
def test_paths_leaving_a_collection_are_refused(dirs: dict[str, Path], path: str) -> None:
    with Engine(collections=dirs) as engine:
        document = run_action(engine, TRANSFER + "stat", {"endpoint_id": A, "path": path})
    assert document["details"]["failure"]["error"] == "ActionUnableToRun"


def test_a_link_leaving_the_collection_is_refused(dirs: dict[str, Path], tmp_path: Path) -> None:
    (dirs[A] / "out").symlink_to(tmp_path)
    with Engine(collections=dirs) as engine:
        document = run_action(engine, TRANSFER + "ls", {"endpoint_id": A, "path": "/out"})
    assert "leads outside the collection" in document["details"]["failure"]["cause"]


def test_an_unmapped_collection_says_how_to_map_it(dirs: dict[str, Path]) -> None:
    with Engine(collections=dirs) as engine:
        document = run_action(
            engine, TRANSFER + "mkdir", {"endpoint_id": "cccccccc-0000-4000-8000-000000000003", "path": "/x"}
        )
    assert "map it with --collection" in document["details"]["failure"]["cause"]


def test_ls_stat_mkdir_delete_collection_info_and_permissions(dirs: dict[str, Path]) -> None:
    (dirs[A] / "d").mkdir()
    for name in ("x", "y", ".hidden"):
        (dirs[A] / "d" / name).write_text(name)
    with Engine(collections=dirs) as engine:
        listing = act(TRANSFER + "ls", {"endpoint_id": A, "path": "/d", "limit": 2}, engine)["details"]
        assert (listing["total"], [entry["name"] for entry in listing["DATA"]]) == (3, [".hidden", "x"])
        assert act(TRANSFER + "stat", {"endpoint_id": A, "path": "/d/x"}, engine)["details"]["type"] == "file"
        assert act(TRANSFER + "stat", {"endpoint_id": A, "path": "/no"}, engine)["details"]["code"] == "NotFound"
        assert act(TRANSFER + "mkdir", {"endpoint_id": A, "path": "/~/new/deep"}, engine)["status"] == "SUCCEEDED"
        assert act(TRANSFER + "mkdir", {"endpoint_id": A, "path": "/new"}, engine)["status"] == "FAILED"
        deleted = act(TRANSFER + "delete", {"endpoint": A, "recursive": True, "DATA": [{"path": "/d"}]}, engine)
        assert deleted["details"]["files_deleted"] == 3 and not (dirs[A] / "d").exists()
        info = act(TRANSFER + "collection_info", {"endpoint_id": B}, engine)["details"]
        assert info["entity_type"] == "GCSv5_mapped_collection"
        permission = {
            "endpoint_id": A,
            "path": "/new/",
            "operation": "CREATE",
            "permissions": "r",
            "principal_type": "identity",
            "principal": "someone",
        }
        refused = act(TRANSFER + "manage_permission", permission, engine)
        assert (refused["status"], refused["details"]["code"]) == ("FAILED", "PermissionDenied")


def test_compute_v3_runs_tasks_in_parallel_and_v2_runs_one(dirs: dict[str, Path]) -> None:
    root = dirs[A]
    scan = root / "ue_251023_FXL" / "rawData" / "251023_a_00001_DIR"
    scan.mkdir(parents=True)
    (scan / "f").write_bytes(b"123")
    config = {"daq_root": str(root), "ledger": str(root / ".l"), "markers": [".done"], "routes": []}
    functions = {"eeeeeeee-0000-4000-8000-000000000005": FunctionRef(BUNDLED, "list_scans")}
    with Engine(functions=functions, endpoint_workers={ENDPOINT: 2}) as engine:
        task = {"function_id": "eeeeeeee-0000-4000-8000-000000000005", "kwargs": {"config": config}}
        v3 = act("https://compute.actions.globus.org/v3", {"endpoint_id": ENDPOINT, "tasks": [task, task]}, engine)
        v2 = act(
            "https://compute.actions.globus.org",
            {"endpoint": ENDPOINT, "function": task["function_id"], "kwargs": {"config": config}},
            engine,
        )
    for result in (v3, v2):
        assert result["status"] == "SUCCEEDED"
        assert result["details"]["results"][0]["output"]["scans"][0]["state"] == "incomplete"
    assert len(v3["details"]["result"]) == 2 and len(v2["details"]["result"]) == 1


def test_a_raising_compute_function_fails_the_action(tmp_path: Path) -> None:
    source = tmp_path / "boom.py"
    source.write_text("def boom():\n    raise RuntimeError('the detector is on fire')\n")
    function_id = "eeeeeeee-0000-4000-8000-000000000006"
    with Engine(functions={function_id: FunctionRef(str(source), "boom")}) as engine:
        document = run_action(
            engine,
            "https://compute.actions.globus.org/v3",
            {"endpoint_id": ENDPOINT, "tasks": [{"function_id": function_id}]},
            ExceptionOnActionFailure=True,
        )
    assert document["details"]["failure"]["error"] == "ActionFailedException"
    assert "RuntimeError: the detector is on fire" in document["details"]["failure"]["cause"]


def test_an_unregistered_function_is_action_unable_to_run() -> None:
    with Engine() as engine:
        document = run_action(
            engine, "https://compute.actions.globus.org/v3", {"endpoint_id": ENDPOINT, "tasks": [{"function_id": "f"}]}
        )
    assert "is not registered locally; pass --function" in document["details"]["failure"]["cause"]


def test_notification_is_recorded_with_its_variables_filled() -> None:
    with Engine() as engine:
        act(
            "https://actions.globus.org/notification/notify",
            {
                "destination": "dm@pal.xfel",
                "subject": "Backup",
                "body_template": "Shipped $count scans",
                "body_variables": {"count": 3},
                "send_credentials": [{}],
            },
            engine,
        )
        assert list(engine.records) == [
            ("notification", {"destination": "dm@pal.xfel", "subject": "Backup", "body": "Shipped 3 scans"})
        ]


@pytest.mark.parametrize("root", ["/", "/~", "/~/", "//"])
def test_a_delete_of_the_collection_root_is_refused_and_removes_nothing(dirs: dict[str, Path], root: str) -> None:
    (dirs[A] / "scan").mkdir()
    (dirs[A] / "scan" / "data.h5").write_bytes(b"data")
    with Engine(collections=dirs) as engine:
        run = run_action(engine, TRANSFER + "delete", {"endpoint": A, "recursive": True, "DATA": [{"path": root}]})
    assert run["status"] == "FAILED" and "it is the collection's own root" in run["details"]["description"]
    assert (dirs[A] / "scan" / "data.h5").read_bytes() == b"data"


def test_a_task_past_its_deadline_fails_and_copies_nothing(dirs: dict[str, Path]) -> None:
    (dirs[A] / "a.h5").write_bytes(b"a")
    item = [{"source_path": "/a.h5", "destination_path": "/a.h5"}]
    with Engine(collections=dirs) as engine:
        late = run_action(
            engine,
            TRANSFER + "transfer",
            {"source_endpoint": A, "destination_endpoint": B, "DATA": item, "deadline": "2020-01-01T00:00:00+00:00"},
        )
    result = late["details"]["output"]["r"]
    assert result["status"] == "FAILED" and result["details"]["fatal_error"]["code"] == "DEADLINE_EXCEEDED"
    assert not (dirs[B] / "a.h5").exists()
