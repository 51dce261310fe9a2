"""An unchanged third-party client (tests/data/third_party_client.py: globus-sdk and the Compute SDK only)
against 'local serve' with nothing but env.sh's variables: it registers a function the Compute SDK's
default way (serialized, not source text), deploys a flow that runs it through the Compute action
provider and then a Transfer, follows the run to SUCCEEDED and reads its log.

The Compute SDK takes no service URL of ours: it goes to http://localhost:5000 when
GLOBUS_SDK_ENVIRONMENT is ``local`` (globus_compute_sdk/sdk/_environments.py), so the emulator
answers Compute there too and env.sh says ``local``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from palxfel_globus.config import load_config
from palxfel_globus.demo import make_site
from palxfel_globus.emulator.server import COMPUTE_SDK_PORT, Emulator

CLIENT = Path(__file__).parent / "data" / "third_party_client.py"


def _free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def test_a_compute_sdk_script_registers_its_function_and_a_flow_runs_it_then_copies(tmp_path: Path) -> None:
    pytest.importorskip("globus_compute_sdk", reason="the Compute SDK needs Python 3.10 or newer")
    if not _free(COMPUTE_SDK_PORT):
        pytest.skip(f"port {COMPUTE_SDK_PORT}, where the Compute SDK looks for a local service, is taken")
    site = make_site(tmp_path / "site", scans=1, total_bytes=2000)
    server = Emulator(load_config(site.config_path), tmp_path / "state", compute_sdk_port=COMPUTE_SDK_PORT)
    server.start()
    try:
        (source, source_dir), (destination, destination_dir) = list(server.collections.items())[:2]
        (source_dir / "hello.txt").write_text("hello from the DAQ")
        environment = {**os.environ, **server.environment(), "HOME": str(tmp_path / "home")}
        arguments = [server.config.daq.compute_endpoint, source, destination, "/~/hello.txt"]
        answer = subprocess.run(
            [sys.executable, str(CLIENT), *arguments], env=environment, capture_output=True, text=True, timeout=300
        )
        assert answer.returncode == 0, answer.stderr
        result = json.loads(answer.stdout)
        run = result["run"]
        assert run["status"] == "SUCCEEDED", run["details"]
        assert run["details"]["output"]["shouted"]["details"]["result"] == ["HELLO!"]
        assert (destination_dir / "copied.txt").read_text() == "hello from the DAQ"
        assert result["log"][0] == "FlowStarted" and result["log"][-1] == "FlowSucceeded"
        assert {"ActionStarted", "ActionCompleted"} <= set(result["log"])
        registered = server.store.get("function", result["function_id"])
        assert registered["encoding"] == "compute-sdk", "the Compute SDK's default serialization, not source text"
    finally:
        server.stop()
