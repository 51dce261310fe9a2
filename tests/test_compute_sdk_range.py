"""deploy registers the functions through the Compute SDK's public call, at both ends of the range
pyproject.toml supports: each end installed in a venv of its own (with the package registry), and
the registration answered by globus_sdk.testing's registered response, as in the other deploy tests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import palxfel_globus
from palxfel_globus.globus.deployment import COMPUTE_SDK_RANGE
from palxfel_globus.resources import data_dir

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

REGISTER = r"""
import json, sys
import responses
from globus_sdk import ComputeClientV3, NullAuthorizer
from globus_sdk.testing import load_response
from globus_compute_sdk.version import __version__

from palxfel_globus.backup import FLOW_FUNCTIONS
from palxfel_globus.functions import bundled_source
from palxfel_globus.globus.deployment import compute_client, register_function

responses.start()
load_response(ComputeClientV3.register_function)
ids = {name: register_function(compute_client(authorizer=NullAuthorizer()), name) for name in FLOW_FUNCTIONS}
bodies = [json.loads(call.request.body) for call in responses.calls]
print(json.dumps({
    "sdk": __version__,
    "ids": ids,
    "names": [body["function_name"] for body in bodies],
    "source_sent": [bundled_source(body["function_name"]) in body["function_code"] for body in bodies],
    "urls": sorted({call.request.url for call in responses.calls}),
}))
"""


def supported_range() -> str:
    import tomllib

    dependencies = tomllib.loads(PYPROJECT.read_text("utf-8"))["project"]["dependencies"]
    (spec,) = [dep for dep in dependencies if dep.startswith("globus-compute-sdk")]
    return spec.split(";")[0][len("globus-compute-sdk") :].strip()


def test_the_deploy_code_and_pyproject_name_the_same_range() -> None:
    assert supported_range() == COMPUTE_SDK_RANGE


@pytest.mark.parametrize("end", ["lowest", "highest"])
def test_registration_works_at_each_end_of_the_supported_compute_sdk_range(tmp_path: Path, end: str) -> None:
    lowest = re.search(r">=\s*([\d.]+)", COMPUTE_SDK_RANGE).group(1)  # type: ignore[union-attr]
    requirement = f"globus-compute-sdk=={lowest}" if end == "lowest" else f"globus-compute-sdk{COMPUTE_SDK_RANGE}"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", requirement, "globus-sdk>=4.9,<5", "responses", "jsonschema"],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    package = tmp_path / "package"
    shutil.copytree(Path(palxfel_globus.__file__).parent, package / "palxfel_globus", dirs_exist_ok=True)
    for data in ("compute_functions", "flow_definitions"):  # as a wheel holds them (an editable install does not)
        shutil.copytree(data_dir(data), package / "palxfel_globus" / data, dirs_exist_ok=True)
    ran = subprocess.run(
        [str(venv / "bin" / "python"), "-c", REGISTER],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(package), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    if end == "lowest":
        assert result["sdk"].split(".")[:2] == lowest.split(".")[:2], "the lowest release of the range ran"
    from palxfel_globus.backup import FLOW_FUNCTIONS

    assert result["names"] == list(FLOW_FUNCTIONS) and all(result["source_sent"])
    assert result["urls"] == ["https://compute.api.globus.org/v3/functions"]
    assert all(result["ids"].values())
