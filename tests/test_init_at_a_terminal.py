"""``palxfel-globus init`` as a person at a terminal meets it, on a real pseudo-terminal: each answer is
checked when it is given and asked again with the reason; nothing typed before is lost (issue 27)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DAQ_COLLECTION, DAQ_ENDPOINT, MS_COLLECTION, UE_COLLECTION, Daq

from palxfel_globus.config import load_config

pty = pytest.importorskip("pty")
CLIENT = "0c0c0c0c-0000-4000-8000-00000000c11e"


class Terminal:
    """A command on a pseudo-terminal: wait for what it prints, type a line."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.master, worker = pty.openpty()
        environment = {**os.environ, "COLUMNS": "250", "TERM": "dumb"}
        environment.pop("PALXFEL_GLOBUS_CLIENT_ID", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "palxfel_globus", *args],
            stdin=worker,
            stdout=worker,
            stderr=worker,
            cwd=cwd,
            env=environment,
            start_new_session=True,
        )
        os.close(worker)
        self.seen = ""
        self.read_to = 0

    def expect(self, text: str) -> str:
        """Read until ``text`` shows after what was expected before; everything read up to it."""
        deadline = time.monotonic() + 60
        while text not in self.seen[self.read_to :]:
            assert time.monotonic() < deadline, f"never saw {text!r}; the terminal shows:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the command ended and closed the terminal
                    chunk = b""
                assert chunk, f"the command ended before {text!r}:\n{self.seen}"
                self.seen += chunk.decode("utf-8", "replace").replace("\r\n", "\n")
        start = self.read_to
        self.read_to = self.seen.index(text, start) + len(text)
        return self.seen[start : self.read_to]

    def answer(self, prompt: str, line: str) -> None:
        self.expect(prompt)
        os.write(self.master, line.encode() + b"\n")

    def finish(self) -> int:
        code = self.process.wait(timeout=60)
        os.close(self.master)
        return code


@pytest.fixture
def site(daq: Daq) -> Daq:
    daq.scan(experiment="ue_251023_FXL")
    daq.scan(experiment="ms_251020_timing", label="delay")
    return daq


def test_init_at_a_terminal_checks_each_answer_as_it_is_given(site: Daq, tmp_path: Path) -> None:
    target = tmp_path / "etc" / "palxfel-globus.toml"
    target.parent.mkdir()
    terminal = Terminal("init", "--config", str(target), cwd=tmp_path)
    asked_root = "DAQ root directory"
    terminal.answer(asked_root, "")
    terminal.expect("Problem: an answer is needed: the directory that holds the experiments.")
    terminal.answer(asked_root, "relative/dir")
    terminal.expect("Problem: 'relative/dir' is a relative path; give an absolute one; try again.")
    terminal.answer(asked_root, str(site.root))
    terminal.answer("Globus collection id of the DAQ storage", "not-a-uuid")
    terminal.expect("Problem: 'not-a-uuid' is not a UUID")
    terminal.answer("Globus collection id of the DAQ storage", DAQ_COLLECTION)
    terminal.answer("The DAQ root as that collection shows it", "dat")
    terminal.expect("Problem: 'dat' is not a collection path")
    terminal.answer("The DAQ root as that collection shows it", "/~/dat")
    terminal.answer("Globus Compute endpoint id on the DAQ host", DAQ_ENDPOINT)
    terminal.answer("Client id of the native app", CLIENT)
    terminal.answer("Your facility's Globus subscription id", "")  # none yet: the warning then says what it means
    asked_route = "Route: experiments matching GLOB go to"
    terminal.answer(asked_route, f"uee_*={UE_COLLECTION}:/backup/ue")
    terminal.expect(f"Problem: [[route]] #1 (match = 'uee_*') matches no experiment in {site.root}")
    terminal.answer(asked_route, f"ue_*={UE_COLLECTION}:/backup/ue")
    terminal.answer("Another route (empty to finish)", f"*={MS_COLLECTION}:/backup/ms")
    terminal.answer("Another route (empty to finish)", f"ms_*={MS_COLLECTION}:/backup/ms")
    terminal.expect("Problem: [[route]] #3.match: 'ms_*' is never used: route #2 ('*') comes first")
    terminal.answer("Another route (empty to finish)", "")
    end = terminal.expect("checks the collections, the endpoints, the flow and the timer.")
    assert terminal.finish() == 0
    assert f"Wrote {target}." in end
    assert "Warning: no subscription id: without a Globus subscription 'deploy' needs --no-subscription" in end
    assert "Next: 'palxfel-globus login', 'palxfel-globus deploy --no-subscription --dry-run'" in end
    config = load_config(target)
    assert (config.daq.root, config.daq.collection_root, config.globus.client_id) == (site.root, "/~/dat", CLIENT)
    assert [(route.match, route.primary.base_path) for route in config.routes] == [
        ("ue_*", "/backup/ue"),
        ("*", "/backup/ms"),
    ]


def test_a_wrong_option_is_said_before_anything_is_asked(site: Daq, tmp_path: Path) -> None:
    """An answer typed in would be lost if a bad --compute-endpoint were refused only at the end."""
    target = tmp_path / "palxfel-globus.toml"
    terminal = Terminal("init", "--config", str(target), "--compute-endpoint", "nope", "--interval", "5s", cwd=tmp_path)
    said = terminal.expect("(1 minute to 365 days).")
    assert terminal.finish() == 2
    assert "Error: --compute-endpoint: 'nope' is not a UUID" in said and "DAQ root directory" not in said
    assert not target.exists()


def test_the_next_step_init_names_works_without_a_client_id(site: Daq, tmp_path: Path) -> None:
    """Without an app registered, 'login' would stop at "No Globus app": init says to register one first,
    and once it is in the config, login has an app to log in with."""
    from palxfel_globus.globus.auth import make_app

    target = tmp_path / "palxfel-globus.toml"
    flags = ["--daq-root", str(site.root), "--daq-collection", DAQ_COLLECTION, "--collection-root", "/~/dat"]
    flags += [
        "--compute-endpoint",
        DAQ_ENDPOINT,
        "--route",
        f"ue_*={UE_COLLECTION}:/b",
        "--route",
        f"ms_*={MS_COLLECTION}:/m",
    ]
    terminal = Terminal("init", "--config", str(target), *flags, cwd=tmp_path)
    said = terminal.expect("checks the collections, the endpoints, the flow and the timer.")
    assert terminal.finish() == 0
    assert (
        "Next: register a native app at app.globus.org/settings/developers and put its client id in "
        f"{target} ([globus] client_id = \"…\") or in $PALXFEL_GLOBUS_CLIENT_ID; then 'palxfel-globus login'"
    ) in " ".join(said.split())
    with open(target, "a", encoding="utf-8") as config:
        config.write(f'\n[globus]\nclient_id = "{CLIENT}"\n')
    assert make_app(load_config(target)).client_id == CLIENT
