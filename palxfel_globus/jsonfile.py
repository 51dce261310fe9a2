"""Reading a JSON file a person named on the command line: any failure is one sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from palxfel_globus.errors import PalxfelError


def read_json_file(path: Path, what: str) -> Any:
    """The parsed document; ``what`` names the file in the sentence ("input file", "flow definition")."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PalxfelError(f"The {what} {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PalxfelError(f"The {what} {path} is not readable JSON: {exc}.") from None
