"""Action URL -> local provider, for the URLs flows use (globus-flows.md 3)."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlparse

from palxfel_globus.engine.providers import misc
from palxfel_globus.engine.providers.base import Provider, ProviderError
from palxfel_globus.engine.providers.compute import ComputeProvider
from palxfel_globus.engine.providers.search import SearchProvider
from palxfel_globus.engine.providers.transfer import TransferProvider

RETIRED_TRANSFER_HOST = "actions.globus.org/transfer/"


def url_key(url: str) -> str:
    parsed = urlparse(url.strip())
    return (parsed.netloc.lower() + parsed.path).rstrip("/")


def build_registry(transfer: TransferProvider, compute: ComputeProvider, search: SearchProvider) -> dict[str, Provider]:
    """Every Globus-hosted action provider on the documentation's list
    (docs.globus.org/api/flows/hosted-action-providers/), by URL."""
    registry: dict[str, Provider] = {
        f"transfer.actions.globus.org/{operation}": getattr(transfer, operation)
        for operation in ("transfer", "ls", "stat", "mkdir", "delete", "collection_info", "manage_permission")
    }
    registry["transfer.actions.globus.org/gcsv5/create_guest_collection"] = transfer.create_guest_collection
    registry.update(
        {
            "compute.actions.globus.org": compute.v2,
            "compute.actions.globus.org/v2": compute.v2,
            "compute.actions.globus.org/v3": compute.v3,
            "actions.globus.org/hello_world": misc.hello_world,
            "actions.globus.org/notification/notify": misc.notify,
            "actions.globus.org/expression_eval": misc.expression_eval,
            "actions.globus.org/weboption/wait_for_option": misc.wait_for_option,
            "actions.globus.org/datacite/mint/basic_auth": misc.datacite_mint,
            "actions.globus.org/search/ingest": search.ingest,
            "actions.globus.org/search/delete": search.delete,
        }
    )
    return registry


def lookup(registry: dict[str, Provider], url: Optional[str]) -> Provider:
    if not isinstance(url, str):
        raise ProviderError("the state names no action URL")
    key = url_key(url)
    if key in registry:
        return registry[key]
    if key.startswith(RETIRED_TRANSFER_HOST):
        operation = key[len(RETIRED_TRANSFER_HOST) :]
        raise ProviderError(f"{url} was retired on 2025-01-22; use https://transfer.actions.globus.org/{operation}")
    raise ProviderError(
        f"no local action provider for {url}; this engine provides Transfer, Compute, Search ingest and delete, "
        "hello_world, notification, wait_for_option, expression_eval and DataCite mint"
    )
