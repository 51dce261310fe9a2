"""Issue 13, sharing: each experiment's users get one read rule on its backup directory, made once,
kept in the ledger with its id, and removed when the config no longer names them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import pytest

from palxfel_globus.backup import TickSummary, run_ticks
from palxfel_globus.config import load_config
from palxfel_globus.demo import DemoSite, make_site
from palxfel_globus.engine.providers.local_state import LocalState
from palxfel_globus.engine.providers.transfer import access_rules

GROUP = "urn:globus:groups:id:aaaaaaaa-1111-4111-8111-111111111111"
PERSON = "urn:globus:auth:identity:bbbbbbbb-2222-4222-8222-222222222222"
Cli = Callable[..., "tuple[int, str, str]"]


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    return make_site(tmp_path / "site", scans=6, total_bytes=6000)


def share(site: DemoSite, principals: list[str], guest: bool = True) -> str:
    """Add a [[share]] for every ue_ experiment; the ue route's destination becomes a guest collection."""
    text = site.config_path.read_text(encoding="utf-8")
    ue = re.search(r'match = "ue_\*"\ncollection = "([0-9a-f-]+)"', text).group(1)  # type: ignore[union-attr]
    if guest and "guest_collections" not in text:
        directory = re.search(rf'"{ue}" = "([^"]+)", ', text).group(1)  # type: ignore[union-attr]
        text = text.replace(f'"{ue}" = "{directory}", ', "")
        text = text.replace("[local]\n", f'[local]\nguest_collections = {{ "{ue}" = "{directory}" }}\n')
    text = re.sub(r"\n\[\[share\]\]\n.*?(?=\n\[|\Z)", "", text, flags=re.S)
    text += f'\n[[share]]\nmatch = "ue_*"\nprincipals = {json.dumps(principals)}\n'
    site.config_path.write_text(text, encoding="utf-8")
    return ue


def tick(site: DemoSite) -> TickSummary:
    (summary,) = run_ticks(load_config(site.config_path), ticks=1, interval=0)
    return summary


def rules(site: DemoSite, collection: str) -> list[tuple[str, str, str]]:
    config = load_config(site.config_path)
    from palxfel_globus.engine.providers.local_state import default_state_dir

    kept = access_rules(LocalState(config.local.state or default_state_dir()), collection)
    return sorted((rule["path"], rule["principal"], rule["permissions"]) for rule in kept)


def test_each_experiment_gets_one_rule_per_principal_once_and_loses_it_when_the_config_drops_it(
    site: DemoSite, cli: Cli
) -> None:
    ue = share(site, [GROUP, PERSON])
    experiments = sorted({scan.experiment for scan in site.scans if scan.experiment.startswith("ue_")})
    first = tick(site)
    assert first.status == "SUCCEEDED" and "sharing: 4 access rules made" in first.message
    group_id, person_id = GROUP.rsplit(":", 1)[1], PERSON.rsplit(":", 1)[1]
    assert rules(site, ue) == sorted(
        (f"/backup/ue/{experiment}/", principal, "r")
        for experiment in experiments
        for principal in (group_id, person_id)
    )
    again = tick(site)
    assert "sharing" not in again.message and len(rules(site, ue)) == 4, "no second rule on later runs"
    code, out, _ = cli("shares", "list", "--config", str(site.config_path), "--json")
    listed = json.loads(out)
    assert code == 0 and len(listed) == 4
    assert set(listed[0]) >= {"experiment", "collection", "path", "principal", "permissions", "id"}
    assert {row["principal"] for row in listed} == {GROUP, PERSON} and all(row["id"] for row in listed)
    share(site, [GROUP])
    dropped = tick(site)
    assert "sharing: 2 removed" in dropped.message
    assert rules(site, ue) == sorted((f"/backup/ue/{experiment}/", group_id, "r") for experiment in experiments)
    code, out, _ = cli("shares", "list", "--config", str(site.config_path), "--json")
    assert code == 0 and {row["principal"] for row in json.loads(out)} == {GROUP}


def test_a_destination_that_is_not_a_guest_collection_gets_one_sentence_and_the_backup_goes_on(site: DemoSite) -> None:
    share(site, [GROUP], guest=False)
    summary = tick(site)
    assert summary.status == "SUCCEEDED" and summary.shipped
    assert "[[share]] needs the route's destination to be a guest collection" in summary.message
    assert summary.message.count("refused access rules") == 1, "one sentence, not one per experiment"
    later = tick(site)
    assert "needs the route's destination to be a guest collection" in later.message
    assert later.actions < summary.actions, "a refusing destination is not asked again for a day"
    assert [failure["step"] for failure in summary.side_steps + later.side_steps] == ["sharing", "sharing"], (
        "a failure of the sharing step every run it stands (issue 25), so it is seen and, in time, e-mailed"
    )


def test_doctor_and_deploy_say_when_a_shared_destination_cannot_hold_access_rules(
    site: DemoSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """Against 'local serve': the ue route lands on a mapped collection, so [[share]] would fail nightly."""
    from tests_support import serving, subscribed

    share(site, [GROUP], guest=False)
    subscribed(site.config_path)
    with serving(site.config_path, tmp_path, monkeypatch):
        code, _out, err = cli("deploy", "--config", str(site.config_path))
        assert code == 0 and "route #1 (ue_*) lands on" in err and "[[share]] needs a guest collection" in err
        _code, out, _err = cli("doctor", "--config", str(site.config_path), "--json")
        check = next(check for check in json.loads(out) if check["what"] == "route #1 sharing")
        assert not check["ok"] and "cannot hold access rules" in check["detail"]


def test_through_local_serve_the_timer_s_run_sets_the_rules_transfer_lists(
    site: DemoSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """End to end over HTTP: deploy, the timer's run shares, Transfer's access list and 'shares list' agree."""
    from globus_sdk import ClientApp, TransferClient
    from tests_support import serving, subscribed

    ue = share(site, [GROUP, PERSON])
    subscribed(site.config_path)
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        code, _out, err = cli("deploy", "--config", str(site.config_path))
        assert code == 0 and "cannot hold access rules" not in err, err
        assert server.runs.wait_for_ended(1, 120), "the timer's first run did not end"
        (run,) = server.store.all("run")
        assert run["status"] == "SUCCEEDED", run["details"]
        app = ClientApp("t", client_id=server.client_id, client_secret=server.secret)
        listed_by_transfer = {rule["id"] for rule in TransferClient(app=app).endpoint_acl_list(ue)["DATA"]}
        code, out, _ = cli("shares", "list", "--config", str(site.config_path), "--json")
    listed = json.loads(out)
    assert code == 0 and {rule["id"] for rule in listed} == listed_by_transfer and len(listed_by_transfer) == 4
    assert all(rule["held"] is True for rule in listed), "shares list asked the collection too"


def test_a_quiet_tick_makes_no_sharing_action_and_removing_the_last_share_removes_its_rules(site: DemoSite) -> None:
    ue = share(site, [GROUP])
    tick(site)
    tick(site)  # the plan after the rules were made: nothing left to change
    assert tick(site).actions == 1, "find only: no sharing action when nothing changed"
    assert len(rules(site, ue)) == 2
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(re.sub(r"\n\[\[share\]\]\n.*?(?=\n\[|\Z)", "", text, flags=re.S), encoding="utf-8")
    removed = tick(site)
    assert "sharing: 2 removed" in removed.message and rules(site, ue) == []


def test_a_tick_that_ships_plans_only_the_experiments_it_shipped(site: DemoSite) -> None:
    """The archive's other experiments are not read again while the config's shares stay as they are;
    a change of the shares plans them all."""
    from palxfel_globus.demo import arrive_markers

    share(site, [GROUP])
    tick(site)
    tick(site)
    config = load_config(site.config_path)
    arriving = {scan.experiment for scan in site.scans if scan.kind == "arriving"}
    (other,) = {"ue_251023_FXL", "ue_251024_빔라인 2"} - arriving
    (config.daq.ledger / "shares" / other / "rules.json").write_text("{not json", encoding="utf-8")
    arrive_markers(site)
    shipping = tick(site)
    assert shipping.shipped and other not in shipping.message, "the unshipped experiment was not planned"
    share(site, [GROUP, PERSON])
    changed = tick(site)
    assert other in changed.message, "a change of the shares plans every experiment (and says what it cannot read)"
