"""Reading the gradebook (nbgrader's database) and keeping backups of it.

The gradebook URL is nbgrader's own setting (``nbgrader_config.py``: ``COURSE_DB_URL``, by
default an SQLite file in the course root). Only the grading coordinator writes it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory

from .course_config import load_config


def db_url(root: Path) -> str:
    """The gradebook URL nbgrader uses for the course in ``root``."""
    return CourseDirectory(config=load_config(root)).db_url


def sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def backup(root: Path, keep: int = 10) -> Path | None:
    """Copy an SQLite gradebook to ``backups/`` (the newest ``keep`` are kept)."""
    path = sqlite_path(db_url(root))
    if path is None or not path.exists():
        return None
    folder = root / "backups"
    folder.mkdir(exist_ok=True)
    # Names sort in time order (zero-padded nanoseconds), so pruning drops the oldest.
    stamp, ns = time.strftime("%Y%m%d-%H%M%S"), time.time_ns()
    target = folder / f"gradebook-{stamp}-{ns:020d}.db"
    while target.exists():
        ns += 1
        target = folder / f"gradebook-{stamp}-{ns:020d}.db"
    shutil.copy2(path, target)
    for old in sorted(folder.glob("gradebook-*.db"))[:-keep]:
        old.unlink()
    return target


def released_assignments(root: Path) -> list[str]:
    """Assignments whose notebooks (and hidden tests) the gradebook holds: released ones."""
    with Gradebook(db_url(root)) as gb:
        return sorted(a.name for a in gb.assignments if a.notebooks)


@dataclass(frozen=True)
class NotebookScore:
    student: str
    assignment: str
    notebook: str
    score: float  # after the late penalty, as nbgrader's export computes it
    max_score: float
    needs_manual: bool
    late_penalty: float = 0.0


def scores(root: Path) -> list[NotebookScore]:
    """Every submitted notebook's score (late penalty subtracted)."""
    out = []
    with Gradebook(db_url(root)) as gb:
        for assignment in gb.assignments:
            for submission in gb.assignment_submissions(assignment.name):
                for nb in submission.notebooks:
                    penalty = float(nb.late_submission_penalty or 0.0)
                    out.append(
                        NotebookScore(
                            student=submission.student.id,
                            assignment=assignment.name,
                            notebook=nb.name,
                            score=max(0.0, float(nb.score) - penalty),
                            max_score=float(nb.max_score),
                            needs_manual=bool(nb.needs_manual_grade),
                            late_penalty=penalty,
                        )
                    )
    return out


def test_results(root: Path, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """``{student: {test grade_id: (score, max_score)}}`` of the autograded tests.

    Written answers graded by hand are left out (see :func:`manual_results`).
    """
    out: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(db_url(root)) as gb:
        for submission in gb.assignment_submissions(assignment):
            per = out.setdefault(submission.student.id, {})
            for nb in submission.notebooks:
                for grade in nb.grades:
                    if grade.cell.cell_type == "code":
                        per[grade.name] = (float(grade.score), float(grade.max_score))
    return out


@dataclass
class ManualGrade:
    """A written answer's state in the gradebook."""

    auto_score: float | None  # nbgrader's own score: 0 for an unchanged answer, else None
    manual_score: float | None
    max_score: float
    needs_manual_grade: bool


def manual_results(root: Path, assignment: str) -> dict[str, dict[str, ManualGrade]]:
    """``{student: {grade_id: ManualGrade}}`` of the answers graded by hand (markdown cells)."""
    out: dict[str, dict[str, ManualGrade]] = {}
    with Gradebook(db_url(root)) as gb:
        for submission in gb.assignment_submissions(assignment):
            per = out.setdefault(submission.student.id, {})
            for nb in submission.notebooks:
                for grade in nb.grades:
                    if grade.cell.cell_type != "code":
                        per[grade.name] = ManualGrade(
                            auto_score=grade.auto_score,
                            manual_score=grade.manual_score,
                            max_score=float(grade.max_score),
                            needs_manual_grade=bool(grade.needs_manual_grade),
                        )
    return out


def unrecorded_notebooks(root: Path, assignment: str) -> dict[str, list[str]]:
    """``{student: [notebooks]}`` whose autograde the gradebook does not hold.

    A notebook counts when one of its test cells has neither an autograded nor a manual
    score: nbgrader created the submission (every grade starts empty) but never saved the
    autograde, because it failed or the notebook was not submitted. The gradebook shows
    such a notebook as 0 points.
    """
    out: dict[str, list[str]] = {}
    with Gradebook(db_url(root)) as gb:
        for submission in gb.assignment_submissions(assignment):
            for nb in submission.notebooks:
                if any(
                    grade.cell.cell_type == "code"
                    and grade.auto_score is None
                    and grade.manual_score is None
                    for grade in nb.grades
                ):
                    out.setdefault(submission.student.id, []).append(nb.name)
    return {student: sorted(names) for student, names in sorted(out.items())}
