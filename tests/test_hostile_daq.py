"""A DAQ as a facility's really behaves, on the local engine: one odd scan among clean ones.

In every scenario the clean scans of the tick ship byte-exact in that same tick, and the
odd one is either shipped exactly or ``blocked`` with its reason (or, where it cannot even
be named, a warning in the run's summary); it never costs another scan an attempt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palxfel_globus.backup import TickSummary, run_ticks
from palxfel_globus.config import Config, load_config
from palxfel_globus.demo import DemoScan, DemoSite, check_site, make_site
from palxfel_globus.engine import Corruption, Faults, SimulatedCrash
from palxfel_globus.functions import load
from palxfel_globus.sample_tree import mark_complete

UE, MS = "ue_251023_FXL", "ms_251020_timing"


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    """Four complete scans (two per route: ue_ verified by a checksum-sync Transfer, ms_ by
    Compute at the destination), one arriving, one still written."""
    return make_site(tmp_path / "site", scans=6, total_bytes=60_000, experiments=(UE, MS))


def odd_scan(site: DemoSite, experiment: str, files: dict[str, bytes], name: Optional[str] = None) -> DemoScan:
    """A complete scan whose files are exactly ``files`` (relative paths may be bytes-derived names)."""
    date = experiment.split("_")[1]
    name = name or f"{date}_odd_00099_DIR"
    path = site.daq_root / experiment / "rawData" / name
    for rel, data in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data)
    mark_complete(path, "inner")
    scan = DemoScan(experiment, name, path, "complete")
    site.scans.append(scan)
    return scan


def tick(site: DemoSite, limits: Optional[dict[str, Any]] = None, **engine_options: Any) -> TickSummary:
    config = load_config(site.config_path)
    config = replace(config, limits=replace(config.limits, **(limits or {})))
    (summary,) = run_ticks(config, ticks=1, interval=0, engine_options=engine_options)
    return summary


def listed(site: DemoSite) -> dict[str, dict[str, Any]]:
    config: Config = load_config(site.config_path)
    rows = load("list_scans")(config=config.function_config())["scans"]
    return {f"{row['experiment']}/{row['scan']}": row for row in rows}


def assert_clean_scans_shipped(site: DemoSite, summary: TickSummary, odd: Optional[DemoScan]) -> None:
    clean = [scan for scan in site.scans if scan.kind == "complete" and scan is not odd]
    expected = sorted(f"{scan.experiment}/{scan.name}" for scan in clean)
    assert sorted(set(summary.shipped) & set(expected)) == expected, summary.message
    checks = {check.scan_id: check for check in check_site(site, [summary.shipped])}
    assert all(checks[scan_id].ok for scan_id in expected), [checks[scan_id] for scan_id in expected]
    assert not [entry for entry in summary.failed + summary.quarantined if entry["scan"] in expected]


def assert_shipped_exactly(site: DemoSite, summary: TickSummary, odd: DemoScan) -> None:
    scan_id = f"{odd.experiment}/{odd.name}"
    check = next(check for check in check_site(site, [summary.shipped]) if check.scan_id == scan_id)
    assert check.ok, check
    assert listed(site)[scan_id]["state"] == "shipped"


def assert_blocked(site: DemoSite, summary: TickSummary, odd: DemoScan, reason: str) -> None:
    scan_id = f"{odd.experiment}/{odd.name}"
    row = listed(site)[scan_id]
    assert row["state"] == "blocked" and reason in row["reason"], row
    assert f"1 blocked: {scan_id}: " in summary.message and reason in summary.message
    assert [entry["scan"] for entry in summary.blocked] == [scan_id]
    assert not site.destination(odd).exists(), "nothing of a blocked scan left the DAQ"


def no_partial_files(site: DemoSite) -> bool:
    return not [path for path in site.workdir.glob("backup-*/**/*") if ".palxfel-part-" in path.name]


@pytest.mark.parametrize("experiment", [UE, MS])
def test_a_file_name_that_is_not_utf8_blocks_its_scan_only(site: DemoSite, experiment: str) -> None:
    odd = odd_scan(site, experiment, {"ScanInfo/ok.h5": b"1", os.fsdecode(b"PulseInfo/caf\xe9.h5"): b"2"})
    summary = tick(site)
    assert_clean_scans_shipped(site, summary, odd)
    assert_blocked(site, summary, odd, "caf\\xe9.h5: the name 'caf\\\\xe9.h5' is not valid UTF-8")


def test_a_scan_name_that_is_not_utf8_is_a_warning_and_the_rest_ship(site: DemoSite) -> None:
    name = os.fsdecode(b"251023_caf\xe9_00098_DIR")
    odd_scan(site, UE, {"ScanInfo/a.h5": b"1"}, name=name)
    site.scans.pop()
    summary = tick(site)
    assert_clean_scans_shipped(site, summary, None)
    assert summary.status == "SUCCEEDED" and "warning: The scan " in summary.message
    assert "251023_caf\\xe9_00098_DIR: the name" in summary.message and "is not valid UTF-8" in summary.message


def test_an_unreadable_file_blocks_its_scan_only(site: DemoSite, tmp_path: Path) -> None:
    """Run in a child process without the root's right to read anything (CAP_DAC_OVERRIDE), so that
    file permissions apply as they do to the DAQ endpoint's account."""
    odd = odd_scan(site, MS, {"ScanInfo/ok.h5": b"1", "detector1/locked.h5": b"2"})
    (odd.path / "detector1" / "locked.h5").chmod(0)
    result = run_child(tmp_path, site, "tick")
    summary = TickSummary(**result["summary"])
    assert_clean_scans_shipped(site, summary, odd)
    assert_blocked(site, summary, odd, "cannot read detector1/locked.h5 (Permission denied)")
    (odd.path / "detector1" / "locked.h5").chmod(0o644)
    again = tick(site)
    assert again.shipped == [f"{MS}/{odd.name}"], "pending again by itself once readable"
    assert_shipped_exactly(site, again, odd)


def test_a_link_inside_a_scan_to_a_file_in_the_root_blocks_it_until_replaced(site: DemoSite) -> None:
    odd = odd_scan(site, UE, {"ScanInfo/real.h5": b"data"})
    (odd.path / "ScanInfo" / "alias.h5").symlink_to(odd.path / "ScanInfo" / "real.h5")
    summary = tick(site)
    assert_clean_scans_shipped(site, summary, odd)
    assert_blocked(site, summary, odd, "ScanInfo/alias.h5 is a symbolic link; Globus Transfer does not follow")
    (odd.path / "ScanInfo" / "alias.h5").unlink()
    (odd.path / "ScanInfo" / "alias.h5").write_bytes(b"data")
    again = tick(site)
    assert again.shipped == [f"{UE}/{odd.name}"]
    assert_shipped_exactly(site, again, odd)


def test_local_run_and_scans_list_show_a_blocked_scan_and_why(
    site: DemoSite, cli: Callable[..., tuple[int, str, str]]
) -> None:
    odd = odd_scan(site, UE, {"ScanInfo/real.h5": b"data"})
    (odd.path / "ScanInfo" / "alias.h5").symlink_to(odd.path / "ScanInfo" / "real.h5")
    code, out, _ = cli("local", "run", "--once", "--config", str(site.config_path))
    text = " ".join(out.split())
    assert code == 0 and "blocked 1," in text and f"1 blocked: {UE}/{odd.name}: ScanInfo/alias.h5 is a symbolic" in text
    code, out, err = cli("scans", "list", "--config", str(site.config_path), "--json")
    row = next(row for row in json.loads(out) if row["scan"] == odd.name)
    assert code == 0 and err == "" and row["state"] == "blocked" and "alias.h5 is a symbolic link" in row["reason"]


@pytest.mark.parametrize("experiment", [UE, MS])
def test_a_250_byte_file_name_ships(site: DemoSite, experiment: str) -> None:
    odd = odd_scan(site, experiment, {"detector1/" + "d" * 247 + ".h5": b"long name"})
    summary = tick(site)
    assert_clean_scans_shipped(site, summary, odd)
    assert_shipped_exactly(site, summary, odd)
    assert no_partial_files(site)


@pytest.mark.parametrize("experiment", [UE, MS])
def test_a_220_byte_scan_name_ships(site: DemoSite, experiment: str) -> None:
    date = experiment.split("_")[1]
    name = f"{date}_{'n' * (220 - len(date) - 11)}_00097_DIR"
    assert len(name.encode()) == 220
    odd = odd_scan(site, experiment, {"ScanInfo/a.h5": b"a"}, name=name)
    summary = tick(site)
    assert_clean_scans_shipped(site, summary, odd)
    assert_shipped_exactly(site, summary, odd)


def test_a_scan_name_too_long_to_track_is_a_warning(site: DemoSite) -> None:
    name = f"251023_{'n' * 235}_00096_DIR"
    odd_scan(site, UE, {"ScanInfo/a.h5": b"a"}, name=name)
    site.scans.pop()
    summary = tick(site)
    assert_clean_scans_shipped(site, summary, None)
    assert "is 252 bytes, over the 240 a scan's name may have" in summary.message


def test_an_experiment_whose_rawdata_leaves_the_root_is_a_warning(site: DemoSite, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "251025_x_00001_DIR").mkdir(parents=True)
    (outside / "251025_x_00001_DIR" / ".done").touch()
    (site.daq_root / "ue_251025_LINK").mkdir()
    (site.daq_root / "ue_251025_LINK" / "rawData").symlink_to(outside)
    summary = tick(site)
    assert_clean_scans_shipped(site, summary, None)
    assert summary.status == "SUCCEEDED"
    assert "The experiment ue_251025_LINK is skipped: Refusing" in summary.message
    assert not (site.workdir / "backup-ue" / "backup" / "ue" / "ue_251025_LINK").exists()


def rewrite_before(state: str, path: Path, how: Callable[[Path], None]) -> Callable[..., None]:
    """An engine event hook: the DAQ rewrites a file of a complete scan just before ``state`` runs."""
    done: list[bool] = []

    def on_event(entry: dict[str, Any], _context: dict[str, Any]) -> None:
        if entry["code"] == "ActionStarted" and entry["details"].get("state_name") == state and not done:
            done.append(True)
            how(path)

    return on_event


REWRITES: dict[str, Callable[[Path], None]] = {
    "same size": lambda path: path.write_bytes(bytes(255 - byte for byte in path.read_bytes())),
    "grown": lambda path: path.write_bytes(path.read_bytes() + b"more"),
    "added": lambda path: (path.parent / "added.h5").write_bytes(b"new file"),
    "deleted": lambda path: path.unlink(),
}


@pytest.mark.parametrize("experiment", [UE, MS])
@pytest.mark.parametrize("rewrite", sorted(REWRITES))
def test_a_file_rewritten_between_manifest_and_transfer_is_never_shipped_against_the_old_manifest(
    site: DemoSite, experiment: str, rewrite: str
) -> None:
    """The DAQ rewrote a file after the scan's marker: the copy must match the manifest that ships
    with it. This attempt fails for that scan alone; the next builds a new manifest and ships."""
    odd = odd_scan(site, experiment, {"ScanInfo/a.h5": b"first bytes", "ScanInfo/b.h5": b"other"})
    hook = rewrite_before("TransferScans", odd.path / "ScanInfo" / "a.h5", REWRITES[rewrite])
    summary = tick(site, limits={"backoff_seconds": 0}, on_event=hook)
    assert_clean_scans_shipped(site, summary, odd)
    scan_id = f"{experiment}/{odd.name}"
    assert [entry["scan"] for entry in summary.failed] == [scan_id], summary.message
    assert listed(site)[scan_id]["state"] == "failed"
    retried = tick(site)
    assert retried.shipped == [scan_id]
    assert_shipped_exactly(site, retried, odd)
    manifest = json.loads((site.destination(odd).parent / f"{odd.name}.manifest.json").read_text())
    assert {entry["path"] for entry in manifest["files"]} == {
        str(path.relative_to(odd.path)) for path in odd.path.rglob("*") if path.is_file()
    }


def test_a_scan_changed_while_it_was_hashed_is_a_failed_attempt_of_that_scan_alone(
    site: DemoSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    odd = odd_scan(site, UE, {"ScanInfo/growing.h5": b"x" * 100})
    config = load_config(site.config_path).function_config()
    real_open = builtins.open

    def open_while_written(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("growing.h5"):
            with real_open(path, "ab") as handle:
                handle.write(b"more")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_while_written)
    result = load("build_manifest")(config=config, experiment=UE, scan=odd.name)
    monkeypatch.undo()
    assert result == {
        "experiment": UE,
        "scan": odd.name,
        "error": "ScanInfo/growing.h5 changed while it was hashed; is the scan still being written?",
        "blocked": False,
        "kind": None,
    }
    found = load("find_completed_scans")(config=config, run_id="r1")
    others = [scan for scan in found["scans"] if scan["scan"] != odd.name]
    outcome = load("record_outcome")(
        config=config,
        run_id="r1",
        found=found,
        groups_done=[],
        error="the run stopped",
        manifest_problems=[dict(result, experiment=UE)],
    )
    assert outcome["failed"][0]["scan"] == f"{UE}/{odd.name}"
    assert "changed while it was hashed" in outcome["failed"][0]["reason"]
    assert all(entry["reason"] == "the run stopped" for entry in outcome["failed"][1:])
    assert len(outcome["failed"]) == len(others) + 1 and outcome["blocked"] == []


CHILD = r"""
import json, os, signal, sys
from pathlib import Path

def main():
    from palxfel_globus.backup import run_ticks
    from palxfel_globus.config import load_config
    from palxfel_globus.engine.providers import transfer

    mode, config_path, out = sys.argv[1:4]
    if mode == "kill":
        real_send = transfer._send
        calls = []

        def send_then_die(source_fd, destination_fd):
            calls.append(1)
            if len(calls) == 3:
                os.sendfile(destination_fd, source_fd, 0, 5)  # half a file on disk, then the engine is killed
                import multiprocessing.forkserver as forkserver
                workers = [pid for pool in ENGINE[0].compute._pools.values() for pid in pool._processes]
                workers.append(forkserver._forkserver._forkserver_pid)
                Path(out).write_text(json.dumps({"workers": workers}))
                os.kill(os.getpid(), signal.SIGKILL)
            return real_send(source_fd, destination_fd)

        transfer._send = send_then_die
    from palxfel_globus import backup
    real_engine = backup.local_engine
    ENGINE = []

    def engine(*args, **kwargs):
        ENGINE.append(real_engine(*args, **kwargs))
        return ENGINE[0]

    backup.local_engine = engine
    (summary,) = run_ticks(load_config(Path(config_path)), ticks=1, interval=0)
    Path(out).write_text(json.dumps({"summary": summary.as_json()}))

if __name__ == "__main__":
    main()
"""


def run_child(tmp_path: Path, site: DemoSite, mode: str) -> dict[str, Any]:
    """One tick in a child process: as the DAQ endpoint's account would run it (no root's right to read
    what it may not), and killable. Returns what the child wrote: its summary, or its workers' pids."""
    script, out = tmp_path / "child.py", tmp_path / "child.json"
    script.write_text(CHILD)

    def without_root_read_override() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: gone after exec
            libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP; refused (and not needed) unless root

    process = subprocess.run(
        [sys.executable, str(script), mode, str(site.config_path), str(out)],
        preexec_fn=without_root_read_override,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if mode == "kill":
        assert process.returncode == -signal.SIGKILL, process.stderr
    else:
        assert process.returncode == 0, process.stderr
    return json.loads(out.read_text())


def process_gone(pid: int, deadline_seconds: float = 20.0) -> bool:
    """Whether ``pid`` ends (or is a zombie) within the deadline: a bounded wait, not a timing assert."""
    import time

    end = time.monotonic() + deadline_seconds
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_a_kill_during_the_transfer_leaves_nothing_once_the_next_tick_has_run(site: DemoSite, tmp_path: Path) -> None:
    """The killed run's lease has days to go, but its process is gone (its lock is free): its claims
    read as a dead run's, and the next tick ships everything, once, with no debris."""
    killed = run_child(tmp_path, site, "kill")
    assert not no_partial_files(site), "the kill left a partial file behind"
    assert all(process_gone(pid) for pid in killed["workers"]), "Compute workers die with the engine"
    assert all(row["state"] != "claimed" for row in listed(site).values()), "a dead run holds nothing"
    summary = tick(site)
    expected = sorted(f"{scan.experiment}/{scan.name}" for scan in site.scans if scan.kind == "complete")
    assert sorted(summary.shipped) == expected, summary.message
    assert all(check.ok for check in check_site(site, [summary.shipped]) if check.expected.startswith("complete"))
    assert no_partial_files(site)


HOSTILE = {
    "non-UTF-8 file name": ("blocked", {os.fsdecode(b"ScanInfo/\xff.h5"): b"x"}),
    "link inside": ("blocked", {"ScanInfo/a.h5": b"a"}),
    "250-byte file name": ("shipped", {"detector1/" + "f" * 247 + ".h5": b"f"}),
    "rewritten after its manifest": ("shipped", {"ScanInfo/a.h5": b"old bytes", "ScanInfo/b.h5": b"b"}),
}
FAULTS = {
    "fail the first transfer": lambda: Faults(fail={"TransferScans": 1}),
    "fail the manifests": lambda: Faults(fail={"Manifests": 1}),
    "fail the Compute verification": lambda: Faults(fail={"VerifyWithCompute": 1}),
    "fail the record": lambda: Faults(fail={"RecordOutcome": 1}),
    "corrupt a copy": lambda: Faults(corrupt=[Corruption("TransferScans", "*/detector1/*")]),
    "crash before the verification": lambda: Faults(crash={"VerifyWithTransfer"}),
    "crash before the record": lambda: Faults(crash={"RecordOutcome"}),
    "none": Faults,
}


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    hostile=st.lists(st.tuples(st.sampled_from(sorted(HOSTILE)), st.sampled_from([UE, MS])), min_size=1, max_size=3),
    fault=st.sampled_from(sorted(FAULTS)),
)
def test_clean_scans_ship_once_and_exactly_whatever_hostile_scans_and_faults_share_their_ticks(
    tmp_path_factory: pytest.TempPathFactory, hostile: list[tuple[str, str]], fault: str
) -> None:
    site = make_site(tmp_path_factory.mktemp("site"), scans=6, total_bytes=30_000, experiments=(UE, MS))
    odd: dict[str, tuple[DemoScan, str]] = {}
    hooks = []
    for number, (kind, experiment) in enumerate(hostile):
        expected, files = HOSTILE[kind]
        scan = odd_scan(site, experiment, files, name=f"{experiment.split('_')[1]}_odd_{number + 50:05d}_DIR")
        if kind == "link inside":
            (scan.path / "ScanInfo" / "alias.h5").symlink_to(scan.path / "ScanInfo" / "a.h5")
        if kind == "rewritten after its manifest":
            hooks.append(rewrite_before("TransferScans", scan.path / "ScanInfo" / "a.h5", REWRITES["grown"]))
        odd[f"{experiment}/{scan.name}"] = (scan, expected)
    shipped: list[list[str]] = []
    for number in range(5):
        first = number == 0  # the fault and the DAQ's rewrite happen in the first tick; the next ticks recover
        try:
            summary = tick(
                site,
                limits={"backoff_seconds": 0, "lease_seconds": 0},
                faults=FAULTS[fault]() if first else Faults(),
                on_event=(lambda entry, context: [hook(entry, context) for hook in hooks]) if first else None,
            )
        except SimulatedCrash:
            continue
        shipped.append(summary.shipped)
        if summary.found == 0:
            break
    rows = listed(site)
    checks = {check.scan_id: check for check in check_site(site, shipped)}
    for scan in site.scans:
        scan_id = f"{scan.experiment}/{scan.name}"
        expected = odd.get(scan_id, (scan, "shipped" if scan.kind == "complete" else None))[1]
        if expected == "shipped":
            assert rows[scan_id]["state"] == "shipped" and checks[scan_id].ok, (scan_id, checks[scan_id], rows[scan_id])
            verified = load("verify_scan")(
                root=str(site.destination(scan).parent),
                scan_path=scan.name,
                manifest_path=f"{scan.name}.manifest.json",
            )
            assert verified["ok"], ("the copy matches the manifest shipped beside it", verified)
        elif expected == "blocked":
            assert rows[scan_id]["state"] == "blocked" and not site.destination(scan).exists()
    assert not [row for row in rows.values() if row["state"] == "quarantined"]
    assert no_partial_files(site)
