"""Before any deploy, or after one without a subscription: every "run X first" leads somewhere that
works (issue 27). No Globus call is made, so none is registered: one would fail the test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
from tests_support import write_deployment

from palxfel_globus.config import load_config
from palxfel_globus.demo import make_site

Cli = Callable[..., "tuple[int, str, str]"]

pytestmark = pytest.mark.usefixtures("globus_responses")


@pytest.fixture
def site(tmp_path: Path) -> Any:
    return make_site(tmp_path / "site", scans=6, total_bytes=60_000)


def test_status_on_the_daq_host_without_a_deploy_shows_the_ledger(site: Any, cli: Cli) -> None:
    """After 'local run' on the DAQ host, nothing deployed: the ledger's counts, and what deploys."""
    config = str(site.config_path)
    assert cli("local", "run", "--config", config, "--once", "--json")[0] == 0
    code, out, err = cli("status", "--config", config, "--json")
    report = json.loads(out)
    assert (code, err) == (0, "")
    assert report["flow_id"] is None and report["timer"] is None and report["runs"] == []
    assert report["ledger"] == {"shipped": 4, "incomplete": 2}
    code, out, err = cli("status", "--config", config)
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert code == 0
    assert lines[0] == "flow not deployed: 'palxfel-globus deploy' makes it (docs/operations.md)"
    assert "scans 2 incomplete, 4 shipped" in lines


def test_status_with_neither_a_deploy_nor_the_daq_root_says_to_deploy(site: Any, cli: Cli) -> None:
    shutil.rmtree(site.daq_root)
    code, out, err = cli("status", "--config", str(site.config_path))
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (
        f"Error: No flow is deployed for {site.config_path}; run 'palxfel-globus deploy' first."
    )


def test_transfer_after_a_deploy_without_a_subscription_names_the_subscription(site: Any, cli: Cli) -> None:
    """Such a deploy makes the scan-backup flow only; 'deploy' again would answer "Nothing to do"."""
    write_deployment(load_config(site.config_path))
    collection = "2b62553e-1c8e-53a4-8998-f869355c56d4"
    code, out, err = cli("transfer", "--config", str(site.config_path), f"{collection}:/a", f"{collection}:/b")
    assert (code, out) == (2, "")
    assert err == (
        f"Error: No one-off copy flow is deployed for {site.config_path}: a deploy without [globus] "
        "subscription_id makes the scan-backup flow only; set subscription_id to your facility's subscription, "
        "then run 'palxfel-globus deploy'.\n"
    )
