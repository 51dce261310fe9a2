"""Issue 29: a scan back from its backups, verified ('scans restore', 'local restore'), and a scrub that reads every
copy back against its manifest once a period and repairs a copy that rotted from one that did not.

The sites have two routes of two destinations each, in both verification modes (ue_*: the facility backup, read
back by Transfer, and an archive verified on its own Compute endpoint; ms_*: a backup verified on its Compute
endpoint and a mirror read back by Transfer), on the local engine. After every run at least one copy of every
scan that left the DAQ holds its original bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from test_release_safety import first, flip_a_byte_keeping_mtime, scan_id
from tests_support import MIRROR, Runs, complete, digest, outcome, two_destinations

from palxfel_globus.backup import TickSummary, run_message
from palxfel_globus.config import ConfigError, parse_config
from palxfel_globus.demo import DemoScan, DemoSite, make_site
from palxfel_globus.functions import FUNCTION_NAMES, bundled_source, call

Cli = Callable[..., "tuple[int, str, str]"]
EXPERIMENTS = ("ue_251023_FXL", "ms_251020_timing")
SCRUB_ALL = {"every": "0s", "max_copies": 8}  # every copy is due at every run: a pass takes a few runs


class Kept(Runs):
    """Runs whose check allows a copy a test damaged on purpose: a scan gone from the DAQ keeps its original
    bytes at one destination at least (the last good copy is never lost)."""

    def check_nothing_lost(self) -> None:
        for scan in complete(self.site):
            if scan.path.exists():
                continue
            kept = [copy for copy in self.copies(scan) if copy.is_dir() and digest(copy) == self.originals[scan.name]]
            assert kept or scan.name in self.lost, f"{scan.name} has no good copy left anywhere"

    def __init__(self, site: DemoSite) -> None:
        super().__init__(site)
        self.lost: set[str] = set()  # scans a test rots at every destination on purpose


@pytest.fixture
def runs_of() -> Iterator[Callable[[DemoSite], Kept]]:
    with contextlib.ExitStack() as stack:
        yield lambda site: stack.enter_context(Kept(site))


def site_with(tmp_path: Path, scans: int = 8, **options: Any) -> DemoSite:
    site = make_site(tmp_path / "site", scans=scans, total_bytes=scans * 1000, experiments=EXPERIMENTS)
    two_destinations(site, ms_mirror=True, retry_backoff="0s", **options)
    return site


def started(run: dict[str, Any]) -> list[str]:
    return [entry["details"]["state_name"] for entry in run["log"] if entry["code"] == "ActionStarted"]


def staging_left(site: DemoSite) -> list[Path]:
    return [path for path in site.daq_root.rglob(".palxfel-restore-*")]


# restore -----------------------------------------------------------------------------------------------------


def test_a_released_scan_comes_back_byte_exact_to_its_place_and_is_left_alone_as_restored(
    tmp_path: Path, cli: Cli, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """Both routes: the healthiest copy (one read back by Transfer for ue_*, one on a Compute endpoint for ms_*)
    lands in a staging directory, is read against the manifest on the DAQ and renamed into place; the ledger says
    restored, and no later run ships, releases or touches it until a person retries it."""
    site = site_with(tmp_path)
    runs = runs_of(site)
    runs.run()
    runs.run()
    ue, ms = first(site, "ue_"), first(site, "ms_")
    assert not ue.path.exists() and not ms.path.exists()
    config = ["--config", str(site.config_path)]
    code, out, err = cli("local", "restore", scan_id(ue), scan_id(ms), *config)
    assert (code, err) == (0, ""), out
    for scan in (ue, ms):
        assert digest(scan.path) == runs.originals[scan.name], "byte-exact"
        assert f"{scan_id(scan)}: restored to its DAQ place from " in out
        row = runs.rows()[scan.name]
        assert row["state"] == "restored" and "files verified against its manifest" in row["reason"]
    assert not staging_left(site)
    before = {path: path.stat().st_mtime_ns for scan in (ue, ms) for path in scan.path.rglob("*")}
    later = runs.run()
    assert {path: path.stat().st_mtime_ns for scan in (ue, ms) for path in scan.path.rglob("*")} == before
    assert {runs.rows()[scan.name]["state"] for scan in (ue, ms)} == {"restored"}
    assert not {scan_id(ue), scan_id(ms)} & set((later["details"]["output"].get("recorded") or {}).get("outcome", {}))
    code, out, err = cli("scans", "retry", scan_id(ue), *config)
    assert code == 0 and "shipped again" in out
    assert scan_id(ue) in outcome(runs.run())["released"] and not ue.path.exists()


def test_a_restore_whose_target_holds_data_refuses_and_writes_nothing(
    tmp_path: Path, cli: Cli, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """Its DAQ place holding the scan (shipped, not released), or a place named elsewhere already there: one
    sentence each, exit 1, nothing written, the ledger as it was."""
    site = site_with(tmp_path, release_after=None)
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    config = ["--config", str(site.config_path)]
    before = digest(ue.path)
    code, out, err = cli("local", "restore", scan_id(ue), *config)
    assert code == 1 and "holds data already; nothing is overwritten" in out and out.count("\n") == 1
    assert digest(ue.path) == before and runs.rows()[ue.name]["state"] == "shipped" and not staging_left(site)
    assert runs.rows()[ue.name]["claimed_by"] is None

    place = tmp_path / "site" / "mirror" / "elsewhere" / ue.name
    place.mkdir(parents=True)
    (place / "keep.txt").write_text("a person's file")
    code, out, err = cli("local", "restore", scan_id(ue), "--to", f"{MIRROR}:/elsewhere", *config)
    assert code == 1 and "holds data already" in out and "nothing is overwritten" in out
    assert [path.name for path in place.iterdir()] == ["keep.txt"] and (place / "keep.txt").read_text() == (
        "a person's file"
    )
    code, out, err = cli("local", "restore", scan_id(ue), "--dry-run", *config)
    assert code == 0 and "holds data already" in err


def test_a_restore_elsewhere_is_checked_by_transfer_file_by_file(
    tmp_path: Path, cli: Cli, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """A place named on another collection: looked at first (Transfer's stat), then written only with per-file
    items whose external_checksum is the manifest's, so Transfer itself checks every file it writes."""
    site = site_with(tmp_path)
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    code, out, err = cli("local", "restore", scan_id(ue), "--to", f"{MIRROR}:/wanted", "-c", str(site.config_path))
    assert code == 0 and "Transfer checked each of its" in out, out
    assert digest(tmp_path / "site" / "mirror" / "wanted" / ue.name) == runs.originals[ue.name]
    assert runs.rows()[ue.name]["state"] in ("shipped", "released"), "a copy elsewhere does not change the scan"


def test_a_restore_that_finds_a_rotten_copy_takes_the_good_one(
    tmp_path: Path, cli: Cli, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """The copy tried first is rotten: for ue_* the Transfer-read one (its external checksum check fails the task,
    what it wrote to staging is discarded), for ms_* the Compute-verified one (refused before anything moves).
    The other copy is restored, byte-exact, and the run's outcome names the rotten one."""
    site = site_with(tmp_path)
    runs = runs_of(site)
    runs.run()
    runs.run()
    ue, ms = first(site, "ue_"), first(site, "ms_")
    config = ["--config", str(site.config_path)]
    code, out, _err = cli("local", "restore", scan_id(ue), scan_id(ms), "--dry-run", "--json", *config)
    order = {item["scan"]: [copy["collection"] for copy in item["candidates"]] for item in json.loads(out)["scans"]}
    for scan in (ue, ms):
        flip_a_byte_keeping_mtime(
            next(path for path in runs.copies(scan) if _collection_of(runs, scan, path) == order[scan.name][0])
        )
    code, out, err = cli("local", "restore", scan_id(ue), scan_id(ms), "--json", *config)
    said = json.loads(out)
    assert code == 0 and said["status"] == "SUCCEEDED", out
    for scan in (ue, ms):
        assert digest(scan.path) == runs.originals[scan.name]
        (result,) = [item for item in said["scans"] if item["scan"] == scan_id(scan)]
        assert f"from {order[scan.name][1]}" in result["sentence"], "the good copy"
        assert f"the copy at {order[scan.name][0]} did not verify" in result["sentence"], "the rotten one is named"
    assert not staging_left(site)


def _collection_of(runs: Kept, scan: DemoScan, path: Path) -> str:
    import fnmatch

    route = next(route for route in runs.config.routes if fnmatch.fnmatchcase(scan.experiment, route.match))
    return route.destinations[runs.copies(scan).index(path)].collection


# the scrub ---------------------------------------------------------------------------------------------------


def runs_until(runs: Kept, done: Callable[[dict[str, Any]], bool], most: int) -> list[dict[str, Any]]:
    """Runs, at most ``most`` of them, until ``done`` says so of one; all of them, in order."""
    made = []
    for _ in range(most):
        made.append(runs.run())
        if done(made[-1]):
            break
    return made


def passes(site: DemoSite) -> int:
    """The runs one pass of the scrub over every copy takes: SCRUB_ALL's max_copies a run."""
    copies = 2 * len(complete(site))
    return -(-copies // SCRUB_ALL["max_copies"])


def test_a_flipped_byte_at_one_destination_is_found_within_one_pass_and_repaired_from_the_other(
    tmp_path: Path, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """Released scans of both routes, one byte flipped in the copy read back by Transfer (ue_*, the facility) and in
    the one verified on its Compute endpoint (ms_*): within one pass over every copy each is found, repaired from
    the other copy (every file written checked by Transfer against the manifest), said in the run's warnings and
    e-mailed; both copies are then byte-exact, and 'scans list' shows when each was last verified."""
    site = site_with(tmp_path, scrub=SCRUB_ALL)
    runs = runs_of(site)
    runs.run()
    runs.run()
    ue, ms = first(site, "ue_"), first(site, "ms_")
    assert not ue.path.exists() and not ms.path.exists()
    for scan in (ue, ms):
        flip_a_byte_keeping_mtime(runs.copies(scan)[0])
    repaired: dict[str, int] = {}
    mail: list[dict[str, Any]] = []

    def both_repaired(run: dict[str, Any]) -> bool:
        for scan in (ue, ms):
            if any(scan_id(scan) in line and "was repaired from" in line for line in TickSummary.of(run).warnings):
                repaired[scan.name] = len(mail)
        mail.extend(run["mail"])
        return len(repaired) == 2

    made = runs_until(runs, both_repaired, passes(site))
    assert set(repaired) == {ue.name, ms.name}, [run_message(run) for run in made]
    assert all(run["status"] == "SUCCEEDED" for run in made), "a repaired copy is a warning, not a failed night"
    for scan in (ue, ms):
        assert all(digest(copy) == runs.originals[scan.name] for copy in runs.copies(scan))
        assert any(f"{scan_id(scan)} is repaired" in message["body"] for message in mail)
        places = runs.rows()[scan.name]["destinations"]
        assert [place["state"] for place in places] == ["verified", "verified"]
        assert all(place["verified_at"] for place in places)
    assert "differed from the manifest" in run_message(made[-1]) and "repaired" in run_message(made[-1])
    scratch = list(tmp_path.rglob(".palxfel-globus-scrub"))
    assert scratch and not any(any(path.iterdir()) for path in scratch), "each run's scratch directory is removed"


def test_a_released_scan_with_no_good_copy_left_is_blocked_and_e_mailed_at_once(
    tmp_path: Path, cli: Cli, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """Both copies of a released scan rotten: nothing is written to either, the scan is blocked for a person (the
    run ends FAILED and the data manager is e-mailed in that run, once); when a person has put a good copy back at
    one destination, 'scans retry' releases it again and the next scrub repairs the other from it."""
    site = site_with(tmp_path, scrub=SCRUB_ALL)
    runs = runs_of(site)
    runs.run()
    runs.run()
    ue = first(site, "ue_")
    runs.lost.add(ue.name)
    good = {copy: (copy / "detector1").iterdir() for copy in runs.copies(ue)}
    kept = {path: path.read_bytes() for copy in good for path in sorted((copy / "detector1").iterdir())[:1]}
    rotten = [flip_a_byte_keeping_mtime(copy) for copy in runs.copies(ue)]
    after_rot = [digest(copy) for copy in runs.copies(ue)]
    made = runs_until(runs, lambda run: run["status"] == "FAILED", passes(site))
    blocking = made[-1]
    assert blocking["status"] == "FAILED" and "NoGoodCopyLeft" in str(blocking["details"].get("description"))
    (message,) = blocking["mail"]
    assert f"{scan_id(ue)} is blocked" in message["body"] and "find a good copy of its files" in message["body"]
    row = runs.rows()[ue.name]
    assert (row["state"], row["blocked_kind"]) == ("blocked", "no_good_copy")
    assert "no copy of it verifies against its manifest any more" in row["reason"]
    assert [digest(copy) for copy in runs.copies(ue)] == after_rot, "nothing was written to either copy"
    later = runs.run()
    assert later["mail"] == [] and runs.rows()[ue.name]["state"] == "blocked", "told once, then left to a person"

    rotten[1].write_bytes(kept[rotten[1]])  # a person puts the archive's file back from tape
    config = ["--config", str(site.config_path)]
    code, out, err = cli("scans", "retry", scan_id(ue), *config)
    assert (code, err) == (0, "") and "released again" in out
    runs.lost.discard(ue.name)
    runs_until(runs, lambda run: runs.rows()[ue.name]["destinations"][0]["state"] == "verified", passes(site))
    assert all(digest(copy) == runs.originals[ue.name] for copy in runs.copies(ue))
    assert runs.rows()[ue.name]["state"] == "released"


def test_a_shipped_scan_with_no_good_copy_left_ships_again_from_its_checked_daq_copy(
    tmp_path: Path, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """The DAQ copy is still there: the scan is pending again (a person is told), the next run checks the DAQ copy
    against the manifest before anything moves and ships it over both rotten copies."""
    site = site_with(tmp_path, release_after=None, scrub=SCRUB_ALL)
    runs = runs_of(site)
    runs.run()
    ue = first(site, "ue_")
    for copy in runs.copies(ue):
        flip_a_byte_keeping_mtime(copy)
    made = runs_until(runs, lambda run: runs.rows()[ue.name]["state"] == "pending", passes(site))
    assert any("ships again from its DAQ copy" in line for line in TickSummary.of(made[-1]).warnings)
    assert any(f"{scan_id(ue)} is reverify_failed" in message["body"] for message in made[-1]["mail"])
    assert outcome(runs.run())["shipped"] == [scan_id(ue)]
    assert all(digest(copy) == runs.originals[ue.name] for copy in runs.copies(ue))


def test_each_copy_is_read_back_once_a_period_and_no_run_reads_more_than_its_bound(
    tmp_path: Path, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """The selection and its bookkeeping over three days of runs every two hours with [scrub] every = "1d" and
    max_copies = 4: every copy is read back once a day, as soon as it is due or within the runs its share of the
    bound takes (12 copies, 4 a run: 3 runs), never before it is due and never more than 4 copies a run."""
    import time

    site = site_with(tmp_path, release_after=None, scrub={"every": "1d", "max_copies": 4})
    runs = runs_of(site)
    runs.run()
    config = runs.config.function_config()
    start = time.time()
    reads: dict[str, list[float]] = {}
    for step in range(1, 37):
        now = start + step * 7200
        plan = call(
            "find_completed_scans", function="plan_scrub", config=config, run_id=f"r{step}", now=now, problems=[]
        )
        assert plan["copies"] <= 4
        for item in plan["scans"]:
            reads.setdefault(f"{item['experiment']}/{item['scan']}", []).append(now)
        done = [all_verified(config, group) for group in plan["groups"]]
        call("record_outcome", config=config, run_id=f"r{step}", scrub=plan, scrub_done=done, now=now)
    shipped = {scan_id(scan) for scan in complete(site)}
    assert set(reads) == shipped
    late = 3 * 7200  # the runs one pass of 12 copies takes at 4 a run
    for times in reads.values():
        assert times[0] - start <= 86400 + late, "read back within a period of its shipping"
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        assert gaps and all(86400 <= gap <= 86400 + late for gap in gaps), "once a period, never before it is due"


def test_two_destinations_on_one_collection_are_each_read_back_and_verified(
    tmp_path: Path, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """Two copies of a scan in one read-back group (two destinations of a route on one collection, under two
    base paths): each copy's chunks are its own, so each is verified, not left unchecked by the other's count."""
    from palxfel_globus.config_text import render_config
    from palxfel_globus.demo import config_document

    site = make_site(tmp_path / "site", scans=8, total_bytes=8000, experiments=EXPERIMENTS)
    document = config_document(site)
    ue = document["route"][0]
    facility = {key: value for key, value in ue.items() if key != "match"}
    second = dict(facility, base_path=facility["base_path"].rstrip("/") + "-second")
    document["route"][0] = {"match": ue["match"], "destination": [facility, second]}
    document["scrub"] = SCRUB_ALL
    site.config_path.write_text(render_config(document, "two destinations, one collection"), encoding="utf-8")
    runs = runs_of(site)
    runs.run()
    runs.run()
    scan = first(site, "ue_")
    copies = json.loads((runs.config.function_config()["ledger"] / Path("scrub", "copies", scan.experiment,
                        f"{scan.name}.json")).read_text(encoding="utf-8"))  # fmt: skip
    places = copies["places"]
    assert len(places) == 2 and {place["collection"] for place in places} == {facility["collection"]}
    assert [place["state"] for place in places] == ["verified", "verified"], places
    assert all(place.get("checked_at") for place in places)


def all_verified(config: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    """What a group's actions return when every copy matches its manifest."""
    ledger = config["ledger"]

    def manifest(item: dict[str, Any]) -> tuple[dict[str, Any], str]:
        return call("record_outcome", function="read_manifest", ledger=ledger, experiment=item["experiment"],
                    scan=item["scan"])  # fmt: skip

    if group["method"] == "compute":
        result = [dict(item, ok=True, manifest_digest=manifest(item)[1]) for item in group["scans"]]
        return {"result": result, "chunks": [], "refused": []}
    chunks = []
    for copy in group["copies"]:
        files = manifest(copy)[0]["file_count"] + bool(copy["manifest"])
        chunks.append(dict(copy, path=copy["source_path"], status="SUCCEEDED", files=files))
    return {"result": None, "chunks": chunks, "refused": []}


def test_a_scan_of_many_files_is_restored_and_read_back_in_chunks_that_keep_the_run_state_small(
    tmp_path: Path, cli: Cli, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """250 files: the per-file items come from the ledger a chunk at a time, never all in the run state."""
    from palxfel_globus.demo import mark_complete

    site = site_with(tmp_path, scans=2, scrub=SCRUB_ALL)
    scan_dir = site.daq_root / "ue_251023_FXL" / "rawData" / "251023_many files_00009_DIR"
    (scan_dir / "frames").mkdir(parents=True)
    for number in range(250):
        (scan_dir / "frames" / f"frame_{number:05d}.h5").write_bytes(os.urandom(64))
    mark_complete(scan_dir, "inner")
    runs = runs_of(site)
    original = digest(scan_dir)
    runs.run()
    runs.run()
    assert not scan_dir.exists()
    scrubbed = runs.run()
    assert started(scrubbed).count("CopyTask") >= 3 and scrubbed["peak_state_bytes"] < 120 * 1024
    code, out, err = cli("local", "restore", f"ue_251023_FXL/{scan_dir.name}", "-c", str(site.config_path))
    assert code == 0, out + err
    assert digest(scan_dir) == original


# the config, the bundles -------------------------------------------------------------------------------------

BASE = {
    "daq": {
        "root": "/xfel/ffs/dat",
        "collection": "4cd74190-ed62-5212-865b-865fe642a591",
        "collection_root": "/",
        "compute_endpoint": "3ac2177f-da8f-5703-9839-c3bf92bc5698",
    },
    "route": [{"match": "*", "collection": "2b62553e-1c8e-53a4-8998-f869355c56d4", "base_path": "/a"}],
}


@pytest.mark.parametrize(
    ("scrub", "expected"),
    [
        ({"max_copies": 5}, "[scrub]: the key 'every' is required: how often each copy of a scan is read back"),
        ({"every": "often"}, "[scrub].every: expected a duration"),
        ({"every": "90d", "max_copies": 500}, "[scrub].max_copies: 500 is more than 50"),
        ({"every": "90d", "max_copies": 0}, "[scrub].max_copies:"),
        ({"evry": "90d"}, "[scrub]: unknown key 'evry'; did you mean 'every'?"),
    ],
)
def test_each_mistake_in_scrub_is_one_sentence(scrub: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({**BASE, "scrub": scrub}, check_tree=False)
    assert any(problem.startswith(expected) for problem in raised.value.problems), raised.value.problems


def test_scrub_settings_reach_the_functions_and_default_to_none() -> None:
    config = parse_config({**BASE, "scrub": {"every": "90d"}}, check_tree=False)
    assert config.function_config()["scrub"] == {"every": 90 * 86400, "max_copies": 20}
    assert "scrub" not in parse_config(BASE, check_tree=False).function_config()


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_no_two_parts_of_a_bundle_define_the_same_name(name: str) -> None:
    """A bundle is its helpers' text followed by its own in one namespace: a private helper defined twice would be
    replaced by the later one, silently (a scrub helper once took the place of one of find's)."""
    import ast

    defined: list[str] = []
    for node in ast.parse(bundled_source(name)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.append(node.name)
        elif isinstance(node, ast.Assign):
            defined += [target.id for target in node.targets if isinstance(target, ast.Name)]
    assert sorted(item for item in set(defined) if defined.count(item) > 1) == []


# through Globus: 'local serve' and the unchanged CLI ---------------------------------------------------------


def test_the_same_restore_through_local_serve_with_the_unchanged_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """deploy registers and creates the restore flow beside the copy flow; the timer's runs ship and release; 'scans
    restore' starts a run of the deployed flow over HTTP, which restores the scan byte-exact and records it, and
    'runs show' names the outcome."""
    from tests_support import serving, subscribed

    from palxfel_globus.config import load_config

    site = site_with(tmp_path, notify=False)
    subscribed(site.config_path)
    config = ["--config", str(site.config_path)]
    ue = first(site, "ue_")
    originals = digest(ue.path)
    with serving(site.config_path, tmp_path, monkeypatch) as emulator:
        code, out, err = cli("deploy", *config)
        assert code == 0 and "create restore flow" in out, err
        assert emulator.runs.wait_for_ended(1, 120)
        emulator.scheduler.advance(load_config(site.config_path).timer_interval)
        assert emulator.runs.wait_for_ended(2, 120) and not ue.path.exists(), "shipped, then released"
        code, out, err = cli("scans", "restore", scan_id(ue), "--dry-run", *config)
        assert code == 0 and "its DAQ place" in out and not ue.path.exists()
        code, out, err = cli("scans", "restore", scan_id(ue), *config)
        assert code == 0 and out.startswith("Started restore run "), err
        run_id = out.split()[3].rstrip(";")
        assert emulator.runs.wait_for_ended(3, 120)
        (run,) = [run for run in emulator.store.all("run") if run["run_id"] == run_id]
        assert run["status"] == "SUCCEEDED", run["details"]
        assert digest(ue.path) == originals
        code, out, err = cli("scans", "list", "--json", *config)
        assert {row["scan"]: row["state"] for row in json.loads(out)}[ue.name] == "restored"
        code, out, err = cli("runs", "list", "--json", *config)
        assert code == 0 and json.loads(out)[0]["run_id"] == run_id, "the restore run is listed, newest first"
        code, out, err = cli("runs", "show", run_id, *config)
        assert code == 0 and f"{scan_id(ue)} restored to its DAQ place from" in " ".join(out.split())


def test_every_action_a_restore_sends_is_in_its_documented_form(
    tmp_path: Path, runs_of: Callable[[DemoSite], Kept]
) -> None:
    """A restore to the DAQ (a Compute check at the destination, per-file items, the Transfer, the finish) and one
    elsewhere (Transfer's stat first): each body each provider received has exactly the documented keys."""
    from test_documented_forms import form_of, recording

    from palxfel_globus.backup import LOCAL_FUNCTION_IDS, load_flow, local_engine
    from palxfel_globus.restore import restore_input

    site = site_with(tmp_path)
    runs = runs_of(site)
    runs.run()
    runs.run()
    ue, ms = first(site, "ue_"), first(site, "ms_")
    definition, _schema = load_flow("restore")
    sent: list[tuple[str, dict[str, Any]]] = []
    with local_engine(runs.config) as engine:
        recording(engine, sent)
        for body in (
            restore_input(runs.config, LOCAL_FUNCTION_IDS, [scan_id(ms)]),
            restore_input(runs.config, LOCAL_FUNCTION_IDS, [scan_id(ue)], {"id": MIRROR, "path": "/wanted"}),
        ):
            assert engine.run(definition, body)["status"] == "SUCCEEDED"
    assert {key for key, _body in sent} == {
        "compute.actions.globus.org/v3",
        "transfer.actions.globus.org/transfer",
        "transfer.actions.globus.org/stat",
    }
    for key, body in sent:
        assert form_of("https://" + key, body).problems(body) == [], (key, body)
