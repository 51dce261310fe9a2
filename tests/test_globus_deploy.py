"""deploy against the SDK's own registered responses (globus_sdk.testing): exact request bodies,
idempotence, and what a person reads when Globus says no."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
import responses
from globus_sdk import ComputeClientV3, FlowsClient, NullAuthorizer, TimersClient, TransferClient
from globus_sdk.testing import load_response
from globus_sdk.transport import RetryConfig
from tests_support import SUBSCRIPTION, answer_collections, answer_probes, answer_validation, subscribed

from palxfel_globus.backup import FLOW_FUNCTIONS, load_flow
from palxfel_globus.config import load_config
from palxfel_globus.demo import make_site
from palxfel_globus.errors import PalxfelError
from palxfel_globus.functions import REGISTERED_FUNCTIONS, bundled_source
from palxfel_globus.globus import deployment as deployment_module
from palxfel_globus.globus.deployment import Clients, Deployment, Desired, apply, compute_client, deployment_path, plan
from palxfel_globus.globus.distinct import probe_name
from palxfel_globus.globus.errors import globus_errors
from palxfel_globus.resources import data_dir

pytestmark = pytest.mark.usefixtures("globus_responses")


@pytest.fixture
def config(tmp_path: Path) -> Any:
    return load_config(subscribed(make_site(tmp_path / "site", scans=3, total_bytes=3000).config_path))


def clients(consented: list[tuple[str, list[str]]] | None = None) -> Clients:
    """Real SDK clients; ``consented`` records (flow, data_access collections) the timer's consent must cover."""
    return Clients(
        lambda: compute_client(authorizer=NullAuthorizer()),
        FlowsClient(authorizer=NullAuthorizer()),
        TimersClient(authorizer=NullAuthorizer()),
        TransferClient(authorizer=NullAuthorizer()),
        on_flow=(lambda *consent: consented.append(consent)) if consented is not None else (lambda *consent: None),
    )


def bodies(method: str, path_end: str) -> list[dict[str, Any]]:
    return [
        json.loads(call.request.body)
        for call in responses.calls
        if call.request.method == method and call.request.url.rstrip("/").endswith(path_end)
    ]


def first_deploy(config: Any) -> Deployment:
    """Deploy where the DAQ collection is a GCS mapped collection (it needs a data_access consent)."""
    load_response(ComputeClientV3.register_function)
    answer_validation()
    load_response(FlowsClient.create_flow)
    load_response(TimersClient.create_timer, case="flow_timer_success")
    answer_collections(config.collections(), mapped={config.daq.collection})
    desired, deployment = Desired.of(config), Deployment.load(deployment_path(config))
    consented: list[tuple[str, list[str]]] = []
    apply(plan(desired, deployment), desired, deployment, clients(consented))
    assert consented == [(deployment.flow["id"], [config.daq.collection])], (
        "before the timer is created, its consent covers the flow and the mapped collection's data access"
    )
    return deployment


def test_a_first_deploy_registers_each_function_then_creates_the_flow_and_its_timer(config: Any) -> None:
    deployment = first_deploy(config)
    registered = bodies("POST", "/v3/functions")
    assert [body["function_name"] for body in registered] == list(REGISTERED_FUNCTIONS)
    for body in registered:
        assert bundled_source(body["function_name"]) in body["function_code"], "the source text, as the SDK sends it"
        assert body["meta"]["python_version"] and body["meta"]["sdk_version"]
    flow, transfer_flow, restore_flow = bodies("POST", "/flows")
    definition, schema = load_flow("scan_backup")
    assert flow["definition"] == definition, "deploy sends the very file the local engine runs"
    assert flow["input_schema"] == schema
    assert flow["title"] == "PAL-XFEL scan backup" and flow["keywords"] == ["palxfel-globus", "PAL-XFEL", "backup"]
    assert (transfer_flow["definition"], transfer_flow["input_schema"]) == load_flow("transfer")
    assert transfer_flow["title"] == "PAL-XFEL one-off copy"
    assert (restore_flow["definition"], restore_flow["input_schema"]) == load_flow("restore")
    assert restore_flow["title"] == "PAL-XFEL scan restore"
    assert flow["subscription_id"] == transfer_flow["subscription_id"] == SUBSCRIPTION, "no 30-day expiry"
    assert restore_flow["subscription_id"] == SUBSCRIPTION
    (timer,) = bodies("POST", "/v2/timer")
    flow_id = deployment.flow["id"]
    assert timer["timer"]["timer_type"] == "flow" and timer["timer"]["flow_id"] == flow_id
    assert timer["timer"]["schedule"] == {"type": "recurring", "interval_seconds": 60}
    body = timer["timer"]["body"]
    assert set(body) == {"body", "tags"}, "only fields the Timers flow-start document defines"
    assert body["tags"] == ["palxfel-globus"]
    assert "notify" not in body["body"], "no [notify] in the config: nobody to e-mail"
    assert body["body"]["daq_endpoint"] == config.daq.compute_endpoint
    assert body["body"]["functions"] == {name: deployment.functions[name]["id"] for name in FLOW_FUNCTIONS}
    assert body["body"]["config"] == config.function_config()
    saved = json.loads(deployment_path(config).read_text("utf-8"))
    assert saved["flow"]["id"] == flow_id and saved["timer"]["id"] == deployment.timer["id"]
    assert saved["data_access"] == [config.daq.collection]


def test_a_second_deploy_with_nothing_changed_makes_no_call(config: Any) -> None:
    first_deploy(config)
    calls = len(responses.calls)
    deployment = Deployment.load(deployment_path(config))
    steps = plan(Desired.of(config), deployment)
    apply(steps, Desired.of(config), deployment, clients())
    assert steps == [] and len(responses.calls) == calls


def test_a_changed_function_is_registered_again_alone_and_the_timer_replaced(
    config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_deploy(config)
    real = deployment_module.source_hash
    monkeypatch.setattr(
        deployment_module, "source_hash", lambda name: "changed" if name == "verify_scan" else real(name)
    )
    deployment = Deployment.load(deployment_path(config))
    steps = plan(Desired.of(config), deployment)
    assert [(step.kind, step.target) for step in steps] == [("register", "function verify_scan"), ("replace", "timer")]
    old_timer = deployment.timer["id"]
    calls = len(responses.calls)
    responses.add(responses.DELETE, f"https://timer.automate.globus.org/jobs/{old_timer}", json={"job_id": old_timer})
    apply(steps, Desired.of(config), deployment, clients())
    new_calls = [(call.request.method, call.request.url) for call in responses.calls[calls:]]
    writes = [(method, url) for method, url in new_calls if method != "GET"]
    assert [method for method, _url in writes] == ["POST", "DELETE", "POST"]
    assert writes[1][1].endswith(f"/jobs/{old_timer}")
    assert json.loads(responses.calls[calls].request.body)["function_name"] == "verify_scan"
    reads = [url for method, url in new_calls if method == "GET"]
    assert sorted(url.rsplit("/", 1)[1] for url in reads) == sorted(config.collections()), (
        "the new timer's consent is worked out from each collection's type afresh"
    )


def test_a_changed_definition_updates_the_flow_in_place(config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    first_deploy(config)
    deployment = Deployment.load(deployment_path(config))
    desired = Desired.of(config)
    desired.definition = dict(desired.definition, Comment="a new description")
    steps = plan(desired, deployment)
    assert [(step.kind, step.target) for step in steps] == [("update", "flow")]
    load_response(FlowsClient.update_flow)
    apply(steps, desired, deployment, clients())
    (update,) = bodies("PUT", f"/flows/{deployment.flow['id']}")
    assert update["definition"]["Comment"] == "a new description" and update["description"] == "a new description"
    assert update["subscription_id"] == SUBSCRIPTION, "every update says the subscription too"


def test_dry_run_prints_the_plan_and_calls_nothing(config: Any, cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = cli("deploy", "--config", str(config.source), "--dry-run")
    assert code == 0 and len(responses.calls) == 0
    assert "function find_completed_scans" in out and "not registered yet" in out
    assert "Dry run: nothing was changed." in out and "create" in out and "timer" in out


def test_nothing_to_do_is_said_once_deployed(config: Any, cli: Callable[..., tuple[int, str, str]]) -> None:
    first_deploy(config)
    code, out, _ = cli("deploy", "--config", str(config.source), "--dry-run")
    assert code == 0 and out.startswith("Nothing to change: Globus matches")


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            403,
            {
                "code": "ConsentRequired",
                "message": "Missing required data_access consent",
                "required_scopes": ["urn:globus:auth:scope:transfer.api.globus.org:all"],
            },
            "the Globus Flows service needs your consent for this; run 'palxfel-globus login' again",
        ),
        (
            401,
            {"code": "AuthenticationFailed", "message": "Token is not active"},
            "Your Globus login has expired or was revoked; run 'palxfel-globus login'.",
        ),
        (
            404,
            {"code": "NotFound", "message": "Flow not found"},
            "the Globus Flows service no longer has what the deployment file points to; run 'palxfel-globus deploy'",
        ),
        (
            429,
            {"code": "TooManyRequests", "message": "slow down"},
            "the Globus Flows service is limiting requests; wait a minute and try again.",
        ),
        (500, {"code": "InternalError", "message": "oops"}, "the Globus Flows service failed (500); try again later"),
    ],
)
def test_globus_errors_become_one_sentence_that_says_what_to_do(status: int, body: dict, message: str) -> None:
    responses.add(responses.GET, "https://flows.automate.globus.org/flows/f", json=body, status=status)
    flows = FlowsClient(authorizer=NullAuthorizer(), retry_config=RetryConfig(max_retries=0))
    with pytest.raises(PalxfelError) as caught, globus_errors():
        flows.get_flow("f")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_creates_are_not_retried_but_reads_are(config: Any) -> None:
    """A create that failed after the service acted must not be made twice; a read may be retried."""
    desired, deployment = Desired.of(config), Deployment.load(deployment_path(config))
    deployment.functions = {
        name: {"id": f"{name}-id", "hash": desired.function_hashes[name]} for name in REGISTERED_FUNCTIONS
    }
    answer_validation()
    responses.add(
        responses.POST,
        "https://flows.automate.globus.org/flows",
        status=500,
        json={"code": "InternalError", "message": "oops"},
    )
    with pytest.raises(PalxfelError, match="the Globus Flows service failed \\(500\\)"), globus_errors():
        apply(plan(desired, deployment), desired, deployment, clients())
    assert [call.request.url.rsplit("/", 1)[1] for call in responses.calls] == ["validate"] * 3 + ["flows"]
    responses.reset()
    responses.add(
        responses.GET,
        "https://flows.automate.globus.org/flows/f",
        status=503,
        headers={"Retry-After": "0"},
        json={"code": "Unavailable", "message": "later"},
    )
    responses.add(responses.GET, "https://flows.automate.globus.org/flows/f", json={"id": "f"})
    assert clients().flows.get_flow("f")["id"] == "f" and len(responses.calls) == 2


def test_deploy_applies_the_plan_and_names_the_endpoint_configs_to_rewrite(
    config: Any, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from palxfel_globus.globus import auth as auth_module
    from palxfel_globus.globus.auth import Session

    monkeypatch.setattr(auth_module, "open_session", lambda _config: Session(None, clients(), None, None, None))
    function_id = load_response(ComputeClientV3.register_function).metadata["function_id"]
    answer_validation()
    load_response(FlowsClient.create_flow)
    load_response(TimersClient.create_timer, case="flow_timer_success")
    answer_collections(config.collections())
    answer_probes(config)
    code, out, err = cli("deploy", "--config", str(config.source))
    assert code == 0, err
    assert "done: create timer" in out
    made = [call for call in responses.calls if call.request.url.endswith("/mkdir")]
    assert [json.loads(call.request.body)["path"] for call in made] == [
        f"{destination.base_path.rstrip('/')}/{probe_name(destination)}"
        for _number, _place, _route, destination in config.destinations()
    ]
    daq, verifier = config.daq.compute_endpoint, config.routes[1].primary.compute_endpoint
    assert f"  palxfel-globus endpoint config daq    (DAQ, endpoint {daq})\n" in out
    assert f"  palxfel-globus endpoint config 2    (route #2 (ms_*), endpoint {verifier})\n" in out
    code, yaml_text, _ = cli("endpoint", "config", "daq", "--config", str(config.source))
    assert code == 0 and f"  - {function_id}  # record_outcome" in yaml_text
    code, out, _ = cli("deploy", "--config", str(config.source))
    assert code == 0 and out.startswith("Nothing to do")


def test_deploy_refuses_a_destination_that_is_the_daq_storage_itself(
    config: Any, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe directory deploy makes at route #2's base_path shows up in the DAQ collection's root: the two
    are the same storage, and nothing is deployed."""
    from palxfel_globus.globus import auth as auth_module
    from palxfel_globus.globus.auth import Session

    monkeypatch.setattr(auth_module, "open_session", lambda _config: Session(None, clients(), None, None, None))
    answer_collections(config.collections())
    answer_probes(config, aliased=frozenset({config.routes[1].primary.collection}))
    code, out, err = cli("deploy", "--config", str(config.source))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("Error: Nothing was deployed: route #2: ")
    assert "is the DAQ storage itself" in err and "give the route a destination on other storage" in err
    assert not [call for call in responses.calls if call.request.url.endswith(("/flows", "/v2/timer", "/functions"))]


def test_deploy_works_away_from_the_daq_host(config: Any, cli: Callable[..., tuple[int, str, str]]) -> None:
    """The DAQ root is mounted only on the DAQ host; deploy from elsewhere warns and goes on."""
    import shutil

    shutil.rmtree(config.daq.root)
    code, out, err = cli("deploy", "--config", str(config.source), "--dry-run")
    assert code == 0 and "Dry run: nothing was changed." in out
    assert (
        err == f"Warning: the DAQ root {config.daq.root} is not on this machine; the routes were not checked "
        "against it.\n"
    )


@pytest.mark.parametrize(
    ("python", "needs"),
    [
        # no release of the SDK for globus-sdk 4 installs on 3.9: no pip command, where to deploy from
        ("3.9.18", r"which needs Python 3\.10 or newer \(this is 3\.9\.18\): deploy, and the demo, .* local run'"),
        ("3.11.7", r"needs globus-compute-sdk: 'pip install \"globus-compute-sdk>=4\.14,<5\"'"),
    ],
)
def test_without_the_compute_sdk_deploy_says_what_to_do_before_any_change(
    config: Any, monkeypatch: pytest.MonkeyPatch, python: str, needs: str
) -> None:
    import platform
    import sys

    monkeypatch.setitem(sys.modules, "globus_compute_sdk", None)
    monkeypatch.setitem(sys.modules, "globus_compute_sdk.sdk.client", None)
    monkeypatch.setattr(platform, "python_version", lambda: python)
    desired, deployment = Desired.of(config), Deployment.load(deployment_path(config))
    answer_validation()
    with pytest.raises(PalxfelError, match=needs):
        apply(plan(desired, deployment), desired, deployment, clients())
    assert all(call.request.url.endswith("/flows/validate") for call in responses.calls), "asked, nothing made"
    assert not deployment.path.exists()


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        '{"version": 1, "functions": {}, "flow": {"hash": "h"}, "timer": {}}',
        '{"version": 1, "functions": [], "flow": {}, "timer": {}}',
        '{"version": 1, "functions": {"verify_scan": "id"}, "flow": {}, "timer": {}}',
        '{"version": 1, "functions": {}, "flow": {}, "timer": {}, "data_access": "4cd74190"}',
        '{"version": 2, "functions": {}, "flow": {}, "timer": {}}',
    ],
)
def test_a_hand_edited_deployment_file_is_one_sentence_not_a_crash(
    config: Any, cli: Callable[..., tuple[int, str, str]], document: str
) -> None:
    path = deployment_path(config)
    path.write_text(document, encoding="utf-8")
    for command in (["flow", "run"], ["status"], ["deploy", "--dry-run"]):
        code, out, err = cli(*command, "--config", str(config.source))
        assert (code, out) == (2, ""), (command, err)
        assert err.startswith(f"Error: The deployment file {path} is unreadable (") and err.count("\n") == 1, err
        assert err.endswith("); move it away to deploy afresh.\n")


def unsubscribed(config: Any) -> Any:
    """The same site's config without [globus] subscription_id."""
    text = config.source.read_text("utf-8").replace(f'subscription_id = "{SUBSCRIPTION}"', "")
    config.source.write_text(text, encoding="utf-8")
    return load_config(config.source)


def test_deploy_without_a_subscription_is_refused_before_anything_is_made(
    config: Any, cli: Callable[..., tuple[int, str, str]]
) -> None:
    config = unsubscribed(config)
    for command in (["deploy"], ["deploy", "--dry-run"]):
        code, out, err = cli(*command, "--config", str(config.source))
        assert (code, out) == (2, "") and err.count("\n") == 1
        assert err.startswith("Error: [globus] subscription_id is not set: without a Globus subscription a user may")
        assert "deletes it 30 days after it is made" in err and "--no-subscription" in err
    assert len(responses.calls) == 0 and not deployment_path(config).exists()


def test_no_subscription_deploys_the_scan_backup_flow_alone(config: Any) -> None:
    config = unsubscribed(config)
    deployment = first_deploy(config)
    (flow,) = bodies("POST", "/flows")
    assert flow["title"] == "PAL-XFEL scan backup" and "subscription_id" not in flow
    assert deployment.flow and not deployment.transfer_flow, "Globus allows one flow without a subscription"


def with_notify(config: Any, tmp_path: Path, password_mode: int = 0o600, **keys: Any) -> Any:
    password = tmp_path / "smtp-password"
    password.write_text("s3cret-smtp\n", encoding="utf-8")
    password.chmod(password_mode)
    settings = {
        "email": ["dm@example.org"],
        "sender": "backup@example.org",
        "smtp_host": "smtp.example.org",
        "smtp_port": 587,
        "smtp_username": "backup",
        "smtp_password_file": str(password),
        **keys,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items() if value is not None]
    with open(config.source, "a", encoding="utf-8") as handle:
        handle.write("\n[notify]\n" + "\n".join(lines) + "\n")
    return load_config(config.source)


def test_the_timer_carries_who_to_tell_and_the_mail_login_under_a_private_key(config: Any, tmp_path: Path) -> None:
    config = with_notify(config, tmp_path)
    deployment = first_deploy(config)
    (timer,) = bodies("POST", "/v2/timer")
    body = timer["timer"]["body"]["body"]
    assert body["notify"] == {"email": ["dm@example.org"], "sender": "backup@example.org"}
    assert body["_private_notify_credentials"] == [
        {
            "credential_type": "smtp",
            "credential_value": {
                "hostname": "smtp.example.org",
                "username": "backup",
                "password": "s3cret-smtp",
                "port": 587,
            },
        }
    ]
    assert "s3cret" not in deployment.path.read_text("utf-8")
    definition, _schema = load_flow("scan_backup")
    tell = definition["States"]["TellPeople"]["Parameters"]
    assert tell["__Private_Parameters"] == ["send_credentials"], "kept out of the run's logs"
    (path,) = [str(config.notify.smtp_password_file)]
    Path(path).write_text("a-new-password\n", encoding="utf-8")
    steps = plan(Desired.of(config), Deployment.load(deployment.path))
    assert [(step.kind, step.target) for step in steps] == [("replace", "timer")], "a new password, a new timer"


@pytest.mark.parametrize(
    ("mode", "keys", "message"),
    [
        (
            0o600,
            {"smtp_host": None, "sender": None},
            "Error: [notify] email is set, but the Globus notification action provider sends through your own mail "
            "server: set [notify] sender, smtp_host (the password in a file only you can read), or remove [notify] "
            "email.\n",
        ),
        (0o644, {}, "can be read by others (mode 644); run 'chmod 600 "),
    ],
)
def test_a_mail_setup_the_provider_cannot_use_is_refused_before_anything_is_made(
    config: Any, tmp_path: Path, cli: Callable[..., tuple[int, str, str]], mode: int, keys: dict, message: str
) -> None:
    config = with_notify(config, tmp_path, mode, **keys)
    code, out, err = cli("deploy", "--config", str(config.source))
    assert (code, out) == (2, "") and message in err and err.count("\n") == 1
    assert len(responses.calls) == 0 and not deployment_path(config).exists()


def logged_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from palxfel_globus.globus import auth as auth_module
    from palxfel_globus.globus.auth import Session

    monkeypatch.setattr(auth_module, "open_session", lambda _config: Session(None, clients(), None, None, None))


def test_a_dry_run_when_logged_in_asks_the_flows_service_about_each_definition(
    config: Any, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_in(monkeypatch)
    answer_validation()
    code, out, err = cli("deploy", "--config", str(config.source), "--dry-run")
    assert code == 0, err
    sent = bodies("POST", "/flows/validate")
    flows = ("scan_backup", "transfer", "restore")
    assert [body["definition"] for body in sent] == [load_flow(name)[0] for name in flows]
    assert [body["input_schema"] for body in sent] == [load_flow(name)[1] for name in flows]
    words = " ".join(out.split())
    assert "flow ok accepted; its runs need" in words and "urn:globus:auth:scope:transfer.api.globus.org:all" in words
    assert "Dry run: nothing was changed." in out and all(
        call.request.url.endswith("/flows/validate") for call in responses.calls
    )


def test_a_dry_run_shows_what_the_service_refuses_and_fails(
    config: Any, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_in(monkeypatch)
    answer_validation("definition_error")
    code, out, err = cli("deploy", "--config", str(config.source), "--dry-run")
    assert code == 1
    words = " ".join(out.split())
    assert "REFUSED definition.States.Step1: A state of type 'Action' must be defined" in words
    assert err == "Error: The Flows service would refuse a definition (see above); nothing changed.\n"


def test_flow_validate_remote_asks_the_flows_service(
    config: Any, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_in(monkeypatch)
    answer_validation("definition_error")
    definition = data_dir("flow_definitions") / "transfer.json"
    code, out, _err = cli("flow", "validate", str(definition), "--remote", "--config", str(config.source))
    assert code == 1 and "REFUSED" in out, "the local checks pass; the service's answer decides"
    (sent,) = bodies("POST", "/flows/validate")
    assert sent == {"definition": load_flow("transfer")[0]}


def test_deploy_asks_the_flows_service_before_it_makes_anything_and_says_what_it_refused(
    config: Any, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 25: a plain deploy validates each definition it would create through POST /flows/validate;
    a refusal is one sentence with the service's reasons, and nothing (no function, no flow) is made."""
    logged_in(monkeypatch)
    answer_collections(config.collections())
    answer_probes(config)
    answer_validation("definition_error")
    code, out, err = cli("deploy", "--config", str(config.source))
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("Error: Nothing was deployed: the Flows service refuses the flow: definition.States.Step1: ")
    assert "; the transfer flow: definition.States.Step1: " in err and "; the restore flow: " in err
    sent = bodies("POST", "/flows/validate")
    assert [body["definition"] for body in sent] == [
        load_flow(name)[0] for name in ("scan_backup", "transfer", "restore")
    ]
    made = [
        call
        for call in responses.calls
        if call.request.method != "GET" and not call.request.url.endswith(("/flows/validate", "/mkdir"))
    ]
    assert made == [], "look-ups, the destinations' probe directories and the validation only: nothing was made"
    assert not deployment_path(config).exists()
