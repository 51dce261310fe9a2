"""timer, runs, flow run and whoami against the SDK's registered responses."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any, Callable

import pytest
import responses
from globus_sdk import AuthClient, FlowsClient, NullAuthorizer, SpecificFlowClient, TimersClient, TransferClient
from globus_sdk.testing import get_last_request, load_response
from tests_support import SUBSCRIPTION, answer_collections, answer_flow, answer_probes, write_deployment

from palxfel_globus.backup import FLOW_FUNCTIONS, flow_input
from palxfel_globus.config import load_config
from palxfel_globus.demo import make_site
from palxfel_globus.globus import auth as auth_module
from palxfel_globus.globus.auth import Session
from palxfel_globus.globus.deployment import Clients, Deployment, deployment_path

Cli = Callable[..., "tuple[int, str, str]"]


pytestmark = pytest.mark.usefixtures("globus_responses")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A config with a deployment file, and a session of real SDK clients that only registered responses answer."""
    loaded = load_config(make_site(tmp_path / "site", scans=3, total_bytes=3000).config_path)
    write_deployment(loaded)
    null = NullAuthorizer()
    fake = Session(
        app=None,
        clients=Clients(None, FlowsClient(authorizer=null), TimersClient(authorizer=null)),
        auth=AuthClient(authorizer=null),
        transfer=TransferClient(authorizer=null),
        specific_flow=lambda flow: SpecificFlowClient(flow, authorizer=null),
    )
    monkeypatch.setattr(auth_module, "open_session", lambda _config: fake)
    return loaded


def last_body() -> dict[str, Any]:
    request = get_last_request()
    assert request is not None, "no request reached the registered responses"
    return json.loads(request.body)


def test_flow_run_starts_a_run_with_the_deployed_input(config: Any, cli: Cli) -> None:
    response = load_response(SpecificFlowClient.run_flow)
    code, out, _ = cli("flow", "run", "--config", str(config.source))
    assert code == 0 and f"Started run {response.json['run_id']}" in out
    functions = {name: f"{name}-id" for name in FLOW_FUNCTIONS}
    assert last_body() == {
        "body": flow_input(config, functions),
        "label": "palxfel-globus manual run",
        "tags": ["palxfel-globus", "manual"],
        "activity_notification_policy": {"status": ["INACTIVE", "FAILED"]},
    }


def test_flow_run_before_a_new_function_is_registered_says_to_deploy(config: Any, cli: Cli) -> None:
    """An upgrade that adds a function to the flow: until deploy registers it, no run starts."""
    deployment = Deployment.load(deployment_path(config))
    del deployment.functions["verify_scan"]
    deployment.save()
    code, out, err = cli("flow", "run", "--config", str(config.source))
    assert (code, out, len(responses.calls)) == (2, "", 0)
    assert err == (f"Error: {deployment.path.name} has no registered verify_scan; run 'palxfel-globus deploy' first.\n")


def test_timer_show_pause_resume_and_delete(config: Any, cli: Cli) -> None:
    timer_id = Deployment.load(deployment_path(config)).timer["id"]
    load_response(TimersClient.get_job)
    code, out, _ = cli("timer", "show", "--config", str(config.source))
    assert code == 0 and timer_id in out
    paused = load_response(TimersClient.pause_job)
    code, out, _ = cli("timer", "pause", "--config", str(config.source), "--json")
    assert code == 0 and json.loads(out) == paused.json, "a script gets the service's own answer"
    assert responses.calls[-1].request.url.endswith(f"/jobs/{timer_id}/pause")
    load_response(TimersClient.resume_job)
    code, out, _ = cli("timer", "resume", "--config", str(config.source))
    assert (code, out) == (0, f"Timer {timer_id} resumed.\n")
    assert responses.calls[-1].request.url.endswith(f"/jobs/{timer_id}/resume")
    assert last_body() == {"update_credentials": True}
    load_response(TimersClient.delete_job)
    code, out, _ = cli("timer", "delete", "--config", str(config.source), "--yes")
    assert code == 0 and responses.calls[-1].request.method == "DELETE"
    assert Deployment.load(deployment_path(config)).timer == {}
    code, _, err = cli("timer", "show", "--config", str(config.source))
    assert code == 2 and err.startswith("Error: No timer is deployed for ")


def test_runs_list_show_logs_and_cancel(config: Any, cli: Cli) -> None:
    load_response(FlowsClient.list_runs)
    code, out, _ = cli("runs", "list", "--config", str(config.source), "--json")
    runs = json.loads(out)
    assert code == 0 and runs and all("run_id" in run for run in runs)
    assert f"filter_flow_id={Deployment.load(deployment_path(config)).flow['id']}" in responses.calls[-1].request.url
    run_id = load_response(FlowsClient.get_run).metadata["run_id"]
    code, out, _ = cli("runs", "show", run_id, "--config", str(config.source))
    assert code == 0 and run_id in out
    logged = load_response(FlowsClient.get_run_logs).metadata["run_id"]
    code, out, _ = cli("runs", "logs", logged, "--config", str(config.source))
    assert code == 0 and "FlowStarted" in out
    cancelled = load_response(FlowsClient.cancel_run).metadata["run_id"]
    code, out, _ = cli("runs", "cancel", cancelled, "--config", str(config.source))
    assert code == 0 and responses.calls[-1].request.url.endswith(f"/runs/{cancelled}/cancel")


def test_whoami_names_the_identity_or_says_to_log_in(config: Any, cli: Cli) -> None:
    responses.add(
        responses.GET,
        "https://auth.globus.org/v2/oauth2/userinfo",
        json={"sub": "ae341a98-d274-11e5-b888-dbae3a8ba545", "preferred_username": "dm@pal.xfel.kr"},
    )
    code, out, _ = cli("whoami", "--config", str(config.source))
    assert (code, out) == (0, "dm@pal.xfel.kr (ae341a98-d274-11e5-b888-dbae3a8ba545)\n")
    responses.reset()
    load_response(AuthClient.userinfo, case="unauthorized")
    code, _, err = cli("whoami", "--config", str(config.source))
    assert (code, err) == (1, "Error: Your Globus login has expired or was revoked; run 'palxfel-globus login'.\n")


def test_a_missing_app_client_id_says_how_to_get_one(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_config(make_site(tmp_path / "site", scans=3, total_bytes=3000).config_path)
    for variable in ("PALXFEL_GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    code, _, err = cli("whoami", "--config", str(loaded.source))
    assert code == 2 and err.startswith("Error: No Globus app to log in with: set [globus] client_id"), err
    assert err.count("\n") == 1


def test_the_token_file_is_private_to_its_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from globus_sdk.token_storage import TokenStorageData

    from palxfel_globus.globus.auth import make_app

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PALXFEL_GLOBUS_CLIENT_ID", "5a5a5a5a-0000-4000-8000-000000000001")
    loaded = load_config(make_site(tmp_path / "site", scans=3, total_bytes=3000).config_path)
    app = make_app(loaded)
    app.token_storage.token_storage.store_token_data_by_resource_server(
        {
            "transfer.api.globus.org": TokenStorageData(
                resource_server="transfer.api.globus.org",
                identity_id="ae341a98-d274-11e5-b888-dbae3a8ba545",
                scope="urn:globus:auth:scope:transfer.api.globus.org:all",
                access_token="SECRET-ACCESS",
                refresh_token="SECRET-REFRESH",
                expires_at_seconds=2_000_000_000,
                token_type="Bearer",
            )
        }
    )
    (token_file,) = [path for path in (tmp_path / "home").rglob("*") if path.is_file()]
    assert token_file.stat().st_mode & 0o777 == 0o600


def test_no_output_or_log_line_carries_a_token(
    config: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from globus_sdk import AccessTokenAuthorizer

    secret = "SECRET-ACCESS-TOKEN-1234567890"
    authorizer = AccessTokenAuthorizer(secret)
    fake = Session(
        app=None,
        clients=Clients(None, FlowsClient(authorizer=authorizer), TimersClient(authorizer=authorizer)),
        auth=AuthClient(authorizer=authorizer),
        transfer=None,
        specific_flow=lambda flow: SpecificFlowClient(flow, authorizer=authorizer),
    )
    monkeypatch.setattr(auth_module, "open_session", lambda _config: fake)
    caplog.set_level("DEBUG")
    load_response(SpecificFlowClient.run_flow)
    load_response(TimersClient.get_job)
    load_response(AuthClient.userinfo, case="unauthorized")
    outputs = [
        cli("flow", "run", "--config", str(config.source), "--json"),
        cli("timer", "show", "--config", str(config.source), "--json"),
        cli("whoami", "--config", str(config.source)),
    ]
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {secret}", "the token was really used"
    for _code, out, err in outputs:
        assert secret not in out and secret not in err
    assert secret not in caplog.text


def test_status_shows_the_timer_the_last_runs_and_the_ledger(config: Any, cli: Cli) -> None:
    load_response(TimersClient.get_job)
    load_response(FlowsClient.list_runs)
    answer_flow(Deployment.load(deployment_path(config)).flow["id"], subscription_id=SUBSCRIPTION)
    code, out, _ = cli("status", "--config", str(config.source), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["flow_expires"] is None, "a subscribed flow does not expire"
    assert report["timer"]["job_id"] == Deployment.load(deployment_path(config)).timer["id"]
    assert 0 < len(report["runs"]) <= 5
    assert report["ledger"] == {"pending": 3} and report["need_a_person"] == []


def test_status_names_the_scans_that_need_a_person_and_why(config: Any, cli: Cli) -> None:
    """Issue 12: a blocked scan's one-sentence reason shows in status, not only in 'scans list'."""
    scan = next(path for path in config.daq.root.glob("*/rawData/*") if path.is_dir())
    (scan / "ScanInfo").mkdir(exist_ok=True)
    (scan / "ScanInfo" / "alias.h5").symlink_to("/etc/hostname")
    load_response(TimersClient.get_job)
    load_response(FlowsClient.list_runs)
    answer_flow(Deployment.load(deployment_path(config)).flow["id"], subscription_id=SUBSCRIPTION)
    code, out, _ = cli("status", "--config", str(config.source), "--json")
    (row,) = json.loads(out)["need_a_person"]
    assert (
        code == 0 and (row["scan"], row["state"]) == (scan.name, "blocked") and "leaves the DAQ root" in row["reason"]
    )
    code, out, _ = cli("status", "--config", str(config.source))
    text = " ".join(out.split())
    assert f"{row['experiment']}/{scan.name} blocked: ScanInfo/alias.h5 leaves the DAQ root" in text
    assert "ships by itself once its cause is fixed" in text


def test_status_away_from_the_daq_host_says_what_each_run_did(config: Any, cli: Cli) -> None:
    """The ledger is on the DAQ host only; what each run shipped comes from the run itself, in Globus."""
    import shutil

    shutil.rmtree(config.daq.root)
    run = load_response(FlowsClient.list_runs).json["runs"][0]
    responses.reset()
    load_response(TimersClient.get_job)
    shipped = dict(run, run_id="a1a1a1a1-0000-4000-8000-000000000001", status="SUCCEEDED")
    shipped.update(start_time="2026-11-24T02:00:00+00:00", details={"output": {"summary": {"message": "3 shipped"}}})
    failed = dict(run, run_id="b2b2b2b2-0000-4000-8000-000000000002", status="FAILED")
    failed.update(
        start_time="2026-11-24T01:00:00+00:00",
        details={"code": "FlowFailed", "description": "State RecordOutcome failed: LedgerNotUpdated"},
    )
    runs = {"runs": [shipped, failed], "has_next_page": False}  # as asked: newest first
    responses.add(responses.GET, "https://flows.automate.globus.org/runs", json=runs)
    answer_flow(Deployment.load(deployment_path(config)).flow["id"], created_at="2026-11-20T09:00:00+00:00")
    code, out, err = cli("status", "--config", str(config.source))
    assert code == 0, err
    lines = [" ".join(line.split()) for line in out.splitlines()]
    expires = lines.index("expires 2026-12-20 (made without a subscription)")
    assert lines[expires + 1] == "set [globus] subscription_id, then palxfel-globus deploy", "the day it goes, and why"
    for run, status, outcome in ((shipped, "SUCCEEDED", "3 shipped"), (failed, "FAILED", "State RecordOutcome failed")):
        (row,) = [number for number, line in enumerate(lines) if line.endswith(f"{status} {run['run_id']}")]
        assert lines[row + 1].startswith(outcome), out
    assert lines.index(next(line for line in lines if "SUCCEEDED" in line)) < lines.index(
        next(line for line in lines if "FAILED" in line)
    ), "newest first"
    (asked,) = [call.request for call in responses.calls if call.request.path_url.startswith("/runs")]
    assert "orderby=start_time+DESC" in asked.path_url, "the service orders the runs (GET /runs documents orderby)"
    assert "scans counted on the DAQ host only ('palxfel-globus status' there)" in lines
    assert err.count("\n") == 1 and "is not on this machine" in err, "one warning, not one per missing thing"


def test_collections_search_asks_transfer_and_lists_the_ids(config: Any, cli: Cli) -> None:
    responses.add(
        responses.GET,
        "https://transfer.api.globus.org/v0.10/endpoint_search",
        json={
            "DATA_TYPE": "endpoint_list",
            "DATA": [
                {
                    "DATA_TYPE": "endpoint",
                    "id": "2c5e9b1e-0000-4000-8000-000000000009",
                    "display_name": "PAL-XFEL DAQ",
                    "owner_string": "daq@pal.xfel.kr",
                    "entity_type": "GCSv5_mapped_collection",
                }
            ],
            "has_next_page": False,
            "offset": 0,
            "limit": 25,
        },
    )
    code, out, _ = cli("collections", "search", "PAL-XFEL", "--config", str(config.source))
    assert code == 0 and "2c5e9b1e-0000-4000-8000-000000000009" in out and "PAL-XFEL DAQ" in out, out
    assert "filter_fulltext=PAL-XFEL" in responses.calls[-1].request.url


def test_destroy_deletes_the_timer_then_the_flow(config: Any, cli: Cli) -> None:
    deployment = Deployment.load(deployment_path(config))
    responses.add(responses.DELETE, f"https://timer.automate.globus.org/jobs/{deployment.timer['id']}", json={})
    responses.add(responses.DELETE, f"https://flows.automate.globus.org/flows/{deployment.flow['id']}", json={})
    code, out, _ = cli("destroy", "--config", str(config.source), "--yes")
    assert code == 0 and [call.request.method for call in responses.calls] == ["DELETE", "DELETE"]
    after = Deployment.load(deployment_path(config))
    assert after.timer == {} and after.flow == {} and after.functions, "functions stay registered"
    code, out, _ = cli("destroy", "--config", str(config.source), "--yes")
    assert code == 0 and out.startswith("Nothing to destroy")


def test_transfer_runs_the_copy_flow_with_checked_input(config: Any, cli: Cli) -> None:
    deployment = Deployment.load(deployment_path(config))
    deployment.transfer_flow = dict(deployment.flow)
    deployment.save()
    load_response(SpecificFlowClient.run_flow)
    answer_collections(["2c5e9b1e-0000-4000-8000-000000000009", "3d6f0c2f-0000-4000-8000-00000000000a"])
    source, destination = "2c5e9b1e-0000-4000-8000-000000000009:/~/dat/x.h5", "3d6f0c2f-0000-4000-8000-00000000000a:/b/"
    code, out, _ = cli("transfer", source, destination, "--config", str(config.source), "--label", "one file")
    assert code == 0 and "Started copy run" in out
    sent = last_body()
    deadline = datetime.datetime.fromisoformat(sent["body"].pop("deadline"))
    waited = (deadline - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 7 * 86400 - 60 < waited <= 7 * 86400, "the task may run as long as the flow waits for it (WaitTime)"
    assert sent == {
        "body": {
            "source": {"id": "2c5e9b1e-0000-4000-8000-000000000009", "path": "/~/dat/x.h5"},
            "destination": {"id": "3d6f0c2f-0000-4000-8000-00000000000a", "path": "/b/"},
            "label": "one file",
        },
        "label": "one file",
        "tags": ["palxfel-globus", "copy"],
        "activity_notification_policy": {"status": ["INACTIVE", "FAILED"]},
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("not-a-uuid:/x", "Error: The source 'not-a-uuid:/x' is not COLLECTION_UUID:/absolute/path.\n"),
        (
            "2c5e9b1e-0000-4000-8000-000000000009:relative",
            "Error: The source "
            "'2c5e9b1e-0000-4000-8000-000000000009:relative' is not COLLECTION_UUID:/absolute/path.\n",
        ),
    ],
)
def test_transfer_refuses_a_bad_location_before_calling_globus(
    config: Any, cli: Cli, source: str, message: str
) -> None:
    code, out, err = cli("transfer", source, "3d6f0c2f-0000-4000-8000-00000000000a:/b/", "--config", str(config.source))
    assert (code, out, err) == (2, "", message) and len(responses.calls) == 0


def doctor_session(app: Any = None) -> Session:
    from globus_sdk import ComputeClientV2, ComputeClientV3

    null = NullAuthorizer()
    return Session(
        app=app,
        clients=Clients(None, FlowsClient(authorizer=null), TimersClient(authorizer=null)),
        auth=None,
        transfer=TransferClient(authorizer=null),
        specific_flow=lambda flow: None,
        compute_status=ComputeClientV2(authorizer=null),
        compute_allowlist=ComputeClientV3(authorizer=null),
    )


def test_doctor_checks_collections_endpoints_flow_and_timer(
    config: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from globus_sdk import ComputeClientV2, ComputeClientV3

    monkeypatch.setattr(auth_module, "open_session", lambda _config: doctor_session())
    collection = answer_collections(config.collections(), mapped={config.routes[0].primary.collection})
    answer_probes(config, aliased=frozenset({config.routes[1].primary.collection}))
    status = load_response(ComputeClientV2.get_endpoint_status).json
    for endpoint_id in {config.daq.compute_endpoint, *(route.primary.compute_endpoint for route in config.routes)} - {
        None
    }:
        responses.add(
            responses.GET,
            f"https://compute.api.globus.org/v2/endpoints/{endpoint_id}/status",
            json=dict(status, status="online" if endpoint_id == config.daq.compute_endpoint else "offline"),
        )
    # the DAQ endpoint still allows the ids an earlier deploy registered; route #2's was restarted since
    allowlist = load_response(ComputeClientV3.get_endpoint_allowlist).json
    for endpoint_id, allowed in (
        (
            config.daq.compute_endpoint,
            [
                "find_completed_scans-id",
                "build_manifest-id",
                "old-record_outcome-id",
                "share_rules-id",
                "catalog_entries-id",
                "copy_items-id",
                "restore_scans-id",
            ],
        ),
        (config.routes[1].primary.compute_endpoint, ["verify_scan-id"]),
    ):
        responses.add(
            responses.GET,
            f"https://compute.api.globus.org/v3/endpoints/{endpoint_id}/allowed_functions",
            json=dict(allowlist, endpoint_id=endpoint_id, functions=allowed),
        )
    deployment = Deployment.load(deployment_path(config))
    responses.add(
        responses.GET,
        f"https://flows.automate.globus.org/flows/{deployment.flow['id']}",
        json={
            "id": deployment.flow["id"],
            "definition": {"StartAt": "Old", "States": {}},
            "created_at": "2026-11-01T00:00:00.000000+00:00",
            "subscription_id": None,
        },
    )
    load_response(TimersClient.get_job)
    load_response(FlowsClient.list_runs)
    code, out, _ = cli("doctor", "--config", str(config.source), "--json")
    checks = {check["what"]: check for check in json.loads(out)}
    assert code == 1 and checks["side steps"]["ok"], "the SDK's sample runs are not scan_backup's"
    assert checks["DAQ Compute endpoint"]["ok"] and not checks["route #2 (ms_*) Compute endpoint"]["ok"]
    assert checks["route #2 (ms_*) Compute endpoint"]["fix"].startswith("globus-compute-endpoint start")
    assert checks["DAQ allowed functions"] == {
        "what": "DAQ allowed functions",
        "ok": False,
        "detail": "it refuses the deployed record_outcome (its allowed_functions predate the last deploy)",
        "fix": "palxfel-globus endpoint config daq > its config.yaml, then globus-compute-endpoint restart NAME",
    }
    assert checks["route #2 (ms_*) allowed functions"]["ok"]
    assert checks["DAQ collection"]["ok"] and checks["DAQ collection"]["detail"] == collection["display_name"]
    assert checks["route #1 collection"] == {
        "what": "route #1 collection",
        "ok": False,
        "detail": "myserver is a mapped collection, and the timer was created without its data_access consent",
        "fix": "palxfel-globus timer delete, then palxfel-globus deploy (it asks for the consent)",
    }
    assert checks["route #1 apart from the DAQ"]["ok"]
    apart = checks["route #2 apart from the DAQ"]
    assert not apart["ok"] and "is the DAQ storage itself" in apart["detail"]
    assert not checks["flow"]["ok"] and checks["flow"]["fix"] == "palxfel-globus deploy"
    assert checks["flow subscription"] == {
        "what": "flow subscription",
        "ok": False,
        "detail": "no subscription: Globus deletes this flow on 2026-12-01",
        "fix": "set [globus] subscription_id, then palxfel-globus deploy",
    }
    flow_reads = [call for call in responses.calls if call.request.url.endswith(f"/flows/{deployment.flow['id']}")]
    assert len(flow_reads) == 1, "the definition and subscription checks share one read of the flow"
    assert not checks["deployment"]["ok"], "the deployment file's hashes are not the config's"
    assert checks["timer"]["ok"]


def test_doctor_says_to_log_in_before_asking_globus_anything(
    config: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from globus_sdk import GlobusAppConfig, UserApp

    app = UserApp(
        "palxfel-globus",
        client_id="5a5a5a5a-0000-4000-8000-000000000001",
        config=GlobusAppConfig(token_storage="memory"),
    )
    monkeypatch.setattr(auth_module, "open_session", lambda _config: doctor_session(app))
    code, out, _ = cli("doctor", "--config", str(config.source), "--json")
    checks = json.loads(out)
    assert code == 1 and checks[-1] == {
        "what": "login",
        "ok": False,
        "detail": "no valid Globus login, or a consent the flow needs is missing",
        "fix": "palxfel-globus login",
    }
    assert len(responses.calls) == 0


def test_runs_watch_follows_a_run_to_its_end_and_exits_by_its_status(config: Any, cli: Cli) -> None:
    run_id = load_response(FlowsClient.get_run).metadata["run_id"]
    code, out, _ = cli("runs", "watch", run_id, "--config", str(config.source))
    assert code == 0 and run_id in out and "SUCCEEDED" in out
    responses.reset()
    responses.add(
        responses.GET,
        f"https://flows.automate.globus.org/runs/{run_id}",
        json={"run_id": run_id, "status": "FAILED", "details": {"description": "State X failed"}},
    )
    code, out, _ = cli("runs", "watch", run_id, "--config", str(config.source))
    assert code == 1 and "State X failed" in out
    code, out, _ = cli("runs", "watch", run_id, "--config", str(config.source), "--json")
    assert code == 1 and json.loads(out)["details"] == {"description": "State X failed"}


def test_doctor_without_a_globus_app_reports_it_among_the_other_checks(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("PALXFEL_GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    loaded = load_config(make_site(tmp_path / "site", scans=3, total_bytes=3000).config_path)
    code, out, _ = cli("doctor", "--config", str(loaded.source), "--json")
    checks = {check["what"]: check for check in json.loads(out)}
    assert code == 1 and checks["config"]["ok"] and not checks["deployment"]["ok"]
    assert checks["Globus app"]["detail"].startswith("No Globus app to log in with")


def test_scans_retry_releases_the_claim_of_a_run_globus_reports_ended(config: Any, cli: Cli) -> None:
    run_id = load_response(FlowsClient.get_run).metadata["run_id"]
    function_config = config.function_config()
    from palxfel_globus.functions import load

    claimed = load("find_completed_scans")(config=function_config, run_id=run_id)["scans"][0]
    scan_id = f"{claimed['experiment']}/{claimed['scan']}"
    code, out, err = cli("scans", "retry", scan_id, "--config", str(config.source))
    assert code == 0, err
    assert f"the claim of ended run {run_id} was released" in out
    assert responses.calls[-1].request.url.endswith(f"/runs/{run_id}")
    again = load("find_completed_scans")(config=function_config, run_id="next-run")["scans"]
    assert scan_id in [f"{scan['experiment']}/{scan['scan']}" for scan in again], "free for the next tick"


def test_scans_retry_honours_the_claim_of_a_run_that_may_still_be_going(config: Any, cli: Cli) -> None:
    """No answer from Flows (here a 404): nothing says the run ended, so its lease stands."""
    from palxfel_globus.functions import load

    run_id = "8b6f7a5e-0000-4000-8000-000000000001"
    responses.add(responses.GET, f"https://flows.automate.globus.org/runs/{run_id}", status=404, json={})
    claimed = load("find_completed_scans")(config=config.function_config(), run_id=run_id)["scans"][0]
    scan_id = f"{claimed['experiment']}/{claimed['scan']}"
    code, _out, err = cli("scans", "retry", scan_id, "--config", str(config.source))
    assert code == 1 and f"is claimed by run {run_id} until" in err and "try again after that run ends" in err


def test_the_mail_login_in_a_timer_s_body_is_never_printed(config: Any, cli: Cli) -> None:
    job = load_response(TimersClient.get_job).json
    responses.reset()
    login = [{"credential_type": "smtp", "credential_value": {"password": "s3cret-smtp"}}]
    body = {"body": {"daq_endpoint": config.daq.compute_endpoint, "_private_notify_credentials": login}}
    responses.add(
        responses.GET,
        f"https://timer.automate.globus.org/jobs/{Deployment.load(deployment_path(config)).timer['id']}",
        json=dict(job, callback_body=body),
    )
    code, out, err = cli("timer", "show", "--config", str(config.source), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["callback_body"]["body"] == {"daq_endpoint": config.daq.compute_endpoint}
    assert "s3cret" not in out + err


def test_the_catalog_index_check_names_what_is_wrong_from_search_s_answers() -> None:
    """globus-sdk's own index documents: an owner or writer may write; a reader, a closed or a missing
    index is one sentence each."""
    from globus_sdk import SearchClient
    from globus_sdk.testing import get_response_set

    from palxfel_globus.globus.catalog import index_problem

    client = SearchClient(authorizer=NullAuthorizer())
    owned, written = get_response_set(SearchClient.index_list).lookup("default").json["index_list"]
    for document, roles, verdict in (
        (owned, ["owner"], ""),
        (written, ["writer"], ""),
        (written, ["reader"], "you hold reader on the Search index Catalog of encyclopediae, so the flow"),
        (dict(owned, status="delete-pending"), ["owner"], "is delete-pending: reopen it"),
    ):
        responses.reset()
        url = f"https://search.api.globus.org/v1/index/{document['id']}"
        responses.add(responses.GET, url, json=dict(document, permissions=roles))
        problem = index_problem(document["id"], client)
        assert problem == "" if not verdict else verdict in problem, problem
    missing = "11111111-2222-4333-8444-555555555555"
    answer = {"code": "NotFound.NoSuchIndex", "message": "There is no index with that id", "status": 404}
    responses.add(responses.GET, f"https://search.api.globus.org/v1/index/{missing}", status=404, json=answer)
    assert "does not exist or you cannot see it" in index_problem(missing, client)


def test_catalog_search_pages_through_search_with_the_experiment_as_a_filter(config: Any, cli: Cli) -> None:
    from globus_sdk import SearchClient

    response = load_response(SearchClient.post_search)  # has_next_page: true, then a last page
    index = response.metadata["index_id"]
    url = f"https://search.api.globus.org/v1/index/{index}/search"
    responses.add(responses.POST, url, json=dict(response.json, has_next_page=False))
    text = config.source.read_text(encoding="utf-8")
    config.source.write_text(text + f'\n[catalog]\nindex = "{index}"\n', encoding="utf-8")
    auth_module.open_session(config).search = SearchClient(authorizer=NullAuthorizer())
    code, out, err = cli("catalog", "search", "alignment", "-e", "ue_251023_FXL", "-c", str(config.source), "--json")
    assert code == 0, err
    assert json.loads(out) == [{"subject": "foo-bar", "content": {"foo": "bar"}}] * 2
    first, second = (json.loads(call.request.body) for call in responses.calls)
    assert first == {
        "q": "alignment",
        "limit": 1000,
        "offset": 0,
        "filters": [{"type": "match_all", "field_name": "experiment", "values": ["ue_251023_FXL"]}],
    }
    assert second == dict(first, offset=1000)


def runs_with_side_steps() -> dict[str, Any]:
    """Three runs as Flows lists them newest first: the catalog step failed in the two newest (the backup
    went on), sharing in the oldest only, and the newest could not send its e-mail either."""
    run = load_response(FlowsClient.list_runs).json["runs"][0]
    responses.reset()
    failing = {"step": "catalog", "problem": "Search refused the catalog entry of ue_1/s1: not allowed to write"}
    older = {"step": "catalog", "problem": "catalog not updated: the index is gone"}
    mail = {"step": "e-mail", "problem": "the e-mail to dm@example.org about this failed run was not sent: 535"}
    sharing = {"step": "sharing", "problem": "the access rule r1 on c1 was not deleted: PermissionDenied"}
    outputs = [
        {"summary": {"message": "2 shipped"}, "catalog": {}, "mail": {}, "side_steps": {"failed": [failing, mail]}},
        {"summary": {"message": "1 shipped"}, "catalog": {}, "side_steps": {"failed": [older]}},
        {"summary": {"message": "3 shipped"}, "catalog": {}, "shares": {}, "side_steps": {"failed": [sharing]}},
    ]
    runs = [
        dict(run, run_id=f"{number}{number}{number}{number}0000-0000-4000-8000-000000000001", status="SUCCEEDED",
             start_time=f"2026-11-24T0{3 - number}:00:00+00:00", details={"output": output})
        for number, output in enumerate(outputs, 1)
    ]  # fmt: skip
    responses.add(responses.GET, "https://flows.automate.globus.org/runs", json={"runs": runs, "has_next_page": False})
    return {"runs": runs, "catalog": failing, "mail": mail}


def test_a_failed_side_step_shows_in_runs_list_runs_show_and_status(config: Any, cli: Cli) -> None:
    """Issue 25: a side step that fails leaves the run SUCCEEDED, and every place a person looks says so."""
    listed = runs_with_side_steps()
    newest = listed["runs"][0]
    code, out, _ = cli("runs", "list", "--config", str(config.source))
    text = " ".join(out.split())
    assert code == 0 and "side step failed: catalog, e-mail; 'runs show' says why" in text
    assert text.count("side step failed:") == 3
    responses.add(responses.GET, f"https://flows.automate.globus.org/runs/{newest['run_id']}", json=newest)
    code, out, _ = cli("runs", "show", newest["run_id"], "--config", str(config.source))
    text = " ".join(out.split())
    assert code == 0 and f"catalog failed {listed['catalog']['problem']}" in text
    assert f"e-mail failed {listed['mail']['problem']}" in text

    load_response(TimersClient.get_job)
    answer_flow(Deployment.load(deployment_path(config)).flow["id"])
    code, out, _ = cli("status", "--config", str(config.source))
    text = " ".join(out.split())
    assert code == 0
    assert f"side step catalog: the last 2 runs could not ingest: {listed['catalog']['problem']}" in text
    assert f"side step e-mail: the last run could not send the e-mail: {listed['mail']['problem']}" in text
    assert "side step sharing: the last run to try could not set the access rules: the access rule r1" in text
    code, out, _ = cli("status", "--config", str(config.source), "--json")
    failing = {failure["step"]: failure for failure in json.loads(out)["side_steps_failing"]}
    assert failing["catalog"] == {
        "step": "catalog",
        "runs": 2,
        "problem": listed["catalog"]["problem"],
        "newest": True,
    }


def test_doctor_names_a_side_step_that_keeps_failing(config: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from palxfel_globus.cli.doctor import _side_step_checks

    listed = runs_with_side_steps()
    checks = _side_step_checks(auth_module.open_session(config), Deployment.load(deployment_path(config)).flow["id"])
    by_name = {check.what: check for check in checks}
    assert set(by_name) == {"catalog step", "e-mail step", "sharing step"}
    assert not by_name["catalog step"].ok and by_name["catalog step"].fix.startswith("the [catalog] index must exist")
    assert (
        by_name["catalog step"].detail == f"catalog: the last 2 runs could not ingest: {listed['catalog']['problem']}"
    )
    responses.reset()
    responses.add(responses.GET, "https://flows.automate.globus.org/runs", json={"runs": [], "has_next_page": False})
    (quiet,) = _side_step_checks(auth_module.open_session(config), "f")
    assert quiet.ok and quiet.detail == "no runs yet"


def test_status_shows_the_recovery_point(config: Any, cli: Cli) -> None:
    """Issue 28: on the DAQ host, status names the oldest complete scan still without its verified copies (here,
    every scan: none shipped yet, all complete two hours ago) and each route's waiting scans."""
    import os
    import time

    complete = time.time() - 2 * 3600
    markers = [*config.daq.root.glob("*/rawData/*/.done"), *config.daq.root.glob("*/rawData/*.complete")]
    assert len(markers) == 3
    for marker in markers:
        os.utime(marker, (complete, complete))
    load_response(TimersClient.get_job)
    load_response(FlowsClient.list_runs)
    answer_flow(Deployment.load(deployment_path(config)).flow["id"], subscription_id=SUBSCRIPTION)
    code, out, _ = cli("status", "--config", str(config.source), "--json", "--days", "3")
    recovery = json.loads(out)["recovery"]
    assert code == 0 and recovery["days"] == 3
    assert abs(recovery["oldest"]["age_seconds"] - 2 * 3600) < 60
    assert [(route["route"], route["waiting"], route["count"]) for route in recovery["routes"]] == [
        ("ue_*", 2, 0),
        ("ms_*", 1, 0),
    ]
    code, out, _ = cli("status", "--config", str(config.source))
    text = " ".join(out.split())
    assert f"recovery Oldest waiting: {recovery['oldest']['scan']}, complete 2 h ago." in text
    assert "ue_*: 2 waiting; none verified in the last 7 days. ms_*: 1 waiting; none verified in the last 7" in text
