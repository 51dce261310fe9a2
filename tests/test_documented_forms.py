"""Issue 25: every action of every flow we deploy, in the form the Globus documentation publishes.

The forms are written down once, with their pages, in engine/providers/documented.py. These tests hold
each flow's actions to them twice: as written in the flow file, and as the engine builds them in runs
that reach every side step; and they show the local providers (which `local serve` runs too) refusing
the undocumented forms the flow used to send, as the service would."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from palxfel_globus.backup import LOCAL_FUNCTION_IDS, flow_input, load_flow, local_engine
from palxfel_globus.config import load_config
from palxfel_globus.demo import DemoSite, make_site
from palxfel_globus.engine import Engine, Faults
from palxfel_globus.engine.definition import validate
from palxfel_globus.engine.providers.documented import (
    COMPUTE_TASK,
    FORMS,
    PASS_FIELDS,
    TRANSFER_ITEM,
    Form,
    manage_permission_form,
)
from palxfel_globus.engine.providers.registry import url_key
from palxfel_globus.resources import data_dir

FLOWS = sorted(path.stem for path in data_dir("flow_definitions").glob("*.json") if not path.stem.endswith(".schema"))
GROUP = "urn:globus:groups:id:aaaaaaaa-1111-4111-8111-111111111111"
PERSON = "urn:globus:auth:identity:bbbbbbbb-2222-4222-8222-222222222222"
INDEX = "6077d057-989d-41e2-b60b-91fe001f0687"


def written(parameters: dict[str, Any]) -> dict[str, Any]:
    """A state's Parameters as the provider receives their keys: ``key.$`` and ``key.=`` are ``key``."""
    return {re.sub(r"\.[$=]$", "", key): value for key, value in parameters.items() if key != "__Private_Parameters"}


def form_of(url: str, body: dict[str, Any]) -> Form:
    form = FORMS[url_key(url)]
    return manage_permission_form(body) if isinstance(form, dict) else form


@pytest.mark.parametrize("flow", FLOWS)
def test_every_action_as_written_in_the_flow_file_is_in_its_documented_form(flow: str) -> None:
    definition, _schema = load_flow(flow)
    checked = set()
    for name, state in definition["States"].items():
        if state["Type"] != "Action":
            continue
        body = written(state["Parameters"])
        assert url_key(state["ActionUrl"]) in FORMS, f"{flow}.{name}: no documented form for {state['ActionUrl']}"
        form = form_of(state["ActionUrl"], body)
        # a value computed at run time (.$ or .=) is typed by the run; a constant is typed here
        constants = {key: value for key, value in state["Parameters"].items() if not key.endswith((".$", ".="))}
        problems = [problem for problem in form.problems(body) if " must be " not in problem]
        problems += [problem for problem in form.problems(constants) if " must be " in problem]
        assert problems == [], f"{flow}.{name} ({form.page}): {problems}"
        for item in body.get("DATA") if isinstance(body.get("DATA"), list) else []:
            assert TRANSFER_ITEM.problems(written(item)) == [], f"{flow}.{name}: {item}"
        for task in body.get("tasks") if isinstance(body.get("tasks"), list) else []:
            assert COMPUTE_TASK.problems(written(task)) == [], f"{flow}.{name}: {task}"
        checked.add(url_key(state["ActionUrl"]))
    used = {
        "scan_backup": set(FORMS) - {"transfer.actions.globus.org/stat"},
        "restore": {
            "compute.actions.globus.org/v3",
            "transfer.actions.globus.org/transfer",
            "transfer.actions.globus.org/stat",
        },
        "transfer": {"transfer.actions.globus.org/transfer"},
    }
    assert checked == used[flow]


@pytest.mark.parametrize("flow", FLOWS)
def test_every_pass_state_has_only_the_published_pass_fields_and_the_flows_validate_without_warnings(
    flow: str,
) -> None:
    definition, _schema = load_flow(flow)
    for name, state in definition["States"].items():
        if state["Type"] == "Pass":
            assert set(state) <= PASS_FIELDS, f"{flow}.{name} has {sorted(set(state) - PASS_FIELDS)}"
    assert validate(definition) == [], "not even a warning"


def test_a_pass_with_result_gets_a_warning_that_names_the_published_schema() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"a": 1}, "End": True}}}
    (finding,) = validate(definition)
    assert finding.warning and "published Pass schema" in finding.message and "Parameters" in finding.message


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    """Shares for ue_* on a guest collection, a catalog and two addresses to tell: every side step runs."""
    site = make_site(tmp_path / "site", scans=4, total_bytes=4000)
    text = site.config_path.read_text(encoding="utf-8")
    ue = re.search(r'match = "ue_\*"\ncollection = "([0-9a-f-]+)"', text).group(1)  # type: ignore[union-attr]
    directory = re.search(rf'"{ue}" = "([^"]+)", ', text).group(1)  # type: ignore[union-attr]
    text = text.replace(f'"{ue}" = "{directory}", ', "")
    text = text.replace("[local]\n", f'[local]\nguest_collections = {{ "{ue}" = "{directory}" }}\n')
    text = text.replace("max_attempts = 3\n", "max_attempts = 1\n")
    text += f'\n[catalog]\nindex = "{INDEX}"\n\n[notify]\nemail = ["dm@example.org", "ops@example.org"]\n'
    text += '\n[scrub]\nevery = "0s"\n'  # the third run reads the copies back, and removes its scratch
    site.config_path.write_text(text + f'\n[[share]]\nmatch = "ue_*"\nprincipals = {json.dumps([GROUP, PERSON])}\n')
    return site


def recording(engine: Engine, sent: list[tuple[str, dict[str, Any]]]) -> None:
    """Every body the engine hands a documented provider, as the service would receive it."""
    for key in FORMS:
        provider = engine.registry[key]

        def record(body: dict[str, Any], context: Any, key: str = key, provider: Callable = provider) -> Any:
            sent.append((key, json.loads(json.dumps(body))))
            return provider(body, context)

        engine.registry[key] = record


def test_every_action_the_runs_send_is_in_its_documented_form(site: DemoSite) -> None:
    """Runs that make and remove access rules, ingest entries, e-mail people (about a blocked scan, and
    about a failed run) and read copies back (the scrub): each body each provider received has exactly the
    documented keys and value types."""
    definition, _schema = load_flow("scan_backup")
    sent: list[tuple[str, dict[str, Any]]] = []

    def run(faults: Faults) -> dict[str, Any]:
        config = load_config(site.config_path)
        with local_engine(config, faults=faults) as engine:
            recording(engine, sent)
            return engine.run(definition, flow_input(config, LOCAL_FUNCTION_IDS))

    blocked = next(scan for scan in site.scans if scan.kind == "complete")
    (blocked.path / "ScanInfo" / "alias.h5").symlink_to("/etc/hostname")
    assert run(Faults())["status"] == "SUCCEEDED"  # ships, shares, catalogues, tells of the blocked scan
    assert run(Faults(fail={"FindCompletedScans": 1}))["status"] == "FAILED"  # tells of the failed run
    text = site.config_path.read_text("utf-8")
    site.config_path.write_text(text.replace(json.dumps([GROUP, PERSON]), json.dumps([GROUP])), "utf-8")
    assert run(Faults())["status"] == "SUCCEEDED"  # removes the person's rules
    operations = {(key, body.get("operation")) for key, body in sent}
    assert {
        ("actions.globus.org/search/ingest", None),
        ("actions.globus.org/notification/notify", None),
        ("transfer.actions.globus.org/manage_permission", "CREATE"),
        ("transfer.actions.globus.org/manage_permission", "DELETE"),
        ("transfer.actions.globus.org/transfer", None),
        ("transfer.actions.globus.org/delete", None),
        ("compute.actions.globus.org/v3", None),
    } <= operations, "every side step ran, and the scrub"
    for key, body in sent:
        form = form_of("https://" + key, body)
        assert form.problems(body) == [], (key, body)
    mails = [(body["destination"], body["subject"]) for key, body in sent if key.endswith("notify")]
    assert [destination for destination, _subject in mails] == ["dm@example.org", "ops@example.org"] * 2
    assert "1 scan(s) need a person" in mails[0][1] and "FindCompletedScansFailed" in mails[2][1]


def one_action_flow(url: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "Act",
        "States": {
            "Act": {
                "Type": "Action",
                "ActionUrl": url,
                "Parameters": parameters,
                "ResultPath": "$.result",
                "ExceptionOnActionFailure": True,
                "End": True,
            }
        },
    }


OLD_FORMS = [
    (
        "https://transfer.actions.globus.org/manage_permission",
        {"endpoint_id": "{guest}", "operation": "DELETE", "access_id": "{rule}"},
        "manage_permission DELETE has no parameter 'access_id'",
    ),
    (
        "https://actions.globus.org/notification/notify",
        {"destination": ["dm@example.org", "ops@example.org"], "body_template": "hello"},
        "the notification action provider's 'destination' must be a string, not list",
    ),
    (
        "https://actions.globus.org/search/ingest",
        {"search_index": INDEX, "ingest_type": "GMetaList", "ingest_data": {"gmeta": []}},
        "Search ingest has no parameter 'ingest_data'",
    ),
]


@pytest.mark.parametrize(("url", "parameters", "refusal"), OLD_FORMS)
def test_the_local_providers_refuse_the_forms_the_flow_used_to_send(
    tmp_path: Path, url: str, parameters: dict[str, Any], refusal: str
) -> None:
    guest = "cccccccc-3333-4333-8333-333333333333"
    (tmp_path / "guest" / "shared").mkdir(parents=True)
    with Engine(collections={}, guest_collections=(), state_dir=tmp_path / "state") as engine:
        engine.collections.add_guest(guest, tmp_path / "guest", {"id": guest})
        made = engine.run(
            one_action_flow(
                "https://transfer.actions.globus.org/manage_permission",
                {
                    "endpoint_id": guest,
                    "operation": "CREATE",
                    "path": "/shared/",
                    "principal_type": "identity",
                    "principal": PERSON.rsplit(":", 1)[1],
                    "permissions": "r",
                },
            ),  # fmt: skip
            {},
        )
        rule = made["details"]["output"]["result"]["details"]["access_id"]
        body = json.loads(json.dumps(parameters).replace("{guest}", guest).replace("{rule}", rule))
        run = engine.run(one_action_flow(url, body), {})
        assert run["status"] == "FAILED" and run["details"]["failure"]["error"] == "ActionUnableToRun"
        assert refusal in run["details"]["failure"]["cause"]
        if "manage_permission" in url:  # the documented DELETE names the rule_id
            documented = {"endpoint_id": guest, "operation": "DELETE", "rule_id": rule}
            assert engine.run(one_action_flow(url, documented), {})["status"] == "SUCCEEDED"


def test_local_serve_refuses_the_old_removal_and_takes_the_documented_one(
    site: DemoSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP, as any globus-sdk client runs a flow against `local serve`: DELETE by access_id fails
    the run as the service would; DELETE by rule_id removes the rule Transfer lists."""
    from globus_sdk import ClientApp, FlowsClient, SpecificFlowClient, TransferClient
    from tests_support import serving

    text = site.config_path.read_text("utf-8")
    guest = re.search(r'guest_collections = \{ "([0-9a-f-]+)"', text).group(1)  # type: ignore[union-attr]
    create = {"endpoint_id": guest, "operation": "CREATE", "path": "/", "principal_type": "group",
              "principal": GROUP.rsplit(":", 1)[1], "permissions": "r"}  # fmt: skip
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        app = ClientApp("t", client_id=server.client_id, client_secret=server.secret)
        transfer = TransferClient(app=app)

        def run(parameters: dict[str, Any]) -> dict[str, Any]:
            flow = FlowsClient(app=app).create_flow("one action", one_action_flow(FORM_URL, parameters), {})
            app.add_scope_requirements({flow["id"]: [f"https://auth.globus.org/scopes/{flow['id']}/x"]})
            started = SpecificFlowClient(flow["id"], app=app).run_flow({})
            assert server.runs.wait_until(lambda: not server.runs.is_active(started["run_id"]), 60)
            return server.runs.get(started["run_id"])

        made = run(create)
        (rule,) = [listed["id"] for listed in transfer.endpoint_acl_list(guest)["DATA"]]
        assert made["details"]["output"]["result"]["details"]["access_id"] == rule
        old = run({"endpoint_id": guest, "operation": "DELETE", "access_id": rule})
        assert old["status"] == "FAILED" and "has no parameter 'access_id'" in old["details"]["failure"]["cause"]
        assert [listed["id"] for listed in transfer.endpoint_acl_list(guest)["DATA"]] == [rule], "still there"
        assert run({"endpoint_id": guest, "operation": "DELETE", "rule_id": rule})["status"] == "SUCCEEDED"
        assert transfer.endpoint_acl_list(guest)["DATA"] == []


FORM_URL = "https://transfer.actions.globus.org/manage_permission"
