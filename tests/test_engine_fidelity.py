"""The local engine behaves as the Flows service documents, for every shape of flow its examples show
(issue 11): simulated time, Compute output kept off stdout, the hosted action providers, guest
collections and their access rules, INACTIVE and ENDED runs, and the service's strict rules."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from palxfel_globus.engine import Engine, FunctionRef
from palxfel_globus.engine.timer import run_timer

ENDPOINT = "11111111-1111-4111-8111-111111111111"
TAR = "22222222-2222-4222-8222-222222222222"

CHATTY = """
import os, sys

def tar(paths):
    print("tarring", paths)
    print("warning: slow disk", file=sys.stderr)
    os.write(1, b"written straight to fd 1\\n")
    return {"archive": "/archive.tgz", "files": len(paths)}
"""


def moment(entry: dict[str, Any]) -> datetime.datetime:
    return datetime.datetime.fromisoformat(entry["time"])


def log_entry(run: dict[str, Any], code: str) -> dict[str, Any]:
    return next(entry for entry in run["log"] if entry["code"] == code)


def test_a_30_minute_wait_finishes_at_once_and_its_log_shows_the_30_minutes() -> None:
    flow = {
        "StartAt": "Hold",
        "States": {"Hold": {"Type": "Wait", "Seconds": 1800, "Next": "Done"}, "Done": {"Type": "Pass", "End": True}},
    }
    with Engine() as engine:
        run = engine.run(flow, {})
    waited = moment(log_entry(run, "WaitCompleted")) - moment(log_entry(run, "WaitStarted"))
    assert run["status"] == "SUCCEEDED" and datetime.timedelta(minutes=30) <= waited < datetime.timedelta(minutes=31)


def test_the_local_timer_runs_on_the_same_clock_and_skips_a_tick_a_long_run_overlaps() -> None:
    """Tick n is due at n * 60 s; tick 0's run waits 90 s, so tick 1 (due at 60 s) is skipped as the
    service skips a tick while the previous run goes on, and tick 2 runs at 120 s."""
    flow = {
        "StartAt": "Hold",
        "States": {
            "Hold": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Done"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    with Engine() as engine:
        report = run_timer(engine, flow, lambda tick: {"wait": 90 if tick == 0 else 1}, interval=60, ticks=3)
    starts = [moment(run["log"][0]) for run in report.runs]
    assert report.skipped_ticks == [1] and len(report.runs) == 2
    assert datetime.timedelta(seconds=119) < starts[1] - starts[0] < datetime.timedelta(seconds=122)


def test_simulate_json_with_a_chatty_function_is_one_json_document(tmp_path: Path) -> None:
    (tmp_path / "chatty.py").write_text(CHATTY)
    flow = {
        "StartAt": "Tar",
        "States": {
            "Tar": {
                "Type": "Action",
                "ActionUrl": "https://compute.actions.globus.org/v3",
                "Parameters": {"endpoint_id": ENDPOINT, "tasks": [{"function_id": TAR, "kwargs": {"paths": ["a"]}}]},
                "ResultPath": "$.tar",
                "ExceptionOnActionFailure": True,
                "End": True,
            }
        },
    }
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    command = [sys.executable, "-m", "palxfel_globus", "flow", "simulate", str(tmp_path / "flow.json")]
    command += ["--function", f"{TAR}={tmp_path / 'chatty.py'}:tar", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    run = json.loads(done.stdout)  # nothing the function printed is in the way
    assert done.returncode == 0 and run["details"]["output"]["tar"]["details"]["result"] == [
        {"archive": "/archive.tgz", "files": 1}
    ]
    printed = log_entry(run, "ComputeTaskOutput")["details"]
    assert printed["stdout"] == "tarring ['a']\nwritten straight to fd 1\n"
    assert printed["stderr"] == "warning: slow disk\n" and "tarring" not in done.stderr


def test_a_failing_task_keeps_what_it_printed(tmp_path: Path) -> None:
    (tmp_path / "f.py").write_text("def boom():\n    print('about to fail')\n    raise ValueError('bad scan')\n")
    flow = {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Action",
                "ActionUrl": "https://compute.actions.globus.org/v3",
                "Parameters": {"endpoint_id": ENDPOINT, "tasks": [{"function_id": TAR}]},
                "ResultPath": "$.r",
                "ExceptionOnActionFailure": False,
                "End": True,
            }
        },
    }
    with Engine(functions={TAR: FunctionRef(str(tmp_path / "f.py"), "boom")}) as engine:
        run = engine.run(flow, {})
    assert run["details"]["output"]["r"]["status"] == "FAILED"
    assert run["details"]["output"]["r"]["details"]["exception"] == "ValueError: bad scan"
    assert log_entry(run, "ComputeTaskOutput")["details"]["stdout"] == "about to fail\n"
