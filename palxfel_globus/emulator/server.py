"""The emulator: one loopback HTTP server with every service under its own path prefix
(``/auth/``, ``/flows/``, ``/timer/``, ``/transfer/``, ``/compute/``, ``/search/``), its state in SQLite, runs
on the local engine, and a timer scheduler.

Werkzeug gives the routing, the request parsing and a threaded WSGI server that stops on
request; it is the Pallets project's well-kept core, small, and enough for a loopback emulator
(no ASGI server or framework to carry). A person or a test can make a service misbehave
(``POST /_emulator/faults``) or expire every token (``POST /_emulator/expire-tokens``), to see
what a command says when Globus answers 401, 403, 404, 429 or 500."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import threading
import uuid
from pathlib import Path
from typing import Any, Optional

from palxfel_globus.config import route_place
from palxfel_globus.emulator import auth, compute, flows, search, timers, transfer, web_inputs
from palxfel_globus.emulator.api import ApiError, Route, error_document, json_object
from palxfel_globus.emulator.runs import Runs
from palxfel_globus.emulator.store import Store
from palxfel_globus.emulator.timers import Scheduler
from palxfel_globus.errors import PalxfelError

HOST = "127.0.0.1"
ROUTES: list[Route] = [
    *auth.ROUTES,
    *flows.ROUTES,
    *web_inputs.ROUTES,
    *timers.ROUTES,
    *compute.ROUTES,
    *transfer.ROUTES,
    *search.ROUTES,
]
# globus-sdk's service names, as in GLOBUS_SDK_SERVICE_URL_<NAME>
SERVICE_NAMES = ("auth", "flows", "timer", "transfer", "compute", "search")


class Emulator:
    def __init__(self, config: Any, state_dir: Path, port: int = 0) -> None:
        from palxfel_globus.backup import check_local
        from palxfel_globus.engine import Clock, Engine
        from palxfel_globus.globus.endpoints import endpoint_roles

        state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(state_dir, 0o700)  # it holds the service identity's secret
        self.config, self.state_dir, self.port = config, state_dir, port
        self.store = Store(state_dir / "state.sqlite")
        self.client_id = self.store.setting("client_id", uuid.uuid4)
        self.secret = self.store.setting("client_secret", lambda: secrets.token_urlsafe(32))
        self.collections = {key.lower(): Path(value) for key, value in check_local(config).items()}
        self.collection_names = _collection_names(config)
        self.endpoints = {
            endpoint.lower()
            for endpoint in [*(role.endpoint_id for role in endpoint_roles(config)), *config.local.endpoints]
        }
        self.engine = Engine(
            collections=self.collections,
            guest_collections=set(config.local.guest_collections),
            state_dir=state_dir / "local-services",  # Search indexes, access rules, runs waiting for a person
            endpoint_workers=config.local.endpoints,
            username=f"{self.client_id}@{auth.IDENTITY_DOMAIN}",
            on_event=lambda entry, context: self.store.add_log_entry(context["run_id"], entry),
            clock=Clock(),  # a service: its runs' Wait states take real time (its timers have advance())
        )
        for record in self.store.all("function"):
            self.load_function(record)
        self.runs = Runs(self.store, self.engine, self.client_id)
        self.scheduler = Scheduler(self)
        self.faults: list[dict[str, Any]] = []
        self._faults_lock = threading.Lock()
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None
        self.interrupted: list[str] = []

    # lifecycle ------------------------------------------------------------------------
    def start(self) -> str:
        """Bind, serve in a thread, start the scheduler, write env.sh; returns the base URL."""
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no request lines on the terminal
        if self.port:  # werkzeug would print two lines of its own and exit; the CLI says one sentence
            try:
                socket.create_server((HOST, self.port)).close()
            except OSError as exc:
                reason = os.strerror(exc.errno or 0)
                raise PalxfelError(
                    f"Port {self.port} on {HOST} cannot be used ({reason}); give another --port, or 0 for a free one."
                ) from None
        self.interrupted = self.runs.recover()
        self._server = make_server(HOST, self.port, self.wsgi, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator-http", daemon=True)
        self._thread.start()
        self.scheduler.start()
        self.write_env()
        return self.base_url

    def stop(self, grace: float = 10.0) -> None:
        """Stop serving and scheduling; active runs are cancelled between states and get ``grace``
        seconds to end (one that does not is marked at the next start). A run waiting for a person
        (INACTIVE) is kept as it is: it waits across a restart, as it would in the service."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.scheduler.stop()
        for run in self.store.all("run"):
            if run["status"] == "ACTIVE":
                self.runs.cancel(run["run_id"])
        self.runs.wait(grace)
        self.engine.close()
        self.store.close()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, service: str) -> str:
        return f"{self.base_url}/{service}/"

    def environment(self) -> dict[str, str]:
        """What points globus-sdk (and the globus CLI) here, with the service identity it accepts."""
        variables = {f"GLOBUS_SDK_SERVICE_URL_{name.upper()}": self.url(name) for name in SERVICE_NAMES}
        variables.update(
            GLOBUS_CLIENT_ID=self.client_id,
            GLOBUS_CLIENT_SECRET=self.secret,
            GLOBUS_CLI_CLIENT_ID=self.client_id,
            GLOBUS_CLI_CLIENT_SECRET=self.secret,
        )
        return variables

    def write_env(self) -> Path:
        import shlex

        path = self.state_dir / "env.sh"
        lines = [f"# Written by 'palxfel-globus local serve' for {self.base_url}; source it to use the emulator."]
        lines += [f"export {key}={shlex.quote(value)}" for key, value in self.environment().items()]
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    def load_function(self, record: dict[str, Any]) -> None:
        """The registered text, as a file the engine's workers run for that id."""
        from palxfel_globus.engine import FunctionRef

        directory = self.state_dir / "functions"
        directory.mkdir(exist_ok=True)
        path = directory / f"{record['function_uuid']}.py"
        path.write_text(record["function_code"], encoding="utf-8")
        self.engine.register_function(record["function_uuid"], FunctionRef(str(path), record["function_name"]))

    # requests -------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        from werkzeug.exceptions import MethodNotAllowed, NotFound
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        request_id = uuid.uuid4().hex[:16]
        service = request.path.strip("/").split("/", 1)[0]
        status, document = 200, None
        try:
            if service == "_emulator":
                status, document = self._admin(request)
            else:
                self._injected_fault(request)
                try:
                    route, values = _URLS.bind_to_environ(environ).match()
                except NotFound:
                    raise ApiError(404, "NOT_FOUND", f"{request.method} {request.path} is not emulated.") from None
                except MethodNotAllowed:
                    raise ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here.") from None
                if not route.public:
                    auth.check_bearer(self, request)
                answer = route.handler(self, request, **values)
                status, document = answer if isinstance(answer, tuple) else (200, answer)
        except ApiError as error:
            status, document = error.status, error_document(service, error, request_id)
        response = Response(json.dumps(document), status=status, mimetype="application/json")
        response.headers["X-Request-Id"] = request_id
        return response(environ, start_response)

    def _injected_fault(self, request: Any) -> None:
        with self._faults_lock:
            for fault in self.faults:
                if (
                    fault["times"] > 0
                    and fault["method"] in ("*", request.method)
                    and re.search(fault["path"], request.path)
                ):
                    fault["times"] -= 1
                    extra = fault.get("extra") or {}
                    raise ApiError(fault["status"], fault["code"], fault["message"], **extra)

    def inject(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int = 1,
        code: str = "",
        message: str = "",
        extra: Optional[dict[str, Any]] = None,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and the ``path`` regex with an error."""
        re.compile(path)
        with self._faults_lock:
            self.faults.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "status": status,
                    "times": times,
                    "code": code or f"INJECTED_{status}",
                    "message": message or f"An injected {status} answer.",
                    "extra": extra or {},
                }
            )

    def _admin(self, request: Any) -> tuple[int, Any]:
        import time

        action = request.path.strip("/").split("/", 1)[-1]
        if request.remote_addr not in ("127.0.0.1", "::1"):
            raise ApiError(403, "FORBIDDEN", "The emulator's controls answer loopback requests only.")
        if action == "faults" and request.method == "POST":
            body = json_object(request)
            try:
                self.inject(
                    str(body["method"]),
                    str(body["path"]),
                    int(body["status"]),
                    times=int(body.get("times", 1)),
                    code=str(body.get("code", "")),
                    message=str(body.get("message", "")),
                    extra=dict(body.get("extra") or {}),
                )
            except (KeyError, ValueError, TypeError, re.error) as exc:
                raise ApiError(400, "BAD_REQUEST", f"A fault needs method, path (a regex) and status: {exc}") from None
            return 201, {"faults": len(self.faults)}
        if action == "expire-tokens" and request.method == "POST":
            self.store.expire_tokens(time.time())
            return 200, {"expired": True}
        if action == "health":
            return 200, {"status": "ok", "base_url": self.base_url}
        raise ApiError(404, "NOT_FOUND", f"No emulator control {action!r}.")


def _collection_names(config: Any) -> dict[str, str]:
    """A display name per [local] collection, after what it is in the config."""
    names = {key.lower(): f"local collection {key[:8]}" for key in config.local.all_collections()}
    for number, place, route, destination in config.destinations():
        names[destination.collection.lower()] = f"backup for {route.match} ({route_place(number, place, route)}, local)"
    if config.daq.collection:
        names[config.daq.collection.lower()] = "PAL-XFEL DAQ (local)"
    return names


def _url_map() -> Any:
    from werkzeug.routing import Map, Rule

    return Map(
        [Rule(f"/{route.service}{route.rule}", methods=list(route.methods), endpoint=route) for route in ROUTES],
        strict_slashes=False,
    )


_URLS = _url_map()
