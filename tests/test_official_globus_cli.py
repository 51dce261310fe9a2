"""The official ``globus`` CLI against 'local serve', with nothing but env.sh's variables: each command
answers as it would against the services (it reads the documents its own formatters expect), and
what changes something really does it (a transfer copies, a search ingest fills the index)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from tests_support import serving

from palxfel_globus.demo import make_site

RUN_TIMEOUT = 120
GREET = {
    "StartAt": "Greet",
    "States": {"Greet": {"Type": "Pass", "Parameters": {"text.=": "'hi ' + name"}, "ResultPath": "$.out", "End": True}},
}


class Globus:
    """Runs the globus CLI in the environment env.sh gives a shell."""

    def __init__(self, executable: Path, server: Any, home: Path) -> None:
        self.executable, self.server = executable, server
        self.environment = {**os.environ, **server.environment(), "HOME": str(home)}

    def text(self, *args: str) -> str:
        answer = subprocess.run(
            [str(self.executable), *args], env=self.environment, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        assert answer.returncode == 0, f"globus {' '.join(args)}: {answer.stderr}"
        assert self.server.secret not in answer.stdout + answer.stderr
        return answer.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.text(*args, "-F", "json"))


@pytest.fixture
def world(globus_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Globus, Any]]:
    site = make_site(tmp_path / "site", scans=2, total_bytes=4000, catalog=True)
    with serving(site.config_path, tmp_path, monkeypatch) as server:
        yield Globus(globus_cli, server, tmp_path / "globus-home"), server


def test_whoami_and_session_show_name_the_service_identity(world: tuple[Globus, Any]) -> None:
    globus, server = world
    assert globus.json("whoami")["sub"] == server.client_id
    assert globus.text("whoami").strip() == f"{server.client_id}@clients.auth.globus.org"
    session = globus.json("session", "show")
    assert list(session["authentications"]) == [server.client_id]


def test_flows_runs_their_logs_and_definitions_and_a_flow_timer(world: tuple[Globus, Any]) -> None:
    from globus_sdk import ClientApp, FlowsClient, FlowTimer, RecurringTimerSchedule, SpecificFlowClient, TimersClient

    globus, server = world
    app = ClientApp("cli-test", client_id=server.client_id, client_secret=server.secret)
    flow = FlowsClient(app=app).create_flow("greeting", GREET, {})
    run = SpecificFlowClient(flow["id"], app=app).run_flow({"name": "you"}, label="first")
    assert server.runs.wait_for_ended(1, RUN_TIMEOUT)
    timer = TimersClient(app=app).create_timer(
        FlowTimer(
            flow_id=flow["id"],
            name="hourly greeting",
            schedule=RecurringTimerSchedule(3600),
            body={"body": {"name": "t"}},
        )
    )["timer"]

    assert [listed["id"] for listed in globus.json("flows", "list")["flows"]] == [flow["id"]]
    assert globus.json("flows", "show", flow["id"])["title"] == "greeting"
    assert run["run_id"] in [listed["run_id"] for listed in globus.json("flows", "run", "list")["runs"]]
    shown = globus.json("flows", "run", "show", run["run_id"])
    assert (shown["status"], shown["label"], shown["details"]["output"]["out"]["text"]) == (
        "SUCCEEDED",
        "first",
        "hi you",
    )
    codes = [entry["code"] for entry in globus.json("flows", "run", "show-logs", run["run_id"])["entries"]]
    assert codes == ["FlowStarted", "PassStarted", "PassCompleted", "FlowSucceeded"]
    assert globus.json("flows", "run", "show-definition", run["run_id"])["definition"] == GREET

    assert [listed["job_id"] for listed in globus.json("timer", "list")] == [timer["job_id"]]
    lines = dict(
        line.split(":", 1) for line in globus.text("timer", "show", timer["job_id"]).splitlines() if ":" in line
    )
    assert (lines["Name"].strip(), lines["Type"].strip(), lines["Interval"].strip()) == (
        "hourly greeting",
        "Flow",
        "1:00:00",
    )


def test_ls_then_a_transfer_that_copies_and_task_show_wait_and_list_follow_it(
    world: tuple[Globus, Any], tmp_path: Path
) -> None:
    globus, server = world
    (source, source_dir), (destination, destination_dir) = list(server.collections.items())[:2]
    (source_dir / "notes 빔.txt").write_bytes(b"ten bytes.")
    assert "notes 빔.txt" in [entry["name"] for entry in globus.json("ls", f"{source}:/~/")["DATA"]]

    submitted = globus.json(
        "transfer", f"{source}:/~/notes 빔.txt", f"{destination}:/~/copy.txt", "--label", "one file"
    )
    task_id = submitted["task_id"]
    globus.text("task", "wait", task_id, "--timeout", str(RUN_TIMEOUT), "--polling-interval", "1")
    task = globus.json("task", "show", task_id)
    assert (task["status"], task["files_transferred"], task["label"]) == ("SUCCEEDED", 1, "one file")
    assert (destination_dir / "copy.txt").read_bytes() == b"ten bytes."
    assert [listed["task_id"] for listed in globus.json("task", "list")["DATA"]] == [task_id]


def test_a_search_ingest_fills_the_index_a_query_finds_it_and_a_delete_empties_it(
    world: tuple[Globus, Any], tmp_path: Path
) -> None:
    globus, server = world
    index = server.config.catalog.index
    document = tmp_path / "entry.json"
    entry = {"subject": "scan/alignment 7", "visible_to": ["public"], "content": {"beam": "hard x-ray 빔"}}
    document.write_text(json.dumps({"ingest_type": "GMetaEntry", "ingest_data": entry}))
    ingested = globus.json("search", "ingest", index, str(document))
    assert ingested["acknowledged"] is True
    assert globus.json("search", "task", "show", ingested["task_id"])["state"] == "SUCCESS"
    found = globus.json("search", "query", index, "-q", "x-ray")
    assert [result["subject"] for result in found["gmeta"]] == ["scan/alignment 7"]
    globus.json("search", "subject", "delete", index, "scan/alignment 7")
    assert globus.json("search", "query", index, "-q", "x-ray")["total"] == 0
