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

import pytest
from tests_support import ask_states

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


# Flows in the shapes of the documentation's examples (written here, not copied) -----------------------------------
SOURCE = "aaaaaaaa-0000-4000-8000-00000000000a"
WORK = "bbbbbbbb-0000-4000-8000-00000000000b"
GUEST = "cccccccc-0000-4000-8000-00000000000c"
INDEX = "dddddddd-0000-4000-8000-00000000000d"
PEOPLE = "eeeeeeee-0000-4000-8000-00000000000e"
TRANSFER = "https://transfer.actions.globus.org/"


def action(url: str, parameters: dict[str, Any], result: str, then: str | None = None, **extra: Any) -> dict[str, Any]:
    state = {"Type": "Action", "ActionUrl": url, "Parameters": parameters, "ResultPath": result}
    state.update({"ExceptionOnActionFailure": True, **extra})
    state.update({"Next": then} if then else {"End": True})
    return state


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    directories = {name: tmp_path / name for name in ("source", "work", "guest", "state")}
    for directory in directories.values():
        directory.mkdir()
    (directories["source"] / "run7").mkdir()
    for number in range(3):
        (directories["source"] / "run7" / f"shot{number}.h5").write_bytes(b"x" * (100 + number))
    return directories


def engine_for(site: dict[str, Path], **options: Any) -> Engine:
    return Engine(
        collections={SOURCE: site["source"], WORK: site["work"], GUEST: site["guest"]},
        guest_collections=[GUEST],
        state_dir=site["state"],
        **options,
    )


TRANSFER_AND_SHARE = {
    "Comment": "Copy a directory to a guest collection, then give a person read access to the copy",
    "StartAt": "IsItAGuestCollection",
    "States": {
        "IsItAGuestCollection": action(
            TRANSFER + "collection_info", {"endpoint_id.$": "$.destination.id"}, "$.info", "CheckType"
        ),
        "CheckType": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.info.details.entity_type", "StringEquals": "GCSv5_guest_collection", "Next": "Copy"}
            ],
            "Default": "NotAGuest",
        },
        "NotAGuest": {"Type": "Fail", "Error": "NotAGuestCollection", "Cause": "sharing needs a guest collection"},
        "Copy": action(
            TRANSFER + "transfer",
            {
                "source_endpoint.$": "$.source.id",
                "destination_endpoint.$": "$.destination.id",
                "DATA": [{"source_path.$": "$.source.path", "destination_path.$": "$.destination.path"}],
                "filter_rules": [{"method": "exclude", "type": "file", "name": "*.tmp"}],
                "notify_on_succeeded": False,
            },
            "$.copied",
            "Share",
        ),
        "Share": action(
            TRANSFER + "manage_permission",
            {
                "endpoint_id.$": "$.destination.id",
                "operation": "CREATE",
                "path.$": "$.destination.path",
                "permissions": "r",
                "principal_type": "identity",
                "principal.$": "$.user",
            },
            "$.shared",
        ),
    },
}


def test_transfer_then_share_to_a_guest_collection(site: dict[str, Path]) -> None:
    from palxfel_globus.engine.providers.transfer import access_rules

    (site["source"] / "run7" / "scratch.tmp").write_text("not shared")
    body = {"source": {"id": SOURCE, "path": "/run7/"}, "destination": {"id": GUEST, "path": "/run7/"}, "user": PEOPLE}
    with engine_for(site) as engine:
        run = engine.run(TRANSFER_AND_SHARE, body)
        again = engine.run(TRANSFER_AND_SHARE, body)  # the same rule twice: Transfer answers Exists
        rules = access_rules(engine.state, GUEST)
    assert run["status"] == "SUCCEEDED", run["details"]
    assert sorted(path.name for path in (site["guest"] / "run7").iterdir()) == ["shot0.h5", "shot1.h5", "shot2.h5"]
    assert [(rule["path"], rule["principal"], rule["permissions"]) for rule in rules] == [("/run7/", PEOPLE, "r")]
    assert rules[0]["id"] == run["details"]["output"]["shared"]["details"]["access_id"]
    assert again["status"] == "FAILED" and "already exists" in again["details"]["description"]


def test_sharing_from_a_mapped_collection_takes_the_flow_s_own_failure_path(site: dict[str, Path]) -> None:
    body = {"source": {"id": SOURCE, "path": "/run7/"}, "destination": {"id": WORK, "path": "/run7/"}, "user": PEOPLE}
    with engine_for(site) as engine:
        run = engine.run(TRANSFER_AND_SHARE, body)
    assert run["details"]["failure"]["error"] == "NotAGuestCollection" and not (site["work"] / "run7").exists()


def test_access_rules_are_updated_and_deleted_by_id_and_listed_for_a_person(site: dict[str, Path], cli: Any) -> None:
    def manage(engine: Engine, **parameters: Any) -> dict[str, Any]:
        state = action(TRANSFER + "manage_permission", parameters, "$.m", ExceptionOnActionFailure=False)
        return engine.run({"StartAt": "M", "States": {"M": state}}, {})["details"]["output"]["m"]

    with engine_for(site) as engine:
        rule = {"path": "/a/", "permissions": "r", "principal_type": "identity", "principal": PEOPLE}
        rule_id = manage(engine, endpoint_id=GUEST, operation="CREATE", **rule)["details"]["access_id"]
        updated = manage(engine, endpoint_id=GUEST, operation="UPDATE", rule_id=rule_id, permissions="rw")
        assert updated["status"] == "SUCCEEDED"
    code, out, _err = cli("local", "access-rules", GUEST, "--state", str(site["state"]), "--json")
    assert code == 0 and [(rule["id"], rule["permissions"]) for rule in json.loads(out)] == [(rule_id, "rw")]
    with engine_for(site) as engine:
        assert manage(engine, endpoint_id=GUEST, operation="DELETE", rule_id=rule_id)["status"] == "SUCCEEDED"
        missing = manage(engine, endpoint_id=GUEST, operation="DELETE", rule_id=rule_id)
    assert missing["details"]["code"] == "AccessRuleNotFound"
    code, out, _err = cli("local", "access-rules", GUEST, "--state", str(site["state"]))
    assert code == 0 and "No access rule" in out


APPROVE_THEN_TRANSFER = {
    "StartAt": "Ask",
    "States": {
        **ask_states(["approve", "deny"], "approve", "Copy", "Denied", title="'Copy ' + source.path + '?'"),
        "Denied": {"Type": "Pass", "Result": "not copied", "ResultPath": "$.outcome", "End": True},
        "Copy": action(
            TRANSFER + "transfer",
            {
                "source_endpoint.$": "$.source.id",
                "destination_endpoint.$": "$.destination.id",
                "DATA": [{"source_path.$": "$.source.path", "destination_path.$": "$.destination.path"}],
            },
            "$.copied",
        ),
    },
}


@pytest.mark.parametrize(("answer", "copied"), [("approve", True), ("deny", False)])
def test_approval_by_web_input_then_transfer(site: dict[str, Path], answer: str, copied: bool) -> None:
    body = {"source": {"id": SOURCE, "path": "/run7/"}, "destination": {"id": WORK, "path": "/run7/"}}
    with engine_for(site, web_inputs=[answer]) as engine:
        run = engine.run(APPROVE_THEN_TRANSFER, body)
    assert run["status"] == "SUCCEEDED" and (site["work"] / "run7" / "shot2.h5").exists() is copied


DESCRIBE = """
import os

def describe(directory):
    names = sorted(os.listdir(directory))
    print("described", len(names), "files")
    return {"files": len(names), "bytes": sum(os.path.getsize(os.path.join(directory, n)) for n in names)}
"""

COMPUTE_APPROVE_PUBLISH = {
    "StartAt": "Describe",
    "States": {
        "Describe": action(
            "https://compute.actions.globus.org/v3",
            {"endpoint_id": ENDPOINT, "tasks": [{"function_id": TAR, "kwargs": {"directory.$": "$.directory"}}]},
            "$.described",
            "Ask",
        ),
        **ask_states(["publish", "skip"], "publish", "Publish", "Skipped"),
        "Skipped": {"Type": "Pass", "End": True},
        "Publish": action(
            "https://actions.globus.org/search/ingest",
            {
                "search_index": INDEX,
                "subject.=": "'globus://' + collection + '/run7/'",
                "visible_to": [f"urn:globus:groups:id:{PEOPLE}"],
                "content": {
                    "files.$": "$.described.details.results[0].output.files",
                    "bytes.$": "$.described.details.results[0].output.bytes",
                    "title": "run 7",
                },
            },
            "$.published",
        ),
    },
}


def test_compute_then_web_input_then_search_ingest(site: dict[str, Path], tmp_path: Path, cli: Any) -> None:
    from palxfel_globus.engine.providers.search import search

    (tmp_path / "describe.py").write_text(DESCRIBE)
    functions = {TAR: FunctionRef(str(tmp_path / "describe.py"), "describe")}
    body = {"directory": str(site["source"] / "run7"), "collection": SOURCE}
    with engine_for(site, functions=functions, web_inputs=["publish", "publish"]) as engine:
        runs = [engine.run(COMPUTE_APPROVE_PUBLISH, body) for _ in range(2)]
        entries = search(engine.state, INDEX, "run")
    assert [run["status"] for run in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert [entry["content"] for entry in entries] == [{"files": 3, "bytes": 303, "title": "run 7"}], "replaced"
    assert entries[0]["subject"] == f"globus://{SOURCE}/run7/"
    code, out, _err = cli("local", "search", INDEX, "run 7", "--state", str(site["state"]), "--json")
    assert code == 0 and json.loads(out)[0]["content"]["files"] == 3


EVALUATION_LOOP = {
    "Comment": "Check a condition every 30 minutes, three times at most",
    "StartAt": "Count",
    "States": {
        "Count": {
            "Type": "ExpressionEval",
            "Parameters": {"n.=": "getattr('loop.n', 0) + 1"},
            "ResultPath": "$.loop",
            "Next": "Enough",
        },
        "Enough": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.loop.n", "NumericGreaterThanEquals": 3, "Next": "Done"}],
            "Default": "Later",
        },
        "Later": {"Type": "Wait", "Seconds": 1800, "Next": "Count"},
        "Done": {"Type": "Pass", "End": True},
    },
}


def test_an_evaluation_loop_with_a_30_minute_wait(site: dict[str, Path]) -> None:
    with engine_for(site) as engine:
        run = engine.run(EVALUATION_LOOP, {})
    took = moment(run["log"][-1]) - moment(run["log"][0])
    assert run["status"] == "SUCCEEDED" and run["details"]["output"]["loop"] == {"n": 3}
    assert datetime.timedelta(minutes=60) <= took < datetime.timedelta(minutes=61)


TAR_SOURCE = """
import os, tarfile

def tar(source, work, run_id):
    os.makedirs(os.path.join(work, run_id), exist_ok=True)
    archive = os.path.join(work, run_id, "bundle.tar")
    with tarfile.open(archive, "w") as bundle:
        for name in sorted(os.listdir(source)):
            print("adding", name)
            bundle.add(os.path.join(source, name), arcname=name)
    return "/" + run_id + "/bundle.tar"
"""

COMPUTE_AND_TAR = {
    "Comment": "Tar a directory on the source's endpoint into a work collection, then send the tar onward",
    "StartAt": "Tar",
    "States": {
        "Tar": action(
            "https://compute.actions.globus.org/v3",
            {
                "endpoint_id": ENDPOINT,
                "tasks": [
                    {
                        "function_id": TAR,
                        "kwargs": {
                            "source.$": "$.local_source",
                            "work.$": "$.local_work",
                            "run_id.$": "$._context.run_id",
                        },
                    }
                ],
            },
            "$.tarred",
            "Send",
        ),
        "Send": action(
            TRANSFER + "transfer",
            {
                "source_endpoint": WORK,
                "destination_endpoint": GUEST,
                "DATA": [
                    {
                        "source_path.$": "$.tarred.details.results[0].output",
                        "destination_path.=": "'/archive/' + _context.run_id + '.tar'",
                    }
                ],
            },
            "$.sent",
            "CleanUp",
        ),
        "CleanUp": action(
            TRANSFER + "delete",
            {"endpoint": WORK, "recursive": True, "DATA": [{"path.=": "'/' + _context.run_id"}]},
            "$.cleaned",
        ),
    },
}


def test_a_three_collection_compute_and_tar_flow_whose_function_prints(site: dict[str, Path], tmp_path: Path) -> None:
    import tarfile

    (tmp_path / "tar.py").write_text(TAR_SOURCE)
    functions = {TAR: FunctionRef(str(tmp_path / "tar.py"), "tar")}
    body = {"local_source": str(site["source"] / "run7"), "local_work": str(site["work"])}
    with engine_for(site, functions=functions) as engine:
        run = engine.run(COMPUTE_AND_TAR, body)
    assert run["status"] == "SUCCEEDED", run["details"]
    with tarfile.open(site["guest"] / "archive" / f"{run['run_id']}.tar") as bundle:
        assert bundle.getnames() == ["shot0.h5", "shot1.h5", "shot2.h5"]
    assert list(site["work"].iterdir()) == [], "the work copy was deleted"
    assert log_entry(run, "ComputeTaskOutput")["details"]["stdout"].count("adding") == 3


# Strict where the service is strict ---------------------------------------------------------------------------------
def one_action(url: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"StartAt": "A", "States": {"A": action(url, parameters, "$.a", **extra)}}


@pytest.mark.parametrize(
    ("url", "parameters", "sentence"),
    [
        (
            "https://compute.actions.globus.org/v3",
            {"endpoint": ENDPOINT, "tasks": [{"function_id": TAR}]},
            "Compute v3 has no parameter 'endpoint': it was renamed 'endpoint_id'",
        ),
        (
            "https://compute.actions.globus.org/v3",
            {"endpoint_id": ENDPOINT, "tasks": [{"function": TAR}]},
            "tasks[0] has no parameter 'function': it was renamed 'function_id'",
        ),
        (
            TRANSFER + "transfer",
            {"source_endpoint_id": SOURCE, "destination_endpoint": WORK, "DATA": []},
            "has no parameter 'source_endpoint_id': it was renamed 'source_endpoint'",
        ),
        (
            TRANSFER + "transfer",
            {"source_endpoint": SOURCE, "destination_endpoint": WORK, "DATA": [], "verify_checksums": True},
            "has no parameter 'verify_checksums'",
        ),
        (TRANSFER + "ls", {"endpoint": SOURCE, "path": "/"}, "Transfer ls has no parameter 'endpoint'"),
    ],
)
def test_renamed_and_unknown_parameters_fail_as_the_providers_refuse_them(
    site: dict[str, Path], url: str, parameters: dict[str, Any], sentence: str
) -> None:
    with engine_for(site) as engine:
        run = engine.run(one_action(url, parameters), {})
    assert run["details"]["failure"]["error"] == "ActionUnableToRun"
    assert sentence in run["details"]["failure"]["cause"]


def test_a_missing_parameter_path_fails_the_run_with_states_runtime_even_under_states_all(
    site: dict[str, Path],
) -> None:
    """globus-cli issue #1254: the service fails the run with States.Runtime and these words."""
    state = action(
        "https://actions.globus.org/hello_world",
        {"echo_string.$": "$.nowhere"},
        "$.a",
        "Done",
        Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Done"}],
    )
    flow = {"StartAt": "A", "States": {"A": state, "Done": {"Type": "Pass", "End": True}}}
    with engine_for(site) as engine:
        run = engine.run(flow, {})
    assert run["details"]["failure"] == {
        "state_name": "A",
        "error": "States.Runtime",
        "cause": "The path '$.nowhere' specified for the field 'echo_string.$' could not be found in the state input.",
    }


def test_wait_states_have_next_only() -> None:
    from palxfel_globus.engine import validate

    findings = validate({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}})
    assert [finding.message for finding in findings] == [
        'this state cannot end the flow; go to a Pass state with "End": true'
    ]


def test_the_run_context_user_id_is_an_identity_urn() -> None:
    flow = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"who.$": "$._context.user_id"}, "End": True}},
    }
    with Engine() as engine:
        output = engine.run(flow, {})["details"]["output"]
    assert output["who"].startswith("urn:globus:auth:identity:")


# The small hosted providers -----------------------------------------------------------------------------------------
def test_hello_world_sleeps_on_the_simulated_clock_and_times_out_past_wait_time() -> None:
    hello = "https://actions.globus.org/hello_world"
    with Engine() as engine:
        slept = engine.run(one_action(hello, {"echo_string": "hi", "sleep_time": 600}, WaitTime=900), {})
        late = engine.run(one_action(hello, {"sleep_time": 600}, WaitTime=300), {})
    assert slept["details"]["output"]["a"]["details"]["hello"] == "world"
    took = moment(log_entry(slept, "ActionCompleted")) - moment(log_entry(slept, "ActionStarted"))
    assert took >= datetime.timedelta(seconds=600)
    assert late["details"]["failure"]["error"] == "ActionTimeout"


def test_expression_eval_evaluates_each_expression_into_its_result_path() -> None:
    parameters = {
        "expressions": [
            {"expression": "x + 1", "arguments": {"x": 41}, "result_path": "answer"},
            {"expression": "name.upper()", "arguments": {"name": "scan"}},
        ]
    }
    with Engine() as engine:
        details = engine.run(one_action("https://actions.globus.org/expression_eval", parameters), {})
    assert details["details"]["output"]["a"]["details"] == {"answer": 42, "result": "SCAN"}


def test_datacite_mint_is_recorded_with_a_stand_in_doi_and_no_credentials() -> None:
    parameters = {
        "as_test": True,
        "username": "facility",
        "password": "secret",
        "Doi": {
            "type": "dois",
            "attributes": {
                "creators": [{"name": "PAL-XFEL"}],
                "titles": [{"title": "run 7"}],
                "publisher": "PAL",
                "publicationYear": "2026",
                "event": "publish",
            },
        },
    }
    with Engine() as engine:
        run = engine.run(one_action("https://actions.globus.org/datacite/mint/basic_auth", parameters), {})
        recorded = [record for kind, record in engine.records if kind == "datacite"]
    minted = run["details"]["output"]["a"]["details"]["data"]
    assert minted["id"].startswith("10.5072/") and minted["attributes"]["state"] == "findable"
    assert "secret" not in json.dumps(run) and recorded[0]["doi"] == minted["id"]


def test_search_delete_by_subject_and_an_unknown_url_keeps_its_sentence(site: dict[str, Path]) -> None:
    from palxfel_globus.engine.providers.search import search

    ingest = {"search_index": INDEX, "subject": "s1", "visible_to": ["public"], "content": {"a": 1}}
    with engine_for(site) as engine:
        engine.run(one_action("https://actions.globus.org/search/ingest", ingest), {})
        delete = {"search_index": INDEX, "delete_by": "subject", "subject": "s1"}
        engine.run(one_action("https://actions.globus.org/search/delete", delete), {})
        assert search(engine.state, INDEX) == []
        unknown = engine.run(one_action("https://actions.example.org/nothing", {}), {})
    assert unknown["details"]["failure"]["cause"].startswith("no local action provider for https://actions.example.org")


# INACTIVE and ENDED -------------------------------------------------------------------------------------------------
def test_simulate_leaves_an_unanswered_run_inactive_then_resumes_or_cancels_it(
    site: dict[str, Path], tmp_path: Path, cli: Any
) -> None:
    (tmp_path / "flow.json").write_text(json.dumps(APPROVE_THEN_TRANSFER))
    (tmp_path / "input.json").write_text(
        json.dumps({"source": {"id": SOURCE, "path": "/run7/"}, "destination": {"id": WORK, "path": "/run7/"}})
    )
    common = [str(tmp_path / "flow.json"), "--collection", f"{SOURCE}={site['source']}"]
    common += ["--collection", f"{WORK}={site['work']}", "--state", str(site["state"])]
    runs = []
    for _ in range(2):
        code, out, _err = cli("flow", "simulate", *common, "--input", str(tmp_path / "input.json"), "--json")
        runs.append(json.loads(out))
        assert code == 1 and runs[-1]["status"] == "INACTIVE"
    code, out, _err = cli("flow", "simulate", *common, "--resume", runs[0]["run_id"], "--web-input", "approve")
    assert code == 0 and "SUCCEEDED" in out and (site["work"] / "run7" / "shot0.h5").exists()
    code, out, _err = cli("flow", "simulate", *common, "--cancel", runs[1]["run_id"], "--json")
    assert code == 1 and json.loads(out)["status"] == "ENDED"
    code, _out, err = cli("flow", "simulate", *common, "--cancel", runs[1]["run_id"])
    assert code == 2 and err.startswith(f"Error: No INACTIVE run {runs[1]['run_id']} is kept in ")


def test_the_timer_skips_every_tick_while_a_run_waits_inactive() -> None:
    with Engine() as engine:
        report = run_timer(engine, APPROVE_THEN_TRANSFER, lambda tick: {"source": {"path": "/x"}}, interval=60, ticks=3)
    assert [run["status"] for run in report.runs] == ["INACTIVE"] and report.skipped_ticks == [1, 2]


def test_wait_for_user_selection_takes_the_answer_or_times_out_at_wait_time() -> None:
    url = "https://actions.globus.org/weboption/wait_for_option"
    options = {"options": [{"name": "go", "url_suffix": "go-1"}, {"name": "stop", "url_suffix": "stop-1"}]}
    with Engine(web_inputs=["stop-1"]) as engine:
        chosen = engine.run(one_action(url, options, WaitTime=3600), {})
        unanswered = engine.run(one_action(url, options, WaitTime=3600), {})
    assert chosen["details"]["output"]["a"]["details"] == {"name": "stop", "url_suffix": "stop-1"}
    assert unanswered["details"]["failure"]["error"] == "ActionTimeout"
    waited = moment(log_entry(unanswered, "FlowFailed")) - moment(log_entry(unanswered, "ActionStarted"))
    assert waited > datetime.timedelta(hours=1)


def test_a_manage_permission_path_without_its_slash_names_the_directory(site: dict[str, Path]) -> None:
    from palxfel_globus.engine.providers.transfer import access_rules

    rule = {"endpoint_id": GUEST, "operation": "CREATE", "path": "/~/shared", "permissions": "r"}
    (site["guest"] / "shared").mkdir()
    with engine_for(site) as engine:
        run = engine.run(one_action(TRANSFER + "manage_permission", dict(rule, principal_type="anonymous")), {})
        assert run["status"] == "SUCCEEDED" and [r["path"] for r in access_rules(engine.state, GUEST)] == ["/~/shared/"]


def test_transfer_takes_its_documented_task_options(site: dict[str, Path]) -> None:
    import hashlib

    (site["source"] / "run7" / "skip").mkdir()
    (site["source"] / "run7" / "skip" / "x.h5").write_bytes(b"skipped dir")
    (site["source"] / "run7" / "notes.txt").write_text("not an h5")
    md5 = hashlib.md5(b"x" * 100).hexdigest()

    def transfer(engine: Engine, data: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
        parameters = {"source_endpoint": SOURCE, "destination_endpoint": WORK, "DATA": data, **options}
        state = action(TRANSFER + "transfer", parameters, "$.t", ExceptionOnActionFailure=False)
        return engine.run({"StartAt": "T", "States": {"T": state}}, {})["details"]["output"]["t"]

    with engine_for(site) as engine:
        filtered = transfer(
            engine,
            [{"DATA_TYPE": "transfer_item", "source_path": "/run7/", "destination_path": "/filtered/"}],
            filter_rules=[
                {"method": "exclude", "type": "dir", "name": "skip"},
                {"method": "include", "type": "file", "name": "*.h5"},
                {"method": "exclude", "name": "*"},
            ],
            encrypt_data=True,
            store_base_path_info=True,
            fail_on_quota_errors=True,
            deadline="2099-01-01T00:00:00+00:00",
        )
        item = {"source_path": "/run7/shot0.h5", "destination_path": "/one.h5", "checksum_algorithm": "MD5"}
        good = transfer(engine, [dict(item, external_checksum=md5)])
        bad = transfer(
            engine,
            [{"source_path": "/run7/shot0.h5", "destination_path": "/two.h5", "external_checksum": "0" * 32}],
            notify_on_failed=True,
        )
        quiet = transfer(engine, [dict(item, destination_path="/three.h5")], notify_on_succeeded=False)
        told = [record for kind, record in engine.records if kind == "transfer_notice" and record["status"] == "FAILED"]
    assert sorted(path.name for path in (site["work"] / "filtered").iterdir()) == ["shot0.h5", "shot1.h5", "shot2.h5"]
    details = filtered["details"]
    assert (details["encrypt_data"], details["store_base_path_info"], details["fail_on_quota_errors"]) == (True,) * 3
    assert good["status"] == "SUCCEEDED" and (site["work"] / "one.h5").exists()
    assert bad["status"] == "FAILED" and bad["details"]["fatal_error"]["code"] == "VERIFY_CHECKSUM"
    assert quiet["details"]["task_id"] not in json.dumps(list(engine.records))
    assert not (site["work"] / "two.h5").exists() and told == [
        {"task_id": bad["details"]["task_id"], "status": "FAILED"}
    ]


def test_a_flow_creates_a_guest_collection_then_shares_from_it_in_a_later_run(site: dict[str, Path]) -> None:
    from palxfel_globus.engine.providers.transfer import access_rules

    create = {"mapped_collection_id": WORK, "collection_base_path": "/~/shared/", "display_name": "run 7 for users"}
    (site["work"] / "shared").mkdir()
    with engine_for(site) as engine:
        made = engine.run(one_action(TRANSFER + "gcsv5/create_guest_collection", create), {})
    guest = made["details"]["output"]["a"]["details"]["id"]
    rule = {"endpoint_id": guest, "operation": "CREATE", "path": "/", "permissions": "r", "principal_type": "anonymous"}
    with engine_for(site) as engine:  # a later run, on the same state
        info = engine.run(one_action(TRANSFER + "collection_info", {"endpoint_id": guest}), {})
        shared = engine.run(one_action(TRANSFER + "manage_permission", rule), {})
        assert [r["path"] for r in access_rules(engine.state, guest)] == ["/"]
    assert info["details"]["output"]["a"]["details"]["entity_type"] == "GCSv5_guest_collection"
    assert info["details"]["output"]["a"]["details"]["local_path"] == str(site["work"] / "shared")
    assert shared["status"] == "SUCCEEDED"


def test_the_local_state_never_reads_or_writes_outside_its_directory(tmp_path: Path) -> None:
    """Keys come from the command line (--resume RUN_ID) and URLs (/web_inputs/ID): only plain names count."""
    from palxfel_globus.engine.providers.local_state import LocalState

    (tmp_path / "secret.json").write_text('{"leaked": true}')
    state = LocalState(tmp_path / "state")
    assert state.read("inactive_runs", "../../secret") == {}
    with pytest.raises(ValueError, match="not a plain name"):
        with state.changing("web_inputs", "../escape") as document:
            document["x"] = 1
    assert not (tmp_path / "escape.json").exists()
