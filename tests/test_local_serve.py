"""'local serve' end to end over real HTTP: the unchanged commands against the emulated Globus, and
the official globus CLI (which nobody here wrote, with its own globus-sdk and click, so in a venv of
its own from the package registry) against the same server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from tests_support import ARCHIVE, ask_states, serving, subscribed, two_destinations

from palxfel_globus.config import load_config
from palxfel_globus.demo import check_site, make_site
from palxfel_globus.globus.deployment import Deployment, deployment_path

Cli = Callable[..., "tuple[int, str, str]"]
RUN_TIMEOUT = 120  # seconds a run of a few small scans may take; a bound, not a timing assertion


@pytest.fixture
def site(tmp_path: Path) -> Any:
    site = make_site(tmp_path / "site", scans=6, total_bytes=60_000, catalog=True)
    subscribed(site.config_path)
    return site


@pytest.fixture
def emulator(site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        yield server


def wait_for_runs(server: Any, count: int) -> list[dict[str, Any]]:
    assert server.runs.wait_for_ended(count, RUN_TIMEOUT), f"fewer than {count} run(s) ended"
    return sorted(server.store.all("run"), key=lambda run: run["start_time"])


def test_deploy_then_the_timer_ships_every_complete_scan_and_the_commands_see_it(
    site: Any, emulator: Any, cli: Cli
) -> None:
    config = ["--config", str(site.config_path)]
    code, out, err = cli("deploy", *config)
    assert code == 0, err
    (run,) = wait_for_runs(emulator, 1)
    assert run["status"] == "SUCCEEDED", run["details"]
    complete = [scan for scan in site.scans if scan.kind == "complete"]
    shipped = [f"{scan.experiment}/{scan.name}" for scan in complete]
    checks = [check for check in check_site(site, [shipped]) if check.scan_id in shipped]
    assert checks and all(check.ok for check in checks), [check for check in checks if not check.ok]

    code, out, _ = cli("status", *config, "--json")
    status = json.loads(out)
    assert code == 0 and status["runs"][0]["run_id"] == run["run_id"] and status["runs"][0]["status"] == "SUCCEEDED"
    code, out, _ = cli("runs", "logs", run["run_id"], *config, "--json")
    assert code == 0 and json.loads(out)[-1]["code"] == "FlowSucceeded", "every page of the log"
    code, out, _ = cli("deploy", "--dry-run", *config)
    assert code == 0 and out.startswith("Nothing to change"), out

    code, out, _ = cli("timer", "pause", *config, "--json")
    code, out, _ = cli("timer", "show", *config, "--json")
    assert code == 0 and json.loads(out)["status"] == "inactive"
    code, out, _ = cli("doctor", *config, "--json")
    checks_by_name = {check["what"]: check for check in json.loads(out)}
    assert checks_by_name["DAQ allowed functions"]["ok"] and checks_by_name["flow"]["ok"]
    assert not checks_by_name["timer"]["ok"] and checks_by_name["timer"]["fix"] == "palxfel-globus timer resume"

    code, out, _ = cli("runs", "cancel", run["run_id"], *config)
    assert code == 0 and out.strip() == f"Run {run['run_id']} had already SUCCEEDED; there was nothing to cancel."

    code, out, err = cli("destroy", "--yes", *config)
    assert code == 0, err
    assert emulator.store.all("timer") == [] and emulator.store.all("flow") == []
    assert all(secret not in out + err for secret in (emulator.secret,))


def test_two_destinations_and_release_through_the_emulated_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """Issue 12 over HTTP: the deployed flow ships each scan to both destinations on the timer's first
    run; the dry run says what the second releases, and it does."""
    site = make_site(tmp_path / "site", scans=6, total_bytes=60_000)
    two_destinations(site, notify=False)
    subscribed(site.config_path)
    config = ["--config", str(site.config_path)]
    with serving(site.config_path, tmp_path, monkeypatch) as emulator:
        code, out, err = cli("deploy", *config)
        assert code == 0, err
        (first,) = wait_for_runs(emulator, 1)
        assert first["status"] == "SUCCEEDED", first["details"]
        code, out, err = cli("scans", "list", "--json", *config)
        shipped = [row for row in json.loads(out) if row["state"] == "shipped"]
        ue = [row for row in shipped if row["experiment"].startswith("ue_")]
        assert ue and all([place["state"] for place in row["destinations"]] == ["verified"] * 2 for row in ue)
        assert all(row["destinations"][1]["collection"] == ARCHIVE for row in ue)
        code, out, err = cli("scans", "release", "--dry-run", "--json", *config)
        planned = sorted(f"{row['experiment']}/{row['scan']}" for row in json.loads(out))
        assert planned == sorted(f"{row['experiment']}/{row['scan']}" for row in shipped)
        emulator.scheduler.advance(load_config(site.config_path).timer_interval)
        second = wait_for_runs(emulator, 2)[-1]
        assert second["status"] == "SUCCEEDED", second["details"]
        code, out, err = cli("scans", "list", "--json", *config)
        released = sorted(f"{row['experiment']}/{row['scan']}" for row in json.loads(out) if row["state"] == "released")
        assert released == planned and not any(scan.path.exists() for scan in site.scans if scan.kind == "complete")


def test_a_timer_skips_a_tick_while_its_run_is_active_and_stops_at_its_end(site: Any, emulator: Any) -> None:
    """A run that waits for a person is in progress, however long it waits: no timing is involved."""
    from globus_sdk import ClientApp, FlowsClient, FlowTimer, RecurringTimerSchedule, TimersClient

    app = ClientApp("t", client_id=emulator.client_id, client_secret=emulator.secret)
    flows = FlowsClient(app=app)
    flow = flows.create_flow("asks", ASK, {})
    app.add_scope_requirements({flow["id"]: [f"https://auth.globus.org/scopes/{flow['id']}/x"]})
    timers = TimersClient(app=app)
    schedule = RecurringTimerSchedule(60, end={"condition": "iterations", "iterations": 2})
    timer = timers.create_timer(FlowTimer(flow_id=flow["id"], name="t", schedule=schedule, body={"body": {}}))
    job_id = timer["timer"]["job_id"]

    def answer_the_waiting_run() -> None:
        def waiting() -> list[dict[str, Any]]:
            return [run for run in emulator.store.all("run") if run["status"] == "INACTIVE"]

        assert emulator.runs.wait_until(lambda: len(waiting()) == 1, RUN_TIMEOUT)
        web_input = flows.get_web_input(waiting()[0]["details"]["blocking_web_input_id"])
        flows.respond_to_web_input(web_input["id"], value=web_input["options"][0]["option_id"])

    assert emulator.runs.wait_until(lambda: len(emulator.store.all("run")) == 1, RUN_TIMEOUT)
    emulator.scheduler.advance(60)  # the first run (at creation) waits for a person: this tick is skipped
    answer_the_waiting_run()
    wait_for_runs(emulator, 1)
    assert timers.get_job(job_id)["results"]["data"][0]["status"] == 409
    emulator.scheduler.advance(60)
    answer_the_waiting_run()
    wait_for_runs(emulator, 2)
    job = timers.get_job(job_id)
    assert (job["n_runs"], job["status"], job["activity"]) == (2, "inactive", None)
    assert len(emulator.store.all("run")) == 2


GUEST = "cccccccc-0000-4000-8000-00000000000c"


def test_a_guest_collection_s_access_rules_set_by_a_run_are_listed_by_the_transfer_api(
    site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a flow's manage_permission did, 'globus endpoint permission list' (the same Transfer call) shows."""
    from globus_sdk import ClientApp, FlowsClient, SpecificFlowClient, TransferClient

    (tmp_path / "guest" / "shared").mkdir(parents=True)
    text = site.config_path.read_text()
    site.config_path.write_text(
        text.replace("[local]\n", f'[local]\nguest_collections = {{ "{GUEST}" = "{tmp_path / "guest"}" }}\n')
    )
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        app = ClientApp("t", client_id=server.client_id, client_secret=server.secret)
        share = {
            "Type": "Action",
            "ActionUrl": "https://transfer.actions.globus.org/manage_permission",
            "Parameters": {
                "endpoint_id": GUEST,
                "operation": "CREATE",
                "path": "/shared/",
                "permissions": "r",
                "principal_type": "group",
                "principal": GUEST,
            },
            "ResultPath": "$.shared",
            "ExceptionOnActionFailure": True,
            "End": True,
        }
        flow = FlowsClient(app=app).create_flow("share", {"StartAt": "Share", "States": {"Share": share}}, {})
        app.add_scope_requirements({flow["id"]: [f"https://auth.globus.org/scopes/{flow['id']}/x"]})
        SpecificFlowClient(flow["id"], app=app).run_flow({})
        (run,) = wait_for_runs(server, 1)
        transfer = TransferClient(app=app)
        rules = transfer.endpoint_acl_list(GUEST)["DATA"]
        assert run["status"] == "SUCCEEDED" and transfer.get_endpoint(GUEST)["entity_type"] == "GCSv5_guest_collection"
        assert [(rule["id"], rule["path"], rule["principal_type"]) for rule in rules] == [
            (run["details"]["output"]["shared"]["details"]["access_id"], "/shared/", "group")
        ]


ASK = {
    "StartAt": "Ask",
    "States": {
        **ask_states(["yes", "no"], "yes", "Done", "Done", title="Ship it?"),
        "Done": {"Type": "Pass", "End": True},
    },
}


def test_a_run_waits_inactive_for_its_web_input_and_goes_on_when_a_person_answers_it(site: Any, emulator: Any) -> None:
    from globus_sdk import ClientApp, FlowsClient, GlobusAPIError, SpecificFlowClient

    app = ClientApp("t", client_id=emulator.client_id, client_secret=emulator.secret)
    flows = FlowsClient(app=app)
    flow = flows.create_flow("ask", ASK, {})
    app.add_scope_requirements({flow["id"]: [f"https://auth.globus.org/scopes/{flow['id']}/x"]})
    started = [SpecificFlowClient(flow["id"], app=app).run_flow({}) for _ in range(2)]
    assert emulator.runs.wait_until(
        lambda: all(flows.get_run(run["run_id"])["status"] == "INACTIVE" for run in started), RUN_TIMEOUT
    )
    waiting = flows.get_run(started[0]["run_id"])
    web_input = flows.get_web_input(waiting["details"]["blocking_web_input_id"])
    assert (web_input["status"], [option["label"] for option in web_input["options"]]) == ("open", ["Yes", "No"])
    assert len(flows.list_web_inputs(filter_states="open")["web_input_summaries"]) == 2
    with pytest.raises(GlobusAPIError) as refused:
        flows.respond_to_web_input(web_input["id"], value="yes")  # the option's id, not its Value
    assert refused.value.http_status == 422
    flows.respond_to_web_input(web_input["id"], value=web_input["options"][0]["option_id"])
    wait_for_runs(emulator, 1)
    done = flows.get_run(started[0]["run_id"])
    assert done["status"] == "SUCCEEDED" and done["details"]["output"]["answer"]["response"] == "yes"
    assert flows.get_web_input(web_input["id"])["status"] == "closed"
    cancelled = flows.cancel_run(started[1]["run_id"])  # as the SDK's cancel_run data: FAILED, FlowCanceled
    assert (cancelled["status"], cancelled["details"]["code"]) == ("FAILED", "FlowCanceled")


def test_a_run_waiting_for_a_person_still_waits_after_a_restart(
    site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from globus_sdk import ClientApp, FlowsClient, SpecificFlowClient

    def clients(server: Any) -> tuple[Any, Any]:
        app = ClientApp("t", client_id=server.client_id, client_secret=server.secret)
        return app, FlowsClient(app=app)

    with serving(site.config_path, tmp_path, monkeypatch) as server:
        app, flows = clients(server)
        flow = flows.create_flow("ask", ASK, {})
        app.add_scope_requirements({flow["id"]: [f"https://auth.globus.org/scopes/{flow['id']}/x"]})
        run = SpecificFlowClient(flow["id"], app=app).run_flow({})
        assert server.runs.wait_until(lambda: flows.get_run(run["run_id"])["status"] == "INACTIVE", RUN_TIMEOUT)
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        _app, flows = clients(server)
        waiting = flows.get_run(run["run_id"])
        assert waiting["status"] == "INACTIVE"
        web_input = flows.get_web_input(waiting["details"]["blocking_web_input_id"])
        flows.respond_to_web_input(web_input["id"], value=web_input["options"][1]["option_id"])
        wait_for_runs(server, 1)
        assert flows.get_run(run["run_id"])["details"]["output"]["answer"]["response"] == "no"


def test_the_timers_api_refuses_a_field_the_flow_start_document_does_not_define(site: Any, emulator: Any) -> None:
    from globus_sdk import ClientApp, FlowsClient, FlowTimer, GlobusAPIError, RecurringTimerSchedule, TimersClient

    app = ClientApp("t", client_id=emulator.client_id, client_secret=emulator.secret)
    flow = FlowsClient(app=app).create_flow("f", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {})
    body = {"body": {}, "notify_on_failure": True}
    with pytest.raises(GlobusAPIError) as refused:
        TimersClient(app=app).create_timer(
            FlowTimer(flow_id=flow["id"], name="t", schedule=RecurringTimerSchedule(3600), body=body)
        )
    assert refused.value.http_status == 422 and "notify_on_failure" in str(refused.value.message)
    assert emulator.store.all("timer") == []


def test_a_missing_or_wrong_bearer_token_gets_a_401(site: Any, emulator: Any) -> None:
    import urllib.error
    import urllib.request

    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        request = urllib.request.Request(emulator.url("flows") + "flows", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request)
        assert answer.value.code == 401


@pytest.mark.parametrize(
    ("method", "path", "status", "command", "sentence"),
    [
        (
            "GET", r"/timer/jobs/", 404, ["timer", "show"],
            "Error: the Globus Timers service no longer has what the deployment file points to; run "
            "'palxfel-globus deploy' to recreate it.\n",
        ),
        (
            "POST", r"/flows/flows/[^/]+/run$", 403, ["flow", "run"],
            "Error: the Globus Flows service needs your consent for this; run 'palxfel-globus login' again and "
            "accept what it asks.\n",
        ),
        (
            "GET", r"/flows/runs$", 401, ["runs", "list"],
            "Error: Your Globus login has expired or was revoked; run 'palxfel-globus login'.\n",
        ),
    ],
)  # fmt: skip
def test_an_error_answer_reaches_the_user_as_the_commands_one_line(
    site: Any, emulator: Any, cli: Cli, method: str, path: str, status: int, command: list[str], sentence: str
) -> None:
    config = ["--config", str(site.config_path)]
    assert cli("deploy", *config)[0] == 0
    wait_for_runs(emulator, 1)
    code_name = "ConsentRequired" if status == 403 else ""
    emulator.inject(method, path, status, times=5, code=code_name, extra={"required_scopes": ["x"]})
    code, out, err = cli(*command, *config)
    assert (code, err) == (1, sentence)


def test_an_expired_token_is_replaced_and_a_429_retried_without_the_user_seeing_either(
    site: Any, emulator: Any, cli: Cli
) -> None:
    config = ["--config", str(site.config_path)]
    assert cli("deploy", *config)[0] == 0
    wait_for_runs(emulator, 1)
    emulator.store.expire_tokens(time.time())
    code, out, err = cli("runs", "list", *config, "--json")
    assert (code, err) == (0, "") and len(json.loads(out)) == 1, "a service identity fetches a new token"
    emulator.inject("GET", r"/flows/runs$", 429, times=1)
    code, out, err = cli("runs", "list", *config, "--json")
    assert (code, err) == (0, "") and len(json.loads(out)) == 1, "the SDK waits and asks again"
    assert emulator.faults[-1]["times"] == 0, "the 429 was answered"


def test_a_500_on_a_create_is_one_sentence_and_the_create_is_not_repeated(site: Any, emulator: Any, cli: Cli) -> None:
    config = ["--config", str(site.config_path)]
    emulator.inject("POST", r"/flows/flows$", 500, times=1)
    code, out, err = cli("deploy", *config)
    assert (code, err) == (
        1,
        "Error: the Globus Flows service failed (500); try again later, or check status.globus.org.\n",
    )
    assert emulator.store.all("flow") == [], "no retry made a second flow"
    assert not Deployment.load(deployment_path(load_config(site.config_path))).flow
    code, _, err = cli("deploy", *config)
    assert code == 0, err
    assert len(emulator.store.all("flow")) == 3  # the scan flow, the copy flow and the restore flow, once each


def _serve(site: Any, state: Path, *options: str) -> subprocess.Popen[str]:
    """``local serve`` in a process of its own; without the Compute SDK's fixed port unless asked for."""
    return subprocess.Popen(
        [sys.executable, "-m", "palxfel_globus", "local", "serve", "--config", str(site.config_path),
         "--state", str(state), *(options or ("--compute-sdk-port", "0"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _environment_when_ready(server: subprocess.Popen[str], state: Path) -> dict[str, str]:
    line = server.stdout.readline() if server.stdout else ""  # the first line says it is serving
    assert line.startswith("Globus emulator at http://127.0.0.1:"), line + (
        server.stderr.read() if server.stderr else ""
    )
    variables = {}
    for entry in (state / "env.sh").read_text().splitlines():
        if entry.startswith("export "):
            name, _, value = entry[len("export ") :].partition("=")
            variables[name] = value.strip("'")
    return variables


def test_serve_runs_in_the_foreground_on_loopback_stops_on_sigterm_and_keeps_its_state(
    site: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    server = _serve(site, state)
    try:
        variables = _environment_when_ready(server, state)
        assert all(url.startswith("http://127.0.0.1:") for name, url in variables.items() if "SERVICE_URL" in name)
        assert oct((state / "env.sh").stat().st_mode & 0o777) == "0o600"
        environment = {**os.environ, **variables, "HOME": str(tmp_path / "home")}
        deployed = subprocess.run(
            [sys.executable, "-m", "palxfel_globus", "deploy", "--config", str(site.config_path)],
            env=environment, capture_output=True, text=True,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stderr
        assert variables["GLOBUS_CLIENT_SECRET"] not in deployed.stdout + deployed.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0 and out.rstrip().endswith("Emulator stopped.")
    assert err in ("", "Warning: 1 active run(s) ended FAILED: the emulator stopped.\n"), (
        "the timer's run, if still going"
    )
    assert variables["GLOBUS_CLIENT_SECRET"] not in out + err

    again = _serve(site, state)
    try:
        first, variables = variables, _environment_when_ready(again, state)
        assert variables == first, "the port was free again: a shell that sourced env.sh still reaches it"
        environment = {**os.environ, **variables, "HOME": str(tmp_path / "home")}
        shown = subprocess.run(
            [sys.executable, "-m", "palxfel_globus", "timer", "show", "--config", str(site.config_path), "--json"],
            env=environment, capture_output=True, text=True,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["name"] == "palxfel-globus scan backup", "the timer survived the restart"
    finally:
        again.send_signal(signal.SIGINT)
        again.communicate(timeout=60)
    assert again.returncode == 0


def test_a_run_left_active_by_a_kill_is_marked_failed_at_the_next_start(site: Any, tmp_path: Path) -> None:
    from palxfel_globus.emulator.runs import INTERRUPTED
    from palxfel_globus.emulator.server import Emulator
    from palxfel_globus.emulator.store import Store

    state = tmp_path / "state"
    state.mkdir()
    store = Store(state / "state.sqlite")
    store.put("run", "r1", {"run_id": "r1", "status": "ACTIVE", "start_time": "2026-11-25T00:00:00+00:00"})
    store.close()
    server = Emulator(load_config(site.config_path), state)
    server.start()
    try:
        run = server.store.get("run", "r1")
        assert server.interrupted == ["r1"]
        assert run["status"] == "FAILED" and run["details"]["description"] == INTERRUPTED
        assert server.store.log("r1")[-1]["code"] == "FlowFailed"
    finally:
        server.stop()


def test_the_globus_cli_lists_the_flow_its_run_its_catalog_and_the_paused_timer(
    globus_cli: Path,
    site: Any,
    emulator: Any,
    cli: Cli,
    tmp_path: Path,
) -> None:
    config = ["--config", str(site.config_path)]
    assert cli("deploy", *config)[0] == 0
    (run,) = wait_for_runs(emulator, 1)
    assert cli("timer", "pause", *config)[0] == 0
    environment = {**os.environ, **emulator.environment(), "HOME": str(tmp_path / "globus-home")}

    def globus(*args: str) -> Any:
        answer = subprocess.run([str(globus_cli), *args, "-F", "json"], env=environment, capture_output=True, text=True)
        assert answer.returncode == 0, answer.stderr
        assert emulator.secret not in answer.stdout + answer.stderr
        return json.loads(answer.stdout)

    flows = globus("flows", "list")["flows"]
    assert {flow["title"] for flow in flows} == {
        "PAL-XFEL scan backup",
        "PAL-XFEL one-off copy",
        "PAL-XFEL scan restore",
    }
    runs = globus("flows", "run", "list")["runs"]
    assert [(listed["run_id"], listed["status"]) for listed in runs] == [(run["run_id"], "SUCCEEDED")]
    index = load_config(site.config_path).catalog.index
    assert globus("search", "index", "show", index)["permissions"] == ["owner"]
    found = globus("search", "query", index, "-q", "alignment")
    assert found["total"] >= 1 and all("alignment" in result["subject"] for result in found["gmeta"])
    (timer,) = globus("timer", "list")
    assert (timer["name"], timer["status"], timer["activity"]) == (
        "palxfel-globus scan backup",
        "inactive",
        {"code": "paused"},
    )


def test_serve_says_one_sentence_for_a_state_file_or_a_port_in_use(site: Any, tmp_path: Path, cli: Cli) -> None:
    import socket

    state_file = tmp_path / "state-file"
    state_file.write_text("")
    config = ["--config", str(site.config_path)]
    code, out, err = cli("local", "serve", "--state", str(state_file), *config)
    assert (code, out) == (2, "")
    assert err == f"Error: --state {state_file} is a file; give a directory (it is made if missing).\n"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, out, err = cli("local", "serve", "--state", str(tmp_path / "state"), "--port", str(port), *config)
    assert (code, out) == (2, "")
    assert err == (
        f"Error: Port {port} on 127.0.0.1 cannot be used (Address already in use); give another --port, or 0 for a "
        "free one.\n"
    )
