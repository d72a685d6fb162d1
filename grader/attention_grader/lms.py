"""``course export``: the gradebook in the CSV files a learning management system imports.

Two formats, one row per student and one grade column per assignment, each with the score
after the late penalty, computed exactly as nbgrader's ``export`` (``grades.csv``) computes it
(every assignment in the gradebook times every student; a missing submission scores 0):

- **Canvas** (*Grades > Import*): ``Student, ID, SIS User ID, SIS Login ID, Section`` and one
  column per assignment, after a ``Points Possible`` row. Canvas finds a student by ``ID``,
  ``SIS User ID`` or ``SIS Login ID``, and an assignment by its column title (``Name (12345)``
  with the Canvas id, or a name, which creates the assignment).
- **Moodle** (*Grades > Import > CSV file*): ``First name, Last name, ID number, Username,
  Email address`` and, per assignment, a grade column and a ``<title> (Feedback)`` column; on
  the import page map one identifier column to the Moodle user field and each grade or
  feedback column to its grade item.

A notebook whose written answer waits for a human (*needs manual grading*) would show the
autograded part only: its grade cell is left **empty** (an LMS import leaves the grade as it
is) and Moodle's feedback column says why; ``allow_pending`` exports the current score and
marks it provisional. Late submissions carry their penalty in Moodle's feedback.

Course ids and LMS ids differ: an optional mapping file gives each student's LMS identity and
each assignment's LMS column title (see :func:`load_mapping`); without one, a student's
``lms_user_id`` in the gradebook (nbgrader's field) or else her course id is used.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .gradebook import db_url

PENDING_NOTE = "pending: a written answer is not graded yet"
PROVISIONAL_NOTE = "provisional: a written answer is not graded yet (autograded part only)"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Grade:
    """One student's grade on one assignment, as ``grades.csv`` gives it."""

    student: str
    assignment: str
    raw: float
    penalty: float
    max_score: float
    submitted: bool
    pending: bool  # a written answer needs manual grading
    seconds_late: float = 0.0

    @property
    def score(self) -> float:
        """After the late penalty (never below 0), as nbgrader's export."""
        return max(0.0, self.raw - self.penalty)


@dataclass(frozen=True)
class Person:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""  # nbgrader's own field (``nbgrader db student add --lms-user-id``)


@dataclass(frozen=True)
class ClassGrades:
    students: list[Person]
    assignments: list[tuple[str, float]]  # (name, max score), gradebook order
    grades: dict[tuple[str, str], Grade]  # (student, assignment)


def class_grades(root: Path) -> ClassGrades:
    """Every student's grade on every assignment in the gradebook (0 when not submitted)."""
    grades: dict[tuple[str, str], Grade] = {}
    with Gradebook(db_url(root)) as gb:
        students = [
            Person(s.id, s.first_name or "", s.last_name or "", s.email or "", s.lms_user_id or "")
            for s in gb.students
        ]
        assignments = sorted((a.name, float(a.max_score)) for a in gb.assignments)
        for name, max_score in assignments:
            for person in students:
                try:
                    sub = gb.find_submission(name, person.id)
                except MissingEntry:
                    grades[person.id, name] = Grade(
                        person.id, name, 0.0, 0.0, max_score, submitted=False, pending=False
                    )
                    continue
                grades[person.id, name] = Grade(
                    person.id,
                    name,
                    raw=float(sub.score),
                    penalty=float(sub.late_submission_penalty or 0.0),
                    max_score=max_score,
                    submitted=True,
                    pending=bool(sub.needs_manual_grade),
                    seconds_late=float(sub.total_seconds_late or 0.0),
                )
    return ClassGrades(sorted(students, key=lambda p: p.id), assignments, grades)


# ------------------------------------------------------------------------ the mapping


@dataclass(frozen=True)
class LmsStudent:
    id: str = ""  # the LMS's id of the student: Canvas SIS User ID, Moodle ID number
    login: str = ""  # Canvas SIS Login ID, Moodle username
    canvas_id: str = ""  # Canvas's own user id (column ID), when known
    name: str = ""
    section: str = ""
    email: str = ""


@dataclass(frozen=True)
class LmsMap:
    students: dict[str, LmsStudent] = field(default_factory=dict)
    assignments: dict[str, str] = field(default_factory=dict)  # course name -> LMS title

    def student(self, person: Person) -> LmsStudent:
        """The student's LMS identity: the mapping's, else nbgrader's ``lms_user_id`` as id,
        else the course id (as id and login)."""
        known = self.students.get(person.id)
        if known is not None:
            return known
        return LmsStudent(id=person.lms_user_id or person.id, login=person.id)

    def title(self, assignment: str) -> str:
        return self.assignments.get(assignment, assignment)


_STUDENT_KEYS = {"id", "login", "canvas_id", "name", "section", "email"}


class MappingError(ValueError):
    """The mapping file is not what :func:`load_mapping` reads."""


def load_mapping(path: Path | None) -> LmsMap:
    """Read a mapping file (none: course ids are the LMS ids).

    TOML::

        [students]
        ana = "s1234567"                                  # the LMS id only
        ben = { id = "s7654321", login = "ben.k", name = "Ben K.", section = "Group B" }
        [assignments]
        "01_tokenization" = "Lesson 5.1: tokenization (48213)"   # Canvas: title (id)

    or CSV (a roster): a header with ``student`` and any of ``id``, ``login``, ``canvas_id``,
    ``name``, ``section``, ``email``; one row per student.
    """
    if path is None:
        return LmsMap()
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows or "student" not in rows[0]:
            raise MappingError(f"{path}: a CSV mapping needs a header with a 'student' column")
        students = {}
        for row in rows:
            values = {k: (row.get(k) or "").strip() for k in _STUDENT_KEYS}
            students[row["student"].strip()] = LmsStudent(**values)
        return LmsMap(students=students)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"{path}: {error}") from None
    students = {}
    for student, value in (data.get("students") or {}).items():
        if isinstance(value, str):
            students[student] = LmsStudent(id=value, login=value)
        elif isinstance(value, dict) and set(value) <= _STUDENT_KEYS:
            students[student] = LmsStudent(**{k: str(v) for k, v in value.items()})
        else:
            raise MappingError(
                f"{path}: [students] {student} must be an id or a table with "
                f"{', '.join(sorted(_STUDENT_KEYS))}"
            )
    assignments = {str(k): str(v) for k, v in (data.get("assignments") or {}).items()}
    return LmsMap(students=students, assignments=assignments)


# ------------------------------------------------------------------------ the files


def number(value: float) -> str:
    """A score as the LMS reads it: at most 4 decimals, no trailing zeros."""
    text = f"{round(value, 4) + 0.0:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def _text(value: str) -> str:
    """A text cell that a spreadsheet will not run as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _cell(grade: Grade, allow_pending: bool) -> str:
    return "" if grade.pending and not allow_pending else number(grade.score)


def _name(person: Person, lms: LmsStudent) -> str:
    if lms.name:
        return lms.name
    if person.last_name or person.first_name:
        return ", ".join(p for p in (person.last_name, person.first_name) if p)
    return person.id


def canvas_rows(data: ClassGrades, mapping: LmsMap, allow_pending: bool = False) -> list[list[str]]:
    head = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    rows = [head + [mapping.title(name) for name, _ in data.assignments]]
    rows.append(["Points Possible", "", "", "", ""] + [number(m) for _, m in data.assignments])
    for person in data.students:
        lms = mapping.student(person)
        row = [_text(_name(person, lms)), lms.canvas_id, lms.id, lms.login, _text(lms.section)]
        row += [_cell(data.grades[person.id, name], allow_pending) for name, _ in data.assignments]
        rows.append(row)
    return rows


def _feedback(grade: Grade, allow_pending: bool) -> str:
    notes = []
    if grade.pending:
        notes.append(PROVISIONAL_NOTE if allow_pending else PENDING_NOTE)
    if grade.penalty > 0:
        notes.append(
            f"late: {number(grade.raw)} - {number(grade.penalty)} late penalty = "
            f"{number(grade.score)}"
        )
    return "; ".join(notes)


def moodle_rows(data: ClassGrades, mapping: LmsMap, allow_pending: bool = False) -> list[list[str]]:
    head = ["First name", "Last name", "ID number", "Username", "Email address"]
    for name, _ in data.assignments:
        title = mapping.title(name)
        head += [title, f"{title} (Feedback)"]
    rows = [head]
    for person in data.students:
        lms = mapping.student(person)
        first, last = person.first_name, person.last_name
        if lms.name and not (first or last):
            first, _, last = lms.name.partition(" ")
        row = [_text(first), _text(last), lms.id, lms.login, _text(lms.email or person.email)]
        for name, _ in data.assignments:
            grade = data.grades[person.id, name]
            row += [_cell(grade, allow_pending), _text(_feedback(grade, allow_pending))]
        rows.append(row)
    return rows


def _write(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return path


def export(
    root: Path,
    canvas: Path | None,
    moodle: Path | None,
    mapping: LmsMap | None = None,
    allow_pending: bool = False,
) -> ClassGrades:
    """Write the Canvas and/or Moodle file of the gradebook in ``root``; returns the grades."""
    data = class_grades(root)
    mapping = mapping or LmsMap()
    if canvas is not None:
        _write(canvas, canvas_rows(data, mapping, allow_pending))
    if moodle is not None:
        _write(moodle, moodle_rows(data, mapping, allow_pending))
    return data
