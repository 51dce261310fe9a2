"""The restore flow (flow_definitions/restore.json): its input, what a run said of each scan, and its runs on the
local engine. The same definition is deployed to Globus ('scans restore') and run here ('local restore')."""

from __future__ import annotations

import uuid
from typing import Any, Optional

from palxfel_globus.config import Config
from palxfel_globus.functions import RESTORE_FUNCTIONS


def restore_input(
    config: Config,
    function_ids: dict[str, str],
    scans: list[str],
    to: Optional[dict[str, str]] = None,
    source: Optional[str] = None,
) -> dict[str, Any]:
    """A run's input: the scans, where they go (``to``: {id, path}; default each scan's DAQ place), which
    destination collection to take them from (``source``; default the healthiest copy that verifies)."""
    body: dict[str, Any] = {
        "daq_endpoint": config.daq.compute_endpoint,
        "daq_collection": config.daq.collection,
        "functions": {name: function_ids[name] for name in RESTORE_FUNCTIONS},
        "config": config.function_config(),
        "scans": list(scans),
    }
    if to is not None:
        body["to"] = to
    if source is not None:
        body["from"] = source
    return body


def run_restore(
    config: Config,
    scans: list[str],
    to: Optional[dict[str, str]] = None,
    source: Optional[str] = None,
    **engine_options: Any,
) -> dict[str, Any]:
    """One run of the restore flow on the local engine (its lock tells a crashed run's claims from a live one's,
    as a tick's does)."""
    from palxfel_globus.backup import LOCAL_FUNCTION_IDS, check_input, load_flow, local_engine, local_run_lock

    definition, schema = load_flow("restore")
    body = restore_input(config, LOCAL_FUNCTION_IDS, scans, to, source)
    check_input(body, schema)
    run_id = str(uuid.uuid4())
    with local_engine(config, **engine_options) as engine, local_run_lock(config.daq.ledger, run_id):
        return engine.run(
            definition, body, label="palxfel-globus local restore", tags=["palxfel-globus"], run_id=run_id
        )


def outcomes(run: dict[str, Any]) -> list[dict[str, Any]]:
    """[{scan, ok, sentence}] for each scan a run of the restore flow was given, in its order; a run that could
    not even plan says why, as one outcome."""
    details = run.get("details") or {}
    summary = (details.get("output") or {}).get("summary") or {}
    if summary.get("outcomes") is not None:
        return list(summary["outcomes"])
    return [{"scan": "the restore", "ok": False, "sentence": str(details.get("description") or run.get("status"))}]
