"""The scan-backup flow: its input, its checks, and its runs on the local engine.

The same ``flow_definitions/scan_backup.json`` is deployed to Globus and run here; the
only local parts are the stand-ins the engine gets from ``[local]`` in the config (a
directory per collection, a worker pool per Compute endpoint) and the local function ids.
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from palxfel_globus.config import Config, config_place, is_inside
from palxfel_globus.errors import PalxfelError
from palxfel_globus.functions import FLOW_FUNCTIONS, REGISTERED_FUNCTIONS
from palxfel_globus.resources import data_dir

_LOCAL_NAMESPACE = uuid.UUID("6f1c2a4e-5b3d-4c8e-9a7f-0d2e4b6c8a10")
LOCAL_FUNCTION_IDS = {name: str(uuid.uuid5(_LOCAL_NAMESPACE, name)) for name in REGISTERED_FUNCTIONS}


def load_flow(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(definition, input schema) of a flow in flow_definitions/."""
    directory = data_dir("flow_definitions")
    return (
        json.loads((directory / f"{name}.json").read_text(encoding="utf-8")),
        json.loads((directory / f"{name}.schema.json").read_text(encoding="utf-8")),
    )


def flow_input(
    config: Config, function_ids: dict[str, str], send_credentials: Optional[list[dict[str, Any]]] = None
) -> dict[str, Any]:
    """The scan_backup run input: what deploy puts in the Timer, and what a local tick runs.
    ``send_credentials`` (the mail server login, see globus/notify.py) only in what deploy sends:
    the local engine records the e-mail instead of sending it."""
    body: dict[str, Any] = {
        "daq_endpoint": config.daq.compute_endpoint,
        "daq_collection": config.daq.collection,
        "functions": {name: function_ids[name] for name in FLOW_FUNCTIONS},
        "config": config.function_config(),
    }
    if config.notify.email:
        notify: dict[str, Any] = {"email": list(config.notify.email)}
        if config.notify.sender:
            notify["sender"] = config.notify.sender
        body["notify"] = notify
    if send_credentials:  # "_private": Flows leaves keys so named out of what it shows of a run's state
        body["_private_notify_credentials"] = send_credentials
    return body


def check_input(body: Any, schema: dict[str, Any]) -> None:
    """The input schema check the Flows service makes when a run starts, with one sentence per mistake."""
    from jsonschema import Draft202012Validator, FormatChecker

    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        problems = []
        for error in errors:
            where = "/".join(str(part) for part in error.absolute_path) or "(the input)"
            problems.append(f"The flow input at {where} is invalid: {error.message}.")
        raise PalxfelError("\n".join(problems))


def check_local(config: Config) -> dict[str, Path]:
    """The [local] stand-ins agree with [daq] and [[route]]; returns collection UUID -> directory."""
    problems = local_problems(config)
    if problems:
        raise PalxfelError("\n".join(problems))
    return config.local.all_collections()


def local_problems(config: Config) -> list[str]:
    """Where the [local] stand-ins disagree with [daq] and [[route]], one sentence each."""
    problems = []
    collections = config.local.all_collections()
    daq_dir = collections.get(config.daq.collection or "")
    if daq_dir is None:
        problems.append(f"[local].collections has no directory for the DAQ collection {config.daq.collection}.")
    else:
        expected = _collection_dir(daq_dir, config.daq.collection_root)
        if expected.resolve() != config.daq.root.resolve():
            problems.append(
                f"[local].collections maps the DAQ collection to {daq_dir}, where {config.daq.collection_root} is "
                f"{expected}, not [daq].root {config.daq.root}."
            )
    for number, place, route, destination in config.destinations():
        where = config_place(number, place, route)
        directory = collections.get(destination.collection)
        if directory is None:
            problems.append(
                f"[local].collections has no directory for the collection {destination.collection} of {where}."
            )
            continue
        landing = _collection_dir(directory, destination.base_path)  # where base_path is on this machine
        if is_inside(landing.resolve(), config.daq.root.resolve()):
            problems.append(
                f"{where}: its base_path {destination.base_path} is {landing} here, inside [daq].root "
                f"{config.daq.root}: the backup would live on the DAQ disk."
            )
        elif destination.verify_root is not None and destination.verify_root.resolve() != landing.resolve():
            problems.append(
                f"{where}: verify_root {destination.verify_root} is not where base_path {destination.base_path} is "
                f"locally ({landing})."
            )
    return problems


def _collection_dir(directory: Path, collection_path: str) -> Path:
    relative = collection_path[3:] if collection_path.startswith("/~/") else collection_path.lstrip("/")
    return directory / relative if relative not in ("", "~") else directory


def local_engine(config: Config, **engine_options: Any) -> Any:
    """An Engine whose collections, endpoints and functions are the config's [local] stand-ins."""
    from palxfel_globus.engine import BUNDLED, Engine, FunctionRef
    from palxfel_globus.engine.providers.local_state import default_state_dir

    collections = check_local(config)
    functions = {function_id: FunctionRef(BUNDLED, name) for name, function_id in LOCAL_FUNCTION_IDS.items()}
    engine_options.setdefault("state_dir", config.local.state or default_state_dir())
    return Engine(
        collections=collections,
        guest_collections=set(config.local.guest_collections),
        functions=functions,
        endpoint_workers=config.local.endpoints,
        **engine_options,
    )


def run_message(run: dict[str, Any]) -> str:
    """What a run of scan_backup did, in one line: the flow's own summary ("3 shipped, ...") when it
    got that far, else the reason the run stopped. The same for a local run and one in Globus."""
    details = run.get("details") or {}
    summary = (details.get("output") or {}).get("summary") or {}
    return str(summary.get("message") or details.get("description") or "")


def side_step_failures(run: dict[str, Any]) -> list[dict[str, str]]:
    """The side steps (sharing, catalog, e-mail) that failed in a run of scan_backup, each {step, problem}:
    the backup went on, and the run's output says so (the flow's NoteSideSteps)."""
    state = (run.get("details") or {}).get("output") or {}
    return list(((state.get("side_steps") or {}).get("failed")) or [])


@dataclass
class TickSummary:
    """What one run did, for the terminal and for --json."""

    run_id: str
    status: str
    found: int = 0
    shipped: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # DAQ copies removed after every copy verified again
    releasing: list[dict[str, Any]] = field(default_factory=list)  # DAQ copies whose delete could not finish
    shipping_again: list[dict[str, Any]] = field(default_factory=list)  # failed re-verification, or changed
    failed: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    side_steps: list[dict[str, str]] = field(default_factory=list)  # {step, problem}: sharing, catalog, e-mail
    bytes_transferred: int = 0
    transfer_tasks: int = 0
    actions: int = 0
    message: str = ""

    @classmethod
    def of(cls, run: dict[str, Any]) -> TickSummary:
        state = run["details"].get("output") or {}
        recorded = state.get("recorded") or {}
        # the normal path keeps {"outcome": ...}; the failure path leaves the action document
        outcome = recorded.get("outcome") or ((recorded.get("details") or {}).get("result") or [{}])[0]
        done = (state.get("loop") or {}).get("done") or []
        found = (state.get("find") or {}).get("result") or {}
        scrub = state.get("scrub") or {}  # what the scrub read back, repaired or found without a good copy
        blocked = {entry["scan"]: entry for entry in found.get("blocked") or []}
        blocked.update({entry["scan"]: entry for entry in outcome.get("blocked") or []})
        blocked.update({entry["scan"]: entry for entry in scrub.get("blocked") or []})
        summary = cls(
            run_id=run["run_id"],
            status=run["status"],
            found=((state.get("find") or {}).get("result") or {}).get("count", 0),
            shipped=list(outcome.get("shipped", [])),
            released=list(outcome.get("released", [])),
            releasing=list(outcome.get("releasing", [])),
            shipping_again=list(outcome.get("shipping_again", [])),
            failed=list(outcome.get("failed", [])),
            quarantined=list(outcome.get("quarantined", [])),
            blocked=list(blocked.values()),
            warnings=list(found.get("problems") or [])
            + list(outcome.get("warnings") or [])
            + list(scrub.get("warnings") or []),
            side_steps=side_step_failures(run),
            bytes_transferred=sum((group.get("transfer") or {}).get("bytes_transferred") or 0 for group in done),
            transfer_tasks=sum(1 for group in done if (group.get("transfer") or {}).get("status") != "NOT_NEEDED"),
            actions=sum(1 for entry in run["log"] if entry["code"] == "ActionStarted"),
        )
        summary.message = run_message(run)
        return summary

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@contextmanager
def local_run_lock(ledger: Path, run_id: str) -> Iterator[None]:
    """Hold ``<ledger>/runs/<run_id>.lock`` locked while a local run goes on: its lock dies with this
    process however it ends, so the next tick, 'scans retry' and 'forget' can tell a run that ended
    (crashed, killed, or one whose RecordOutcome failed and left its claims) from a live one
    (``local_run_has_ended`` in the ledger functions reads the file). The file stays after the run, so
    that its end can still be told; files older than any lease are removed, once a day."""
    import fcntl
    import os

    directory = ledger / "runs"
    directory.mkdir(parents=True, exist_ok=True)
    _prune_run_locks(directory)
    fd = os.open(directory / f"{run_id}.lock", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # the lock goes and the file stays: the run's claims now read as an ended run's


RUN_LOCKS_KEPT_SECONDS = 30 * 86400  # past the default lease (10 days); a file gone only makes a claim wait its lease


def _prune_run_locks(directory: Path) -> None:
    """Remove the lock files of local runs that ended over RUN_LOCKS_KEPT_SECONDS ago, at most once a day (a
    tick every minute makes 43,200 in a month: listing them every tick would cost more than the tick)."""
    import fcntl
    import os
    import time

    stamp = directory / ".pruned"
    now = time.time()
    try:
        if now - stamp.stat().st_mtime < 86400:
            return
    except FileNotFoundError:
        pass
    stamp.touch()
    for entry in os.scandir(directory):
        if not entry.name.endswith(".lock"):
            continue
        try:
            if now - entry.stat().st_mtime < RUN_LOCKS_KEPT_SECONDS:
                continue
            fd = os.open(entry.path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a run that still holds its lock keeps its file
            os.unlink(entry.path)
        except OSError:
            pass
        finally:
            os.close(fd)


def run_ticks(
    config: Config,
    *,
    ticks: Optional[int],
    interval: float,
    engine_options: Optional[dict[str, Any]] = None,
    on_tick: Optional[Callable[[int, TickSummary], None]] = None,
    between_ticks: Optional[Callable[[int], None]] = None,
    stop: Any = None,
) -> list[TickSummary]:
    """Run scan_backup on the local engine ``ticks`` times (None: until ``stop``), ``interval`` apart.

    Ticks run one after another here (``between_ticks`` runs before each tick after the
    first, for the demo's arriving markers); overlapping runs are the timer's job and are
    tested there.
    """
    import threading

    definition, schema = load_flow("scan_backup")
    body = flow_input(config, LOCAL_FUNCTION_IDS)
    check_input(body, schema)
    stop = stop or threading.Event()
    summaries = []
    with local_engine(config, **(engine_options or {})) as engine:
        tick = 0
        while ticks is None or tick < ticks:
            if tick and between_ticks is not None:
                between_ticks(tick)
            run_id = str(uuid.uuid4())
            with local_run_lock(config.daq.ledger, run_id):
                run = engine.run(
                    definition, body, label=f"palxfel-globus local tick {tick}", tags=["palxfel-globus"], run_id=run_id
                )
            summary = TickSummary.of(run)
            summaries.append(summary)
            if on_tick is not None:
                on_tick(tick, summary)
            tick += 1
            if ticks is not None and tick >= ticks:
                break
            if engine.clock.virtual and not stop.is_set():
                engine.clock.sleep(interval)  # simulated time: the next tick is due at once
            elif stop.wait(interval):
                break
    return summaries
