"""Whether a destination is the DAQ storage itself, asked of Globus Transfer from wherever deploy and doctor run.

The DAQ collection and a destination may be two names for the same files (a second collection on the same
storage, a bind mount under another path): a backup there is no copy, and a release would remove the only one.
Paths cannot show it (a collection's paths mean nothing outside it, and resolved paths do not see a bind
mount), so deploy and doctor write a probe: an empty directory at the destination's base_path, named for that
destination, then list the DAQ collection's root for it. The flow makes the same test with a probe file before
every release (``compute_functions/_release.probe_seen``); both use ``_release.probe_name``.

The probe directory stays at the destination (one per destination, made once): Transfer's API has no plain
``rmdir``. Where the destination is the DAQ, it stays on the DAQ as well, and every later probe finds it there
until someone removes it, which the sentence says.
"""

from __future__ import annotations

from typing import Any


def probe_name(destination: Any) -> str:
    from palxfel_globus.functions import call

    return str(call("record_outcome", function="probe_name", destination=destination.function_config()))


def daq_alias_problem(transfer: Any, config: Any, where: str, destination: Any) -> str:
    """One sentence when ``destination`` is the DAQ storage itself; "" when it is not (or when its base_path does
    not exist there yet, so it cannot be the DAQ root, which does)."""
    from globus_sdk import TransferAPIError

    name = probe_name(destination)
    probe = f"{destination.base_path.rstrip('/')}/{name}"
    try:
        transfer.operation_mkdir(destination.collection, probe)
    except TransferAPIError as error:
        if error.http_status == 404 or "NotFound" in str(error.code):
            return ""
        if "Exists" not in str(error.code):
            raise
    root = config.daq.collection_root
    listing = transfer.operation_ls(config.daq.collection, path=root, filter=f"name:={name}")
    if not any(entry.get("name") == name for entry in listing):
        return ""
    return (
        f"{where}: {destination.base_path} on {destination.collection} is the DAQ storage itself (a probe directory "
        f"made there, {name}, appears in the DAQ collection at {root}), so a backup there is no copy and releasing "
        f"DAQ space would lose the data; give the route a destination on other storage (once the two are apart, "
        f"remove {root.rstrip('/')}/{name} from the DAQ)"
    )


def daq_alias_problems(transfer: Any, config: Any) -> list[str]:
    """The sentence of every destination that is the DAQ storage itself."""
    from palxfel_globus.config import route_place

    problems = []
    for number, place, route, destination in config.destinations():
        problem = daq_alias_problem(transfer, config, route_place(number, place, route), destination)
        if problem:
            problems.append(problem)
    return problems
