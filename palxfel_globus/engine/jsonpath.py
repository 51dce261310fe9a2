"""The JSONPath subset flow definitions use: ``$``, ``.key``, ``['key']`` and ``[index]``.

Our own few lines rather than a JSONPath library: flows use only this subset, a run
resolves paths in every state (the per-state overhead target is 20,000 states/s), and
setting a ``ResultPath`` needs create-on-write that libraries make awkward.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Union

from palxfel_globus.engine.errors import JsonPathError

Step = Union[str, int]
_STEP = re.compile(r"""\.([^.\[\]'"]+)|\[(-?\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\["((?:[^"\\]|\\.)*)"\]""")
_MISSING = object()


@functools.lru_cache(maxsize=4096)
def parse(path: str) -> tuple[Step, ...]:
    """``$.a['b c'][0]`` -> ("a", "b c", 0); JsonPathError for anything else."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise JsonPathError(f"{path!r} is not a JSONPath (it must start with '$')")
    steps: list[Step] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise JsonPathError(f"{path!r} is not a JSONPath this engine understands (at {path[position:]!r})")
        key, index, single, double = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(key if key is not None else (single if single is not None else double))
        position = match.end()
    return tuple(steps)


def lookup(document: Any, steps: tuple[Step, ...], default: Any = _MISSING) -> Any:
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


def get(document: Any, path: str) -> Any:
    return lookup(document, parse(path))


def exists(document: Any, path: str) -> bool:
    marker = object()
    return lookup(document, parse(path), marker) is not marker


def put(document: Any, path: str, value: Any) -> Any:
    """The document with ``value`` at ``path`` (``$`` replaces it), creating objects on the way."""
    steps = parse(path)
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
