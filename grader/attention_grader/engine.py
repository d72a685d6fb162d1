"""Grade a class: the engine that runs the steps, one module each.

A submission goes through, in this order:

1. :mod:`staging`: ``submitted/<student>/<assignment>`` is copied through the intake gate
   into the grader's own ``.intake/``; nothing later reads ``submitted/``.
2. :mod:`planning`: its stamp (:mod:`stamps`) says whether it must be graded (new, changed,
   or what grades it changed), only has a stale late penalty (recomputed, nothing executed:
   :func:`late.apply_policy`), or is unchanged.
3. :mod:`solutions`: once per assignment and change, the instructor's solution is graded the
   same way and must score full marks; otherwise the assignment is held (nothing recorded).
4. :mod:`preparing` (this process, trusted): its notebooks are sanitized exactly as nbgrader
   will, and become :class:`executor.Job` s.
5. :mod:`workers`: the jobs execute in the sandbox (:mod:`executor`, :mod:`sandbox`) on this
   process, a local Dask cluster or a scheduler's workers.
6. :mod:`recording` (this process, one submission at a time): nbgrader's autograde records
   the workers' results, decided by the trusted checks (:mod:`nbgrader_ext`, :mod:`judging`);
   faults of the environment are reported, never recorded as zeros. SIGINT/SIGTERM wait until
   the submission being recorded is complete, so nothing is half written.

Where the grader relies on other libraries' private behaviour: :mod:`compat`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import compat, executor, late, reports, sandbox, stamps, zygote
from .course_config import GradingError, load_config
from .nbgrader_ext import DEMO_TAG
from .planning import Planner
from .preparing import Prepared, Preparer
from .recording import Outcome, Recorder
from .solutions import SolutionCheck
from .staging import Submission
from .workers import Pool

__all__ = ["Engine", "GradingError", "Summary"]


class _Signals:
    """SIGINT/SIGTERM raise KeyboardInterrupt, except inside :meth:`critical`, where they
    are held until the section is complete."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._critical = False
        self._saved: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        self.received = signum
        if not self._critical:
            raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._saved[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self.received is not None:
            raise KeyboardInterrupt


@dataclass
class Summary:
    outcomes: list[Outcome]
    seconds: float
    workers: str
    interrupted: bool = False
    memory: str = ""  # how the sandboxes' memory limit is enforced (sandbox.memory_enforcement)
    held: dict[str, str] = field(default_factory=dict)  # assignment: why it was not graded

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        """Nothing failed, nothing held back, not interrupted."""
        return not (self.count("failed") or self.count("held") or self.interrupted)

    @property
    def flagged(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.notes and o.status != "skipped"]

    def text(self) -> str:
        done = self.count("graded") + self.count("failed")
        rate = done / self.seconds * 60 if self.seconds > 0 else 0.0
        lines = [
            f"{self.count('graded')} graded, {self.count('failed')} failed, "
            f"{len(self.flagged)} flagged, {self.count('skipped')} unchanged (not regraded)"
            f" in {self.seconds:.0f} s ({rate:.1f} submissions/min, {self.workers})"
        ]
        if self.count("penalty"):
            lines.append(
                f"  {self.count('penalty')} unchanged with a new due date or late policy: "
                "late penalties recomputed on the recorded scores (nothing executed)"
            )
        if self.memory:
            lines.append(f"  memory limit: {self.memory}")
        for assignment, reason in self.held.items():
            count = sum(
                1
                for o in self.outcomes
                if o.status == "held" and o.submission.assignment == assignment
            )
            lines.append(
                f"  HELD {assignment}: {count} submissions not graded, nothing recorded: {reason}"
            )
        if self.interrupted:
            lines.append(
                "INTERRUPTED: every result above was recorded; run the same command "
                "again to grade the rest."
            )
        for o in self.outcomes:
            if o.status == "failed":
                lines.append(
                    f"  FAILED {o.submission.name}: {'; '.join(map(reports.one_line, o.reasons))}"
                )
                # the kernel's own output: no terminal control sequence reaches the console
                tail = o.log.strip().splitlines()[-8:]
                lines.extend(f"      | {reports.one_line(line)}" for line in tail)
        for o in self.flagged:
            lines.append(
                f"  REVIEW {o.submission.name}: {'; '.join(map(reports.one_line, o.notes))}"
            )
        return "\n".join(lines)


class Engine:
    """Grades submissions of a course root (see the module docstring)."""

    def __init__(
        self,
        root: Path,
        *,
        workers: int | None = None,
        scheduler: str | None = None,
        sequential: bool = False,
        force: bool = False,
        unsafe: bool = False,
        progress: bool = True,
        code: dict[str, Path] | None = None,
    ) -> None:
        """``code``: ``{package: folder}`` whose files the stamps hash (default: the
        imported packages, :func:`stamps.package_folders`)."""
        self.root = root.resolve()
        self.config = load_config(self.root)
        if unsafe:
            self.config.GradingExecute.unsafe_no_sandbox = True
        self.unsafe, self.progress = unsafe, progress
        self.planner = Planner(self.root, self.config, code or stamps.package_folders(), force)
        self.preparer = Preparer(self.config, unsafe)
        self.recorder = Recorder(self.config, self.planner)
        self.solutions = SolutionCheck(self.root, self.config, self.planner, self.preparer)
        autograded = self.planner.coursedir.format_path(
            self.planner.coursedir.autograded_directory, ".", "."
        )
        self.pool = Pool(
            Path(autograded),
            workers or int(os.environ.get("COURSE_WORKERS", 0) or os.cpu_count() or 1),
            scheduler or os.environ.get("COURSE_SCHEDULER") or None,
            sequential,
            isolated=not unsafe,
        )

    def grade(self, assignments: list[str], students: list[str] | None = None) -> Summary:
        start = time.monotonic()
        if not self.unsafe and sandbox.problem():
            raise GradingError(f"no sandbox: {sandbox.problem()}")
        plan = self.planner.plan(assignments, students)
        if plan.repriced:
            late.apply_policy(self.root)  # every recorded penalty, from the gradebook's dates
            for sub in plan.repriced:
                self.planner.write_stamp(sub)
        repriced = {s.name for s in plan.repriced}
        outcomes = [
            Outcome(s, "penalty" if s.name in repriced else "skipped") for s in plan.unchanged
        ]
        self.pool.template_pays, self.pool.template_tensorflow = self._template_plan(plan.todo)
        mode = self.pool.mode + (", NO SANDBOX" if self.unsafe else "")
        summary = Summary(outcomes, 0.0, mode)
        if not self.unsafe and not self.pool.scheduler:  # remote workers: in each result
            summary.memory = sandbox.memory_enforcement()
        with (
            _Signals() as signals,
            _progress(len(plan.todo), self.progress) as bar,
            compat.shared_sql_engines(),
            compat.checked_schemas(),
        ):
            try:
                with self.pool:
                    summary.held = self._check_solutions(plan.todo)
                    todo = [s for s in plan.todo if s.refused or s.assignment not in summary.held]
                    for sub in plan.todo:
                        if sub not in todo:
                            outcomes.append(Outcome(sub, "held", [summary.held[sub.assignment]]))
                            bar.update(1)
                    for outcome in self._grade(todo, signals):
                        outcomes.append(outcome)
                        bar.set_postfix_str(outcome.submission.name, refresh=False)
                        bar.update(1)
            except KeyboardInterrupt:
                summary.interrupted = True
        summary.seconds = time.monotonic() - start
        return summary

    def _template_plan(self, todo: list[Submission]) -> tuple[bool, bool]:
        """Whether this run is worth a kernel template as its cluster starts
        (:func:`zygote.pays`): an assignment's notebook imports TensorFlow or Keras outside
        its demonstrations, or the run has enough notebooks (otherwise it is offered once the
        submitted ones are: :meth:`Pool.submit`); and whether the template imports them (not
        for a run of 01 and 02: :func:`zygote.warm_modules`)."""
        counts: dict[str, int] = {}
        for sub in todo:
            if not sub.refused:
                counts[sub.assignment] = counts.get(sub.assignment, 0) + 1
        notebooks, tensorflow = 0, False
        for assignment, submissions in counts.items():
            for path in sorted(self.solutions.source(assignment).glob("*.ipynb")):
                notebooks += submissions + 1  # (+1: the solution check, when it runs)
                try:
                    nb = json.loads(path.read_text(encoding="utf-8"))
                    run = [
                        c
                        for c in nb.get("cells", [])
                        if DEMO_TAG not in (c.get("metadata") or {}).get("tags", [])
                    ]
                except (OSError, ValueError, AttributeError, TypeError):
                    continue  # (the solution check says what is wrong with it)
                tensorflow = tensorflow or zygote.worth_waiting({"cells": run})
        return zygote.pays(tensorflow, notebooks), tensorflow

    def check_solutions(self, assignments: list[str]) -> dict[str, str]:
        """Check the instructor's solutions of ``assignments`` now, whether or not anything is
        to be graded (``make bench-grading`` does before it times; :mod:`solutions`)."""
        for assignment in assignments:
            self.planner.record_version(assignment)
        todo = [Submission("", a, Path()) for a in assignments]
        self.pool.template_tensorflow = self._template_plan(todo)[1]
        with compat.shared_sql_engines(), self.pool:
            return self._check_solutions(todo)

    def _check_solutions(self, todo: list[Submission]) -> dict[str, str]:
        """``{assignment: why it is held}`` for the assignments of ``todo`` whose solution
        does not score full marks (:mod:`solutions`)."""
        checks: dict[str, Prepared] = {}
        for assignment in sorted({s.assignment for s in todo if not s.refused}):
            if not self.solutions.known_good(assignment):
                checks[assignment] = self.solutions.prepare(assignment)
                for job in checks[assignment].jobs:
                    self.pool.submit(job)
        results: dict[str, list[executor.Result]] = {a: [] for a in checks}
        for result in self.pool.results():
            results[result.key.split("/")[1]].append(result)
        held = {}
        for assignment, prepared in checks.items():
            problem = self.solutions.judge(prepared, results[assignment])
            if problem:
                held[assignment] = problem
            else:
                self.solutions.remember(assignment)
        return held

    def _grade(self, todo: list[Submission], signals: _Signals) -> Iterator[Outcome]:
        """Prepare, execute and record ``todo``; each outcome as soon as it is recorded."""
        pending: dict[str, tuple[Prepared, list[executor.Result]]] = {}
        for sub in todo:
            try:
                prepared = self.preparer.prepare(sub, self.planner.notebooks(sub.assignment))
            except Exception as error:  # noqa: BLE001 - this submission alone fails
                yield _unexpected(sub, "prepared", error)
                continue
            if not prepared.jobs:
                with signals.critical():
                    yield self._record(prepared, [])
                continue
            pending[sub.name] = (prepared, [])
            for job in prepared.jobs:
                self.pool.submit(job)
            yield from self._record_done(self.pool.ready(), pending, signals)
        yield from self._record_done(self.pool.results(), pending, signals)

    def _record_done(
        self,
        results: Iterator[executor.Result],
        pending: dict[str, tuple[Prepared, list[executor.Result]]],
        signals: _Signals,
    ) -> Iterator[Outcome]:
        """Record each submission of ``pending`` whose last result is among ``results``."""
        for result in results:
            name = "/".join(result.key.split("/")[:2])
            prepared, done = pending[name]
            done.append(result)
            if len(done) == len(prepared.jobs):
                del pending[name]
                with signals.critical():
                    yield self._record(prepared, done)

    def _record(self, prepared: Prepared, results: list[executor.Result]) -> Outcome:
        try:
            return self.recorder.record(prepared, results)
        except Exception as error:  # noqa: BLE001 - this submission alone fails
            return _unexpected(prepared.submission, "recorded", error)


def _unexpected(sub: Submission, step: str, error: Exception) -> Outcome:
    """A submission whose preparation or recording raised: failed, the traceback in its log;
    the others go on. Nothing was recorded for one that could not be prepared (its earlier
    grades stand); one whose recording failed has no stamp (nbgrader removed its autograded
    folder first), so the next run grades it again."""
    then = (
        "nothing was recorded for it"
        if step == "prepared"
        else "its recording is incomplete: the next run grades it again"
    )
    reason = f"it could not be {step} ({type(error).__name__}: {str(error)[:300]}); {then}"
    return Outcome(sub, "failed", [reason], log="".join(traceback.format_exception(error)))


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        unit="submission",
        file=sys.stderr,
        disable=not enabled or not total,
        dynamic_ncols=True,
    )
    try:
        yield bar
    finally:
        bar.close()
