"""find_completed_scans: what a tick ships, claims, and never touches."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import MS_COLLECTION, NOW, UE_COLLECTION, Daq

from palxfel_globus import functions


def scan_ids(result: dict) -> list[str]:
    return [f"{item['experiment']}/{item['scan']}" for item in result["scans"]]


def test_inner_and_sibling_markers_make_a_scan_complete_and_incomplete_scans_are_never_listed(daq: Daq) -> None:
    daq.scan(number=1, marker="inner")
    daq.scan(number=2, marker="sibling")
    daq.scan(number=3, marker=None)
    result = daq.find()
    assert scan_ids(result) == ["ue_251023_FXL/251023_alignment_00001_DIR", "ue_251023_FXL/251023_alignment_00002_DIR"]
    assert daq.states()["ue_251023_FXL/251023_alignment_00003_DIR"] == "incomplete"


def test_items_carry_sizes_and_groups_carry_the_routed_roots(daq: Daq) -> None:
    daq.scan("ue_251023_FXL", "alignment", 1, file_bytes=1000)
    daq.scan("ms_251101_빔정렬", "빔 정렬", 7, file_bytes=10)
    result = daq.find()
    ue, ms = result["scans"]
    assert (ue["files"], ue["bytes"], ue["kind"], ue["route"]) == (5, 4000, "ue", 0)
    assert (ms["files"], ms["bytes"], ms["kind"], ms["route"]) == (5, 40, "ms", 1)
    assert result["lease_expires"] == "2027-01-15T09:00:00+00:00"
    assert (result["count"], result["bytes"], result["more"]) == (2, 4040, False)
    assert result["groups"] == [
        {
            "route": 0,
            "destination": 0,
            "release": False,
            "destination_collection": UE_COLLECTION,
            "source_root": "/~/dat",
            "base_path": "/backup/ue",
            "manifest_root": "/~/dat/.palxfel-backup/manifests",
            "verify_endpoint": None,
            "verify_root": None,
            "label": "palxfel-globus 1 scan 251023_alignment_00001_DIR",
            "scans": [{"experiment": "ue_251023_FXL", "scan": "251023_alignment_00001_DIR"}],
            "probe": None,
            "probe_experiments": [],
        },
        {
            "route": 1,
            "destination": 0,
            "release": False,
            "destination_collection": MS_COLLECTION,
            "source_root": "/~/dat",
            "base_path": "/~/ms",
            "manifest_root": "/~/dat/.palxfel-backup/manifests",
            "verify_endpoint": None,
            "verify_root": None,
            "label": "palxfel-globus 1 scan 251101_-_00007_DIR",
            "scans": [{"experiment": "ms_251101_빔정렬", "scan": "251101_빔 정렬_00007_DIR"}],
            "probe": None,
            "probe_experiments": [],
        },
    ]


def test_the_flow_plans_the_same_paths_as_the_layout_mapping(daq: Daq) -> None:
    """The Transfer items the flow builds from a group equal what _layout's path mapping says."""
    import json

    from palxfel_globus.engine.expressions import evaluate
    from palxfel_globus.resources import data_dir

    scan_dir = daq.scan("ms_251101_빔정렬", "빔 정렬", 7)
    group = daq.find()["groups"][0]
    plan = json.loads((data_dir("flow_definitions") / "scan_backup.json").read_text("utf-8"))["States"]["PlanGroup"]
    state = {"work": {"group": group, "scans": group["scans"]}, "functions": {"verify_scan": "F"}}
    data = evaluate(plan["Parameters"]["DATA.="], state, {})
    layout = functions.layout()
    route = daq.config["routes"][1]
    scan = scan_dir.name
    assert data == [
        {
            "source_path": layout.to_collection_path(str(daq.root), "/~/dat", str(scan_dir)) + "/",
            "destination_path": layout.destination_path(route, "ms_251101_빔정렬", scan),
            "recursive": True,
        },
        {
            "source_path": f"/~/dat/.palxfel-backup/manifests/ms_251101_빔정렬/{scan}.json",
            "destination_path": f"/~/ms/ms_251101_빔정렬/rawData/{scan}.manifest.json",
            "recursive": False,
        },
    ]
    tasks = evaluate(plan["Parameters"]["verify_tasks.="], state, {})
    assert tasks == [
        {
            "function_id": "F",
            "kwargs": {
                "root": None,
                "scan_path": f"ms_251101_빔정렬/rawData/{scan}",
                "manifest_path": f"ms_251101_빔정렬/rawData/{scan}.manifest.json",
            },
        }
    ]


def test_a_claimed_scan_is_not_offered_to_another_run_until_its_lease_expires(daq: Daq) -> None:
    daq.scan()
    assert len(daq.find("run-1")["scans"]) == 1
    assert daq.find("run-2", now=NOW + 3599)["scans"] == []
    assert daq.states()["ue_251023_FXL/251023_alignment_00001_DIR"] == "claimed"
    taken_over = daq.find("run-3", now=NOW + 3601)
    assert scan_ids(taken_over) == ["ue_251023_FXL/251023_alignment_00001_DIR"]
    assert taken_over["scans"][0]["claim_gen"] == 2


def test_shipped_quarantined_and_backing_off_scans_are_skipped(daq: Daq) -> None:
    for number in (1, 2, 3):
        daq.scan(number=number)
    daq.find("run-1")
    daq.ship("ue_251023_FXL", "251023_alignment_00001_DIR")
    failure = {"experiment": "ue_251023_FXL", "error": "transfer failed"}
    daq.call("record_outcome", run_id="run-1", now=NOW, outcomes=[{**failure, "scan": "251023_alignment_00002_DIR"}])
    for _attempt in range(3):
        daq.call(
            "record_outcome", run_id="run-1", now=NOW, outcomes=[{**failure, "scan": "251023_alignment_00003_DIR"}]
        )
    assert daq.states() == {
        "ue_251023_FXL/251023_alignment_00001_DIR": "shipped",
        "ue_251023_FXL/251023_alignment_00002_DIR": "failed",
        "ue_251023_FXL/251023_alignment_00003_DIR": "quarantined",
    }
    assert daq.find("run-2", now=NOW + 59)["scans"] == []
    assert scan_ids(daq.find("run-2", now=NOW + 61)) == ["ue_251023_FXL/251023_alignment_00002_DIR"]


def test_max_scans_and_max_bytes_bound_a_run_and_say_there_is_more(daq: Daq) -> None:
    for number in range(1, 7):
        daq.scan(number=number, file_bytes=1000)
    assert scan_ids(daq.find("a", max_scans=2)) == [
        "ue_251023_FXL/251023_alignment_00001_DIR",
        "ue_251023_FXL/251023_alignment_00002_DIR",
    ]
    bounded = daq.find("b", max_bytes=8000)
    assert (bounded["count"], bounded["bytes"], bounded["more"]) == (2, 8000, True)
    alone = daq.find("c", max_bytes=10)
    assert (alone["count"], alone["more"]) == (1, True), "a scan larger than max_bytes still ships, alone"


def test_scans_of_an_experiment_no_route_matches_are_reported_not_shipped(daq: Daq) -> None:
    daq.scan("xx_251023_test")
    result = daq.find()
    assert result["scans"] == []
    assert result["unrouted"] == ["xx_251023_test/251023_alignment_00001_DIR"]
    assert daq.states()["xx_251023_test/251023_alignment_00001_DIR"] == "unrouted"


def test_odd_names_with_spaces_and_korean_text_are_found(daq: Daq) -> None:
    daq.scan("ue_251023_빔 라인 #3", "빔 정렬 (retry)", 12)
    assert scan_ids(daq.find()) == ["ue_251023_빔 라인 #3/251023_빔 정렬 (retry)_00012_DIR"]


def test_links_leaving_the_root_are_refused_and_never_followed(daq: Daq, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not DAQ data")
    (daq.root / "ue_251023_LINKED").symlink_to(outside)
    scan = daq.scan(number=1)
    (scan / "PulseInfo" / "escape").symlink_to(outside / "secret")
    raw = daq.root / "ue_251023_FXL" / "rawData"
    (raw / "251023_alignment_00002_DIR").symlink_to(outside)
    (raw / "251023_alignment_00002_DIR.done").touch()
    result = daq.find()
    assert result["scans"] == []
    problems = "\n".join(result["problems"])
    assert "ue_251023_LINKED is a symbolic link" in problems
    assert "251023_alignment_00002_DIR is a symbolic link" in problems
    assert result["blocked"] == [
        {
            "scan": f"ue_251023_FXL/{scan.name}",
            "reason": "PulseInfo/escape leaves the DAQ root; Globus Transfer does not follow links inside a "
            "directory, so replace it with the file itself or remove it",
        }
    ]


def test_a_link_inside_a_scan_blocks_it_because_globus_would_ship_the_scan_without_it(daq: Daq) -> None:
    """Globus Transfer follows a link given as the item itself, but no link inside a directory
    (globus-cli's transfer reference): the copy would lack the file, so the scan is blocked until
    the link is replaced, and ships by itself after that."""
    scan = daq.scan(number=1, file_bytes=10)
    alias = scan / "ScanInfo" / "alias.h5"
    alias.symlink_to(scan / "PulseInfo" / "pulseinfo_00001.h5")
    result = daq.find()
    assert result["scans"] == [] and "ScanInfo/alias.h5 is a symbolic link" in result["blocked"][0]["reason"]
    assert "1 blocked: ue_251023_FXL/" in result["notes"]
    assert daq.states() == {f"ue_251023_FXL/{scan.name}": "blocked"}
    alias.unlink()
    item = daq.find("run-2")["scans"][0]
    assert item["files"] == 5 and daq.states()[f"ue_251023_FXL/{scan.name}"] == "claimed"


def test_unreadable_directories_are_reported_and_skipped(daq: Daq, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root here, so permission bits alone would not stop a read: fail it instead."""
    daq.scan("ue_251023_FXL", number=1)
    daq.scan("ue_251024_LOCKED", number=1)
    locked = str(daq.root / "ue_251024_LOCKED" / "rawData")
    real_scandir = os.scandir

    def scandir(path: str = ".") -> object:
        if str(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = daq.find()
    assert scan_ids(result) == ["ue_251023_FXL/251023_alignment_00001_DIR"]
    assert result["problems"] == [f"Cannot read {locked} (Permission denied); its scans are skipped."]


def test_quiet_period_completes_a_scan_only_where_configured(daq: Daq) -> None:
    scan = daq.scan(number=1, marker=None)
    old = NOW - 1000
    for path in [scan, *scan.rglob("*")]:
        os.utime(path, (old, old))
    assert daq.find("a")["scans"] == []
    assert scan_ids(daq.find("b", quiet_seconds=900)) == ["ue_251023_FXL/251023_alignment_00001_DIR"]
    fresh = daq.scan(number=2, marker=None)
    os.utime(fresh / "PulseInfo" / "pulseinfo_00002.h5", (NOW - 10, NOW - 10))
    assert daq.find("c", quiet_seconds=900)["scans"] == []


def spy_on_listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every directory the code lists from now on (until monkeypatch.undo)."""
    listed: list[str] = []
    real_scandir = os.scandir

    def scandir(path: str = ".") -> object:
        listed.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return listed


def test_it_never_reads_inside_scans_it_does_not_return(daq: Daq, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cost grows with new scans: shipped and incomplete scans are not walked."""
    for number in (1, 2):
        daq.scan(number=number)
    daq.find("run-1")
    daq.ship("ue_251023_FXL", "251023_alignment_00001_DIR")
    daq.ship("ue_251023_FXL", "251023_alignment_00002_DIR")
    daq.scan(number=3, marker=None)
    daq.scan(number=4)
    walked = spy_on_listings(monkeypatch)
    assert scan_ids(daq.find("run-2")) == ["ue_251023_FXL/251023_alignment_00004_DIR"]
    inside = sorted(
        {Path(p).relative_to(daq.root / "ue_251023_FXL" / "rawData").parts[0] for p in walked if "/rawData/" in p}
    )
    assert inside == ["251023_alignment_00004_DIR"]


def _claim_all(root: str, run_id: str) -> list[str]:
    daq = Daq(Path(root))
    return scan_ids(daq.find(run_id))


def test_racing_claimers_in_threads_never_get_the_same_scan(daq: Daq) -> None:
    for number in range(1, 31):
        daq.scan(number=number, file_bytes=10)
    barrier = threading.Barrier(8)

    def claim(run_id: str) -> list[str]:
        barrier.wait()
        return _claim_all(str(daq.root), run_id)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, [f"run-{n}" for n in range(8)]))
    claimed = [scan for result in results for scan in result]
    assert len(claimed) == len(set(claimed)) == 30


def test_racing_claimers_in_processes_never_get_the_same_scan(daq: Daq) -> None:
    for number in range(1, 41):
        daq.scan(number=number, file_bytes=10)
    with concurrent.futures.ProcessPoolExecutor(4) as pool:
        results = list(pool.map(_claim_all, [str(daq.root)] * 8, [f"run-{n}" for n in range(8)]))
    claimed = [scan for result in results for scan in result]
    assert len(claimed) == len(set(claimed)) == 40


def test_racing_takeovers_of_an_expired_claim_have_one_winner(daq: Daq) -> None:
    daq.scan()
    daq.find("crashed-run")
    later = NOW + 7200
    barrier = threading.Barrier(8)

    def take_over(run_id: str) -> int:
        barrier.wait()
        return Daq(daq.root).find(run_id, now=later)["count"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(take_over, [f"run-{n}" for n in range(8)])) == 1


def test_a_missing_or_relative_daq_root_is_one_clear_refusal(daq: Daq) -> None:
    find = functions.load("find_completed_scans")
    for root, message in (("relative/dat", "not an absolute path"), ("/no/such/dat", "does not exist")):
        with pytest.raises(Exception, match=message) as caught:
            find(config={**daq.config, "daq_root": root}, run_id="r")
        assert type(caught.value).__name__ == "DaqError"


def settle(*paths: Path) -> None:
    """Make directories look long unchanged (the cache trusts only settled stamps)."""
    for path in paths:
        os.utime(path, (NOW - 3600, NOW - 3600))


def test_a_fully_shipped_experiment_is_not_listed_again_until_it_changes(
    daq: Daq, monkeypatch: pytest.MonkeyPatch
) -> None:
    daq.scan(number=1)
    daq.find("run-1")
    daq.ship("ue_251023_FXL", "251023_alignment_00001_DIR")
    raw = daq.root / "ue_251023_FXL" / "rawData"
    settle(raw)
    daq.find("run-2")
    listed = spy_on_listings(monkeypatch)
    assert daq.find("run-3")["count"] == 0
    assert str(raw) not in listed, "a finished experiment costs two stats, not a listing"
    monkeypatch.undo()
    daq.scan(number=2)
    assert [item["scan"] for item in daq.find("run-4")["scans"]] == ["251023_alignment_00002_DIR"]


def test_many_finished_experiments_are_checked_by_stamp_alone_and_a_new_scan_in_any_is_found(
    daq: Daq, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enough experiments that their stamps are read on several threads."""
    experiments = [f"ue_2510{day:02d}_E{number:02d}" for number in range(40) for day in [number % 28 + 1]]
    for experiment in experiments:
        daq.scan(experiment=experiment, number=1)
    daq.find("run-1")
    for experiment in experiments:
        daq.ship(experiment, f"{experiment.split('_')[1]}_alignment_00001_DIR")
        settle(daq.root / experiment / "rawData")
    daq.find("run-2")
    listed = spy_on_listings(monkeypatch)
    assert daq.find("run-3")["count"] == 0
    assert not [path for path in listed if path.endswith("rawData")], "no finished experiment is listed"
    monkeypatch.undo()
    daq.scan(experiment=experiments[37], number=2)
    assert [(item["experiment"], item["scan"]) for item in daq.find("run-4")["scans"]] == [
        (experiments[37], f"{experiments[37].split('_')[1]}_alignment_00002_DIR")
    ]


def test_forgetting_a_scan_of_a_finished_experiment_ships_it_again(daq: Daq) -> None:
    daq.scan(number=1)
    daq.find("run-1")
    daq.ship("ue_251023_FXL", "251023_alignment_00001_DIR")
    settle(daq.root / "ue_251023_FXL" / "rawData")
    assert daq.find("run-2")["count"] == 0
    daq.call("manage_scan", scan_id="251023_alignment_00001_DIR", action="forget", now=NOW)
    assert daq.find("run-3")["count"] == 1


def stats_of_raw_data(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every rawData directory the code stats from now on (until monkeypatch.undo)."""
    statted: list[str] = []
    real_stat = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("rawData"):
            statted.append(str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    return statted


def test_dormant_experiments_are_looked_at_in_turn_and_a_scan_arriving_in_one_is_still_found(
    daq: Daq, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: a steady tick costs the same over ten times the archive. Experiments all shipped and
    untouched for a week are statted a chunk (64) a tick, in turn; the others every tick."""
    experiments = [
        f"ue_25{month:02d}{day:02d}_E{number:03d}"
        for number in range(150)
        for month, day in [(number // 28 % 12 + 1, number % 28 + 1)]
    ]
    for experiment in experiments:
        daq.scan(experiment=experiment, number=1)
    daq.find("run-1")
    for experiment in experiments:
        daq.ship(experiment, f"{experiment.split('_')[1]}_alignment_00001_DIR")
        os.utime(daq.root / experiment / "rawData", (NOW - 8 * 86400, NOW - 8 * 86400))
    settle(daq.root)
    daq.find("run-2")  # lists the root, learns every experiment is shipped and dormant
    statted = stats_of_raw_data(monkeypatch)
    listed = spy_on_listings(monkeypatch)
    assert daq.find("run-3")["count"] == 0
    assert len(statted) == 64 and str(daq.root) not in listed, "one chunk of dormant experiments, no root listing"
    monkeypatch.undo()
    late = experiments[100]
    daq.scan(experiment=late, number=2)  # its rawData changes now, the root does not
    found = []
    for tick in range(4, 7):  # three chunks: 64, 64, 22
        found += [(item["experiment"], item["scan"]) for item in daq.find(f"run-{tick}")["scans"]]
    assert found == [(late, f"{late.split('_')[1]}_alignment_00002_DIR")]
    new = "ue_261231_NEW"
    daq.scan(experiment=new, number=1)
    os.utime(daq.root, (NOW - 1800, NOW - 1800))  # the root changed (settled since)
    assert [item["experiment"] for item in daq.find("run-7")["scans"]] == [new], "a new experiment is found at once"
