"""Static validation: what the Flows service refuses at create time, and what would fail mid-run.

Rules from docs.globus.org/api/flows/authoring-flows/introduction (state types, no
OutputPath) and the OpenAPI types (globus-flows.md 1.1, 1.4).
"""

from __future__ import annotations

from typing import Any

import pytest

from palxfel_globus.engine import validate

END = {"Type": "Pass", "End": True}


def problems(states: dict[str, Any], start: str = "S", **top: Any) -> list[str]:
    return [str(finding) for finding in validate({"StartAt": start, "States": states, **top}) if not finding.warning]


def test_a_good_definition_has_no_problems() -> None:
    assert problems({"S": {"Type": "Pass", "Next": "E"}, "E": END}) == []


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (
            {"S": {"Type": "Succeed"}},
            "S: Type 'Succeed' does not exist in Globus Flows (the service rejects it); "
            'end with a Pass state with "End": true',
        ),
        ({"S": {"Type": "Map", "End": True}}, "S: Type 'Map' does not exist in Globus Flows"),
        ({"S": {"Type": "Parallel"}}, "S: Type 'Parallel' does not exist in Globus Flows"),
        ({"S": {"Type": "Task"}}, "S: Type 'Task' does not exist in Globus Flows"),
        ({"S": {"Type": "Pas", "End": True}}, "S: unknown Type 'Pas'"),
        ({"S": {"Type": "Pass", "End": True, "OutputPath": "$"}}, "S: OutputPath is not allowed in Globus Flows"),
        ({"S": {"Type": "Pass", "End": True, "Resultpath": "$.x"}}, "S: unknown field 'Resultpath' for a Pass state"),
        ({"S": {"Type": "Pass"}}, "S: has neither Next nor End"),
        ({"S": {"Type": "Pass", "Next": "Nowhere"}}, "S: Next 'Nowhere' does not name a state"),
        ({"S": {"Type": "Pass", "Next": "S", "End": True}}, "S: has both Next and End"),
        ({"S": {"Type": "Pass", "End": True, "ResultPath": "x.y"}}, "S: ResultPath: 'x.y' is not a JSONPath"),
        ({"S": {"Type": "Pass", "End": True, "InputPath": "$.a[b"}}, "S: InputPath: '$.a[b' is not a JSONPath"),
        (
            {"S": {"Type": "Pass", "End": True, "Parameters": {"x.=": "1 +"}}},
            "S: Parameters.x.=: the expression does not parse",
        ),
        (
            {"S": {"Type": "Pass", "End": True, "Parameters": {"x.=": "().__class__"}}},
            "S: Parameters.x.=: the attribute '__class__' is not allowed",
        ),
        (
            {"S": {"Type": "Pass", "End": True, "Parameters": {"x": 1, "x.$": "$.y"}}},
            "S: Parameters: 'x' and 'x.$' both set 'x'",
        ),
        (
            {"S": {"Type": "Pass", "End": True, "Parameters": {"n": [{"a.=": "1", "a.$": "$.b"}]}}},
            "S: Parameters.n[0]: 'a.=' and 'a.$' both set 'a'",
        ),
        (
            {"S": {"Type": "Action", "Parameters": {}, "End": True}},
            "S: an Action state needs exactly one of ActionUrl and Handler",
        ),
        (
            {"S": {"Type": "Action", "ActionUrl": "u", "End": True}},
            "S: an Action state needs exactly one of Parameters and InputPath",
        ),
        (
            {"S": {"Type": "ExpressionEval", "Parameters": {}, "ResultPath": "$.x", "End": True}},
            "S: this state cannot end the flow",
        ),
        (
            {"S": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}},
            "S: a Wait state needs exactly one of Seconds",
        ),
        ({"S": {"Type": "Choice", "Choices": []}}, "S: a Choice state needs a non-empty Choices list"),
        (
            {"S": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x"}], "Default": "E"}, "E": END},
            "S: Choices[0] needs Next",
        ),
        (
            {"S": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEqual": "x", "Next": "E"}]}, "E": END},
            "S: Choices[0] needs exactly one comparison",
        ),
        (
            {
                "S": {
                    "Type": "Choice",
                    "Choices": [{"And": [{"Variable": "$.a", "IsNull": True, "Next": "E"}], "Next": "E"}],
                },
                "E": END,
            },
            "S: Choices[0].And[0]: Next is only allowed on top-level rules",
        ),
        (
            {
                "S": {
                    "Type": "Action",
                    "ActionUrl": "u",
                    "Parameters": {},
                    "End": True,
                    "Catch": [{"ErrorEquals": [], "Next": "S"}],
                }
            },
            "S: Catch[0] needs ErrorEquals",
        ),
        ({"S": {"Type": "Pass", "End": True}, "Lonely": END}, "Lonely: is unreachable from StartAt 'S'"),
        (
            {"S": {"Type": "Pass", "Next": "T"}, "T": {"Type": "Pass", "Next": "S"}},
            "(definition): no reachable state ends the flow",
        ),
    ],
)
def test_each_problem_names_its_state(states: dict[str, Any], expected: str) -> None:
    found = problems(states)
    assert any(problem.startswith(expected) for problem in found), found


def test_start_at_and_top_level_fields_are_checked() -> None:
    assert problems({"S": END}, start="T") == ["(definition): StartAt 'T' does not name a state"]
    assert problems({"S": END}, OutputPath="$") == ["(definition): unknown top-level field 'OutputPath'"]


def test_a_missing_exception_on_action_failure_is_a_warning_only() -> None:
    findings = validate(
        {
            "StartAt": "S",
            "States": {
                "S": {
                    "Type": "Action",
                    "ActionUrl": "https://actions.globus.org/hello_world",
                    "Parameters": {},
                    "End": True,
                }
            },
        }
    )
    assert [(finding.warning, finding.message.split(";")[0]) for finding in findings] == [
        (True, "ExceptionOnActionFailure is not set")
    ]
