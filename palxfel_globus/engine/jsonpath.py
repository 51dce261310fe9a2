"""JSONPath as the States Language uses it (states-language.net, "Paths"), which flows inherit.

A *reference path* (``ResultPath``) names one place: ``$``, ``.key``, ``['key']`` and ``[index]``.
A *path* (``InputPath``, ``key.$``, a Choice's ``Variable``) may also select many: ``[*]`` and
``.*``, slices ``[start:end:step]``, unions ``[0,2]`` and ``['a','b']``, descent ``..key``, and
filters ``[?(@.key)]`` and ``[?(@.key OP value)]`` (OP one of == != < <= > >=). A path that may
select many gives a list of what it found (empty if nothing), as the States Language's JsonPath
does; a reference path gives the one value, or an error if it is not there.

Our own few lines rather than a JSONPath library: a run resolves paths in every state (the
per-state overhead target is 20,000 states/s, kept by the reference-path fast lane), and setting a
``ResultPath`` needs create-on-write that libraries make awkward.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from palxfel_globus.engine.errors import JsonPathError


@dataclass(frozen=True)
class Slice:
    start: Optional[int]
    stop: Optional[int]
    step: Optional[int]


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Union_:
    members: tuple[Union[str, int], ...]


@dataclass(frozen=True)
class Descend:
    """``..key`` (or ``..*`` with ``key`` None): every value under the node, at any depth."""

    key: Optional[str]


@dataclass(frozen=True)
class Filter:
    """``[?(@.a.b)]`` (``compare`` None: the child has that path) or ``[?(@.a OP literal)]``."""

    path: tuple[Union[str, int], ...]
    compare: Optional[str]
    value: Any


Step = Union[str, int, Slice, Wildcard, Union_, Descend, Filter]
_NAME = r"""\.([^.\[\]'"*][^.\[\]'"]*)"""
_QUOTED = r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\""""
_STEP = re.compile(rf"""{_NAME}|\[(-?\d+)\]|\[(?:{_QUOTED})\]""")
_OPERATOR_STEP = re.compile(
    r"""\.\*|\[\*\]|\.\.(\*|[^.\[\]'"*]+)|\[(-?\d*):(-?\d*)(?::(-?\d*))?\]|\[\?\((.*?)\)\]|\[([^\]]*,[^\]]*)\]"""
)
_FILTER = re.compile(r"""^\s*@((?:\.[^.\[\]\s=!<>]+|\[-?\d+\])+)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$""")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MISSING = object()  # lookup's "no default": a missing path is an error
_ABSENT = object()  # what lookup gives for a missing path when asked to


@functools.lru_cache(maxsize=4096)
def parse(path: str) -> tuple[Step, ...]:
    """``$.a['b c'][0]`` -> ("a", "b c", 0); operators give their Step objects; JsonPathError for
    anything else."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise JsonPathError(f"{path!r} is not a JSONPath (it must start with '$')")
    steps: list[Step] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is not None and not path.startswith("..", position):
            key, index, single, double = match.groups()
            if index is not None:
                steps.append(int(index))
            else:
                steps.append(key if key is not None else (single if single is not None else double))
            position = match.end()
            continue
        operation = _OPERATOR_STEP.match(path, position)
        if operation is None:
            raise JsonPathError(f"{path!r} is not a JSONPath this engine understands (at {path[position:]!r})")
        steps.append(_operator(path, operation))
        position = operation.end()
    return tuple(steps)


def _operator(path: str, match: re.Match[str]) -> Step:
    descend, start, stop, step, condition, union = match.groups()
    text = match.group(0)
    if text in (".*", "[*]"):
        return Wildcard()
    if descend is not None:
        return Descend(None if descend == "*" else descend)
    if condition is not None:
        return _filter(path, condition)
    if union is not None:
        return Union_(tuple(_member(path, member) for member in union.split(",")))
    numbers = [None if not part else int(part) for part in (start, stop, step)]
    if numbers[2] == 0:
        raise JsonPathError(f"{path!r}: a slice's step cannot be 0")
    return Slice(*numbers)


def _member(path: str, text: str) -> Union[str, int]:
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    raise JsonPathError(f"{path!r}: {text!r} in a union is neither an index nor a quoted name")


def _filter(path: str, condition: str) -> Filter:
    match = _FILTER.match(condition)
    if match is None:
        raise JsonPathError(f"{path!r}: the filter ?({condition}) is not @.path or @.path OP value")
    inner, compare, literal = match.groups()
    value = None
    if compare is not None:
        text = literal.replace("'", '"') if literal.startswith("'") else literal
        try:
            value = json.loads(text)
        except ValueError:
            raise JsonPathError(f"{path!r}: {literal!r} in a filter is not a number, string, boolean or null") from None
    return Filter(parse("$" + inner), compare, value)


def is_reference(steps: tuple[Step, ...]) -> bool:
    """Whether the path names one place (only names and indexes): what a ResultPath must be."""
    return all(isinstance(step, (str, int)) for step in steps)


def parse_reference(path: str) -> tuple[Step, ...]:
    steps = parse(path)
    if not is_reference(steps):
        raise JsonPathError(f"{path!r} selects many values; this needs a path to one place ($.a.b or $.a[0])")
    return steps


def lookup(document: Any, steps: tuple[Step, ...], default: Any = _MISSING) -> Any:
    if not is_reference(steps):
        return [value for value in _select([document], steps)]
    value = document
    for step in steps:
        try:
            if isinstance(step, int):
                if not isinstance(value, list):
                    raise TypeError
                value = value[step]
            else:
                if not isinstance(value, dict):
                    raise TypeError
                value = value[step]
        except (KeyError, IndexError, TypeError):
            if default is not _MISSING:
                return default
            raise JsonPathError(f"the path {render(steps)} does not exist in the run state") from None
    return value


def _select(nodes: list[Any], steps: tuple[Step, ...]) -> list[Any]:
    """Every value ``steps`` reach from any of ``nodes`` (a path that may select many)."""
    for step in steps:
        nodes = [found for node in nodes for found in _children(node, step)]
    return nodes


def _children(node: Any, step: Step) -> list[Any]:
    if isinstance(step, (str, int)):
        found = lookup(node, (step,), _ABSENT)
        return [] if found is _ABSENT else [found]
    if isinstance(step, Wildcard):
        return list(node.values()) if isinstance(node, dict) else list(node) if isinstance(node, list) else []
    if isinstance(step, Slice):
        return node[step.start : step.stop : step.step] if isinstance(node, list) else []
    if isinstance(step, Union_):
        return [found for member in step.members for found in _children(node, member)]
    if isinstance(step, Descend):
        return _descend(node, step.key)
    items = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
    return [item for item in items if _passes(item, step)]


def _descend(node: Any, key: Optional[str]) -> list[Any]:
    found = []
    children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
    if key is None:
        found.extend(children)
    elif isinstance(node, dict) and key in node:
        found.append(node[key])
    for child in children:
        found.extend(_descend(child, key))
    return found


def _passes(item: Any, condition: Filter) -> bool:
    value = lookup(item, condition.path, _ABSENT)
    if value is _ABSENT:
        return False
    if condition.compare is None:
        return True
    try:
        return bool(_COMPARE[condition.compare](value, condition.value))
    except TypeError:  # a string against a number never matches, as in the States Language
        return False


def get(document: Any, path: str) -> Any:
    return lookup(document, parse(path))


def exists(document: Any, path: str) -> bool:
    marker = object()
    return lookup(document, parse(path), marker) is not marker


def put(document: Any, path: str, value: Any) -> Any:
    """The document with ``value`` at ``path`` (``$`` replaces it), creating objects on the way."""
    steps = parse_reference(path)
    if not steps:
        return value
    if not isinstance(document, dict):
        document = {}
    target = document
    for step in steps[:-1]:
        if isinstance(step, int):
            if not isinstance(target, list) or not -len(target) <= step < len(target):
                raise JsonPathError(f"cannot write through {path}: index {step} does not exist")
            target = target[step]
            continue
        child = target.get(step)
        if not isinstance(child, (dict, list)):
            child = target[step] = {}
        target = child
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(target, list) or not -len(target) <= last < len(target):
            raise JsonPathError(f"cannot write through {path}: index {last} does not exist")
    elif not isinstance(target, dict):
        raise JsonPathError(f"cannot write {path}: its parent is not an object")
    target[last] = value
    return document


def render(steps: tuple[Step, ...]) -> str:
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in steps)
