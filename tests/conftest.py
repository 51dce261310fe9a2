"""A DAQ tree in tmp_path and the Compute functions as an endpoint would run them."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from palxfel_globus import functions
from palxfel_globus.sample_tree import mark_complete, part_files, write_scan

NOW = 1_800_000_000.0
DAQ_COLLECTION = "11111111-1111-4111-8111-111111111111"
DAQ_ENDPOINT = "44444444-4444-4444-8444-444444444444"
UE_COLLECTION = "22222222-2222-4222-8222-222222222222"
MS_COLLECTION = "33333333-3333-4333-8333-333333333333"


class Daq:
    """A DAQ root with helpers to add scans and call the functions with its config."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ledger = root / ".palxfel-backup"
        self.rng = random.Random(7)
        self.config: dict[str, Any] = {
            "daq_root": str(root),
            "ledger": str(self.ledger),
            "collection": DAQ_COLLECTION,
            "collection_root": "/~/dat",
            "markers": [".done", ".complete"],
            "quiet_seconds": 0,
            "routes": [
                {"match": "ue_*", "collection": UE_COLLECTION, "base_path": "/backup/ue", "compute_endpoint": None},
                {"match": "ms_*", "collection": MS_COLLECTION, "base_path": "/~/ms", "compute_endpoint": None},
            ],
            "max_scans": 100,
            "max_bytes": 10**12,
            "lease_seconds": 3600,
            "max_attempts": 3,
            "backoff_seconds": 60,
        }

    def scan(
        self,
        experiment: str = "ue_251023_FXL",
        label: str = "alignment",
        number: int = 1,
        marker: Optional[str] = "inner",
        file_bytes: int = 1000,
    ) -> Path:
        date = experiment.split("_")[1]
        scan = write_scan(
            self.root / experiment / "rawData", date, label, number, part_files(number, file_bytes), self.rng
        )
        mark_complete(scan, marker)
        return scan

    def call(self, name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("config", self.config)
        return functions.load(name)(**kwargs)

    def find(self, run_id: str = "run-1", now: float = NOW, **overrides: Any) -> dict[str, Any]:
        return self.call("find_completed_scans", config={**self.config, **overrides}, run_id=run_id, now=now)

    def ship(self, experiment: str, scan: str, run_id: str = "run-1", now: float = NOW) -> dict[str, Any]:
        """Manifest, verify in place and record: what a successful tick does to the ledger."""
        self.call("build_manifest", experiment=experiment, scan=scan, now=now)
        verification = self.verify_at(self.root, experiment, scan)
        return self.call(
            "record_outcome",
            run_id=run_id,
            now=now,
            outcomes=[{"experiment": experiment, "scan": scan, "verification": verification}],
        )

    def verify_at(self, root: Path, experiment: str, scan: str) -> dict[str, Any]:
        import json

        manifest = json.loads((self.ledger / "manifests" / experiment / f"{scan}.json").read_text("utf-8"))
        return functions.load("verify_scan")(
            root=str(root), scan_path=f"{experiment}/rawData/{scan}", manifest=manifest
        )

    def states(self) -> dict[str, str]:
        listed = self.call("list_scans", now=NOW)
        return {f"{row['experiment']}/{row['scan']}": row["state"] for row in listed["scans"]}


@pytest.fixture(autouse=True)
def no_globus_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A shell that sourced a 'local serve' env.sh (or holds a real service identity) must not point
    the tests at a server: every Globus call of a test goes where the test says. The local services'
    state (Search indexes, access rules) goes to a directory of the test's own, not the user's."""
    import os

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))

    for name in list(os.environ):
        if name.startswith(("GLOBUS_SDK_", "GLOBUS_CLI_", "GLOBUS_COMPUTE_")) or name in (
            "GLOBUS_CLIENT_ID",
            "GLOBUS_CLIENT_SECRET",
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    from palxfel_globus.cli.app import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def daq(tmp_path: Path) -> Daq:
    root = tmp_path / "dat"
    root.mkdir()
    return Daq(root)


@pytest.fixture
def globus_responses() -> Any:
    """Globus answers only what a test registers (globus_sdk.testing or responses); anything else fails."""
    import responses

    responses.start()
    yield responses
    responses.stop()
    responses.reset()


@pytest.fixture(scope="session")
def globus_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official globus CLI, which nobody here wrote (with its own globus-sdk and click), in a venv of
    its own from the package registry; the tests that use it are skipped, saying why, where pip cannot
    install it (no registry reachable)."""
    import subprocess
    import sys

    venv = tmp_path_factory.mktemp("globus-cli")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "globus-cli"], capture_output=True, text=True
    )
    if installed.returncode != 0:
        pytest.skip(f"globus-cli cannot be installed here: {installed.stderr.strip().splitlines()[-1:]}")
    return venv / "bin" / "globus"
