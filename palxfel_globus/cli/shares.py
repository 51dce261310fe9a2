"""``palxfel-globus shares list``: the access rules the flow set on the backups, the ledger's account
beside what Transfer really holds on each collection."""

from typing import Any, Optional

from palxfel_globus.cli.options import command_group
from palxfel_globus.cli.output import display, say
from palxfel_globus.cli.session import ConfigOption, JsonOption

app = command_group(
    "Access rules the flow set on the backups for [[share]] (reads the ledger on the DAQ host, and the collections)."
)
PRINCIPAL_URNS = {"identity": "urn:globus:auth:identity:", "group": "urn:globus:groups:id:"}
HELD = {True: "yes", False: "NO: gone from the collection", None: "not checked (no login)"}


def _urn(rule: dict[str, Any]) -> str:
    prefix = PRINCIPAL_URNS.get(rule.get("principal_type") or "")
    return prefix + str(rule.get("principal")) if prefix else str(rule.get("principal_type"))


def on_the_collections(config: Any, collections: set[str]) -> tuple[Optional[list[dict[str, Any]]], str]:
    """(every access rule Transfer lists on ``collections``, "") or (None, why they were not asked): a rule
    the flow made and lost track of is found here, and nowhere else."""
    from globus_sdk import GlobusError

    from palxfel_globus.errors import PalxfelError
    from palxfel_globus.globus.auth import open_session
    from palxfel_globus.globus.errors import describe

    try:
        current = open_session(config)
    except PalxfelError as exc:
        return None, str(exc)
    if current.needs_person():
        return None, "not logged in ('palxfel-globus login' lets this compare the ledger with the collections)"
    found = []
    try:
        for collection in sorted(collections):
            for rule in current.transfer.endpoint_acl_list(collection)["DATA"]:
                if rule.get("id"):  # a role's implicit rule has none, and is not ours to change
                    found.append(dict(rule, collection=collection))
    except GlobusError as error:
        return None, describe(error)
    return found, ""


def _rows(kept: list[dict[str, Any]], live: Optional[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The ledger's rules, each with ``held`` (on the collection: True, False, or None when not asked), then
    the rules on the collections the ledger does not know (``held``: "not in the ledger")."""
    keys = ("experiment", "collection", "path", "principal", "permissions", "id")
    live_ids = {rule["id"] for rule in live or []}
    rows = [
        dict({key: rule.get(key) for key in keys}, held=None if live is None else rule.get("id") in live_ids)
        for rule in kept
    ]
    known = {rule.get("id") for rule in kept}
    for rule in live or []:
        if rule["id"] not in known:
            where = {key: rule.get(key) for key in ("collection", "path", "permissions", "id")}
            rows.append(dict(where, experiment=None, principal=_urn(rule), held="not in the ledger"))
    return rows


@app.command("list")
def list_shares(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Each rule: the experiment, where (collection and path), who, what they may do, its id, and whether
    the collection holds it. A rule the ledger has without an id gets it from the collection, so the next
    run can remove it when it must go; a rule on the collection the ledger does not know is listed too."""
    from palxfel_globus.config import load_config
    from palxfel_globus.functions import call
    from palxfel_globus.globus.sharing import shared_routes

    loaded = load_config(config)
    function_config = loaded.function_config()
    kept = call("share_rules", function="shares_kept", config=function_config)
    collections = {rule["collection"] for rule in kept} | {
        route.primary.collection for _, route in shared_routes(loaded)
    }
    live, why_not = on_the_collections(loaded, collections) if collections else ([], "")
    found = [
        {key: rule[key] for key in ("collection", "path", "principal_type", "principal", "id")} for rule in live or []
    ]
    adopted = found and call("share_rules", function="adopt_rule_ids", config=function_config, found=found)
    if adopted:
        kept = call("share_rules", function="shares_kept", config=function_config)
    if not json_output:  # --json: the rows say it (each rule's id and "held")
        if adopted:
            say(
                f"{adopted} rule(s) the ledger held without an id got it from the collection: "
                "the next run can remove them."
            )
        if why_not:
            say(f"The collections were not asked: {why_not}.")
    fields = [  # the path names the experiment; --json has the collection too
        ("path", "path"),
        ("principal", "principal"),
        ("may", "permissions"),
        ("rule id", lambda rule: rule["id"] or "(unknown: not found on the collection)"),
        ("on the collection", lambda rule: HELD.get(rule["held"], rule["held"])),
    ]
    display(
        _rows(kept, live),
        fields,
        json_output=json_output,
        empty=(
            "No access rule is recorded yet: the next run makes them, or the destination refused them "
            "(the last run's summary says why)."
            if loaded.shares
            else "No access rule is recorded: the config has no [[share]]."
        ),
    )
