"""Step 2: which staged submissions must be graded, from their stamps.

A submission is graded when it is new or its staged files changed, or when what grades it
changed (:func:`stamps.grading_version`); ``force`` regrades everything. When only its due
date or the late policy changed (:func:`stamps.late_version`), nothing is executed: the
penalties are computed again on the recorded scores. Submissions the intake gate refused are
always "to grade": they are reported every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from . import staging, stamps
from .course_config import GradingError
from .staging import Submission


@dataclass
class Plan:
    todo: list[Submission] = field(default_factory=list)  # new, changed, refused, forced
    unchanged: list[Submission] = field(default_factory=list)
    repriced: list[Submission] = field(default_factory=list)  # unchanged, with a stale penalty


class Planner:
    """Stamps of one course: what a submission was graded with, what it would be now."""

    def __init__(
        self, root: Path, config: Config, code: dict[str, Path], force: bool = False
    ) -> None:
        self.root, self.config, self.code, self.force = root, config, code, force
        self.coursedir = CourseDirectory(config=config)
        self.versions: dict[str, str] = {}  # assignment: grading_version
        self._late: dict[tuple[str, str], str] = {}  # (student, assignment): late_version

    def autograded(self, sub: Submission) -> Path:
        return Path(
            self.coursedir.format_path(
                self.coursedir.autograded_directory, sub.student, sub.assignment
            )
        )

    def notebooks(self, assignment: str) -> list[str]:
        """The assignment's notebooks, as the gradebook knows them."""
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                return sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
            except MissingEntry:
                raise GradingError(
                    f"assignment {assignment!r} is not in the gradebook: run "
                    "`make release` first (it records the hidden tests)."
                ) from None

    def record_version(self, assignment: str) -> str:
        """What decides ``assignment``'s grades now (:func:`stamps.grading_version`), kept in
        :attr:`versions` for the stamps and the solution check."""
        self.versions[assignment] = stamps.grading_version(
            self.root, self.config, assignment, self.code
        )
        return self.versions[assignment]

    def plan(self, assignments: list[str], students: list[str] | None = None) -> Plan:
        """Stage every submission of ``assignments`` (:func:`staging.stage`) and sort them."""
        plan = Plan()
        base = Path(self.coursedir.format_path(self.coursedir.submitted_directory, ".", "."))
        for assignment in assignments:
            names = self.notebooks(assignment)
            self.record_version(assignment)
            default_due, due = self._due_dates(assignment)
            for student in staging.entries(base):
                if students and student not in students:
                    continue
                try:
                    sub = staging.stage(self.root, base, student, assignment, names)
                except Exception as error:  # noqa: BLE001 - this submission alone fails
                    sub = Submission(
                        student,
                        assignment,
                        base / student / assignment,
                        refused=f"refused at intake: it could not be staged ({_error(error)})",
                    )
                if sub is None:
                    continue
                self._late[(student, assignment)] = stamps.late_version(
                    self.config, due.get(student, default_due)
                )
                if sub.refused or self.force or not self._same(sub, ("submission", "grading")):
                    plan.todo.append(sub)
                else:
                    plan.unchanged.append(sub)
        plan.repriced = [s for s in plan.unchanged if not self._same(s, ("late",))]
        return plan

    def _same(self, sub: Submission, keys: tuple[str, ...]) -> bool:
        previous = stamps.read_stamp(self.autograded(sub))
        stamp = self.stamp(sub)
        return all(previous.get(key) == stamp[key] for key in keys)

    def _due_dates(self, assignment: str) -> tuple[str | None, dict[str, str]]:
        """(the assignment's due date, ``{student: due date with extension}`` of the
        recorded submissions), from the gradebook: the dates nbgrader charges lateness from
        (``make release`` writes them from ``schedule.toml``)."""
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            default = gb.find_assignment(assignment).duedate
            due = {
                s.student.id: None if s.duedate is None else s.duedate.isoformat()
                for s in gb.assignment_submissions(assignment)
            }
        return (None if default is None else default.isoformat()), due

    def stamp(self, sub: Submission) -> dict[str, str]:
        return {
            "submission": sub.digest,
            "grading": self.versions[sub.assignment],
            "late": self._late[(sub.student, sub.assignment)],
        }

    def write_stamp(self, sub: Submission) -> None:
        """Record that ``sub`` is graded with what grades it now."""
        stamps.write_stamp(self.autograded(sub), self.stamp(sub))


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error)[:300]}"
