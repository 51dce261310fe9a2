"""``palxfel-globus deploy``: make Globus match the config, changing only what changed.

The desired state (each Compute function's bundled source, the flow's definition and
schema, the timer's interval and input) is compared by content hash with the deployment
file written by the last deploy. The plan lists only what differs; applying it registers
the changed functions, creates or updates the flow, and creates or replaces the timer,
writing the deployment file after each step so an interrupted deploy resumes where it
stopped. A deploy with nothing changed makes no write call at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from palxfel_globus.backup import FLOW_FUNCTIONS, flow_input, load_flow
from palxfel_globus.config import Config
from palxfel_globus.errors import PalxfelError
from palxfel_globus.functions import REGISTERED_FUNCTIONS, RESTORE_FUNCTIONS, bundled_source, source_hash
from palxfel_globus.globus.notify import credentials_stamp, send_credentials
from palxfel_globus.jsonfile import write_json

DEPLOYMENT_VERSION = 1
FLOW_TITLE = "PAL-XFEL scan backup"
FLOW_SUBTITLE = "Completed DAQ scans to their backup, checksum-verified"
FLOW_KEYWORDS = ["palxfel-globus", "PAL-XFEL", "backup"]
TIMER_NAME = "palxfel-globus scan backup"
TRANSFER_TITLE = "PAL-XFEL one-off copy"
TRANSFER_SUBTITLE = "One path between two collections, checksum-verified"
RESTORE_TITLE = "PAL-XFEL scan restore"
RESTORE_SUBTITLE = "Scans back from a backup copy that verifies against their manifest"
# For a run a person starts ('runs start', 'transfer'): Flows e-mails its owner only when it goes
# INACTIVE unless told otherwise. A timer's flow-start document has no such field (only body, tags,
# run_managers, run_monitors), so the nightly runs' failure e-mail comes from the flow itself ([notify]).
RUN_NOTIFICATIONS = {"status": ["INACTIVE", "FAILED"]}
FLOW_EXPIRY_DAYS = 30  # a flow made without a subscription (the Flows "Limits" page)


def content_hash(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def deployment_path(config: Config) -> Path:
    """Beside the config file: one deployment per config."""
    source = config.source or Path("palxfel-globus.toml")
    return source.absolute().with_name(source.stem + ".deployment.json")


@dataclass
class Deployment:
    """What the last deploy made: ids and the hashes they were made from."""

    path: Path
    functions: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {id, hash}
    flow: dict[str, str] = field(default_factory=dict)  # {id, hash}
    timer: dict[str, str] = field(default_factory=dict)  # {id, hash}
    transfer_flow: dict[str, str] = field(default_factory=dict)  # {id, hash}: the one-off copy flow
    restore_flow: dict[str, str] = field(default_factory=dict)  # {id, hash}: 'scans restore'
    data_access: list[str] = field(default_factory=list)  # collections whose data_access the timer was consented

    @classmethod
    def load(cls, path: Path) -> Deployment:
        if not path.exists():
            return cls(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("version") != DEPLOYMENT_VERSION:
                raise ValueError("unknown version")
            functions = document["functions"]
            records = [
                document["flow"],
                document["timer"],
                document.get("transfer_flow", {}),
                document.get("restore_flow", {}),
                *functions.values(),
            ]
            for record in records:  # each one made by a deploy, or empty; a hand edit must not crash a command
                if record and not (isinstance(record.get("id"), str) and isinstance(record.get("hash"), str)):
                    raise ValueError(f"{record!r} is not an id and a hash")
            data_access = document.get("data_access", [])
            if not isinstance(data_access, list) or not all(isinstance(cid, str) for cid in data_access):
                raise ValueError("data_access is not a list of collection ids")
            return cls(
                path,
                functions,
                document["flow"],
                document["timer"],
                document.get("transfer_flow", {}),
                document.get("restore_flow", {}),
                list(data_access),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PalxfelError(
                f"The deployment file {path} is unreadable ({exc}); move it away to deploy afresh."
            ) from None

    def function_ids(self) -> dict[str, str]:
        """The registered id of each function the flow calls; a function this version added and no deploy
        has registered yet is one sentence saying to deploy, not a run that fails at its first state."""
        missing = [name for name in FLOW_FUNCTIONS if name not in self.functions]
        if missing:
            raise PalxfelError(
                f"{self.path.name} has no registered {', '.join(missing)}; run 'palxfel-globus deploy' first."
            )
        return {name: self.functions[name]["id"] for name in FLOW_FUNCTIONS}

    def restore_function_ids(self) -> dict[str, str]:
        """The registered id of each function the restore flow calls, or the sentence to deploy first."""
        missing = [name for name in RESTORE_FUNCTIONS if name not in self.functions]
        if missing:
            raise PalxfelError(
                f"{self.path.name} has no registered {', '.join(missing)}; run 'palxfel-globus deploy' first."
            )
        return {name: self.functions[name]["id"] for name in RESTORE_FUNCTIONS}

    def save(self) -> None:
        document = {
            "version": DEPLOYMENT_VERSION,
            "functions": self.functions,
            "flow": self.flow,
            "timer": self.timer,
            "transfer_flow": self.transfer_flow,
            "restore_flow": self.restore_flow,
            "data_access": self.data_access,
        }
        write_json(self.path, document, sort_keys=True)


@dataclass(frozen=True)
class Step:
    kind: str  # register, create, update, replace
    target: str  # "function NAME", "flow", "timer"
    reason: str


@dataclass
class Desired:
    config: Config
    function_hashes: dict[str, str]
    definition: dict[str, Any]
    schema: dict[str, Any]

    @classmethod
    def of(cls, config: Config) -> Desired:
        definition, schema = load_flow("scan_backup")
        return cls(config, {name: source_hash(name) for name in REGISTERED_FUNCTIONS}, definition, schema)

    def _document(
        self, title: str, subtitle: str, definition: dict[str, Any], schema: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "title": title,
            "subtitle": subtitle,
            "description": definition.get("Comment", ""),
            "keywords": FLOW_KEYWORDS,
            "definition": definition,
            "input_schema": schema,
            "run_managers": list(self.config.globus.run_managers),
            "run_monitors": list(self.config.globus.run_monitors),
            **({"subscription_id": subscription} if (subscription := self.config.globus.subscription_id) else {}),
        }

    def flow_document(self) -> dict[str, Any]:
        return self._document(FLOW_TITLE, FLOW_SUBTITLE, self.definition, self.schema)

    def transfer_document(self) -> dict[str, Any]:
        definition, schema = load_flow("transfer")
        return self._document(TRANSFER_TITLE, TRANSFER_SUBTITLE, definition, schema)

    def restore_document(self) -> dict[str, Any]:
        definition, schema = load_flow("restore")
        return self._document(RESTORE_TITLE, RESTORE_SUBTITLE, definition, schema)

    def flows(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Plan target -> (Deployment attribute, flow document) for each flow deploy keeps in Globus: without
        a subscription, Globus allows one flow per user, so only the scan backup."""
        flows = {"flow": ("flow", self.flow_document())}
        if self.config.globus.subscription_id:
            flows["transfer flow"] = ("transfer_flow", self.transfer_document())
            flows["restore flow"] = ("restore_flow", self.restore_document())
        return flows

    def timer_hash(self, flow_id: Optional[str], function_hashes: dict[str, str]) -> str:
        """Changes with the flow, any function, the DAQ config or the interval: all go into the timer's input."""
        return content_hash(
            {
                "flow": flow_id,
                "functions": function_hashes,
                "interval": self.config.timer_interval,
                "input": flow_input(self.config, function_hashes),
                "name": TIMER_NAME,
                "mail_password": credentials_stamp(self.config),
            }
        )


def flow_expiry(flow: Any) -> Optional[str]:
    """The day (ISO date) Globus deletes a flow made without a subscription; None for a subscribed flow."""
    import datetime

    if flow.get("subscription_id") or not flow.get("created_at"):
        return None
    try:
        created = datetime.datetime.fromisoformat(str(flow["created_at"]).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (created + datetime.timedelta(days=FLOW_EXPIRY_DAYS)).date().isoformat()


def check_deployable(config: Config, no_subscription: bool) -> None:
    """What the services would refuse, or silently lose, said before anything is made: all of it at once."""
    problems = []
    if not config.globus.subscription_id and not no_subscription:
        problems.append(
            "[globus] subscription_id is not set: without a Globus subscription a user may own only one flow, and "
            f"Globus deletes it {FLOW_EXPIRY_DAYS} days after it is made, and with it every night's backup; set "
            "[globus] subscription_id to your facility's subscription, or deploy with --no-subscription to accept "
            "one flow (no one-off copy flow) that expires."
        )
    try:
        send_credentials(config)
    except PalxfelError as exc:
        problems.append(str(exc))
    if problems:
        raise PalxfelError("\n".join(problems))


def plan(desired: Desired, deployment: Deployment) -> list[Step]:
    """The steps that make Globus match ``desired``; empty when nothing changed."""
    steps = []
    for name, digest in desired.function_hashes.items():
        known = deployment.functions.get(name)
        if known is None:
            steps.append(Step("register", f"function {name}", "not registered yet"))
        elif known["hash"] != digest:
            steps.append(Step("register", f"function {name}", "its source changed"))
    for target, (attribute, document) in desired.flows().items():
        record = getattr(deployment, attribute)
        if not record:
            steps.append(Step("create", target, "not deployed yet"))
        elif record["hash"] != content_hash(document):
            steps.append(Step("update", target, "its definition, input schema or roles changed"))
    timer_hash = desired.timer_hash(deployment.flow.get("id"), desired.function_hashes)
    new_ids = any(step.kind == "register" or (step.target, step.kind) == ("flow", "create") for step in steps)
    if not deployment.timer:
        steps.append(Step("create", "timer", f"no timer yet; every {desired.config.timer_interval} s"))
    elif deployment.timer["hash"] != timer_hash or new_ids:
        steps.append(Step("replace", "timer", "its input, interval, flow, functions or run settings changed"))
    return steps


COMPUTE_SDK_RANGE = ">=4.14,<5"  # keep in step with pyproject.toml; tests/test_compute_sdk_range.py runs both ends


def compute_client(**authorization: Any) -> Any:
    """The Compute SDK's own client (``app=`` or ``authorizer=``), for its public registration call.

    Imported only when something is registered: the SDK is heavy, and absent on Python 3.9."""
    try:
        from globus_compute_sdk import Client
    except ImportError:
        version = platform.python_version()
        if tuple(int(part) for part in version.split(".")[:2]) < (3, 10):  # no release installs here: pip would fail
            raise PalxfelError(
                "Registering the Compute functions needs globus-compute-sdk, which needs Python 3.10 or newer (this "
                f"is {version}): deploy, and the demo, which deploys, from a machine with Python 3.10 or newer; "
                "'palxfel-globus local run' runs the same flow on this one."
            ) from None
        raise PalxfelError(
            "Registering the Compute functions needs globus-compute-sdk: "
            f"'pip install \"globus-compute-sdk{COMPUTE_SDK_RANGE}\"', or deploy from a machine that has it."
        ) from None
    client = Client(do_version_check=False, **authorization)
    url = os.environ.get("GLOBUS_SDK_SERVICE_URL_COMPUTE")
    if url:  # the Compute SDK fixes its own URL; globus-sdk's variable for it must still be honoured
        client._compute_web_client = type(client._compute_web_client)(base_url=url, **authorization)
    return client


def register_function(compute: Any, name: str) -> str:
    """Register a bundled function's source text through ``Client.register_source_code``, the Compute
    SDK's public call for source text in every release of COMPUTE_SDK_RANGE (its wire format changed
    within that range; the endpoint runs the text with the source-text strategy either way).
    Returns the function id."""
    source = bundled_source(name)
    with once(compute._compute_web_client.v3):  # the SDK has no retry setting of its own; see once()
        return str(
            compute.register_source_code(
                source, name, description=f"palxfel-globus {name} (sha256 {source_hash(name)[:12]})"
            )
        )


@dataclass
class Clients:
    compute: Callable[[], Any]  # -> globus_compute_sdk.Client, made on first use (see compute_client)
    flows: Any  # globus_sdk.FlowsClient
    timers: Any  # globus_sdk.TimersClient
    transfer: Any = None  # globus_sdk.TransferClient: asks which collections need a data_access consent
    # (flow id, data_access collections) -> None: ask the login for the consents a run of the flow needs
    on_flow: Callable[[str, list[str]], None] = lambda flow_id, data_access: None


def once(client: Any) -> Any:
    """No automatic retry for a call that creates something: the SDK retries every method on
    429/5xx, and a create that failed after the service acted would be made twice. Reads,
    updates and deletes keep the SDK's retries with back-off."""
    return client.retry_config.tune(max_retries=0)


def refuse_what_flows_refuses(flows_client: Any, documents: dict[str, dict[str, Any]]) -> None:
    """``POST /flows/validate`` for each flow document; PalxfelError with the service's reasons when it
    refuses one (the local checks follow the documentation; the service is the authority)."""
    from palxfel_globus.globus.validation import validate_remotely

    if not documents:
        return
    refused = [verdict for verdict in validate_remotely(flows_client, documents) if not verdict.accepted]
    if refused:
        reasons = "; ".join(f"the {verdict.flow}: {verdict.answer}" for verdict in refused)
        raise PalxfelError(f"Nothing was deployed: the Flows service refuses {reasons}.", exit_code=1)


def apply(
    steps: list[Step],
    desired: Desired,
    deployment: Deployment,
    clients: Clients,
    report: Callable[[Step], None] = lambda step: None,
) -> None:
    """Carry out the plan in order, saving the deployment file after each step. First the Flows service
    itself checks each definition the plan creates or updates: one it refuses stops the deploy before
    anything is made."""
    flows = desired.flows()
    from globus_sdk import FlowTimer, RecurringTimerSchedule

    refuse_what_flows_refuses(
        clients.flows, {step.target: flows[step.target][1] for step in steps if step.target in flows}
    )

    for step in steps:
        if step.kind == "register":
            name = step.target.split(" ", 1)[1]
            function_id = register_function(clients.compute(), name)
            deployment.functions[name] = {"id": function_id, "hash": desired.function_hashes[name]}
        elif step.target in flows:
            attribute, document = flows[step.target]
            if step.kind == "create":
                with once(clients.flows):
                    response = clients.flows.create_flow(**document)
                setattr(deployment, attribute, {"id": response["id"], "hash": content_hash(document)})
            else:
                clients.flows.update_flow(getattr(deployment, attribute)["id"], **document)
                getattr(deployment, attribute)["hash"] = content_hash(document)
        else:
            from palxfel_globus.globus.consents import data_access_collections

            deployment.data_access = data_access_collections(clients.transfer, desired.config.collections())
            clients.on_flow(deployment.flow["id"], deployment.data_access)
            if step.kind == "replace":
                clients.timers.delete_job(deployment.timer["id"])
                deployment.timer = {}
                deployment.save()
            function_ids = deployment.function_ids()
            timer = FlowTimer(
                flow_id=deployment.flow["id"],
                name=TIMER_NAME,
                schedule=RecurringTimerSchedule(interval_seconds=desired.config.timer_interval),
                body={  # the flow-start document: body, tags, run_managers, run_monitors, nothing else
                    "body": flow_input(desired.config, function_ids, send_credentials(desired.config)),
                    "tags": ["palxfel-globus"],
                },
            )
            with once(clients.timers):
                response = clients.timers.create_timer(timer)
            deployment.timer = {
                "id": response["timer"]["job_id"],
                "hash": desired.timer_hash(deployment.flow["id"], desired.function_hashes),
            }
        deployment.save()
        report(step)
