"""Which Compute endpoint runs which of the flow's functions, and the ``config.yaml`` that lets it.

An endpoint started with ``allowed_functions`` runs nothing else (the service refuses other
functions too), so the DAQ data account runs only the backup. The list must hold the ids the
last deploy registered: a deploy that re-registers a changed function leaves a running
endpoint refusing the new id until its config names it and it restarts. The ids are read
from the deployment file here, never copied by hand, and ``doctor`` compares them with what
each running endpoint allows.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Optional

from palxfel_globus.config import route_place
from palxfel_globus.errors import PalxfelError
from palxfel_globus.resources import package_file

DAQ_FUNCTIONS = (
    "find_completed_scans",
    "build_manifest",
    "record_outcome",
    "share_rules",
    "catalog_entries",
    "copy_items",
    "restore_scans",
)
VERIFY_FUNCTIONS = ("verify_scan",)


@dataclass(frozen=True)
class EndpointRole:
    """One Compute endpoint of the config and the functions the flow sends it."""

    what: str  # "DAQ", "route #2 (ue_*)", or both joined when they share an endpoint
    endpoint_id: str
    functions: tuple[str, ...]
    selector: str  # what 'endpoint config' takes for it: "daq", or the route's number

    @property
    def on_daq_host(self) -> bool:
        return self.selector == "daq"


def endpoint_roles(config: Any) -> list[EndpointRole]:
    """One role per distinct endpoint id: a route that verifies on the DAQ endpoint adds
    verify_scan to the DAQ endpoint's list rather than making a second config for it."""
    roles: dict[str, EndpointRole] = {
        config.daq.compute_endpoint: EndpointRole("DAQ", config.daq.compute_endpoint, DAQ_FUNCTIONS, "daq")
    }
    for number, route in enumerate(config.routes, 1):
        for place, destination in enumerate(route.destinations, 1):
            endpoint_id = destination.compute_endpoint
            if not endpoint_id:
                continue
            what = f"{route_place(number, place, route)} ({route.match})"
            known = roles.get(endpoint_id)
            if known is None:
                selector = str(number) if place == 1 else f"{number}.{place}"
                roles[endpoint_id] = EndpointRole(what, endpoint_id, VERIFY_FUNCTIONS, selector)
            elif what not in known.what:
                functions = known.functions + tuple(name for name in VERIFY_FUNCTIONS if name not in known.functions)
                roles[endpoint_id] = EndpointRole(f"{known.what} and {what}", endpoint_id, functions, known.selector)
    return list(roles.values())


def pick_role(config: Any, which: str) -> EndpointRole:
    """The role of ``daq``, of a route given by its number (1 = the first [[route]]; 2.2 = the second
    destination of the second) or by its match."""
    if which.lower() == "daq":
        endpoint_id = config.daq.compute_endpoint
    elif which in {role.selector for role in endpoint_roles(config)} and "." in which:
        return next(role for role in endpoint_roles(config) if role.selector == which)
    else:
        numbered = {str(number): route for number, route in enumerate(config.routes, 1)}
        route = numbered.get(which) or next((route for route in config.routes if route.match == which), None)
        if route is None:
            choices = ", ".join(role.selector for role in endpoint_roles(config))
            raise PalxfelError(f"{which!r} is neither 'daq' nor a route of {config.source}; choose one of: {choices}.")
        endpoint_id = next((place.compute_endpoint for place in route.destinations if place.compute_endpoint), None)
        if not endpoint_id:
            raise PalxfelError(
                f"Route {route.match!r} has no compute_endpoint: Transfer's checksums verify its copies, so it "
                "needs no Compute endpoint."
            )
    return next(role for role in endpoint_roles(config) if role.endpoint_id == endpoint_id)


def registered_ids(role: EndpointRole, deployment: Any) -> dict[str, str]:
    """Function name -> the id the last deploy registered, for each function the endpoint runs."""
    missing = [name for name in role.functions if name not in deployment.functions]
    if missing:
        raise PalxfelError(
            f"{deployment.path.name} has no registered {', '.join(missing)}; run 'palxfel-globus deploy' first, "
            "then this command."
        )
    return {name: deployment.functions[name]["id"] for name in role.functions}


@dataclass(frozen=True)
class Slurm:
    """What only the site knows about its batch system; the rest of the template is ours."""

    partition: str
    worker_env: str  # a virtualenv on a filesystem the nodes share, with globus-compute-endpoint
    account: Optional[str] = None


def endpoint_config(role: EndpointRole, function_ids: dict[str, str], slurm: Optional[Slurm] = None) -> str:
    """The endpoint's ``config.yaml``: a Slurm engine when ``slurm`` is given, else a one-host process pool.
    Values are written as JSON strings, which YAML reads as they are, so a name with ``#`` or ``:``
    cannot turn into a comment or a mapping."""
    engine, values = "process", {}
    if slurm is not None:
        account = f"account: {json.dumps(slurm.account)}" if slurm.account else "# account: add one if jobs are charged"
        engine, values = (
            "slurm",
            {
                "partition": json.dumps(slurm.partition),
                "account": account,
                "worker_init": json.dumps(f"source {shlex.quote(slurm.worker_env + '/bin/activate')}"),
            },
        )
    body = package_file("endpoint_templates", f"{engine}.yaml").read_text(encoding="utf-8")
    for key, value in values.items():
        body = body.replace(f"{{{{ {key} }}}}", value)
    header = [
        f"# Globus Compute endpoint {role.endpoint_id}: palxfel-globus {role.what}.",
        f"# Written by 'palxfel-globus endpoint config {role.selector}' from the last deploy's function ids.",
        "# Save it as the endpoint's config.yaml (~/.globus_compute/NAME/config.yaml) and restart the",
        "# endpoint (globus-compute-endpoint restart NAME). After a deploy that registers a function,",
        "# write it again; 'palxfel-globus doctor' says when a running endpoint lags behind.",
        f"display_name: {json.dumps(f'palxfel-globus {role.what}')}",
    ]
    allowed = ["allowed_functions:"] + [f"  - {function_ids[name]}  # {name}" for name in role.functions]
    return "\n".join([*header, body.rstrip("\n"), *allowed]) + "\n"


def allowlist_lag(role: EndpointRole, function_ids: dict[str, str], allowlist: dict[str, Any]) -> Optional[str]:
    """What a running endpoint's allow-list (Compute's ``GET /v3/endpoints/{id}/allowed_functions``)
    lacks against the deployment, or None when it runs every deployed function and nothing else."""
    if not allowlist.get("restricted"):
        return "it runs any function: its config.yaml has no allowed_functions"
    allowed = {str(function_id) for function_id in allowlist.get("functions") or []}
    missing = [name for name in role.functions if function_ids[name] not in allowed]
    if missing:
        return f"it refuses the deployed {', '.join(missing)} (its allowed_functions predate the last deploy)"
    return None
