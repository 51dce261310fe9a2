"""Scans the PAL-XFEL sample scripts already copied are taken over where they are: the first run
verifies them and moves none of their bytes again (issue 27, docs/migration.md).

The copies are made as the samples made them: with the layout ``pal_xfel_auto_transfer.py`` writes
(``<dest-base>/<experiment>/rawData/<scan>/``, ours too), or flat under ``--dest-base-path`` as
``watch_and_trigger.py`` writes them and then moved into place by the script docs/migration.md gives;
and with fresh modification times, since the samples' flow does not preserve them. The local engine's
Transfer is a checksum sync, as Globus' is: an identical file is not copied, so it keeps its inode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from docs_support import REPO, shell_blocks

from palxfel_globus.demo import DemoSite, make_site

Cli = Callable[..., "tuple[int, str, str]"]


def copy_without_times(source: Path, target: Path) -> None:
    """A copy as Transfer without preserve_timestamp leaves it: same bytes, new modification times."""
    shutil.copytree(source, target, copy_function=shutil.copyfile)


def data_files(site: DemoSite) -> dict[Path, tuple[int, bytes]]:
    """Every scan file at the destinations (not the manifests the flow adds): its inode and bytes."""
    found = {}
    for root in (site.workdir / "backup-ue", site.workdir / "backup-ms"):
        for path in root.rglob("*"):
            if path.is_file() and "_DIR/" in path.as_posix():
                found[path] = (path.stat().st_ino, path.read_bytes())
    return found


def move_script() -> str:
    """The migration page's script that moves the watcher's flat copies into place, after its first
    line (where a person writes the three directories)."""
    (script,) = [
        block.text for block in shell_blocks(REPO / "docs" / "migration.md", "template") if "for copy" in block.text
    ]
    first, rest = script.split("\n", 1)
    assert first.startswith("DAQ=") and " OLD=" in first and " NEW=" in first
    return rest


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    return make_site(tmp_path / "site", scans=12, total_bytes=6_000_000)


def complete(site: DemoSite) -> list:
    return [scan for scan in site.scans if scan.kind == "complete"]


def first_run_moves_nothing_of_the_copies(site: DemoSite, cli: Cli) -> None:
    before = data_files(site)
    assert len(before) > 20
    code, out, err = cli("local", "run", "--config", str(site.config_path), "--once", "--json")
    summary = json.loads(out)
    assert (code, err, summary["status"]) == (0, "", "SUCCEEDED")
    assert sorted(summary["shipped"]) == sorted(f"{scan.experiment}/{scan.name}" for scan in complete(site))
    after = data_files(site)
    assert after == before, "every copy kept its inode and its bytes: none was written again"
    manifests = [path for root in ("backup-ue", "backup-ms") for path in (site.workdir / root).rglob("*.manifest.json")]
    assert len(manifests) == len(complete(site))
    assert summary["bytes_transferred"] == sum(path.stat().st_size for path in manifests), "only the manifests moved"


def test_copies_in_our_layout_are_verified_where_they_are(site: DemoSite, cli: Cli) -> None:
    """pal_xfel_auto_transfer.py's layout: the route's base_path is its --dest-base."""
    for scan in complete(site):
        copy_without_times(scan.path, site.destination(scan))
    first_run_moves_nothing_of_the_copies(site, cli)


def test_the_watchers_flat_copies_are_moved_into_place_then_verified(site: DemoSite, cli: Cli) -> None:
    """watch_and_trigger.py's layout (<dest-base-path>/<scan>/) on the ue_* destination, moved by the
    page's script; the machine-study copies are already in place."""
    watcher = site.workdir / "backup-ue" / "watcher"
    for scan in complete(site):
        if scan.experiment.startswith("ue_"):
            copy_without_times(scan.path, watcher / scan.name)
        else:
            copy_without_times(scan.path, site.destination(scan))
    variables = f'DAQ="{site.daq_root}" OLD="{watcher}" NEW="{site.workdir / "backup-ue" / "backup" / "ue"}"\n'
    moved = subprocess.run(["bash", "-c", variables + move_script()], capture_output=True, text=True, check=True)
    assert moved.stdout == moved.stderr == ""
    assert not any(watcher.iterdir()), "every copy found its experiment"
    first_run_moves_nothing_of_the_copies(site, cli)
