"""Config files: found where documented, every mistake reported as one sentence naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import DAQ_COLLECTION, DAQ_ENDPOINT, MS_COLLECTION, UE_COLLECTION
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palxfel_globus.config import CONFIG_ENV, ConfigError, load_config
from palxfel_globus.config_text import toml_value
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
                "destinations": [
                    {
                        "collection": UE_COLLECTION,
                        "base_path": "/backup/ue",
                        "compute_endpoint": None,
                        "verify_root": None,
                    }
                ],
            },
            {
                "match": "ms_*",
                "destinations": [
                    {
                        "collection": MS_COLLECTION,
                        "base_path": "/backup/ms",
                        "compute_endpoint": DAQ_ENDPOINT,
                        "verify_root": "/srv/backup/ms",
                    }
                ],
            },
        ],
        "max_scans": 20,
        "max_bytes": 5 * 10**12,
        "lease_seconds": 10 * 86400,
        "max_attempts": 5,
        "backoff_seconds": 3600,
        "shares": [],
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


def only_problem(tmp_path: Path, text: str) -> str:
    (problem,) = config_problems(tmp_path, text)
    prefix = f"{tmp_path / 'palxfel-globus.toml'}: "
    assert problem.startswith(prefix) and problem.endswith(".") and "\n" not in problem
    return problem[len(prefix) :]


@pytest.mark.parametrize("base_path", ["/~/dat", "/~/dat/backup"])
def test_a_route_back_onto_the_daq_root_is_refused(tmp_path: Path, root: Path, base_path: str) -> None:
    text = good_config(root).replace(
        f'collection = "{UE_COLLECTION}"\nbase_path = "/backup/ue"',
        f'collection = "{DAQ_COLLECTION}"\nbase_path = "{base_path}"',
    )
    assert only_problem(tmp_path, text) == (
        f"[[route]] #1.base_path: {base_path} on the DAQ collection is inside the DAQ root (/~/dat): scans would be "
        "shipped onto themselves and no backup would exist; give a backup collection."
    )


def test_the_daq_collection_outside_the_daq_root_is_a_destination_like_any_other(tmp_path: Path, root: Path) -> None:
    text = good_config(root).replace(
        f'collection = "{UE_COLLECTION}"\nbase_path = "/backup/ue"',
        f'collection = "{DAQ_COLLECTION}"\nbase_path = "/~/bak"',
    )
    assert load_config(write_config(tmp_path, text)).routes[0].primary.base_path == "/~/bak"


def test_a_verify_root_on_the_daq_disk_is_refused(tmp_path: Path, root: Path) -> None:
    text = good_config(root).replace('verify_root = "/srv/backup/ms"', f'verify_root = "{root}/backup"')
    assert only_problem(tmp_path, text) == (
        f"[[route]] #2.verify_root: {root}/backup is inside [daq].root {root}: the backup would live on the DAQ disk."
    )


@pytest.mark.parametrize(
    ("first", "second"), [("*", "ms_*"), ("ms_*", "ms_2511*"), ("ms_*", "ms_251101_빔정렬"), ("ms_*", "ms_*")]
)
def test_a_route_an_earlier_one_shadows_is_refused(tmp_path: Path, root: Path, first: str, second: str) -> None:
    text = good_config(root).replace('match = "ue_*"', 'match = "@first"')
    text = text.replace('match = "ms_*"', f'match = "{second}"').replace("@first", first)
    assert only_problem(tmp_path, text) == (
        f"[[route]] #2.match: {second!r} is never used: route #1 ({first!r}) comes first and takes every experiment "
        "it would; put the narrower route first."
    )


def test_a_narrower_route_first_is_fine(tmp_path: Path, root: Path) -> None:
    text = good_config(root).replace('match = "ue_*"', 'match = "ms_2511*"').replace('match = "ms_*"', 'match = "*"')
    assert [route.match for route in load_config(write_config(tmp_path, text)).routes] == ["ms_2511*", "*"]


@pytest.mark.parametrize("lease", ["0s", "12h", "9d"])
def test_a_lease_shorter_than_a_run_can_hold_its_claims_is_refused(tmp_path: Path, root: Path, lease: str) -> None:
    text = good_config(root).replace('retry_backoff = "1h"', f'retry_backoff = "1h"\nlease = "{lease}"')
    problem = only_problem(tmp_path, text)
    bound = 3600 + 7 * 86400 + 86400 + 86400
    assert problem == (
        f"[limits].lease: {parse_duration(lease)} s is shorter than the longest a run can hold its claims, {bound} s "
        "(discovery 3600 s, transfers 604800 s, a Compute verification 86400 s, recording 86400 s, the flow's "
        f"WaitTimes), so a second run could ship the same scans; remove the key (the default is 10 days) or set at "
        f"least {bound}."
    )
    assert load_config(write_config(tmp_path, good_config(root))).limits.lease_seconds >= bound, "the default holds"


@pytest.mark.parametrize(
    ("key", "value", "sentence"),
    [
        ("lease", "1" * 400, "[limits].lease: 111111111111111111111111111111…11111 is longer than ten years"),
        (
            "lease",
            '"' + "1" * 400 + 's"',
            "[limits].lease: '11111111111111111111111111111…111s' is longer than ten years",
        ),
        ("max_bytes", '"' + "9" * 400 + 'TB"', "[limits].max_bytes: '99999999999999999999999999999…99TB' is more"),
        ("max_attempts", "9" * 400, "[limits].max_attempts: 9999999999999999999999999999999999999999 is more than"),
    ],
)
def test_huge_numbers_are_one_sentence(tmp_path: Path, root: Path, key: str, value: str, sentence: str) -> None:
    text = good_config(root).replace('max_bytes = "5TB"', "").replace("[limits]", f"[limits]\n{key} = {value}")
    assert only_problem(tmp_path, text).startswith(sentence)


KEYS = [
    *(
        ("daq", key)
        for key in ("root", "collection", "collection_root", "compute_endpoint", "markers", "quiet_seconds")
    ),
    *(("limits", key) for key in ("max_scans", "max_bytes", "lease", "max_attempts", "retry_backoff")),
    ("timer", "interval"),
    *(("globus", key) for key in ("client_id", "run_managers", "run_monitors", "subscription_id")),
    *(("notify", key) for key in ("email", "sender", "smtp_host", "smtp_port", "smtp_username", "smtp_password_file")),
    *(("route", key) for key in ("match", "collection", "base_path", "compute_endpoint", "verify_root")),
]
SCALARS = st.one_of(
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=30),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=5), SCALARS, max_size=2))


def toml_of(value: object) -> str:
    """TOML for any value hypothesis makes, floats included (nan, inf)."""
    if isinstance(value, float):
        return (
            "nan" if value != value else ("inf" if value > 0 else "-inf") if abs(value) == float("inf") else repr(value)
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_of(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_value(str(key))} = {toml_of(item)}" for key, item in value.items()) + " }"
    return toml_value(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(KEYS), value=VALUES)
def test_any_value_for_any_key_is_loaded_or_refused_in_sentences(
    tmp_path: Path, root: Path, where: tuple[str, str], value: object
) -> None:
    section, key = where
    text = good_config(root)
    line = f"{key} = {toml_of(value)}"
    if section == "route":
        text = text.replace('[[route]]\nmatch = "ue_*"', f'[[route]]\nmatch = "ue_*"\n{line}', 1)
    else:
        text = re.sub(rf"(?m)^{key} = .*\n", "", text) if section in ("daq", "limits", "timer") else text
        text += f"\n[{section}]\n{line}\n" if f"[{section}]" not in text else ""
        text = text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1) if line not in text else text
    try:
        load_config(write_config(tmp_path, text))
    except ConfigError as error:
        assert error.problems and all("\n" not in problem and problem.endswith(".") for problem in error.problems)
    except PalxfelError as error:
        assert "\n" not in str(error) and "Traceback" not in str(error)


def test_local_guest_collections_and_state_are_read_and_a_collection_has_one_type(tmp_path: Path, root: Path) -> None:
    guest = "cccccccc-0000-4000-8000-00000000000c"
    text = good_config(root).replace(
        "endpoints = {",
        f'guest_collections = {{ "{guest}" = "/srv/guest" }}\nstate = "/var/lib/palxfel-local"\nendpoints = {{',
    )
    config = load_config(write_config(tmp_path, text))
    assert config.local.guest_collections == {guest: Path("/srv/guest")}
    assert config.local.state == Path("/var/lib/palxfel-local")
    assert config.local.all_collections()[guest] == Path("/srv/guest")
    clash = good_config(root).replace(
        "endpoints = {", f'guest_collections = {{ "{UE_COLLECTION}" = "/x" }}\nendpoints = {{'
    )
    (problem,) = config_problems(tmp_path, clash)
    assert problem.endswith(
        f"[local].guest_collections.{UE_COLLECTION}: is also in [local].collections; a collection has one type."
    )
