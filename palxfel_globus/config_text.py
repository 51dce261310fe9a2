"""palxfel-globus.toml as text, for ``init`` and the demo: the section layout docs/configuration.md
documents (``[[route]]`` blocks, not inline arrays), so a person can read and edit it later.

Strings are written as JSON strings: TOML basic strings take the same escapes, which makes
any path (quotes, backslashes, Korean) round-trip; DEL, which JSON leaves bare and TOML
refuses, is escaped too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SECTIONS = ("daq", "route", "timer", "limits", "retention", "scrub", "globus", "notify", "catalog", "local")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_value(str(key))} = {toml_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def render_config(document: dict[str, Any], header: str) -> str:
    """The TOML text of ``document`` (sections in docs/configuration.md's order), under ``header`` as comments."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for section in SECTIONS:
        if section not in document:
            continue
        tables = document[section] if section == "route" else [document[section]]
        for table in tables:
            lines += ["", f"[[{section}]]" if section == "route" else f"[{section}]"]
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"
