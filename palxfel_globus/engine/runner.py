"""The interpreter: runs a flow definition as the Globus Flows service does, on this machine.

A run is a loop over states on one JSON run state. Each state's handler reads the state
and returns the new run state and the next state's name (None to end); a ``FlowError``
goes to the first matching ``Catch`` or fails the run. The run document and its log are
shaped like the service's (globus-flows.md 2). Where sources disagree the documented
decisions apply: ``ExceptionOnActionFailure`` defaults to false, a Pass with
``InputPath`` and ``ResultPath`` keeps the source key (ASL), the run state is capped at
200 KB. Time is the engine's clock (simulated unless told otherwise, see clock.py); a run
that waits for a person stops INACTIVE and is kept in the engine's local state until it is
resumed with an answer or cancelled.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, Optional

from palxfel_globus.engine import jsonpath, web_inputs
from palxfel_globus.engine.clock import Clock, VirtualClock, iso
from palxfel_globus.engine.definition import MAX_RUN_SECONDS, checked, parse_timestamp
from palxfel_globus.engine.errors import ExpressionError, FlowError, JsonPathError
from palxfel_globus.engine.expressions import evaluate
from palxfel_globus.engine.faults import Faults
from palxfel_globus.engine.providers.base import ActionContext, ActionResult, Collections, ProviderError, new_id
from palxfel_globus.engine.providers.compute import ComputeProvider, FunctionRef
from palxfel_globus.engine.providers.local_state import LocalState
from palxfel_globus.engine.providers.registry import build_registry, lookup
from palxfel_globus.engine.providers.search import SearchProvider
from palxfel_globus.engine.providers.transfer import TransferProvider

MAX_RUN_STATE_BYTES = 200 * 1024
INACTIVE_RUNS = "inactive_runs"  # the local state's kind for runs waiting on a person
MAX_RECORDS = 10_000
DEFAULT_MAX_STATES = 10_000  # a scan-backup run takes a few dozen; a loop that never ends stops here
LEGACY_WAIT_TIME = 300
LOCAL_USER_ID = "00000000-0000-4000-8000-00000000c0de"


def _as_json(value: Any) -> Any:
    """A private copy of JSON data: no aliasing between run-state keys, nothing that is not JSON."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.loads(json.dumps(value))


class _Run:
    """One run's mutable record."""

    def __init__(
        self,
        definition: dict[str, Any],
        body: dict[str, Any],
        context: dict[str, Any],
    ) -> None:
        self.definition = definition
        self.state: Any = _as_json(body)
        self.context = context
        self.log: list[dict[str, Any]] = []
        self.peak_state_bytes = 0
        self.started = 0.0
        self.cancelled: Callable[[], bool] = lambda: False
        self.position = definition["StartAt"]  # the state to run next (where an INACTIVE run resumes)
        self.answers: list[Any] = []  # web-input answers for this run only (given when it resumes)


class _WaitingForPerson(Exception):
    """An AwaitWebInput with no answer: the run stops INACTIVE at this state, resumable."""

    def __init__(self, web_input_id: Any) -> None:
        super().__init__(web_input_id)
        self.web_input_id = web_input_id


class Engine:
    """Runs flows with local action providers. Use as a context manager to close worker pools."""

    def __init__(
        self,
        *,
        collections: Optional[dict[str, Path]] = None,
        functions: Optional[dict[str, FunctionRef]] = None,
        endpoint_workers: Optional[dict[str, int]] = None,
        faults: Optional[Faults] = None,
        web_inputs: Iterable[Any] = (),
        clock: Optional[Clock] = None,
        username: str = "local-user@localhost",
        on_event: Optional[Callable[[dict[str, Any], dict[str, Any]], None]] = None,
        max_states: int = DEFAULT_MAX_STATES,
        guest_collections: Iterable[str] = (),
        state_dir: Optional[Path] = None,
        expire_web_inputs: bool = False,
        log_state_io: bool = False,
    ) -> None:
        """``log_state_io``: each state's Started and Completed log entries carry its type and a copy of
        its input and output, as the service's run log does ('local serve'; a copy per state is a
        cost the local engine does not pay by default)."""
        self.max_states = max_states
        self.expire_web_inputs = expire_web_inputs
        self.state = LocalState(state_dir)
        self.collections = Collections(
            {key.lower(): Path(value) for key, value in (collections or {}).items()},
            {key.lower() for key in guest_collections},
            self.state,
        )
        self.compute = ComputeProvider(
            {key.lower(): value for key, value in (functions or {}).items()},
            {key.lower(): value for key, value in (endpoint_workers or {}).items()},
        )
        self.registry = build_registry(TransferProvider(self.collections), self.compute, SearchProvider(self.state))
        self.faults = faults or Faults()
        self.answers = list(web_inputs)  # --web-input answers, first come first served
        self.clock = clock or VirtualClock()
        self.username = username
        self.on_event = on_event
        self.log_state_io = log_state_io
        # what providers noted (e-mails, rules, DOIs): the latest only, as an engine may serve for months
        self.records: deque[tuple[str, dict[str, Any]]] = deque(maxlen=MAX_RECORDS)
        self._lock = threading.Lock()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.compute.close()

    def register_function(self, function_id: str, function: FunctionRef) -> None:
        """Make ``function_id`` runnable from now on (the emulator's Compute registers as it goes)."""
        self.compute.functions[function_id.lower()] = function

    # public ------------------------------------------------------------------
    def run(
        self,
        definition: dict[str, Any],
        body: dict[str, Any],
        *,
        label: Optional[str] = None,
        tags: Iterable[str] = (),
        flow_id: Optional[str] = None,
        flow_title: Optional[str] = None,
        run_id: Optional[str] = None,
        max_states: Optional[int] = None,
        cancelled: Optional[Callable[[], bool]] = None,
    ) -> dict[str, Any]:
        """Run until it ends or waits for a person; returns the run document with its log and, beyond
        the service's fields, ``peak_state_bytes``.

        The status is SUCCEEDED, FAILED, ENDED (``cancelled`` is asked before each state and said
        yes, as a cancelled run ends in the service) or INACTIVE: an AwaitWebInput had no answer
        (``web_inputs``), so the run waits, kept in the engine's local state, until ``resume``
        gives one or ``cancel`` ends it. With ``expire_web_inputs`` an unanswered web input
        expires at once instead (``Flows.WebInputExpired``), to test a flow's expiry path."""
        checked(definition)
        run_id = run_id or str(uuid.uuid4())
        flow_id = flow_id or "00000000-0000-4000-8000-00000000f10e"
        now = self.clock.now()
        context = {
            "flow_id": flow_id,
            "run_id": run_id,
            "username": self.username,
            "email": self.username,
            "user_id": f"urn:globus:auth:identity:{LOCAL_USER_ID}",  # a URN, as the Run Context page shows
            "identities": [f"urn:globus:auth:identity:{LOCAL_USER_ID}"],
            "token_info": {"exp": int(now) + 172800, "iat": int(now), "nbf": int(now)},
        }
        run = _Run(definition, body, context)
        run.started = now
        document = {
            "run_id": run_id,
            "flow_id": flow_id,
            "flow_title": flow_title or definition.get("Comment", "local flow"),
            "label": label,
            "tags": list(tags),
            "run_owner": f"urn:globus:auth:identity:{LOCAL_USER_ID}",
            "run_managers": [],
            "run_monitors": [],
            "user_role": "run_owner",
            "start_time": iso(now),
        }
        self._event(run, "FlowStarted", "The Flow Instance started execution", {"input": run.state})
        return self._go(run, document, max_states, cancelled)

    def resume(
        self,
        run_id: str,
        answer: Any,
        *,
        max_states: Optional[int] = None,
        cancelled: Optional[Callable[[], bool]] = None,
    ) -> dict[str, Any]:
        """Go on with an INACTIVE run, ``answer`` answering the web input it waits for."""
        run, document = self._inactive(run_id)
        run.answers = [answer]
        self._event(run, "FlowResumed", "The Flow Instance resumed execution", {"state_name": run.position})
        return self._go(run, document, max_states, cancelled)

    def cancel(self, run_id: str) -> dict[str, Any]:
        """End an INACTIVE run: status ENDED, as the service's cancel leaves it."""
        run, document = self._inactive(run_id)
        return self._go(run, document, None, lambda: True)

    def inactive_runs(self) -> list[str]:
        return self.state.keys(INACTIVE_RUNS)

    def inactive(self, run_id: str) -> dict[str, Any]:
        """What is kept of an INACTIVE run (its definition, state, position and log); KeyError if none."""
        saved = self.state.read(INACTIVE_RUNS, run_id)
        if not saved:
            raise KeyError(run_id)
        return saved

    def _inactive(self, run_id: str) -> tuple[_Run, dict[str, Any]]:
        saved = self.inactive(run_id)
        run = _Run(saved["definition"], saved["state"], saved["context"])
        run.log, run.started, run.position = saved["log"], saved["started"], saved["position"]
        run.peak_state_bytes = saved["document"].get("peak_state_bytes", 0)
        return run, saved["document"]

    def _go(
        self,
        run: _Run,
        document: dict[str, Any],
        max_states: Optional[int],
        cancelled: Optional[Callable[[], bool]],
    ) -> dict[str, Any]:
        """Run ``run`` from its position to an end or a wait; record or forget it as INACTIVE."""
        if cancelled is not None:
            run.cancelled = cancelled
        status, details = self._loop(run, self.max_states if max_states is None else max_states)
        document.update(status=status, display_status=status, details=details, log=run.log)
        document["completion_time"] = None if status == "INACTIVE" else iso(self.clock.now())
        document["peak_state_bytes"] = run.peak_state_bytes  # local only: the largest run state, against the 200 KB cap
        run_id = run.context["run_id"]
        if status != "INACTIVE":
            self.state.remove(INACTIVE_RUNS, run_id)
            return document
        with self.state.changing(INACTIVE_RUNS, run_id) as saved:
            saved.clear()
            saved.update(
                definition=run.definition,
                state=run.state,
                context=run.context,
                position=run.position,
                log=run.log,
                started=run.started,
                document={key: value for key, value in document.items() if key != "log"},
            )
        return document

    # the loop ----------------------------------------------------------------
    def _loop(self, run: _Run, max_states: int) -> tuple[str, dict[str, Any]]:
        states = run.definition["States"]
        name = run.position
        executed = 0
        while True:
            run.position = name
            executed += 1
            if executed > max_states:
                bound = f"the run reached its limit of {max_states} states (--max-states); a loop that never ends?"
                return self._failed(run, name, FlowError("States.Runtime", bound))
            if self.clock.now() - run.started > MAX_RUN_SECONDS:
                return self._failed(run, name, FlowError("States.Runtime", "the run passed the one-year limit"))
            if run.cancelled():
                return self._cancelled(run, name)
            state = states[name]
            kind = state["Type"]
            self.faults.maybe_crash(name)
            details = self._io(name, kind, "input", run.state)
            self._event(run, f"{kind}Started", f"State {name} of type {kind} started", details)
            try:
                new_state, following = getattr(self, "_" + kind)(name, state, run)
                size = len(json.dumps(new_state))
                run.peak_state_bytes = max(run.peak_state_bytes, size)
                if size > MAX_RUN_STATE_BYTES:
                    raise FlowError(
                        "States.DataLimitExceeded",
                        f"the run state would be {size} bytes, over the service's 200 KB limit",
                    )
            except _WaitingForPerson as waiting:
                description = f"The run waits at state {name} for an answer to web input {waiting.web_input_id}"
                self._event(run, "FlowInactive", description, {"state_name": name})
                details = {"code": "WaitingForWebInput", "description": description, "state_name": name}
                return "INACTIVE", dict(details, blocking_web_input_id=waiting.web_input_id)
            except FlowError as error:
                catcher = self._catcher(state, error)
                if catcher is None:
                    return self._failed(run, name, error)
                self._event(run, "ActionErrorCaught", f"State {name} caught {error.name}", error.as_state())
                run.state = self._put(run.state, catcher.get("ResultPath", "$"), error.as_state())
                name = catcher["Next"]
                continue
            run.state = new_state
            if run.cancelled():  # cancelled while the state ran (a Wait, an action): it does not complete
                return self._cancelled(run, name)
            if kind == "Fail":
                return self._failed(run, name, following)  # type: ignore[arg-type]
            details = self._io(name, kind, "output", run.state, state.get("ResultPath", "$"))
            self._event(run, f"{kind}Completed", f"State {name} of type {kind} completed", details)
            if following is None:
                self._event(run, "FlowSucceeded", "The Flow Instance completed successfully", {"output": run.state})
                return "SUCCEEDED", {
                    "code": "FlowSucceeded",
                    "output": run.state,
                    "description": "The Flow run reached a successful completion state",
                }
            name = following

    def _cancelled(self, run: _Run, name: str) -> tuple[str, dict[str, Any]]:
        self._event(run, "FlowCanceled", "The Flow Instance was canceled", {"state_name": name})
        return "ENDED", {"code": "FlowCanceled", "description": f"The run was cancelled at state {name}"}

    def _failed(self, run: _Run, name: str, error: FlowError) -> tuple[str, dict[str, Any]]:
        description = f"State {name} failed: {error.name}: {error.cause}"
        self._event(run, "FlowFailed", description, {"state_name": name, "error": error.as_state()})
        return "FAILED", {
            "code": "FlowFailed",
            "description": description,
            "output": run.state,
            "failure": {"state_name": name, "error": error.name, "cause": error.cause},
        }

    @staticmethod
    def _catcher(state: dict[str, Any], error: FlowError) -> Optional[dict[str, Any]]:
        """The first Catch naming the error, or ``States.ALL``. As in the States Language the flow
        language is built on, ``States.Runtime`` always fails the run and ``States.ALL`` does not
        catch ``States.DataLimitExceeded`` (UNVERIFIED for Globus: the Handling Exceptions page
        names only the action errors; a run failing with States.Runtime is globus-cli issue #1254)."""
        if error.name == "States.Runtime":
            return None
        for catcher in state.get("Catch", []):
            if error.name in catcher["ErrorEquals"]:
                return catcher
            if "States.ALL" in catcher["ErrorEquals"] and error.name != "States.DataLimitExceeded":
                return catcher
        return None

    def _io(self, name: str, kind: str, key: str, document: Any, path: str = "$") -> dict[str, Any]:
        """A state's Started/Completed details: its name, and with ``log_state_io`` its type and a copy
        of what ``path`` holds in ``document`` as ``key`` (input, output)."""
        if not self.log_state_io:
            return {"state_name": name}
        return {
            "state_name": name,
            "state_type": kind,
            key: _as_json(jsonpath.lookup(document, jsonpath.parse(path), None)),
        }

    def _event(self, run: _Run, code: str, description: str, details: dict[str, Any]) -> None:
        entry = {"time": iso(self.clock.now()), "code": code, "description": description, "details": details}
        run.log.append(entry)
        if self.on_event is not None:
            self.on_event(entry, run.context)

    # values ------------------------------------------------------------------
    def _path(self, run: _Run, path: str) -> Any:
        steps = jsonpath.parse(path)
        if steps and steps[0] == "_context":
            return jsonpath.lookup(run.context, steps[1:])
        return jsonpath.lookup(run.state, steps)

    def _template(self, template: Any, run: _Run, source: Any) -> Any:
        """``Parameters``: constants, ``key.$`` JSONPaths and ``key.=`` expressions, recursively."""
        if isinstance(template, list):
            return [self._template(item, run, source) for item in template]
        if not isinstance(template, dict):
            return template
        result = {}
        for key, value in template.items():
            if key.endswith(".$"):
                steps = jsonpath.parse(value)
                try:
                    if steps and steps[0] == "_context":
                        result[key[:-2]] = jsonpath.lookup(run.context, steps[1:])
                    else:
                        result[key[:-2]] = jsonpath.lookup(source, steps)
                except JsonPathError:  # the service's words (globus-cli issue #1254)
                    raise JsonPathError(
                        f"The path '{value}' specified for the field '{key}' could not be found in the state input."
                    ) from None
            elif key.endswith(".="):
                try:
                    result[key[:-2]] = evaluate(value, source if isinstance(source, dict) else {}, run.context)
                except ExpressionError as exc:
                    raise ExpressionError(f"The expression for the field '{key}' failed: {exc}") from None
            else:
                result[key] = self._template(value, run, source)
        return result

    def _input(self, state: dict[str, Any], run: _Run) -> Any:
        return self._path(run, state["InputPath"]) if "InputPath" in state else run.state

    @staticmethod
    def _put(document: Any, path: str, value: Any) -> Any:
        try:
            return jsonpath.put(document, path, _as_json(value))
        except JsonPathError as exc:
            raise FlowError("States.Runtime", str(exc)) from None

    @staticmethod
    def _next(state: dict[str, Any]) -> Optional[str]:
        return None if state.get("End") is True else state["Next"]

    @staticmethod
    @contextlib.contextmanager
    def _evaluating() -> Iterator[None]:
        """A JSONPath or expression that fails while a state reads its input fails the run (States.Runtime)."""
        try:
            yield
        except (JsonPathError, ExpressionError) as exc:
            raise FlowError("States.Runtime", str(exc)) from None

    # states ------------------------------------------------------------------
    def _Pass(self, name: str, state: dict[str, Any], run: _Run) -> tuple[Any, Optional[str]]:
        with self._evaluating():
            value = self._input(state, run)
            if "Result" in state:
                value = state["Result"]
            elif "Parameters" in state:
                value = self._template(state["Parameters"], run, value)
        return self._put(run.state, state.get("ResultPath", "$"), value), self._next(state)

    def _ExpressionEval(self, name: str, state: dict[str, Any], run: _Run) -> tuple[Any, Optional[str]]:
        with self._evaluating():
            value = self._template(state["Parameters"], run, run.state)
        return self._put(run.state, state["ResultPath"], value), state["Next"]

    def _Fail(self, name: str, state: dict[str, Any], run: _Run) -> tuple[Any, FlowError]:
        def field(key: str, default: str) -> str:
            if key + "Path" in state:
                try:
                    return str(self._path(run, state[key + "Path"]))
                except JsonPathError as exc:
                    return f"({exc})"
            return str(state.get(key, default))

        return run.state, FlowError(field("Error", "States.Fail"), field("Cause", "the flow reached a Fail state"))

    def _Wait(self, name: str, state: dict[str, Any], run: _Run) -> tuple[Any, Optional[str]]:
        try:
            if "Seconds" in state or "SecondsPath" in state:
                seconds = state["Seconds"] if "Seconds" in state else self._path(run, state["SecondsPath"])
                if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                    raise ValueError(f"{seconds!r} is not a number of seconds")
            else:
                stamp = state["Timestamp"] if "Timestamp" in state else self._path(run, state["TimestampPath"])
                seconds = max(0.0, parse_timestamp(stamp).timestamp() - self.clock.now())
        except (JsonPathError, ValueError, OverflowError) as exc:
            raise FlowError("States.Runtime", f"Wait: {exc}") from None
        if not seconds <= MAX_RUN_SECONDS - (self.clock.now() - run.started):  # also NaN
            raise FlowError("States.Runtime", f"Wait: {seconds!r} s would take the run past the one-year limit")
        self.clock.sleep(seconds)
        return run.state, self._next(state)

    def _Choice(self, name: str, state: dict[str, Any], run: _Run) -> tuple[Any, Optional[str]]:
        for rule in state["Choices"]:
            if self._rule(rule, run):
                return run.state, rule["Next"]
        if "Default" in state:
            return run.state, state["Default"]
        raise FlowError("States.NoChoiceMatched", f"no rule of Choice state {name} matched and it has no Default")

    def _rule(self, rule: dict[str, Any], run: _Run) -> bool:
        if "And" in rule:
            return all(self._rule(inner, run) for inner in rule["And"])
        if "Or" in rule:
            return any(self._rule(inner, run) for inner in rule["Or"])
        if "Not" in rule:
            return not self._rule(rule["Not"], run)
        operator_name = next(key for key in rule if key not in ("Variable", "Next"))
        marker = object()
        steps = jsonpath.parse(rule["Variable"])
        base = run.context if steps and steps[0] == "_context" else run.state
        value = jsonpath.lookup(base, steps[1:] if base is run.context else steps, marker)
        if operator_name == "IsPresent":
            return (value is not marker) == rule["IsPresent"]
        if value is marker:  # no match, as globus-flows-examples' approved_publishing relies on (not ASL's failure)
            return False
        operand = rule[operator_name]
        if operator_name.endswith("Path"):
            try:
                operand = self._path(run, operand)
            except JsonPathError as exc:
                raise FlowError("States.Runtime", str(exc)) from None
            operator_name = operator_name[:-4]
        return _compare(operator_name, value, operand)

    def _Action(self, name: str, state: dict[str, Any], run: _Run) -> tuple[Any, Optional[str]]:
        handler = state.get("Handler")
        url = state.get("ActionUrl")
        if isinstance(handler, dict):
            if handler.get("Type") != "ActionProvider":
                raise FlowError(
                    "ActionUnableToRun",
                    f"a {handler.get('Type')} handler cannot run locally; use an ActionProvider URL",
                )
            url = handler.get("Url")
        elif isinstance(handler, str):
            raise FlowError("ActionUnableToRun", f"the handle {handler} cannot run locally; use an ActionUrl")
        try:
            provider = lookup(self.registry, url)
        except ProviderError as exc:
            raise FlowError("ActionUnableToRun", str(exc)) from None
        # a failed .$ path or .= expression fails the run with States.Runtime, as the service does
        # (globus-cli issue #1254: "The path '$.x' specified for the field 'subject.$' could not be found")
        with self._evaluating():
            body = (
                self._path(run, state["InputPath"])
                if "InputPath" in state
                else self._template(state["Parameters"], run, run.state)
            )
        if isinstance(body, dict):  # which parameters Flows keeps out of logs; not the provider's business
            body = {key: value for key, value in body.items() if key != "__Private_Parameters"}
        wait = state.get("WaitTime", LEGACY_WAIT_TIME)
        started = self.clock.now()
        deadline = started + wait
        context = ActionContext(
            run.context["run_id"], name, self.faults, deadline, self._record, self.clock, lambda: self._answer(run)
        )
        if self.faults.take_failure(name):
            result = ActionResult("FAILED", {"code": "InjectedFault", "description": f"fault injected into {name}"})
        else:
            try:
                result = provider(body if isinstance(body, dict) else {}, context)
            except ProviderError as exc:
                raise FlowError("ActionUnableToRun", str(exc)) from None
            except TimeoutError as exc:
                raise FlowError("ActionTimeout", str(exc)) from None
        for entry in result.log:
            self._event(run, entry.code, entry.description, entry.details)
        if self.clock.now() > deadline:
            raise FlowError("ActionTimeout", f"the action did not finish within WaitTime ({wait} s)")
        status = {
            "action_id": new_id(),
            "status": result.status,
            "display_status": result.status,
            "details": result.details,
            "start_time": iso(started),
            "completion_time": iso(self.clock.now()),
            "creator_id": run.context["identities"][0],
            "label": result.label,
            "manage_by": [],
            "monitor_by": [],
            "release_after": None,
            "state_name": name,
        }
        if result.status == "FAILED" and state.get("ExceptionOnActionFailure", False):
            raise FlowError(
                "ActionFailedException",
                f"the action of state {name} ended FAILED: {_failure_text(result.details)}",
                status,
            )
        return self._put(run.state, state.get("ResultPath", "$"), status), self._next(state)

    def _answer(self, run: _Run) -> Any:
        """The next answer a person gave (--web-input): this run's own first, then the engine's."""
        with self._lock:
            source = run.answers or self.answers
            return source.pop(0) if source else None

    def _record(self, kind: str, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.append((kind, record))

    def _CreateWebInput(self, name: str, state: dict[str, Any], run: _Run) -> tuple[Any, Optional[str]]:
        with self._evaluating():
            parameters = self._template(state.get("Parameters", {}), run, run.state)
        self._record("web_input", parameters)
        web_input_id = web_inputs.open_web_input(self.state, parameters, run.context, iso(self.clock.now()))
        value = {"web_input_id": web_input_id, "status": "ACTIVE", **parameters}
        return self._put(run.state, state.get("ResultPath", "$"), value), self._next(state)

    def _AwaitWebInput(self, name: str, state: dict[str, Any], run: _Run) -> tuple[Any, Optional[str]]:
        with self._evaluating():
            parameters = self._template(state.get("Parameters", {}), run, run.state)
        answer = self._answer(run)
        web_input_id = parameters.get("web_input_id")
        if answer is None and not self.expire_web_inputs:
            raise _WaitingForPerson(web_input_id)
        web_inputs.close_web_input(self.state, web_input_id, iso(self.clock.now()))
        if answer is None:
            raise FlowError("Flows.WebInputExpired", f"web input {web_input_id} expired with no answer")
        value = {
            "web_input_id": web_input_id,
            "response": answer,
            "respondent": run.context["username"],
            "responded_at": iso(self.clock.now()),
        }
        return self._put(run.state, state.get("ResultPath", "$"), value), self._next(state)

    def web_input(self, web_input_id: str) -> dict[str, Any]:
        """A web input a run opened (its options with ids, open or closed); KeyError if none."""
        return web_inputs.web_input(self.state, web_input_id)

    def web_inputs(self) -> list[dict[str, Any]]:
        return web_inputs.web_inputs(self.state)


def _failure_text(details: Any) -> str:
    if isinstance(details, dict):
        for key in ("fatal_error", "exception", "description", "message", "code"):
            if details.get(key):
                value = details[key]
                return value.get("description", str(value)) if isinstance(value, dict) else str(value)
    return "no details"


def _string_matches(value: str, pattern: str) -> bool:
    regex = "".join(
        ".*" if part == "*" else re.escape(part.replace("\\*", "*")) for part in re.split(r"(?<!\\)(\*)", pattern)
    )
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _compare(operator_name: str, value: Any, operand: Any) -> bool:
    """One Choice comparison; a value of the wrong type never matches (ASL)."""
    kinds = {"String": str, "Numeric": (int, float), "Boolean": bool, "Timestamp": str}
    tests = {
        "IsNull": lambda: (value is None) == operand,
        "IsNumeric": lambda: (isinstance(value, (int, float)) and not isinstance(value, bool)) == operand,
        "IsString": lambda: isinstance(value, str) == operand,
        "IsBoolean": lambda: isinstance(value, bool) == operand,
        "IsTimestamp": lambda: _is_timestamp(value) == operand,
        "StringMatches": lambda: isinstance(value, str) and _string_matches(value, operand),
    }
    if operator_name in tests:
        return bool(tests[operator_name]())
    kind = next(prefix for prefix in kinds if operator_name.startswith(prefix))
    relation = operator_name[len(kind) :]
    if not isinstance(value, kinds[kind]) or (kind == "Numeric" and isinstance(value, bool)):
        return False
    if kind == "Timestamp":
        if not (_is_timestamp(value) and _is_timestamp(operand)):
            return False
        value, operand = parse_timestamp(value), parse_timestamp(operand)
    relations = {
        "Equals": lambda a, b: a == b,
        "LessThan": lambda a, b: a < b,
        "GreaterThan": lambda a, b: a > b,
        "LessThanEquals": lambda a, b: a <= b,
        "GreaterThanEquals": lambda a, b: a >= b,
    }
    try:
        return bool(relations[relation](value, operand))
    except TypeError:
        return False


def _is_timestamp(value: Any) -> bool:
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True
