"""The engine and ``flow validate`` on flows nobody here wrote (tests/data/public_flows, sources in its
README): what the States Language allows in a path is accepted (a slice, ``$.input.Hellos[1:]``), an
action URL the service retired is refused naming its replacement, one no local provider runs is named,
and the Compute forms real clients use (the v2 ``tasks`` list, ``/fxap``, v3) run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from palxfel_globus.engine import Engine, FunctionRef, validate

DATA = Path(__file__).parent / "data"
FLOWS = DATA / "public_flows"
FUNCTIONS = DATA / "functions" / "public_flow_functions.py"
ENDPOINT = "dddddddd-0000-4000-8000-000000000004"
FUNCTION = "eeeeeeee-0000-4000-8000-000000000005"
COLLECTION = "aaaaaaaa-0000-4000-8000-000000000001"
DESTINATION = "bbbbbbbb-0000-4000-8000-000000000002"
HELLO_WORLD = "https://actions.globus.org/hello_world"  # the Hello World provider's documented URL


def public(name: str) -> dict[str, Any]:
    return json.loads((FLOWS / f"{name}.json").read_text("utf-8"))


def findings(name: str) -> tuple[list[str], list[str]]:
    """(errors, warnings about action URLs) of ``flow validate`` for a public flow."""
    found = validate(public(name))
    errors = [str(finding) for finding in found if not finding.warning]
    return errors, [str(finding) for finding in found if finding.unresolved]


@pytest.mark.parametrize(
    ("name", "errors", "unrunnable"),
    [
        ("automate_complex_hello_world", [], ["RunHelloWorld"]),
        ("automate_loop_with_batch_processing", ["ls"], []),
        ("gladier_fs_list_flow", [], []),
        ("als_tomopy_reconstruction", [], []),
        ("flows_examples_compute_transfer_1", [], []),
    ],
)
def test_validate_accepts_what_the_service_accepts_and_names_every_url_it_retired_or_this_engine_cannot_run(
    name: str, errors: list[str], unrunnable: list[str]
) -> None:
    found_errors, found_unrunnable = findings(name)
    assert [error.split(":")[0] for error in found_errors] == errors
    assert [warning.split(":")[0] for warning in found_unrunnable] == unrunnable


def test_the_retired_transfer_url_is_named_with_its_replacement() -> None:
    (error,), _ = findings("automate_loop_with_batch_processing")
    assert "https://actions.globus.org/transfer/ls was retired on 2025-01-22" in error
    assert "use https://transfer.actions.globus.org/ls" in error


def test_the_hello_world_loop_consumes_its_list_through_a_slice_path() -> None:
    """The one change: the Hello World provider's documented URL for the old host no local provider answers."""
    definition = public("automate_complex_hello_world")
    definition["States"]["RunHelloWorld"]["ActionUrl"] = HELLO_WORLD
    with Engine() as engine:
        run = engine.run(definition, {"input": {"Hellos": ["one", "two", "three"]}})
    assert run["status"] == "SUCCEEDED", run["details"]
    output = run["details"]["output"]
    assert (output["input"]["Hellos"], output["HelloOutput"]["details"]["echo_string"]) == ([], "three")
    assert output["FinalPass"] == {"Completed": "Successfully"}
    started = [entry for entry in run["log"] if entry["code"] == "ActionStarted"]
    assert len(started) == 6, "three Hello World and three expression actions"


def test_gladier_s_v2_tasks_form_runs_its_function_with_the_payload(tmp_path: Path) -> None:
    (tmp_path / "scan 1").mkdir()
    (tmp_path / "notes.txt").write_text("n")
    functions = {FUNCTION: FunctionRef(str(FUNCTIONS), "ls")}
    body = {"input": {"compute_endpoint": ENDPOINT, "ls_function_id": FUNCTION, "dir": str(tmp_path)}}
    with Engine(functions=functions) as engine:
        run = engine.run(public("gladier_fs_list_flow"), body)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"]["Ls"]["details"]["result"] == [["notes.txt", "scan 1"]]


def test_als_reconstruction_runs_through_fxap(tmp_path: Path) -> None:
    functions = {FUNCTION: FunctionRef(str(FUNCTIONS), "reconstruction_wrapper")}
    kwargs = {"rundir": str(tmp_path), "h5_file_name": "scan.h5", "folder_path": "bl832/raw"}
    body = {
        "input": {"compute_endpoint_id": ENDPOINT, "compute_function_id": FUNCTION, "compute_function_kwargs": kwargs}
    }
    with Engine(functions=functions) as engine:
        run = engine.run(public("als_tomopy_reconstruction"), body)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert run["details"]["output"]["ReconstructionOutput"]["details"]["results"][0]["output"].startswith(
        "Reconstructed"
    )
    assert (tmp_path / "reconstructed.txt").read_text() == "bl832/raw/scan.h5"


def test_the_official_compute_then_transfer_example_stages_ships_and_cleans_up(tmp_path: Path) -> None:
    """Its README asks for your endpoint, collection and function ids in SetConstants; the test inserts
    them, and maps the collection's root to its directory (compute_transform_to), nothing else."""
    collections = {COLLECTION: tmp_path / "gcs", DESTINATION: tmp_path / "destination"}
    for directory in collections.values():
        directory.mkdir()
    (collections[COLLECTION] / "raw.dat").write_bytes(b"raw")
    definition = public("flows_examples_compute_transfer_1")
    constants = definition["States"]["SetConstants"]["Parameters"]
    constants.update(
        gcs_endpoint_id=COLLECTION,
        compute_endpoint_id=ENDPOINT,
        compute_func_id=FUNCTION,
        compute_transform_to=str(collections[COLLECTION]) + "/",
    )
    body = {"source_path": ["/raw.dat"], "destination_endpoint_id": DESTINATION, "destination_path": "/shipped/"}
    functions = {FUNCTION: FunctionRef(str(FUNCTIONS), "stage")}
    with Engine(collections=collections, functions=functions) as engine:
        run = engine.run(definition, body)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert (collections[DESTINATION] / "shipped" / "raw.dat").read_bytes() == b"raw"
    assert sorted(path.name for path in collections[COLLECTION].iterdir()) == ["raw.dat"], "the working dir went"
