"""Where the flow definitions and Compute function sources are, installed or checked out.

A wheel carries them inside the package (``palxfel_globus/flow_definitions``, mapped by
pyproject's force-include); an editable install or a plain checkout has them at the
repository's top level, where the developers' guide wants them.
"""

from __future__ import annotations

from pathlib import Path

from palxfel_globus.errors import PalxfelError

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The directory ``name`` (``flow_definitions`` or ``compute_functions``)."""
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise PalxfelError(
        f"The {name} directory is missing from this installation; reinstall palxfel-globus.", exit_code=1
    )


def package_file(folder: str, name: str) -> Path:
    """A data file that lives inside the package itself (so every install has it)."""
    return _PACKAGE_DIR / folder / name
