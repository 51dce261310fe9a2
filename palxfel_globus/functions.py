"""The Compute functions exactly as an endpoint runs them.

Each entry file in ``compute_functions/`` imports its helpers with plain
``from _helper import ...`` lines so that linters and readers see real code. An endpoint
has none of our files, so the registered source of an entry function is a bundle: the
helper files it needs (each once, dependencies first) followed by the entry file with
those import lines removed. Tests and the local engine run that same bundle, so what is
tested is what gets registered; its hash is what deploy compares.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from palxfel_globus.errors import PalxfelError
from palxfel_globus.resources import data_dir

FLOW_FUNCTIONS = (  # what the scan_backup flow calls: deploy registers these
    "find_completed_scans",
    "build_manifest",
    "verify_scan",
    "record_outcome",
    "share_rules",
    "catalog_entries",
    "copy_items",
)
RESTORE_FUNCTIONS = ("restore_scans", "copy_items", "verify_scan")  # what the restore flow calls
REGISTERED_FUNCTIONS = (*FLOW_FUNCTIONS, "restore_scans")  # what deploy registers
FUNCTION_NAMES = (
    *REGISTERED_FUNCTIONS,
    "list_scans",
    "manage_scan",
    "plan_release",
)  # the CLI runs these three on the DAQ host


def _helper_imports(tree: ast.Module) -> list[ast.ImportFrom]:
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("_")
    ]


def _without_lines(source: str, nodes: list[ast.ImportFrom]) -> str:
    drop = {line for node in nodes for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
    return "".join(line for number, line in enumerate(source.splitlines(True), 1) if number not in drop)


def _bundle_parts(path: Path, seen: set[str]) -> list[str]:
    source = path.read_text(encoding="utf-8")
    imports = _helper_imports(ast.parse(source, str(path)))
    parts: list[str] = []
    for node in imports:
        module = node.module or ""
        if module not in seen:
            seen.add(module)
            parts += _bundle_parts(path.parent / f"{module}.py", seen)
    return [*parts, _without_lines(source, imports)]


@functools.cache
def bundled_source(name: str) -> str:
    """The self-contained source registered for the entry function ``name``."""
    if name not in FUNCTION_NAMES:
        raise PalxfelError(f"There is no Compute function named {name!r}.")
    return "\n\n".join(_bundle_parts(data_dir("compute_functions") / f"{name}.py", set()))


def source_hash(name: str) -> str:
    return hashlib.sha256(bundled_source(name).encode("utf-8")).hexdigest()


@functools.cache
def _namespace(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"palxfel_compute_{name}"}
    exec(compile(bundled_source(name), f"<compute function {name}>", "exec"), namespace)
    return namespace


def load(name: str) -> Callable[..., Any]:
    """The entry function, compiled from its bundle (as an endpoint would)."""
    return _namespace(name)[name]


def call(name: str, function: str = "", **kwargs: Any) -> Any:
    """Run a function here (the entry ``name``, or another ``function`` of its bundle); its refusals
    (``DaqError``) become a ``PalxfelError`` sentence."""
    namespace = _namespace(name)
    try:
        return namespace[function or name](**kwargs)
    except namespace["DaqError"] as exc:
        raise PalxfelError(str(exc), exit_code=1) from exc  # the cause may carry more (ClaimedError.run_id)


@functools.cache
def layout() -> ModuleType:
    """``compute_functions/_layout.py`` as a module: the name parser and path mapping, for the CLI."""
    spec = importlib.util.spec_from_file_location(
        "palxfel_globus._daq_layout", data_dir("compute_functions") / "_layout.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
