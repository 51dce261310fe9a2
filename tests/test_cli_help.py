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


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(path) or "palxfel-globus" for path, _ in ALL])
def test_help_reads_like_globus_cli(
    path: tuple[str, ...], command: Any, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flag shows no value type ("--dry-run <bool>" reads as if it took one, and "--dry-run true" is
    an error); the usage line names each argument once, without doubled brackets (issue 27)."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _err = cli(*path, "--help")
    usage = next(line for line in out.splitlines() if "Usage:" in line)
    assert code == 0
    assert "bool" not in out.lower()
    assert not re.search(r"\[\[|\]\]|\{|\}|\.\.\.\.", usage), usage


def test_arguments_say_which_is_which(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    usages = {
        words: next(
            line.split("Usage:")[1].split() for line in cli(*words, "--help")[1].splitlines() if "Usage:" in line
        )
        for words in (("transfer",), ("scans", "retry"), ("scans", "replace"), ("catalog", "search"), ("flow", "show"))
    }
    assert usages[("transfer",)][-2:] == ["SOURCE", "DESTINATION"]
    assert usages[("scans", "retry")][-1] == "[SCAN...]", "optional: --run gives back a run's claims instead"
    assert usages[("scans", "replace")][-1] == "SCAN..."
    assert usages[("catalog", "search")][-1] == "[TEXT]"
    assert usages[("flow", "show")][-1] == "[DEFINITION.json]"


def test_defaults_shown_are_the_defaults(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A default a help text names is shown whole: markdown took "<daq root>/" out of the ledger's."""
    monkeypatch.setenv("COLUMNS", "400")
    ledger_help = " ".join(cli("scans", "list", "--help")[1].split())
    assert "Ledger directory (default: .palxfel-backup in the DAQ root)." in ledger_help
    for words in (("deploy",), ("status",), ("local", "run"), ("scans", "list")):
        shown = " ".join(cli(*words, "--help")[1].split())
        assert "(default: $PALXFEL_GLOBUS_CONFIG or ./palxfel-globus.toml)" in shown, words


def test_a_groups_help_lists_every_command_without_typers_renderer() -> None:
    """`palxfel-globus --help` stays quick: a group's help (usage, text, --help, commands) is drawn with rich
    alone, never importing typer.rich_utils (0.15 s of imports; scripts/bench.py holds the figure)."""
    import os
    import subprocess
    import sys

    program = (
        "import runpy, sys\n"
        "sys.argv = ['palxfel-globus', '--help']\n"
        "try:\n"
        "    runpy.run_module('palxfel_globus', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('rich_utils imported:', 'typer.rich_utils' in sys.modules)\n"
    )
    wide = dict(os.environ, COLUMNS="1000")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=wide)
    assert done.returncode == 0 and "rich_utils imported: False" in done.stdout, done.stderr
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        first = " ".join(command.help.split("\n\n")[0].split())
        assert f"{name} " in done.stdout and first in " ".join(done.stdout.split()), name
