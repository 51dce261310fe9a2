"""The emulator: one loopback HTTP server with every service under its own path prefix
(``/auth/``, ``/flows/``, ``/timer/``, ``/transfer/``, ``/compute/``, ``/search/``), its state in SQLite, runs
on the local engine, and a timer scheduler. Optionally a second listener on the Compute SDK's own
local address (``http://localhost:5000``, what it calls with ``GLOBUS_SDK_ENVIRONMENT=local``) answers
the Compute routes at its root, since the Compute SDK takes no URL of ours.

Werkzeug gives the routing, the request parsing and a threaded WSGI server that stops on
request; it is the Pallets project's well-kept core, small, and enough for a loopback emulator
(no ASGI server or framework to carry).

The door: a request must name this server's own loopback address in its Host header (a web page
that rebinds its DNS name to 127.0.0.1 cannot), a token opens only the service of its resource
server, and the controls (``/_emulator/*``: make a service misbehave with ``POST
/_emulator/faults``, expire every token with ``POST /_emulator/expire-tokens``, to see what a
command says when Globus answers 401, 403, 404, 429 or 500) take the emulator's own client id
and secret (HTTP Basic, as in env.sh)."""

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
from palxfel_globus.emulator.transfer_tasks import TransferTasks
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
COMPUTE_SDK_PORT = 5000  # globus_compute_sdk.sdk._environments: the "local" environment's address


class Emulator:
    def __init__(self, config: Any, state_dir: Path, port: int = 0, compute_sdk_port: Optional[int] = None) -> None:
        """``port`` 0: the port of the last start if it is free, else any free one. ``compute_sdk_port``:
        also answer the Compute routes there (COMPUTE_SDK_PORT for an unchanged Compute SDK script)."""
        from palxfel_globus.backup import check_local
        from palxfel_globus.engine import Engine
        from palxfel_globus.globus.endpoints import endpoint_roles

        state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(state_dir, 0o700)  # it holds the service identity's secret
        self.config, self.state_dir, self.port, self.compute_sdk_port = config, state_dir, port, compute_sdk_port
        self.store = Store(state_dir / "state.sqlite")
        self.client_id = self.store.setting("client_id", uuid.uuid4)
        self.secret = self.store.setting("client_secret", lambda: secrets.token_urlsafe(32))
        self.collections = {key.lower(): Path(value) for key, value in check_local(config).items()}
        self.collection_names = _collection_names(config)
        self.endpoints = {
            endpoint.lower()
            for endpoint in [*(role.endpoint_id for role in endpoint_roles(config)), *config.local.endpoints]
        }
        self.runs = Runs(self.store, self.client_id)
        self.engine = Engine(
            collections=self.collections,
            guest_collections=set(config.local.guest_collections),
            state_dir=state_dir / "local-services",  # Search indexes, access rules, runs waiting for a person
            endpoint_workers=config.local.endpoints,
            username=f"{self.client_id}@{auth.IDENTITY_DOMAIN}",
            on_event=self._log_event,
            clock=self.runs.clock,  # a service: Waits take real time, and a cancel or a stop ends them
            log_state_io=True,  # the service's log entries carry each state's input and output
        )
        self.runs.engine = self.engine
        for record in self.store.all("function"):
            self.load_function(record)
        self.transfer_tasks = TransferTasks(self.store, self.engine.collections)
        self.scheduler = Scheduler(self)
        self.faults: list[dict[str, Any]] = []
        self._faults_lock = threading.Lock()
        self._servers: list[Any] = []
        self.interrupted: list[str] = []
        self.stopped_runs: list[str] = []
        self.compute_sdk_url: Optional[str] = None
        self.warnings: list[str] = []

    def _log_event(self, entry: dict[str, Any], context: dict[str, Any]) -> None:
        if not self.runs.closed:  # a run a stop interrupted is over: nothing it does later is logged
            self.store.add_log_entry(context["run_id"], entry)

    # lifecycle ------------------------------------------------------------------------
    def start(self) -> str:
        """Bind, serve in a thread, start the scheduler, write env.sh; returns the base URL."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no request lines on the terminal
        port = self.port or self._last_port()
        if self.port:  # werkzeug would print two lines of its own and exit; the CLI says one sentence
            _check_free(self.port)
        self.interrupted = self.runs.recover() + self.transfer_tasks.recover()
        main = self._serve(port, self.wsgi)
        self.port = main.server_port
        self.store.set_setting("port", str(self.port))
        if self.compute_sdk_port is not None:
            try:
                _check_free(self.compute_sdk_port)
            except PalxfelError:
                self.warnings.append(
                    f"Port {self.compute_sdk_port} (the Compute SDK's local address) is taken, so a Compute SDK "
                    "script cannot reach this emulator; the other services work as usual."
                )
            else:
                compute_only = self._serve(self.compute_sdk_port, self._compute_sdk_wsgi)
                self.compute_sdk_url = f"http://localhost:{compute_only.server_port}"
        self.scheduler.start()
        self.write_env()
        return self.base_url

    def _last_port(self) -> int:
        """The port of the last start, when it is free again (so a shell that sourced env.sh keeps working)."""
        last = int(self.store.get_setting("port") or 0)
        try:
            _check_free(last)
        except PalxfelError:
            return 0
        return last

    def _serve(self, port: int, application: Any) -> Any:
        from werkzeug.serving import make_server

        server = make_server(HOST, port, application, threaded=True)
        threading.Thread(target=server.serve_forever, name=f"emulator-http-{port}", daemon=True).start()
        self._servers.append(server)
        return server

    def stop(self) -> None:
        """Stop at once: no more requests or timer ticks; every ACTIVE run ends FAILED now with a
        description that says the emulator stopped (``stopped_runs``), and so does every Transfer task
        in progress. A run waiting for a person (INACTIVE) is kept as it is: it waits across a
        restart, as it would in the service."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self.scheduler.stop()
        self.stopped_runs = self.runs.close()
        self.transfer_tasks.close()
        self.engine.compute.close(wait=False)
        self.store.close()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, service: str) -> str:
        return f"{self.base_url}/{service}/"

    def environment(self) -> dict[str, str]:
        """What points globus-sdk, the globus CLI and (with its listener) the Compute SDK here, with the
        service identity each accepts (the Compute SDK's own variables name it a client identity)."""
        variables = {f"GLOBUS_SDK_SERVICE_URL_{name.upper()}": self.url(name) for name in SERVICE_NAMES}
        for prefix in ("GLOBUS", "GLOBUS_CLI", "GLOBUS_COMPUTE"):
            variables.update({f"{prefix}_CLIENT_ID": self.client_id, f"{prefix}_CLIENT_SECRET": self.secret})
        if self.compute_sdk_url:
            variables["GLOBUS_SDK_ENVIRONMENT"] = "local"  # the Compute SDK's name for http://localhost:5000
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
        encoding = record.get("encoding", "source")
        path = directory / f"{record['function_uuid']}.{'py' if encoding == 'source' else 'txt'}"
        path.write_text(record.get("runnable", record["function_code"]), encoding="utf-8")
        reference = FunctionRef(str(path), record["function_name"], encoding)
        self.engine.register_function(record["function_uuid"], reference)

    # requests -------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._answer(environ, start_response, self.port)

    def _compute_sdk_wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The Compute routes at the root of the Compute SDK's local address."""
        environ["PATH_INFO"] = "/compute" + environ.get("PATH_INFO", "")
        return self._answer(environ, start_response, self.compute_sdk_port)

    def _answer(self, environ: dict[str, Any], start_response: Any, port: Optional[int]) -> Any:
        from werkzeug.exceptions import MethodNotAllowed, NotFound
        from werkzeug.wrappers import Request, Response

        request = Request(environ)
        request_id = uuid.uuid4().hex[:16]
        service = request.path.strip("/").split("/", 1)[0]
        status, document = 200, None
        try:
            _check_host(environ.get("HTTP_HOST", ""), port)
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
                    auth.check_bearer(self, request, route.resource_server(self, values))
                answer = route.handler(self, request, **values)
                status, document = answer if isinstance(answer, tuple) else (200, answer)
        except Exception as exc:  # every answer is the service's JSON, an emulator's own bug included
            error = exc if isinstance(exc, ApiError) else _internal(exc)
            path = request.path[len(service) + 1 :] if service in SERVICE_NAMES else request.path
            status, document = error.status, error_document(service, error, request_id, path)
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
        auth.check_client(self, request)
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


def _internal(exc: Exception) -> ApiError:
    logging.getLogger(__name__).exception("the emulator failed to answer")
    return ApiError(500, "INTERNAL_ERROR", f"The emulator failed: {type(exc).__name__}: {exc}")


def _check_free(port: int) -> None:
    try:
        socket.create_server((HOST, port)).close()
    except OSError as exc:
        reason = os.strerror(exc.errno or 0)
        raise PalxfelError(
            f"Port {port} on {HOST} cannot be used ({reason}); give another --port, or 0 for a free one."
        ) from None


def _check_host(host: str, port: Optional[int]) -> None:
    """Only requests for this server's own loopback address: a page on another site that rebinds its
    name to 127.0.0.1 still sends its own name as the Host, and is refused."""
    if host not in (f"{HOST}:{port}", f"localhost:{port}"):
        raise ApiError(
            421, "MISDIRECTED_REQUEST", f"This emulator answers requests for {HOST}:{port} only, not for {host!r}."
        )


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
        merge_slashes=True,
    )


_URLS = _url_map()
