"""The Globus Compute action provider, run on local worker processes.

Both request shapes of compute.actions.globus.org (globus-flows.md 3.2): v3
(``endpoint_id`` + a ``tasks`` list, run in parallel) and v2, at ``/``, ``/v2`` and ``/fxap``
(the URL Gladier and ALS use): one task in the body (``endpoint``, ``function``, ``args``,
``kwargs`` or ``payload``) and/or a ``tasks`` list of such tasks, each naming its own endpoint
(globus-compute docs/actionprovider.rst). Each endpoint UUID gets its own process pool (its
size from ``[local] endpoints``, else the default), like a real endpoint's workers. A function
is referred to by its UUID and found in the local registry: one of our bundled Compute
functions, ``NAME`` in a Python file, or a function the Compute SDK serialized (its default way
of registering), decoded by the Compute SDK in the worker. A task that raises fails the action,
with the exception in ``details``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import runpy
import select
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from palxfel_globus.engine.providers.base import (
    ActionContext,
    ActionResult,
    LogEntry,
    ProviderError,
    check_parameters,
    new_id,
    require,
)

DEFAULT_WORKERS = 2
BUNDLED = "bundled"
V2_TASK = {"endpoint", "function", "args", "kwargs", "payload", "user_endpoint_config", "resource_specification"}


SERIALIZED = "compute-sdk"  # a FunctionRef's encoding: the file holds the Compute SDK's packed function


@dataclass(frozen=True)
class FunctionRef:
    """A function the local endpoints can run: ``source`` is BUNDLED or a file path; the file holds
    Python source (``encoding`` "source") or what the Compute SDK serialized (SERIALIZED)."""

    source: str
    name: str
    encoding: str = "source"


_loaded: dict[FunctionRef, Any] = {}


def _die_with(engine_pid: int) -> None:
    """Worker initializer: end this worker when the engine's process ends, however it ends.

    A pool's workers wait on a queue whose other end they hold themselves, so a killed engine
    (kill -9) would leave them running forever; a real endpoint's workers do not outlive it."""

    def watch() -> None:
        try:
            handle = os.pidfd_open(engine_pid)
            select.select([handle], [], [])
        except (AttributeError, OSError):  # no pidfd (not Linux, or an old kernel): look every second
            while _alive(engine_pid):
                time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="die-with-engine", daemon=True).start()


def _start_forkserver_deaf_to_ctrl_c() -> None:
    """Start the process the workers fork from with SIGINT ignored, which it and they inherit.

    Ctrl-C at a terminal reaches every process of the foreground group. The engine's process stops
    its pools; a worker, or the fork server while Python starts in it, would print a traceback of
    its own. Only the main thread may set a handler, so an engine starts it when it is made (the
    emulator makes its engine there, and starts pools from request threads)."""
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


OUTPUT_LIMIT = 64 * 1024  # characters of stdout and of stderr kept per task


@contextlib.contextmanager
def _captured_output() -> Iterator[dict[str, str]]:
    """Send this worker's fds 1 and 2 to files while a task runs, so nothing it prints (print,
    os.write, a child process) reaches the engine's own stdout; the text comes back per task.

    A worker runs one task at a time, so redirecting the process's descriptors is safe."""
    captured: dict[str, str] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    try:
        for fd, handle in zip((1, 2), files):
            os.dup2(handle.fileno(), fd)
        yield captured
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        for name, handle in zip(("stdout", "stderr"), files):
            handle.seek(0)
            text = handle.read(OUTPUT_LIMIT + 1).decode("utf-8", "replace")
            captured[name] = text[:OUTPUT_LIMIT] + ("\n[... cut at 64 KiB]" if len(text) > OUTPUT_LIMIT else "")
            handle.close()


def _run_task(ref: FunctionRef, args: list[Any], kwargs: dict[str, Any]) -> tuple[Optional[str], str, str, str]:
    """In a worker process: load the function once, call it; returns (result as JSON text or None,
    the error, stdout, stderr).

    An exception comes back as text naming the original type: the original's class may live in an
    exec'd namespace that cannot be pickled across processes."""
    result, error = None, ""
    with _captured_output() as captured:
        try:
            result = _call(ref, args, kwargs)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    return result, error, captured["stdout"], captured["stderr"]


def _call(ref: FunctionRef, args: list[Any], kwargs: dict[str, Any]) -> str:
    function = _loaded.get(ref)
    if function is None:
        if ref.source == BUNDLED:
            from palxfel_globus.functions import load

            function = load(ref.name)
        elif ref.encoding == SERIALIZED:
            from globus_compute_sdk.serialize import ComputeSerializer

            serializer = ComputeSerializer()
            with open(ref.source, encoding="utf-8") as handle:
                (packed,) = serializer.unpack_buffers(handle.read())
            function = serializer.deserialize(packed)
        else:
            function = runpy.run_path(ref.source)[ref.name]
        _loaded[ref] = function
    return json.dumps(function(*args, **kwargs))


@dataclass
class ComputeProvider:
    functions: dict[str, FunctionRef] = field(default_factory=dict)
    endpoint_workers: dict[str, int] = field(default_factory=dict)
    _pools: dict[str, concurrent.futures.ProcessPoolExecutor] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        _start_forkserver_deaf_to_ctrl_c()

    def pool(self, endpoint: str) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if endpoint not in self._pools:
                workers = self.endpoint_workers.get(endpoint, DEFAULT_WORKERS)
                context = multiprocessing.get_context("forkserver")
                self._pools[endpoint] = concurrent.futures.ProcessPoolExecutor(
                    workers, mp_context=context, initializer=_die_with, initargs=(os.getpid(),)
                )
            return self._pools[endpoint]

    def close(self, wait: bool = True) -> None:
        """Stop the workers; ``wait=False`` (a service stopping at once) ends running tasks too, as a
        stopped endpoint's end: the executor would otherwise hold the process until they finish."""
        with self._lock:
            for pool in self._pools.values():
                workers = [] if wait else list((getattr(pool, "_processes", None) or {}).values())
                for worker in workers:  # the executor has no public call for this before Python 3.14
                    worker.terminate()
                pool.shutdown(wait=wait, cancel_futures=True)
            self._pools.clear()

    def _reference(self, function_id: Any) -> FunctionRef:
        try:
            return self.functions[str(function_id).lower()]
        except KeyError:
            raise ProviderError(
                f"the function {function_id} is not registered locally; pass --function {function_id}=FILE.py:NAME"
            ) from None

    def v3(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        # v3 renamed endpoint/function to endpoint_id/function_id, no aliases (Flows docs: Hosted Action
        # Providers, "Compute AP"; globus-compute docs/actionprovider.rst)
        check_parameters(
            body,
            "Compute v3",
            {"endpoint_id", "tasks", "task_group_id", "user_endpoint_config", "resource_specification"},
            {"endpoint": "endpoint_id", "function": "tasks[].function_id", "kwargs": "tasks[].kwargs"},
        )
        endpoint, tasks = require(body, "endpoint_id", "tasks")
        if not isinstance(tasks, list) or not tasks:
            raise ProviderError("tasks must be a non-empty list of {function_id, args, kwargs}")
        calls = []
        for number, task in enumerate(tasks):
            if not isinstance(task, dict):
                raise ProviderError(f"tasks[{number}] must be an object")
            check_parameters(task, f"tasks[{number}]", {"function_id", "args", "kwargs"}, {"function": "function_id"})
            (function_id,) = require(task, "function_id")
            call = (self._reference(function_id), list(task.get("args") or []), dict(task.get("kwargs") or {}))
            calls.append((str(endpoint).lower(), *call))
        return self._run(calls, context, body.get("task_group_id"))

    def v2(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        """The body's own task (if it names a function) and then each of ``tasks``."""
        check_parameters(
            body, "Compute v2", V2_TASK | {"tasks"}, {"endpoint_id": "endpoint", "function_id": "function"}
        )
        tasks = body.get("tasks") or []
        if not isinstance(tasks, list):
            raise ProviderError("tasks must be a list of {endpoint, function, args, kwargs}")
        single = {key: value for key, value in body.items() if key != "tasks"}
        named = [(f"tasks[{number}]", task) for number, task in enumerate(tasks)]
        if not tasks or "function" in single or "endpoint" in single:
            named.insert(0, ("Compute v2", single))
        calls = []
        for where, task in named:
            if not isinstance(task, dict):
                raise ProviderError(f"{where} must be an object")
            check_parameters(task, where, V2_TASK, {"endpoint_id": "endpoint", "function_id": "function"})
            endpoint, function_id = require(task, "endpoint", "function")
            kwargs = task.get("kwargs", task.get("payload")) or {}
            if not isinstance(kwargs, dict):
                raise ProviderError(f"{where}: kwargs (or payload) must be an object")
            args = task.get("args", [])
            args = list(args) if isinstance(args, list) else [args]  # "args can be a single item or a list"
            calls.append((str(endpoint).lower(), self._reference(function_id), args, kwargs))
        return self._run(calls, context, None)

    def _run(
        self,
        calls: list[tuple[str, FunctionRef, list[Any], dict[str, Any]]],
        context: ActionContext,
        task_group_id: Optional[str],
    ) -> ActionResult:
        futures = []
        for endpoint, ref, args, kwargs in calls:
            try:
                futures.append(self.pool(endpoint).submit(_run_task, ref, args, kwargs))
            except concurrent.futures.BrokenExecutor as exc:
                with self._lock:
                    self._pools.pop(endpoint, None)
                return ActionResult("FAILED", {"exception": f"the local endpoint's workers stopped: {exc}"})
        timeout = None if context.deadline is None else max(0.0, context.deadline - context.clock.now())
        done, pending = concurrent.futures.wait(futures, timeout=timeout)
        if pending:
            for future in pending:
                future.cancel()
            raise TimeoutError("the Compute tasks did not finish within the action's WaitTime")
        results, log, failure = [], [], None
        for (_endpoint, ref, _args, _kwargs), future in zip(calls, futures):
            error: Any = future.exception()
            task_id = new_id()
            if error is None:
                output, error, stdout, stderr = future.result()
                if stdout or stderr:
                    log.append(_output_entry(context.state_name, task_id, ref.name, stdout, stderr))
            if error and failure is None:
                failure = {"exception": str(error), "function": ref.name, "task_id": task_id}
            elif not error:
                results.append({"task_id": task_id, "output": json.loads(output)})
        if failure is not None:
            return ActionResult("FAILED", failure, log=log)
        return ActionResult(
            "SUCCEEDED",
            {
                "result": [item["output"] for item in results],
                "results": results,
                "task_group_id": task_group_id or new_id(),
                "endpoint_id": calls[0][0],
            },
            log=log,
        )


def _output_entry(state_name: str, task_id: str, function: str, stdout: str, stderr: str) -> LogEntry:
    """A task's printed output goes to the run's log, as the service keeps it off the run's output."""
    return LogEntry(
        "ComputeTaskOutput",
        f"Compute task {task_id} ({function}) of state {state_name} printed output",
        {"state_name": state_name, "task_id": task_id, "function": function, "stdout": stdout, "stderr": stderr},
    )
