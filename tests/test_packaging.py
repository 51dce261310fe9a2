"""What ships: the Compute functions run on a bare 3.9 endpoint, the wheel carries its data."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from palxfel_globus import functions
from palxfel_globus.resources import data_dir

REPO = Path(__file__).resolve().parents[1]


def test_compute_functions_need_nothing_newer_than_python_3_9() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("vermin")),
            "--target=3.9-",
            "--no-tips",
            "--violations",
            "--eval-annotations",
            str(data_dir("compute_functions")),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", functions.FUNCTION_NAMES)
def test_each_bundle_imports_only_the_standard_library_and_no_helper_files(name: str) -> None:
    tree = ast.parse(functions.bundled_source(name))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert not any(module.startswith("_") for module in imported)
    top_level_imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert top_level_imports == [], "imports stay inside function bodies"


def test_a_bundle_runs_in_a_bare_interpreter_with_no_site_packages(tmp_path: Path) -> None:
    scan = tmp_path / "dat" / "ue_251023_FXL" / "rawData" / "251023_a_00001_DIR"
    scan.mkdir(parents=True)
    (scan / ".done").touch()
    config = {
        "daq_root": str(tmp_path / "dat"),
        "ledger": str(tmp_path / "ledger"),
        "markers": [".done"],
        "routes": [],
        "quiet_seconds": 0,
    }
    program = (
        "import json, sys\nnamespace = {}\n"
        "exec(sys.stdin.read(), namespace)\n"
        f"print(json.dumps(namespace['list_scans'](config={config!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", program],
        input=functions.bundled_source("list_scans"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert [row["state"] for row in json.loads(result.stdout)["scans"]] == ["pending"]


def test_the_bundle_hash_follows_the_source() -> None:
    assert functions.source_hash("verify_scan") != functions.source_hash("build_manifest")
    assert functions.source_hash("verify_scan") == functions.source_hash("verify_scan")
    assert "def verify_scan(" in functions.bundled_source("verify_scan")


def test_the_wheel_carries_the_flow_definitions_function_sources_and_endpoint_templates(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("palxfel_globus-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in sorted((REPO / "compute_functions").glob("*.py")):
        assert f"palxfel_globus/compute_functions/{source.name}" in names
    for definition in sorted((REPO / "flow_definitions").iterdir()):
        assert f"palxfel_globus/flow_definitions/{definition.name}" in names
    for template in sorted((REPO / "palxfel_globus" / "endpoint_templates").iterdir()):
        assert f"palxfel_globus/endpoint_templates/{template.name}" in names
    assert "palxfel_globus/cli/app.py" in names


def test_the_tree_is_ruff_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(REPO)], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stdout


def test_the_cli_needs_nothing_newer_than_python_3_9() -> None:
    package = Path(functions.__file__).parent
    result = subprocess.run(
        [str(Path(sys.executable).with_name("vermin")), "--target=3.9-", "--no-tips", "--violations", str(package)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_command_modules_keep_their_annotations_evaluated() -> None:
    """On Python 3.9 Typer reads a command's parameters without evaluating string annotations, so in a
    module with ``from __future__ import annotations`` every Annotated option would lose its name and help."""
    for module in sorted((Path(functions.__file__).parent / "cli").glob("*.py")):
        tree = ast.parse(module.read_text("utf-8"))
        postponed = any(isinstance(node, ast.ImportFrom) and node.module == "__future__" for node in tree.body)
        typer_parameters = [
            arg.arg
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef)
            for arg in node.args.args
            if arg.annotation is not None
            and re.search(r"(Option|Argument)\b|\bAnnotated\[", ast.unparse(arg.annotation))
        ]
        assert not (postponed and typer_parameters), f"{module.name}: {typer_parameters}"


def test_the_docs_stand_alone() -> None:
    """Nothing a user or contributor needs lives outside the repository (tests/test_docs.py checks that
    every link leads to a page inside it)."""
    root = Path(__file__).resolve().parents[1]
    for page in [root / "README.md", root / "README.ko.md", *sorted((root / "docs").rglob("*.md"))]:
        assert "DESIGN.md" not in page.read_text("utf-8"), page
    assert "# How the pieces fit" in (root / "docs" / "architecture.md").read_text("utf-8")
