"""Shared test constants and helpers that are not fixtures."""

from __future__ import annotations

import contextlib
import io
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

# Characters seen in real PAL-XFEL names and some that are not: spaces, Korean, dots,
# underscores, punctuation. Never "/" or NUL, which no directory name can hold.
NAME_CHARS = "abcXYZ019 _-.,+()[]#@빔정렬실험"
SUBSCRIPTION = "5d1c3b0e-0000-4000-8000-00000000005b"  # a facility's Globus subscription, in deploy tests


def subscribed(config_path: Any) -> Any:
    """The config file, with [globus] subscription_id added (the demo's config has no [globus] table)."""
    with open(config_path, "a", encoding="utf-8") as handle:
        handle.write(f'\n[globus]\nsubscription_id = "{SUBSCRIPTION}"\n')
    return config_path


def answer_collections(collection_ids: list[str], mapped: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Register Transfer's answer for each collection (the SDK's own get_endpoint document): a
    GCSv5 mapped collection for those in ``mapped``, a guest collection for the others."""
    import responses
    from globus_sdk import TransferClient
    from globus_sdk.testing import get_response_set

    document = get_response_set(TransferClient.get_endpoint).lookup("default").json
    for collection_id in collection_ids:
        kind = "GCSv5_mapped_collection" if collection_id in mapped else "GCSv5_guest_collection"
        responses.add(
            responses.GET,
            f"https://transfer.api.globus.org/v0.10/endpoint/{collection_id}",
            json=dict(document, id=collection_id, entity_type=kind, high_assurance=False),
        )
    return document


def answer_validation(case: str = "default") -> dict[str, Any]:
    """The SDK's registered validate_flow answer, for any definition (its own matches one sample only)."""
    import responses
    from globus_sdk import FlowsClient
    from globus_sdk.testing import get_response_set

    registered = get_response_set(FlowsClient.validate_flow).lookup(case)
    responses.add(responses.POST, registered.full_url, json=registered.json, status=registered.status)
    return registered.json


def answer_flow(flow_id: str, **fields: Any) -> dict[str, Any]:
    """Register Flows' answer for ``flow_id`` (the SDK's own get_flow document, with ``fields``)."""
    import responses
    from globus_sdk import FlowsClient
    from globus_sdk.testing import get_response_set

    document = dict(get_response_set(FlowsClient.get_flow).lookup("default").json, id=flow_id, **fields)
    responses.add(responses.GET, f"https://flows.automate.globus.org/flows/{flow_id}", json=document)
    return document


def write_deployment(config: Any, **fields: Any) -> Any:
    """A deployment file for ``config`` whose flow and timer ids are those the SDK's registered
    responses for run_flow and get_job answer with; ``fields`` set the rest (transfer_flow, data_access)."""
    import responses
    from globus_sdk import SpecificFlowClient, TimersClient
    from globus_sdk.testing import load_response

    from palxfel_globus.functions import REGISTERED_FUNCTIONS
    from palxfel_globus.globus.deployment import Deployment, deployment_path

    flow_id = load_response(SpecificFlowClient.run_flow).metadata["flow_id"]
    timer_id = load_response(TimersClient.get_job).metadata["job_id"]
    responses.reset()
    deployment = Deployment(
        deployment_path(config),
        {name: {"id": f"{name}-id", "hash": "h"} for name in REGISTERED_FUNCTIONS},
        {"id": flow_id, "hash": "h"},
        {"id": timer_id, "hash": "h"},
        **fields,
    )
    deployment.save()
    return deployment


class AtTerminal(io.StringIO):
    """stdin with someone at a terminal typing each answer in turn (an authorization code, a prompt's reply)."""

    def __init__(self, *answers: str) -> None:
        super().__init__("".join(answer + "\n" for answer in answers))

    def isatty(self) -> bool:
        return True


def ask_states(options: list[str], yes: str, then: str, otherwise: str, title: str = "Go on?") -> dict[str, Any]:
    """Ask, Wait, Decide: a selection web input, its answer, and a branch on the first option."""
    return {
        "Ask": {
            "Type": "CreateWebInput",
            "Parameters": {
                "InputType": "Selection",
                "Context": {"Title.=" if "'" in title else "Title": title},
                "Options": [{"Value": option, "Label": option.capitalize()} for option in options],
            },
            "ResultPath": "$.asked",
            "Next": "Wait",
        },
        "Wait": {
            "Type": "AwaitWebInput",
            "Parameters": {"web_input_id.$": "$.asked.web_input_id"},
            "ResultPath": "$.answer",
            "Next": "Decide",
        },
        "Decide": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.answer.response", "StringEquals": yes, "Next": then}],
            "Default": otherwise,
        },
    }


@contextlib.contextmanager
def serving(config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The emulator on a free loopback port, and this process's globus-sdk pointed at it as env.sh would."""
    from palxfel_globus.config import load_config
    from palxfel_globus.emulator.server import Emulator

    server = Emulator(load_config(config_path), tmp_path / "state")
    server.start()
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    try:
        yield server
    finally:
        server.stop()


# A second destination for ue_*, verified on its own Compute endpoint (issue 12's several destinations)
ARCHIVE = str(uuid.uuid5(uuid.NAMESPACE_URL, "palxfel-globus test archive collection"))
ARCHIVE_ENDPOINT = str(uuid.uuid5(uuid.NAMESPACE_URL, "palxfel-globus test archive endpoint"))


# A second destination for ms_*, verified by Transfer (issue 24's two routes of two destinations each)
MIRROR = str(uuid.uuid5(uuid.NAMESPACE_URL, "palxfel-globus test mirror collection"))


def two_destinations(
    site: Any,
    release_after: Optional[str] = "0s",
    max_release: int = 20,
    retry_backoff: str = "1m",
    notify: bool = True,
    ms_mirror: bool = False,
    scrub: Optional[dict[str, Any]] = None,
) -> None:
    """ue_* goes to the facility backup (verified by Transfer) and to an archive verified on its own Compute
    endpoint; ms_* to one place, as in the demo (verified on its own Compute endpoint), and, with
    ``ms_mirror``, also to a mirror verified by Transfer. E-mails go to the data manager (on the local engine:
    a deploy also needs the SMTP settings). ``scrub`` is the [scrub] table, if any."""
    from palxfel_globus.config_text import render_config
    from palxfel_globus.demo import IDS, config_document

    work = site.workdir
    (work / "archive").mkdir(exist_ok=True)
    document = config_document(site)
    ue = document["route"][0]
    archive = {
        "collection": ARCHIVE,
        "base_path": "/archive/ue",
        "compute_endpoint": ARCHIVE_ENDPOINT,
        "verify_root": work / "archive" / "archive" / "ue",
    }
    facility = {key: value for key, value in ue.items() if key != "match"}
    document["route"][0] = {"match": ue["match"], "destination": [facility, archive]}
    if ms_mirror:
        (work / "mirror").mkdir(exist_ok=True)
        ms = document["route"][1]
        place = {key: value for key, value in ms.items() if key != "match"}
        document["route"][1] = {
            "match": ms["match"],
            "destination": [place, {"collection": MIRROR, "base_path": "/ms"}],
        }
        document["local"]["collections"][MIRROR] = work / "mirror"
    document["limits"]["retry_backoff"] = retry_backoff
    document["local"]["collections"][ARCHIVE] = work / "archive"
    endpoints = (IDS["daq-endpoint"], IDS["ms-endpoint"], ARCHIVE_ENDPOINT)
    document["local"]["endpoints"] = {endpoint: {"workers": 1} for endpoint in endpoints}
    if notify:
        document["notify"] = {"email": ["dm@example.org"]}
    if release_after is not None:
        document["retention"] = {"release_after": release_after, "max_release": max_release}
    if scrub is not None:
        document["scrub"] = scrub
    site.config_path.write_text(render_config(document, "issue 12 test site"), encoding="utf-8")


def digest(directory: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``directory`` but hidden ones (markers, probes)."""
    import hashlib

    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


def damage_first_detector_file(copy: Path) -> Path:
    """A copy rots at its destination: the first byte of its first detector file zeroed. Returns the file."""
    damaged = sorted((copy / "detector1").iterdir())[0]
    damaged.write_bytes(b"\0" + damaged.read_bytes()[1:])
    return damaged


def copy_places(config: Any, experiment: str, scan: str) -> list[Path]:
    """Where the local engine keeps a scan's copy at each destination of its route."""
    import fnmatch

    route = next((route for route in config.routes if fnmatch.fnmatchcase(experiment, route.match)), None)
    places = []
    for destination in route.destinations if route else ():
        root = config.local.all_collections()[destination.collection]
        relative = destination.base_path[3:] if destination.base_path.startswith("/~/") else destination.base_path[1:]
        places.append(root.joinpath(*[part for part in relative.split("/") if part], experiment, "rawData", scan))
    return places


class Runs:
    """scan_backup runs on one local engine over one site, each run's document with the e-mails it sent;
    a context manager (the engine's workers stop at its end). After every run it checks the property of the
    release work: a complete scan gone from the DAQ has its original bytes at every destination."""

    def __init__(self, site: Any) -> None:
        from palxfel_globus.backup import local_engine
        from palxfel_globus.config import load_config

        self.site = site
        self.originals = {scan.name: digest(scan.path) for scan in site.scans if scan.kind == "complete"}
        self.config = load_config(site.config_path)
        self.engine = local_engine(self.config)

    def __enter__(self) -> Runs:
        self.engine.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.engine.__exit__(*exc_info)

    def run(self, faults: Any = None) -> dict[str, Any]:
        """One run as a local tick makes it (its lock tells a crashed run's claims from a live one's)."""
        from palxfel_globus.backup import LOCAL_FUNCTION_IDS, flow_input, load_flow, local_run_lock
        from palxfel_globus.engine import Faults

        definition, _schema = load_flow("scan_backup")
        run_id = str(uuid.uuid4())
        self.engine.faults = faults or Faults()
        self.engine.records.clear()
        try:
            with local_run_lock(self.config.daq.ledger, run_id):
                run = self.engine.run(definition, flow_input(self.config, LOCAL_FUNCTION_IDS), run_id=run_id)
            run["mail"] = [record for kind, record in self.engine.records if kind == "notification"]
        finally:
            self.check_nothing_lost()
        return run

    def copies(self, scan: Any) -> list[Path]:
        return copy_places(self.config, scan.experiment, scan.name)

    def check_nothing_lost(self) -> None:
        """A scan whose DAQ copy is gone has, at every destination, a copy of its original bytes."""
        for scan in self.site.scans:
            if scan.kind != "complete" or scan.path.exists():
                continue
            for copy in self.copies(scan):
                assert digest(copy) == self.originals[scan.name], f"{scan.name} left the DAQ without its copy at {copy}"

    def rows(self) -> dict[str, dict[str, Any]]:
        from palxfel_globus.functions import call

        return {row["scan"]: row for row in call("list_scans", config=self.config.function_config())["scans"]}


def outcome(run: dict[str, Any]) -> dict[str, Any]:
    return run["details"]["output"]["recorded"]["outcome"]


def complete(site: Any) -> list[Any]:
    return [scan for scan in site.scans if scan.kind == "complete"]


def answer_probes(config: Any, aliased: frozenset[str] = frozenset()) -> None:
    """Register Transfer's answers to the probe deploy and doctor make of every destination: its mkdir (the SDK's
    own mkdir_result), and the DAQ root's listing, which holds the probe of each destination in ``aliased`` (the
    entries in the SDK's own operation_stat file document)."""
    import responses
    from globus_sdk import TransferClient
    from globus_sdk.testing import get_response_set

    from palxfel_globus.globus.distinct import probe_name

    made = get_response_set(TransferClient.operation_mkdir).lookup("default").json
    entry = get_response_set(TransferClient.operation_stat).lookup("default").json
    names = []
    for _number, _place, _route, destination in config.destinations():
        responses.add(
            responses.POST,
            f"https://transfer.api.globus.org/v0.10/operation/endpoint/{destination.collection}/mkdir",
            json=made,
        )
        if destination.collection in aliased:
            names.append(probe_name(destination))
    listing = [dict(entry, name=name, type="dir") for name in names]
    responses.add(
        responses.GET,
        f"https://transfer.api.globus.org/v0.10/operation/endpoint/{config.daq.collection}/ls",
        json={"DATA_TYPE": "file_list", "DATA": listing, "path": config.daq.collection_root, "length": len(listing)},
    )


HOUR = 3600
UE, MS = "ue_251023_FXL", "ms_251020_timing"  # experiments of the Daq fixture's two routes


def chosen_tree(daq: Any) -> dict[str, Any]:
    """Issue 28's tree, its markers' and verifications' times chosen: a (complete 10 h ago, verified 9 h ago),
    b (an inner marker 6 h ago and a sibling one 5 h ago, verified 5 h 30 min ago), c (complete 3 h ago, never
    shipped), d (ms_*, complete 2 h ago, verified 1 h ago) and e (complete 11 days ago, verified 10 days ago).
    Returns {now, scans: {letter: path}, complete: {letter: time}}."""
    import os
    import time

    now = float(int(time.time()))
    scans = {
        "a": daq.scan(UE, "alignment", 1),
        "b": daq.scan(UE, "alignment", 2, marker="sibling"),
        "c": daq.scan(UE, "alignment", 3),
        "d": daq.scan(MS, "timing", 1),
        "e": daq.scan(UE, "alignment", 4),
    }
    (scans["b"] / ".done").touch()
    complete = {"a": now - 10 * HOUR, "b": now - 6 * HOUR, "c": now - 3 * HOUR, "d": now - 2 * HOUR}
    complete["e"] = now - 11 * 24 * HOUR
    for name, when in complete.items():
        os.utime(scans[name] / ".done", (when, when))
    sibling = now - 5 * HOUR
    os.utime(scans["b"].parent / f"{scans['b'].name}.complete", (sibling, sibling))
    verified = {"a": now - 9 * HOUR, "b": now - 5.5 * HOUR, "d": now - HOUR, "e": now - 10 * 24 * HOUR}
    for name, when in verified.items():
        daq.ship(MS if name == "d" else UE, scans[name].name, run_id=f"run-{name}", now=when)
    return {"now": now, "scans": scans, "complete": complete}


def config_file(daq: Any, path: Path) -> Path:
    """A config file for the Daq fixture's tree and routes, for the commands that read one."""
    from conftest import DAQ_ENDPOINT

    from palxfel_globus.config_text import render_config

    document = {
        "daq": {
            "root": daq.root,
            "collection": daq.config["collection"],
            "collection_root": daq.config["collection_root"],
            "compute_endpoint": DAQ_ENDPOINT,
            "markers": daq.config["markers"],
        },
        "route": [
            {"match": route["match"], "collection": route["collection"], "base_path": route["base_path"]}
            for route in daq.config["routes"]
        ],
    }
    path.write_text(render_config(document, "the Daq fixture's tree"), encoding="utf-8")
    return path
