"""The commands the docs show are run, as a newcomer would paste them (issue 27).

Each page's ``sh`` blocks run in order in one shell, as one person's terminal: a fresh directory,
this environment's virtualenv active, a home and a temporary directory of their own, no Globus
variables. An ``sh background`` block is the second terminal the page asks for: it starts in the
background, the next block waits for its first line of output, and when the page is done it gets
Ctrl-C and must stop cleanly. The repository's files (``tests/data/flows``, ``scripts``) are where a
clone has them.

An ``sh setup`` block makes a virtualenv and installs this package into it; that is the environment
this suite is running in, so its ``python3 -m venv`` and ``pip install`` steps are not repeated:
``.venv`` is this environment, and what follows them runs. The ``sh ci`` block is the test command,
which must be, word for word, what CI runs (``.ci/run``); the suite does not run itself.

Blocks that need a Globus account, the DAQ host, or values of your own (``sh globus``, ``sh daq-host``,
``sh template``, ``sh other-tool``) are not run; tests/test_docs.py checks that every command and
option in them exists. The Korean pages show the same code (tests/test_docs.py), so the English
pages are the ones run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from docs_support import REPO, page_pairs, shell_blocks

PAGES = [english for english, _korean in page_pairs() if shell_blocks(english, "", "background", "setup")]
SETUP_STEPS = re.compile(r"^(python3 -m venv \.venv|\.venv/bin/pip install .*)$")
READY_TIMEOUT = 120  # seconds a background block may take to print its first line


def test_the_readme_test_command_is_what_ci_runs() -> None:
    (block,) = shell_blocks(REPO / "README.md", "ci")
    ci = (REPO / ".ci" / "run").read_text("utf-8").strip().splitlines()[-1]
    assert block.text.strip() == ci


def test_some_pages_have_commands_to_run() -> None:
    assert {page.name for page in PAGES} >= {"README.md", "local-engine.md", "local-serve.md", "ledger.md"}


def _without_setup_steps(text: str) -> str:
    """A setup block's commands after the virtualenv and the install, which made this environment."""
    lines = []
    for line in text.splitlines():
        steps = [step.strip() for step in line.split("&&")]
        kept = [step for step in steps if not SETUP_STEPS.match(step)]
        if kept:
            lines.append(" && ".join(kept))
    return "\n".join(lines) + "\n"


def _script(page: Path) -> str:
    """The page's runnable blocks as one bash script, each background block started in its own
    process group and waited for, and stopped with Ctrl-C at the end."""
    parts = ["set -euo pipefail", "set -m", "background=()"]
    for number, block in enumerate(shell_blocks(page, "", "background", "setup")):
        parts.append(f"echo '### {block.where}'")
        if block.kind == "background":
            log = f"background-{number}.log"
            parts.append(f"( {block.text.strip()} ) > {log} 2>&1 &")
            parts.append("background+=($!)")
            parts.append(
                f"for _ in $(seq {READY_TIMEOUT * 10}); do [ -s {log} ] && break; sleep 0.1; done; "
                f"[ -s {log} ] || {{ echo 'the background block printed nothing'; exit 1; }}"
            )
        elif block.kind == "setup":
            parts.append(_without_setup_steps(block.text))
        else:
            parts.append(block.text)
    parts.append(
        'for job in "${background[@]}"; do kill -INT -- "-$job"; '
        'wait "$job" || { echo "a background block did not stop cleanly"; exit 1; }; done'
    )
    return "\n".join(parts) + "\n"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO).as_posix())
def test_the_commands_a_page_shows_run(page: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for entry in REPO.iterdir():  # the clone's files, where the docs say they are
        if entry.name not in (".git", ".venv") and not entry.name.startswith("."):
            (work / entry.name).symlink_to(entry)
    (work / ".venv").symlink_to(Path(sys.prefix))
    for name in ("home", "tmp", "state"):
        (tmp_path / name).mkdir()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GLOBUS_", "PALXFEL_GLOBUS_", "VIRTUAL_ENV"))
    }
    environment.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}",
        HOME=str(tmp_path / "home"),
        TMPDIR=str(tmp_path / "tmp"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        COLUMNS="100",
    )
    result = subprocess.run(
        ["bash", "-c", _script(page)],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    logs = "".join(f"\n--- {log.name}\n{log.read_text('utf-8')}" for log in sorted(work.glob("background-*.log")))
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}{logs}"
    assert "Traceback" not in result.stdout + result.stderr + logs
