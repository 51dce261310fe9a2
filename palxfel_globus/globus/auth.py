"""Who palxfel-globus acts as: a person (a native app with stored refresh tokens) or, on a
DAQ host with nobody at it, a service identity from ``GLOBUS_CLIENT_ID`` /
``GLOBUS_CLIENT_SECRET``. Tokens live only in the SDK's token storage (a JSON file the SDK
writes with a user-only umask, mode 0600) and are never printed or logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from palxfel_globus.config import Config
from palxfel_globus.errors import PalxfelError

APP_NAME = "palxfel-globus"
CLIENT_ID_ENV = "PALXFEL_GLOBUS_CLIENT_ID"
SERVICE_ID_ENV, SERVICE_SECRET_ENV = "GLOBUS_CLIENT_ID", "GLOBUS_CLIENT_SECRET"


def token_file(app: Any) -> Any:
    """The JSON file the SDK keeps this app's tokens in (None for a service identity or in tests)."""
    from pathlib import Path

    path = getattr(getattr(getattr(app, "token_storage", None), "token_storage", None), "filepath", None)
    return Path(path) if path else None


def token_file_problem(app: Any) -> Any:
    """A sentence when the token file can be read by others: the SDK makes it 0600 only when it creates it,
    so a file copied in or made by an older tool keeps its mode."""
    import stat

    path = token_file(app)
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path else 0
    except OSError:
        return None
    if mode & 0o077:
        return f"the token file {path} can be read by others (mode {mode:o})"
    return None


def make_app(config: Config) -> Any:
    """A ``ClientApp`` when service credentials are in the environment, else a ``UserApp``."""
    from globus_sdk import ClientApp, GlobusAppConfig, UserApp

    if os.environ.get(SERVICE_ID_ENV) and os.environ.get(SERVICE_SECRET_ENV):
        return ClientApp(APP_NAME, client_id=os.environ[SERVICE_ID_ENV], client_secret=os.environ[SERVICE_SECRET_ENV])
    client_id = config.globus.client_id or os.environ.get(CLIENT_ID_ENV)
    if not client_id:
        raise PalxfelError(
            f"No Globus app to log in with: set [globus] client_id in the config or ${CLIENT_ID_ENV} to a native app "
            f"registered at app.globus.org/settings/developers (or ${SERVICE_ID_ENV} and ${SERVICE_SECRET_ENV} for a "
            "service identity)."
        )
    # No login started behind a command's back: a missing token or consent raises, and the command
    # says to run 'palxfel-globus login' (the SDK's default would prompt in the middle of, say, status).
    return UserApp(
        APP_NAME,
        client_id=client_id,
        config=GlobusAppConfig(request_refresh_tokens=True, token_validation_error_handler=None),
    )


@dataclass
class Session:
    """An app and the clients the commands use; tests build one from registered responses."""

    app: Any
    clients: Any  # deployment.Clients
    auth: Any  # globus_sdk.AuthClient
    transfer: Any  # globus_sdk.TransferClient
    specific_flow: Callable[[str], Any]  # flow id -> globus_sdk.SpecificFlowClient
    compute_status: Any = None  # globus_sdk.ComputeClientV2, for endpoint status
    compute_allowlist: Any = None  # globus_sdk.ComputeClientV3, for the functions an endpoint allows
    search: Any = None  # globus_sdk.SearchClient, with [catalog] only (its scope is asked for then, not always)

    def require(self, scopes: dict[str, Any]) -> None:
        """Add scope requirements (resource server -> scope) that the next call or login must meet."""
        if self.app is not None:
            self.app.add_scope_requirements(scopes)

    def needs_person(self) -> bool:
        """Whether calling Globus now needs someone at a browser: a user login that is missing, expired or
        short of a consent. A service identity fetches its own tokens; tests run without an app."""
        from globus_sdk import UserApp

        return isinstance(self.app, UserApp) and self.app.login_required()


def open_session(config: Config) -> Session:
    """The session for a config: who to act as, and a client per service. The scopes of every client,
    and the consents the deployed flows need, are registered on the app, so one login covers them all."""
    from globus_sdk import AuthClient, ComputeClientV2, ComputeClientV3, SearchClient, SpecificFlowClient

    from palxfel_globus.globus.deployment import Deployment, deployment_path

    app = make_app(config)
    clients = make_clients(app)
    session = Session(
        app=app,
        clients=clients,
        auth=AuthClient(app=app),
        transfer=clients.transfer,
        specific_flow=lambda flow_id: SpecificFlowClient(flow_id, app=app),
        compute_status=ComputeClientV2(app=app),
        compute_allowlist=ComputeClientV3(app=app),
        search=SearchClient(app=app) if config.catalog.index else None,
    )
    require_deployed(session, Deployment.load(deployment_path(config)))
    return session


def require_deployed(session: Session, deployment: Any) -> None:
    """Ask for what the deployed flows need: the scan flow run by a person and by the timer (with the
    data access of mapped collections), and the one-off copy and restore flows started by a person."""
    from palxfel_globus.globus.consents import flow_scope

    if deployment.flow:
        session.clients.on_flow(deployment.flow["id"], deployment.data_access)
    for record in (deployment.transfer_flow, deployment.restore_flow):  # the flows a person starts
        if record:
            session.require({record["id"]: flow_scope(record["id"], [])})


def make_clients(app: Any) -> Any:
    """The clients deploy and the status commands use; making them adds their scopes to ``app``,
    so one login covers Compute, Flows, Timers and Transfer."""
    from globus_sdk import ComputeClientV3, FlowsClient, TimersClient, TransferClient

    from palxfel_globus.globus.consents import require_flow_consents
    from palxfel_globus.globus.deployment import Clients, compute_client

    ComputeClientV3(app=app)  # adds the Compute scope now, so the one login covers registration too
    return Clients(
        compute=lambda: compute_client(app=app),
        flows=FlowsClient(app=app),
        timers=TimersClient(app=app),
        transfer=TransferClient(app=app),
        on_flow=lambda flow_id, data_access: require_flow_consents(app, flow_id, data_access),
    )
