"""Reading the gradebook (nbgrader's database) and keeping backups of it.

The gradebook URL is nbgrader's own setting (``nbgrader_config.py``: ``COURSE_DB_URL``, by
default an SQLite file in the course root). Only the grading coordinator writes it.
"""

from __future__ import annotations

import datetime
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


# ------------------------------------------------------------------------ attempts and verdicts

NO_RESPONSE = "No response."  # nbgrader's auto comment on a solution cell left as released


def unanswered(root: Path, assignment: str) -> dict[str, set[str]]:
    """``{student: {solution cells still as released}}`` of every recorded submission.

    nbgrader's autograde comments every solution cell: "No response." when the cell's checksum
    is the released one (the checksum comes from the gradebook, not from the student's
    notebook), nothing otherwise. A student whose autograde was never recorded has no
    comments: an empty set (nothing is known to be blank).
    """
    out: dict[str, set[str]] = {}
    with Gradebook(db_url(root)) as gb:
        for submission in gb.assignment_submissions(assignment):
            blank = out.setdefault(submission.student.id, set())
            for nb in submission.notebooks:
                for comment in nb.comments:
                    if comment.auto_comment == NO_RESPONSE:
                        blank.add(comment.name)
    return out


MAX_NOTEBOOK_BYTES = 64 * 1024**2  # larger autograded notebooks are not read


def notebook_cells(path: Path) -> list[dict]:
    """The cells (dicts) of the notebook at ``path``; [] for a link, a missing, unreadable,
    malformed or oversized file (it is a student's notebook as graded: never trusted)."""
    import json

    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return []
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    cells = nb.get("cells") if isinstance(nb, dict) else None
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def _nbgrader_meta(cell: dict) -> dict:
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    return meta if isinstance(meta, dict) else {}


def exercise_cells(root: Path, assignment: str) -> dict[str, list[str]]:
    """``{test cell: [the solution cells it tests]}`` from the released notebooks' order.

    A test checks the code solution cells written since the test cells before them: in each
    notebook, the solution cells between two runs of test cells form one exercise, and every
    test of the run that follows belongs to it. (A written answer is its own cell.)
    """
    out: dict[str, list[str]] = {}
    for path in sorted((root / "release" / assignment).glob("*.ipynb")):
        group: list[str] = []
        after_test = False
        for cell in notebook_cells(path):
            meta = _nbgrader_meta(cell)
            name = meta.get("grade_id")
            if not isinstance(name, str) or cell.get("cell_type") != "code":
                continue
            if meta.get("solution") and not meta.get("grade"):
                if after_test:
                    group, after_test = [], False
                group.append(name)
            elif meta.get("grade"):
                out[name] = list(group)
                after_test = True
    return out


def verdict_messages(root: Path, assignment: str) -> dict[str, dict[str, str]]:
    """``{student: {test cell: why it failed}}`` from the autograded notebooks.

    The message is the error output ``TrustedVerdicts`` writes under a failed test cell (the
    judge's message: the case that failed and, after ``Hint:``, the likely mistake). It is
    the only error output a test cell keeps: errors raised in the kernel become text. Read
    for the students the gradebook knows, from ``autograded/<student>/<assignment>/``; a
    notebook that is missing, a link, or not JSON gives nothing. Student values quoted in a
    message are text to escape.
    """
    out: dict[str, dict[str, str]] = {}
    with Gradebook(db_url(root)) as gb:
        pairs = [
            (submission.student.id, nb.name)
            for submission in gb.assignment_submissions(assignment)
            for nb in submission.notebooks
        ]
    for student, notebook in pairs:
        per = out.setdefault(student, {})
        if "/" in student or student in (".", "..") or "/" in notebook:
            continue  # (stock nbgrader takes ids from folder names: never a path)
        path = root / "autograded" / student / assignment / f"{notebook}.ipynb"
        for cell in notebook_cells(path):
            meta = _nbgrader_meta(cell)
            name = meta.get("grade_id")
            if cell.get("cell_type") != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            outputs = cell.get("outputs")
            errors = [
                o
                for o in (outputs if isinstance(outputs, list) else [])
                if isinstance(o, dict) and o.get("output_type") == "error"
            ]
            if isinstance(name, str) and errors and isinstance(errors[-1].get("evalue"), str):
                per[name] = errors[-1]["evalue"]
    return out


# ------------------------------------------------------------------------ late submissions


@dataclass(frozen=True)
class Lateness:
    """When one submission came in, against its due date (extension included)."""

    student: str
    assignment: str
    submitted: datetime.datetime | None  # UTC (nbgrader stores naive UTC times)
    due: datetime.datetime | None  # the student's due date: the assignment's + extension
    extension: datetime.timedelta | None
    seconds_late: float
    penalty: float  # points taken off (sum over the notebooks)
    score: float  # before the penalty
    max_score: float


def lateness(root: Path) -> list[Lateness]:
    """Every submission with its times, extension and late penalty (in gradebook order)."""
    out = []
    with Gradebook(db_url(root)) as gb:
        for assignment in gb.assignments:
            for submission in gb.assignment_submissions(assignment.name):
                notebooks = list(submission.notebooks)
                out.append(
                    Lateness(
                        student=submission.student.id,
                        assignment=assignment.name,
                        submitted=submission.timestamp,
                        due=submission.duedate,
                        extension=submission.extension,
                        seconds_late=float(submission.total_seconds_late or 0.0),
                        penalty=sum(float(nb.late_submission_penalty or 0.0) for nb in notebooks),
                        score=sum(float(nb.score) for nb in notebooks),
                        max_score=sum(float(nb.max_score) for nb in notebooks),
                    )
                )
    return sorted(out, key=lambda row: (row.assignment, row.student))
