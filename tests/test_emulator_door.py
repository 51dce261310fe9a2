"""The door of 'local serve': a token opens only the service it was issued for, the controls take the
emulator's own credentials, and a request that names another host is refused (a web page that
rebinds its DNS name to 127.0.0.1 reaches the port, but sends its own name as the Host)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from tests_support import serving

from palxfel_globus.demo import make_site


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    site = make_site(tmp_path / "site", scans=1, total_bytes=2000)
    with serving(site.config_path, tmp_path, monkeypatch) as emulator:
        yield emulator


def call(
    url: str, token: Optional[str] = None, method: str = "GET", body: Any = None, headers: Optional[dict] = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def basic(server: Any) -> dict[str, str]:
    pair = base64.b64encode(f"{server.client_id}:{server.secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def token_for(server: Any, scope: str) -> str:
    """A token from the emulator's Auth, as globus-sdk's client-credentials grant asks for one."""
    from globus_sdk import ConfidentialAppAuthClient

    client = ConfidentialAppAuthClient(server.client_id, server.secret)
    return str(client.oauth2_client_credentials_tokens(requested_scopes=scope)["access_token"])


def test_a_token_opens_only_the_service_it_was_issued_for(server: Any) -> None:
    from globus_sdk.scopes import FlowsScopes, TimersScopes, TransferScopes

    openid, transfer = token_for(server, "openid"), token_for(server, str(TransferScopes.all))
    flows, timers = token_for(server, str(FlowsScopes.all)), token_for(server, str(TimersScopes.timer))
    refused = [
        (service, path, name)
        for name, token in (("openid", openid), ("transfer", transfer), ("flows", flows), ("timers", timers))
        for service, path in (("flows", "flows"), ("timer", "jobs"), ("transfer", "v0.10/endpoint_search"))
        if call(server.url(service) + path, token)[0] == 401
    ]
    assert sorted(refused) == sorted(
        [
            ("flows", "flows", "openid"), ("flows", "flows", "transfer"), ("flows", "flows", "timers"),
            ("timer", "jobs", "openid"), ("timer", "jobs", "transfer"), ("timer", "jobs", "flows"),
            ("transfer", "v0.10/endpoint_search", "openid"), ("transfer", "v0.10/endpoint_search", "flows"),
            ("transfer", "v0.10/endpoint_search", "timers"),
        ]
    )  # fmt: skip
    status, document = call(server.url("flows") + "flows", transfer)
    assert document["error"]["code"] == "AUTHENTICATION_ERROR"
    assert "issued for transfer.api.globus.org, not for flows.globus.org" in document["error"]["detail"]


def test_a_flows_token_does_not_start_a_run_the_flow_s_own_token_does(server: Any) -> None:
    from globus_sdk.scopes import FlowsScopes, SpecificFlowScopes

    flows = token_for(server, str(FlowsScopes.all))
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    status, flow = call(server.url("flows") + "flows", flows, "POST", {"title": "t", "definition": definition})
    assert status == 201
    run = server.url("flows") + f"flows/{flow['id']}/run"
    assert call(run, flows, "POST", {"body": {}})[0] == 401
    own = token_for(server, str(SpecificFlowScopes(flow["id"]).user))
    assert call(run, own, "POST", {"body": {}})[0] == 201


def test_the_controls_take_the_emulator_s_own_credentials_and_nothing_else(server: Any) -> None:
    from globus_sdk.scopes import FlowsScopes

    fault = {"method": "GET", "path": "/flows/runs$", "status": 429}
    controls = server.base_url + "/_emulator/"
    assert call(controls + "faults", None, "POST", fault)[0] == 401
    assert call(controls + "expire-tokens", token_for(server, str(FlowsScopes.all)), "POST", {})[0] == 401
    assert server.faults == []
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{server.client_id}:guess".encode()).decode()}
    assert call(controls + "faults", None, "POST", fault, wrong)[0] == 401
    assert call(controls + "faults", None, "POST", fault, basic(server)) == (201, {"faults": 1})
    assert call(controls + "health", None, headers=basic(server))[1]["status"] == "ok"


def test_a_request_that_names_another_host_is_refused_before_anything_else(server: Any) -> None:
    """What a browser sends for http://attacker.example:PORT/ once that name resolves to 127.0.0.1."""
    from globus_sdk.scopes import TransferScopes

    transfer = token_for(server, str(TransferScopes.all))
    search = server.url("transfer") + "v0.10/endpoint_search"
    rebound = {"Host": f"attacker.example:{server.port}"}
    status, document = call(search, transfer, headers=rebound)
    assert (status, document["code"]) == (421, "MISDIRECTED_REQUEST")
    assert call(server.base_url + "/_emulator/faults", None, "POST", {}, {**rebound, **basic(server)})[0] == 421
    assert call(server.url("auth") + "v2/oauth2/token", None, "POST", {}, {**rebound, **basic(server)})[0] == 421
    assert call(search, transfer, headers={"Host": f"localhost:{server.port}"})[0] == 200
    assert call(search, transfer)[0] == 200
