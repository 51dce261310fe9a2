"""Loading and static validation of a flow definition, before anything runs or deploys.

The checks are the ones the Flows service applies at create/update time (globus-flows.md
1.1 and 1.4) plus the ones that would otherwise surface only in the middle of a run:
dangling and unreachable states, no way to end, JSONPaths and expressions that do not
parse, ``Parameters`` keys given twice with different suffixes. Each finding names its
state. Warnings (``ExceptionOnActionFailure`` left implicit, decision 1) do not fail.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from palxfel_globus.engine import jsonpath
from palxfel_globus.engine.errors import DefinitionError, ExpressionError, JsonPathError
from palxfel_globus.engine.expressions import compile_expression
from palxfel_globus.errors import PalxfelError
from palxfel_globus.jsonfile import read_json_file

MAX_RUN_SECONDS = 365 * 86400  # the service ends a run after a year (globus-flows.md 1.6)

COMMON = {"Type", "Comment"}
TRANSITION = {"Next", "End"}
STATE_FIELDS: dict[str, set[str]] = {
    "Action": COMMON
    | TRANSITION
    | {
        "ActionUrl",
        "Handler",
        "ActionScope",
        "Parameters",
        "InputPath",
        "ResultPath",
        "WaitTime",
        "ExceptionOnActionFailure",
        "RunAs",
        "Catch",
        "__Private_Parameters",
    },
    "Pass": COMMON | TRANSITION | {"InputPath", "Parameters", "Result", "ResultPath"},
    "Choice": COMMON | {"Choices", "Default"},
    "Wait": COMMON | TRANSITION | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
    "ExpressionEval": COMMON | {"Parameters", "ResultPath", "Next"},
    "Fail": COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "CreateWebInput": COMMON | TRANSITION | {"Parameters", "ResultPath", "Catch"},
    "AwaitWebInput": COMMON | TRANSITION | {"Parameters", "ResultPath", "Catch"},
}
NOT_IN_GLOBUS = {
    "Succeed": 'end with a Pass state with "End": true',
    "Map": "fan out with one Transfer action of many DATA items or one Compute action of many tasks",
    "Parallel": "fan out with one Transfer action of many DATA items or one Compute action of many tasks",
    "Task": "call a service with an Action state",
}
COMPARISONS = {
    f"{kind}{op}"
    for kind in ("String", "Numeric", "Timestamp")
    for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
} | {"BooleanEquals", "StringMatches"}
PATH_COMPARISONS = {name + "Path" for name in COMPARISONS if name != "StringMatches"}
TYPE_TESTS = {"IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"}


@dataclass(frozen=True)
class Finding:
    """``unresolved``: a warning about an action URL no provider here answers; the Flows service
    resolves every provider when a flow is created, so 'local serve' refuses such a flow."""

    state: str
    message: str
    warning: bool = False
    unresolved: bool = False

    def __str__(self) -> str:
        return f"{self.state}: {self.message}"


def load_definition(path: Path) -> dict[str, Any]:
    """A definition file: either the bare definition, or a flow document with a ``definition`` key."""
    document = read_json_file(path, "flow definition")
    if isinstance(document, dict) and isinstance(document.get("definition"), dict):
        document = document["definition"]
    if not isinstance(document, dict):
        raise PalxfelError(f"The flow definition {path} is not a JSON object.")
    return document


def parse_timestamp(value: Any) -> datetime.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{str(value)[:40]!r} is not an RFC 3339 timestamp")
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an RFC 3339 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def _validate_wait(name: str, state: dict[str, Any]) -> Iterator[Finding]:
    """A Wait the service would run: a finite number of seconds, or a timestamp, within a run's year."""
    import math

    if "Seconds" in state:
        seconds = state["Seconds"]
        number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
        if not number or not math.isfinite(seconds) or not 0 <= seconds <= MAX_RUN_SECONDS:
            shown = str(seconds)[:40]
            yield Finding(
                name, f"Seconds {shown} is not a number of seconds from 0 to {MAX_RUN_SECONDS} (a run's year)"
            )
    if "Timestamp" in state:
        try:
            moment = parse_timestamp(state["Timestamp"])
        except ValueError as exc:
            yield Finding(name, f"Timestamp: {exc}")
            return
        latest = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=MAX_RUN_SECONDS)
        if moment > latest:
            yield Finding(name, f"Timestamp {state['Timestamp']} is more than a year away, past a run's limit")


def checked(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition, or DefinitionError listing its errors (warnings do not count)."""
    errors = [str(finding) for finding in validate(definition) if not finding.warning]
    if errors:
        raise DefinitionError(errors)
    return definition


def validate(definition: Any) -> list[Finding]:
    """Every finding about a definition, in state order."""
    if not isinstance(definition, dict):
        return [Finding("(definition)", "must be a JSON object with StartAt and States")]
    findings: list[Finding] = []
    for key in definition:
        if key not in ("Comment", "StartAt", "States"):
            findings.append(Finding("(definition)", f"unknown top-level field {key!r}"))
    states = definition.get("States")
    if not isinstance(states, dict) or not states:
        return findings + [Finding("(definition)", "States must be a non-empty object")]
    start = definition.get("StartAt")
    if start not in states:
        findings.append(Finding("(definition)", f"StartAt {start!r} does not name a state"))
    for name, state in states.items():
        findings.extend(_validate_state(name, state, states))
    findings.extend(_reachability(start, states))
    return findings


def _validate_state(name: str, state: Any, states: dict[str, Any]) -> Iterator[Finding]:
    if not isinstance(state, dict):
        yield Finding(name, "must be a JSON object")
        return
    kind = state.get("Type")
    if kind in NOT_IN_GLOBUS:
        yield Finding(
            name, f"Type {kind!r} does not exist in Globus Flows (the service rejects it); {NOT_IN_GLOBUS[kind]}"
        )
        return
    if kind not in STATE_FIELDS:
        yield Finding(name, f"unknown Type {kind!r}; use one of {', '.join(sorted(STATE_FIELDS))}")
        return
    for key in state:
        if key == "OutputPath":
            yield Finding(name, "OutputPath is not allowed in Globus Flows; shape the output with ResultPath")
        elif key not in STATE_FIELDS[kind]:
            yield Finding(name, f"unknown field {key!r} for a {kind} state")
    if kind == "Choice":
        yield from _validate_choice(name, state, states)
    elif kind != "Fail":
        # ExpressionEval and Wait have Next only (the Flows API types; docs: authoring-flows/wait_state)
        yield from _validate_transition(name, state, states, allow_end=kind not in ("ExpressionEval", "Wait"))
    if kind == "Action":
        yield from _validate_action(name, state)
    if kind == "Pass" and "Result" in state:
        yield Finding(
            name,
            "Result is not in the Flows API's published Pass schema (the authoring page still names it); "
            "give the value as Parameters",
            warning=True,
        )
    if kind == "Wait" and sum(key in state for key in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath")) != 1:
        yield Finding(name, "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath")
    if kind == "Wait":
        yield from _validate_wait(name, state)
    if kind == "ExpressionEval":
        for required in ("Parameters", "ResultPath"):
            if required not in state:
                yield Finding(name, f"an ExpressionEval state needs {required}")
    for key in ("InputPath", "ResultPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath"):
        if key in state:
            yield from _validate_path(name, key, state[key])
    if "Parameters" in state:
        yield from _validate_parameters(name, state["Parameters"])
    if "Catch" in state:
        catchers = state["Catch"] if isinstance(state["Catch"], list) else [None]
        for number, catcher in enumerate(catchers):
            yield from _validate_catch(name, number, catcher, states)


def _validate_transition(
    name: str, state: dict[str, Any], states: dict[str, Any], allow_end: bool
) -> Iterator[Finding]:
    has_next, ends = "Next" in state, state.get("End") is True
    if "End" in state and not allow_end:
        yield Finding(name, 'this state cannot end the flow; go to a Pass state with "End": true')
    elif "End" in state and state["End"] is not True:
        yield Finding(name, "End must be true when present")
    if has_next and ends:
        yield Finding(name, "has both Next and End")
    elif not has_next and not ends:
        yield Finding(name, "has neither Next nor End")
    elif has_next and state["Next"] not in states:
        yield Finding(name, f"Next {state['Next']!r} does not name a state")


def _validate_action(name: str, state: dict[str, Any]) -> Iterator[Finding]:
    if ("ActionUrl" in state) == ("Handler" in state):
        yield Finding(name, "an Action state needs exactly one of ActionUrl and Handler")
    handler = state.get("Handler")
    url = handler.get("Url") if isinstance(handler, dict) and handler.get("Type") == "ActionProvider" else None
    url = state.get("ActionUrl", url)
    if isinstance(url, str):
        yield from _validate_action_url(name, url)
    if ("Parameters" in state) == ("InputPath" in state):
        yield Finding(name, "an Action state needs exactly one of Parameters and InputPath")
    wait = state.get("WaitTime", 0)
    if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
        yield Finding(name, "WaitTime must be a whole number of seconds")
    if "ExceptionOnActionFailure" not in state:
        yield Finding(
            name,
            "ExceptionOnActionFailure is not set; sources disagree on its default, so say true or "
            "false (this engine uses false)",
            warning=True,
        )


def _validate_action_url(name: str, url: str) -> Iterator[Finding]:
    """A URL the service retired is an error naming its replacement (the service refuses it when the
    flow is created); one no local provider answers is a warning (this engine cannot run it)."""
    from palxfel_globus.engine.providers.registry import retired, runs_locally

    refusal = retired(url)
    if refusal:
        yield Finding(name, f"ActionUrl {refusal}")
    elif not runs_locally(url):
        yield Finding(
            name,
            f"ActionUrl {url} is not an action provider this engine runs (a run fails here with "
            "ActionUnableToRun; 'local serve' refuses the flow)",
            warning=True,
            unresolved=True,
        )


def _validate_choice(name: str, state: dict[str, Any], states: dict[str, Any]) -> Iterator[Finding]:
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        yield Finding(name, "a Choice state needs a non-empty Choices list")
        return
    for number, rule in enumerate(choices):
        where = f"Choices[{number}]"
        if not isinstance(rule, dict) or "Next" not in rule:
            yield Finding(name, f"{where} needs Next")
            continue
        if rule["Next"] not in states:
            yield Finding(name, f"{where}: Next {rule['Next']!r} does not name a state")
        yield from _validate_rule(name, where, {key: value for key, value in rule.items() if key != "Next"})
    if "Default" in state and state["Default"] not in states:
        yield Finding(name, f"Default {state['Default']!r} does not name a state")


def _validate_rule(name: str, where: str, rule: Any) -> Iterator[Finding]:
    if not isinstance(rule, dict):
        yield Finding(name, f"{where} must be an object")
        return
    if "Next" in rule:
        yield Finding(name, f"{where}: Next is only allowed on top-level rules")
    combinators = [key for key in ("And", "Or", "Not") if key in rule]
    if combinators:
        operand = rule[combinators[0]]
        for number, inner in enumerate(operand if combinators[0] != "Not" else [operand]):
            yield from _validate_rule(name, f"{where}.{combinators[0]}[{number}]", inner)
        return
    operators = [key for key in rule if key != "Variable"]
    if "Variable" not in rule:
        yield Finding(name, f"{where} needs Variable (or And, Or, Not)")
    else:
        yield from _validate_path(name, f"{where}.Variable", rule["Variable"])
    known = COMPARISONS | PATH_COMPARISONS | TYPE_TESTS
    if len(operators) != 1 or operators[0] not in known:
        yield Finding(name, f"{where} needs exactly one comparison such as StringEquals or IsPresent, got {operators}")
    elif operators[0] in PATH_COMPARISONS:
        yield from _validate_path(name, f"{where}.{operators[0]}", rule[operators[0]])


def _validate_catch(name: str, number: int, catcher: Any, states: dict[str, Any]) -> Iterator[Finding]:
    where = f"Catch[{number}]"
    if not isinstance(catcher, dict):
        yield Finding(name, "Catch must be a list of objects")
        return
    errors = catcher.get("ErrorEquals")
    if not isinstance(errors, list) or not errors or not all(isinstance(error, str) for error in errors):
        yield Finding(name, f"{where} needs ErrorEquals, a non-empty list of error names")
    if catcher.get("Next") not in states:
        yield Finding(name, f"{where}: Next {catcher.get('Next')!r} does not name a state")
    if "ResultPath" in catcher:
        yield from _validate_path(name, f"{where}.ResultPath", catcher["ResultPath"])


def _validate_path(name: str, where: str, path: Any) -> Iterator[Finding]:
    """A path that parses; a ResultPath must name one place (a reference path, in the States Language)."""
    try:
        if where.endswith("ResultPath"):
            jsonpath.parse_reference(path)
        else:
            jsonpath.parse(path)
    except JsonPathError as exc:
        yield Finding(name, f"{where}: {exc}")


def _validate_parameters(name: str, template: Any, where: str = "Parameters") -> Iterator[Finding]:
    if isinstance(template, list):
        for number, item in enumerate(template):
            yield from _validate_parameters(name, item, f"{where}[{number}]")
        return
    if not isinstance(template, dict):
        return
    seen: dict[str, str] = {}
    for key, value in template.items():
        base = key[:-2] if key.endswith((".$", ".=")) else key
        if base in seen:
            yield Finding(name, f"{where}: {seen[base]!r} and {key!r} both set {base!r}")
        seen[base] = key
        if key.endswith(".$"):
            yield from _validate_path(name, f"{where}.{key}", value)
        elif key.endswith(".="):
            try:
                compile_expression(value)
            except ExpressionError as exc:
                yield Finding(name, f"{where}.{key}: {exc}")
        else:
            yield from _validate_parameters(name, value, f"{where}.{key}")


def successors(state: dict[str, Any], catches: bool = True) -> list[str]:
    """Where a state can go, each once, in the order a reader follows: its choices, Next or Default,
    then (unless ``catches`` is false) where its Catch sends a failure."""
    names = [rule.get("Next") for rule in state.get("Choices", []) if isinstance(rule, dict)]
    names += [state.get("Next"), state.get("Default")]
    if catches:
        names += [catcher.get("Next") for catcher in state.get("Catch", []) if isinstance(catcher, dict)]
    return list(dict.fromkeys(name for name in names if isinstance(name, str)))


def _reachability(start: Any, states: dict[str, Any]) -> Iterator[Finding]:
    if start not in states:
        return
    seen, pending = set(), [start]
    while pending:
        name = pending.pop()
        if name in seen or name not in states or not isinstance(states[name], dict):
            continue
        seen.add(name)
        pending.extend(successors(states[name]))
    for name in states:
        if name not in seen:
            yield Finding(name, f"is unreachable from StartAt {start!r}")
    terminal = [
        name
        for name in seen
        if isinstance(states[name], dict) and (states[name].get("End") is True or states[name].get("Type") == "Fail")
    ]
    if not terminal:
        yield Finding("(definition)", "no reachable state ends the flow (End: true or a Fail state)")
