"""Issue 12, items 3-5: several destinations per route, DAQ space released only after a fresh verification
at every destination, and a ledger whose released records are compacted."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from tests_support import (
    ARCHIVE,
    Runs,
    complete,
    copy_places,
    damage_first_detector_file,
    digest,
    outcome,
    two_destinations,
)

from palxfel_globus.backup import load_flow, run_message
from palxfel_globus.config import ConfigError, load_config, parse_config
from palxfel_globus.demo import IDS, DemoScan, DemoSite, make_site
from palxfel_globus.engine import SimulatedCrash
from palxfel_globus.engine.faults import parse_fault
from palxfel_globus.functions import call

Cli = Callable[..., "tuple[int, str, str]"]


def copies(site: DemoSite, scan: DemoScan) -> list[Path]:
    """Where the scan's copies are: each destination of its route."""
    return copy_places(load_config(site.config_path), scan.experiment, scan.name)


@pytest.fixture
def runs_of() -> Iterator[Callable[[DemoSite], Runs]]:
    """Runs over a site, their engine stopped when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda site: stack.enter_context(Runs(site))


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    site = make_site(tmp_path / "site", scans=9, total_bytes=9000)
    two_destinations(site)
    return site


def test_two_destinations_then_release_everything_but_a_scan_damaged_at_the_second_which_ships_again(
    site: DemoSite, runs_of: Callable[[DemoSite], Runs]
) -> None:
    """The issue's must-show: tick 1 ships to both destinations; one file of one scan is damaged at the
    second; tick 2 releases every other scan and ships that one again; a later tick releases it."""
    runs = runs_of(site)
    first = runs.run()
    shipped = sorted(f"{scan.experiment}/{scan.name}" for scan in complete(site))
    assert first["status"] == "SUCCEEDED" and sorted(outcome(first)["shipped"]) == shipped
    for scan in complete(site):
        assert all(digest(copy) == runs.originals[scan.name] for copy in copies(site, scan))
    ue_scan = next(scan for scan in complete(site) if scan.experiment.startswith("ue_"))
    row = runs.rows()[ue_scan.name]
    assert [(place["collection"], place["state"]) for place in row["destinations"]] == [
        (IDS["ue-collection"], "verified"),
        (ARCHIVE, "verified"),
    ]
    damage_first_detector_file(copies(site, ue_scan)[1])

    second = runs.run()
    others = sorted(scan_id for scan_id in shipped if not scan_id.endswith(ue_scan.name))
    assert sorted(outcome(second)["released"]) == others
    assert [item["scan"] for item in outcome(second)["shipping_again"]] == [f"{ue_scan.experiment}/{ue_scan.name}"]
    assert ue_scan.path.exists() and not any(scan.path.exists() for scan in complete(site) if scan is not ue_scan)
    rows = runs.rows()
    assert {rows[scan.name]["state"] for scan in complete(site) if scan is not ue_scan} == {"released"}
    assert rows[ue_scan.name]["state"] == "pending" and ARCHIVE in rows[ue_scan.name]["reason"]
    (mail,) = second["mail"]
    assert f"{ue_scan.experiment}/{ue_scan.name} is reverify_failed" in mail["body"] and "detector1" in mail["body"]
    assert second["status"] == "FAILED", "a damaged backup copy is a failed night, told to a person"

    third = runs.run()
    assert outcome(third)["shipped"] == [f"{ue_scan.experiment}/{ue_scan.name}"] and third["mail"] == []
    assert digest(copies(site, ue_scan)[1]) == runs.originals[ue_scan.name], "the damaged copy was repaired"
    fourth = runs.run()
    assert outcome(fourth)["released"] == [f"{ue_scan.experiment}/{ue_scan.name}"] and not ue_scan.path.exists()
    assert runs.rows()[ue_scan.name]["state"] == "released"
    assert runs.run()["details"]["output"]["summary"]["message"].startswith("No completed scans to ship")


def test_a_scan_changed_on_the_daq_since_it_shipped_is_blocked_and_never_shipped_over_its_backups(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Runs]
) -> None:
    """After shipping, the ledger's manifest is the truth: a DAQ copy that differs from it is blocked for a person
    (told once), neither released nor synced over the verified copies, until 'scans replace' says the DAQ copy is
    the one to keep."""
    runs = runs_of(site)
    runs.run()
    scan = complete(site)[0]
    scan_id = f"{scan.experiment}/{scan.name}"
    written = sorted((scan.path / "detector1").iterdir())[0]
    written.write_bytes(written.read_bytes() + b"more")
    second = runs.run()
    assert scan_id not in outcome(second)["released"] and scan.path.exists()
    row = runs.rows()[scan.name]
    assert row["state"] == "blocked" and row["blocked_kind"] == "daq_differs"
    assert "the DAQ copy differs from the verified backups (detector1/" in row["reason"]
    assert all(digest(copy) == runs.originals[scan.name] for copy in copies(site, scan)), "the backups are intact"
    (mail,) = second["mail"]
    assert f"{scan_id} is blocked" in mail["body"] and "scans replace" in mail["body"]
    third = runs.run()
    assert third["mail"] == [] and runs.rows()[scan.name]["state"] == "blocked", "told once, then left alone"
    assert all(digest(copy) == runs.originals[scan.name] for copy in copies(site, scan))

    code, out, err = cli("scans", "replace", scan_id, "--yes", "--config", str(site.config_path))
    assert (code, err) == (0, "") and "now pending: the next tick ships the DAQ copy over its backups" in out
    runs.originals[scan.name] = digest(scan.path)
    assert outcome(runs.run())["shipped"] == [scan_id]
    assert all(digest(copy) == runs.originals[scan.name] for copy in copies(site, scan))
    assert outcome(runs.run())["released"] == [scan_id]


def test_a_replaced_scan_with_a_file_fewer_leaves_no_stale_file_in_its_backups(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Runs]
) -> None:
    """'scans replace' makes the DAQ copy the truth: a file removed from it since is removed from each backup by
    the next ship (delete_destination_extra), so the copies verify against the new manifest and are released."""
    runs = runs_of(site)
    runs.run()
    scan = next(scan for scan in complete(site) if scan.experiment.startswith("ue_"))
    scan_id = f"{scan.experiment}/{scan.name}"
    sorted((scan.path / "detector1").iterdir())[0].unlink()
    runs.run()
    assert runs.rows()[scan.name]["blocked_kind"] == "daq_differs"
    code, _out, err = cli("scans", "replace", scan_id, "--yes", "--config", str(site.config_path))
    assert (code, err) == (0, "")
    runs.originals[scan.name] = digest(scan.path)
    shipped = runs.run()
    assert outcome(shipped)["shipped"] == [scan_id], run_message(shipped)
    assert all(digest(copy) == digest(scan.path) for copy in copies(site, scan)), "no stale file left at a backup"
    assert outcome(runs.run())["released"] == [scan_id]


def test_without_retention_nothing_is_ever_released(site: DemoSite, runs_of: Callable[[DemoSite], Runs]) -> None:
    two_destinations(site, release_after=None)
    runs = runs_of(site)
    runs.run()
    runs.run()
    assert all(scan.path.exists() for scan in site.scans)


def test_a_scan_is_not_released_before_release_after(site: DemoSite, runs_of: Callable[[DemoSite], Runs]) -> None:
    two_destinations(site, release_after="30d")
    runs = runs_of(site)
    runs.run()
    second = runs.run()
    assert "recorded" not in second["details"]["output"], "a quiet tick: nothing found, nothing due"
    assert all(scan.path.exists() for scan in site.scans)


def test_actions_per_run_are_one_transfer_and_one_verification_per_destination_with_scans(
    site: DemoSite, runs_of: Callable[[DemoSite], Runs]
) -> None:
    runs = runs_of(site)
    first = runs.run()
    done = first["details"]["output"]["loop"]["done"]
    assert len(done) == 3, "ue_* to two destinations, ms_* to one"
    second = runs.run()
    groups = second["details"]["output"]["find"]["result"]["groups"]
    assert [(group["route"], group["destination"], group["release"]) for group in groups] == [
        (0, 0, True),
        (0, 1, True),
        (1, 0, True),
    ]
    started = [entry["details"]["state_name"] for entry in second["log"] if entry["code"] == "ActionStarted"]
    read_back = {"NextItems", "CopyTask"}  # the Transfer-only destination's copies, read back chunk by chunk
    assert sorted(name for name in started if name not in read_back) == sorted(
        ["FindCompletedScans", "Manifests", "RecordOutcome", "RemoveScratch"]
        + ["ProbeDestination"] * 3
        + ["VerifyWithCompute"] * 2
    ), "per destination a probe and a verification; the DAQ copies checked once, before anything"
    copies_read = len(groups[0]["readback"]["copies"])
    assert started.count("NextItems") >= 1 and started.count("CopyTask") >= copies_read, "each copy read, none synced"
    done = second["details"]["output"]["loop"]["done"]
    assert {group["transfer"]["status"] for group in done} == {"NOT_NEEDED"}, "no scan is moved to be released"


def test_the_dry_run_lists_what_the_next_run_releases(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Runs]
) -> None:
    two_destinations(site, max_release=2)
    runs = runs_of(site)
    runs.run()
    code, out, err = cli("scans", "release", "--dry-run", "--json", "--config", str(site.config_path))
    assert (code, err) == (0, "")
    planned = [(row["experiment"], row["scan"]) for row in json.loads(out)]
    assert len(planned) == 2 and all("; release_after is 0 s" in row["reason"] for row in json.loads(out))
    released = outcome(runs.run())["released"]
    assert sorted(released) == sorted(f"{experiment}/{scan}" for experiment, scan in planned)
    code, out, err = cli("scans", "release", "--dry-run", "--config", str(site.config_path))
    said = " ".join(out.split())
    assert code == 0 and "The next run releases 2 scans if every copy verifies again" in said and "More are due" in said


def test_release_without_dry_run_says_how_release_happens(site: DemoSite, cli: Cli) -> None:
    code, out, err = cli("scans", "release", "--config", str(site.config_path))
    assert code == 2 and err.count("\n") == 1 and "only by the flow's runs" in err and "--dry-run" in err


def test_a_release_cut_short_after_the_rename_is_finished_by_the_next_tick(
    site: DemoSite, runs_of: Callable[[DemoSite], Runs]
) -> None:
    """The DAQ copy is renamed to the trash only after its verification; a crash then leaves the trash, which
    'scans list' shows as releasing, and the next run deletes it, settles the ledger and names it released."""
    runs = runs_of(site)
    runs.run()
    scan = complete(site)[0]
    trash = scan.path.parent / f".palxfel-released-{hashlib.sha256(scan.name.encode()).hexdigest()[:24]}"
    scan.path.rename(trash)
    row = runs.rows()[scan.name]
    assert (row["state"], row["on_disk"]) == ("releasing", False) and "the next run finishes it" in row["reason"]
    second = runs.run()
    assert outcome(second)["released"].count(f"{scan.experiment}/{scan.name}") == 1
    assert not trash.exists() and runs.rows()[scan.name]["state"] == "released"
    assert runs.run()["details"]["output"]["summary"]["message"].startswith("No completed scans to ship")


def fault_matrix() -> list[str]:
    """Every --fault a run of scan_backup can meet: each state crashed before, each action failed, each
    delivered file damaged."""
    states = load_flow("scan_backup")[0]["States"]
    faults = [f"crash:{name}" for name in states]
    faults += [f"fail:{name}" for name, state in states.items() if state["Type"] == "Action"]
    faults += [f"corrupt:{name}:*" for name in ("TransferScans", "VerifyWithTransfer")]
    return faults


@pytest.mark.parametrize("fault", fault_matrix())
def test_nothing_leaves_the_daq_without_a_verified_copy_at_every_destination_whatever_fails(
    tmp_path: Path, fault: str, runs_of: Callable[[DemoSite], Runs]
) -> None:
    """The property, over the fault matrix: the fault strikes in the run that ships, again in the run that
    releases and in the first that reads the copies back (the scrub, every = "0s"); after every run, a scan gone
    from the DAQ has its original bytes at each destination (``Runs.check_nothing_lost``), and clean runs then
    release every complete scan."""
    site = make_site(tmp_path / "site", scans=4, total_bytes=4000, experiments=("ue_251023_FXL", "ms_251020_timing"))
    two_destinations(site, retry_backoff="0s", scrub={"every": "0s", "max_copies": 8})
    text = site.config_path.read_text(encoding="utf-8")  # three failed attempts are not yet a quarantine
    site.config_path.write_text(text.replace("max_attempts = 3\n", "max_attempts = 4\n"), encoding="utf-8")
    runs = runs_of(site)
    for _ in range(3):
        try:
            runs.run(parse_fault(fault))
        except SimulatedCrash:
            pass  # Runs.run checked what is left all the same
    for _ in range(4):
        runs.run()
    left = {scan.name: runs.rows()[scan.name]["state"] for scan in complete(site) if scan.path.exists()}
    if fault == "fail:RecordOutcome":  # the ledger never heard of the run: its claims stand until their lease ends
        assert set(left.values()) <= {"claimed"}
    else:
        assert left == {}, "clean runs release every complete scan"


def test_config_takes_several_destinations_and_the_one_destination_form(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", scans=3, total_bytes=3000)
    two_destinations(site, release_after="30d", max_release=5)
    config = load_config(site.config_path)
    ue, ms = config.routes
    assert [destination.collection for destination in ue.destinations] == [IDS["ue-collection"], ARCHIVE]
    assert ms.primary.collection == IDS["ms-collection"] and len(ms.destinations) == 1
    assert (config.retention.release_after, config.retention.max_release) == (30 * 86400, 5)
    assert config.function_config()["retention"] == {"release_after": 2592000, "max_release": 5}
    assert ARCHIVE in config.collections()


BASE = {
    "daq": {
        "root": "/xfel/ffs/dat",
        "collection": IDS["daq-collection"],
        "collection_root": "/",
        "compute_endpoint": IDS["daq-endpoint"],
    }
}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {
                "route": [
                    {"match": "*", "collection": ARCHIVE, "base_path": "/a", "destination": [{"collection": ARCHIVE}]}
                ]
            },
            "[[route]] #1: give its collection and base_path either in [[route]] itself or in [[route.destination]]",
        ),
        (
            {"route": [{"match": "*", "destination": [{"collection": ARCHIVE}]}]},
            "[[route]] #1 [[route.destination]] #1: the key 'base_path' is required.",
        ),
        (
            {"route": [{"match": "*", "destination": [{"collection": ARCHIVE, "base_path": "/a", "colection": 1}]}]},
            "[[route]] #1 [[route.destination]] #1: unknown key 'colection'; did you mean 'collection'?",
        ),
        (
            {"route": [{"match": "*", "destination": [{"collection": ARCHIVE, "base_path": "/a"}] * 2}]},
            f"[[route]] #1: lists /a on {ARCHIVE} twice; each destination is a different place.",
        ),
        (
            {
                "route": [
                    {
                        "match": "*",
                        "destination": [
                            {"collection": ARCHIVE, "base_path": "/a"},
                            {"collection": IDS["daq-collection"], "base_path": "/xfel/ffs/dat/copy"},
                        ],
                    }
                ]
            },
            "[[route]] #1 [[route.destination]] #2.base_path: /xfel/ffs/dat/copy on the DAQ collection is inside",
        ),
        ({"retention": {"max_release": 5}}, "[retention]: the key 'release_after' is required"),
        ({"retention": {"release_after": "soon"}}, "[retention].release_after: expected a duration"),
        ({"retention": {"release_after": "1d", "max_release": 500}}, "[retention].max_release: 500 is more than 100"),
        (
            {"retention": {"release_afte": "1d"}},
            "[retention]: unknown key 'release_afte'; did you mean 'release_after'?",
        ),
    ],
)
def test_each_mistake_in_destinations_and_retention_is_one_sentence(extra: dict[str, Any], expected: str) -> None:
    document = {**BASE, "route": [{"match": "*", "collection": ARCHIVE, "base_path": "/a"}], **extra}
    with pytest.raises(ConfigError) as raised:
        parse_config(document, check_tree=False)
    assert any(problem.startswith(expected) for problem in raised.value.problems), raised.value.problems


def test_release_after_zero_is_allowed() -> None:
    document = {**BASE, "route": [{"match": "*", "collection": ARCHIVE, "base_path": "/a"}]}
    config = parse_config({**document, "retention": {"release_after": "0s"}}, check_tree=False)
    assert (config.retention.release_after, config.retention.max_release) == (0, 20)


def test_released_records_are_compacted_beyond_the_most_recent_and_listed_on_request(
    site: DemoSite, cli: Cli, runs_of: Callable[[DemoSite], Runs]
) -> None:
    runs = runs_of(site)
    runs.run()
    released = outcome(runs.run())["released"]
    config = load_config(site.config_path)
    ledger = str(config.daq.ledger)
    assert call("record_outcome", function="compact_released", ledger=ledger, keep=2) == len(released) - 2
    listing = call("list_scans", config=config.function_config())
    assert sum(1 for row in listing["scans"] if row["state"] == "released") == 2
    assert sum(item["count"] for item in listing["archived"]) == len(released) - 2
    everything = call("list_scans", config=config.function_config(), archived=True)["scans"]
    rows = sorted(f"{row['experiment']}/{row['scan']}" for row in everything if row["state"] == "released")
    assert rows == sorted(released)
    archived = next(row for row in everything if row["state"] == "released" and row["released_at"])
    assert {place["state"] for place in archived["destinations"]} == {"verified"}

    # a crash after the archive's summary named a batch, before its files went: the next compaction removes
    # them, and nothing is counted twice
    experiment = listing["archived"][0]["experiment"]
    batch = call("record_outcome", function="archive_summary", ledger=ledger, experiment=experiment)["batch"]
    path = Path(ledger) / "released" / experiment / f"{batch[0]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"experiment": experiment, "scan": batch[0], "state": "released"}), encoding="utf-8")
    call("record_outcome", function="compact_released", ledger=ledger, keep=2)
    again = call("list_scans", config=config.function_config(), archived=True)["scans"]
    assert sorted(f"{row['experiment']}/{row['scan']}" for row in again if row["state"] == "released") == rows

    code, out, err = cli("scans", "list", "--config", str(site.config_path))
    said = " ".join(out.split())
    assert code == 0 and f"{len(released) - 2} older released scans in" in said and "--archived lists them" in said
    code, out, err = cli("scans", "list", "--archived", "--json", "--config", str(site.config_path))
    assert sum(1 for row in json.loads(out) if row["state"] == "released") == len(released)


def test_the_run_state_stays_far_below_the_cap_with_two_destinations_and_releases(
    tmp_path: Path, runs_of: Callable[[DemoSite], Runs]
) -> None:
    """Every copy (a scan at one destination) carries its verification through the run state: a run
    ships or re-verifies at most 100 copies, whatever max_scans says, and takes its releases first."""
    from palxfel_globus.demo import arrive_markers

    site = make_site(tmp_path / "site", scans=120, total_bytes=120 * 2048)
    arrive_markers(site)
    two_destinations(site)
    text = site.config_path.read_text(encoding="utf-8").replace("max_scans = 50", "max_scans = 100")
    site.config_path.write_text(text + f'\n[catalog]\nindex = "{IDS["catalog-index"]}"\n', encoding="utf-8")
    runs = runs_of(site)
    first, second = runs.run(), runs.run()
    for run in (first, second):
        assert run["status"] == "SUCCEEDED" and run["peak_state_bytes"] < 150 * 1024, run["peak_state_bytes"]
        copies = sum(len(group["scans"]) for group in run["details"]["output"]["find"]["result"]["groups"])
        assert 90 <= copies <= 100
    assert first["details"]["output"]["find"]["result"]["more"], "the copies left wait for the next run"
    assert len(outcome(second)["released"]) == 20, "max_release, taken before the scans to ship"


def test_the_trash_name_of_a_released_copy_fits_whatever_the_scan_name() -> None:
    longest = "251023_" + "빔" * 74 + "_00001_DIR"  # 239 bytes, near the 240 a scan name may have
    names = {
        call("record_outcome", function="trash_path", root_real="/d", experiment="ue_251023_X", scan=scan)
        for scan in (longest, longest.replace("00001", "00002"))
    }
    assert len(names) == 2 and all(len(Path(name).name.encode()) < 64 for name in names)
