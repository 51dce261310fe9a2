"""The shapes the Globus documentation gives, in every flow we deploy: catches that name the
documented errors, Transfer tasks whose deadline matches the wait for them, a sync_level in the
Transfer API's form, failure messages that assume nothing of a Cause, and the failure e-mail."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from palxfel_globus.backup import LOCAL_FUNCTION_IDS, flow_input, load_flow, local_engine
from palxfel_globus.config import load_config
from palxfel_globus.demo import DemoSite, make_site
from palxfel_globus.engine import Faults
from palxfel_globus.engine.expressions import evaluate
from palxfel_globus.functions import load
from palxfel_globus.resources import data_dir

DOCUMENTED = {"ActionUnableToRun", "ActionFailedException", "ActionTimeout"}
TRANSFER = "https://transfer.actions.globus.org/transfer"
FLOWS = sorted(path.stem for path in data_dir("flow_definitions").glob("*.json") if not path.stem.endswith(".schema"))


def actions(flow: str) -> dict[str, dict[str, Any]]:
    definition, _schema = load_flow(flow)
    return {name: state for name, state in definition["States"].items() if state["Type"] == "Action"}


def test_every_flow_we_deploy_is_checked() -> None:
    assert FLOWS == ["restore", "scan_backup", "transfer"]


@pytest.mark.parametrize("flow", FLOWS)
def test_every_action_catches_the_documented_errors_before_any_catch_all(flow: str) -> None:
    for name, state in actions(flow).items():
        catchers = state.get("Catch") or []
        assert catchers and DOCUMENTED <= set(catchers[0]["ErrorEquals"]), f"{flow}.{name} names the documented errors"
        for catcher in catchers[1:]:
            assert catcher["ErrorEquals"] == ["States.ALL"], f"{flow}.{name}: States.ALL only as the last resort"
        assert len({(catcher["Next"], catcher.get("ResultPath")) for catcher in catchers}) == 1


@pytest.mark.parametrize("flow", FLOWS)
def test_every_transfer_action_has_a_deadline_and_an_integer_sync_level(flow: str) -> None:
    transfers = {name: state for name, state in actions(flow).items() if state["ActionUrl"] == TRANSFER}
    assert transfers
    for name, state in transfers.items():
        parameters = state["Parameters"]
        assert {"deadline.$", "deadline.=", "deadline"} & set(parameters), f"{flow}.{name} sets deadline"
        # the Transfer API's integer form: checksum (3); a restore's copies, exists (0), so nothing is overwritten
        assert parameters["sync_level"] == (0 if flow == "restore" else 3), name
        assert state["WaitTime"] == 7 * 86400


def test_the_scan_backup_transfer_deadline_is_the_run_s_find_time_plus_the_wait() -> None:
    wait = load("find_completed_scans").__globals__["TRANSFER_WAIT_SECONDS"]
    for name, state in actions("scan_backup").items():
        if state["ActionUrl"] == TRANSFER:
            assert state["Parameters"]["deadline.$"] == "$.find.result.transfer_deadline", name
            assert state["WaitTime"] == wait, "no task outlives the action waiting for it"


@pytest.mark.parametrize(
    "failure",
    [
        {"Error": "ActionFailedException", "Cause": "the task ended FAILED"},
        {"Error": "ActionFailedException", "Cause": {"code": "FAILED", "details": ["a", 1]}},
        {"Error": "States.Runtime"},
        {},
    ],
)
def test_the_failure_messages_take_a_cause_of_any_shape(failure: dict[str, Any]) -> None:
    definition, _schema = load_flow("scan_backup")
    for name in ("RecordFailure", "ReleaseFindClaims"):
        expression = definition["States"][name]["Parameters"]["tasks"][0]["kwargs"]["error.="]
        message = evaluate(expression, {"failure": failure}, {})
        assert isinstance(message, str) and message.startswith(failure.get("Error", "an action failed") + ": ")
    ledger = definition["States"]["LedgerNotUpdated"]["Parameters"]["cause.="]
    said = evaluate(ledger, {"ledger_failure": failure}, {"run_id": "r-1"})
    assert said.startswith("The DAQ ledger could not record this run (") and "scans retry --run r-1" in said
    transfer, _schema = load_flow("transfer")
    why = transfer["States"]["WhyNotCopied"]["Parameters"]
    assert all(isinstance(evaluate(why[key], {"failure": failure}, {}), str) for key in ("error.=", "cause.="))


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    return make_site(tmp_path / "site", scans=3, total_bytes=3000)


def with_notify(site: DemoSite, quarantine_at_once: bool = False) -> None:
    with open(site.config_path, "a", encoding="utf-8") as handle:
        handle.write('\n[notify]\nemail = ["dm@example.org", "ops@example.org"]\n')
    if quarantine_at_once:
        quarantine_at_first_failure(site)


def quarantine_at_first_failure(site: DemoSite) -> None:
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text.replace("max_attempts = 3\n", "max_attempts = 1\n"), encoding="utf-8")


def notified(site: DemoSite, faults: Faults, runs: int = 1) -> list[dict[str, Any]]:
    """``runs`` runs of scan_backup on the local engine; each run's document, with the e-mails it sent."""
    config = load_config(site.config_path)
    definition, _schema = load_flow("scan_backup")
    done = []
    with local_engine(config, faults=faults) as engine:
        for _ in range(runs):
            run = engine.run(definition, flow_input(config, LOCAL_FUNCTION_IDS))
            run["mail"] = [record for kind, record in engine.records if kind == "notification"]
            engine.records.clear()
            done.append(run)
    return done


def test_quarantined_scans_are_e_mailed_once_with_their_reason_and_the_command_to_run(site: DemoSite) -> None:
    """Issue 12: people hear of a scan when it needs them (quarantined, blocked), once per state, not of
    every failed attempt: max_attempts = 1 quarantines at the first failure."""
    with_notify(site, quarantine_at_once=True)
    first, second = notified(site, Faults(fail={"TransferScans": -1}), runs=2)
    assert first["status"] == "FAILED" and first["details"]["failure"]["error"] == "ScansNotShipped"
    mail, other = first["mail"]
    assert (mail["destination"], other["destination"]) == ("dm@example.org", "ops@example.org"), (
        "the notification provider documents one address a message: one action per address"
    )
    assert {key: value for key, value in other.items() if key != "destination"} == {
        key: value for key, value in mail.items() if key != "destination"
    }
    assert mail["subject"] == "palxfel-globus: 3 scan(s) need a person"
    scan = "ue_251023_FXL/251023_alignment_00001_DIR"
    assert f"{scan} is quarantined (since " in mail["body"] and "the Transfer action ended FAILED" in mail["body"]
    assert f"To do: palxfel-globus scans retry {scan}" in mail["body"] and first["run_id"] in mail["body"]
    assert second["mail"] == [], "told once: the ledger remembers"


def test_a_failed_attempt_that_will_be_retried_sends_nothing(site: DemoSite) -> None:
    with_notify(site)
    (run,) = notified(site, Faults(fail={"TransferScans": -1}))
    assert run["details"]["failure"]["error"] == "ScansNotShipped" and run["mail"] == []


def test_an_e_mail_that_cannot_be_sent_leaves_the_run_s_own_failure_and_is_sent_next_run(site: DemoSite) -> None:
    with_notify(site, quarantine_at_once=True)
    (run,) = notified(site, Faults(fail={"TransferScans": -1, "TellAboutScans": -1}))
    assert run["status"] == "FAILED" and run["details"]["failure"]["error"] == "ScansNotShipped"
    assert run["details"]["failure"]["cause"].startswith("0 shipped, 3 quarantined")
    assert [failure["step"] for failure in run["details"]["output"]["side_steps"]["failed"]] == ["e-mail"]
    assert (
        "the e-mail to dm@example.org about 3 scan(s)" in run["details"]["output"]["side_steps"]["failed"][0]["problem"]
    )
    (later,) = notified(site, Faults())
    assert len(later["mail"]) == 2 and all("3 scan(s) need a person" in mail["subject"] for mail in later["mail"])


def test_a_blocked_scan_is_e_mailed_once_and_ships_when_its_cause_is_gone(site: DemoSite) -> None:
    """Issue 12's blocked scan: the state, the reason, the summary line, the e-mail once, and pending
    again (then shipped) when the link is removed."""
    from palxfel_globus.functions import load as load_function

    with_notify(site)
    scan = next(scan for scan in site.scans if scan.kind == "complete")
    (scan.path / "ScanInfo" / "alias.h5").symlink_to("/etc/hostname")
    first, second = notified(site, Faults(), runs=2)
    scan_id = f"{scan.experiment}/{scan.name}"
    assert (
        first["status"] == "SUCCEEDED"
        and f"1 blocked: {scan_id}: ScanInfo/alias.h5" in (first["details"]["output"]["summary"]["message"])
    )
    mail, _other = first["mail"]
    assert f"{scan_id} is blocked (since " in mail["body"] and "ships by itself" in mail["body"]
    assert second["mail"] == [], "once per scan and state"
    config = load_config(site.config_path).function_config()
    states = {row["scan"]: row for row in load_function("list_scans")(config=config)["scans"]}
    assert states[scan.name]["state"] == "blocked" and "leaves the DAQ root" in states[scan.name]["reason"]
    (scan.path / "ScanInfo" / "alias.h5").unlink()
    (third,) = notified(site, Faults())
    assert scan_id in third["details"]["output"]["recorded"]["outcome"]["shipped"] and third["mail"] == []


def test_a_good_night_sends_nothing(site: DemoSite) -> None:
    with_notify(site)
    (run,) = notified(site, Faults())
    assert run["status"] == "SUCCEEDED" and run["mail"] == []
    assert "TellAboutScans" not in json.dumps(run["log"])


def test_without_notify_nobody_is_e_mailed_and_the_run_reports_the_same(site: DemoSite) -> None:
    quarantine_at_first_failure(site)
    (run,) = notified(site, Faults(fail={"TransferScans": -1}))
    assert run["details"]["failure"]["error"] == "ScansNotShipped" and run["mail"] == []
    assert "TellAboutScans" not in json.dumps(run["log"])


def test_find_gives_the_run_s_transfer_deadline(site: DemoSite) -> None:
    config = load_config(site.config_path)
    before = datetime.datetime.now(datetime.timezone.utc)
    found = load("find_completed_scans")(config=config.function_config(), run_id="r1")
    deadline = datetime.datetime.fromisoformat(found["transfer_deadline"])
    assert (
        datetime.timedelta(days=7) - datetime.timedelta(seconds=5)
        < deadline - before
        <= datetime.timedelta(days=7, seconds=1)
    )
