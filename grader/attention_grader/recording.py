"""Step 5 (in the coordinator, one submission at a time): record a submission's results.

nbgrader's autograde runs in this process on ``.intake/submitted/<student>/<assignment>``
(:mod:`staging`). The engine hands it the workers' results through a
:class:`nbgrader_ext.Recording`, set as ``GradingExecute.recording`` on a copy of the
configuration made for this one submission: :class:`nbgrader_ext.GradingExecute` takes the
result of the notebook it sanitized (executing it itself only if a worker executed another
one), :class:`nbgrader_ext.TrustedVerdicts` has the trusted checks decide every test cell, and
:class:`nbgrader_ext.KeepHumanGrades` writes the gradebook. The stamp is written last.

Faults of the environment are not the student's: a lost worker, a sandbox that could not
start, a worker whose environment differs from the coordinator's, or a setup cell (the
instructor's code) that failed leave the submission unrecorded (no row of zeros, its earlier
grades kept) and reported as failed, to be graded again by the next run.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from . import cells, executor, nbgrader_ext
from .planning import Planner
from .preparing import Prepared
from .staging import STAGED_SUBMITTED, Submission

ENVIRONMENT_FAULTS = ("worker-failed", "sandbox-failed", "environment-differs")
SETUP_CELL = executor.SETUP_CELL  # grade id of each notebook's setup cell


@dataclass
class Outcome:
    submission: Submission
    status: str  # graded, failed, held, skipped, penalty
    reasons: list[str] = field(default_factory=list)  # why it failed (cells after: 0 points)
    notes: list[str] = field(default_factory=list)  # what a human should look at
    log: str = ""
    seconds: float = 0.0
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # see timing()


def environment_fault(result: executor.Result) -> str | None:
    """Why ``result`` says nothing about the student's work (None when it does)."""
    if result.status in ENVIRONMENT_FAULTS:
        return result.reason
    if result.status != "ok":  # the kernel died, ran out of memory or time: the student's code
        return None
    errors = executor.setup_errors(result.notebook)
    if not errors:
        return None
    return (
        f"the setup cell failed: {errors[0].get('ename', 'Error')}: "
        f"{str(errors[0].get('evalue', ''))[:300]}"
    )


def timing(result: executor.Result) -> dict[str, float]:
    """Where a notebook's grading time went: the whole execution, starting the sandboxed
    kernel, the setup cell (imports), the other cells (``record`` is added when recorded)."""
    setup = sum(
        seconds
        for index, seconds in result.cell_seconds.items()
        if index < len(result.notebook.get("cells", []))
        and cells.grade_id(result.notebook["cells"][index]) == SETUP_CELL
    )
    return {
        "execute": result.seconds,
        "kernel_start": result.kernel_start_seconds,
        "setup": round(setup, 3),
        "cells": round(sum(result.cell_seconds.values()) - setup, 3),
    }


def _notebook(result: executor.Result) -> str:
    return result.key.rsplit("/", 1)[-1]


class Recorder:
    def __init__(self, config: Config, planner: Planner) -> None:
        self.config, self.planner = config, planner
        self.coursedir = CourseDirectory(config=config)
        # nbgrader records from the staged notebooks, never from submitted/ (see staging)
        self.staged_coursedir = CourseDirectory(config=config)
        self.staged_coursedir.submitted_directory = STAGED_SUBMITTED

    def record(self, prepared: Prepared, results: list[executor.Result]) -> Outcome:
        """Record one submission (a submission refused at intake, or whose results show a
        fault of the environment, is reported and nothing of it is recorded)."""
        start = time.monotonic()
        sub = prepared.submission
        outcome = Outcome(sub, "graded", notes=list(prepared.notes))
        outcome.timings = {r.key: timing(r) for r in results}
        if sub.refused:
            outcome.status, outcome.reasons = "failed", [sub.refused]
            return outcome
        faults = [(r, environment_fault(r)) for r in results]
        if any(reason for _, reason in faults):
            outcome.status = "failed"
            outcome.reasons = [
                f"{_notebook(r)}: {reason} (a fault of the grading environment, not the "
                "student's: nothing was recorded; it is graded again by the next run)"
                for r, reason in faults
                if reason
            ]
            outcome.log = "".join(r.log for r, reason in faults if reason)
            return outcome
        response, recording = self._autograde(prepared, results)
        outcome.notes.extend(
            f"{name}: nbgrader's notebook differed from the one executed; it was executed again"
            for name in recording.executed_again
        )
        self._explain(outcome, prepared, results, response)
        if response.get("success"):  # hand-graded answers that changed since: a human's turn
            outcome.notes.extend(recording.waiting_again)
        if not outcome.reasons:
            self.planner.write_stamp(sub)
        else:
            outcome.status = "failed"
        outcome.seconds = round(time.monotonic() - start, 3)
        for phases in outcome.timings.values():
            phases["record"] = outcome.seconds / max(len(outcome.timings), 1)
        return outcome

    def _autograde(
        self, prepared: Prepared, results: list[executor.Result]
    ) -> tuple[dict, nbgrader_ext.Recording]:
        """nbgrader's autograde of the submission, fed ``results`` (nbgrader's response, and
        what the recording learnt: the notebooks it had to execute again, the written answers
        waiting for a human again)."""
        sub = prepared.submission
        recording = nbgrader_ext.Recording(
            sub.student,
            sub.assignment,
            Path(sub.folder),
            results={_notebook(r): (r.input_digest, r) for r in results},
            refused=dict(prepared.refused),
        )
        config = copy.deepcopy(self.config)  # this recording's own configuration
        config.GradingExecute.recording = recording
        config.KeepHumanGrades.recording = recording
        api = NbGraderAPI(coursedir=self.staged_coursedir, config=config)
        with warnings.catch_warnings():  # nbgrader 0.9 + SQLAlchemy 2.1: harmless notes
            warnings.simplefilter("ignore", SAWarning)
            response = api.autograde(sub.assignment, sub.student, force=True, create=True)
        return response, recording

    def _explain(
        self, outcome: Outcome, prepared: Prepared, results: list[executor.Result], response: dict
    ) -> None:
        """What the outcome says: refusals, notebooks that did not finish, nbgrader's log."""
        outcome.reasons.extend(prepared.refused.values())
        for result in results:
            if result.status != "ok":
                outcome.reasons.append(
                    f"{_notebook(result)}: {result.reason} (cells that did not run scored 0)"
                )
                outcome.log += result.log
            outcome.notes.extend(f"{_notebook(result)}: {e}" for e in result.events)
        if not response.get("success"):
            outcome.log += response.get("log", "") + response.get("error", "")
            if not prepared.refused:
                outcome.reasons.append("nbgrader could not record it (see the log)")
