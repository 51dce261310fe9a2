"""``palxfel-globus shares list``: the access rules the flow set on the backups, from the ledger."""

from palxfel_globus.cli.options import command_group
from palxfel_globus.cli.output import display
from palxfel_globus.cli.session import ConfigOption, JsonOption

app = command_group("Access rules the flow set on the backups for [[share]] (reads the ledger, on the DAQ host).")


@app.command("list")
def list_shares(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Each rule: the experiment, where (collection and path), who, what they may do, and its id."""
    from palxfel_globus.config import load_config
    from palxfel_globus.functions import call

    loaded = load_config(config)
    rows = call("share_rules", function="shares_kept", config=loaded.function_config())
    fields = [  # the path names the experiment; --json has the collection too
        ("path", "path"),
        ("principal", "principal"),
        ("may", "permissions"),
        ("rule id", lambda rule: rule["id"] or "(made before the ledger knew it)"),
    ]
    keys = ("experiment", "collection", "path", "principal", "permissions", "id")
    shown = [{key: rule.get(key) for key in keys} for rule in rows]
    display(
        shown,
        fields,
        json_output=json_output,
        empty=(
            "No access rule is recorded yet: the next run makes them, or the destination refused them "
            "(the last run's summary says why)."
            if loaded.shares
            else "No access rule is recorded: the config has no [[share]]."
        ),
    )
