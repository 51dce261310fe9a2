"""What 'local serve' does, beyond the shapes of its answers: a cancel as the service answers it, a
run request checked as the service checks it, and a stop that ends at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from tests_support import serving

from palxfel_globus.demo import make_site

RUN_TIMEOUT = 120
LONG_WAIT = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "Next": "Done"}, "Done": {"Type": "Pass", "End": True}},
}


@pytest.fixture
def site(tmp_path: Path) -> Any:
    return make_site(tmp_path / "site", scans=1, total_bytes=2000)


@pytest.fixture
def server(site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with serving(site.config_path, tmp_path, monkeypatch) as emulator:
        yield emulator


def clients(server: Any) -> tuple[Any, Any]:
    from globus_sdk import ClientApp, FlowsClient

    app = ClientApp("semantics", client_id=server.client_id, client_secret=server.secret)
    return app, FlowsClient(app=app)


def started_in_a_long_wait(server: Any) -> tuple[Any, dict[str, Any]]:
    from globus_sdk import SpecificFlowClient

    app, flows = clients(server)
    flow = flows.create_flow("waits an hour", LONG_WAIT, {})
    run = SpecificFlowClient(flow["id"], app=app).run_flow({})
    assert server.runs.wait_until(
        lambda: "WaitStarted" in [entry["code"] for entry in server.store.log(run["run_id"])], RUN_TIMEOUT
    )
    return flows, run


def test_a_cancel_answers_failed_flow_canceled_and_ends_the_wait_the_run_sleeps_in(server: Any) -> None:
    """The SDK's cancel_run data: the cancelled run comes back FAILED with the code FlowCanceled. The run's
    hour-long Wait does not keep it going: its thread ends (a bound, not a timing assertion)."""
    flows, run = started_in_a_long_wait(server)
    cancelled = flows.cancel_run(run["run_id"])
    assert (cancelled["status"], cancelled["details"]["code"]) == ("FAILED", "FlowCanceled")
    assert server.runs.wait_for_ended(1, RUN_TIMEOUT), "the Wait ended with the cancel"
    after = flows.get_run(run["run_id"])
    assert (after["status"], after["details"]["code"]) == ("FAILED", "FlowCanceled")
    codes = [entry["code"] for entry in flows.get_run_logs(run["run_id"])["entries"]]
    assert codes[-1] == "FlowCanceled" and "WaitCompleted" not in codes


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"body": {}, "label": "x" * 65}, "label"),
        ({"body": {}, "label": 7}, "label"),
        ({"body": {}, "label": ""}, "label"),
        ({"body": {}, "tags": "one"}, "tags"),
        ({"body": {}, "run_managers": ["someone"]}, "run_managers"),
        ({"body": {}, "notify": True}, "notify"),
    ],
)
def test_a_run_request_the_service_refuses_is_refused_and_starts_nothing(
    server: Any, request_body: dict[str, Any], field: str
) -> None:
    from globus_sdk import GlobusAPIError, SpecificFlowClient

    app, flows = clients(server)
    flow = flows.create_flow("passes", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {})
    specific = SpecificFlowClient(flow["id"], app=app)
    with pytest.raises(GlobusAPIError) as refused:
        specific.post(f"/flows/{flow['id']}/run", data=request_body)
    assert refused.value.http_status == 422
    assert [item["loc"][0] for item in refused.value.raw_json["error"]["detail"]] == [field]
    assert server.store.all("run") == []


def test_an_input_over_the_run_state_limit_is_refused_when_the_run_is_asked_for(server: Any) -> None:
    from globus_sdk import GlobusAPIError, SpecificFlowClient

    app, flows = clients(server)
    flow = flows.create_flow("passes", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, {})
    with pytest.raises(GlobusAPIError) as refused:
        SpecificFlowClient(flow["id"], app=app).run_flow({"blob": "x" * 210_000})
    assert (refused.value.http_status, refused.value.code) == (400, "FLOW_INPUT_ERROR")
    assert "200 KB" in refused.value.raw_json["error"]["message"]
    assert server.store.all("run") == [], "nothing stored, not even the input"


def test_a_flow_naming_an_action_provider_the_service_would_not_resolve_is_refused_at_create(server: Any) -> None:
    from globus_sdk import GlobusAPIError

    _app, flows = clients(server)
    for url, sentence in (
        ("https://actions.automate.globus.org/transfer/transfer", "use https://transfer.actions.globus.org/transfer"),
        ("https://automate.funcx.org", "use https://compute.actions.globus.org"),
        ("https://my-provider.example.org/run", "is not an action provider this engine runs"),
    ):
        state = {"Type": "Action", "ActionUrl": url, "Parameters": {}, "End": True}
        with pytest.raises(GlobusAPIError) as refused:
            flows.create_flow("old", {"StartAt": "A", "States": {"A": state}}, {})
        assert refused.value.http_status == 422 and sentence in refused.value.raw_json["error"]["message"]
    assert server.store.all("flow") == []


@pytest.mark.parametrize("kind", ["wait", "compute"])
def test_serve_stops_at_once_on_sigterm_and_a_run_it_interrupts_is_failed_saying_so(
    site: Any, tmp_path: Path, kind: str
) -> None:
    """A run an hour from its end, in a Wait or in a Compute task: SIGTERM ends the server now (communicate's
    bound is a minute), and the run is FAILED with the description the README gives."""
    from palxfel_globus.config import load_config
    from palxfel_globus.emulator.runs import INTERRUPTED
    from palxfel_globus.emulator.store import Store

    state = tmp_path / "state"
    command = [sys.executable, "-m", "palxfel_globus", "local", "serve", "--config", str(site.config_path)]
    server = subprocess.Popen(
        [*command, "--state", str(state), "--compute-sdk-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert (server.stdout.readline() if server.stdout else "").startswith("Globus emulator at")
        run_id = _start_a_long_run(state, kind, load_config(site.config_path).daq.compute_endpoint)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0 and out.rstrip().endswith("Emulator stopped.")
    assert err == "Warning: 1 active run(s) ended FAILED: the emulator stopped.\n"
    store = Store(state / "state.sqlite")
    try:
        run = store.get("run", run_id)
        assert (run["status"], run["details"]["description"]) == ("FAILED", INTERRUPTED)
        assert store.log(run_id)[-1]["description"] == INTERRUPTED
    finally:
        store.close()


def _start_a_long_run(state: Path, kind: str, endpoint: str) -> str:
    """tests/data/start_long_run.py with env.sh's variables only, as another shell would run it."""
    variables = dict(
        line[len("export ") :].split("=", 1)
        for line in (state / "env.sh").read_text().splitlines()
        if line.startswith("export ")
    )
    environment = {**{key: value.strip("'") for key, value in variables.items()}, "HOME": str(state.parent / "home")}
    script = Path(__file__).parent / "data" / "start_long_run.py"
    answer = subprocess.run(
        [sys.executable, str(script), kind, endpoint],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    return answer.stdout.strip()


def test_a_function_the_compute_sdk_serialized_needs_the_compute_sdk_to_decode_one_sentence_without_it(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Source text registers either way; a serialized function, where the emulator's Python has no
    Compute SDK, is refused with one sentence saying what to do."""
    compute_sdk = pytest.importorskip("globus_compute_sdk.serialize", reason="the Compute SDK needs Python 3.10+")
    from globus_sdk import ClientApp, ComputeClientV3, GlobusAPIError

    def double(x):  # registered as a user would, untyped
        return 2 * x

    serializer = compute_sdk.ComputeSerializer()
    packed = serializer.pack_buffers([serializer.serialize(double)])
    app = ClientApp("semantics", client_id=server.client_id, client_secret=server.secret)
    compute = ComputeClientV3(app=app)
    monkeypatch.setitem(sys.modules, "globus_compute_sdk.serialize", None)  # as if it were not installed
    with pytest.raises(GlobusAPIError) as refused:
        compute.register_function({"function_name": "double", "function_code": packed})
    assert refused.value.http_status == 422
    assert refused.value.message == (
        "This function was serialized by the Compute SDK, and the emulator's Python has no globus-compute-sdk to "
        "decode it: install globus-compute-sdk next to palxfel-globus, or register source text."
    )
    source = {"function_name": "double", "function_code": "def double(x):\n    return 2 * x\n", "serialized": False}
    assert compute.register_function(source)["function_uuid"]


def test_runs_list_answers_in_the_order_asked_for_and_refuses_an_unknown_one(server: Any) -> None:
    """GET /runs documents ``orderby`` ("FIELD ASC|DESC", comma-separated): the CLI's runs list asks for
    newest first, so the emulator must sort as asked, not in an order of its own."""
    from globus_sdk import GlobusAPIError, SpecificFlowClient

    app, flows = clients(server)
    flow = flows.create_flow("passes", {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}, {})
    for label in ("c", "a", "b"):
        run_id = SpecificFlowClient(flow["id"], app=app).run_flow({}, label=label)["run_id"]
        ended = lambda run_id=run_id: server.runs.get(run_id)["status"] != "ACTIVE"  # noqa: E731
        assert server.runs.wait_until(ended, RUN_TIMEOUT)

    def labels(orderby: Any) -> list[str]:
        listed = flows.list_runs(filter_flow_id=flow["id"], query_params={"orderby": orderby})
        return [run["label"] for run in listed]

    assert labels("start_time ASC") == ["c", "a", "b"]
    assert labels("start_time DESC") == ["b", "a", "c"]
    assert labels("label ASC") == ["a", "b", "c"]
    assert labels(["status ASC", "label DESC"]) == ["c", "b", "a"]
    with pytest.raises(GlobusAPIError) as refused:
        flows.list_runs(query_params={"orderby": "shoe_size DESC"})
    assert refused.value.http_status == 422 and "orderby" in refused.value.text
