"""A config's every mistake is reported in one go: the keys of every section, the routes against the
DAQ tree, the [local] stand-ins, and what deploy would refuse (issue 27). Fixing one mistake must
never only uncover the next."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from palxfel_globus.config import ConfigError, load_config
from palxfel_globus.demo import make_site

Cli = Callable[..., "tuple[int, str, str]"]


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return make_site(tmp_path / "site", scans=3, total_bytes=3000).config_path


def test_mistakes_in_several_sections_the_tree_and_local_come_at_once(config_path: Path) -> None:
    site = config_path.parent
    text = config_path.read_text("utf-8")
    text = text.replace('match = "ms_*"', 'match = "sm_*"')  # no such experiment in the tree
    text = text.replace('retry_backoff = "1m"', 'retry_backof = "1m"')  # a typo in [limits]
    text = text.replace('collection_root = "/xfel/ffs/dat"', 'collection_root = "/xfel"')  # [local] disagrees
    text = text.replace('interval = "1m"', 'interval = "5s"')  # [timer]
    config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(config_path, with_local=True)
    assert raised.value.problems == [
        f"{config_path}: [timer].interval: 5 s is outside what Globus Timers accept (1 minute to 365 days).",
        f"{config_path}: [limits]: unknown key 'retry_backof'; did you mean 'retry_backoff'?",
        f"{config_path}: [[route]] #2 (match = 'sm_*') matches no experiment in {site}/daq/xfel/ffs/dat; fix the "
        "pattern, or remove the route until such experiments exist.",
        f"{config_path}: [local].collections maps the DAQ collection to {site}/daq, where /xfel is "
        f"{site}/daq/xfel, not [daq].root {site}/daq/xfel/ffs/dat.",
    ]


def test_a_broken_stand_in_is_not_reported_twice(config_path: Path) -> None:
    """A [local] value that is itself wrong is one mistake, not also "no directory for the collection"."""
    site = config_path.parent
    config_path.write_text(
        config_path.read_text("utf-8").replace(f'"{site}/backup-ue"', '"relative"'), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config_path, with_local=True)
    assert [problem.split(": ", 2)[1] for problem in raised.value.problems] == [
        "[local].collections.2b62553e-1c8e-53a4-8998-f869355c56d4"
    ]


def test_deploy_names_the_subscription_and_the_mail_server_at_once(config_path: Path, cli: Cli) -> None:
    with open(config_path, "a", encoding="utf-8") as config:
        config.write('\n[notify]\nemail = ["dm@example.org"]\n')
    code, out, err = cli("deploy", "--config", str(config_path), "--dry-run")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Error: [globus] subscription_id is not set")
    assert lines[1].startswith("Error: [notify] email is set, but the Globus notification action provider sends")
