"""The side steps of scan_backup (sharing, catalog, e-mail) as the recent runs tell them.

A side step never changes what the backup did, so its failure does not fail the run; the flow
writes it in the run's output instead (``side_steps.failed``, see NoteSideSteps). ``status``,
``runs list`` and ``doctor`` read it from the runs Flows lists, on any host, so a side step that
keeps failing is seen wherever a person looks, not only in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from palxfel_globus.backup import side_step_failures

# the key a run's output has when the step ran at all (a quiet run neither fails nor mends it)
RAN = {"sharing": "shares", "catalog": "catalog", "e-mail": "mail"}
COULD_NOT = {"sharing": "set the access rules", "catalog": "ingest", "e-mail": "send the e-mail"}
FIX = {
    "sharing": "'palxfel-globus shares list' on the DAQ host; the route's collection must be a guest collection",
    "catalog": "the [catalog] index must exist and be yours to write (see the catalog index check)",
    "e-mail": "[notify] sender and the smtp_* login ('palxfel-globus deploy' sends them to the flow)",
}


@dataclass(frozen=True)
class Failing:
    step: str
    runs: int  # the runs in a row, newest first, that ran the step and saw it fail
    problem: str  # the newest run's sentence
    newest: bool  # whether the newest run is one of them (else later runs had nothing to do for the step)

    def sentence(self) -> str:
        runs = "the last run" if self.runs == 1 else f"the last {self.runs} runs"
        return f"{self.step}: {runs}{'' if self.newest else ' to try'} could not {COULD_NOT[self.step]}: {self.problem}"


def failing(runs: list[dict[str, Any]]) -> list[Failing]:
    """Each side step whose newest run (among ``runs``, newest first) that ran it saw it fail."""
    found = []
    for step, key in RAN.items():
        streak, problem, newest = 0, "", True
        for run in runs:
            if key not in ((run.get("details") or {}).get("output") or {}):
                newest = newest and streak > 0
                continue
            problems = [failure["problem"] for failure in side_step_failures(run) if failure["step"] == step]
            if not problems:
                break
            streak, problem = streak + 1, problem or problems[0]
        if streak:
            found.append(Failing(step, streak, problem, newest))
    return found
