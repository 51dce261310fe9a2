"""Issue 13, catalog: every shipped scan has one Globus Search entry, made by one documented single-entry
ingest action each (issue 25), at most a bounded batch a run, replaced (never duplicated) when the scan
ships again, visible to its experiment's principals only."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from palxfel_globus.backup import TickSummary, run_ticks
from palxfel_globus.config import load_config
from palxfel_globus.demo import DemoSite, arrive_markers, make_site
from palxfel_globus.engine import SimulatedCrash
from palxfel_globus.engine.faults import parse_fault
from palxfel_globus.engine.providers.local_state import LocalState, default_state_dir
from palxfel_globus.engine.providers.transfer import access_rules
from palxfel_globus.functions import call, load

INDEX = "6077d057-989d-41e2-b60b-91fe001f0687"
GROUP = "urn:globus:groups:id:aaaaaaaa-1111-4111-8111-111111111111"
PERSON = "urn:globus:auth:identity:bbbbbbbb-2222-4222-8222-222222222222"
Cli = Callable[..., "tuple[int, str, str]"]


def catalogued(site: DemoSite, shares: dict[str, list[str]], public: bool = False) -> str:
    """[catalog] on the site, a [[share]] per glob, and the ue route's destination a guest collection;
    returns that collection's id."""
    text = site.config_path.read_text(encoding="utf-8")
    ue = re.search(r'match = "ue_\*"\ncollection = "([0-9a-f-]+)"', text).group(1)  # type: ignore[union-attr]
    if "guest_collections" not in text:
        directory = re.search(rf'"{ue}" = "([^"]+)", ', text).group(1)  # type: ignore[union-attr]
        text = text.replace(f'"{ue}" = "{directory}", ', "")
        text = text.replace("[local]\n", f'[local]\nguest_collections = {{ "{ue}" = "{directory}" }}\n')
    text = re.sub(r"\n\[\[share\]\]\n.*?(?=\n\[|\Z)", "", text, flags=re.S)
    text = re.sub(r"\n\[catalog\]\n.*?(?=\n\[|\Z)", "", text, flags=re.S)
    text += f'\n[catalog]\nindex = "{INDEX}"\n' + ("public = true\n" if public else "")
    for glob, principals in shares.items():
        text += f'\n[[share]]\nmatch = "{glob}"\nprincipals = {json.dumps(principals)}\n'
    site.config_path.write_text(text, encoding="utf-8")
    return ue


def tick(site: DemoSite, **engine_options: Any) -> TickSummary:
    (summary,) = run_ticks(load_config(site.config_path), ticks=1, interval=0, engine_options=engine_options)
    return summary


def index_entries(site: DemoSite) -> list[dict[str, Any]]:
    config = load_config(site.config_path)
    state = LocalState(config.local.state or default_state_dir())
    return list((state.read("search", INDEX).get("entries") or {}).values())


def ledger_rows(site: DemoSite) -> dict[str, dict[str, Any]]:
    config = load_config(site.config_path)
    rows = call("list_scans", config=config.function_config())["scans"]
    return {f"{row['experiment']}/{row['scan']}": row for row in rows if row["state"] == "shipped"}


def rules(site: DemoSite, collection: str) -> list[tuple[str, str]]:
    config = load_config(site.config_path)
    kept = access_rules(LocalState(config.local.state or default_state_dir()), collection)
    return sorted((rule["path"], rule["principal"]) for rule in kept)


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    return make_site(tmp_path / "site", scans=9, total_bytes=9000)


def test_two_ticks_catalogue_every_shipped_scan_once_and_share_each_shared_experiment_once(
    site: DemoSite, cli: Cli
) -> None:
    """The issue's must-show: two shared experiments and one not shared, over two ticks and a third."""
    ue = catalogued(site, {"ue_251023_*": [GROUP], "ue_251024_*": [PERSON]})
    first = tick(site)
    arrive_markers(site)
    second = tick(site)
    assert first.status == second.status == "SUCCEEDED" and first.shipped and second.shipped
    assert f"{len(first.shipped)} catalog entries ingested" in first.message
    shipped = ledger_rows(site)
    entries = index_entries(site)
    assert sorted(entry["content"]["experiment"] + "/" + entry["content"]["scan"] for entry in entries) == sorted(
        shipped
    ), "one entry per shipped scan"
    for entry in entries:
        content = entry["content"]
        row = shipped[f"{content['experiment']}/{content['scan']}"]
        assert (content["files"], content["bytes"]) == (row["files"], row["bytes"])
        (destination,) = content["destinations"]
        assert entry["subject"].startswith(f"globus://{destination['collection']}/")
        assert destination["path"].endswith(f"/{content['experiment']}/rawData/{content['scan']}/")
        assert content["checksum_algorithm"] == "sha256" and content["kind"] == content["experiment"][:2]
        assert content["manifest"] == destination["path"].rstrip("/") + ".manifest.json"
        expected = {"ue_251023_FXL": [GROUP], "ue_251024_빔라인 2": [PERSON]}.get(content["experiment"])
        assert entry["visible_to"] == (expected or [entry["visible_to"][0]]) and "public" not in entry["visible_to"]
        if expected is None:  # not shared: the one running the flow, no one else
            assert entry["visible_to"][0].startswith("urn:globus:auth:identity:")
    group_id, person_id = GROUP.rsplit(":", 1)[1], PERSON.rsplit(":", 1)[1]
    assert rules(site, ue) == [
        ("/backup/ue/ue_251023_FXL/", group_id),
        ("/backup/ue/ue_251024_빔라인 2/", person_id),
    ], "one rule per shared experiment, none for the machine study"

    third = tick(site)
    assert "catalog" not in third.message and "sharing" not in third.message
    assert index_entries(site) == entries and len(rules(site, ue)) == 2, "a third tick adds nothing"

    catalogued(site, {"ue_251023_*": [GROUP]})
    fourth = tick(site)
    assert "sharing: 1 removed" in fourth.message
    assert rules(site, ue) == [("/backup/ue/ue_251023_FXL/", group_id)]

    code, out, _ = cli("catalog", "search", "--config", str(site.config_path), "--json")
    listed = json.loads(out)
    assert code == 0 and len(listed) == len(shipped)
    assert all(set(entry) == {"subject", "content", "restore"} for entry in listed)
    assert all(
        entry["restore"] == f"palxfel-globus scans restore {entry['content']['experiment']}/{entry['content']['scan']}"
        for entry in listed
    ), "each result says how to get its scan back (issue 29)"
    assert all({"experiment", "scan", "files", "bytes"} <= set(entry["content"]) for entry in listed)
    code, out, _ = cli("catalog", "search", "delay", "-e", "ue_251023_FXL", "-c", str(site.config_path), "--json")
    assert code == 0 and [entry["content"]["scan"] for entry in json.loads(out)] == ["251023_delay scan_00004_DIR"]
    code, out, _ = cli("catalog", "search", "delay", "-e", "ue_251023_FXL", "-c", str(site.config_path))
    assert code == 0 and "1 entry in the local engine's index" in out
    assert "palxfel-globus scans restore ue_251023_FXL/251023_delay scan_00004_DIR" in " ".join(out.split())


def test_a_scan_shipped_again_after_damage_replaces_its_entry(site: DemoSite, cli: Cli) -> None:
    catalogued(site, {})
    tick(site)
    scan = next(scan for scan in site.scans if scan.kind == "complete")
    scan_id = f"{scan.experiment}/{scan.name}"
    before = {entry["subject"]: entry for entry in index_entries(site)}
    damaged = next(path for path in site.destination(scan).rglob("*.h5"))
    damaged.write_bytes(b"damaged")
    code, _out, _err = cli("scans", "forget", scan_id, "--yes", "--config", str(site.config_path))
    assert code == 0
    again = tick(site)
    assert again.shipped == [scan_id] and "1 catalog entry ingested" in again.message
    after = {entry["subject"]: entry for entry in index_entries(site)}
    assert after.keys() == before.keys(), "replaced, not duplicated"
    (changed,) = [subject for subject in after if after[subject] != before[subject]]
    assert after[changed]["content"]["scan"] == scan.name
    assert after[changed]["content"]["shipped_at"] >= before[changed]["content"]["shipped_at"]
    assert after[changed]["run_id"] != before[changed]["run_id"]


def refusals_are_old(site: DemoSite) -> int:
    """Make every refusal Search gave a catalog entry older than its wait, as if the hours had passed."""
    ledger = load_config(site.config_path).daq.ledger
    aged = 0
    for due in (ledger / "catalog").rglob("*"):
        if due.is_file() and due.read_bytes():
            due.write_text(json.dumps(dict(json.loads(due.read_text("utf-8")), refused_at=0)), encoding="utf-8")
            aged += 1
    return aged


def test_a_refused_ingest_never_touches_the_backup_waits_alone_and_is_seen(site: DemoSite) -> None:
    """Issue 25: Search refuses the first entry of the batch. The backup is what it was; the loop stops there
    (a refusing index costs one action a run); the run says so in its summary and in side_steps; the next
    run ingests the others while the refused one waits; once its wait is over it is ingested too."""
    catalogued(site, {})
    failed = tick(site, faults=parse_fault("fail:IngestEntry:1"))
    assert failed.status == "SUCCEEDED" and failed.shipped, "the backup is what it was"
    assert "catalog: Search refused the catalog entry of " in failed.message and not index_entries(site)
    assert [entry["step"] for entry in failed.side_steps] == ["catalog"]
    assert "fault injected into IngestEntry" in failed.side_steps[0]["problem"]
    retried = tick(site)
    assert f"{len(failed.shipped) - 1} catalog entries ingested" in retried.message
    assert "1 catalog entry waits after Search refused it" in retried.message and not retried.side_steps
    assert len(index_entries(site)) == len(failed.shipped) - 1
    assert refusals_are_old(site) == 1
    assert "1 catalog entry ingested" in tick(site).message
    assert len(index_entries(site)) == len(failed.shipped)


def test_the_undocumented_list_form_is_refused_as_the_service_would(site: DemoSite) -> None:
    """The Search ingest provider takes one entry (its page, documented.py): the GMetaList this flow used to
    send is refused, so a flow written that way fails here as it would in Globus."""
    from palxfel_globus.backup import local_engine

    config = load_config(site.config_path)
    old_form = {
        "Comment": "the old batch form",
        "StartAt": "Ingest",
        "States": {
            "Ingest": {
                "Type": "Action",
                "ActionUrl": "https://actions.globus.org/search/ingest",
                "Parameters": {
                    "search_index": INDEX,
                    "ingest_type": "GMetaList",
                    "ingest_data": {"gmeta": [{"subject": "s", "visible_to": ["public"], "content": {}}]},
                },
                "ResultPath": "$.ingest",
                "ExceptionOnActionFailure": True,
                "End": True,
            }
        },
    }
    with local_engine(config) as engine:
        run = engine.run(old_form, {})
    assert run["status"] == "FAILED" and run["details"]["failure"]["error"] == "ActionUnableToRun"
    assert "Search ingest has no parameter 'ingest_data'" in run["details"]["failure"]["cause"]
    assert "ap-search-ingest" in run["details"]["failure"]["cause"]


def test_entries_are_public_only_when_the_config_says_so(site: DemoSite) -> None:
    catalogued(site, {"ue_*": [GROUP]}, public=True)
    tick(site)
    assert {tuple(entry["visible_to"]) for entry in index_entries(site)} == {("public",)}


def test_scans_shipped_before_the_catalog_are_catalogued_once_it_is_configured(site: DemoSite) -> None:
    first = tick(site)
    catalogued(site, {})
    later = tick(site)
    assert f"{len(first.shipped)} scans shipped before are queued for the new catalog" in later.message
    assert len(index_entries(site)) == len(first.shipped)
    quiet = tick(site)
    assert "queued" not in quiet.message, "the backfill happens once per index"
    assert quiet.actions == 1, "nothing due: a quiet tick makes no catalog action (find only)"


def test_a_run_ingests_a_bounded_batch_one_action_an_entry_and_the_rest_next_run(tmp_path: Path) -> None:
    """100 scans: at most MAX_ENTRIES single-entry ingest actions a run (sized like the sharing loop's
    rules), so a run's actions stay bounded whatever is due; the rest follow in later runs."""
    max_entries = load("catalog_entries").__globals__["MAX_ENTRIES"]
    site = make_site(tmp_path / "site", scans=120, total_bytes=120 * 2048)
    arrive_markers(site)
    catalogued(site, {})
    text = site.config_path.read_text(encoding="utf-8").replace("max_scans = 50", "max_scans = 100")
    site.config_path.write_text(text, encoding="utf-8")
    first = tick(site)
    assert len(first.shipped) == 100
    assert "the rest follow next run" in first.message
    assert 0 < len(index_entries(site)) <= max_entries
    runs = [tick(site) for _ in range(6)]
    assert len(index_entries(site)) == 100 and "the rest follow" not in runs[-1].message
    assert max(run.actions for run in runs) <= 3 + max_entries, "find, plan, an ingest an entry, record: bounded"


def test_the_run_state_stays_far_below_the_cap_with_a_full_catalog_batch(tmp_path: Path) -> None:
    from palxfel_globus.backup import LOCAL_FUNCTION_IDS, flow_input, load_flow, local_engine

    site = make_site(tmp_path / "site", scans=120, total_bytes=120 * 2048)
    arrive_markers(site)
    catalogued(site, {"ue_*": [GROUP, PERSON]})
    text = site.config_path.read_text(encoding="utf-8").replace("max_scans = 50", "max_scans = 100")
    site.config_path.write_text(text, encoding="utf-8")
    config = load_config(site.config_path)
    definition, _schema = load_flow("scan_backup")
    with local_engine(config) as engine:
        run = engine.run(definition, flow_input(config, LOCAL_FUNCTION_IDS))
    assert run["status"] == "SUCCEEDED" and run["details"]["output"]["catalog_ingest"]["status"] == "SUCCEEDED"
    assert run["peak_state_bytes"] < 150 * 1024, f"{run['peak_state_bytes']} bytes: the Flows cap is 200 KB"


def test_metadata_comes_from_the_scan_s_text_files_bounded_and_never_through_a_link(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", scans=1, total_bytes=4096)
    (scan,) = site.scans
    info = scan.path / "ScanInfo"
    (info / "scan.txt").write_text("# comment\nenergy_keV = 9.7\nsample: lysozyme\n", encoding="utf-8")
    (info / "motors.json").write_text(json.dumps({"theta": 1.5, "nested": {"x": 1}}), encoding="utf-8")
    (info / "many.txt").write_text("".join(f"key{n} = {'v' * 150}\n" for n in range(100)), encoding="utf-8")
    outside = tmp_path / "secret.txt"
    outside.write_text("password = hunter2\n", encoding="utf-8")
    (scan.path / "PulseInfo" / "link.txt").symlink_to(outside)
    root = str(site.daq_root.resolve())
    metadata = call("catalog_entries", function="scan_metadata", root=root, experiment=scan.experiment, scan=scan.name)
    values = metadata["ScanInfo"]["values"]
    assert values["energy_keV"] == "9.7" and values["sample"] == "lysozyme" and values["theta"] == 1.5
    assert "nested" not in values and metadata["truncated"] is True
    assert len(json.dumps(metadata, ensure_ascii=False)) <= 1_500 + 200, "bounded: a few lines over at most"
    assert "link.txt" not in metadata["PulseInfo"]["files"] and "hunter2" not in json.dumps(metadata)
    assert any(name.endswith(".h5") for name in metadata["ScanInfo"]["files"]), "binary files are listed by name"


def test_catalog_config_mistakes_are_one_sentence_each(site: DemoSite, cli: Cli) -> None:
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text + '\n[catalog]\nindx = "x"\npublic = "yes"\n', encoding="utf-8")
    code, _out, err = cli("scans", "list", "--config", str(site.config_path))
    assert code == 2
    assert "[catalog]: unknown key 'indx'; did you mean 'index'?" in err
    assert "[catalog]: the key 'index' is required" in err and "'yes' is not true or false" in err
    site.config_path.write_text(text, encoding="utf-8")
    code, _out, err = cli("catalog", "search", "--config", str(site.config_path))
    assert code == 2 and err.count("\n") == 1 and "has no [catalog] index" in err


def test_through_local_serve_the_timer_s_run_catalogues_and_catalog_search_asks_search_over_http(
    site: DemoSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    """End to end: deploy checks the index, the timer's run ingests, 'catalog search' and the SDK's
    SearchClient read the entries back over HTTP, and doctor's catalog check passes."""
    from globus_sdk import ClientApp, SearchClient
    from tests_support import serving, subscribed

    catalogued(site, {"ue_*": [GROUP]})
    subscribed(site.config_path)
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        code, _out, err = cli("deploy", "--config", str(site.config_path))
        assert code == 0, err
        assert server.runs.wait_for_ended(1, 120), "the timer's first run did not end"
        (run,) = server.store.all("run")
        assert run["status"] == "SUCCEEDED", run["details"]
        shipped = ledger_rows(site)
        code, out, err = cli("catalog", "search", "--config", str(site.config_path), "--json")
        assert code == 0, err
        listed = json.loads(out)
        assert sorted(f"{e['content']['experiment']}/{e['content']['scan']}" for e in listed) == sorted(shipped)
        code, out, _ = cli("catalog", "search", "-e", "ms_251020_timing", "--config", str(site.config_path), "--json")
        assert code == 0 and {entry["content"]["experiment"] for entry in json.loads(out)} == {"ms_251020_timing"}
        app = ClientApp("t", client_id=server.client_id, client_secret=server.secret)
        answer = SearchClient(app=app).post_search(INDEX, {"q": "alignment", "limit": 1})
        assert answer["total"] >= 1 and answer["count"] == 1 and answer["gmeta"][0]["subject"].startswith("globus://")
        _code, out, _err = cli("doctor", "--config", str(site.config_path), "--json")
        check = next(check for check in json.loads(out) if check["what"] == "catalog index")
        assert check["ok"], check


def test_deploy_refuses_a_catalog_index_that_does_not_exist_and_changes_nothing(
    site: DemoSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    from tests_support import serving, subscribed

    catalogued(site, {})
    subscribed(site.config_path)
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        text = site.config_path.read_text(encoding="utf-8")
        site.config_path.write_text(text.replace(INDEX, "11111111-2222-4333-8444-555555555555"), encoding="utf-8")
        code, out, err = cli("deploy", "--config", str(site.config_path))
        assert code == 2 and err.count("\n") == 1
        assert "Nothing was deployed: the Globus Search index 11111111-2222-4333-8444-555555555555" in err
        assert "does not exist or you cannot see it" in err and not server.store.all("flow")


@pytest.mark.parametrize(
    "fault",
    [
        "fail:PlanCatalog",
        "fail:IngestEntry",
        "fail:RecordCatalog",
        "crash:IngestEntry",
        "crash:EntryIngested",
        "crash:RecordCatalog",
        "crash:KeepCatalogRecorded",
    ],
)
def test_after_a_fault_anywhere_in_the_catalog_step_the_next_run_leaves_one_entry_per_shipped_scan(
    site: DemoSite, fault: str
) -> None:
    """A run that fails or dies around the ingest never loses or doubles an entry: what was not recorded
    as ingested is due again, and ingesting it again replaces it."""
    catalogued(site, {})
    try:
        assert tick(site, faults=parse_fault(fault)).shipped, "the backup is what it was"
    except SimulatedCrash:
        assert fault.startswith("crash:")
    refusals_are_old(site)  # a refused entry waits some hours: as if they had passed
    tick(site)
    subjects = [entry["subject"] for entry in index_entries(site)]
    assert len(subjects) == len(set(subjects))
    catalogued_scans = sorted(f"{e['content']['experiment']}/{e['content']['scan']}" for e in index_entries(site))
    assert catalogued_scans == sorted(ledger_rows(site))
    assert tick(site).actions == 1, "and nothing is left due"


def test_queueing_an_entry_survives_the_catalog_step_removing_the_experiment_s_directory_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two overlapping runs: one clears an experiment's last due entry (and its directory) while the other
    queues a scan it just shipped; the entry must not be lost."""
    import os

    ledger = call("catalog_entries", function="ledger_path", ledger=str(tmp_path), area="catalog", experiment="ue_1")
    namespace_makedirs = os.makedirs
    removed = []

    def makedirs_then_lose_the_race(path: str, *args: Any, **kwargs: Any) -> None:
        namespace_makedirs(path, *args, **kwargs)
        if path == ledger and not removed:
            os.rmdir(path)
            removed.append(path)

    monkeypatch.setattr(os, "makedirs", makedirs_then_lose_the_race)
    assert call("catalog_entries", function="queue_for_catalog", ledger=str(tmp_path), experiment="ue_1", scan="s")
    assert removed and os.path.exists(os.path.join(ledger, "s"))
