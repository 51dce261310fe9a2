"""Compute function: a data manager's change to one scan's ledger entry.

``retry`` makes a failed or quarantined scan pending again with a fresh attempt count;
``forget`` removes everything the ledger knows of a scan, so the next tick ships it again
(a checksum-sync transfer then moves only what differs). Both refuse while a run holds
the scan's claim, unless that run is known to have ended: a local run whose process is
gone, or a run the caller names in ``ended_runs`` (one Globus Flows reports ended).
"""

from _layout import DaqError, list_experiments, list_scans_of, real_root, split_scan_id
from _ledger import (
    bump_generation,
    claim_index,
    clear_claims,
    current_claim,
    iso_time,
    ledger_path,
    local_run_has_ended,
    manifest_path,
    read_record,
    release_generation,
    remove_if_present,
    unmark_shipped_index,
    write_record,
)

ACTIONS = ("retry", "forget")


class ClaimedError(DaqError):
    """The scan is claimed by a run that may still be going; ``run_id`` names it, so a caller that can
    ask Globus Flows whether it ended may try again with ``ended_runs``."""

    def __init__(self, message, run_id):
        super().__init__(message)
        self.run_id = run_id


def _locate(root, ledger, scan_id):
    """(experiment, scan) for ``EXPERIMENT/SCAN`` or a scan name unique across experiments."""
    import os

    experiment, scan = split_scan_id(scan_id)
    if experiment is not None:
        return experiment, scan
    problems = []
    owners = [
        exp["experiment"]
        for exp in list_experiments(root, problems)
        if scan in list_scans_of(root, exp["experiment"], problems)[0]
    ]
    try:
        for name in os.listdir(os.path.join(ledger, "scans")):
            if name not in owners and os.path.exists(ledger_path(ledger, "scans", name, scan + ".json")):
                owners.append(name)
    except FileNotFoundError:
        pass
    if not owners:
        raise DaqError(f"No scan named {scan} was found on disk or in the ledger.")
    if len(owners) > 1:
        raise DaqError(
            "{} exists in several experiments ({}); give EXPERIMENT/SCAN.".format(scan, ", ".join(sorted(owners)))
        )
    return owners[0], scan


def manage_scan(config, scan_id, action, ended_runs=(), now=None):
    """Returns {experiment, scan, action, previous_state, state, released_claim_of}."""
    import time

    if action not in ACTIONS:
        raise DaqError("Unknown action {!r}; use one of {}.".format(action, ", ".join(ACTIONS)))
    now = time.time() if now is None else now
    ledger = config["ledger"]
    experiment, scan = _locate(real_root(config["daq_root"]), ledger, scan_id)
    record, problem = read_record(ledger, experiment, scan)
    if problem and action == "retry":
        raise DaqError(problem)
    lease = current_claim(ledger, experiment, scan, claim_index(ledger, experiment).get(scan, {}), now)
    released = None
    if lease is not None and lease["active"]:
        run_id = lease["run_id"]
        if run_id is None or not (run_id in ended_runs or local_run_has_ended(ledger, run_id)):
            raise ClaimedError(
                "{}/{} is claimed by run {} until {}; try again after that run ends.".format(
                    experiment, scan, run_id, iso_time(lease["expires_at"])
                ),
                run_id,
            )
        release_generation(ledger, experiment, scan, lease["gen"], run_id)
        released = run_id
    previous = (record or {}).get("state", "pending")
    if action == "retry":
        if previous not in ("failed", "quarantined") and released is None:
            raise DaqError(f"{experiment}/{scan} is {previous}, not failed or quarantined; there is nothing to retry.")
        if previous in ("failed", "quarantined"):
            record.update(state="pending", attempts=0, retry_after=None, updated_at=iso_time(now))
            write_record(ledger, record)
        bump_generation(ledger)
        return {
            "experiment": experiment,
            "scan": scan,
            "action": action,
            "previous_state": previous,
            "state": "pending" if previous in ("failed", "quarantined") else previous,
            "released_claim_of": released,
        }
    unmark_shipped_index(ledger, experiment, scan)
    for path in (ledger_path(ledger, "scans", experiment, scan + ".json"), manifest_path(ledger, experiment, scan)):
        remove_if_present(path)
    clear_claims(ledger, experiment, scan)
    bump_generation(ledger)
    return {
        "experiment": experiment,
        "scan": scan,
        "action": action,
        "previous_state": previous,
        "state": None,
        "released_claim_of": released,
    }
