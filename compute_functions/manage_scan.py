"""Compute function: a data manager's change to one scan's ledger entry.

``retry`` makes a failed or quarantined scan pending again with a fresh attempt count;
``forget`` removes everything the ledger knows of a scan, so the next tick ships it again
(a checksum-sync transfer then moves only what differs). Both refuse while a run holds
the scan's claim.
"""

from _layout import DaqError, list_experiments, list_scans_of, real_root, split_scan_id
from _ledger import (
    bump_generation,
    claim_index,
    clear_claims,
    current_claim,
    iso_time,
    ledger_path,
    manifest_path,
    read_record,
    remove_if_present,
    unmark_shipped_index,
    write_record,
)

ACTIONS = ("retry", "forget")


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


def manage_scan(config, scan_id, action, now=None):
    """Returns {experiment, scan, action, previous_state, state}."""
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
    if lease is not None and lease["active"]:
        raise DaqError(
            "{}/{} is claimed by run {} until {}; try again after that run ends.".format(
                experiment, scan, lease["run_id"], iso_time(lease["expires_at"])
            )
        )
    previous = (record or {}).get("state", "pending")
    if action == "retry":
        if previous not in ("failed", "quarantined"):
            raise DaqError(f"{experiment}/{scan} is {previous}, not failed or quarantined; there is nothing to retry.")
        record.update(state="pending", attempts=0, retry_after=None, updated_at=iso_time(now))
        write_record(ledger, record)
        bump_generation(ledger)
        return {
            "experiment": experiment,
            "scan": scan,
            "action": action,
            "previous_state": previous,
            "state": "pending",
        }
    unmark_shipped_index(ledger, experiment, scan)
    for path in (ledger_path(ledger, "scans", experiment, scan + ".json"), manifest_path(ledger, experiment, scan)):
        remove_if_present(path)
    clear_claims(ledger, experiment, scan)
    bump_generation(ledger)
    return {"experiment": experiment, "scan": scan, "action": action, "previous_state": previous, "state": None}
