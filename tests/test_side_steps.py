"""Issue 25: no side step fails unseen, and every access rule the flow made stays revocable.

A failed catalog, sharing or e-mail step leaves the backup as it was and the run SUCCEEDED, but it is
in the run's output, in 'status', 'runs list' and 'doctor', and [notify] is e-mailed once when it keeps
failing. A rule already on the collection when the flow creates it (a run died before recording it, or
the ledger recording it was lost) is recorded without an id; when it must go, the run says it cannot
name it, 'shares list' finds it on the collection, and the next run removes it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from palxfel_globus.backup import LOCAL_FUNCTION_IDS, flow_input, load_flow, local_engine
from palxfel_globus.config import load_config
from palxfel_globus.demo import DemoSite, make_site
from palxfel_globus.engine import Faults

INDEX = "6077d057-989d-41e2-b60b-91fe001f0687"
GROUP = "urn:globus:groups:id:aaaaaaaa-1111-4111-8111-111111111111"
PERSON = "urn:globus:auth:identity:bbbbbbbb-2222-4222-8222-222222222222"
RUN_TIMEOUT = 120
Cli = Callable[..., "tuple[int, str, str]"]


def add(site: DemoSite, text: str) -> None:
    site.config_path.write_text(site.config_path.read_text("utf-8") + text, encoding="utf-8")


def run_once(site: DemoSite, faults: Faults) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One run of scan_backup on the local engine: its document and the e-mails it sent."""
    config = load_config(site.config_path)
    definition, _schema = load_flow("scan_backup")
    with local_engine(config, faults=faults) as engine:
        run = engine.run(definition, flow_input(config, LOCAL_FUNCTION_IDS))
        return run, [record for kind, record in engine.records if kind == "notification"]


def test_a_catalog_step_that_keeps_failing_is_in_every_run_and_e_mailed_once_a_streak(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", scans=8, total_bytes=8000)
    add(site, f'\n[catalog]\nindex = "{INDEX}"\n\n[notify]\nemail = ["dm@example.org"]\n')
    refusing = {"fail": {"IngestEntry": -1}}
    runs = [run_once(site, Faults(**refusing)) for _ in range(4)]
    for run, _mails in runs:
        assert run["status"] == "SUCCEEDED", "the backup is what it was"
        (failure,) = run["details"]["output"]["side_steps"]["failed"]
        assert failure["step"] == "catalog" and failure["problem"].startswith("Search refused the catalog entry of ")
    assert [len(mails) for _run, mails in runs] == [0, 0, 1, 0], "told at the third failed run in a row, once"
    (mail,) = runs[2][1]
    assert mail["subject"] == "palxfel-globus: the catalog step keeps failing"
    assert "the catalog step is failing (since " in mail["body"] and "3 runs in a row: Search refused" in mail["body"]
    assert "To do: check [catalog] index with 'palxfel-globus doctor'" in mail["body"]
    ledger = load_config(site.config_path).daq.ledger
    assert json.loads((ledger / "side-steps" / "catalog.json").read_text("utf-8"))["failures"] == 4
    mended, _mails = run_once(site, Faults())
    assert (
        mended["details"]["output"]["side_steps"]["failed"] == []
        and "catalog entries ingested" in (mended["details"]["output"]["summary"]["message"])
    )
    assert not (ledger / "side-steps" / "catalog.json").exists(), "a run that worked ends the streak"


def test_an_e_mail_that_cannot_be_sent_is_in_the_run_s_output(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", scans=3, total_bytes=3000)
    add(site, '\n[notify]\nemail = ["dm@example.org", "ops@example.org"]\n')
    run, mails = run_once(site, Faults(fail={"FindCompletedScans": 1, "TellPeople": 1}))
    assert run["status"] == "FAILED" and run["details"]["failure"]["error"] == "FindCompletedScansFailed"
    (failure,) = run["details"]["output"]["side_steps"]["failed"]
    assert failure["step"] == "e-mail"
    assert failure["problem"].startswith("the e-mail to dm@example.org about this failed run was not sent: ")
    assert mails == [], "the loop stops at the first address that fails"


def shared_site(tmp_path: Path) -> tuple[DemoSite, str]:
    """A site whose ue_* route lands on a guest collection shared with GROUP and PERSON; its id."""
    from tests_support import subscribed

    site = make_site(tmp_path / "site", scans=4, total_bytes=4000)
    text = site.config_path.read_text("utf-8")
    ue = re.search(r'match = "ue_\*"\ncollection = "([0-9a-f-]+)"', text).group(1)  # type: ignore[union-attr]
    directory = re.search(rf'"{ue}" = "([^"]+)", ', text).group(1)  # type: ignore[union-attr]
    text = text.replace(f'"{ue}" = "{directory}", ', "")
    text = text.replace("[local]\n", f'[local]\nguest_collections = {{ "{ue}" = "{directory}" }}\n')
    site.config_path.write_text(text + f'\n[[share]]\nmatch = "ue_*"\nprincipals = {json.dumps([GROUP, PERSON])}\n')
    subscribed(site.config_path)
    return site, ue


def test_a_rule_the_ledger_lost_is_found_again_removed_when_it_must_go_and_never_unseen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """Issue 25's reproduction, over `local serve`: the ledger's record of the rules is lost, so the next
    run finds them already on the collection (Exists) and records them without ids. When PERSON leaves
    [[share]], the run cannot name PERSON's rules: it says so (run output, status, runs list, doctor);
    'shares list' shows what Transfer holds and records the ids; the next run removes the rules."""
    from globus_sdk import ClientApp, TransferClient
    from tests_support import serving

    site, guest = shared_site(tmp_path)
    config = ["--config", str(site.config_path)]
    ledger = load_config(site.config_path).daq.ledger
    person_id = PERSON.rsplit(":", 1)[1]
    with serving(site.config_path, tmp_path, monkeypatch) as server:

        def next_run(count: int) -> dict[str, Any]:
            if count > 1:
                server.scheduler.advance(load_config(site.config_path).timer_interval)
            assert server.runs.wait_for_ended(count, RUN_TIMEOUT), f"run {count} did not end"
            return max(server.store.all("run"), key=lambda run: run["start_time"])

        def on_the_collection() -> list[str]:
            app = ClientApp("t", client_id=server.client_id, client_secret=server.secret)
            return sorted(rule["principal"] for rule in TransferClient(app=app).endpoint_acl_list(guest)["DATA"])

        assert cli("deploy", *config)[0] == 0
        assert next_run(1)["status"] == "SUCCEEDED" and len(on_the_collection()) == 4
        shutil.rmtree(ledger / "shares")  # a ledger since lost (or a run that died before recording)
        (ledger / "shares-plan.json").unlink()
        again = next_run(2)
        assert "was already on " in again["details"]["output"]["summary"]["message"]
        code, out, _ = cli("shares", "list", "--json", *config)
        assert code == 0 and {rule["held"] for rule in json.loads(out)} == {True}, "ids found on the collection"
        shutil.rmtree(ledger / "shares")  # lost once more, and this time nobody asked the collection
        (ledger / "shares-plan.json").unlink()
        next_run(3)
        assert all(rule["id"] is None for rule in json.loads((ledger / "shares" / "ue_251023_FXL" / "rules.json")
                                                             .read_text("utf-8"))["rules"])  # fmt: skip

        add(site, "")  # PERSON leaves [[share]]: a deploy carries the new config into the timer's input
        text = site.config_path.read_text("utf-8").replace(json.dumps([GROUP, PERSON]), json.dumps([GROUP]))
        site.config_path.write_text(text, encoding="utf-8")
        assert cli("deploy", *config)[0] == 0
        stuck = next_run(4)
        assert stuck["status"] == "SUCCEEDED"
        (failure,) = stuck["details"]["output"]["side_steps"]["failed"]
        assert failure["step"] == "sharing" and f"the access rule for {PERSON} on " in failure["problem"]
        assert "must be removed, but its id is unknown: 'palxfel-globus shares list'" in failure["problem"]
        assert on_the_collection().count(person_id) == 2, "still readable, and said"
        code, out, _ = cli("status", *config)
        assert code == 0 and "side step sharing: the last run could not set the access rules:" in " ".join(out.split())
        code, out, _ = cli("runs", "list", *config)
        assert "side step failed: sharing" in " ".join(out.split())
        _code, out, _ = cli("doctor", *config, "--json")
        (check,) = [check for check in json.loads(out) if check["what"] == "sharing step"]
        assert not check["ok"] and "must be removed, but its id is unknown" in check["detail"]

        code, out, _ = cli("shares", "list", *config)
        assert code == 0 and "got it from the collection: the next run can remove them" in " ".join(out.split())
        code, out, _ = cli("shares", "list", "--json", *config)
        listed = json.loads(out)
        assert {(row["principal"], row["held"]) for row in listed} == {(GROUP, True), (PERSON, True)}
        assert all(row["id"] for row in listed)
        removed = next_run(5)
        assert "sharing: 2 removed" in removed["details"]["output"]["summary"]["message"]
        assert removed["details"]["output"]["side_steps"]["failed"] == []
        assert person_id not in on_the_collection() and len(on_the_collection()) == 2
        code, out, _ = cli("shares", "list", "--json", *config)
        assert {row["principal"] for row in json.loads(out)} == {GROUP}


def test_shares_list_shows_a_rule_on_the_collection_the_ledger_does_not_know(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    from tests_support import serving

    site, _guest = shared_site(tmp_path)
    config = ["--config", str(site.config_path)]
    ledger = load_config(site.config_path).daq.ledger
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        assert cli("deploy", *config)[0] == 0
        assert server.runs.wait_for_ended(1, RUN_TIMEOUT)
        (ledger / "shares" / "ue_251023_FXL" / "rules.json").unlink()  # that experiment's record, lost
        code, out, _ = cli("shares", "list", "--json", *config)
    rows = json.loads(out)
    unknown = [row for row in rows if row["held"] == "not in the ledger"]
    assert code == 0 and len(unknown) == 2 and all(row["experiment"] is None and row["id"] for row in unknown)
    assert {row["principal"] for row in unknown} == {GROUP, PERSON}
    assert all("/ue_251023_FXL/" in row["path"] for row in unknown)


def test_shares_list_without_a_login_says_the_collections_were_not_asked(tmp_path: Path, cli: Cli) -> None:
    site, _guest = shared_site(tmp_path)
    code, out, err = cli("shares", "list", "--config", str(site.config_path))
    assert code == 0, err
    assert out.startswith("The collections were not asked: ")
