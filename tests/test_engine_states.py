"""The interpreter's semantics, state by state, against the Globus Flows documentation.

Citations: docs.globus.org/api/flows/authoring-flows/{introduction,actions,pass_state,
choice_state,wait_state,fail_state,expressions,exceptions,context}, and the decisions in
../shared/globus-flows.md where sources disagree.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from palxfel_globus.engine import Clock, DefinitionError, Engine
from palxfel_globus.engine.runner import MAX_RUN_STATE_BYTES

HELLO = "https://actions.globus.org/hello_world"


class FakeClock(Clock):
    def __init__(self) -> None:
        self.current = 1_800_000_000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += seconds


def run(states: dict[str, Any], body: Any = None, start: str = "S", **engine_options: Any) -> dict[str, Any]:
    with Engine(**engine_options) as engine:
        return engine.run({"StartAt": start, "States": states}, body or {})


def output(states: dict[str, Any], body: Any = None, **engine_options: Any) -> Any:
    document = run(states, body, **engine_options)
    assert document["status"] == "SUCCEEDED", document["details"]
    return document["details"]["output"]


END = {"Type": "Pass", "End": True}


# Pass [D-pass] -------------------------------------------------------------------------------------------------
def test_pass_without_result_path_passes_its_input_through() -> None:
    assert output({"S": {"Type": "Pass", "End": True}}, {"a": 1}) == {"a": 1}


def test_pass_result_path_nests_the_whole_input() -> None:
    """D-pass: {"Type":"Pass","ResultPath":"$.Nested"} copies the whole input under Nested."""
    assert output({"S": {"Type": "Pass", "ResultPath": "$.Nested", "End": True}}, {"a": 1}) == {
        "a": 1,
        "Nested": {"a": 1},
    }


def test_pass_input_path_with_result_path_keeps_the_source_key() -> None:
    """Decision 2: the engine follows ASL and keeps the source key."""
    states = {"S": {"Type": "Pass", "InputPath": "$.a", "ResultPath": "$.b", "End": True}}
    assert output(states, {"a": {"x": 1}}) == {"a": {"x": 1}, "b": {"x": 1}}


def test_pass_result_and_parameters() -> None:
    states = {
        "S": {"Type": "Pass", "Result": [1, 2], "ResultPath": "$.r", "Next": "T"},
        "T": {
            "Type": "Pass",
            "Parameters": {"sum.=": "r[0] + r[1]", "copy.$": "$.r", "k": {"n.$": "$.r[1]"}},
            "ResultPath": "$.p",
            "End": True,
        },
    }
    assert output(states)["p"] == {"sum": 3, "copy": [1, 2], "k": {"n": 2}}


def test_stored_values_are_copies_not_aliases() -> None:
    states = {
        "S": {"Type": "Pass", "InputPath": "$.a", "ResultPath": "$.b", "Next": "T"},
        "T": {"Type": "Pass", "Result": 9, "ResultPath": "$.b.x", "End": True},
    }
    assert output(states, {"a": {"x": 1}}) == {"a": {"x": 1}, "b": {"x": 9}}


# ExpressionEval and context [D-expr][D-ctx] ----------------------------------------------------------------------
def test_expression_eval_sees_the_run_context() -> None:
    states = {
        "S": {
            "Type": "ExpressionEval",
            "ResultPath": "$.c",
            "Next": "E",
            "Parameters": {
                "dir.=": "'/' + _context.run_id + '/'",
                "flow.$": "$._context.flow_id",
                "who.=": "`$._context.username`",
            },
        },
        "E": END,
    }
    with Engine() as engine:
        document = engine.run({"StartAt": "S", "States": states}, {}, run_id="R-1", flow_id="F-1")
    assert document["details"]["output"]["c"] == {"dir": "/R-1/", "flow": "F-1", "who": "local-user@localhost"}
    assert "_context" not in document["details"]["output"], "the context is read-only and not part of the output"


def test_a_failing_expression_fails_the_run_with_the_state_named() -> None:
    document = run(
        {
            "S": {"Type": "ExpressionEval", "Parameters": {"x.=": "missing + 1"}, "ResultPath": "$.x", "Next": "E"},
            "E": END,
        }
    )
    assert document["status"] == "FAILED"
    assert document["details"]["failure"] == {
        "state_name": "S",
        "error": "States.Runtime",
        "cause": "The expression for the field 'x.=' failed: name 'missing' is not defined in the run state",
    }


# Choice [D-choice] -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "value", "matches"),
    [
        ({"StringEquals": "a"}, "a", True),
        ({"StringEquals": "a"}, 1, False),
        ({"StringLessThan": "b"}, "a", True),
        ({"StringGreaterThan": "b"}, "a", False),
        ({"StringLessThanEquals": "a"}, "a", True),
        ({"StringGreaterThanEquals": "a"}, "b", True),
        ({"StringMatches": "log-*.txt"}, "log-1.txt", True),
        ({"StringMatches": "log-\\*"}, "log-x", False),
        ({"StringMatches": "log-\\*"}, "log-*", True),
        ({"NumericEquals": 3}, 3.0, True),
        ({"NumericEquals": 1}, True, False),
        ({"NumericLessThan": 3}, 2, True),
        ({"NumericGreaterThan": 3}, 2, False),
        ({"NumericLessThanEquals": 3}, 3, True),
        ({"NumericGreaterThanEquals": 3}, 4, True),
        ({"BooleanEquals": False}, False, True),
        ({"BooleanEquals": False}, 0, False),
        ({"TimestampEquals": "2026-01-01T00:00:00Z"}, "2026-01-01T00:00:00+00:00", True),
        ({"TimestampLessThan": "2026-01-01T00:00:00Z"}, "2025-12-31T23:59:59Z", True),
        ({"TimestampGreaterThan": "2026-01-01T00:00:00Z"}, "not a time", False),
        ({"TimestampLessThanEquals": "2026-01-01T00:00:00Z"}, "2026-01-01T00:00:00Z", True),
        ({"TimestampGreaterThanEquals": "2026-01-01T00:00:00Z"}, "2026-01-02T00:00:00Z", True),
        ({"IsNull": True}, None, True),
        ({"IsNumeric": True}, 1.5, True),
        ({"IsNumeric": True}, True, False),
        ({"IsString": False}, 1, True),
        ({"IsBoolean": True}, False, True),
        ({"IsTimestamp": True}, "2026-01-01T00:00:00Z", True),
        ({"IsTimestamp": True}, "yesterday", False),
        ({"IsPresent": True}, 0, True),
        ({"NumericEqualsPath": "$.other"}, 7, True),
        ({"StringEqualsPath": "$.other"}, "7", False),
    ],
)
def test_choice_comparisons(rule: dict[str, Any], value: Any, matches: bool) -> None:
    states = {
        "S": {"Type": "Choice", "Choices": [{"Variable": "$.v", **rule, "Next": "Yes"}], "Default": "No"},
        "Yes": {"Type": "Pass", "Result": "yes", "ResultPath": "$.r", "End": True},
        "No": {"Type": "Pass", "Result": "no", "ResultPath": "$.r", "End": True},
    }
    assert output(states, {"v": value, "other": 7})["r"] == ("yes" if matches else "no")


def test_choice_combinators_first_match_and_is_present() -> None:
    rules = [
        {"Not": {"Variable": "$.maybe", "IsPresent": True}, "Next": "Absent"},
        {
            "And": [
                {"Variable": "$.n", "NumericGreaterThan": 1},
                {"Or": [{"Variable": "$.s", "StringEquals": "x"}, {"Variable": "$.s", "StringEquals": "y"}]},
            ],
            "Next": "Both",
        },
    ]
    states = {
        "S": {"Type": "Choice", "Choices": rules, "Default": "Neither"},
        **{
            name: {"Type": "Pass", "Result": name, "ResultPath": "$.r", "End": True}
            for name in ("Absent", "Both", "Neither")
        },
    }
    assert output(states, {"n": 2, "s": "y"})["r"] == "Absent"
    assert output(states, {"n": 2, "s": "y", "maybe": 1})["r"] == "Both"
    assert output(states, {"n": 0, "s": "y", "maybe": 1})["r"] == "Neither"


def test_choice_with_no_match_and_no_default_fails_the_run() -> None:
    """D-choice: no match and no Default fails the run."""
    document = run(
        {"S": {"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericEquals": 1, "Next": "E"}]}, "E": END}, {"v": 2}
    )
    assert document["details"]["failure"]["error"] == "States.NoChoiceMatched"


def test_a_rule_on_a_missing_variable_does_not_match() -> None:
    """The official approved_publishing example (globus-flows-examples, web_input_examples) catches
    Flows.WebInputExpired into $.response_info and then tests $.response_info.response, expecting the
    Choice's Default: in Globus a missing Variable does not match (ASL would fail the run)."""
    document = run(
        {
            "S": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.nope", "StringEquals": "x", "Next": "F"}],
                "Default": "E",
            },
            "F": {"Type": "Fail", "Error": "Matched"},
            "E": END,
        }
    )
    assert document["status"] == "SUCCEEDED"


# Wait [D-wait] -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("wait", "expected"),
    [
        ({"Seconds": 30}, 30),
        ({"SecondsPath": "$.s"}, 12),
        ({"Timestamp": "2027-01-15T08:01:40Z"}, 100),
        ({"TimestampPath": "$.t"}, 0),
    ],
)
def test_wait_forms(wait: dict[str, Any], expected: float) -> None:
    clock = FakeClock()
    output(
        {"S": {"Type": "Wait", **wait, "Next": "E"}, "E": {"Type": "Pass", "End": True}},
        {"s": 12, "t": "2020-01-01T00:00:00Z"},
        clock=clock,
    )
    assert clock.slept == [expected]


# Fail [D-fail] -------------------------------------------------------------------------------------------------------
def test_fail_reports_error_and_cause_from_constants_or_paths() -> None:
    document = run({"S": {"Type": "Fail", "Error": "Bad", "CausePath": "$.why"}}, {"why": "disk full"})
    assert document["status"] == "FAILED"
    assert document["details"]["failure"] == {"state_name": "S", "error": "Bad", "cause": "disk full"}


# Action, ResultPath, Catch, ExceptionOnActionFailure [D-actions][D-exc] ------------------------------------------
def test_action_result_is_the_status_document_plus_state_name() -> None:
    result = output(
        {
            "S": {
                "Type": "Action",
                "ActionUrl": HELLO,
                "Parameters": {"echo_string": "hi"},
                "ResultPath": "$.r",
                "End": True,
            }
        }
    )["r"]
    assert result["status"] == "SUCCEEDED" and result["state_name"] == "S"
    assert result["details"]["echo_string"] == "hi"
    assert {"action_id", "display_status", "start_time", "completion_time", "creator_id"} <= set(result)


def test_action_without_result_path_replaces_the_whole_state() -> None:
    result = output({"S": {"Type": "Action", "ActionUrl": HELLO, "Parameters": {}, "End": True}}, {"keep": 1})
    assert "keep" not in result and result["status"] == "SUCCEEDED"


def test_the_handler_form_names_the_provider() -> None:
    states = {
        "S": {
            "Type": "Action",
            "Handler": {"Type": "ActionProvider", "Url": HELLO},
            "InputPath": "$.body",
            "ResultPath": "$.r",
            "End": True,
        }
    }
    assert output(states, {"body": {"echo_string": "via handler"}})["r"]["details"]["echo_string"] == "via handler"


def test_an_unknown_action_url_is_action_unable_to_run_and_catchable() -> None:
    states = {
        "S": {
            "Type": "Action",
            "ActionUrl": "https://example.org/nothing",
            "Parameters": {},
            "Catch": [{"ErrorEquals": ["ActionUnableToRun"], "ResultPath": "$.err", "Next": "E"}],
            "ResultPath": "$.r",
            "End": True,
        },
        "E": END,
    }
    err = output(states)["err"]
    assert err["Error"] == "ActionUnableToRun" and "no local action provider" in err["Cause"]


def test_the_retired_transfer_url_is_refused_before_the_run_naming_where_it_moved() -> None:
    """The service refuses a retired provider when the flow is created, not when a run reaches it."""
    retired = {"Type": "Action", "ActionUrl": "https://actions.globus.org/transfer/transfer", "Parameters": {}}
    with pytest.raises(DefinitionError) as refused:
        run({"S": {**retired, "End": True}})
    assert "use https://transfer.actions.globus.org/transfer" in str(refused.value)


def failing_action(**extra: Any) -> dict[str, Any]:
    states = {
        "S": {"Type": "Action", "ActionUrl": HELLO, "Parameters": {}, "ResultPath": "$.r", "Next": "After", **extra},
        "After": END,
    }
    if "Catch" in extra:
        states["Handled"] = END
    return states


def test_a_failed_action_continues_when_exception_on_action_failure_is_false() -> None:
    """Decision 1: the engine's default is false, the current OpenAPI's."""
    from palxfel_globus.engine import Faults

    result = output(failing_action(), faults=Faults(fail={"S": 1}))["r"]
    assert result["status"] == "FAILED" and result["details"]["code"] == "InjectedFault"


def test_a_failed_action_raises_when_asked_and_catch_routes_it() -> None:
    from palxfel_globus.engine import Faults

    catch = [
        {"ErrorEquals": ["ActionTimeout"], "Next": "After"},
        {"ErrorEquals": ["ActionFailedException"], "ResultPath": "$.error", "Next": "Handled"},
    ]
    document = run(
        failing_action(ExceptionOnActionFailure=True, Catch=catch), {"keep": 1}, faults=Faults(fail={"S": 1})
    )
    assert document["status"] == "SUCCEEDED"
    out = document["details"]["output"]
    assert out["keep"] == 1 and out["error"]["Error"] == "ActionFailedException"
    assert out["error"]["status"] == "FAILED" and out["error"]["state_name"] == "S"
    codes = [entry["code"] for entry in document["log"]]
    assert codes == [
        "FlowStarted",
        "ActionStarted",
        "ActionErrorCaught",
        "PassStarted",
        "PassCompleted",
        "FlowSucceeded",
    ]


def test_catch_without_result_path_replaces_the_state_and_states_all_matches_anything() -> None:
    from palxfel_globus.engine import Faults

    document = run(
        failing_action(ExceptionOnActionFailure=True, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Handled"}]),
        {"keep": 1},
        faults=Faults(fail={"S": 1}),
    )
    assert "keep" not in document["details"]["output"]
    assert document["details"]["output"]["Error"] == "ActionFailedException"


def test_an_uncaught_action_failure_fails_the_run_naming_the_state() -> None:
    from palxfel_globus.engine import Faults

    document = run(failing_action(ExceptionOnActionFailure=True), faults=Faults(fail={"S": -1}))
    assert document["status"] == "FAILED"
    assert document["details"]["description"].startswith("State S failed: ActionFailedException")
    assert document["log"][-1]["code"] == "FlowFailed"


def test_wait_time_exceeded_is_action_timeout() -> None:
    states = {
        "S": {"Type": "Action", "ActionUrl": HELLO, "Parameters": {"sleep_time": 1.2}, "WaitTime": 1, "End": True}
    }
    assert run(states)["details"]["failure"]["error"] == "ActionTimeout"


def test_run_as_and_action_scope_are_accepted() -> None:
    states = {
        "S": {
            "Type": "Action",
            "ActionUrl": HELLO,
            "Parameters": {},
            "RunAs": "Flow",
            "ActionScope": "https://auth.globus.org/scopes/actions.globus.org/hello_world",
            "ResultPath": "$.r",
            "End": True,
        }
    }
    assert output(states)["r"]["status"] == "SUCCEEDED"


# limits and documents [D-limits] -----------------------------------------------------------------------------------
def test_the_run_state_is_capped_at_200_kb() -> None:
    states = {
        "S": {"Type": "ExpressionEval", "Parameters": {"big.=": "'x' * 210000"}, "ResultPath": "$.b", "Next": "E"},
        "E": END,
    }
    document = run(states)
    assert document["details"]["failure"]["error"] == "States.DataLimitExceeded"
    small = run({"S": {"Type": "Pass", "Result": "x" * (MAX_RUN_STATE_BYTES - 100), "ResultPath": "$.b", "End": True}})
    assert small["status"] == "SUCCEEDED"


def test_the_run_document_has_the_services_fields() -> None:
    with Engine() as engine:
        document = engine.run({"StartAt": "S", "States": {"S": END}}, {"a": 1}, label="nightly", tags=["x"])
    assert {
        "run_id",
        "flow_id",
        "flow_title",
        "status",
        "display_status",
        "start_time",
        "completion_time",
        "details",
        "run_owner",
        "run_managers",
        "run_monitors",
        "label",
        "tags",
        "log",
    } <= set(document)
    assert document["details"]["code"] == "FlowSucceeded" and document["label"] == "nightly"
    assert [entry["code"] for entry in document["log"]] == [
        "FlowStarted",
        "PassStarted",
        "PassCompleted",
        "FlowSucceeded",
    ]
    json.dumps(document)
