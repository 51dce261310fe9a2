"""Action URL -> local provider, for the URLs flows use (globus-flows.md 3), and what the service
says of a URL it retired."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlparse

from palxfel_globus.engine.providers import misc
from palxfel_globus.engine.providers.base import Provider, ProviderError
from palxfel_globus.engine.providers.compute import ComputeProvider
from palxfel_globus.engine.providers.search import SearchProvider
from palxfel_globus.engine.providers.transfer import TransferProvider

TRANSFER_OPERATIONS = ("transfer", "ls", "stat", "mkdir", "delete", "collection_info", "manage_permission")
# Every Globus-hosted action provider on the documentation's list
# (docs.globus.org/api/flows/hosted-action-providers/), by URL: (provider, method name)
HOSTED = {
    **{f"transfer.actions.globus.org/{operation}": ("transfer", operation) for operation in TRANSFER_OPERATIONS},
    "transfer.actions.globus.org/gcsv5/create_guest_collection": ("transfer", "create_guest_collection"),
    # v2 at /, /v2 and /fxap (the URL Gladier and ALS use); v3 at /v3 (globus-compute docs/actionprovider.rst)
    "compute.actions.globus.org": ("compute", "v2"),
    "compute.actions.globus.org/v2": ("compute", "v2"),
    "compute.actions.globus.org/fxap": ("compute", "v2"),
    "compute.actions.globus.org/v3": ("compute", "v3"),
    "actions.globus.org/hello_world": ("misc", "hello_world"),
    "actions.globus.org/notification/notify": ("misc", "notify"),
    "actions.globus.org/expression_eval": ("misc", "expression_eval"),
    "actions.globus.org/weboption/wait_for_option": ("misc", "wait_for_option"),
    "actions.globus.org/datacite/mint/basic_auth": ("misc", "datacite_mint"),
    "actions.globus.org/search/ingest": ("search", "ingest"),
    "actions.globus.org/search/delete": ("search", "delete"),
}
# Hosts the service no longer answers, and what replaced them: the Transfer action providers moved
# to transfer.actions.globus.org on 2025-01-22 (docs: Transfer action providers, "migration"), from
# both their old hosts; the funcX action provider became compute.actions.globus.org in April 2023
# (globus-compute docs/actionprovider.rst).
RETIRED_TRANSFER_PREFIXES = ("actions.globus.org/transfer/", "actions.automate.globus.org/transfer/")
RETIRED_FUNCX_HOSTS = ("funcx.org",)
RETIRED_TRANSFER_DATE = "2025-01-22"


def url_key(url: str) -> str:
    parsed = urlparse(url.strip())
    return (parsed.netloc.lower() + parsed.path).rstrip("/")


def retired(url: str) -> Optional[str]:
    """The sentence the service's refusal amounts to, naming the replacement; None if not retired."""
    key = url_key(url)
    for prefix in RETIRED_TRANSFER_PREFIXES:
        if key.startswith(prefix):
            operation = key[len(prefix) :]
            renamed = (
                " (its parameters: source_endpoint, destination_endpoint, DATA)" if operation == "transfer" else ""
            )
            return f"{url} was retired on {RETIRED_TRANSFER_DATE}; use https://transfer.actions.globus.org/{operation}{renamed}"
    host = urlparse(url.strip()).netloc.lower()
    if any(host == retired_host or host.endswith("." + retired_host) for retired_host in RETIRED_FUNCX_HOSTS):
        return f"{url} (the funcX action provider) was retired in April 2023; use https://compute.actions.globus.org"
    return None


def runs_locally(url: str) -> bool:
    return url_key(url) in HOSTED


def build_registry(transfer: TransferProvider, compute: ComputeProvider, search: SearchProvider) -> dict[str, Provider]:
    providers = {"transfer": transfer, "compute": compute, "search": search, "misc": misc}
    return {key: getattr(providers[owner], method) for key, (owner, method) in HOSTED.items()}


def lookup(registry: dict[str, Provider], url: Optional[str]) -> Provider:
    if not isinstance(url, str):
        raise ProviderError("the state names no action URL")
    key = url_key(url)
    if key in registry:
        return registry[key]
    refusal = retired(url)
    if refusal:
        raise ProviderError(refusal)
    raise ProviderError(
        f"no local action provider for {url}; this engine provides Transfer, Compute, Search ingest and delete, "
        "hello_world, notification, wait_for_option, expression_eval and DataCite mint"
    )
