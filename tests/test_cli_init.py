"""``palxfel-globus init`` and the TOML it writes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest
from conftest import DAQ_COLLECTION, DAQ_ENDPOINT, MS_COLLECTION, UE_COLLECTION, Daq
from hypothesis import given
from hypothesis import strategies as st
from tests_support import SUBSCRIPTION, AtTerminal

from palxfel_globus.config import load_config
from palxfel_globus.config_text import toml_value

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

Cli = Callable[..., "tuple[int, str, str]"]
CLIENT = "0c0c0c0c-0000-4000-8000-00000000c11e"  # a native app registered for palxfel-globus


def etc(tmp_path: Path) -> Path:
    """A directory of its own for the config (tmp_path also holds the DAQ root)."""
    directory = tmp_path / "etc"
    directory.mkdir(exist_ok=True)
    return directory


def flags(daq: Daq) -> list[str]:
    return [
        "--daq-root",
        str(daq.root),
        "--daq-collection",
        DAQ_COLLECTION,
        "--collection-root",
        "/~/dat",
        "--compute-endpoint",
        DAQ_ENDPOINT,
        "--route",
        f"ue_*={UE_COLLECTION}:/backup/ue",
        "--route",
        f"ms_*={MS_COLLECTION}:/~/ms",
        "--subscription-id",
        SUBSCRIPTION,
        "--client-id",
        CLIENT,
    ]


@pytest.fixture
def site(daq: Daq) -> Daq:
    daq.scan(experiment="ue_251023_FXL")
    daq.scan(experiment="ms_251020_timing", label="delay")
    return daq


def test_init_writes_a_config_that_loads_with_what_was_given(site: Daq, tmp_path: Path, cli: Cli) -> None:
    target = etc(tmp_path) / "palxfel-globus.toml"
    code, out, err = cli("init", "--config", str(target), *flags(site), "--interval", "15m")
    assert (code, err) == (0, "")
    assert out.startswith(f"Wrote {target}.\nNext: 'palxfel-globus login'")
    config = load_config(target)
    assert (config.daq.root, config.daq.collection, config.daq.collection_root) == (site.root, DAQ_COLLECTION, "/~/dat")
    assert config.daq.compute_endpoint == DAQ_ENDPOINT and config.timer_interval == 900
    assert (config.globus.subscription_id, config.globus.client_id) == (SUBSCRIPTION, CLIENT)
    assert [(route.match, route.primary.collection, route.primary.base_path) for route in config.routes] == [
        ("ue_*", UE_COLLECTION, "/backup/ue"),
        ("ms_*", MS_COLLECTION, "/~/ms"),
    ]
    assert '\n[[route]]\nmatch = "ue_*"\n' in target.read_text("utf-8"), "the layout the README documents"
    assert [path.name for path in target.parent.iterdir()] == [target.name], "no temporary file left behind"


def test_init_asks_for_what_is_missing_at_a_terminal(
    site: Daq, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    daq_side = [str(site.root), DAQ_COLLECTION, "/~/dat", DAQ_ENDPOINT, CLIENT, ""]
    routes = ["ue_* to the backup", f"ue_*={UE_COLLECTION}:/backup/ue", f"ms_*={MS_COLLECTION}:/backup/ms", ""]
    answers = AtTerminal(*daq_side, *routes)
    monkeypatch.setattr("sys.stdin", answers)
    target = etc(tmp_path) / "asked.toml"
    code, _out, err = cli("init", "--config", str(target))
    assert code == 0, err
    assert err.startswith("Problem: The route 'ue_* to the backup' is not GLOB=COLLECTION_UUID:/base/path.\n")
    assert err.endswith(
        "Warning: no subscription id: without a Globus subscription 'deploy' needs --no-subscription, makes one "
        "flow only, and Globus deletes it after 30 days; add [globus] subscription_id when you have one.\n"
    ), "a config that deploy would refuse without --no-subscription says so when it is written"
    assert "'palxfel-globus deploy --no-subscription --dry-run'" in _out, "the next steps are ones that work"
    assert [route.match for route in load_config(target).routes] == ["ue_*", "ms_*"]


def test_init_without_a_terminal_names_every_missing_option_and_writes_nothing(tmp_path: Path, cli: Cli) -> None:
    target = etc(tmp_path) / "palxfel-globus.toml"
    code, out, err = cli("init", "--config", str(target), "--daq-root", "/xfel/ffs/dat")
    assert (code, out) == (2, "")
    assert err == (
        "Error: Missing --daq-collection, --collection-root, --compute-endpoint, --route "
        "(or run 'palxfel-globus init' at a terminal to be asked).\n"
    )
    assert not target.exists()


def test_init_reports_every_bad_value_and_writes_nothing(site: Daq, tmp_path: Path, cli: Cli) -> None:
    target = etc(tmp_path) / "palxfel-globus.toml"
    bad = [value if value != DAQ_ENDPOINT else "not-a-uuid" for value in flags(site)]
    bad[bad.index("/~/dat")] = "dat"
    bad[bad.index(f"ms_*={MS_COLLECTION}:/~/ms")] = f"xx_*={MS_COLLECTION}:/~/ms"
    code, out, err = cli("init", "--config", str(target), *bad, "--interval", "10s")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "Error: [daq].collection_root: 'dat' is not a collection path; it must start with '/' (e.g. '/~/dat' or "
        "'/dat').",
        "Error: [daq].compute_endpoint: 'not-a-uuid' is not a UUID (expected e.g. "
        "1b3c5d7e-0000-4000-8000-000000000000).",
        "Error: [timer].interval: 10 s is outside what Globus Timers accept (1 minute to 365 days).",
        f"Error: [[route]] #2 (match = 'xx_*') matches no experiment in {site.root}; fix the pattern, or remove the "
        "route until such experiments exist.",
    ], "every mistake at once, the routes against the DAQ tree too"
    assert list(target.parent.iterdir()) == []


def test_init_never_replaces_a_config_unless_told(site: Daq, tmp_path: Path, cli: Cli) -> None:
    target = etc(tmp_path) / "palxfel-globus.toml"
    target.write_text("# mine\n", encoding="utf-8")
    code, _out, err = cli("init", "--config", str(target), *flags(site))
    assert code == 2 and err == (
        f"Error: {target} already exists; pass --force to replace it, or --config to write elsewhere.\n"
    )
    assert target.read_text("utf-8") == "# mine\n"
    assert cli("init", "--config", str(target), *flags(site), "--force")[0] == 0
    assert load_config(target).daq.root == site.root


def test_a_route_must_say_glob_collection_and_path(site: Daq, tmp_path: Path, cli: Cli) -> None:
    good = flags(site)
    daq_side = good[: good.index("--route")]
    for bad in ("ue_*:/backup", "ue_*=not-a-uuid:/backup"):
        code, _out, err = cli("init", "--config", str(tmp_path / "c.toml"), *daq_side, "--route", bad)
        assert (code, err) == (2, f"Error: The route '{bad}' is not GLOB=COLLECTION_UUID:/base/path.\n")
    code, _out, err = cli("init", "--config", str(tmp_path / "c.toml"), "--route", "ue_*:/backup")
    assert (code, err.splitlines()) == (
        2,
        [
            "Error: Missing --daq-root, --daq-collection, --collection-root, --compute-endpoint (or run "
            "'palxfel-globus init' at a terminal to be asked).",
            "Error: --route: The route 'ue_*:/backup' is not GLOB=COLLECTION_UUID:/base/path.",
        ],
    ), "what is missing and what is wrong, at once"


@given(st.text())
def test_any_string_round_trips_through_the_written_toml(text: str) -> None:
    assert tomllib.loads(f"key = {toml_value(text)}")["key"] == text
    assert tomllib.loads(f"table = {toml_value({text: [text, 3]})}")["table"] == {text: [text, 3]}
