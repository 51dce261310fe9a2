"""The DAQ layout rules: names, completion, confinement, routing and path mapping."""

from __future__ import annotations

import os
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests_support import NAME_CHARS

from palxfel_globus import functions

layout = functions.layout()


def test_experiment_and_scan_names_parse_into_their_parts() -> None:
    assert layout.parse_experiment_name("ue_251023_FXL") == {
        "experiment": "ue_251023_FXL",
        "kind": "ue",
        "date": "2025-10-23",
        "tag": "FXL",
    }
    assert layout.parse_scan_name("251023_pump probe_00003_DIR") == {
        "scan": "251023_pump probe_00003_DIR",
        "date": "2025-10-23",
        "name": "pump probe",
        "number": 3,
    }


@pytest.mark.parametrize(
    "name",
    ["ue_251023", "UE_251023_FXL", "ue_251323_FXL", "ue_2510231_FXL", "ue_251023_", "..", "ue_251023_a/b", "dat"],
)
def test_names_that_are_not_experiments_are_refused(name: str) -> None:
    assert layout.parse_experiment_name(name) is None


@pytest.mark.parametrize(
    "name", ["251023_x_0001_DIR", "251023_x_00001", "251023__00001_DIR", "251023_x_00001_DIR.done", "x_00001_DIR"]
)
def test_names_that_are_not_scans_are_refused(name: str) -> None:
    assert layout.parse_scan_name(name) is None


dates = st.dates(min_value=__import__("datetime").date(2000, 1, 1), max_value=__import__("datetime").date(2099, 12, 31))
labels = st.text(alphabet=NAME_CHARS, min_size=1, max_size=30)


@given(kind=st.sampled_from(["ue", "ms", "xx"]), date=dates, tag=labels)
def test_any_experiment_name_round_trips(kind: str, date, tag: str) -> None:  # type: ignore[no-untyped-def]
    name = f"{kind}_{date:%y%m%d}_{tag}"
    parsed = layout.parse_experiment_name(name)
    assert parsed is not None
    assert (parsed["kind"], parsed["date"], parsed["tag"]) == (kind, date.isoformat(), tag)


@given(date=dates, label=labels, number=st.integers(0, 99999))
def test_any_scan_name_round_trips(date, label: str, number: int) -> None:  # type: ignore[no-untyped-def]
    name = f"{date:%y%m%d}_{label}_{number:05d}_DIR"
    parsed = layout.parse_scan_name(name)
    assert parsed is not None
    assert (parsed["date"], parsed["name"], parsed["number"]) == (date.isoformat(), label, number)


collection_roots = st.sampled_from(["/", "/~/", "/~/dat", "/dat", "/xfel/ffs/dat/"])


@given(collection_root=collection_roots, experiment=labels, label=labels, base=st.sampled_from(["/backup", "/~/b/"]))
def test_path_mapping_round_trips_and_stays_under_its_roots(
    collection_root: str, experiment: str, label: str, base: str
) -> None:
    scan = f"251023_{label}_00001_DIR"
    daq_root = "/xfel/ffs/dat"
    fs_path = os.path.join(daq_root, "ue_251023_" + experiment, "rawData", scan)
    collection_path = layout.to_collection_path(daq_root, collection_root, fs_path)
    assert collection_path.startswith(collection_root.rstrip("/") + "/")
    assert collection_path.endswith("/ue_251023_" + experiment + "/rawData/" + scan)
    assert layout.from_collection_path(daq_root, collection_root, collection_path) == fs_path
    destination = layout.destination_path({"base_path": base}, "ue_251023_" + experiment, scan)
    assert destination == base.rstrip("/") + "/ue_251023_" + experiment + "/rawData/" + scan + "/"
    assert posixpath.normpath(destination).startswith(base.rstrip("/") + "/")


def test_collection_root_maps_the_daq_root_itself() -> None:
    assert layout.to_collection_path("/xfel/ffs/dat", "/~/dat", "/xfel/ffs/dat") == "/~/dat"
    assert layout.to_collection_path("/xfel/ffs/dat", "/", "/xfel/ffs/dat/x") == "/x"


@pytest.mark.parametrize("path", ["/~/dat/../etc", "/~/data/x", "/etc/passwd", "/~/dat/./x"])
def test_collection_paths_outside_the_root_or_with_dot_parts_are_refused(path: str) -> None:
    with pytest.raises(layout.DaqError):
        layout.from_collection_path("/xfel/ffs/dat", "/~/dat", path)


def test_filesystem_paths_outside_the_root_are_refused() -> None:
    with pytest.raises(layout.DaqError, match="not under the DAQ root"):
        layout.to_collection_path("/xfel/ffs/dat", "/~/dat", "/xfel/ffs/data/x")


@pytest.mark.parametrize("part", ["..", ".", "a/b", "", "a\x00b"])
def test_confined_refuses_anything_but_plain_names(tmp_path, part: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(layout.DaqError, match="not a plain name"):
        layout.confined(str(tmp_path), part)


def test_confined_refuses_a_link_that_leaves_the_root(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to(tmp_path)
    with pytest.raises(layout.DaqError, match="outside the root"):
        layout.confined(str(root), "escape")


def test_routes_take_the_first_matching_glob() -> None:
    routes = [{"match": "ue_*", "id": 1}, {"match": "*", "id": 2}]
    assert layout.route_for("ue_251023_FXL", routes)["id"] == 1
    assert layout.route_for("ms_251101_x", routes)["id"] == 2
    assert layout.route_for("ms_251101_x", routes[:1]) is None


def test_scan_ids_are_checked_before_any_path_is_built() -> None:
    assert layout.split_scan_id("ue_251023_FXL/251023_a_00001_DIR") == ("ue_251023_FXL", "251023_a_00001_DIR")
    assert layout.split_scan_id("251023_a_00001_DIR") == (None, "251023_a_00001_DIR")
    for bad in ("../251023_a_00001_DIR", "x/y/251023_a_00001_DIR", "ue_251023_FXL/..", "nope"):
        with pytest.raises(layout.DaqError):
            layout.split_scan_id(bad)
