"""The Globus Compute action provider, run on local worker processes.

Both request shapes of compute.actions.globus.org (globus-flows.md 3.2): v3
(``endpoint_id`` + a ``tasks`` list, run in parallel) and v2 (``endpoint`` + one
``function`` with ``kwargs`` or ``payload``). Each endpoint UUID gets its own process
pool (its size from ``[local] endpoints``, else the default), like a real endpoint's
workers. A function is referred to by its UUID and found in the local registry: one of
our bundled Compute functions, or ``NAME`` in a Python file. A task that raises fails
the action, with the exception in ``details``.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import runpy
import select
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from palxfel_globus.engine.providers.base import ActionContext, ActionResult, ProviderError, new_id, require

DEFAULT_WORKERS = 2
BUNDLED = "bundled"


@dataclass(frozen=True)
class FunctionRef:
    """A function the local endpoints can run: ``source`` is BUNDLED or a Python file path."""

    source: str
    name: str


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_task(ref: FunctionRef, args: list[Any], kwargs: dict[str, Any]) -> str:
    """In a worker process: load the function once, call it, return its result as JSON text.

    An exception comes back as a RuntimeError naming the original type: the original's class
    may live in an exec'd namespace that cannot be pickled across processes."""
    try:
        return _call(ref, args, kwargs)
    except Exception as exc:
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from None


def _call(ref: FunctionRef, args: list[Any], kwargs: dict[str, Any]) -> str:
    function = _loaded.get(ref)
    if function is None:
        if ref.source == BUNDLED:
            from palxfel_globus.functions import load

            function = load(ref.name)
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

    def pool(self, endpoint: str) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if endpoint not in self._pools:
                workers = self.endpoint_workers.get(endpoint, DEFAULT_WORKERS)
                context = multiprocessing.get_context("forkserver")
                self._pools[endpoint] = concurrent.futures.ProcessPoolExecutor(
                    workers, mp_context=context, initializer=_die_with, initargs=(os.getpid(),)
                )
            return self._pools[endpoint]

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.shutdown(cancel_futures=True)
            self._pools.clear()

    def _reference(self, function_id: Any) -> FunctionRef:
        try:
            return self.functions[str(function_id).lower()]
        except KeyError:
            raise ProviderError(
                f"the function {function_id} is not registered locally; pass --function {function_id}=FILE.py:NAME"
            ) from None

    def v3(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        endpoint, tasks = require(body, "endpoint_id|endpoint", "tasks")
        if not isinstance(tasks, list) or not tasks:
            raise ProviderError("tasks must be a non-empty list of {function_id, args, kwargs}")
        calls = []
        for number, task in enumerate(tasks):
            if not isinstance(task, dict):
                raise ProviderError(f"tasks[{number}] must be an object")
            (function_id,) = require(task, "function_id|function")
            calls.append((self._reference(function_id), list(task.get("args") or []), dict(task.get("kwargs") or {})))
        return self._run(str(endpoint).lower(), calls, context, body.get("task_group_id"))

    def v2(self, body: dict[str, Any], context: ActionContext) -> ActionResult:
        endpoint, function_id = require(body, "endpoint|endpoint_id", "function|function_id")
        kwargs = body.get("kwargs", body.get("payload")) or {}
        if not isinstance(kwargs, dict):
            raise ProviderError("kwargs (or payload) must be an object")
        call = (self._reference(function_id), list(body.get("args") or []), kwargs)
        return self._run(str(endpoint).lower(), [call], context, None)

    def _run(
        self,
        endpoint: str,
        calls: list[tuple[FunctionRef, list[Any], dict[str, Any]]],
        context: ActionContext,
        task_group_id: Optional[str],
    ) -> ActionResult:
        pool = self.pool(endpoint)
        try:
            futures = [pool.submit(_run_task, ref, args, kwargs) for ref, args, kwargs in calls]
        except concurrent.futures.BrokenExecutor as exc:
            with self._lock:
                self._pools.pop(endpoint, None)
            return ActionResult("FAILED", {"exception": f"the local endpoint's workers stopped: {exc}"})
        timeout = None if context.deadline is None else max(0.0, context.deadline - time.monotonic())
        done, pending = concurrent.futures.wait(futures, timeout=timeout)
        if pending:
            for future in pending:
                future.cancel()
            raise TimeoutError("the Compute tasks did not finish within the action's WaitTime")
        results = []
        for (ref, _args, _kwargs), future in zip(calls, futures):
            error = future.exception()
            if error is not None:
                return ActionResult("FAILED", {"exception": str(error), "function": ref.name})
            results.append({"task_id": new_id(), "output": json.loads(future.result())})
        return ActionResult(
            "SUCCEEDED",
            {
                "result": [item["output"] for item in results],
                "results": results,
                "task_group_id": task_group_id or new_id(),
                "endpoint_id": endpoint,
            },
        )
