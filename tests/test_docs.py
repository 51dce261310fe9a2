"""The docs in two languages kept in step, and true to the code (issue 27).

Every page is in English and in Korean. Both versions of a page name the same commands (with the
same options), the same config keys and the same ledger states, and show the same code (comments may
be translated); every command and option they name exists in the CLI, every config key is one the
config accepts, every ledger state is one ``scans list`` shows, and the ledger page documents every
such state. Links between pages lead to files and headings that exist.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import typer
from docs_support import REPO, SHELL_KINDS, all_pages, blocks, page_pairs, prose

from palxfel_globus.cli.app import app
from palxfel_globus.cli.scans import STATE_STYLES
from palxfel_globus.config import ConfigError, parse_config

CLI = typer.main.get_command(app)
TOP_COMMANDS = set(CLI.commands)  # type: ignore[attr-defined]
STATES = set(STATE_STYLES)
PAIRS = page_pairs()
PAIR_IDS = [english.relative_to(REPO).as_posix() for english, _korean in PAIRS]

_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+(?:\n[^`\n]+)*)`(?!`)")  # a span may wrap, not cross a blank line
_COMMAND = re.compile(r"palxfel-globus((?:[ \t]+[a-z][a-z-]*)+)")
_SECTION_KEY = re.compile(r"\[\[?([a-z][a-z_.]*)\]\]?(?:[ .]([a-z][a-z_]*))?")


def code_spans(page: Path) -> list[str]:
    return [" ".join(span.split()) for span in _CODE_SPAN.findall(prose(page))]


def code_texts(page: Path) -> Iterator[str]:
    """What a page shows as code: each inline code span, and each line of its fenced blocks (lines
    continued with a backslash joined, comments dropped)."""
    yield from code_spans(page)
    for block in blocks(page):
        yield from uncommented_lines(block.text)


def uncommented_lines(text: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [re.sub(r"(^|\s)#.*$", "", line).rstrip() for line in joined.splitlines()]
    return [line for line in lines if line.strip()]


def resolve(words: list[str]) -> tuple[Optional[Any], list[str], list[str]]:
    """The command ``words`` name (None if the first is not one), its path, and the words after it."""
    command: Any = CLI
    path: list[str] = []
    for word in words:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command, path = sub, [*path, word]
    return (command if path else None), path, words[len(path) :]


def command_references(text: str) -> Iterator[tuple[str, Any, list[str], str]]:
    """(the path, the command, the options named after it, the text) for each command a piece of code names:
    after 'palxfel-globus', or, for an inline code span, as its first words."""
    starts = [match.start(1) for match in _COMMAND.finditer(text)]
    first = text.split()[0] if text.split() else ""
    if not starts and first in TOP_COMMANDS and not text.startswith("palxfel-globus"):
        starts = [0]
    for start in starts:
        rest = text[start:]
        words = re.findall(r"[a-z][a-z-]*|\S+", rest.split("|")[0].split(";")[0].split("&&")[0])
        command, path, after = resolve(words)
        if command is None and words and re.fullmatch(r"[a-z][a-z-]*", words[0]):
            yield " ".join(words[:1]), None, [], text
            continue
        if command is None:
            continue
        if hasattr(command, "commands") and after and re.fullmatch(r"[a-z][a-z-]*", after[0]):
            yield " ".join([*path, after[0]]), None, [], text  # no such subcommand
            continue
        options = [token.split("=")[0] for token in after if re.fullmatch(r"--[a-z][a-z-]*(=\S*)?", token)]
        yield " ".join(path), command, options, text


def commands_of(page: Path) -> set[str]:
    """Each command a page names, and each command with each option it shows: "scans list", "scans list --json"."""
    named = set()
    for text in code_texts(page):
        for path, _command, options, _text in command_references(text):
            named.add(path)
            named.update(f"{path} {option}" for option in options)
    return named


def config_keys_of(page: Path) -> set[str]:
    """Each config section and key a page names: "[daq]", "[daq] root", "[[route.destination]] base_path"."""
    named = set()
    for text in code_spans(page):
        for match in _SECTION_KEY.finditer(text if text.startswith("[") else ""):
            section = match.group(0).split(" ")[0].split("].")[0].rstrip("]").lstrip("[")
            section_name = f"[[{section}]]" if match.group(0).startswith("[[") else f"[{section}]"
            named.add(section_name)
            if match.group(2):
                named.add(f"{section_name} {match.group(2)}")
    for block in blocks(page):
        if block.language != "toml":
            continue
        section = None
        for line in block.text.splitlines():
            header = re.match(r"\s*(\[\[?[a-z][a-z_.]*\]\]?)", line)
            if header:
                section = header.group(1)
                named.add(section)
                continue
            key = re.match(r"\s*#?\s*([a-z][a-z_]*)\s*=", line)
            if key and section:
                named.add(f"{section} {key.group(1)}")
    return named


def states_of(page: Path) -> set[str]:
    return {text for text in code_spans(page) if text in STATES}


def test_every_page_is_in_both_languages() -> None:
    missing = [str(page.relative_to(REPO)) for pair in PAIRS for page in pair if not page.exists()]
    assert missing == []
    assert len(PAIRS) >= 10, "the README and the docs folder's pages"


@pytest.mark.parametrize(("english", "korean"), PAIRS, ids=PAIR_IDS)
def test_both_languages_name_the_same_commands_keys_and_states(english: Path, korean: Path) -> None:
    for what in (commands_of, config_keys_of, states_of):
        ours, theirs = what(english), what(korean)
        assert ours - theirs == set(), f"{what.__name__}: in {english.name} but not in its Korean page"
        assert theirs - ours == set(), f"{what.__name__}: in the Korean {korean.name} but not in English"


@pytest.mark.parametrize(("english", "korean"), PAIRS, ids=PAIR_IDS)
def test_both_languages_show_the_same_code(english: Path, korean: Path) -> None:
    """Comments may be translated; the commands and the config they show may not differ."""

    def code(page: Path) -> list[tuple[str, str, list[str]]]:
        return [
            (block.language, block.kind, uncommented_lines(block.text))
            for block in blocks(page)
            if block.language in ("sh", "toml")
        ]

    assert code(english) == code(korean)


@pytest.mark.parametrize("page", all_pages(), ids=lambda page: page.relative_to(REPO).as_posix())
def test_every_command_and_option_shown_exists(page: Path) -> None:
    wrong = []
    for text in code_texts(page):
        for path, command, options, where in command_references(text):
            if command is None:
                wrong.append(f"no command 'palxfel-globus {path}' ({where})")
                continue
            known = {name for param in command.params for name in getattr(param, "opts", [])}
            known |= {"--help", "-h"}
            wrong += [f"'{path}' has no option {option} ({where})" for option in options if option not in known]
    assert wrong == []


def _accepts(section: str, key: Optional[str]) -> bool:
    """Whether the config accepts ``key`` in ``section`` (or the section itself), as parse_config says."""
    name = section.strip("[]")
    value: Any = {key: None} if key else {}
    if name == "route.destination":
        document: dict[str, Any] = {"route": [{"match": "x", "destination": [value]}]}
    elif section.startswith("[["):
        document = {name: [value]}
    else:
        document = {name: value}
    try:
        parse_config(document, check_tree=False)
    except ConfigError as error:
        unknown = f"unknown key {key!r}" if key else f"unknown key {name!r}"
        return not any(unknown in problem for problem in error.problems)
    return True


@pytest.mark.parametrize("page", all_pages(), ids=lambda page: page.relative_to(REPO).as_posix())
def test_every_config_key_shown_exists(page: Path) -> None:
    named = sorted(config_keys_of(page))
    unknown = [entry for entry in named if not _accepts(*(entry.split(" ", 1) + [None])[:2])]
    assert unknown == []


@pytest.mark.parametrize("page", [REPO / "docs" / "ledger.md", REPO / "docs" / "ko" / "ledger.md"], ids=str)
def test_the_ledger_page_documents_every_state_scans_list_shows_and_no_other(page: Path) -> None:
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", prose(page), re.MULTILINE))
    assert rows - STATES == set(), "a state the code no longer has"
    assert STATES - rows == set(), "add a row to the table of states for each state 'scans list' shows"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("page", all_pages(), ids=lambda page: page.relative_to(REPO).as_posix())
def test_links_lead_to_pages_and_headings_that_exist(page: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page)):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.is_file() or REPO not in linked.parents:
            broken.append(target)
            continue
        headings = re.findall(r"^#+ (.+)$", prose(linked), re.MULTILINE)
        if anchor and anchor not in {_anchor(heading) for heading in headings}:
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize(("english", "korean"), PAIRS, ids=PAIR_IDS)
def test_each_page_links_to_its_other_language(english: Path, korean: Path) -> None:
    for page, other in ((english, korean), (korean, english)):
        links = {(page.parent / target).resolve() for target in re.findall(r"\]\(([^)#\s]+)\)", prose(page))}
        assert other.resolve() in links, f"{page.relative_to(REPO)} does not link to {other.relative_to(REPO)}"


@pytest.mark.parametrize("page", all_pages(), ids=lambda page: page.relative_to(REPO).as_posix())
def test_every_shell_block_says_what_a_reader_does_with_it(page: Path) -> None:
    kinds = [(block.where, block.kind) for block in blocks(page) if block.language == "sh"]
    assert [(where, kind) for where, kind in kinds if kind not in SHELL_KINDS] == []
    assert not [block.where for block in blocks(page) if block.language in ("bash", "shell", "console", "")]
