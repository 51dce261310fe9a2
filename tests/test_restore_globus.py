"""Issue 29 against the SDK's registered responses: 'scans restore' starts a run of the deployed restore flow with
the input its schema takes, refuses what is wrong before calling Globus, and 'status' shows the scrub."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable

import pytest
import responses
from globus_sdk import FlowsClient, SpecificFlowClient, TimersClient
from globus_sdk.testing import load_response
from test_globus_commands import config, last_body  # noqa: F401 (the session of real SDK clients, and its body)
from tests_support import MIRROR, SUBSCRIPTION, answer_collections, answer_flow

from palxfel_globus.functions import RESTORE_FUNCTIONS
from palxfel_globus.globus.deployment import Deployment, deployment_path
from palxfel_globus.restore import restore_input

Cli = Callable[..., "tuple[int, str, str]"]

pytestmark = pytest.mark.usefixtures("globus_responses")


def test_scans_restore_starts_a_run_of_the_restore_flow_with_its_checked_input(config: Any, cli: Cli) -> None:  # noqa: F811
    deployment = Deployment.load(deployment_path(config))
    deployment.restore_flow = dict(deployment.flow)
    functions = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, name)) for name in RESTORE_FUNCTIONS}
    for name, function_id in functions.items():
        deployment.functions[name]["id"] = function_id
    deployment.save()
    load_response(SpecificFlowClient.run_flow)
    answer_collections([*config.collections(), MIRROR])
    scans = ["ue_251023_FXL/251023_alignment_00001_DIR", "251020_delay scan_00004_DIR"]
    source = config.routes[0].primary.collection
    code, out, err = cli(
        "scans", "restore", *scans, "--to", f"{MIRROR}:/wanted", "--from", source, "--config", str(config.source)
    )
    assert code == 0 and "Started restore run" in out, err
    assert last_body() == {
        "body": restore_input(config, functions, scans, {"id": MIRROR, "path": "/wanted"}, source),
        "label": "palxfel-globus restore of 2 scans",
        "tags": ["palxfel-globus", "restore"],
        "activity_notification_policy": {"status": ["INACTIVE", "FAILED"]},
    }


BAD_PLACE = "Error: The place to restore to (--to) 'not-a-uuid:/x' is not COLLECTION_UUID:/absolute/path.\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--to", "not-a-uuid:/x"], BAD_PLACE),
        (["--from", "archive"], "Error: --from 'archive' is not a destination collection's UUID.\n"),
    ],
)
def test_scans_restore_refuses_a_bad_place_before_calling_globus(
    config: Any,  # noqa: F811
    cli: Cli,
    arguments: list[str],
    message: str,
) -> None:
    scan = "ue_251023_FXL/251023_alignment_00001_DIR"
    code, out, err = cli("scans", "restore", scan, *arguments, "-c", str(config.source))
    assert (code, out, err) == (2, "", message) and len(responses.calls) == 0


def test_scans_restore_before_the_restore_flow_is_deployed_says_to_deploy(config: Any, cli: Cli) -> None:  # noqa: F811
    code, out, err = cli("scans", "restore", "ue_251023_FXL/251023_alignment_00001_DIR", "-c", str(config.source))
    assert code == 2 and "No restore flow is deployed" in err and "palxfel-globus deploy" in err


def test_status_shows_how_far_the_scrub_is_and_the_copy_verified_longest_ago(config: Any, cli: Cli) -> None:  # noqa: F811
    """Without [scrub] status says nothing of it; with it, the share of the scans read back within the period."""
    load_response(TimersClient.get_job)
    load_response(FlowsClient.list_runs)
    answer_flow(Deployment.load(deployment_path(config)).flow["id"], subscription_id=SUBSCRIPTION)
    code, out, _ = cli("status", "--config", str(config.source), "--json")
    assert code == 0 and json.loads(out)["scrub"] is None
    with open(config.source, "a", encoding="utf-8") as handle:
        handle.write('\n[scrub]\nevery = "90d"\n')
    code, out, _ = cli("status", "--config", str(config.source), "--json")
    assert code == 0 and json.loads(out)["scrub"] == {"every": 90 * 86400, "scans": 0, "within": 0, "oldest": None}
    code, out, _ = cli("status", "--config", str(config.source))
    assert "0 of 0 shipped or released scans read back within the last 90 d" in " ".join(out.split())
