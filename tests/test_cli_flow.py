"""``palxfel-globus flow show | validate | simulate`` as a person and a script see it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from palxfel_globus.backup import load_flow

DATA = Path(__file__).parent / "data" / "flows"
A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"


@pytest.fixture
def collections(tmp_path: Path) -> list[str]:
    (tmp_path / "a" / "experiment" / "run 1").mkdir(parents=True)
    (tmp_path / "a" / "experiment" / "run 1" / "x.h5").write_bytes(b"x" * 10)
    (tmp_path / "b").mkdir()
    return ["--collection", f"{A}={tmp_path / 'a'}", "--collection", f"{B}={tmp_path / 'b'}"]


def simulate_transfer(
    cli: Callable[..., tuple[int, str, str]], collections: list[str], *extra: str
) -> tuple[int, str, str]:
    definition, sample_input = str(DATA / "transfer.json"), str(DATA / "transfer.input.json")
    return cli("flow", "simulate", definition, "--input", sample_input, *collections, *extra)


def test_validate_accepts_a_good_definition(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = cli("flow", "validate", str(DATA / "move.json"))
    assert (code, err) == (0, "") and out.strip().endswith("move.json: valid.")


def test_validate_lists_every_problem_and_exits_1(tmp_path: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "StartAt": "A",
                "States": {
                    "A": {"Type": "Succeed"},
                    "B": {"Type": "Pass", "Next": "Nowhere"},
                    "C": {"Type": "Action", "ActionUrl": "u", "Parameters": {}, "End": True},
                },
            }
        )
    )
    code, out, err = cli("flow", "validate", str(bad))
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("Problem: A: Type 'Succeed' does not exist in Globus Flows")
    assert "Problem: B: Next 'Nowhere' does not name a state." in lines
    assert any(line.startswith("Warning: C: ExceptionOnActionFailure is not set") for line in lines)
    assert "Problem: B: is unreachable from StartAt 'A'." in lines


def test_simulate_runs_a_flow_and_prints_progress(
    collections: list[str], cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, _ = simulate_transfer(cli, collections)
    assert code == 0
    assert "✓ Transfer" in out and "SUCCEEDED" in out


def test_simulate_json_prints_the_run_document(
    collections: list[str], cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, _ = simulate_transfer(
        cli,
        collections,
        "--json",
    )
    document = json.loads(out)
    assert code == 0 and document["status"] == "SUCCEEDED"
    assert document["details"]["output"]["TransferResult"]["details"]["files_transferred"] == 1
    assert document["log"][0]["code"] == "FlowStarted"


def test_simulate_exits_1_when_the_run_fails(collections: list[str], cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = simulate_transfer(
        cli,
        collections,
        "--fault",
        "fail:Transfer",
    )
    assert code == 1 and "FAILED" in out and "State Transfer failed: ActionFailedException" in out


def test_simulate_answers_web_inputs_from_values_and_files(
    tmp_path: Path, collections: list[str], cli: Callable[..., tuple[int, str, str]]
) -> None:
    (tmp_path / "a" / "data").mkdir()
    (tmp_path / "a" / "data" / "scan.h5").write_text("s")
    (tmp_path / "b" / "approved").mkdir()
    answers = tmp_path / "answers.json"
    answers.write_text('["approve"]')
    code, out, _ = cli(
        "flow",
        "simulate",
        str(DATA / "approval.json"),
        "--input",
        str(DATA / "approval.input.json"),
        *collections,
        "--web-input",
        "approve",
        "--web-input",
        f"@{answers}",
        "--json",
    )
    assert code == 0 and json.loads(out)["details"]["output"]["response_info"]["response"] == "approve"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["flow", "simulate", "/no/flow.json"], "Error: The flow definition /no/flow.json does not exist.\n"),
        (
            ["flow", "simulate", str(DATA / "transfer.json"), "--collection", "not-a-uuid=/tmp"],
            "Error: --collection 'not-a-uuid=/tmp' is not UUID=DIR.\n",
        ),
        (
            ["flow", "simulate", str(DATA / "transfer.json"), "--collection", f"{A}=/no/such/dir"],
            f"Error: --collection {A}=/no/such/dir: the directory does not exist.\n",
        ),
        (
            ["flow", "simulate", str(DATA / "transfer.json"), "--fault", "explode"],
            "Error: --fault 'explode' is not a fault; use fail:STATE[:N], crash:STATE or "
            "corrupt:STATE:GLOB[:truncate].\n",
        ),
        (
            ["flow", "simulate", str(DATA / "transfer.json"), "--input", "/no/input.json"],
            "Error: The input file /no/input.json does not exist.\n",
        ),
        (
            ["flow", "simulate", str(DATA / "transfer.json"), "--function", f"{A}=nofile.py:f"],
            f"Error: --function {A}=nofile.py:f: expected an existing FILE.py and a function NAME.\n",
        ),
        (["flow", "simulate", str(DATA / "README.md")], None),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(
    cli: Callable[..., tuple[int, str, str]], args: list[str], message: str
) -> None:
    code, out, err = cli(*args)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("Error: ")
    if message is not None:
        assert err == message


def test_an_invalid_definition_is_refused_before_running(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Map", "End": True}}}))
    code, _, err = cli("flow", "simulate", str(bad))
    assert code == 2
    assert (
        err == f"Error: {bad} is not a valid flow definition: A: Type 'Map' does not exist in Globus Flows "
        "(the service rejects it); fan out with one Transfer action of many DATA items or one Compute "
        "action of many tasks\n"
    )


def test_show_lists_the_states_in_the_order_a_run_meets_them(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = cli("flow", "show")
    assert (code, err) == (0, "")
    states = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and line[2:3].isupper()]
    happy = ["FindCompletedScans", "KeepFindResult", "AnythingToShip", "Manifests", "CountManifests"]
    failure = ["ReleaseFindClaims", "FindFailed", "AnyoneToTell", "StartAlarmMail", "TellPeople", "AlarmMailed"]
    failure += ["MoreAlarmMail", "LedgerNotUpdated", "RecordFailure", "RunFailed", "ScrubNotRecorded"]
    failure += ["SharingNotPlanned"]
    assert states[:5] == happy
    assert states[-14:] == [*failure, "CatalogNotUpdated", "EntryRefused"]
    assert sorted(states) == sorted(load_flow("scan_backup")[0]["States"]), "every state once"


def test_show_json_is_the_definition_and_any_file_can_be_shown(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = cli("flow", "show", "--json")
    assert code == 0 and json.loads(out) == load_flow("scan_backup")[0]
    code, out, _ = cli("flow", "show", str(DATA / "approval.json"))
    assert code == 0 and "fails the run: NotApproved" in out and "a Transfer action" in out
    code, out, err = cli("flow", "show", str(DATA / "nope.json"))
    assert code == 2 and out == "" and err.startswith("Error: ") and "nope.json" in err


def wait_flow(tmp_path: Path, wait: dict) -> Path:
    path = tmp_path / "wait.json"
    states = {"W": {"Type": "Wait", **wait, "Next": "E"}, "E": {"Type": "Pass", "End": True}}
    path.write_text(json.dumps({"StartAt": "W", "States": states}, allow_nan=True))
    return path


@pytest.mark.parametrize(
    ("wait", "problem"),
    [
        ({"Seconds": float("nan")}, "Problem: W: Seconds nan is not a number of seconds from 0 to 31536000"),
        ({"Seconds": float("inf")}, "Problem: W: Seconds inf is not a number of seconds from 0 to 31536000"),
        ({"Seconds": 1e9}, "Problem: W: Seconds 1000000000.0 is not a number of seconds from 0 to 31536000"),
        ({"Timestamp": "9999-01-01T00:00:00Z"}, "Problem: W: Timestamp 9999-01-01T00:00:00Z is more than a year"),
        ({"Timestamp": "soon"}, "Problem: W: Timestamp: 'soon' is not an RFC 3339 timestamp."),
    ],
)
def test_a_wait_the_service_would_not_run_is_invalid(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], wait: dict, problem: str
) -> None:
    code, out, err = cli("flow", "validate", str(wait_flow(tmp_path, wait)))
    assert (code, out) == (1, "") and err.startswith(problem) and err.count("\n") == 1
    code, _out, err = cli("flow", "simulate", str(wait_flow(tmp_path, wait)))
    assert code == 2 and err.count("\n") == 1, "refused before it runs, not in the middle of a run"


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("[" * 100_000 + "]" * 100_000, "nests objects or arrays more than 100 deep."),
        ('{"StartAt": ' + "9" * 5000 + "}", "holds a value JSON cannot take here: Exceeds the limit (4300 digits)"),
    ],
)
def test_a_hostile_json_file_is_one_sentence_everywhere(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]], text: str, sentence: str
) -> None:
    hostile = tmp_path / "hostile.json"
    hostile.write_text(text)
    for command in (["validate"], ["show"], ["simulate"]):
        code, out, err = cli("flow", *command, str(hostile))
        assert (code, out) == (2, "") and err.count("\n") == 1 and sentence in err, (command, err)
    code, _out, err = cli("flow", "simulate", str(DATA / "transfer.json"), "--input", str(hostile))
    assert code == 2 and err.startswith(f"Error: The input file {hostile} ") and sentence in err


def test_a_run_that_never_ends_stops_at_its_state_limit(
    tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    loop = tmp_path / "loop.json"
    states = {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "E"}], "Default": "A"},
        "E": {"Type": "Pass", "End": True},
    }
    loop.write_text(json.dumps({"StartAt": "A", "States": states}))
    code, out, _err = cli("flow", "simulate", str(loop), "--max-states", "50", "--json")
    run = json.loads(out)
    assert code == 1 and run["status"] == "FAILED"
    assert run["details"]["description"].endswith(
        "the run reached its limit of 50 states (--max-states); a loop that never ends?"
    )
    assert len(run["log"]) < 120, "the log stops growing with the run"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("fail:NoSuchState", "Error: --fault names NoSuchState, which the flow does not have; its states are "),
        ("crash:Nope", "Error: --fault names Nope, which the flow does not have; its states are "),
        ("corrupt:Transfer:*.h5:shred", "Error: --fault 'corrupt:Transfer:*.h5:shred': 'shred' is not a way to damage"),
        ("fail:Transfer:abc", "Error: --fault 'fail:Transfer:abc': N ('abc') is how many times STATE fails"),
    ],
)
def test_a_fault_that_would_test_nothing_is_refused(
    cli: Callable[..., tuple[int, str, str]], fault: str, message: str
) -> None:
    code, out, err = cli("flow", "simulate", str(DATA / "transfer.json"), "--fault", fault)
    assert (code, out) == (2, "") and err.startswith(message) and err.count("\n") == 1
