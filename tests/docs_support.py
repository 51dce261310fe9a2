"""The docs as the tests read them: the pages in both languages and their fenced code blocks.

Every page is in English (``docs/NAME.md``, and ``README.md``) and in Korean (``docs/ko/NAME.md``,
``README.ko.md``). A fenced block's info string says what a reader does with it:

- ``sh``: paste it as it is; the docs runner runs it (tests/test_docs_run.py).
- ``sh background``: paste it in a second terminal; the runner starts it in the background.
- ``sh setup``: it makes the environment the suite runs in (a virtualenv, this package).
- ``sh ci``: the test command, which is what CI runs (``.ci/run``).
- ``sh template``: fill in your own values (collection ids, paths) first.
- ``sh globus``: needs a Globus account and the real services.
- ``sh daq-host``: runs on the DAQ host, as root or its data account (systemd, the endpoint).
- ``sh other-tool``: needs a tool this package does not install (the ``globus`` CLI).
- anything else (``text``, ``toml``): not a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHELL_KINDS = ("", "background", "setup", "ci", "template", "globus", "daq-host", "other-tool")
_FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.DOTALL | re.MULTILINE
)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # where the block starts, 1-based
    language: str  # "sh", "toml", "text", ...
    kind: str  # for sh: one of SHELL_KINDS
    text: str  # dedented

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def page_pairs() -> list[tuple[Path, Path]]:
    """(English page, Korean page) for every page; a page missing in one language is in neither list."""
    pairs = [(REPO / "README.md", REPO / "README.ko.md")]
    english = sorted((REPO / "docs").glob("*.md"))
    korean = sorted((REPO / "docs" / "ko").glob("*.md"))
    names = sorted({page.name for page in english} | {page.name for page in korean})
    pairs += [(REPO / "docs" / name, REPO / "docs" / "ko" / name) for name in names]
    return pairs


def all_pages() -> list[Path]:
    return [page for pair in page_pairs() for page in pair if page.exists()]


def blocks(page: Path) -> list[Block]:
    text = page.read_text("utf-8")
    found = []
    for match in _FENCE.finditer(text):
        indent = len(match["indent"])
        body = "".join(line[indent:] if line[:indent].isspace() else line for line in match["body"].splitlines(True))
        info = match["info"].split()
        language = info[0] if info else ""
        kind = " ".join(info[1:])
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, language, kind, body))
    return found


def shell_blocks(page: Path, *kinds: str) -> list[Block]:
    return [block for block in blocks(page) if block.language == "sh" and (not kinds or block.kind in kinds)]


def prose(page: Path) -> str:
    """The page without its fenced blocks."""
    return _FENCE.sub("", page.read_text("utf-8"))
