"""Every command's --help shows its text as written: config sections such as [local] and
[timer], globs and brackets are not eaten as markup."""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator

import pytest
import typer

from palxfel_globus.cli.app import app

MARKUP_LOOKALIKES = re.compile(r"\[[^\]\s]+\]|\S*\*\S*")  # "[local]", "[globus] …", "ue_*=UUID:/backup/ue"


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(the words that name it, the click command) for the app and everything under it."""
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from commands(command, (*path, name))


def texts(command: Any) -> list[str]:
    found = [command.help or ""]
    found += [getattr(param, "help", None) or "" for param in command.params]
    return [text for text in found if text]


ALL = list(commands(typer.main.get_command(app)))


def test_the_walk_sees_every_command() -> None:
    names = {" ".join(path) for path, _command in ALL}
    assert {"local run", "deploy", "flow simulate", "scans retry", "timer pause", "runs show"} <= names


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(path) or "palxfel-globus" for path, _ in ALL])
def test_help_keeps_every_bracket_and_glob(
    path: tuple[str, ...], command: Any, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _err = cli(*path, "--help")
    assert code == 0
    shown = " ".join(out.split())
    for text in texts(command):
        for token in MARKUP_LOOKALIKES.findall(text):
            assert token.rstrip(".,;)") in shown, f"{' '.join(path)} --help lost {token!r}"
