"""The consents a run of our flows needs, so one login covers deploy, ``flow run`` and the timer.

Transfer reaches the data of a (non high-assurance) Globus Connect Server v5 *mapped*
collection only with that collection's ``data_access`` scope consented under the Transfer
scope; without it a run of the flow stops INACTIVE on the first Transfer action and waits
for a person. Guest and GCP collections have no such scope (asking for one fails the
login with "Unknown Scope"), so the collections are asked about first. The scope trees
are the ones globus-sdk builds in ``SpecificFlowClient.add_app_transfer_data_access_scope``
(flow user scope -> Transfer -> data_access, optional as there), with the Timers scope on
top for the timer, which runs the flow as the person who created it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAPPED_COLLECTION = "GCSv5_mapped_collection"


def needs_data_access(collection: Any) -> bool:
    """Whether a Transfer collection document (``get_endpoint``) calls for a data_access consent."""
    return collection.get("entity_type") == MAPPED_COLLECTION and not collection.get("high_assurance")


def data_access_collections(transfer: Any, collection_ids: Iterable[str]) -> list[str]:
    """The collections among ``collection_ids`` that need a data_access consent, sorted, each once."""
    return sorted({cid for cid in collection_ids if needs_data_access(transfer.get_endpoint(cid))})


def flow_scope(flow_id: str, data_access: Iterable[str]) -> Any:
    """The flow's user scope, with Transfer's data_access for each collection under it."""
    from globus_sdk.scopes import GCSCollectionScopes, SpecificFlowScopes, TransferScopes

    user = SpecificFlowScopes(flow_id).user
    collections = list(data_access)
    if not collections:
        return user
    transfer = TransferScopes.all.with_optional(True).with_dependencies(
        [GCSCollectionScopes(cid).data_access.with_optional(True) for cid in collections]
    )
    return user.with_dependency(transfer)


def timer_scope(flow_id: str, data_access: Iterable[str]) -> Any:
    """The Timers scope a flow timer is created under: the flow's scope (and its data access) below it."""
    from globus_sdk.scopes import TimersScopes

    return TimersScopes.timer.with_dependency(flow_scope(flow_id, data_access))


def require_flow_consents(app: Any, flow_id: str, data_access: Iterable[str]) -> None:
    """Ask ``app`` for both ways our flow runs: started by a person (``flow run``) and by the timer.

    The SDK checks these trees against Globus Auth's consents before it uses a token, so a
    missing consent stops the command with "run 'palxfel-globus login'" (and shows in doctor)
    instead of leaving a run INACTIVE in Globus.
    """
    from globus_sdk.scopes import TimersScopes

    collections = list(data_access)
    app.add_scope_requirements(
        {flow_id: [flow_scope(flow_id, collections)], TimersScopes.resource_server: [timer_scope(flow_id, collections)]}
    )
