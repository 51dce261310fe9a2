"""Comparing an emulator's answer with globus-sdk's registered response for the same method.

globus-sdk ships, for its own tests, a set of canned answers per client method
(``globus_sdk.testing.get_response_set``): the closest published picture of what each service
answers. ``differences`` compares the shape of two JSON documents: the same keys at every level,
values of the same JSON type (null matches any type: a field set in one answer may be unset in
another), lists element by element against the registered list's first element, or, for run-log
entries, the registered entry with the same ``code``; a run's ``details`` only where the codes
agree (they differ by what happened in the run). What the comparison leaves out is listed in
``Rules``, each with the source that allows it: never to make a test pass, only where the
registered data is older than, or narrower than, another published source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Rules:
    """``extra``: path -> keys the emulator may add there, with the reason; ``optional``: path -> keys
    it may leave out; ``free``: paths holding the caller's own data (a definition, an input), not
    compared below; ``status``: the HTTP status where another source says otherwise, with the reason."""

    extra: dict[str, dict[str, str]] = field(default_factory=dict)
    optional: dict[str, dict[str, str]] = field(default_factory=dict)
    free: tuple[str, ...] = ()
    status: Optional[tuple[int, str]] = None


def registered(method_set: str, case: str = "default", index: int = 0) -> tuple[int, Any]:
    """The (status, JSON) globus-sdk registered for ``method_set`` (e.g. "flows.get_flow") and ``case``."""
    from globus_sdk.testing import get_response_set
    from globus_sdk.testing.models import ResponseList

    response = get_response_set(method_set).lookup(case)
    if isinstance(response, ResponseList):
        response = response.responses[index]
    return response.status, response.json


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object" if isinstance(value, dict) else "null"


def differences(ours: Any, theirs: Any, rules: Rules, path: str = "") -> list[str]:
    """Every way ``ours`` departs from the shape of ``theirs``, as "path: what" sentences."""
    if ours is None or theirs is None or path in rules.free:
        return []
    if _kind(ours) != _kind(theirs):
        return [f"{path or '(top)'}: {_kind(ours)} where the SDK's data has {_kind(theirs)}"]
    if isinstance(theirs, dict):
        if path.endswith("details") and "code" in ours and "code" in theirs and ours["code"] != theirs["code"]:
            return []  # a run's details differ by what happened: compared only where the SDK's data has the code
        found = []
        missing = set(theirs) - set(ours) - set(rules.optional.get(path, {}))
        extra = set(ours) - set(theirs) - set(rules.extra.get(path, {}))
        found += [f"{path or '(top)'}: lacks {key!r}" for key in sorted(missing)]
        found += [f"{path or '(top)'}: has {key!r}, which the SDK's data does not" for key in sorted(extra)]
        for key in sorted(set(ours) & set(theirs)):
            found += differences(ours[key], theirs[key], rules, f"{path}.{key}" if path else key)
        return found
    if isinstance(theirs, list) and theirs and ours:
        if not any(isinstance(other, (dict, list)) for other in theirs):  # scalars: any of the kinds listed
            kinds = {_kind(other) for other in theirs}
            return [
                f"{path}[]: {_kind(item)} where the SDK's data has {'/'.join(sorted(kinds))}"
                for item in ours
                if _kind(item) not in kinds
            ]
        found = []
        for item in ours:
            found += differences(item, _counterpart(item, theirs), rules, f"{path}[]")
        return sorted(set(found))
    return []


def _counterpart(item: Any, theirs: list[Any]) -> Any:
    """The registered element to compare ``item`` with: the one of the same ``code`` (log entries, run
    details), else the first; None (not compared) for a code the SDK's data never shows."""
    if isinstance(item, dict) and "code" in item and all(isinstance(other, dict) for other in theirs):
        same = [other for other in theirs if other.get("code") == item["code"]]
        return same[0] if same else None
    return theirs[0]


@dataclass
class Verdict:
    service: str
    method: str
    case: str
    ours: int
    theirs: int
    problems: list[str]
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    service: str, method: str, case: str, answer: tuple[int, Any], expected: tuple[int, Any], rules: Rules
) -> Verdict:
    status, document = answer
    wanted_status, wanted = expected
    problems = differences(document, wanted, rules)
    allowed_status, why = rules.status or (wanted_status, "")
    if status not in (wanted_status, allowed_status):
        problems.insert(0, f"status {status}, the SDK's data {wanted_status}")
    note = why if status != wanted_status else ""
    return Verdict(service, method, case, status, wanted_status, problems, note)


def table(verdicts: list[Verdict]) -> str:
    """The printed table: one line per served method and case, its verdict, and why where it departs."""
    lines = [f"{'service':9} {'method':34} {'case':28} {'status':>13}  verdict"]
    for verdict in verdicts:
        status = f"{verdict.ours} (sdk {verdict.theirs})"
        mark = "ok" if verdict.ok else "DIFFERS: " + "; ".join(verdict.problems)
        if verdict.ok and verdict.note:
            mark += f" ({verdict.note})"
        lines.append(f"{verdict.service:9} {verdict.method:34} {verdict.case:28} {status:>13}  {mark}")
    return "\n".join(lines)
