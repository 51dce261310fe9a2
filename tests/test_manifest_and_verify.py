"""build_manifest and verify_scan: a copy either matches byte for byte or says which file differs."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import Daq

from palxfel_globus import functions

EXPERIMENT = "ue_251023_FXL"
SCAN = "251023_alignment_00001_DIR"


@pytest.fixture
def copied(daq: Daq, tmp_path: Path) -> Path:
    """A manifest in the ledger and a faithful copy of the scan under another root."""
    scan = daq.scan(file_bytes=5000)
    daq.call("build_manifest", experiment=EXPERIMENT, scan=SCAN)
    destination = tmp_path / "backup"
    shutil.copytree(scan, destination / EXPERIMENT / "rawData" / SCAN)
    return destination


def test_the_manifest_lists_every_file_with_size_and_sha256_and_stays_in_the_ledger(daq: Daq) -> None:
    scan = daq.scan(file_bytes=5000)
    summary = daq.call("build_manifest", experiment=EXPERIMENT, scan=SCAN)
    manifest_file = daq.ledger / "manifests" / EXPERIMENT / f"{SCAN}.json"
    manifest = json.loads(manifest_file.read_text("utf-8"))
    expected = {
        str(path.relative_to(scan)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in scan.rglob("*")
        if path.is_file()
    }
    assert {entry["path"]: entry["digest"] for entry in manifest["files"]} == expected
    assert summary["manifest_digest"] == hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    assert (summary["files"], summary["bytes"], manifest["algorithm"]) == (5, 20000, "sha256")
    assert not any(isinstance(value, (list, dict)) for value in summary.values()), "the run state gets counts only"


def test_the_algorithm_is_selectable_and_unknown_ones_are_refused(daq: Daq) -> None:
    scan = daq.scan(file_bytes=100)
    daq.call("build_manifest", experiment=EXPERIMENT, scan=SCAN, algorithm="MD5")
    manifest = json.loads((daq.ledger / "manifests" / EXPERIMENT / f"{SCAN}.json").read_text("utf-8"))
    first = manifest["files"][0]
    assert first["digest"] == hashlib.md5((scan / first["path"]).read_bytes()).hexdigest()
    with pytest.raises(Exception, match="not supported; use one of sha256"):
        daq.call("build_manifest", experiment=EXPERIMENT, scan=SCAN, algorithm="crc64")


def test_files_larger_than_one_read_are_hashed_whole(daq: Daq) -> None:
    scan = daq.scan(file_bytes=10)
    big = scan / "detector1" / "big.h5"
    big.write_bytes(bytes(range(256)) * (3 * 8 * 1024 * 1024 // 256 + 7))
    daq.call("build_manifest", experiment=EXPERIMENT, scan=SCAN, workers=2)
    manifest = json.loads((daq.ledger / "manifests" / EXPERIMENT / f"{SCAN}.json").read_text("utf-8"))
    entry = next(entry for entry in manifest["files"] if entry["path"] == "detector1/big.h5")
    assert entry["digest"] == hashlib.sha256(big.read_bytes()).hexdigest()


def test_a_faithful_copy_verifies(daq: Daq, copied: Path) -> None:
    result = daq.verify_at(copied, EXPERIMENT, SCAN)
    assert result["ok"] is True
    assert (result["files_checked"], result["bytes_checked"]) == (5, 20000)
    assert result["summary"] == "all 5 files match"


def test_a_flipped_byte_is_a_checksum_mismatch(daq: Daq, copied: Path) -> None:
    target = copied / EXPERIMENT / "rawData" / SCAN / "detector1" / "detector1_00001.h5"
    data = bytearray(target.read_bytes())
    data[1234] ^= 0x01
    target.write_bytes(bytes(data))
    result = daq.verify_at(copied, EXPERIMENT, SCAN)
    assert result["ok"] is False
    assert [entry["path"] for entry in result["digest_mismatch"]] == ["detector1/detector1_00001.h5"]
    assert result["summary"] == "detector1/detector1_00001.h5 (checksum differs)"


def test_a_truncated_file_is_a_size_mismatch(daq: Daq, copied: Path) -> None:
    target = copied / EXPERIMENT / "rawData" / SCAN / "PulseInfo" / "pulseinfo_00001.h5"
    target.write_bytes(target.read_bytes()[:100])
    result = daq.verify_at(copied, EXPERIMENT, SCAN)
    assert result["size_mismatch"] == [{"path": "PulseInfo/pulseinfo_00001.h5", "expected": 5000, "actual": 100}]
    assert result["ok"] is False


def test_missing_and_extra_files_are_named(daq: Daq, copied: Path) -> None:
    scan_copy = copied / EXPERIMENT / "rawData" / SCAN
    (scan_copy / "ScanInfo" / "scaninfo_00001.h5").unlink()
    (scan_copy / "ScanInfo" / "stray.tmp").write_text("x")
    result = daq.verify_at(copied, EXPERIMENT, SCAN)
    assert (result["missing"], result["extra"]) == (["ScanInfo/scaninfo_00001.h5"], ["ScanInfo/stray.tmp"])
    assert result["problem_count"] == 2


def test_a_scan_that_never_arrived_is_all_missing(daq: Daq, tmp_path: Path) -> None:
    daq.scan()
    daq.call("build_manifest", experiment=EXPERIMENT, scan=SCAN)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = daq.verify_at(empty, EXPERIMENT, SCAN)
    assert result["ok"] is False and len(result["missing"]) == 5


def test_verify_reads_a_shipped_manifest_and_refuses_paths_leaving_its_root(daq: Daq, copied: Path) -> None:
    manifest_file = daq.ledger / "manifests" / EXPERIMENT / f"{SCAN}.json"
    shutil.copy(manifest_file, copied / EXPERIMENT / "rawData" / f"{SCAN}.manifest.json")
    verify = functions.load("verify_scan")
    result = verify(
        root=str(copied),
        scan_path=f"{EXPERIMENT}/rawData/{SCAN}",
        manifest_path=f"{EXPERIMENT}/rawData/{SCAN}.manifest.json",
    )
    assert result["ok"] and result["manifest_digest"] == hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    for scan_path in ("../etc", f"{EXPERIMENT}/../../x"):
        manifest_path = f"{EXPERIMENT}/rawData/{SCAN}.manifest.json"
        refused = verify(root=str(copied), scan_path=scan_path, manifest_path=manifest_path)
        assert not refused["ok"] and "is not a plain name" in refused["summary"], "refused, as that scan's outcome"


def test_long_difference_lists_are_capped_for_the_run_state(daq: Daq, copied: Path) -> None:
    scan_copy = copied / EXPERIMENT / "rawData" / SCAN
    for number in range(60):
        (scan_copy / f"extra_{number:02d}").write_text("x")
    result = daq.verify_at(copied, EXPERIMENT, SCAN)
    assert len(result["extra"]) == 20 and result["problem_count"] == 60
    assert result["summary"].endswith("and 55 more")
