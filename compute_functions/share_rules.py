"""Compute function: the access rules the experiments' backups should carry, and what became of them.

``[[share]]`` gives principals read (or read-write) access to the experiments it matches. For
every experiment with a shipped scan, each matching principal gets one rule on
``<base_path>/<experiment>/`` of the experiment's route destination (a guest collection; the
route's first, where it has several), never one per scan. The ledger keeps the rules the flow
made (``shares/<experiment>/rules.json``) with their ids, so a rule is made once, and a principal
removed from the config has its rule deleted on the next run.

Called on the DAQ endpoint twice in a run that has something to change: ``share_rules(config,
run_id, shipped=[...])`` plans (rules to create, rules to delete, at most ``MAX_CHANGES`` of each,
the rest next run) for the experiments this run shipped, or for all when the config's shares
changed, the last plan left changes, or a refusing destination is due again; ``share_rules(config,
run_id, done=[...], stuck=[...])`` records what the flow's manage_permission actions did. A
destination that refused a rule (not a guest collection) is left alone for a day, with one sentence
in the run each time it is planned.

A rule is removed by its id (manage_permission DELETE takes ``rule_id``). A rule the ledger holds
without one (CREATE found it already there: made by a run that died before recording it, or recorded
by a ledger since lost) cannot be removed by the flow: the plan says so, once a day, as a failure of
the sharing step, until 'palxfel-globus shares list' on the DAQ host finds the rule on the collection
and records its id (``adopt_rule_ids``); the next run then removes it.
"""

from _layout import join_collection_path, primary_destination, route_for, share_principals, shares_fingerprint
from _ledger import (
    SHARES_PLAN_FILE,
    atomic_write,
    encode_json,
    iso_time,
    ledger_path,
    note_side_step,
    plain_names,
    read_json,
    shares_due,
)

MAX_CHANGES = 20  # access-rule actions of each kind per run; a large first share takes a few runs
REFUSED_RETRY_SECONDS = 86400
RULES_FILE = "rules.json"


def _principal(urn):
    """``urn:globus:groups:id:U`` / ``urn:globus:auth:identity:U`` -> (principal_type, U) as Transfer takes them."""
    kind = "group" if urn.startswith("urn:globus:groups:id:") else "identity"
    return kind, urn.rsplit(":", 1)[1]


def _experiments_shipped(ledger):
    """Experiments with shipped data, or rules already made (their scans may all be released since)."""
    import os

    return sorted(set(plain_names(os.path.join(ledger, "shipped"))) | set(plain_names(os.path.join(ledger, "shares"))))


def _removal(rule, experiment, stuck):
    """The rule to delete, or None with a sentence in ``stuck`` when its id is unknown."""
    if rule.get("id"):
        return dict(rule, experiment=experiment)
    stuck.append(
        f"the access rule for {rule['principal']} on {rule['path']} ({rule['collection']}) must be removed, but its "
        "id is unknown: 'palxfel-globus shares list' on the DAQ host finds it on the collection, and the next run "
        "removes it"
    )
    return None


def _read(ledger, experiment):
    document, problem = read_json(ledger_path(ledger, "shares", experiment, RULES_FILE))
    return document or {"experiment": experiment, "rules": [], "refused": {}}, problem


def _plan(config, ledger, now, shipped):
    """The changes for every experiment with shipped data when something beyond this run's shipping is due
    (see _ledger.shares_due), else for the experiments of ``shipped`` (EXPERIMENT/SCAN ids) only: a tick's
    cost follows what it shipped, not the size of the archive."""
    import os

    fingerprint = shares_fingerprint(config)
    if shares_due(ledger, fingerprint, now):
        experiments = _experiments_shipped(ledger)
    else:
        experiments = sorted({scan_id.split("/", 1)[0] for scan_id in shipped or []})
    create, delete, stuck, notes, more, retry_at = [], [], [], [], False, None
    for experiment in experiments:
        route = route_for(experiment, config["routes"])
        destination = primary_destination(route) if route else {}
        kept, problem = _read(ledger, experiment)
        if problem:
            notes.append(problem)
            continue
        wanted = share_principals(experiment, config.get("shares") or []) if route else {}
        path = join_collection_path(destination["base_path"], experiment) + "/" if route else None
        current, going = {}, []
        for rule in kept["rules"]:
            if rule["collection"] == destination.get("collection") and rule["path"] == path:
                current[rule["principal"]] = rule
            else:  # the route or its base path changed: the old rule no longer guards this backup
                going.append(rule)
        going += [rule for urn, rule in current.items() if wanted.get(urn) != rule["permissions"]]
        for rule in going:
            removal = _removal(rule, experiment, stuck)
            if removal is not None:
                delete.append(removal)
        refused_at = (kept.get("refused") or {}).get(destination.get("collection") or "")
        for urn, permissions in wanted.items():
            if urn in current and current[urn]["permissions"] == permissions:
                continue
            if refused_at is not None and now - refused_at["at"] < REFUSED_RETRY_SECONDS:
                stuck.append(refused_at["sentence"])  # still a failure of the step, not asked again today
                retry_at = min(retry_at or float("inf"), refused_at["at"] + REFUSED_RETRY_SECONDS)
                break
            principal_type, principal = _principal(urn)
            create.append(
                {
                    "experiment": experiment,
                    "collection": destination["collection"],
                    "path": path,
                    "urn": urn,
                    "principal_type": principal_type,
                    "principal": principal,
                    "permissions": permissions,
                }
            )
        if len(create) >= MAX_CHANGES or len(delete) >= MAX_CHANGES:
            more = True
            break
    if more:
        notes.append(f"more access rules to change than {MAX_CHANGES} a run: the rest follow next run")
    if stuck:  # said again in a day, or as soon as 'shares list' found the ids
        retry_at = min(retry_at or float("inf"), now + REFUSED_RETRY_SECONDS)
    state = {"fingerprint": fingerprint, "pending": bool(create or delete or more), "retry_at": retry_at}
    atomic_write(os.path.join(ledger, SHARES_PLAN_FILE), encode_json(state))
    return {
        "create": create[:MAX_CHANGES],
        "delete": delete[:MAX_CHANGES],
        "stuck": stuck[:MAX_CHANGES],
        "notes": list(dict.fromkeys(notes)),
    }


def _record(ledger, done, stuck, run_id, now):
    made, removed, notes, failures = 0, 0, [], list(stuck or [])
    by_experiment = {}
    for item in done:
        by_experiment.setdefault(item["rule"]["experiment"], []).append(item)
    for experiment, items in sorted(by_experiment.items()):
        kept, problem = _read(ledger, experiment)
        if problem:
            failures.append(problem)
            continue
        for item in items:
            rule, ok = item["rule"], item.get("status") == "SUCCEEDED"
            why = item.get("message") or item.get("code") or "no reason given"
            if item["operation"] == "DELETE":
                if ok or item.get("code") == "AccessRuleNotFound":  # by its id: gone already is gone
                    kept["rules"] = [kept_rule for kept_rule in kept["rules"] if kept_rule.get("id") != rule.get("id")]
                    removed += 1
                else:
                    failures.append(f"the access rule {rule.get('id')} on {rule['collection']} was not deleted: {why}")
                continue
            if ok or item.get("code") == "Exists":  # Exists: made before the ledger could say so
                kept["rules"].append(
                    {
                        "principal": rule["urn"],
                        "collection": rule["collection"],
                        "path": rule["path"],
                        "permissions": rule["permissions"],
                        "id": item.get("access_id") if ok else None,
                        "created_at": iso_time(now),
                        "run_id": run_id,
                    }
                )
                made += 1
                if not ok:
                    notes.append(
                        f"the access rule for {rule['urn']} on {rule['path']} was already on {rule['collection']}; "
                        "'palxfel-globus shares list' on the DAQ host records its id"
                    )
                continue
            sentence = (
                f"{rule['collection']} refused access rules ({why}); "
                "[[share]] needs the route's destination to be a guest collection"
            )
            kept.setdefault("refused", {})[rule["collection"]] = {"at": now, "sentence": sentence}
            failures.append(sentence)
        atomic_write(ledger_path(ledger, "shares", experiment, RULES_FILE), encode_json(kept))
    parts = [f"{made} access rule{'' if made == 1 else 's'} made"] if made else []
    parts += [f"{removed} removed"] if removed else []
    note = "; sharing: " + ", ".join(parts) if parts else ""
    failures = list(dict.fromkeys(failures))
    notes = list(dict.fromkeys(notes))
    note += "".join(f"; {sentence}" for sentence in failures + notes)
    failed = "; ".join(failures) or None
    news = note_side_step(ledger, "sharing", failed, now)
    return {
        "made": made,
        "removed": removed,
        "notes": failures + notes,
        "note": note,
        "failed": failed,
        "news": [news] if news else [],
    }


def share_rules(config, run_id, done=None, shipped=None, stuck=None, now=None):
    """Without ``done``: {create: [{experiment, collection, path, urn, principal_type, principal, permissions}],
    delete: [{experiment, collection, path, principal, permissions, id}], stuck: [sentences: what must change
    and cannot], notes}. With ``done`` (the flow's [{operation, rule, status, access_id, code, message}]) and
    the plan's ``stuck``: {made, removed, notes, note, failed, news}."""
    import time

    now = time.time() if now is None else now
    ledger = config["ledger"]
    if done is not None:
        return _record(ledger, done, stuck, run_id, now)
    return _plan(config, ledger, now, shipped)


def shares_kept(config):
    """Every rule the ledger knows, for 'palxfel-globus shares list'."""
    rules = []
    for experiment in _experiments_shipped(config["ledger"]):
        kept, _problem = _read(config["ledger"], experiment)
        rules += [dict(rule, experiment=experiment) for rule in kept["rules"]]
    return rules


def adopt_rule_ids(config, found):
    """Record the id of each ledger rule that has none, from what Transfer lists on its collection
    (``found``: [{collection, path, principal_type, principal, id}]), so the flow can remove it when it
    must go; the next run plans again. Returns how many rules got their id."""
    import os

    ledger = config["ledger"]
    listed = {
        (rule["collection"], rule["path"], rule["principal_type"], rule["principal"]): rule["id"] for rule in found
    }
    adopted = 0
    for experiment in _experiments_shipped(ledger):
        kept, problem = _read(ledger, experiment)
        changed = False
        for rule in kept["rules"] if not problem else []:
            rule_id = listed.get((rule["collection"], rule["path"], *_principal(rule["principal"])))
            if not rule.get("id") and rule_id:
                rule["id"], changed = rule_id, True
                adopted += 1
        if changed:
            atomic_write(ledger_path(ledger, "shares", experiment, RULES_FILE), encode_json(kept))
    if adopted:  # the next run plans every experiment, and removes what must go
        plan, _problem = read_json(os.path.join(ledger, SHARES_PLAN_FILE))
        atomic_write(os.path.join(ledger, SHARES_PLAN_FILE), encode_json(dict(plan or {}, pending=True)))
    return adopted
