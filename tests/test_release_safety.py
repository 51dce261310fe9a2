"""Issue 24: releasing DAQ space never loses the last good copy, and no odd scan stops a run.

Every test runs the scan_backup flow on the local engine over two routes of two destinations each (ue_*: the
facility backup verified by Transfer and an archive verified on its own Compute endpoint; ms_*: a backup verified
on its Compute endpoint and a mirror verified by Transfer), with [retention] release_after = "0s", and checks,
after every run, what the issue asks: every byte that was ever verified at a destination (the ledger's manifest)
still exists byte-exact somewhere, ``released`` never stands while a byte of the scan is on the DAQ, nothing
outside the scans is deleted, and every other scan of the run ships and releases.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests_support import Runs, complete, damage_first_detector_file, digest, outcome, two_destinations

from palxfel_globus.backup import TickSummary, run_message
from palxfel_globus.config_text import render_config
from palxfel_globus.demo import COLLECTION_ROOT, DemoScan, DemoSite, config_document, make_site
from palxfel_globus.engine import Faults, SimulatedCrash
from palxfel_globus.engine.faults import parse_fault

Cli = Callable[..., "tuple[int, str, str]"]
EXPERIMENTS = ("ue_251023_FXL", "ms_251020_timing")


class Checked(Runs):
    """Runs that also check, after each one, the release-safety properties over the whole site."""

    def __init__(self, site: DemoSite) -> None:
        super().__init__(site)
        self.ledger = Path(self.config.daq.ledger)
        self.outside = outside_scans(site)

    def check_nothing_lost(self) -> None:
        super().check_nothing_lost()
        rows = self.rows()
        for scan in complete(self.site):
            manifest = self.ledger / "manifests" / scan.experiment / f"{scan.name}.json"
            row = rows.get(scan.name, {})
            if manifest.exists() and (row.get("shipped_at") or row.get("state") in ("released", "releasing")):
                try:
                    expected = {entry["path"]: entry["digest"] for entry in json.loads(manifest.read_text())["files"]}
                except (ValueError, KeyError):  # damaged by the test: the original bytes stand for it
                    expected = runs_originals_as_manifest(self, scan)
                places = [scan.path, *self.copies(scan)]
                assert any(strip(digest(place), scan) == strip(expected, scan) for place in places if place.is_dir()), (
                    f"no copy of {scan.name} holds the bytes its backups were verified against"
                )
            if row.get("state") == "released":
                assert not os.path.lexists(scan.path), f"{scan.name} is released but still on the DAQ"
                assert not os.path.lexists(trash_of(scan)), f"{scan.name} is released but its trash stayed"
        missing = [path for path in self.outside if not os.path.lexists(path)]
        assert not missing, f"deleted outside the scans: {missing}"


def runs_originals_as_manifest(runs: Runs, scan: DemoScan) -> dict[str, str]:
    return runs.originals[scan.name]


def trash_of(scan: DemoScan) -> Path:
    return scan.path.parent / f".palxfel-released-{hashlib.sha256(scan.name.encode()).hexdigest()[:24]}"


def strip(files: dict[str, str], scan: DemoScan) -> dict[str, str]:
    """A scan's files without its hidden marker (the manifest keeps it; ``digest`` reads no hidden file)."""
    return {path: value for path, value in files.items() if not Path(path).name.startswith(".")}


def outside_scans(site: DemoSite) -> list[Path]:
    """Every path on the DAQ that is not inside a scan directory (markers beside scans, dat/, scratch/)."""
    scans = {scan.path for scan in site.scans}
    found = []
    for path in site.daq_root.rglob("*"):
        if ".palxfel-backup" in path.parts or any(parent in scans for parent in (path, *path.parents)):
            continue
        found.append(path)
    return found


@pytest.fixture
def runs_of() -> Iterator[Callable[[DemoSite], Checked]]:
    with contextlib.ExitStack() as stack:
        yield lambda site: stack.enter_context(Checked(site))


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    site = make_site(tmp_path / "site", scans=8, total_bytes=8000, experiments=EXPERIMENTS)
    two_destinations(site, ms_mirror=True, retry_backoff="0s")
    return site


def scan_id(scan: DemoScan) -> str:
    return f"{scan.experiment}/{scan.name}"


def first(site: DemoSite, prefix: str) -> DemoScan:
    return next(scan for scan in complete(site) if scan.experiment.startswith(prefix))


def flip_a_byte_keeping_mtime(scan_path: Path) -> Path:
    """Bit rot: one byte of a detector file flipped, its size and mtime as they were."""
    victim = sorted((scan_path / "detector1").iterdir())[0]
    info = victim.stat()
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(info.st_atime_ns, info.st_mtime_ns))
    return victim


def moved_bytes(run: dict[str, Any]) -> int:
    return sum((group["transfer"] or {}).get("bytes_transferred") or 0 for group in run_done(run))


def run_done(run: dict[str, Any]) -> list[dict[str, Any]]:
    return (run["details"]["output"].get("loop") or {}).get("done") or []


# 1. bit rot on the DAQ ----------------------------------------------------------------------------------------


class Before(Faults):
    """Runs ``action`` once, just before ``state`` starts (what another process may do at that moment)."""

    def __init__(self, state: str, action: Callable[[], Any]) -> None:
        super().__init__()
        self.state, self.action, self.done = state, action, False

    def maybe_crash(self, state: str) -> None:
        if state == self.state and not self.done:
            self.done = True
            self.action()
        super().maybe_crash(state)


def test_bit_rot_on_the_daq_is_blocked_before_any_transfer_and_never_reaches_a_backup(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """The issue's finding 1, at both routes: the DAQ copy is read against the ledger's manifest before the
    release re-check starts, so the checksum-sync Transfer never carries a flipped bit over a verified copy; the
    scan is blocked with the file named, a person is told once, and nothing of it is released."""
    runs = runs_of(site)
    runs.run()
    ue, ms = first(site, "ue_"), first(site, "ms_")
    rotten = {scan.name: flip_a_byte_keeping_mtime(scan.path) for scan in (ue, ms)}
    second = runs.run()
    rows = runs.rows()
    for scan in (ue, ms):
        row = rows[scan.name]
        assert (row["state"], row["blocked_kind"]) == ("blocked", "daq_differs")
        assert f"the DAQ copy differs from the verified backups (detector1/{rotten[scan.name].name}" in row["reason"]
        assert scan.path.exists() and all(digest(copy) == runs.originals[scan.name] for copy in runs.copies(scan))
    others = sorted(scan_id(scan) for scan in complete(site) if scan not in (ue, ms))
    assert sorted(outcome(second)["released"]) == others, "every other scan of the run is released"
    (mail,) = second["mail"]
    assert all(f"{scan_id(scan)} is blocked" in mail["body"] for scan in (ue, ms))
    assert second["status"] == "FAILED", "a DAQ copy that differs from its backups is a person's decision"
    for _ in range(2):
        later = runs.run()
        assert later["mail"] == [] and moved_bytes(later) == 0
        assert {runs.rows()[scan.name]["state"] for scan in (ue, ms)} == {"blocked"}

    # the backups were right: a person puts their file back on the DAQ and asks for another look
    for scan in (ue, ms):
        good = runs.copies(scan)[1] / "detector1" / rotten[scan.name].name
        shutil.copy2(good, rotten[scan.name])
    code, out, err = cli("scans", "retry", scan_id(ue), scan_id(ms), "--config", str(site.config_path))
    assert (code, err) == (0, "") and out.count("now pending, the next tick ships it.") == 2
    again = runs.run()
    assert sorted(outcome(again)["shipped"]) == sorted([scan_id(ue), scan_id(ms)]) and moved_bytes(again) == 0
    assert sorted(outcome(runs.run())["released"]) == sorted([scan_id(ue), scan_id(ms)])


def test_a_copy_repaired_after_its_release_check_failed_gets_the_manifests_bytes_never_the_daqs_rot(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """A copy damaged at the archive fails its re-verification (the scan ships again); before that re-ship the DAQ
    copy rots. The re-ship checks the DAQ copy first: blocked, and the Transfer-verified copy keeps its bytes."""
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    damage_first_detector_file(runs.copies(ue)[1])
    second = runs.run()
    assert [item["scan"] for item in outcome(second)["shipping_again"]] == [scan_id(ue)]
    flip_a_byte_keeping_mtime(ue.path)
    third = runs.run()
    assert [item["scan"] for item in outcome(third)["blocked"]] == [scan_id(ue)] and moved_bytes(third) == 0
    assert digest(runs.copies(ue)[0]) == runs.originals[ue.name], "the facility copy was not synced from the rot"
    assert ue.path.exists()


def test_the_daq_changing_while_a_release_is_rechecked_never_reaches_a_verified_copy(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """The DAQ copy rots after the release run checked it against the manifest, as the re-check of its copies
    begins. The re-check reads the copies, it never syncs the DAQ onto them: every copy keeps the manifest's
    bytes, the scan is not released, and it waits for a person (its DAQ copy differs)."""
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    second = runs.run(Before("AnyProbe", lambda: flip_a_byte_keeping_mtime(ue.path)))
    groups = second["details"]["output"]["find"]["result"]["groups"]
    assert any(group.get("readback") for group in groups), "the Transfer-only destination is read back"
    assert all(digest(copy) == runs.originals[ue.name] for copy in runs.copies(ue))
    blocked = {item["scan"]: item for item in outcome(second)["blocked"]}
    assert scan_id(ue) not in outcome(second)["released"] and ue.path.exists()
    assert blocked[scan_id(ue)]["kind"] == "daq_differs"


@pytest.fixture
def single(tmp_path: Path) -> DemoSite:
    """The demo's routes: ue_* to one destination verified by Transfer alone (its only copy), retention 0 s."""
    site = make_site(tmp_path / "site", scans=8, total_bytes=8000, experiments=EXPERIMENTS)
    document = config_document(site)
    document["retention"] = {"release_after": "0s"}
    document["limits"]["retry_backoff"] = "0s"
    site.config_path.write_text(render_config(document, "one Transfer-only destination"), encoding="utf-8")
    return site


def scratch_files(runs: Checked, scan: DemoScan) -> list[Path]:
    scratch = runs.copies(scan)[0].parents[2] / ".palxfel-globus-scrub"
    return [path for path in scratch.rglob("*") if path.is_file()] if scratch.exists() else []


def test_a_read_back_that_fails_for_its_own_reasons_says_nothing_of_the_copy(
    single: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """A read-back task that fails without a word on the copy's files (here: no scratch directory can be made; a
    full disk or a deadline alike) keeps the scan, untouched: nothing ships over the only verified copy. The DAQ
    copy then changing before a later Transfer never reaches that copy (the Checked runs check each run)."""
    runs = runs_of(single)
    runs.run()
    ue = first(single, "ue_")
    (copy,) = runs.copies(ue)
    in_the_way = copy.parents[2] / ".palxfel-globus-scrub"
    in_the_way.write_text("not a directory")
    second = outcome(runs.run())
    assert scan_id(ue) not in [
        item["scan"] for item in second["shipping_again"] + [{"scan": s} for s in second["released"]]
    ]
    assert runs.rows()[ue.name]["state"] == "shipped" and ue.path.exists()
    in_the_way.unlink()
    runs.run(parse_fault("fail:CopyTask:1"))
    runs.run(Before("TransferScans", lambda: flip_a_byte_keeping_mtime(ue.path)))
    assert digest(copy) == runs.originals[ue.name]


def test_a_file_turned_into_a_directory_at_a_backup_is_damage(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    victim = sorted((runs.copies(ue)[0] / "detector1").iterdir())[0]
    victim.unlink()
    victim.mkdir()
    second = outcome(runs.run())
    assert scan_id(ue) not in second["released"] and ue.path.exists()
    assert scan_id(ue) in [item["scan"] for item in second["shipping_again"]]


def test_a_read_back_holds_one_entry_per_copy_whatever_its_files(
    single: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """A scan of many files is read back in chunks of at most 100 items; the run state keeps one entry per copy
    (its chunks added up), so it grows with the copies, never with their files."""
    ue = first(single, "ue_")
    for number in range(250):
        (ue.path / "detector1" / f"extra_{number:04d}.h5").write_bytes(b"x" * number)
    runs = runs_of(single)
    runs.run()
    second = runs.run()
    assert scan_id(ue) in outcome(second)["released"]
    done = [item for item in second["details"]["output"]["loop"]["done"] if "chunks" in str(item["verify"])]
    (done,) = [item for item in done if isinstance(item["verify"]["result"], dict)]
    chunks = {(entry["experiment"], entry["scan"]): entry for entry in done["verify"]["result"]["chunks"]}
    assert len(chunks) == len(done["verify"]["result"]["chunks"]), "one entry per copy"
    assert chunks[(ue.experiment, ue.name)]["files"] > 250 and chunks[(ue.experiment, ue.name)]["status"] == "SUCCEEDED"


def release_one_more_at_the_facility(runs: Checked, site: DemoSite, faults: Any = None) -> dict[str, Any]:
    """The scan still arriving at the facility completes, ships, and is released: one more read-back there."""
    late = next(scan for scan in site.scans if scan.kind != "complete" and scan.experiment.startswith("ue_"))
    (late.path / ".done").touch()
    runs.run()
    released = outcome(runs.run(faults))
    assert scan_id(late) in released["released"]
    return released


def test_a_read_back_scratch_a_run_left_behind_is_removed_once_no_task_can_write_it(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """A run killed before its RemoveScratch leaves a second copy in its scratch directory. The ledger noted the
    directory before anything was written: a read-back at that destination removes it once the dead run's tasks
    are past their deadline (as if seven days went by)."""
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    with pytest.raises(SimulatedCrash):
        runs.run(parse_fault("crash:RemoveScratch"))
    planned = runs.ledger / "scrub" / "planned.json"
    noted = json.loads(planned.read_text(encoding="utf-8"))
    runs.run()
    assert scratch_files(runs, ue), "a task of the dead run may still write there until its deadline"
    planned.write_text(json.dumps({key: {path: 0.0 for path in paths} for key, paths in noted.items()}))
    release_one_more_at_the_facility(runs, site)
    assert not scratch_files(runs, ue)


def test_a_scratch_directory_whose_removal_failed_is_removed_by_the_next_read_back_there(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    second = outcome(runs.run(parse_fault("fail:RemoveScratch")))
    assert any("the next read-back there removes it" in warning for warning in second["warnings"])
    assert scratch_files(runs, ue)
    release_one_more_at_the_facility(runs, site)
    assert not scratch_files(runs, ue)


def test_a_damaged_scratch_record_deletes_nothing_but_scratch_directories(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """The ledger's notes of scratch directories to remove are read as untrusted: a time that is not a number
    and paths that are not a read-back's scratch directory (here the experiment's copies themselves) are never
    handed to the delete, and the run releases as usual."""
    runs = runs_of(site)
    runs.run()
    facility = runs.config.routes[0].destinations[0]
    experiment_copy = f"{facility.base_path.rstrip('/')}/{first(site, 'ue_').experiment}"
    scrub = runs.ledger / "scrub"
    scrub.mkdir(exist_ok=True)
    (scrub / "planned.json").write_text(json.dumps({facility.collection: {experiment_copy: 0.0, "/x": "soon"}}))
    (scrub / "leftovers.json").write_text(json.dumps({facility.collection: [experiment_copy + "/rawData"]}))
    released = outcome(runs.run())["released"]
    assert scan_id(first(site, "ue_")) in released
    assert all(copy.exists() for scan in complete(site) for copy in runs.copies(scan))


# 2. a destination that is the DAQ itself ---------------------------------------------------------------------


@pytest.fixture
def daq_alias(site: DemoSite, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A second path onto the DAQ storage that comparing resolved paths cannot see through: a bind mount, as a
    second collection onto the same files would be. Where this machine refuses mounts, the local check that
    compares resolved paths is told nothing of it (a symbolic link stands in), which is the same blindness."""
    alias = site.workdir / "alias"
    alias.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(site.workdir / "daq"), str(alias)], capture_output=True)
    if mounted.returncode != 0:
        alias.rmdir()
        alias.symlink_to(site.workdir / "daq")
        monkeypatch.setattr("palxfel_globus.backup.is_inside", lambda path, root: False)
    try:
        yield alias
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", str(alias)], check=True)


def alias_route(site: DemoSite, alias_dir: Path, both: bool, notify: bool = True) -> str:
    """ms_* goes to a collection that maps onto the DAQ storage under another path: alone, or beside its real
    backup; ue_* to its facility backup. E-mails go to the data manager (the local engine needs no SMTP)."""
    alias = "6a1e5c1d-0000-4000-8000-0000000000a1"
    document = config_document(site)
    on_daq = {"collection": alias, "base_path": COLLECTION_ROOT}
    ms = {key: value for key, value in document["route"][1].items() if key != "match"}
    document["route"][1] = {"match": "ms_*", "destination": [ms, on_daq] if both else [on_daq]}
    document["local"]["collections"][alias] = alias_dir
    document["retention"] = {"release_after": "0s"}
    if notify:
        document["notify"] = {"email": ["dm@example.org"]}
    site.config_path.write_text(render_config(document, "a destination that is the DAQ"), encoding="utf-8")
    return alias


@pytest.mark.parametrize("both", [False, True], ids=["only destination", "second destination"])
def test_a_destination_that_is_the_daq_itself_is_refused_before_anything_is_released(
    site: DemoSite, both: bool, daq_alias: Path, cli: Cli, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """The issue's finding 2: nothing on the DAQ host can stat a destination, so the flow copies a probe there
    before anything is released, and the DAQ side looks for it at home."""
    alias = alias_route(site, daq_alias, both)
    runs = runs_of(site)
    runs.run()
    second = runs.run()
    ms_scans = [scan for scan in complete(site) if scan.experiment.startswith("ms_")]
    ue_scans = [scan for scan in complete(site) if scan.experiment.startswith("ue_")]
    assert all(scan.path.exists() for scan in ms_scans) and not any(scan.path.exists() for scan in ue_scans)
    rows = runs.rows()
    for scan in ms_scans:
        assert (rows[scan.name]["state"], rows[scan.name]["blocked_kind"]) == ("blocked", "route_is_daq")
        assert f"its destination {alias} " in rows[scan.name]["reason"]
        assert "is the DAQ storage itself" in rows[scan.name]["reason"]
    assert "nothing is released from [[route]] #2" in run_message(second)
    (mail,) = second["mail"]
    assert "give the route a destination on other storage" in mail["body"]
    third = runs.run()
    assert all(scan.path.exists() for scan in ms_scans) and third["mail"] == []
    came_back = list(site.daq_root.rglob(".palxfel-globus-probe-*"))
    assert came_back, "the probe that came back stays: an overlapping run sees it too"
    code, out, err = cli("scans", "retry", *(scan_id(scan) for scan in ms_scans), "--config", str(site.config_path))
    assert (code, err) == (0, "") and not any(path.exists() for path in came_back), "a person's retry probes afresh"


# 3. released means no byte remains ---------------------------------------------------------------------------


@contextlib.contextmanager
def undeletable(path: Path) -> Iterator[None]:
    """A file of a scan nobody may delete while the block runs: immutable (chattr +i, which stops root too), or,
    for an account that is not root, in a directory it may not write. Undone wherever the scan was moved to
    (the release renames it) within its rawData."""
    raw_data = path.parents[2]
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
        try:
            yield
        finally:
            for moved in raw_data.rglob(path.name):
                subprocess.run(["chattr", "-i", str(moved)], check=True)
    elif os.geteuid() != 0:
        path.parent.chmod(0o555)
        try:
            yield
        finally:
            for moved in raw_data.rglob(path.parent.name):
                moved.chmod(0o755)
    else:
        pytest.skip("no way to make a file undeletable here: chattr +i refused, and root ignores permissions")


def test_a_delete_that_cannot_finish_is_releasing_with_its_reason_until_it_can(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    stuck = sorted((ue.path / "ScanInfo").iterdir())[0]
    trash = trash_of(ue)
    with undeletable(stuck):
        second = runs.run()
        assert scan_id(ue) not in outcome(second)["released"]
        (item,) = outcome(second)["releasing"]
        assert item["scan"] == scan_id(ue) and f"ScanInfo/{stuck.name}" in item["reason"]
        assert "tried again every run" in item["reason"] and second["status"] == "FAILED"
        assert any(scan_id(ue) in warning for warning in TickSummary.of(second).warnings)
        row = runs.rows()[ue.name]
        assert row["state"] == "releasing" and f"ScanInfo/{stuck.name}" in row["reason"]
        (mail,) = second["mail"]
        assert f"{scan_id(ue)} is releasing" in mail["body"] and "make the files named deletable" in mail["body"]
        third = runs.run()
        assert third["mail"] == [] and outcome(third)["releasing"][0]["scan"] == scan_id(ue), "tried every run"
    fourth = runs.run()
    assert outcome(fourth)["released"] == [scan_id(ue)] and not os.path.lexists(trash)
    assert runs.rows()[ue.name]["state"] == "released"


def test_a_scan_directory_that_cannot_be_moved_aside_stays_shipped_and_says_why(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """An immutable scan directory cannot be renamed into the trash: nothing is removed, the run says so, and
    scans list shows why the shipped scan is still on the DAQ until it can be released."""
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    with undeletable(ue.path):
        second = runs.run()
        skipped = {item["scan"]: item["reason"] for item in outcome(second)["skipped"]}
        assert "could not be moved aside" in skipped[scan_id(ue)] and second["status"] == "FAILED"
        row = runs.rows()[ue.name]
        assert row["state"] == "shipped" and "not released: its DAQ copy could not be moved aside" in row["reason"]
    third = runs.run()
    assert scan_id(ue) in outcome(third)["released"] and not ue.path.exists()
    assert runs.rows()[ue.name]["reason"] is None


def test_a_scan_reached_through_a_link_is_never_released_by_removing_the_link(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """Its directory replaced by a link to a copy inside the root: the link is not a scan; the scan is blocked
    with the reason, the link and the bytes it leads to stay, and every other scan is released."""
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    moved = site.daq_root / ue.experiment / "scratch" / ue.name
    shutil.move(str(ue.path), moved)
    ue.path.symlink_to(moved)
    runs.outside.append(moved)
    second = runs.run()
    assert ue.path.is_symlink() and digest(moved) == runs.originals[ue.name]
    assert not os.path.lexists(trash_of(ue))
    row = runs.rows()[ue.name]
    assert row["state"] == "blocked" and "reached through a symbolic link" in row["reason"]
    others = sorted(scan_id(scan) for scan in complete(site) if scan is not ue)
    assert sorted(outcome(second)["released"]) == others


# 4. restored scans are left alone ----------------------------------------------------------------------------


def test_a_restored_scan_is_left_alone_files_and_marker_until_a_person_says_otherwise(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Checked]
) -> None:
    runs = runs_of(site)
    runs.run()
    runs.run()
    ue = first(site, "ue_")
    assert not ue.path.exists()
    shutil.copytree(runs.copies(ue)[1], ue.path)  # staff copy it back from the archive for re-analysis
    marker = ue.path.parent / f"{ue.name}.complete"
    marker.touch()
    inner = ue.path / ".done"
    inner.touch()
    before = {path: path.stat().st_mtime_ns for path in ue.path.rglob("*")}
    for _ in range(2):
        run = runs.run()
        assert moved_bytes(run) == 0 and marker.exists() and inner.exists()
        assert {path: path.stat().st_mtime_ns for path in ue.path.rglob("*")} == before
        row = runs.rows()[ue.name]
        assert row["state"] == "restored" and "match its manifest by name and size" in row["reason"]
    code, out, err = cli("scans", "retry", scan_id(ue), "--config", str(site.config_path))
    assert (code, err) == (0, "") and "shipped again" in out
    assert outcome(runs.run())["released"] == [scan_id(ue)] and not ue.path.exists()
    assert marker.exists(), "a marker beside the scan is not the scan's: it stays"


# 5. every step contains one odd entry ------------------------------------------------------------------------


def test_a_sibling_marker_that_is_a_directory_stops_no_later_run(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    ue = first(site, "ue_")
    (ue.path.parent / f"{ue.name}.done").mkdir()
    runs = runs_of(site)
    runs.outside = outside_scans(site)
    runs.run()
    assert scan_id(ue) in outcome(runs.run())["released"]
    third = runs.run()
    assert third["status"] == "SUCCEEDED" and (ue.path.parent / f"{ue.name}.done").is_dir()


def test_a_scan_or_its_rawdata_turned_into_a_link_out_of_the_root_is_that_scans_outcome_alone(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Checked], tmp_path: Path
) -> None:
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    outside = tmp_path / "outside"
    shutil.move(str(ue.path), outside)
    ue.path.symlink_to(outside)
    second = runs.run()
    others = sorted(scan_id(scan) for scan in complete(site) if scan is not ue)
    assert sorted(outcome(second)["released"]) == others
    assert outside.is_dir() and digest(outside) == runs.originals[ue.name], "nothing is deleted through the link"
    assert runs.rows()[ue.name]["state"] == "blocked"

    # an experiment whose rawData leads out of the root: scans list still lists every other scan, exit 0
    odd = site.daq_root / "ue_251030_ODD"
    odd.mkdir()
    (odd / "rawData").symlink_to(outside.parent)
    code, out, err = cli("scans", "list", "--json", "--config", str(site.config_path))
    assert code == 0 and "ue_251030_ODD" in err
    assert {row["scan"] for row in json.loads(out)} >= {scan.name for scan in complete(site)}


def test_a_destination_copy_that_is_a_link_out_of_its_collection_fails_that_scan_alone(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked], tmp_path: Path
) -> None:
    """The facility backup holds a link where one scan's copy goes: its Transfer task fails on that path, the
    flow sets the scan aside and makes the task again for the others, so every other scan ships in that run."""
    ue = first(site, "ue_")
    place = Runs(site).copies(ue)[0]
    place.parent.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    place.symlink_to(tmp_path / "elsewhere")
    runs = runs_of(site)
    first_run = runs.run()
    shipped = sorted(outcome(first_run)["shipped"])
    assert shipped == sorted(scan_id(scan) for scan in complete(site) if scan is not ue)
    (failed,) = outcome(first_run)["failed"]
    assert failed["scan"] == scan_id(ue) and "it leads outside the collection through a link" in failed["reason"]
    assert not list((tmp_path / "elsewhere").iterdir()), "nothing was written through the link"


def test_an_unreadable_ledger_record_is_that_scans_alone(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Checked]
) -> None:
    ue = first(site, "ue_")
    runs = runs_of(site)
    record = runs.ledger / "scans" / ue.experiment / f"{ue.name}.json"
    record.parent.mkdir(parents=True)
    record.write_text("{not json", encoding="utf-8")
    run = runs.run()
    assert sorted(outcome(run)["shipped"]) == sorted(scan_id(scan) for scan in complete(site) if scan is not ue)
    assert "is unreadable" in run_message(run)
    code, out, err = cli("scans", "list", "--json", "--config", str(site.config_path))
    assert code == 0 and "is unreadable" in err and len(json.loads(out)) == len(site.scans)


# 6. the smaller points ---------------------------------------------------------------------------------------


def test_the_claims_of_a_run_that_failed_at_recordoutcome_are_given_back_at_once(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """The run's failure message names the one command that gives back every claim of the run; a local run that
    ended is known to have ended (its lock file stays, unlocked), so nothing waits for the lease."""
    runs = runs_of(site)
    failed = runs.run(parse_fault("fail:RecordOutcome"))
    message = run_message(failed)
    assert failed["status"] == "FAILED" and f"'palxfel-globus scans retry --run {failed['run_id']}'" in message
    assert "claimed" not in {row["state"] for row in runs.rows().values()}, "an ended local run holds nothing"
    code, out, err = cli("scans", "retry", "--run", failed["run_id"], "--config", str(site.config_path))
    count = len(complete(site))
    assert (code, err) == (0, "") and f"{count} claims of run {failed['run_id']} given back" in out
    code, out, err = cli("scans", "retry", "--run", failed["run_id"], "--config", str(site.config_path))
    assert (code, err) == (0, "") and "holds no claim now" in out
    assert len(outcome(runs.run())["shipped"]) == count
    code, out, err = cli("scans", "retry", "--run", "0000-not-a-run", "--config", str(site.config_path))
    assert code == 1 and "is not known to have ended" in err and err.count("\n") == 1


def test_a_damaged_copy_before_a_release_is_read_back_never_synced_over(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """The release re-check at a destination without Compute reads the copy back against the manifest: a damaged
    copy is said (the scan ships again, a person is told) rather than repaired silently from the DAQ, and the
    scan is released once the copy shipped again verifies."""
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    copy = runs.copies(ue)[0]
    damage_first_detector_file(copy)
    second = outcome(runs.run())
    assert scan_id(ue) not in second["released"] and ue.path.exists()
    again = {item["scan"]: item["reason"] for item in second["shipping_again"]}
    assert "Transfer's check against the manifest failed" in again[scan_id(ue)]
    scratch = copy.parents[2] / ".palxfel-globus-scrub"
    assert not scratch.exists() or not any(scratch.iterdir()), "the read-back's scratch directory is removed"
    assert scan_id(ue) in outcome(runs.run())["shipped"] and digest(copy) == runs.originals[ue.name]
    assert scan_id(ue) in outcome(runs.run())["released"] and not ue.path.exists()


# the property, over trees, retention, DAQ-side changes after shipping and fault placements -------------------

CHANGES = ("flip", "append", "remove", "link", "restore")


def fault_placements() -> list[str]:
    from test_lifecycle import fault_matrix

    return fault_matrix()


def change(runs: Checked, scan: DemoScan, kind: str) -> bool:
    """Apply one DAQ-side change to a scan that shipped (or was released); False when it does not apply."""
    present = scan.path.is_dir() and not scan.path.is_symlink()
    if kind == "restore":
        if os.path.lexists(scan.path):
            return False
        source = next((copy for copy in runs.copies(scan) if copy.is_dir()), None)
        if source is None:
            return False
        shutil.copytree(source, scan.path)
        (scan.path.parent / f"{scan.name}.complete").touch()
        return True
    if not present:
        return False
    victim = sorted((scan.path / "detector1").iterdir())[0]
    if kind == "flip":
        flip_a_byte_keeping_mtime(scan.path)
    elif kind == "append":
        with victim.open("ab") as handle:
            handle.write(b"appended")
    elif kind == "remove":
        victim.unlink()
    else:  # a link to a copy inside the root, where the scan was
        moved = scan.path.parent.parent / "scratch" / scan.name
        shutil.move(str(scan.path), moved)
        scan.path.symlink_to(moved)
        runs.outside.append(moved)
    return True


@pytest.fixture(scope="module")
def placements() -> list[str]:
    return fault_placements()


@given(data=st.data())
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every CI run: a failure here is never a flake
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_last_verified_copy_is_never_lost_and_released_never_leaves_a_byte(
    data: Any, tmp_path_factory: pytest.TempPathFactory, placements: list[str]
) -> None:
    scans = data.draw(st.integers(3, 6), label="scans")
    release_after = data.draw(st.sampled_from(["0s", "0s", "0s", "1d"]), label="release_after")
    max_release = data.draw(st.integers(2, 20), label="max_release")
    changes = data.draw(
        st.dictionaries(
            st.integers(0, scans - 1), st.tuples(st.sampled_from(CHANGES), st.integers(1, 3)), min_size=1, max_size=3
        ),
        label="changes: scan -> (kind, after tick)",
    )
    fault = data.draw(st.none() | st.sampled_from(placements), label="fault")
    fault_tick = data.draw(st.integers(1, 3), label="fault tick")
    site = make_site(tmp_path_factory.mktemp("site"), scans=scans, total_bytes=scans * 1000, experiments=EXPERIMENTS)
    two_destinations(site, release_after=release_after, max_release=max_release, ms_mirror=True, retry_backoff="0s")
    changed = set()
    with Checked(site) as runs:
        for tick in range(1, 4):
            try:
                runs.run(parse_fault(fault) if fault and tick == fault_tick else None)
            except SimulatedCrash:
                pass  # Runs.run checked the site all the same
            states = runs.rows()
            for index, (kind, after) in changes.items():
                scan = site.scans[index]
                if after == tick and scan.kind == "complete" and scan.name not in changed:
                    if states.get(scan.name, {}).get("shipped_at") and change(runs, scan, kind):
                        changed.add(scan.name)
        for _ in range(3):
            runs.run()
        rows = runs.rows()
    expected = "released" if release_after == "0s" else "shipped"
    left = {scan.name: rows[scan.name]["state"] for scan in complete(site) if scan.name not in changed}
    assert set(left.values()) <= {expected}, left


def test_over_local_serve_deploy_refuses_and_doctor_reports_a_destination_that_is_the_daq(
    site: DemoSite, daq_alias: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production path: deploy and doctor probe every destination through Transfer's API (mkdir at the
    destination, ls of the DAQ collection) against 'local serve'; a destination onto the DAQ storage is refused
    before anything is made, and doctor names it."""
    from tests_support import serving, subscribed

    alias_route(site, daq_alias, both=True, notify=False)
    subscribed(site.config_path)
    config = ["--config", str(site.config_path)]
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        code, out, err = cli("deploy", *config)
        assert code == 2 and err.startswith("Error: Nothing was deployed: route #2 destination #2: ")
        assert "is the DAQ storage itself" in err and err.count("\n") == 1
        assert server.store.all("flow") == [] and server.store.all("timer") == []
        code, out, _err = cli("doctor", *config, "--json")
        checks = {check["what"]: check for check in json.loads(out)}
        assert code == 1 and checks["route #1 apart from the DAQ"]["ok"]
        assert checks["route #2 destination #1 apart from the DAQ"]["ok"]
        assert not checks["route #2 destination #2 apart from the DAQ"]["ok"]


# found by an adversarial run against the first version ----------------------------------------------------------


def test_an_overlapping_run_does_not_hide_a_destination_that_is_the_daq(
    site: DemoSite, daq_alias: Path, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """A timer run and a manual run may overlap: the second writes its own probe while the first waits for its
    Transfer. Whatever run's probe comes back, the destination is the DAQ, and nothing is released from it."""
    from palxfel_globus.functions import call

    alias_route(site, daq_alias, both=False)
    runs = runs_of(site)
    runs.run()
    other = lambda: call("find_completed_scans", config=runs.config.function_config(), run_id="another-run")  # noqa: E731
    second = runs.run(Before("ProbeDestination", other))
    ms_scans = [scan for scan in complete(site) if scan.experiment.startswith("ms_")]
    assert all(scan.path.exists() for scan in ms_scans)
    assert not any(scan_id(scan) in outcome(second)["released"] for scan in ms_scans)


def test_a_foreign_directory_with_a_trash_name_is_neither_taken_for_a_release_nor_deleted(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    foreign = trash_of(ue)
    foreign.mkdir()
    (foreign / "someone-else.dat").write_bytes(b"not ours")
    runs.outside += [foreign, foreign / "someone-else.dat"]
    second = runs.run()
    assert scan_id(ue) not in outcome(second)["released"] and ue.path.is_dir()
    assert (foreign / "someone-else.dat").read_bytes() == b"not ours"
    assert runs.rows()[ue.name]["state"] == "shipped"


def test_a_scan_shipping_again_goes_only_where_its_copy_failed(
    site: DemoSite, runs_of: Callable[[DemoSite], Checked]
) -> None:
    """The archive copy rots, so the scan ships again; its DAQ copy then changes while that run's Transfer is
    about to start. The facility copy, verified already, is not in that Transfer: it keeps the manifest's bytes."""
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    damage_first_detector_file(runs.copies(ue)[1])
    assert [item["scan"] for item in outcome(runs.run())["shipping_again"]] == [scan_id(ue)]
    third = runs.run(Before("TransferScans", lambda: flip_a_byte_keeping_mtime(ue.path)))
    groups = third["details"]["output"]["find"]["result"]["groups"]
    going = {
        (group["route"], group["destination"]) for group in groups if any(s["scan"] == ue.name for s in group["scans"])
    }
    assert going == {(0, 1)}, "only to the archive, whose copy failed"
    assert digest(runs.copies(ue)[0]) == runs.originals[ue.name]
    assert ue.path.exists()


@pytest.mark.parametrize(
    "damage",
    ["retry_after", "claims_file", "empty_manifest", "garbage_manifest"],
)
def test_one_damaged_ledger_entry_is_that_scans_alone(
    site: DemoSite, cli: Cli, damage: str, runs_of: Callable[[DemoSite], Checked]
) -> None:
    runs = runs_of(site)
    ue = first(site, "ue_")
    if damage == "retry_after":  # a failed scan whose retry time is not a number
        record = runs.ledger / "scans" / ue.experiment / f"{ue.name}.json"
        record.parent.mkdir(parents=True)
        record.write_text(json.dumps({"experiment": ue.experiment, "scan": ue.name, "state": "failed",
                                      "retry_after": "soon", "attempts": 1}), encoding="utf-8")  # fmt: skip
    elif damage == "claims_file":  # a file where the experiment's claims directory belongs
        (runs.ledger / "claims").mkdir(parents=True)
        (runs.ledger / "claims" / ue.experiment).write_text("", encoding="utf-8")
    first_run = runs.run()
    others = [scan for scan in complete(site) if scan.experiment != ue.experiment]
    assert all(scan_id(scan) in outcome(first_run)["shipped"] for scan in others), run_message(first_run)
    if damage.endswith("_manifest"):  # the manifest a shipped scan's backups were verified against
        manifest = runs.ledger / "manifests" / ue.experiment / f"{ue.name}.json"
        manifest.write_text("{}" if damage == "empty_manifest" else "{not json", encoding="utf-8")
        second = runs.run()
        assert all(scan_id(scan) in outcome(second)["released"] for scan in others)
        row = runs.rows()[ue.name]
        assert (row["state"], row["blocked_kind"]) == ("blocked", "daq_differs") and ue.path.exists()
    code, out, err = cli("scans", "list", "--json", "--config", str(site.config_path))
    assert code == 0 and {scan.name for scan in others} <= {row["scan"] for row in json.loads(out)}


def test_forget_refuses_a_scan_whose_daq_copy_differs_from_its_backups(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Checked]
) -> None:
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    flip_a_byte_keeping_mtime(ue.path)
    runs.run()
    code, out, err = cli("scans", "forget", scan_id(ue), "--yes", "--config", str(site.config_path))
    assert code == 1 and err.count("\n") == 1 and "'palxfel-globus scans replace' does that" in err
    assert runs.rows()[ue.name]["blocked_kind"] == "daq_differs"
