"""The one exception type the CLI turns into a sentence and an exit code."""

from __future__ import annotations


class PalxfelError(Exception):
    """Something the operator can fix; ``str()`` is the sentence shown, ``exit_code`` the status.

    Exit codes follow the CLI's convention: 2 for bad input (config, arguments), 1 for an
    operation that was tried and failed.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
