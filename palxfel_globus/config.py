"""``palxfel-globus.toml``: found, parsed and checked before anything touches data.

Every mistake in a file is reported, one sentence each, naming the section and key; a
typo in a key gets a "did you mean". The result is frozen dataclasses, and
``function_config()`` turns them into the plain dict the Compute functions take (they
run where our package is not installed).
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from palxfel_globus.errors import PalxfelError
from palxfel_globus.units import parse_duration, parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the 3.9/3.10 endpoints only
    import tomli as tomllib

CONFIG_ENV = "PALXFEL_GLOBUS_CONFIG"
CONFIG_FILE_NAME = "palxfel-globus.toml"
DEFAULT_MARKERS = (".done", ".complete")
LEDGER_DIR_NAME = ".palxfel-backup"
MAX_SCANS_PER_RUN = 100
MAX_SCRUB_COPIES = 50  # each copy the scrub reads carries its result through the run state, beside the ship's


class ConfigError(PalxfelError):
    """One or more mistakes in a config file; each is one line of the message."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems), exit_code=2)
        self.problems = problems


@dataclass(frozen=True)
class Destination:
    collection: str
    base_path: str
    compute_endpoint: Optional[str] = None  # verify at the destination with Compute ...
    verify_root: Optional[Path] = None  # ... where base_path is this directory on that endpoint

    def function_config(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "base_path": self.base_path,
            "compute_endpoint": self.compute_endpoint,
            "verify_root": None if self.verify_root is None else str(self.verify_root),
        }


@dataclass(frozen=True)
class Route:
    """The experiments ``match`` names, and every place their scans go: a scan is shipped only once each
    destination holds a verified copy. The first destination is the one shares and the catalog name."""

    match: str
    destinations: tuple[Destination, ...]

    @property
    def primary(self) -> Destination:
        return self.destinations[0]


@dataclass(frozen=True)
class Share:
    """Read (or read-write) access for ``principals`` to the backup of each experiment ``match`` names,
    set by the flow as one access rule per experiment and principal on a guest-collection destination."""

    match: str
    principals: tuple[str, ...]
    permissions: str = "r"


@dataclass(frozen=True)
class CatalogSettings:
    """The Globus Search index every shipped scan gets an entry in. An entry is visible to its
    experiment's [[share]] principals; to everyone only when ``public`` says so."""

    index: Optional[str] = None
    public: bool = False


@dataclass(frozen=True)
class DaqSettings:
    root: Path
    collection: Optional[str]
    collection_root: str
    compute_endpoint: Optional[str]
    ledger: Path
    markers: tuple[str, ...] = DEFAULT_MARKERS
    quiet_seconds: int = 0


@dataclass(frozen=True)
class Limits:
    max_scans: int = 50
    max_bytes: int = 5 * 10**12
    lease_seconds: int = 10 * 86400  # above the longest a run can hold its claims (see claim_hold_bound)
    max_attempts: int = 5
    backoff_seconds: int = 600


@dataclass(frozen=True)
class LocalSettings:
    collections: dict[str, Path] = field(default_factory=dict)
    guest_collections: dict[str, Path] = field(default_factory=dict)  # collection_info says guest; access rules
    endpoints: dict[str, int] = field(default_factory=dict)
    state: Optional[Path] = None  # the local services' Search indexes and access rules (default: XDG state)

    def all_collections(self) -> dict[str, Path]:
        return {**self.collections, **self.guest_collections}


@dataclass(frozen=True)
class GlobusSettings:
    client_id: Optional[str] = None  # a native app registered for palxfel-globus (else $PALXFEL_GLOBUS_CLIENT_ID)
    run_managers: tuple[str, ...] = ()  # principal URNs who may cancel the flow's runs
    run_monitors: tuple[str, ...] = ()  # ... and who may watch them
    subscription_id: Optional[str] = None  # without one, Globus keeps one flow per user, for 30 days


@dataclass(frozen=True)
class RetentionSettings:
    """When a shipped scan's DAQ copy may go: ``release_after`` it shipped (None: never), after a fresh
    verification at every destination; at most ``max_release`` scans a run."""

    release_after: Optional[int] = None
    max_release: int = 20


@dataclass(frozen=True)
class ScrubSettings:
    """How often every copy of every shipped and released scan is read back against its manifest: once ``every``
    (None: never), at most ``max_copies`` copies (a scan at one destination) a run."""

    every: Optional[int] = None
    max_copies: int = 20


@dataclass(frozen=True)
class NotifySettings:
    """Who is e-mailed when a run does not ship every scan. The Globus notification action provider
    sends through the facility's own mail server, so a deploy also needs the sender and SMTP login."""

    email: tuple[str, ...] = ()
    sender: Optional[str] = None
    smtp_host: Optional[str] = None
    smtp_port: Optional[int] = None
    smtp_username: Optional[str] = None
    smtp_password_file: Optional[Path] = None


@dataclass(frozen=True)
class Config:
    daq: DaqSettings
    routes: tuple[Route, ...] = ()
    timer_interval: int = 600
    limits: Limits = Limits()
    local: LocalSettings = LocalSettings()
    globus: GlobusSettings = GlobusSettings()
    notify: NotifySettings = NotifySettings()
    shares: tuple[Share, ...] = ()
    catalog: CatalogSettings = CatalogSettings()
    retention: RetentionSettings = RetentionSettings()
    scrub: ScrubSettings = ScrubSettings()
    source: Optional[Path] = None

    def destinations(self) -> Iterator[tuple[int, int, Route, Destination]]:
        """(route number, destination number, route, destination) for every destination of every route."""
        for number, route in enumerate(self.routes, 1):
            for place, destination in enumerate(route.destinations, 1):
                yield number, place, route, destination

    def collections(self) -> list[str]:
        """The Transfer collections the backup flow reads or writes: the DAQ's, then each destination's, once each."""
        found = [self.daq.collection] if self.daq.collection else []
        return list(dict.fromkeys(found + [place[3].collection for place in self.destinations()]))

    def function_config(self) -> dict[str, Any]:
        """The dict the Compute functions take (see compute_functions/_layout.py)."""
        return {
            "daq_root": str(self.daq.root),
            "ledger": str(self.daq.ledger),
            "collection": self.daq.collection,
            "collection_root": self.daq.collection_root,
            "markers": list(self.daq.markers),
            "quiet_seconds": self.daq.quiet_seconds,
            "routes": [
                {
                    "match": route.match,
                    "destinations": [destination.function_config() for destination in route.destinations],
                }
                for route in self.routes
            ],
            "max_scans": self.limits.max_scans,
            "max_bytes": self.limits.max_bytes,
            "lease_seconds": self.limits.lease_seconds,
            "max_attempts": self.limits.max_attempts,
            "backoff_seconds": self.limits.backoff_seconds,
            "shares": [
                {"match": share.match, "principals": list(share.principals), "permissions": share.permissions}
                for share in self.shares
            ],
            **({"catalog": {"index": self.catalog.index, "public": self.catalog.public}} if self.catalog.index else {}),
            **(
                {
                    "retention": {
                        "release_after": self.retention.release_after,
                        "max_release": self.retention.max_release,
                    }
                }
                if self.retention.release_after is not None
                else {}
            ),
            **(
                {"scrub": {"every": self.scrub.every, "max_copies": self.scrub.max_copies}}
                if self.scrub.every is not None
                else {}
            ),
        }


def route_place(number: int, place: int, route: Route) -> str:
    """How a sentence names a destination: "route #2" when it is the route's only one."""
    return f"route #{number}" if len(route.destinations) == 1 else f"route #{number} destination #{place}"


def config_place(number: int, place: int, route: Route) -> str:
    """Where the config file gives a destination: "[[route]] #2" when it is the route's only one."""
    return (
        f"[[route]] #{number}"
        if len(route.destinations) == 1
        else f"[[route]] #{number} [[route.destination]] #{place}"
    )


def daq_only_config(daq_root: Path, ledger: Optional[Path] = None) -> Config:
    """A config for ``--daq-root DIR`` use: no collections, no routes, the default ledger."""
    root = _absolute_dir(daq_root, "--daq-root")
    if ledger is not None and not ledger.is_absolute():
        ledger = ledger.absolute()
    return Config(
        daq=DaqSettings(
            root=root,
            collection=None,
            collection_root="/",
            compute_endpoint=None,
            ledger=ledger or root / LEDGER_DIR_NAME,
        )
    )


def _absolute_dir(path: Path, what: str) -> Path:
    path = path.expanduser().absolute()
    if not path.is_dir():
        raise PalxfelError(f"The DAQ root {path} given with {what} does not exist or is not a directory.")
    return path


def find_config_file(explicit: Optional[Path]) -> Path:
    """``--config``, else ``$PALXFEL_GLOBUS_CONFIG``, else ``./palxfel-globus.toml``."""
    if explicit is not None:
        candidate, origin = explicit, "--config"
    elif os.environ.get(CONFIG_ENV):
        candidate, origin = Path(os.environ[CONFIG_ENV]), f"${CONFIG_ENV}"
    else:
        candidate, origin = Path(CONFIG_FILE_NAME), None
        if not candidate.is_file():
            raise PalxfelError(
                f"No configuration found: pass --config FILE, set {CONFIG_ENV}, or create {CONFIG_FILE_NAME} here."
            )
    if not candidate.is_file():
        raise PalxfelError(f"The config file {candidate} given by {origin} does not exist.")
    return candidate


def load_config(explicit: Optional[Path] = None, *, check_tree: bool = True, with_local: bool = False) -> Config:
    """Find, parse and check the config; ``check_tree`` also checks it against the DAQ root, ``with_local``
    its [local] stand-ins against [daq] and [[route]] (for the commands that run on them)."""
    path = find_config_file(explicit)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PalxfelError(f"Cannot read the config file {path}: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise PalxfelError(f"{path} is not valid TOML: {exc}.") from None
    return parse_config(document, source=path, check_tree=check_tree, with_local=with_local)


class _Checker:
    """Collects one sentence per mistake while reading a TOML document."""

    def __init__(self, source: Optional[Path]) -> None:
        self.prefix = f"{source}: " if source else ""
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        ending = "" if message.endswith(("?", ".")) else "."
        self.problems.append(f"{self.prefix}{where}: {message}{ending}")

    def table(self, document: dict[str, Any], name: str, where: str) -> dict[str, Any]:
        value = document.get(name, {})
        if not isinstance(value, dict):
            self.problem(where, "must be a table")
            return {}
        return value

    def known_keys(self, table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known keys are {', '.join(allowed)}"
                self.problem(where, f"unknown key {key!r}; {hint}")

    def get(self, table: dict[str, Any], key: str, where: str, convert: Callable[[Any], Any], default: Any) -> Any:
        if key not in table:
            if default is _REQUIRED:
                self.problem(where, f"the key {key!r} is required")
            return None if default is _REQUIRED else default
        try:
            return convert(table[key])
        except (ValueError, TypeError) as exc:
            self.problem(f"{where}.{key}", str(exc))
            return None


_REQUIRED = object()


def _uuid(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not a UUID (expected e.g. 1b3c5d7e-0000-4000-8000-000000000000)") from None


def _absolute_path(value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a path as a string")
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~name" of no user on this machine
        raise ValueError(f"{value!r} starts with a user name this machine does not know") from None
    if not path.is_absolute():
        raise ValueError(f"{value!r} is a relative path; give an absolute one")
    return path


def _collection_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"{value!r} is not a collection path; it must start with '/' (e.g. '/~/dat' or '/dat')")
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError(f"{value!r} must not contain '.' or '..' components")
    return value.rstrip("/") or "/"


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{str(value)[:40]!r} is not a whole number of at least 1")
    if value > 1_000_000:
        raise ValueError(f"{str(value)[:40]} is more than a million, which looks like a typo")
    return value


def timer_interval(value: Any) -> int:
    """``[timer] interval`` in seconds, within what Globus Timers accept."""
    seconds = parse_duration(value)
    if not 60 <= seconds <= 365 * 86400:
        raise ValueError(f"{seconds} s is outside what Globus Timers accept (1 minute to 365 days)")
    return seconds


def _markers(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError('expected a non-empty list of names such as [".done", ".complete"]')
    for marker in value:
        if not isinstance(marker, str) or not marker.startswith(".") or "/" in marker or marker in (".", ".."):
            raise ValueError(f'{marker!r} is not a marker name; markers look like ".done"')
    return tuple(value)


def _principals(value: Any) -> tuple[str, ...]:
    pattern = r"urn:globus:(auth:identity|groups:id):[0-9a-fA-F-]{36}"
    if not isinstance(value, list) or not all(isinstance(item, str) and re.fullmatch(pattern, item) for item in value):
        raise ValueError('expected a list of principal URNs such as "urn:globus:groups:id:<uuid>"')
    return tuple(value)


def _address(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def _addresses(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError('expected a list of e-mail addresses such as ["data-manager@example.org"]')
    return tuple(_address(item) for item in value)


def _host(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9.-]+", value):
        raise ValueError(f"{value!r} is not a host name")
    return value


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{value!r} is not a port number (1 to 65535)")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value


def _glob(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError('expected a glob on the experiment name such as "ue_*"')
    return value


DAQ_KEYS = ("root", "collection", "collection_root", "compute_endpoint", "markers", "quiet_seconds", "ledger")
DESTINATION_KEYS = ("collection", "base_path", "compute_endpoint", "verify_root")
ROUTE_KEYS = ("match", *DESTINATION_KEYS, "destination")  # a destination's keys, or [[route.destination]]
LIMIT_KEYS = ("max_scans", "max_bytes", "lease", "max_attempts", "retry_backoff")
NOTIFY_KEYS = ("email", "sender", "smtp_host", "smtp_port", "smtp_username", "smtp_password_file")
TOP_KEYS = (
    "daq",
    "route",
    "timer",
    "limits",
    "local",
    "globus",
    "notify",
    "share",
    "catalog",
    "retention",
    "scrub",
)


def parse_config(
    document: dict[str, Any], *, source: Optional[Path] = None, check_tree: bool = True, with_local: bool = False
) -> Config:
    """A checked ``Config`` from a parsed TOML document, or ``ConfigError`` listing every mistake, all in one
    go: the keys, the routes against the DAQ tree (``check_tree``) and the [local] stand-ins (``with_local``),
    so that fixing one mistake never only uncovers the next."""
    check = _Checker(source)
    check.known_keys(document, TOP_KEYS, "top level")
    problems_before = len(check.problems)

    daq_table = check.table(document, "daq", "[daq]")
    if "daq" not in document:
        check.problem("[daq]", "the section is required (at least root, collection, collection_root, compute_endpoint)")
    check.known_keys(daq_table, DAQ_KEYS, "[daq]")
    root = check.get(daq_table, "root", "[daq]", _absolute_path, _REQUIRED)
    daq = DaqSettings(
        root=root or Path("/"),
        collection=check.get(daq_table, "collection", "[daq]", _uuid, _REQUIRED),
        collection_root=check.get(daq_table, "collection_root", "[daq]", _collection_path, _REQUIRED) or "/",
        compute_endpoint=check.get(daq_table, "compute_endpoint", "[daq]", _uuid, _REQUIRED),
        ledger=check.get(daq_table, "ledger", "[daq]", _absolute_path, None) or (root or Path("/")) / LEDGER_DIR_NAME,
        markers=check.get(daq_table, "markers", "[daq]", _markers, DEFAULT_MARKERS) or DEFAULT_MARKERS,
        quiet_seconds=check.get(daq_table, "quiet_seconds", "[daq]", parse_duration, 0) or 0,
    )

    routes = _parse_routes(check, document.get("route", []))
    places_read = len(check.problems) == problems_before  # [daq] and every destination: the stand-ins' subjects

    timer_table = check.table(document, "timer", "[timer]")
    check.known_keys(timer_table, ("interval",), "[timer]")
    interval = check.get(timer_table, "interval", "[timer]", timer_interval, 600)

    limits_table = check.table(document, "limits", "[limits]")
    check.known_keys(limits_table, LIMIT_KEYS, "[limits]")
    defaults = Limits()
    limits = Limits(
        max_scans=check.get(limits_table, "max_scans", "[limits]", _positive_int, defaults.max_scans),
        max_bytes=check.get(limits_table, "max_bytes", "[limits]", parse_size, defaults.max_bytes),
        lease_seconds=check.get(limits_table, "lease", "[limits]", parse_duration, defaults.lease_seconds),
        max_attempts=check.get(limits_table, "max_attempts", "[limits]", _positive_int, defaults.max_attempts),
        backoff_seconds=check.get(limits_table, "retry_backoff", "[limits]", parse_duration, defaults.backoff_seconds),
    )

    problems_before = len(check.problems)
    local = _parse_local(check, check.table(document, "local", "[local]"))
    local_read = len(check.problems) == problems_before
    globus_table = check.table(document, "globus", "[globus]")
    check.known_keys(globus_table, ("client_id", "run_managers", "run_monitors", "subscription_id"), "[globus]")
    globus = GlobusSettings(
        client_id=check.get(globus_table, "client_id", "[globus]", _uuid, None),
        run_managers=check.get(globus_table, "run_managers", "[globus]", _principals, ()) or (),
        run_monitors=check.get(globus_table, "run_monitors", "[globus]", _principals, ()) or (),
        subscription_id=check.get(globus_table, "subscription_id", "[globus]", _uuid, None),
    )
    notify = _parse_notify(check, check.table(document, "notify", "[notify]"))
    shares = _parse_shares(check, document.get("share", []))
    catalog = _parse_catalog(check, check.table(document, "catalog", "[catalog]"))
    retention = _parse_retention(check, check.table(document, "retention", "[retention]"))
    scrub = _parse_scrub(check, check.table(document, "scrub", "[scrub]"))

    if limits.max_scans is not None and limits.max_scans > MAX_SCANS_PER_RUN:
        check.problem(
            "[limits].max_scans",
            f"{limits.max_scans} is more than {MAX_SCANS_PER_RUN}, the most that keeps a "
            "run's state well under the Flows service's 200 KB limit",
        )
    _check_routes(check, daq, routes, root_known=root is not None)
    bound, parts = claim_hold_bound(routes) if routes else (0, "")
    if limits.lease_seconds is not None and limits.lease_seconds < bound:
        check.problem(
            "[limits].lease",
            f"{limits.lease_seconds} s is shorter than the longest a run can hold its claims, {bound} s ({parts}, the "
            "flow's WaitTimes), so a second run could ship the same scans; remove the key (the default is 10 days) "
            f"or set at least {bound}",
        )
    if verifies_with_compute(routes) and not is_inside(daq.ledger, daq.root):
        check.problem(
            "[daq].ledger",
            "must be inside [daq].root when a route verifies with Compute, so that the manifests ship beside the scans",
        )
    if check_tree and root is not None:
        check.problems += [check.prefix + line for line in tree_problems(root, routes)]
    if with_local and places_read and local_read:
        from palxfel_globus.backup import local_problems  # here, not at the top: backup imports this module

        stand_ins = Config(daq=daq, routes=routes, local=local)
        check.problems += [check.prefix + line for line in local_problems(stand_ins)]
    if check.problems:
        raise ConfigError(check.problems)
    return Config(
        daq=daq,
        routes=routes,
        timer_interval=interval,
        limits=limits,
        local=local,
        globus=globus,
        notify=notify,
        shares=shares,
        catalog=catalog,
        retention=retention,
        scrub=scrub,
        source=source,
    )


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or below it, as written (resolve both first to follow links)."""
    return root == path or root in path.parents


def _collection_path_inside(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root.rstrip("/") + "/")


def _covers(earlier: str, later: str) -> bool:
    """Whether every experiment name ``later`` matches is taken by ``earlier`` first: exact for the
    patterns people write (a name, a prefix followed by *, *); other globs are not judged."""
    wildcards = set("*?[")
    if earlier == later or earlier == "*":
        return True
    if not wildcards & set(later):
        return fnmatch.fnmatchcase(later, earlier)
    prefix = earlier[:-1]
    return earlier.endswith("*") and not wildcards & set(prefix) and later.startswith(prefix)


def _check_routes(check: _Checker, daq: DaqSettings, routes: tuple[Route, ...], root_known: bool) -> None:
    """Routes that would lose data (a 'backup' onto the DAQ itself) or never be used (shadowed)."""
    for number, route in enumerate(routes, 1):
        where = f"[[route]] #{number}"
        for place, destination in enumerate(route.destinations, 1):
            named = config_place(number, place, route)
            if destination.collection == daq.collection and _collection_path_inside(
                destination.base_path or "/", daq.collection_root
            ):
                check.problem(
                    f"{named}.base_path",
                    f"{destination.base_path} on the DAQ collection is inside the DAQ root ({daq.collection_root}): "
                    "scans would be shipped onto themselves and no backup would exist; give a backup collection",
                )
            if root_known and destination.verify_root is not None and is_inside(destination.verify_root, daq.root):
                check.problem(
                    f"{named}.verify_root",
                    f"{destination.verify_root} is inside [daq].root {daq.root}: the backup would live on the DAQ disk",
                )
        for earlier_number, earlier in enumerate(routes[: number - 1], 1):
            if route.match and earlier.match and _covers(earlier.match, route.match):
                check.problem(
                    f"{where}.match",
                    f"{route.match!r} is never used: route #{earlier_number} ({earlier.match!r}) comes first and "
                    "takes every experiment it would; put the narrower route first",
                )
                break


def verifies_with_compute(routes: tuple[Route, ...]) -> bool:
    return any(destination.compute_endpoint for route in routes for destination in route.destinations)


def claim_hold_bound(routes: tuple[Route, ...]) -> tuple[int, str]:
    """The longest a scan-backup run holds its claims, from the flow's WaitTimes: discovery, then every
    Transfer task ends by the run's transfer deadline (its WaitTime after discovery; the re-verifications
    of scans due for release come first, inside that window), then at most one Compute verification,
    then recording. (seconds, what it is made of)."""
    from palxfel_globus.backup import load_flow  # here, not at the top: backup imports this module

    states = load_flow("scan_backup")[0]["States"]
    parts = [("discovery", "FindCompletedScans"), ("transfers", "TransferScans")]
    if verifies_with_compute(routes):
        parts.append(("a Compute verification", "VerifyWithCompute"))
    parts.append(("recording", "RecordOutcome"))
    waits = [(what, int(states[state]["WaitTime"])) for what, state in parts]
    return sum(wait for _what, wait in waits), ", ".join(f"{what} {wait} s" for what, wait in waits)


def _tables(
    check: _Checker, value: Any, name: str, keys: tuple[str, ...], within: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each table of a ``[[name]]`` array with where it is ("[[route]] #2", or within one: "[[route]] #2
    [[route.destination]] #1"), its unknown keys reported."""
    for number, table in enumerate(value, 1):
        where = f"{within}[[{name}]] #{number}"
        if not isinstance(table, dict):
            check.problem(where, "must be a table")
            continue
        check.known_keys(table, keys, where)
        yield where, table


def _parse_routes(check: _Checker, value: Any) -> tuple[Route, ...]:
    if not isinstance(value, list) or not value:
        check.problem("[[route]]", 'at least one route is required, e.g. match = "ue_*", collection, base_path')
        return ()
    routes = []
    for where, table in _tables(check, value, "route", ROUTE_KEYS):
        match = check.get(table, "match", where, _glob, _REQUIRED)
        given = table.get("destination")
        if given is None:  # the one-destination form: collection and base_path in [[route]] itself
            destinations = [_parse_destination(check, table, where)]
        elif any(key in table for key in DESTINATION_KEYS):
            check.problem(
                where,
                "give its collection and base_path either in [[route]] itself or in [[route.destination]] "
                "tables, not both",
            )
            continue
        elif not isinstance(given, list) or not given:
            check.problem(f"{where}.destination", "must be [[route.destination]] tables with collection and base_path")
            continue
        else:
            destinations = [
                _parse_destination(check, inner, inner_where)
                for inner_where, inner in _tables(check, given, "route.destination", DESTINATION_KEYS, f"{where} ")
            ]
        places = [(destination.collection, destination.base_path) for destination in destinations]
        for place in sorted({place for place in places if places.count(place) > 1}):
            check.problem(where, f"lists {place[1]} on {place[0]} twice; each destination is a different place")
        routes.append(Route(match=match, destinations=tuple(destinations)))
    return tuple(routes)


def _parse_destination(check: _Checker, table: dict[str, Any], where: str) -> Destination:
    if ("compute_endpoint" in table) != ("verify_root" in table):
        check.problem(
            where,
            "compute_endpoint and verify_root go together: the destination's Compute endpoint "
            "and the directory that base_path is on it",
        )
    return Destination(
        collection=check.get(table, "collection", where, _uuid, _REQUIRED),
        base_path=check.get(table, "base_path", where, _collection_path, _REQUIRED),
        compute_endpoint=check.get(table, "compute_endpoint", where, _uuid, None),
        verify_root=check.get(table, "verify_root", where, _absolute_path, None),
    )


def _parse_shares(check: _Checker, value: Any) -> tuple[Share, ...]:
    if not isinstance(value, list):
        check.problem("[[share]]", "must be a list of tables ([[share]] with match and principals)")
        return ()
    shares = []
    for where, table in _tables(check, value, "share", ("match", "principals", "permissions")):
        match = check.get(table, "match", where, _glob, _REQUIRED)
        principals = check.get(table, "principals", where, _principals, _REQUIRED)
        permissions = check.get(table, "permissions", where, _permissions, "r")
        if principals == ():
            check.problem(where, "principals is empty: name who may read the data, or remove the share")
        if match and principals and permissions:
            shares.append(Share(match, principals, permissions))
    return tuple(shares)


def _parse_catalog(check: _Checker, table: dict[str, Any]) -> CatalogSettings:
    check.known_keys(table, ("index", "public"), "[catalog]")
    if table and "index" not in table:
        check.problem("[catalog]", "the key 'index' is required: the Globus Search index UUID to catalogue scans in")
    return CatalogSettings(
        index=check.get(table, "index", "[catalog]", _uuid, None),
        public=bool(check.get(table, "public", "[catalog]", _boolean, False)),
    )


def _period_and_bound(
    check: _Checker, table: dict[str, Any], section: str, keys: tuple[str, str], limits: tuple[int, int], why: str
) -> tuple[Optional[int], int]:
    """An optional section of a duration that is required once the section is there (``keys[0]``, with ``why``
    saying what it is) and a per-run bound (``keys[1]``; ``limits``: its default and its most): (seconds or None,
    the bound)."""
    period, bound = keys
    default, most = limits
    check.known_keys(table, keys, section)
    if table and period not in table:
        check.problem(section, f"the key {period!r} is required: {why}")
    count = check.get(table, bound, section, _positive_int, default)
    if count is not None and count > most:
        check.problem(f"{section}.{bound}", f"{count} is more than {most}, the most a run takes within its state limit")
    return check.get(table, period, section, parse_duration, None), count or default


def _parse_retention(check: _Checker, table: dict[str, Any]) -> RetentionSettings:
    why = 'how long after it shipped a scan\'s DAQ copy may go, e.g. "30d"'
    bound = (RetentionSettings.max_release, MAX_SCANS_PER_RUN)
    return RetentionSettings(
        *_period_and_bound(check, table, "[retention]", ("release_after", "max_release"), bound, why)
    )


def _parse_scrub(check: _Checker, table: dict[str, Any]) -> ScrubSettings:
    why = 'how often each copy of a scan is read back against its manifest, e.g. "90d"'
    bound = (ScrubSettings.max_copies, MAX_SCRUB_COPIES)
    return ScrubSettings(*_period_and_bound(check, table, "[scrub]", ("every", "max_copies"), bound, why))


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{str(value)[:40]!r} is not true or false")
    return value


def _permissions(value: Any) -> str:
    if value not in ("r", "rw"):
        raise ValueError(f'{value!r} is not "r" (read) or "rw" (read and write)')
    return value


def _parse_notify(check: _Checker, table: dict[str, Any]) -> NotifySettings:
    check.known_keys(table, NOTIFY_KEYS, "[notify]")
    notify = NotifySettings(
        email=check.get(table, "email", "[notify]", _addresses, ()) or (),
        sender=check.get(table, "sender", "[notify]", _address, None),
        smtp_host=check.get(table, "smtp_host", "[notify]", _host, None),
        smtp_port=check.get(table, "smtp_port", "[notify]", _port, None),
        smtp_username=check.get(table, "smtp_username", "[notify]", _text, None),
        smtp_password_file=check.get(table, "smtp_password_file", "[notify]", _absolute_path, None),
    )
    if table and "email" not in table:
        check.problem("[notify]", "the key 'email' is required: the addresses to tell when a run does not ship")
    return notify


def _parse_local(check: _Checker, table: dict[str, Any]) -> LocalSettings:
    check.known_keys(table, ("collections", "guest_collections", "endpoints", "state"), "[local]")
    mapped, guests = (_local_directories(check, table, name) for name in ("collections", "guest_collections"))
    for key in sorted(set(mapped) & set(guests)):
        check.problem(f"[local].guest_collections.{key}", "is also in [local].collections; a collection has one type")
    endpoints: dict[str, int] = {}
    for key, value in check.table(table, "endpoints", "[local].endpoints").items():
        where = f"[local].endpoints.{key}"
        try:
            endpoint = _uuid(key)
        except ValueError as exc:
            check.problem(where, str(exc))
            continue
        if not isinstance(value, dict):
            check.problem(where, "must be a table such as { workers = 4 }")
            continue
        check.known_keys(value, ("workers",), where)
        workers = check.get(value, "workers", where, _positive_int, 2)
        if workers is not None:
            endpoints[endpoint] = workers
    state = check.get(table, "state", "[local]", _absolute_path, None)
    return LocalSettings(collections=mapped, guest_collections=guests, endpoints=endpoints, state=state)


def _local_directories(check: _Checker, table: dict[str, Any], name: str) -> dict[str, Path]:
    directories: dict[str, Path] = {}
    for key, value in check.table(table, name, f"[local].{name}").items():
        try:
            collection = _uuid(key)  # the key's problem first, as it reads
            directories[collection] = _absolute_path(value)
        except ValueError as exc:
            check.problem(f"[local].{name}.{key}", str(exc))
    return directories


def tree_problems(root: Path, routes: tuple[Route, ...]) -> list[str]:
    """The root exists and every route matches at least one experiment there: one sentence per miss."""
    from palxfel_globus.functions import layout

    if not root.is_dir():
        return [f"[daq].root: {root} does not exist or is not a directory."]
    parse_experiment_name = layout().parse_experiment_name
    try:
        experiments = [entry.name for entry in os.scandir(root) if entry.is_dir() and parse_experiment_name(entry.name)]
    except OSError as exc:
        return [f"[daq].root: cannot read {root} ({exc.strerror})."]
    return [
        f"[[route]] #{number} (match = {route.match!r}) matches no experiment in {root}; "
        "fix the pattern, or remove the route until such experiments exist."
        for number, route in enumerate(routes, 1)
        if route.match and not any(fnmatch.fnmatchcase(name, route.match) for name in experiments)
    ]
