"""``palxfel-globus scans ...`` as a person and a script see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from conftest import NOW, Daq
from test_config import good_config

from palxfel_globus.cli import app as cli_app

EXPERIMENT = "ue_251023_FXL"


@pytest.fixture
def tree(daq: Daq) -> Daq:
    daq.scan(EXPERIMENT, number=1)
    daq.scan(EXPERIMENT, number=2, marker=None)
    daq.scan("ms_251101_빔정렬", "빔 정렬", 1, marker="sibling")
    daq.find("run-1")
    daq.ship(EXPERIMENT, "251023_alignment_00001_DIR")
    return daq


def test_list_shows_every_scan_with_its_state_in_a_table(tree: Daq, cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = cli("scans", "list", "--daq-root", str(tree.root))
    assert (code, err) == (0, "")
    assert "251023_alignment_00001_DIR" in out and "shipped" in out
    assert "251101_빔 정렬_00001_DIR" in out and "claimed" in out
    assert "3 scans: 1 shipped, 1 claimed, 1 incomplete." in out


def test_list_json_is_an_array_with_the_documented_keys(tree: Daq, cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = cli("scans", "list", "--daq-root", str(tree.root), "--json")
    rows = json.loads(out)
    assert code == 0
    assert [
        (row["experiment"], row["kind"], row["scan"], row["state"], row["files"], row["bytes"]) for row in rows
    ] == [
        ("ue_251023_FXL", "ue", "251023_alignment_00001_DIR", "shipped", 5, 4000),
        ("ue_251023_FXL", "ue", "251023_alignment_00002_DIR", "incomplete", 4, 4000),
        ("ms_251101_빔정렬", "ms", "251101_빔 정렬_00001_DIR", "claimed", 4, 4000),
    ]


def test_list_reads_the_config_file_and_its_routes(
    tree: Daq, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    config = tmp_path / "palxfel-globus.toml"
    config.write_text(good_config(tree.root), encoding="utf-8")
    code, out, _ = cli("scans", "list", "--config", str(config), "--json")
    assert code == 0
    assert json.loads(out)[0]["destination"] == {
        "collection": tree.config["routes"][0]["collection"],
        "path": "/backup/ue/ue_251023_FXL/rawData/251023_alignment_00001_DIR/",
    }


def test_problems_go_to_stderr_and_json_on_stdout_stays_parseable(
    tree: Daq, cli: Callable[..., tuple[int, str, str]]
) -> None:
    (tree.root / "notes").mkdir()
    code, out, err = cli("scans", "list", "--daq-root", str(tree.root), "--json")
    assert code == 0 and len(json.loads(out)) == 3
    expected = f"{tree.root / 'notes'} is not named <kind>_<YYMMDD>_<tag>; it is not an experiment and is skipped."
    assert err == f"Warning: {expected}\n"


def test_retry_and_forget_change_the_ledger(tree: Daq, cli: Callable[..., tuple[int, str, str]]) -> None:
    tree.call(
        "record_outcome",
        run_id="run-1",
        now=NOW,
        outcomes=[{"experiment": "ms_251101_빔정렬", "scan": "251101_빔 정렬_00001_DIR", "error": "boom"}],
    )
    code, out, _ = cli("scans", "retry", "251101_빔 정렬_00001_DIR", "--daq-root", str(tree.root))
    assert code == 0
    assert out == "ms_251101_빔정렬/251101_빔 정렬_00001_DIR: was failed; now pending, the next tick ships it.\n"
    code, out, _ = cli(
        "scans",
        "forget",
        "ue_251023_FXL/251023_alignment_00001_DIR",
        "--yes",
        "--daq-root",
        str(tree.root),
        "--json",
    )
    assert code == 0 and json.loads(out)[0]["previous_state"] == "shipped"
    assert tree.states()["ue_251023_FXL/251023_alignment_00001_DIR"] == "pending"


def test_forget_without_yes_is_refused_when_nobody_can_answer(
    tree: Daq, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    code, _, err = cli("scans", "forget", "251023_alignment_00001_DIR", "--daq-root", str(tree.root))
    assert (code, err) == (2, "Error: Refusing to forget scans without --yes when not run interactively.\n")
    assert tree.states()["ue_251023_FXL/251023_alignment_00001_DIR"] == "shipped"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["scans", "list", "--frob"], 2, "Error: No such option: --frob (see 'palxfel-globus scans list --help').\n"),
        (
            ["scans", "list", "--daq-root", "/no/such/dir"],
            2,
            "Error: The DAQ root /no/such/dir given with --daq-root does not exist or is not a directory.\n",
        ),
        (
            ["scans", "list", "--config", "/no/such.toml"],
            2,
            "Error: The config file /no/such.toml given by --config does not exist.\n",
        ),
        (
            ["scans", "list", "--config", "x.toml", "--daq-root", "/"],
            2,
            "Error: Give either --config or --daq-root, not both.\n",
        ),
        (
            ["scans", "retry", "../../etc/passwd", "--daq-root", "/"],
            1,
            "Error: '../../etc/passwd' is not a scan name: give <YYMMDD>_<name>_<NNNNN>_DIR or EXPERIMENT/SCAN.\n",
        ),
        (["scans", "retry"], 2, "Error: Missing argument 'SCAN' (see 'palxfel-globus scans retry --help').\n"),
        (["scans", "nope"], 2, "Error: No such command 'nope' (see 'palxfel-globus scans --help').\n"),
    ],
)
def test_bad_input_is_one_sentence_and_a_non_zero_exit(
    cli: Callable[..., tuple[int, str, str]], args: list[str], code: int, message: str
) -> None:
    assert cli(*args) == (code, "", message)


def test_no_arguments_shows_the_help_and_no_error_line(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = cli("scans")
    assert code == 2 and "Usage: palxfel-globus scans" in out + err and "Error" not in out + err


def test_a_bad_config_prints_one_line_per_mistake(tmp_path: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[daq]\nroot = 'rel'\n", encoding="utf-8")
    code, out, err = cli("scans", "list", "--config", str(config))
    lines = err.splitlines()
    assert code == 2 and out == ""
    assert lines[0] == f"Error: {config}: [daq].root: 'rel' is a relative path; give an absolute one."
    assert all(line.startswith("Error: ") for line in lines) and len(lines) == 5


def test_an_unexpected_failure_is_one_sentence_without_a_traceback(
    tree: Daq, cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("palxfel_globus.functions.call", broken)
    monkeypatch.delenv(cli_app.DEBUG_ENV, raising=False)
    code, _, err = cli("scans", "list", "--daq-root", str(tree.root))
    assert (code, err) == (
        1,
        "Error: Internal error (RuntimeError: disk on fire); rerun with "
        "PALXFEL_GLOBUS_DEBUG=1 and report the traceback.\n",
    )


def test_the_installed_command_runs_and_help_does_not_load_the_globus_sdks(tree: Daq) -> None:
    probe = (
        "import sys; from palxfel_globus.cli.app import main; code = main(['--help']);"
        "print(sorted(m for m in sys.modules if m.startswith(('globus_sdk', 'globus_compute'))))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "scans" in result.stdout and result.stdout.strip().endswith("[]")
    script = Path(sys.executable).with_name("palxfel-globus")
    listed = subprocess.run(
        [str(script), "scans", "list", "--daq-root", str(tree.root), "--json"], capture_output=True, text=True
    )
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 3
    failed = subprocess.run([str(script), "scans", "list", "--daq-root", "/nowhere"], capture_output=True, text=True)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr and failed.stderr.count("\n") == 1
