"""``palxfel-globus local run`` and ``demo`` as a person and a script see them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from palxfel_globus.backup import check_input, load_flow
from palxfel_globus.demo import make_site
from palxfel_globus.engine import Engine
from palxfel_globus.errors import PalxfelError


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return make_site(tmp_path / "site", scans=6, total_bytes=60_000).config_path


def test_local_run_json_prints_one_summary_per_tick(
    config_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = cli("local", "run", "--config", str(config_path), "--ticks", "2", "--interval", "0", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and err == ""
    assert [(line["status"], line["found"], len(line["shipped"])) for line in lines] == [
        ("SUCCEEDED", 4, 4),
        ("SUCCEEDED", 0, 0),
    ]


def test_local_run_ticks_on_simulated_time(config_path: Path) -> None:
    """With --ticks the hour between ticks passes at once on the engine's clock (issue 11)."""
    from palxfel_globus.backup import run_ticks
    from palxfel_globus.config import load_config
    from palxfel_globus.engine import VirtualClock

    clock = VirtualClock()
    before = clock.now()
    summaries = run_ticks(load_config(config_path), ticks=3, interval=3600, engine_options={"clock": clock})
    assert [summary.status for summary in summaries] == ["SUCCEEDED"] * 3
    assert 2 * 3600 <= clock.now() - before < 3 * 3600


def one_tick_with_fault(
    cli: Callable[..., tuple[int, str, str]], config_path: Path, fault: str
) -> tuple[int, str, str]:
    return cli("local", "run", "--config", str(config_path), "--once", "--fault", fault)


def test_local_run_shows_each_tick_and_fails_with_the_run(
    config_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, _ = one_tick_with_fault(cli, config_path, "corrupt:TransferScans:/~/ms/*/detector1/*")
    assert code == 1
    assert "tick 0: FAILED" in out and "verification failed" in out and "(checksum differs)" in out


def test_a_raising_verification_is_reported_not_lost(
    config_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    """A damaged manifest fails that scan's verification (not the action, which every scan of the route
    shares); the run says so and fails."""
    code, out, _ = one_tick_with_fault(cli, config_path, "corrupt:TransferScans:/~/ms/*.manifest.json")
    assert code == 1
    assert "verification failed: the copy could not be checked: The shipped manifest" in " ".join(out.split())


@pytest.mark.parametrize(
    ("edit", "messages"),
    [
        (
            lambda text, site: text.replace(f'root = "{site}/daq/xfel/ffs/dat"', f'root = "{site}/gone"'),
            [
                "[daq].root: {site}/gone does not exist or is not a directory.",
                "[local].collections maps the DAQ collection to {site}/daq, where /xfel/ffs/dat is "
                "{site}/daq/xfel/ffs/dat, not [daq].root {site}/gone.",
            ],
        ),
        (
            lambda text, site: text.replace('match = "ms_*"', 'match = "sm_*"'),
            [
                "[[route]] #2 (match = 'sm_*') matches no experiment in {site}/daq/xfel/ffs/dat; fix the pattern, "
                "or remove the route until such experiments exist."
            ],
        ),
        (
            lambda text, site: text.replace('collection_root = "/xfel/ffs/dat"', 'collection_root = "/xfel"'),
            [
                "[local].collections maps the DAQ collection to {site}/daq, where /xfel is {site}/daq/xfel, not "
                "[daq].root {site}/daq/xfel/ffs/dat."
            ],
        ),
    ],
)
def test_bad_configs_are_refused_before_anything_moves(
    config_path: Path, cli: Callable[..., tuple[int, str, str]], edit, messages: list[str]
) -> None:  # type: ignore[no-untyped-def]
    site = config_path.parent
    config_path.write_text(edit(config_path.read_text("utf-8"), site), encoding="utf-8")
    code, out, err = cli("local", "run", "--config", str(config_path), "--once")
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"Error: {config_path}: {message.format(site=site)}" for message in messages]
    assert not (site / "backup-ue" / "backup").exists(), "nothing moved"


def test_demo_ships_everything_once_and_says_so(tmp_path: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = cli("demo", "--workdir", str(tmp_path / "demo"), "--scans", "8", "--size", "2MB")
    assert code == 0
    assert "All 7 complete scans reached their destinations, verified, exactly once" in " ".join(out.split())
    assert "tick 1: SUCCEEDED  found 1, shipped 1" in out
    page, ledger = tmp_path / "demo" / "report.html", tmp_path / "demo" / "daq" / "xfel/ffs/dat/.palxfel-backup"
    assert f"Report: {page} (open it in a browser)" in out, "the demo ends with the morning page"
    assert "<svg" in page.read_text("utf-8")
    assert "palxfel_globus_shipped_scans_total" in (ledger / "palxfel_globus.prom").read_text("utf-8")


def test_demo_refuses_a_directory_with_something_in_it(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = cli("demo", "--workdir", str(tmp_path))
    assert (code, err) == (2, f"Error: --workdir {tmp_path} is not empty; give a new or empty directory.\n")


def test_the_one_off_transfer_flow_copies_with_verification(tmp_path: Path) -> None:
    definition, schema = load_flow("transfer")
    body = {
        "source": {"id": "aaaaaaaa-0000-4000-8000-000000000001", "path": "/a.h5"},
        "destination": {"id": "bbbbbbbb-0000-4000-8000-000000000002", "path": "/copies/a.h5"},
        "deadline": "2999-01-01T00:00:00+00:00",
    }
    check_input(body, schema)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "a.h5").write_bytes(b"data" * 100)
    collections = {
        "aaaaaaaa-0000-4000-8000-000000000001": tmp_path / "a",
        "bbbbbbbb-0000-4000-8000-000000000002": tmp_path / "b",
    }
    with Engine(collections=collections) as engine:
        document = engine.run(definition, body)
    assert document["status"] == "SUCCEEDED"
    assert document["details"]["output"]["summary"]["files_transferred"] == 1
    assert (tmp_path / "b" / "copies" / "a.h5").read_bytes() == b"data" * 100
    with pytest.raises(PalxfelError, match="The flow input at source/path is invalid"):
        check_input({**body, "source": {"id": body["source"]["id"], "path": "relative"}}, schema)


def test_a_bad_interval_names_the_option(config_path: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = cli("local", "run", "--config", str(config_path), "--once", "--interval", "soon")
    assert (code, out, err) == (2, "", 'Error: --interval: expected a duration such as 600, "10m" or "1h".\n')


def test_a_simulated_crash_is_one_line_and_the_next_tick_recovers(
    config_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = cli("local", "run", "--config", str(config_path), "--once", "--fault", "crash:Manifests")
    assert (code, out) == (1, "")
    assert err == (
        "Error: The run stopped: simulated crash before state Manifests (--fault); the next tick recovers it.\n"
    )
    code, out, err = cli("local", "run", "--config", str(config_path), "--once", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["found"] == len(summary["shipped"]) > 0, "the crashed run's claims hold nothing"


@pytest.mark.parametrize("scans", ["1", "2"])
def test_the_demo_works_for_the_fewest_scans_its_help_allows(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], scans: str
) -> None:
    code, out, err = cli("demo", "--workdir", str(tmp_path / "demo"), "--scans", scans, "--size", "100kB")
    assert (code, err) == (0, ""), err
    assert "Look around:" in out


def test_a_local_destination_inside_the_daq_root_is_refused_before_anything_moves(
    config_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    from palxfel_globus.config import load_config

    config = load_config(config_path)
    ue_directory = config.local.collections[config.routes[0].primary.collection]
    inside = config.daq.root / "backup-here"
    config_path.write_text(config_path.read_text("utf-8").replace(f'"{ue_directory}"', f'"{inside}"'), "utf-8")
    code, out, err = cli("local", "run", "--config", str(config_path), "--once")
    assert (code, out) == (2, "")
    assert err == (
        f"Error: {config_path}: [[route]] #1: its base_path /backup/ue is {inside}/backup/ue here, inside [daq].root "
        f"{config.daq.root}: the backup would live on the DAQ disk.\n"
    )
    assert not inside.exists(), "nothing moved"
