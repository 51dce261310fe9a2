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

    from palxfel_globus.backup import FLOW_FUNCTIONS
    from palxfel_globus.globus.deployment import Deployment, deployment_path

    flow_id = load_response(SpecificFlowClient.run_flow).metadata["flow_id"]
    timer_id = load_response(TimersClient.get_job).metadata["job_id"]
    responses.reset()
    deployment = Deployment(
        deployment_path(config),
        {name: {"id": f"{name}-id", "hash": "h"} for name in FLOW_FUNCTIONS},
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


def two_destinations(
    site: Any,
    release_after: Optional[str] = "0s",
    max_release: int = 20,
    retry_backoff: str = "1m",
    notify: bool = True,
) -> None:
    """ue_* goes to the facility backup (verified by Transfer) and to an archive verified on its own Compute
    endpoint; ms_* to one place, as in the demo. E-mails go to the data manager (on the local engine:
    a deploy also needs the SMTP settings)."""
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
    document["limits"]["retry_backoff"] = retry_backoff
    document["local"]["collections"][ARCHIVE] = work / "archive"
    endpoints = (IDS["daq-endpoint"], IDS["ms-endpoint"], ARCHIVE_ENDPOINT)
    document["local"]["endpoints"] = {endpoint: {"workers": 1} for endpoint in endpoints}
    if notify:
        document["notify"] = {"email": ["dm@example.org"]}
    if release_after is not None:
        document["retention"] = {"release_after": release_after, "max_release": max_release}
    site.config_path.write_text(render_config(document, "issue 12 test site"), encoding="utf-8")
