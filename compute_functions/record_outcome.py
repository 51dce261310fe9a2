"""Compute function: write each scan's outcome to the ledger and give back the claims.

The flow's last action, on the DAQ endpoint. A scan becomes ``shipped`` only with a
verification that passed against the very manifest the ledger holds (same digest);
anything else is a failed attempt with back-off, and ``quarantined`` after
``max_attempts``.
"""

from _layout import DaqError, checked_scan
from _ledger import (
    claim_index,
    clear_claims,
    current_claim,
    iso_time,
    mark_shipped_index,
    read_manifest,
    read_record,
    release_claim,
    write_record,
)

MAX_BACKOFF_SECONDS = 24 * 3600


def _is_verified(verification, ledger_digest):
    return (
        isinstance(verification, dict)
        and verification.get("ok") is True
        and ledger_digest is not None
        and verification.get("manifest_digest") == ledger_digest
    )


def _failure_reason(outcome, verification, ledger_digest):
    if outcome.get("error"):
        return str(outcome["error"])
    if ledger_digest is None:
        return "no manifest in the ledger for this scan"
    if not isinstance(verification, dict):
        return "no verification result"
    if verification.get("manifest_digest") != ledger_digest:
        return "verified against a different manifest than the ledger's"
    return "verification failed: %s" % (verification.get("summary") or "files differ")


def record_outcome(config, run_id, outcomes, now=None):
    """``outcomes``: [{experiment, scan, verification?, error?, task_id?}], one per claimed scan.

    Returns {ok, shipped: [id], failed: [{scan, attempts, retry_after, reason}],
    quarantined: [{scan, attempts, reason}], skipped: [{scan, reason}]}.
    """
    import time

    if not isinstance(outcomes, list):
        raise DaqError("record_outcome needs a list of outcomes.")
    now = time.time() if now is None else now
    ledger = config["ledger"]
    shipped, failed, quarantined, skipped = [], [], [], []
    for outcome in outcomes:
        experiment, scan = checked_scan(outcome.get("experiment"), outcome.get("scan"))
        scan_id = f"{experiment}/{scan}"
        record, problem = read_record(ledger, experiment, scan)
        if problem:
            skipped.append({"scan": scan_id, "reason": problem})
            continue
        record = record or {"experiment": experiment, "scan": scan, "attempts": 0}
        manifest, ledger_digest = read_manifest(ledger, experiment, scan)
        verification = outcome.get("verification")
        if _is_verified(verification, ledger_digest):
            if record.get("state") != "shipped" or record.get("manifest_digest") != ledger_digest:
                record.update(
                    state="shipped",
                    run_id=run_id,
                    task_id=outcome.get("task_id"),
                    files=manifest["file_count"],
                    bytes=manifest["bytes"],
                    manifest_digest=ledger_digest,
                    shipped_at=iso_time(now),
                    updated_at=iso_time(now),
                    last_error=None,
                    retry_after=None,
                )
                write_record(ledger, record)
            mark_shipped_index(ledger, experiment, scan)
            clear_claims(ledger, experiment, scan)
            shipped.append(scan_id)
            continue
        lease = current_claim(ledger, experiment, scan, claim_index(ledger, experiment).get(scan, {}), now)
        if record.get("state") == "shipped" or (lease is not None and lease["active"] and lease["run_id"] != run_id):
            skipped.append({"scan": scan_id, "reason": "another run holds or has finished this scan"})
            continue
        reason = _failure_reason(outcome, verification, ledger_digest)
        attempts = int(record.get("attempts") or 0) + 1
        record.update(
            attempts=attempts,
            run_id=run_id,
            task_id=outcome.get("task_id"),
            last_error=reason,
            updated_at=iso_time(now),
        )
        if attempts >= config["max_attempts"]:
            record.update(state="quarantined", retry_after=None)
            quarantined.append({"scan": scan_id, "attempts": attempts, "reason": reason})
        else:
            delay = min(MAX_BACKOFF_SECONDS, config["backoff_seconds"] * 2 ** (attempts - 1))
            record.update(state="failed", retry_after=now + delay)
            failed.append(
                {"scan": scan_id, "attempts": attempts, "retry_after": iso_time(now + delay), "reason": reason}
            )
        write_record(ledger, record)
        release_claim(ledger, experiment, scan, run_id, now)
    return {
        "ok": not (failed or quarantined or skipped),
        "shipped": shipped,
        "failed": failed,
        "quarantined": quarantined,
        "skipped": skipped,
    }
