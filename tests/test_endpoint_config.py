"""``endpoint config``: each endpoint's config.yaml carries exactly the ids the last deploy registered."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from palxfel_globus.config import load_config
from palxfel_globus.demo import make_site
from palxfel_globus.functions import REGISTERED_FUNCTIONS
from palxfel_globus.globus.deployment import Deployment, deployment_path
from palxfel_globus.globus.endpoints import allowlist_lag, endpoint_roles

Cli = Callable[..., "tuple[int, str, str]"]
IDS = {name: f"{number:08d}-0000-4000-8000-00000000000f" for number, name in enumerate(REGISTERED_FUNCTIONS, 1)}
# the scan backup's five, and the restore's two (copy_items serves the scrub too)
ON_THE_DAQ = ("find_completed_scans", "build_manifest", "record_outcome", "share_rules", "catalog_entries") + (
    "copy_items",
    "restore_scans",
)


@pytest.fixture
def config(tmp_path: Path) -> Any:
    """The demo's config (the DAQ endpoint, route #2 verifying on its own endpoint) with a deployment file."""
    loaded = load_config(make_site(tmp_path / "site", scans=3, total_bytes=3000).config_path)
    Deployment(deployment_path(loaded), {name: {"id": IDS[name], "hash": "h"} for name in REGISTERED_FUNCTIONS}).save()
    return loaded


def allowed_functions(text: str) -> list[str]:
    return [str(function_id) for function_id in yaml.safe_load(text)["allowed_functions"]]


def test_the_daq_endpoint_gets_a_process_pool_and_its_seven_functions(config: Any, cli: Cli) -> None:
    """The five of the scan backup, and the two the restore runs on the DAQ (copy_items serves the scrub too)."""
    code, out, err = cli("endpoint", "config", "daq", "--config", str(config.source))
    document = yaml.safe_load(out)
    assert (code, err) == (0, "")
    assert document["engine"]["type"] == "ProcessPoolEngine"
    assert allowed_functions(out) == [IDS[name] for name in ON_THE_DAQ]
    assert document["display_name"] == "palxfel-globus DAQ"


@pytest.mark.parametrize("which", ["2", "ms_*"])
def test_a_route_endpoint_gets_a_slurm_engine_and_verify_scan(config: Any, cli: Cli, which: str) -> None:
    code, out, err = cli(
        "endpoint", "config", which, "--config", str(config.source),
        "--partition", "batch #1", "--account", "pal:xfel", "--worker-env", "/shared/envs/compute env",
    )  # fmt: skip
    provider = yaml.safe_load(out)["engine"]["provider"]
    assert (code, err) == (0, "")
    assert allowed_functions(out) == [IDS["verify_scan"]]
    assert (provider["partition"], provider["account"]) == ("batch #1", "pal:xfel"), "quoted, never a comment"
    assert provider["worker_init"] == "source '/shared/envs/compute env/bin/activate'"
    assert provider["walltime"] == "02:00:00", "a string, not YAML 1.1's sexagesimal 7200"
    assert yaml.safe_load(out)["display_name"] == "palxfel-globus route #2 (ms_*)"


def test_a_route_that_verifies_on_the_daq_endpoint_shares_one_config(config: Any, cli: Cli) -> None:
    text = config.source.read_text(encoding="utf-8")
    route_endpoint = config.routes[1].primary.compute_endpoint
    on_daq = text.replace(
        f'compute_endpoint = "{route_endpoint}"', f'compute_endpoint = "{config.daq.compute_endpoint}"'
    )
    config.source.write_text(on_daq, encoding="utf-8")
    shared = load_config(config.source)
    assert [role.functions for role in endpoint_roles(shared)] == [(*ON_THE_DAQ, "verify_scan")]
    code, out, _ = cli("endpoint", "config", "2", "--config", str(config.source), "--engine", "process")
    assert code == 0 and len(allowed_functions(out)) == 8
    assert yaml.safe_load(out)["display_name"] == "palxfel-globus DAQ and route #2 (ms_*)"


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["1"], "Error: Route 'ue_*' has no compute_endpoint: Transfer's checksums verify its copies, so it needs no "
                "Compute endpoint.\n"),
        (["7"], "Error: '7' is neither 'daq' nor a route of {source}; choose one of: daq, 2.\n"),
        (["2"], "Error: A slurm endpoint needs --partition and --worker-env (a virtualenv with "
                "globus-compute-endpoint that the batch nodes can activate); --engine process writes a one-host "
                "endpoint instead.\n"),
        (["daq", "--engine", "gpu"], "Error: --engine 'gpu' is not an engine; choose process or slurm.\n"),
    ],
)  # fmt: skip
def test_a_wrong_choice_is_one_sentence_and_prints_no_config(
    config: Any, cli: Cli, args: list[str], sentence: str
) -> None:
    code, out, err = cli("endpoint", "config", *args, "--config", str(config.source))
    assert (code, out, err) == (2, "", sentence.format(source=config.source))


def test_before_any_deploy_it_says_to_deploy_first(config: Any, cli: Cli) -> None:
    deployment_path(config).unlink()
    code, out, err = cli("endpoint", "config", "daq", "--config", str(config.source))
    assert (code, out) == (2, "")
    assert err == (
        "Error: palxfel-globus.deployment.json has no registered find_completed_scans, build_manifest, "
        "record_outcome, share_rules, catalog_entries, copy_items, restore_scans; run 'palxfel-globus deploy' "
        "first, then this command.\n"
    )


def test_every_placeholder_of_the_templates_is_filled(config: Any, cli: Cli) -> None:
    for args in (["daq"], ["2", "--partition", "p", "--worker-env", "/e"]):
        _, out, _ = cli("endpoint", "config", *args, "--config", str(config.source))
        assert not re.search(r"\{\{|\}\}", out), out


def test_the_allowlist_lags_when_it_lacks_a_deployed_id_or_is_unrestricted(config: Any) -> None:
    daq = endpoint_roles(config)[0]
    everything = [IDS[name] for name in daq.functions]
    assert allowlist_lag(daq, IDS, {"restricted": True, "functions": [*everything, "old-id"]}) is None
    assert allowlist_lag(daq, IDS, {"restricted": True, "functions": everything[:2]}) == (
        "it refuses the deployed record_outcome, share_rules, catalog_entries, copy_items, restore_scans "
        "(its allowed_functions predate the last deploy)"
    )
    assert allowlist_lag(daq, IDS, {"restricted": False, "functions": []}) == (
        "it runs any function: its config.yaml has no allowed_functions"
    )
