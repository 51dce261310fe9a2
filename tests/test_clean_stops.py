"""Ctrl-C and SIGTERM stop ``local run`` and ``demo`` with one line and no traceback or warning, and
no process of theirs is left behind (issue 27).

Each test starts the real command in its own session, as a shell starts a foreground job, and sends
a real signal: Ctrl-C at a terminal is SIGINT to every process of the job (the command, its fork
server, its Compute workers); ``kill PID`` and systemd's stop are SIGTERM to the command alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from palxfel_globus.demo import make_site

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table in /proc")


def session_processes(session: int) -> set[int]:
    """The processes left in ``session`` (the command's fork server and workers stay in it)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """The command as a terminal's shell starts a foreground job: its own process group, and the
    default Ctrl-C action (a shell running pytest in the background would hand down an ignored one)."""
    return subprocess.Popen(
        [sys.executable, "-m", "palxfel_globus", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, "COLUMNS": "200"},
    )


def wait_for_line(process: subprocess.Popen[str], text: str) -> None:
    """Read stdout until a line holds ``text``."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if text in line:
            return
    raise AssertionError(f"the command ended before printing {text!r}: {''.join(lines)}")


def stop_and_check(process: subprocess.Popen[str], how: str) -> None:
    """Send the signal ``how`` asks for; the command says one line, exits 128 + the signal, and
    leaves no process behind."""
    session = os.getsid(process.pid)
    before = session_processes(session)
    if how == "Ctrl-C":
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGTERM)
    _out, err = process.communicate(timeout=120)
    assert err == f"Stopped ({how}).\n"
    assert process.returncode == 128 + (signal.SIGINT if how == "Ctrl-C" else signal.SIGTERM)
    assert len(before) > 1, "the Compute workers were running when the signal came"
    deadline = time.monotonic() + 60  # the workers end as soon as they see the command gone
    while session_processes(session) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not session_processes(session), "a process of the command outlived it"


@pytest.mark.parametrize("how", ["Ctrl-C", "SIGTERM"])
def test_local_run_stops_cleanly_between_ticks(tmp_path: Path, how: str) -> None:
    """Running until stopped (as the docs say to run it), waiting for the next tick."""
    site = make_site(tmp_path / "site", scans=6, total_bytes=60_000)
    process = start("local", "run", "--config", str(site.config_path), "--interval", "1h", cwd=tmp_path)
    wait_for_line(process, "tick 0: SUCCEEDED")
    stop_and_check(process, how)


@pytest.mark.parametrize("how", ["Ctrl-C", "SIGTERM"])
def test_the_demo_stops_cleanly_while_it_runs(tmp_path: Path, how: str) -> None:
    """Stopped while the timer's first run ships the scans: the emulator and its workers go too."""
    process = start("demo", "--workdir", str(tmp_path / "demo"), "--scans", "24", "--size", "240MB", cwd=tmp_path)
    wait_for_line(process, "Deployed the functions")
    stop_and_check(process, how)
