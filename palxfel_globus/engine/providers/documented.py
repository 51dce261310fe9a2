"""What the Globus documentation publishes as each hosted action provider's input, written down once.

Every form names the page it was read from. The local providers for Search ingest, manage_permission
and the notification e-mail accept exactly these forms and refuse anything else, as the service
refuses an input its schema does not define, so a flow written in an undocumented form fails here
as it would in production; the tests check every action of every flow we deploy against this table.
Where a page is silent, the form public flows use is taken and the README's "Check on the first
deploy" list says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from palxfel_globus.engine.providers.base import ProviderError

STRING, LIST, OBJECT, BOOLEAN = (str,), (list,), (dict,), (bool,)


@dataclass(frozen=True)
class Form:
    """One documented input: the keys it must have, the keys it may have, and the JSON type of those the
    page shows a value of."""

    provider: str
    page: str
    required: frozenset[str]
    optional: frozenset[str] = frozenset()
    types: dict[str, tuple[type, ...]] = field(default_factory=dict)

    @property
    def allowed(self) -> frozenset[str]:
        return self.required | self.optional

    def problems(self, body: dict[str, Any]) -> list[str]:
        """One sentence for each way ``body`` departs from the form (empty: it is the documented form)."""
        found = []
        for key in sorted(set(body) - self.allowed):
            found.append(f"{self.provider} has no parameter {key!r} (it takes {', '.join(sorted(self.allowed))})")
        for key in sorted(self.required - set(body)):
            found.append(f"{self.provider} needs the parameter {key!r}")
        for key, kinds in self.types.items():
            if key in body and not _is(body[key], kinds):
                found.append(f"{self.provider}'s {key!r} must be {_kind(kinds)}, not {type(body[key]).__name__}")
        return found

    def check(self, body: dict[str, Any]) -> None:
        """ProviderError (ActionUnableToRun, as the service's refusal) naming the first departure."""
        found = self.problems(body)
        if found:
            raise ProviderError(f"{found[0]} ({self.page})")


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    """JSON's types: true is a boolean, never a number."""
    return isinstance(value, kinds) and (kinds == BOOLEAN or not isinstance(value, bool))


def _kind(kinds: tuple[type, ...]) -> str:
    return {STRING: "a string", LIST: "a list", OBJECT: "a JSON object", BOOLEAN: "true or false"}[kinds]


SEARCH_INGEST = Form(
    "Search ingest",
    "https://docs.globus.org/api/flows/hosted-action-providers/ap-search-ingest/ (one entry per action; "
    "gladier-tools SearchIngest adds the optional id)",
    frozenset({"search_index", "subject", "visible_to", "content"}),
    frozenset({"id"}),
    {"search_index": STRING, "subject": STRING, "visible_to": LIST, "content": OBJECT, "id": STRING},
)
_PERMISSION_PAGE = (
    "https://docs.globus.org/api/flows/hosted-action-providers/ap-transfer-set-permission/ (renamed "
    "manage_permission: https://docs.globus.org/api/transfer/action-providers/migration)"
)
MANAGE_PERMISSION = {
    "CREATE": Form(
        "manage_permission CREATE",
        _PERMISSION_PAGE,
        frozenset({"operation", "endpoint_id", "path", "principal_type", "permissions"}),
        frozenset({"principal"}),  # "" in the page's example for all_authenticated_users; a UUID otherwise
        {"endpoint_id": STRING, "path": STRING, "principal_type": STRING, "principal": STRING},
    ),
    "UPDATE": Form(
        "manage_permission UPDATE",
        _PERMISSION_PAGE,
        frozenset({"operation", "endpoint_id", "rule_id", "permissions"}),
        types={"endpoint_id": STRING, "rule_id": STRING, "permissions": STRING},
    ),
    "DELETE": Form(
        "manage_permission DELETE",
        _PERMISSION_PAGE,
        frozenset({"operation", "endpoint_id", "rule_id"}),
        types={"endpoint_id": STRING, "rule_id": STRING},
    ),
}
NOTIFY = Form(
    "the notification action provider",
    "https://docs.globus.org/api/flows/hosted-action-providers/ap-notification-notify/ (every example, and the "
    "public CFDE and MDF flows, give destination as one address)",
    frozenset({"destination", "body_template"}),
    frozenset(
        {
            "sender",
            "subject",
            "body_mimetype",
            "body_variables",
            "send_credentials",
            "notification_method",
            "notification_priority",
        }
    ),
    {
        "destination": STRING,
        "sender": STRING,
        "subject": STRING,
        "body_template": STRING,
        "body_variables": OBJECT,
        "send_credentials": LIST,
    },
)
_TRANSFER_PAGE = "https://docs.globus.org/api/transfer/action-providers/transfer/ (and task_submit for each option)"
TRANSFER = Form(
    "the Transfer action provider",
    _TRANSFER_PAGE,
    frozenset({"source_endpoint", "destination_endpoint", "DATA"}),
    frozenset(
        """label deadline sync_level verify_checksum preserve_timestamp encrypt_data skip_source_errors
        fail_on_quota_errors delete_destination_extra store_base_path_info filter_rules source_local_user
        destination_local_user notify_on_succeeded notify_on_failed notify_on_inactive DATA_TYPE""".split()
    ),  # DATA_TYPE ("transfer") as the official transfer_share example writes it
    {"DATA": LIST, "label": STRING},
)
TRANSFER_ITEM = Form(
    "a Transfer DATA item",
    _TRANSFER_PAGE,
    frozenset({"source_path", "destination_path"}),
    frozenset({"DATA_TYPE", "recursive", "external_checksum", "checksum_algorithm"}),
    {"source_path": STRING, "destination_path": STRING, "recursive": BOOLEAN},
)
DELETE = Form(
    "the Transfer Delete action provider",
    "https://docs.globus.org/api/transfer/action-providers/delete/ (and task_submit for the delete options)",
    frozenset({"endpoint", "DATA"}),
    frozenset(
        """recursive ignore_missing interpret_globs label deadline local_user notify_on_succeeded notify_on_failed
        notify_on_inactive""".split()
    ),
    {"DATA": LIST, "label": STRING, "recursive": BOOLEAN, "ignore_missing": BOOLEAN},
)
STAT = Form(
    "the Transfer Stat action provider",
    "https://docs.globus.org/api/transfer/action-providers/stat/",
    frozenset({"endpoint_id", "path"}),
    frozenset({"local_user"}),
    {"endpoint_id": STRING, "path": STRING},
)
COMPUTE_V3 = Form(
    "Compute v3",
    "https://globus-compute.readthedocs.io/en/latest/actionprovider.html",
    frozenset({"endpoint_id", "tasks"}),
    frozenset({"task_group_id", "user_endpoint_config", "resource_specification"}),
    {"tasks": LIST},
)
COMPUTE_TASK = Form(
    "a Compute v3 task",
    "https://globus-compute.readthedocs.io/en/latest/actionprovider.html",
    frozenset({"function_id"}),
    frozenset({"args", "kwargs"}),
    {"args": LIST, "kwargs": OBJECT},
)

# action URL (host and path, as the engine's registry keys them) -> its form, or its forms by operation
FORMS: dict[str, Any] = {
    "actions.globus.org/search/ingest": SEARCH_INGEST,
    "transfer.actions.globus.org/manage_permission": MANAGE_PERMISSION,
    "actions.globus.org/notification/notify": NOTIFY,
    "transfer.actions.globus.org/transfer": TRANSFER,
    "transfer.actions.globus.org/delete": DELETE,
    "transfer.actions.globus.org/stat": STAT,
    "compute.actions.globus.org/v3": COMPUTE_V3,
}

# The Flows API's published Pass state schema (globus/globus-sdk-javascript src/open-api/types/flows.ts,
# components.schemas.Pass): no Result, though the authoring page still mentions one.
PASS_FIELDS = frozenset({"Type", "Comment", "Next", "End", "InputPath", "Parameters", "ResultPath"})
PASS_PAGE = "https://github.com/globus/globus-sdk-javascript/blob/main/src/open-api/types/flows.ts"

# GET /runs: "orderby" is a comma-separated list of "FIELD ORDERING", start_time among the fields (same file).
NEWEST_RUNS_FIRST = "start_time DESC"


def manage_permission_form(body: dict[str, Any]) -> Form:
    """The form of a manage_permission request by its operation; ProviderError for an operation the page
    does not name."""
    operation = body.get("operation")
    if operation not in MANAGE_PERMISSION:
        raise ProviderError(f"operation {operation!r} is not CREATE, UPDATE or DELETE ({_PERMISSION_PAGE})")
    return MANAGE_PERMISSION[operation]
