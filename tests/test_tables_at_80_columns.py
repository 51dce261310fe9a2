"""Tables on an 80-column terminal: every name, state, size, reason and fix readable (issue 27).

In ``scans list`` a blocked scan's reason used to come one letter per line, or not at all, and a
16.7 MB size read "16.7 M": the table was wider than the terminal. ``doctor`` gave each fix a column
of a few letters a line."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from rich.cells import cell_len
from tests_support import serving

from palxfel_globus.demo import make_site

Cli = Callable[..., "tuple[int, str, str]"]


@pytest.fixture
def listed(tmp_path: Path, cli: Cli) -> tuple[Path, Path]:
    """The demo's tree (Korean names, spaces), one tick shipped, and one scan blocked by a link inside it."""
    site = make_site(tmp_path / "site", scans=12, total_bytes=240_000_000)
    blocked = sorted(site.daq_root.glob("ue_251023_FXL/rawData/*_DIR"))[0]
    (blocked / "ScanInfo" / "alias.h5").symlink_to("/etc/hostname")
    assert cli("local", "run", "--config", str(site.config_path), "--once", "--json")[0] == 0
    return site.config_path, blocked


def scans_list_at(columns: int, config: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _err = cli("scans", "list", "--config", str(config))
    assert code == 0
    return out.splitlines()


def test_every_line_fits_and_says_it_whole(
    listed: tuple[Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, blocked = listed
    lines = scans_list_at(80, config, cli, monkeypatch)
    assert max(cell_len(line.rstrip()) for line in lines) <= 80, "a Korean letter takes two columns"
    for scan in sorted(config.parent.glob("daq/xfel/ffs/dat/*/rawData/*_DIR")):
        (row,) = [line for line in lines if line.startswith(f"    {scan.name} ")]
        assert row.split(scan.name, 1)[1].split()[-2:] in (["20.0", "MB"], ["-", "-"]), row  # the size, whole
    notes = lines[lines.index(next(line for line in lines if line.startswith("12 scans"))) + 1 :]
    notes = notes[: next(number for number, line in enumerate(notes) if line.startswith("Recovery point"))]
    reason = " ".join(" ".join(notes).split())
    assert reason == (
        f"ue_251023_FXL/{blocked.name}, blocked: ScanInfo/alias.h5 leaves the DAQ root; Globus Transfer does not "
        "follow links inside a directory, so replace it with the file itself or remove it; it ships by itself once "
        "that is fixed"
    )


def test_a_wide_terminal_shows_the_notes_beside_the_scans(
    listed: tuple[Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, blocked = listed
    (row,) = [line for line in scans_list_at(200, config, cli, monkeypatch) if line.startswith(f"    {blocked.name} ")]
    assert "blocked" in row and "ScanInfo/alias.h5 leaves the DAQ root;" in row


def test_doctor_says_each_fix_whole(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    site = make_site(tmp_path / "site", scans=3, total_bytes=3000)
    config = ["--config", str(site.config_path)]
    with serving(site.config_path, tmp_path, monkeypatch):
        assert cli("deploy", *config, "--no-subscription")[0] == 0
        monkeypatch.setenv("COLUMNS", "80")
        code, out, _err = cli("doctor", *config)
    lines = out.splitlines()
    assert code == 1, "a flow without a subscription is a check that fails"
    assert max(cell_len(line.rstrip()) for line in lines) <= 80
    said = " ".join(out.split())  # a wrapped cell continues on lines whose other cells are blank
    assert "no subscription: Globus deletes this flow on" in said
    assert "to fix: set [globus] subscription_id, then palxfel-globus deploy" in said
