"""Config files: found where documented, every mistake reported as one sentence naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DAQ_COLLECTION, DAQ_ENDPOINT, MS_COLLECTION, UE_COLLECTION

from palxfel_globus.config import CONFIG_ENV, ConfigError, load_config
from palxfel_globus.errors import PalxfelError
from palxfel_globus.units import format_size, parse_duration, parse_size


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "palxfel-globus.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_problems(tmp_path: Path, text: str) -> list[str]:
    """What loading this config text reports, one sentence per mistake (it must not load)."""
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, text))
    return caught.value.problems


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "dat"
    for experiment in ("ue_251023_FXL", "ms_251101_빔정렬"):
        (root / experiment / "rawData").mkdir(parents=True)
    return root


def good_config(root: Path) -> str:
    return f"""
[daq]
root = "{root}"
collection = "{DAQ_COLLECTION}"
collection_root = "/~/dat/"
compute_endpoint = "{DAQ_ENDPOINT.upper()}"
quiet_seconds = "15m"

[[route]]
match = "ue_*"
collection = "{UE_COLLECTION}"
base_path = "/backup/ue"

[[route]]
match = "ms_*"
collection = "{MS_COLLECTION}"
base_path = "/backup/ms"
compute_endpoint = "{DAQ_ENDPOINT}"
verify_root = "/srv/backup/ms"

[timer]
interval = "10m"

[limits]
max_scans = 20
max_bytes = "5TB"
retry_backoff = "1h"

[local]
collections = {{ "{UE_COLLECTION}" = "/srv/ue" }}
endpoints = {{ "{DAQ_ENDPOINT}" = {{ workers = 3 }} }}
"""


def test_a_good_config_becomes_the_function_config(tmp_path: Path, root: Path) -> None:
    config = load_config(write_config(tmp_path, good_config(root)))
    assert config.function_config() == {
        "daq_root": str(root),
        "ledger": str(root / ".palxfel-backup"),
        "collection": DAQ_COLLECTION,
        "collection_root": "/~/dat",
        "markers": [".done", ".complete"],
        "quiet_seconds": 900,
        "routes": [
            {
                "match": "ue_*",
                "collection": UE_COLLECTION,
                "base_path": "/backup/ue",
                "compute_endpoint": None,
                "verify_root": None,
            },
            {
                "match": "ms_*",
                "collection": MS_COLLECTION,
                "base_path": "/backup/ms",
                "compute_endpoint": DAQ_ENDPOINT,
                "verify_root": "/srv/backup/ms",
            },
        ],
        "max_scans": 20,
        "max_bytes": 5 * 10**12,
        "lease_seconds": 12 * 3600,
        "max_attempts": 5,
        "backoff_seconds": 3600,
    }
    assert config.daq.compute_endpoint == DAQ_ENDPOINT, "UUIDs are normalised to lower case"
    assert config.timer_interval == 600
    assert config.local.collections == {UE_COLLECTION: Path("/srv/ue")}
    assert config.local.endpoints == {DAQ_ENDPOINT: 3}


def test_the_file_is_found_by_flag_then_environment_then_working_directory(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, good_config(root))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert load_config().source == Path("palxfel-globus.toml")
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text(good_config(root), encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(elsewhere))
    assert load_config().source == elsewhere
    assert load_config(path).source == path
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.toml"))
    with pytest.raises(PalxfelError, match=r"missing.toml given by \$PALXFEL_GLOBUS_CONFIG does not exist"):
        load_config()


def test_no_config_anywhere_says_how_to_give_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(PalxfelError, match="No configuration found: pass --config FILE"):
        load_config()


def test_every_mistake_is_one_sentence_naming_its_key(tmp_path: Path, root: Path) -> None:
    text = good_config(root)
    text = text.replace(f'collection = "{DAQ_COLLECTION}"', 'collection = "not-a-uuid"')
    text = text.replace(f'root = "{root}"', 'root = "relative/dat"\nrooot = 1')
    text = text.replace('max_bytes = "5TB"', 'max_bytes = "lots"')
    text = text.replace('interval = "10m"', 'interval = "10s"')
    text = text.replace('base_path = "/backup/ue"', 'base_path = "backup/ue"')
    problems = config_problems(tmp_path, text)
    prefix = f"{tmp_path / 'palxfel-globus.toml'}: "
    assert problems == [
        prefix + "[daq]: unknown key 'rooot'; did you mean 'root'?",
        prefix + "[daq].root: 'relative/dat' is a relative path; give an absolute one.",
        prefix + "[daq].collection: 'not-a-uuid' is not a UUID (expected e.g. 1b3c5d7e-0000-4000-8000-000000000000).",
        prefix + "[[route]] #1.base_path: 'backup/ue' is not a collection path; it must start with '/' "
        "(e.g. '/~/dat' or '/dat').",
        prefix + "[timer].interval: 10 s is outside what Globus Timers accept (1 minute to 365 days).",
        prefix + '[limits].max_bytes: expected a size such as 1000000, "200MB" or "5TB".',
    ]


def test_missing_required_keys_and_routes_are_named(tmp_path: Path) -> None:
    problems = config_problems(tmp_path, "[daq]\nmarkers = ['done']\n[local]\nendpoints = { x = 1 }\n")
    assert [problem.split(": ", 1)[1] for problem in problems] == [
        "[daq]: the key 'root' is required.",
        "[daq]: the key 'collection' is required.",
        "[daq]: the key 'collection_root' is required.",
        "[daq]: the key 'compute_endpoint' is required.",
        "[daq].markers: 'done' is not a marker name; markers look like \".done\".",
        '[[route]]: at least one route is required, e.g. match = "ue_*", collection, base_path.',
        "[local].endpoints.x: 'x' is not a UUID (expected e.g. 1b3c5d7e-0000-4000-8000-000000000000).",
    ]


def test_a_route_that_matches_no_experiment_is_an_error(tmp_path: Path, root: Path) -> None:
    text = good_config(root).replace('match = "ms_*"', 'match = "sm_*"')
    problems = config_problems(tmp_path, text)
    assert problems == [
        f"{tmp_path / 'palxfel-globus.toml'}: [[route]] #2 (match = 'sm_*') matches no experiment in {root}; "
        "fix the pattern, or remove the route until such experiments exist."
    ]


def test_destination_verification_needs_its_directory_and_a_ledger_that_ships(tmp_path: Path, root: Path) -> None:
    text = good_config(root).replace('verify_root = "/srv/backup/ms"\n', "")
    text = text.replace('quiet_seconds = "15m"', 'quiet_seconds = "15m"\nledger = "/var/palxfel-ledger"')
    problems = config_problems(tmp_path, text)
    assert [problem.split(": ", 1)[1] for problem in problems] == [
        "[[route]] #2: compute_endpoint and verify_root go together: the destination's Compute endpoint and the "
        "directory that base_path is on it.",
        "[daq].ledger: must be inside [daq].root when a route verifies with Compute, so that the manifests ship "
        "beside the scans.",
    ]


def test_globus_roles_must_be_principal_urns(tmp_path: Path, root: Path) -> None:
    group = "urn:globus:groups:id:6f1c2a4e-5b3d-4c8e-9a7f-0d2e4b6c8a10"
    good = good_config(root) + f'\n[globus]\nclient_id = "{DAQ_ENDPOINT}"\nrun_monitors = ["{group}"]\n'
    assert load_config(write_config(tmp_path, good)).globus.run_monitors == (group,)
    problems = config_problems(tmp_path, good.replace(group, "dm@pal.xfel.kr"))
    assert problems[0].endswith(
        '[globus].run_monitors: expected a list of principal URNs such as "urn:globus:groups:id:<uuid>".'
    )


def test_max_scans_is_capped_to_keep_the_run_state_small(tmp_path: Path, root: Path) -> None:
    text = good_config(root).replace("max_scans = 20", "max_scans = 101")
    problems = config_problems(tmp_path, text)
    assert problems == [
        f"{tmp_path / 'palxfel-globus.toml'}: [limits].max_scans: 101 is more than 100, the most that keeps a run's "
        "state well under the Flows service's 200 KB limit."
    ]


def test_a_missing_daq_root_is_an_error_before_anything_reads_it(tmp_path: Path, root: Path) -> None:
    text = good_config(root).replace(f'root = "{root}"', f'root = "{tmp_path / "gone"}"')
    with pytest.raises(ConfigError, match=r"\[daq\].root: .*gone does not exist or is not a directory"):
        load_config(write_config(tmp_path, text))


def test_invalid_toml_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(PalxfelError, match="is not valid TOML: "):
        load_config(write_config(tmp_path, "[daq\nroot = 1"))


@pytest.mark.parametrize(
    ("text", "seconds"), [(600, 600), ("600", 600), ("90s", 90), ("10m", 600), ("1h30m", 5400), ("1d", 86400)]
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"),
    [(1000, 1000), ("200MB", 200 * 10**6), ("5TB", 5 * 10**12), ("2GiB", 2 * 2**30), ("1.5 GB", 1.5e9)],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["soon", "-5m", True, "10 parsecs"])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_sizes_print_in_decimal_units() -> None:
    assert [format_size(n) for n in (None, 999, 1000, 123_456_789, 5 * 10**15)] == [
        "-",
        "999 B",
        "1.0 kB",
        "123.5 MB",
        "5000.0 TB",
    ]
