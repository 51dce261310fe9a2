"""Reading a JSON file a person named on the command line: any failure is one sentence; and
writing one of ours so that a reader, or a writer killed half-way, sees the old or the new file.

Bounded before the parser recurses: a document nested deeper than any flow needs, a file
larger than the Flows service would take, or an integer too long to convert is refused by
name, never a RecursionError or ValueError from inside ``json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from palxfel_globus.errors import PalxfelError

MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 100  # a flow definition nests a few levels; a run's input a few more


def _depth(text: str) -> int:
    """The deepest nesting of objects and arrays, counted outside strings (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json(text: str, what: str) -> Any:
    """``text`` parsed, or one sentence naming ``what`` (e.g. "The input file x.json")."""
    if len(text) > MAX_JSON_BYTES:
        raise PalxfelError(f"{what} is larger than {MAX_JSON_BYTES // (1024 * 1024)} MB.")
    if _depth(text) > MAX_JSON_DEPTH:
        raise PalxfelError(f"{what} nests objects or arrays more than {MAX_JSON_DEPTH} deep.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PalxfelError(f"{what} is not readable JSON: {exc}.") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise PalxfelError(f"{what} holds a value JSON cannot take here: {str(exc).split(';')[0]}.") from None


def read_json_file(path: Path, what: str) -> Any:
    """The parsed document; ``what`` names the file in the sentence ("input file", "flow definition")."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_JSON_BYTES:
            raise PalxfelError(f"The {what} {path} is larger than {MAX_JSON_BYTES // (1024 * 1024)} MB.")
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PalxfelError(f"The {what} {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PalxfelError(f"The {what} {path} is not readable JSON: {exc}.") from None
    return parse_json(text, f"The {what} {path}")


def write_json(path: Path, document: Any, *, indent: int = 2, sort_keys: bool = False) -> None:
    """Replace ``path`` with ``document`` atomically, through a temporary file of its own beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(json.dumps(document, indent=indent, sort_keys=sort_keys) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
