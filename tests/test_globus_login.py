"""A real login, end to end: the SDK's own UserApp and command-line login flow, with only Globus
Auth's HTTP answers registered (``responses``). A person pastes the code; Auth signs an id_token
with a key of ours; the tokens land in the SDK's JSON file. Then the consents: what the SDK finds
in Auth's consent tree decides whether a command goes ahead or says to log in again.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from globus_sdk import ComputeClientV3, FlowsClient, SpecificFlowClient, TimersClient
from globus_sdk.scopes import (
    ComputeScopes,
    FlowsScopes,
    Scope,
    ScopeParser,
    SpecificFlowScopes,
    TimersScopes,
    TransferScopes,
)
from globus_sdk.testing import load_response
from tests_support import AtTerminal, answer_collections, answer_probes, answer_validation, subscribed, write_deployment

from palxfel_globus.config import load_config
from palxfel_globus.demo import make_site
from palxfel_globus.globus import auth as auth_module
from palxfel_globus.globus.consents import flow_scope, timer_scope
from palxfel_globus.globus.deployment import Deployment, deployment_path

Cli = Callable[..., "tuple[int, str, str]"]
CLIENT_ID = "5a5a5a5a-0000-4000-8000-000000000001"
IDENTITY = "8ca28797-3541-4a5d-a264-05b00f91e608"
AUTH = "https://auth.globus.org"
JSON = {"Content-Type": "application/json"}
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class GlobusAuth:
    """Globus Auth's answers: the code exchange (a token per resource server the app asked for,
    an id_token signed with our key), the keys to check it, userinfo, and the person's consents."""

    def __init__(self, apps: list[Any]) -> None:
        self.apps = apps
        self.issued = 0
        self.expired: set[str] = set()  # resource servers whose access token is issued already run out
        self.consents: list[dict[str, Any]] = []
        responses.add(
            responses.GET,
            f"{AUTH}/.well-known/openid-configuration",
            json={"issuer": AUTH, "jwks_uri": f"{AUTH}/jwk.json", "id_token_signing_alg_values_supported": ["RS512"]},
        )
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING_KEY.public_key()))
        responses.add(responses.GET, f"{AUTH}/jwk.json", json={"keys": [dict(public, alg="RS512", use="sig")]})
        responses.add_callback(responses.POST, f"{AUTH}/v2/oauth2/token", callback=self.exchange)
        responses.add(
            responses.GET,
            f"{AUTH}/v2/oauth2/userinfo",
            json={"sub": IDENTITY, "preferred_username": "beamline@pal.re.kr", "email": "beamline@pal.re.kr"},
        )
        responses.add_callback(
            responses.GET,
            f"{AUTH}/v2/api/identities/{IDENTITY}/consents",
            callback=lambda _request: (200, JSON, json.dumps({"consents": self.consents})),
        )

    def token(self, resource_server: str) -> str:
        return f"SECRET-{resource_server}-{self.issued}"

    def exchange(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = parse_qs(request.body)
        if form["grant_type"] == ["refresh_token"]:
            return 400, JSON, json.dumps({"error": "invalid_grant"})  # the person revoked this app's access
        self.issued += 1
        (app,) = self.apps
        # a code exchange grants what the login page asked for; client credentials name their scopes
        asked = {scope.scope_string for scope in ScopeParser.parse(form["scope"][0])} if "scope" in form else None
        tokens = [
            {
                "resource_server": server,
                "scope": " ".join(scope.scope_string for scope in scopes),
                "access_token": self.token(server),
                "refresh_token": f"SECRET-REFRESH-{server}-{self.issued}",
                "expires_in": 0 if server in self.expired else 172800,
                "token_type": "Bearer",
            }
            for server, scopes in app.scope_requirements.items()
            if asked is None or asked & {scope.scope_string for scope in scopes}
        ]
        first = next((token for token in tokens if token["resource_server"] == "auth.globus.org"), tokens[0])
        now = int(time.time())
        id_token = jwt.encode(
            {"sub": IDENTITY, "aud": CLIENT_ID, "iss": AUTH, "iat": now, "exp": now + 600},
            SIGNING_KEY,
            algorithm="RS512",
        )
        body = dict(first, id_token=id_token, other_tokens=[token for token in tokens if token is not first])
        return 200, JSON, json.dumps(body)

    def consent_to(self, *scopes: Scope) -> None:
        """What the person agreed to, as Auth lists it: one consent per node, with its path from the root."""

        def add(scope: Scope, path: list[int]) -> None:
            node = len(self.consents) + 1
            self.consents.append(
                {
                    "id": node,
                    "scope_name": scope.scope_string,
                    "dependency_path": [*path, node],
                    "status": "approved",
                    "allows_refresh": True,
                    "atomically_revocable": False,
                    "auto_approved": False,
                    "effective_identity": IDENTITY,
                    "client": CLIENT_ID,
                    "scope": f"00000000-0000-4000-8000-{node:012d}",
                    "created": "2026-11-24T00:00:00+00:00",
                    "updated": "2026-11-24T00:00:00+00:00",
                    "last_used": "2026-11-24T00:00:00+00:00",
                }
            )
            for dependency in scope.dependencies:
                add(dependency, [*path, node])

        for scope in scopes:
            add(scope, [])


pytestmark = pytest.mark.usefixtures("globus_responses")


@pytest.fixture
def apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The app each command makes (the real make_app: a UserApp whose tokens go under $HOME)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PALXFEL_GLOBUS_CLIENT_ID", CLIENT_ID)
    for variable in ("GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    made: list[Any] = []
    real = auth_module.make_app

    def make_app(config: Any) -> Any:
        made[:] = [real(config)]
        return made[0]

    monkeypatch.setattr(auth_module, "make_app", make_app)
    return made


@pytest.fixture
def globus_auth(apps: list[Any]) -> GlobusAuth:
    return GlobusAuth(apps)


@pytest.fixture
def deployed(tmp_path: Path) -> tuple[Any, Deployment]:
    """A deployed config whose DAQ collection is a GCS mapped collection."""
    config = load_config(make_site(tmp_path / "site", scans=3, total_bytes=3000).config_path)
    copy_flow = {"id": "e8e5b4b9-0000-4000-8000-000000000002", "hash": "h"}
    return config, write_deployment(config, transfer_flow=copy_flow, data_access=[config.daq.collection])


@pytest.fixture
def logged_in(
    deployed: tuple[Any, Deployment], globus_auth: GlobusAuth, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Deployment]:
    """The deployed config after a person has logged in with it."""
    config, _deployment = deployed
    monkeypatch.setattr("sys.stdin", AtTerminal("the-code"))
    code, _out, err = cli("login", "--config", str(config.source))
    assert code == 0, err
    return deployed


def authorize_urls(out: str) -> list[dict[str, list[str]]]:
    return [parse_qs(urlparse(line).query) for line in out.split() if line.startswith(f"{AUTH}/v2/oauth2/authorize")]


def requested_scopes(url: dict[str, list[str]]) -> list[Scope]:
    """The scope trees a login asks for, as the SDK parses scope strings (dependencies may hold spaces)."""
    (scopes,) = url["scope"]
    return ScopeParser.parse(scopes)


def test_login_asks_once_for_everything_and_keeps_the_tokens_private(
    deployed: tuple[Any, Deployment],
    globus_auth: GlobusAuth,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, deployment = deployed
    monkeypatch.setattr("sys.stdin", AtTerminal("the-code"))
    caplog.set_level("DEBUG")
    code, out, err = cli("login", "--config", str(config.source))
    assert code == 0, err
    assert f"Logged in as beamline@pal.re.kr ({IDENTITY})." in out
    (url,) = authorize_urls(out)
    assert url["client_id"] == [CLIENT_ID] and url["access_type"] == ["offline"]
    asked = requested_scopes(url)
    flow_id, copy_flow_id = deployment.flow["id"], deployment.transfer_flow["id"]
    assert {scope.scope_string for scope in asked} >= {
        TransferScopes.all.scope_string,
        ComputeScopes.all.scope_string,
        FlowsScopes.all.scope_string,
        TimersScopes.timer.scope_string,
        SpecificFlowScopes(flow_id).user.scope_string,  # 'flow run' starts it
        SpecificFlowScopes(copy_flow_id).user.scope_string,  # 'transfer' starts the copy flow
    }
    assert str(timer_scope(flow_id, [config.daq.collection])) in map(str, asked), "the timer reaches the DAQ data"
    assert str(flow_scope(flow_id, [config.daq.collection])) in map(str, asked), "so does 'flow run'"
    (exchange,) = [call for call in responses.calls if call.request.url == f"{AUTH}/v2/oauth2/token"]
    form = parse_qs(exchange.request.body)
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["the-code"]
    assert form["code_verifier"] and form["client_id"] == [CLIENT_ID]

    (token_file,) = [path for path in (tmp_path / "home").rglob("*") if path.is_file()]
    assert token_file.stat().st_mode & 0o777 == 0o600
    stored = token_file.read_text("utf-8")
    assert globus_auth.token("transfer.api.globus.org") in stored, "the tokens are really in that file"
    assert "SECRET" not in out + err + caplog.text


def test_a_command_whose_consent_is_missing_says_to_log_in_and_calls_nothing(
    logged_in: tuple[Any, Deployment], globus_auth: GlobusAuth, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, deployment = logged_in
    globus_auth.consent_to(timer_scope(deployment.flow["id"], []))  # the flow, but not the DAQ's data access
    timers_called = len([call for call in responses.calls if "timer.automate" in call.request.url])
    code, out, err = cli("timer", "show", "--config", str(config.source))
    assert (code, out) == (1, "")
    assert err == (
        "Error: Your Globus login lacks a consent this needs (the flow's, the timer's or a collection's data "
        "access); run 'palxfel-globus login' and accept what it asks.\n"
    )
    assert timers_called == 0 == len([call for call in responses.calls if "timer.automate" in call.request.url])


def test_with_the_consents_given_a_command_uses_the_stored_token(
    logged_in: tuple[Any, Deployment], globus_auth: GlobusAuth, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, deployment = logged_in
    globus_auth.consent_to(timer_scope(deployment.flow["id"], [config.daq.collection]))
    load_response(TimersClient.get_job)
    code, out, err = cli("timer", "show", "--config", str(config.source), "--json")
    assert code == 0, err
    (call,) = [call for call in responses.calls if "timer.automate" in call.request.url]
    assert call.request.headers["Authorization"] == f"Bearer {globus_auth.token(TimersScopes.resource_server)}"
    assert "SECRET" not in out + err


def test_a_copy_from_a_mapped_collection_asks_for_its_data_access_first(
    logged_in: tuple[Any, Deployment], globus_auth: GlobusAuth, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, deployment = logged_in
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # now run by cron: nobody to log in
    mapped, guest = "2c5e9b1e-0000-4000-8000-000000000009", "3d6f0c2f-0000-4000-8000-00000000000a"
    answer_collections([mapped, guest], mapped={mapped})
    code, out, err = cli("transfer", f"{mapped}:/~/x.h5", f"{guest}:/b/", "--config", str(config.source))
    assert (code, out) == (2, "")
    assert err == (
        f"Error: This copy needs your consent to Transfer's data access on {mapped}; run 'palxfel-globus login' "
        "on a terminal, then run this command again.\n"
    )
    assert not [call for call in responses.calls if "flows.automate" in call.request.url]


def test_a_first_deploy_asks_for_the_timer_consent_once_the_flow_exists(
    tmp_path: Path, globus_auth: GlobusAuth, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setup is two commands: login, then deploy, which stops once for the consent only a new flow can have."""
    config = load_config(subscribed(make_site(tmp_path / "site", scans=3, total_bytes=3000).config_path))
    monkeypatch.setattr("sys.stdin", AtTerminal("first-code", "second-code"))
    assert cli("login", "--config", str(config.source))[0] == 0
    load_response(ComputeClientV3.register_function)
    answer_validation()
    flow = load_response(FlowsClient.create_flow).json
    flow_id, copy_flow_id = flow["id"], "c0c0c0c0-0000-4000-8000-00000000000c"
    responses.add(responses.POST, "https://flows.automate.globus.org/flows", json=dict(flow, id=copy_flow_id))
    load_response(TimersClient.create_timer, case="flow_timer_success")
    answer_collections(config.collections(), mapped={config.daq.collection})
    answer_probes(config)
    # what the person allows in the login deploy starts: the timer running the flow, and starting it themselves
    globus_auth.consent_to(timer_scope(flow_id, [config.daq.collection]), flow_scope(flow_id, [config.daq.collection]))
    code, out, err = cli("deploy", "--config", str(config.source))
    assert code == 0, err
    assert (
        "The timer runs the flow as you, so Globus asks for your consent to that (and to Transfer's data access "
        "on 1 mapped collection(s)); log in below." in out
    )
    (url,) = authorize_urls(out)
    asked = list(map(str, requested_scopes(url)))
    assert str(timer_scope(flow_id, [config.daq.collection])) in asked
    assert str(SpecificFlowScopes(copy_flow_id).user) in asked, "the same login covers the copy flow"
    (timer,) = [call for call in responses.calls if call.request.url.endswith("/v2/timer")]
    assert timer.request.headers["Authorization"] == f"Bearer {globus_auth.token(TimersScopes.resource_server)}"
    exchanges = [call for call in responses.calls if call.request.url == f"{AUTH}/v2/oauth2/token"]
    assert [parse_qs(call.request.body)["code"] for call in exchanges] == [["first-code"], ["second-code"]]
    assert Deployment.load(deployment_path(config)).data_access == [config.daq.collection]

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no more logins: the next commands just work
    run = load_response(SpecificFlowClient.run_flow).json
    responses.add(responses.POST, f"https://flows.automate.globus.org/flows/{copy_flow_id}/run", json=run)
    guests = ["3d6f0c2f-0000-4000-8000-00000000000a", "4e7a1d3a-0000-4000-8000-00000000000b"]
    answer_collections(guests)
    code, out, err = cli("transfer", f"{guests[0]}:/a/", f"{guests[1]}:/b/", "--config", str(config.source))
    assert code == 0, err
    (started,) = [call for call in responses.calls if call.request.url.endswith(f"/flows/{copy_flow_id}/run")]
    assert started.request.headers["Authorization"] == f"Bearer {globus_auth.token(copy_flow_id)}"


def test_the_flow_scope_is_the_tree_globus_sdk_builds_for_mapped_collections() -> None:
    from globus_sdk import GlobusAppConfig, UserApp

    flow_id, collections = "24bc4997-b483-4c25-a19c-64b0afc00743", ["4cd74190-0000-4000-8000-000000000001"]
    app = UserApp("palxfel-globus", client_id=CLIENT_ID, config=GlobusAppConfig(token_storage="memory"))
    SpecificFlowClient(flow_id, app=app).add_app_transfer_data_access_scope(collections)
    assert str(flow_scope(flow_id, collections)) in map(str, app.scope_requirements[flow_id])
    assert str(flow_scope(flow_id, [])) == str(SpecificFlowScopes(flow_id).user)


@pytest.mark.parametrize(
    ("entity_type", "high_assurance", "needed"),
    [
        ("GCSv5_mapped_collection", False, True),
        ("GCSv5_mapped_collection", True, False),  # high assurance: no data_access scope exists
        ("GCSv5_guest_collection", False, False),
        ("GCP_mapped_collection", False, False),
    ],
)
def test_only_plain_gcs_mapped_collections_need_data_access(
    entity_type: str, high_assurance: bool, needed: bool
) -> None:
    from palxfel_globus.globus.consents import needs_data_access

    assert needs_data_access({"entity_type": entity_type, "high_assurance": high_assurance}) is needed


def test_doctor_finds_the_missing_data_access_consent_without_calling_the_services(
    logged_in: tuple[Any, Deployment], globus_auth: GlobusAuth, cli: Cli
) -> None:
    config, deployment = logged_in
    globus_auth.consent_to(timer_scope(deployment.flow["id"], []), flow_scope(deployment.flow["id"], []))
    code, out, err = cli("doctor", "--config", str(config.source), "--json")
    checks = {check["what"]: check for check in json.loads(out)}
    assert code == 1, err
    assert checks["login"] == {
        "what": "login",
        "ok": False,
        "detail": "no valid Globus login, or a consent the flow needs is missing",
        "fix": "palxfel-globus login",
    }
    assert not [call for call in responses.calls if "auth.globus.org" not in call.request.url]


def test_a_revoked_login_says_to_log_in_again(
    deployed: tuple[Any, Deployment], globus_auth: GlobusAuth, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, deployment = deployed
    globus_auth.expired.add(TimersScopes.resource_server)  # the SDK refreshes the token, and Auth refuses
    monkeypatch.setattr("sys.stdin", AtTerminal("the-code"))
    assert cli("login", "--config", str(config.source))[0] == 0
    globus_auth.consent_to(timer_scope(deployment.flow["id"], [config.daq.collection]))
    code, out, err = cli("timer", "show", "--config", str(config.source))
    assert (code, out) == (1, "")
    assert err == "Error: Your Globus login has expired or was revoked; run 'palxfel-globus login'.\n"
    (refresh,) = [call for call in responses.calls if "refresh_token" in str(call.request.body)]
    assert "SECRET-REFRESH" in parse_qs(refresh.request.body)["refresh_token"][0], "the stored refresh token was tried"


def test_a_service_identity_gets_its_own_tokens_with_nobody_at_the_host(
    deployed: tuple[Any, Deployment], globus_auth: GlobusAuth, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DAQ host with nobody at it: GLOBUS_CLIENT_ID/SECRET, no login, no prompt (the SDK checks no
    consent tree for a client: it is granted what it asks for)."""
    import base64

    config, deployment = deployed
    monkeypatch.setenv("GLOBUS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("GLOBUS_CLIENT_SECRET", "SECRET-CLIENT")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    load_response(TimersClient.get_job)
    code, out, err = cli("timer", "show", "--config", str(config.source), "--json")
    assert code == 0, err
    grants = [call for call in responses.calls if call.request.url == f"{AUTH}/v2/oauth2/token"]
    assert grants and all(parse_qs(call.request.body)["grant_type"] == ["client_credentials"] for call in grants)
    secret = base64.b64encode(f"{CLIENT_ID}:SECRET-CLIENT".encode()).decode()
    assert grants[0].request.headers["Authorization"] == f"Basic {secret}"
    asked = [str(scope) for call in grants for scope in ScopeParser.parse(parse_qs(call.request.body)["scope"][0])]
    assert str(timer_scope(deployment.flow["id"], [config.daq.collection])) in asked, "the timer tree, as for a person"
    (call,) = [call for call in responses.calls if "timer.automate" in call.request.url]
    assert call.request.headers["Authorization"] == f"Bearer {globus_auth.token(TimersScopes.resource_server)}"
    assert "SECRET" not in out + err


def test_a_token_file_others_can_read_is_reported_by_doctor_and_fixed_by_login(
    logged_in: tuple[Any, Deployment],
    globus_auth: GlobusAuth,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    config, deployment = logged_in
    (token_file,) = [path for path in (tmp_path / "home").rglob("*") if path.is_file()]
    token_file.chmod(0o644)  # e.g. copied in from another machine: the SDK sets 0600 only on a file it creates
    code, out, _err = cli("doctor", "--config", str(config.source), "--json")
    checks = {check["what"]: check for check in json.loads(out)}
    assert code == 1 and checks["token file"] == {
        "what": "token file",
        "ok": False,
        "detail": f"the token file {token_file} can be read by others (mode 644)",
        "fix": "palxfel-globus login (it makes the file yours alone)",
    }
    monkeypatch.setattr("sys.stdin", AtTerminal("the-code"))
    code, out, err = cli("login", "--config", str(config.source))
    assert code == 0, err
    assert f"The token file {token_file} could be read by others; it is now yours alone (mode 600)." in out
    assert token_file.stat().st_mode & 0o777 == 0o600
