"""Compute function: a data manager's change to one scan's ledger entry.

``retry`` makes a failed, quarantined or blocked scan pending again with a fresh attempt count (a
blocked scan whose DAQ copy differs from its verified backups is then checked against them again:
it ships only once it matches), sends a restored scan back to ``shipped``, so that it is released
again after a fresh verification, and a scan blocked for having no good copy left back to the state
it had, first in line for the scrub (once a person put a good copy back); ``replace`` is a person's
decision that the DAQ copy of such a blocked scan is the right one: the next tick makes a new
manifest from it and ships it over the backups; ``forget`` removes everything the ledger knows of a
scan, so the next tick ships it as a new one (a checksum-sync transfer then replaces what differs).
All refuse while a run holds the scan's claim, unless that run is known to have ended: a local run
whose process is gone, or a run the caller names in ``ended_runs`` (one Globus Flows reports ended).
``give_back`` returns every claim of one ended run at once.
"""

from _layout import DaqError, list_experiments, list_scans_of, real_root, split_scan_id
from _ledger import (
    DAQ_DIFFERS,
    NO_GOOD_COPY,
    ROUTE_IS_DAQ,
    bump_generation,
    claim_index,
    clear_claims,
    current_claim,
    iso_time,
    ledger_path,
    local_run_has_ended,
    manifest_path,
    mark_shipped_index,
    read_record,
    release_generation,
    release_run_claims,
    remove_if_present,
    unmark_shipped_index,
    write_record,
)
from _release import forget_probes, forget_released, queue_for_release, released_path
from _scrub import forget_copies, unblock_no_good_copy

ACTIONS = ("retry", "forget", "replace")
RETRIED = ("failed", "quarantined", "blocked")


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
    result = {
        "experiment": experiment,
        "scan": scan,
        "action": action,
        "previous_state": previous,
        "released_claim_of": released,
    }
    if action == "retry":
        if previous == "restored":
            return dict(result, state=_release_again(ledger, record, now))
        if previous == "blocked" and record.get("blocked_kind") == NO_GOOD_COPY:
            return dict(result, state=unblock_no_good_copy(config, record, now))
        if previous == "blocked" and record.get("blocked_kind") == ROUTE_IS_DAQ:
            forget_probes(real_root(config["daq_root"]), experiment)  # the next release run probes afresh
        if previous not in RETRIED and released is None:
            raise DaqError(
                f"{experiment}/{scan} is {previous}, not failed, quarantined, blocked or restored; "
                "there is nothing to retry."
            )
        if previous in RETRIED:
            record.update(
                state="pending", attempts=0, retry_after=None, blocked_kind=None, reason=None, updated_at=iso_time(now)
            )
            write_record(ledger, record)
        bump_generation(ledger)
        return dict(result, state="pending" if previous in RETRIED else previous)
    if action == "replace":
        if previous != "blocked" or record.get("blocked_kind") != DAQ_DIFFERS:
            raise DaqError(
                f"{experiment}/{scan} is {previous}, not blocked for a DAQ copy that differs from its backups; "
                "'replace' ships only such a copy over its backups."
            )
        _set_aside_manifest(ledger, experiment, scan, now)
        unverified = [dict(place, state="replaced", verified_at=None) for place in record.get("destinations") or []]
        for key in ("verified_digest", "shipped_at", "manifest_digest", "blocked_kind", "reason"):
            record.pop(key, None)
        record.update(state="pending", attempts=0, retry_after=None, destinations=unverified, updated_at=iso_time(now))
        write_record(ledger, record)
        bump_generation(ledger)
        return dict(result, state="pending")
    if previous == "blocked" and record.get("blocked_kind") == DAQ_DIFFERS:
        raise DaqError(
            f"{experiment}/{scan} is blocked: its DAQ copy differs from its verified backups, and forgetting it would "
            "ship the DAQ copy over them with no record of what they held; 'palxfel-globus scans replace' does that "
            "keeping the verified manifest, or put the backup's files back and 'scans retry'."
        )
    unmark_shipped_index(ledger, experiment, scan)
    for path in (ledger_path(ledger, "scans", experiment, scan + ".json"), manifest_path(ledger, experiment, scan)):
        remove_if_present(path)
    forget_released(ledger, experiment, scan)
    forget_copies(ledger, experiment, scan)
    clear_claims(ledger, experiment, scan)
    bump_generation(ledger)
    return dict(result, state=None)


def _release_again(ledger, record, now):
    """A restored scan back to ``shipped`` (as it was before its release), so that the release phase checks it
    against its manifest, verifies its copies afresh and removes the DAQ copy again. Its released record goes:
    else a run would take the scan for a release that only needs finishing."""
    import datetime

    experiment, scan = record["experiment"], record["scan"]
    for key in ("restored_at", "released_at", "reason"):
        record.pop(key, None)
    record.update(state="shipped", updated_at=iso_time(now))
    record.setdefault("shipped_at", iso_time(now))
    write_record(ledger, record)
    mark_shipped_index(ledger, experiment, scan)
    remove_if_present(released_path(ledger, experiment, scan))
    queue_for_release(ledger, experiment, scan, datetime.datetime.fromisoformat(record["shipped_at"]).timestamp())
    bump_generation(ledger)
    return "shipped"


def _set_aside_manifest(ledger, experiment, scan, now):
    """Keep the manifest the backups were verified against, beside the new one the next tick makes."""
    import hashlib
    import os

    path = manifest_path(ledger, experiment, scan)
    if os.path.exists(path):  # named by a digest of the scan's name: a 240-byte name plus a suffix would not fit
        key = hashlib.sha256(scan.encode("utf-8", "surrogateescape")).hexdigest()[:24]
        os.replace(path, ledger_path(ledger, "manifests", experiment, f".replaced-{key}-{int(now)}.json"))


def give_back(config, run_id, ended_runs=(), now=None):
    """Every claim ``run_id`` still holds, given back at once, once the run is known to have ended (a local run
    whose process is gone, or one Globus Flows reports ended: ``ended_runs``). Returns the scans given back."""
    import time

    ledger = config["ledger"]
    if run_id not in ended_runs and not local_run_has_ended(ledger, run_id):
        raise DaqError(
            f"Run {run_id} is not known to have ended (it may still be going); its claims are given back when it "
            "ends, or when their lease runs out."
        )
    released = release_run_claims(ledger, run_id, time.time() if now is None else now)
    if released:
        bump_generation(ledger)
    return released
