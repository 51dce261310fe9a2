"""Errors raised while a flow runs, named as the Flows service names them.

``FlowError.name`` is what a ``Catch`` matches in ``ErrorEquals``: ``ActionUnableToRun``
(the action could not be started), ``ActionFailedException`` (it ended FAILED and the
state asked for an exception), ``ActionTimeout`` (``WaitTime`` passed),
``Flows.WebInputExpired``, and, for what no source names (see globus-flows.md 1.5),
the Amazon States Language's ``States.Runtime`` and ``States.DataLimitExceeded``.
"""

from __future__ import annotations

from typing import Any, Optional


class FlowError(Exception):
    """A catchable run-time error of one state."""

    def __init__(self, name: str, cause: str, details: Optional[dict[str, Any]] = None) -> None:
        super().__init__(f"{name}: {cause}")
        self.name = name
        self.cause = cause
        self.details = details

    def as_state(self) -> dict[str, Any]:
        """What a Catch stores at its ResultPath: Error and Cause, plus the action's status document."""
        document: dict[str, Any] = dict(self.details or {})
        document.update(Error=self.name, Cause=self.cause)
        return document


class ExpressionError(ValueError):
    """An expression that does not parse, is not allowed, or fails to evaluate."""


class JsonPathError(ValueError):
    """A JSONPath that does not parse or does not resolve."""


class DefinitionError(ValueError):
    """A flow definition the engine refuses to run; ``problems`` lists each finding."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class SimulatedCrash(BaseException):
    """Fault injection: the engine process 'dies' before a state; BaseException so nothing catches it."""
