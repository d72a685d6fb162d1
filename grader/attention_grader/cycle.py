"""The nbgrader commands of the cycle that run as nbgrader itself runs them.

``release`` (generate_assignment) and ``feedback`` (generate_feedback) run nbgrader's commands
in this process, through ``NbGraderAPI`` (as the engine records and formgrader runs them) with
the course's configuration: another Python importing nbgrader cost about 0.9 s of CPU per
assignment. ``release`` creates the gradebook first (:func:`compat.create_gradebook`); where it
cannot, and for ``export``, ``nbgrader`` runs as a command in the course root, with the
environment's ``bin`` folder on ``PATH`` (nbgrader runs ``alembic`` from there to create a
gradebook). Autograding goes through :mod:`engine`, one coordinator per course root at a time
(:func:`exclusive`).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attention_course import runmode


class CycleError(RuntimeError):
    """A step of the grading cycle could not run."""


def assignments(root: Path) -> list[str]:
    """The assignments: folders ``source/NN_name`` of the course root, in teaching order."""
    return sorted(p.name for p in (root / "source").glob("[0-9][0-9]_*") if p.is_dir())


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop(runmode.FAST_ENV, None)  # nbgrader sets NBGRADER_EXECUTION: fast mode follows it
    return env


def nbgrader(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader <args>`` in ``root``; on failure print its log and raise."""
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        env=environment(),
        text=True,
        capture_output=True,
    )
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise CycleError(
            f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}); its log "
            "is printed above."
        )
    return proc


def release(root: Path, names: list[str] | None = None) -> list[Path]:
    """``nbgrader generate_assignment`` for each assignment, then the due dates of
    ``schedule.toml`` into the gradebook; returns the release notebooks."""
    from . import compat

    out = []
    names = names or assignments(root)
    # The gradebook is created here, not by nbgrader's first command: nbgrader would run
    # `alembic heads` for its version (if it cannot be created here, nbgrader says why)
    api = _api(root)
    try:
        compat.create_gradebook(api.coursedir.db_url, api.coursedir.course_id)
    except Exception:  # noqa: BLE001 - the command creates it, or says why it cannot
        api = None
    for name in names:
        if api is not None:
            _succeeded(f"generate_assignment {name}", api.generate_assignment, name, force=True)
        else:
            nbgrader(root, "generate_assignment", name, "--force")
        out.extend(sorted((root / "release" / name).glob("*.ipynb")))
    set_due_dates(root, names)
    return out


def _schedule(root: Path) -> dict:
    path = root / "schedule.toml"
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CycleError(f"schedule.toml: {error}") from None


def due_dates(root: Path) -> dict[str, str]:
    """``{assignment: ISO 8601 due date}`` from ``schedule.toml`` (empty without one)."""
    due = _schedule(root).get("due", {})
    return {name: str(when) for name, when in due.items()}


def extension_dates(root: Path) -> dict[str, dict[str, str]]:
    """``{assignment: {student: her own due date}}`` from ``[extensions]`` in ``schedule.toml``
    (``[extensions."01_tokenization"] ana = "2027-01-20T23:59:00+01:00"``)."""
    table = _schedule(root).get("extensions", {})
    if not isinstance(table, dict):
        raise CycleError("schedule.toml: [extensions] must be a table of assignments")
    out: dict[str, dict[str, str]] = {}
    for name, students in table.items():
        if not isinstance(students, dict):
            raise CycleError(
                f'schedule.toml: [extensions."{name}"] must map student ids to due dates'
            )
        out[name] = {student: str(when) for student, when in students.items()}
    return out


def _utc(when: str, what: str) -> datetime.datetime:
    """An ISO 8601 time with a UTC offset, as the naive UTC time nbgrader stores."""
    try:
        value = datetime.datetime.fromisoformat(when)
    except ValueError:
        raise CycleError(f"schedule.toml: {what}: {when!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise CycleError(f"schedule.toml: {what}: {when!r} needs a UTC offset (+01:00, Z)")
    return value.astimezone(datetime.UTC).replace(tzinfo=None)


def student_due_dates(root: Path) -> dict[tuple[str, str], datetime.datetime]:
    """``{(assignment, student): her own due date}`` (naive UTC) from ``[extensions]`` of
    ``schedule.toml``. An extension needs the assignment's due date and cannot end before
    it."""
    dues = due_dates(root)
    out = {}
    for name, students in extension_dates(root).items():
        if name not in dues:
            raise CycleError(f"schedule.toml: extensions of {name}, which has no due date in [due]")
        due = _utc(dues[name], f"[due] {name}")
        for student, when in students.items():
            own = _utc(when, f'[extensions."{name}"] {student}')
            if own < due:
                raise CycleError(
                    f'schedule.toml: [extensions."{name}"] {student}: {when} is before the '
                    f"assignment's due date {dues[name]}"
                )
            out[name, student] = own
    return out


def set_due_dates(root: Path, names: list[str]) -> None:
    """Write the due date of each assignment into the gradebook (none: never late), and the
    students' extensions (:func:`apply_extensions`)."""
    from nbgrader.api import Gradebook

    from .gradebook import db_url

    dates = due_dates(root)
    with Gradebook(db_url(root)) as gb:
        for name in names:
            gb.update_or_create_assignment(name, duedate=dates.get(name))
    apply_extensions(root, names)


def apply_extensions(root: Path, names: list[str] | None = None) -> list[str]:
    """Give every submission of an assignment with a due date in ``schedule.toml`` the
    extension ``[extensions]`` gives its student (none: no extension), in the gradebook
    (nbgrader's per-submission ``extension``: its ``duedate`` and ``total_seconds_late``
    include it). ``schedule.toml`` is the one place of extensions: one removed there is
    removed here. A submission only exists once collected or autograded, so this runs at
    release and again before every command that reads grades (``course grades``,
    ``feedback``, ``export``), before the late policy is applied. Returns
    ``student/assignment`` of the submissions whose extension changed."""
    from nbgrader.api import Gradebook

    from .gradebook import db_url

    own = student_due_dates(root)
    scheduled = set(due_dates(root))
    changed = []
    with Gradebook(db_url(root)) as gb:
        for assignment in gb.assignments:
            if assignment.name not in scheduled or (names and assignment.name not in names):
                continue
            if assignment.duedate is None:  # not released with its due date yet
                continue
            for submission in gb.assignment_submissions(assignment.name):
                date = own.get((assignment.name, submission.student.id))
                want = None if date is None else date - assignment.duedate
                if submission.extension != want:
                    submission.extension = want
                    changed.append(f"{submission.student.id}/{assignment.name}")
        gb.db.commit()
    return changed


def graded_submissions(root: Path, assignment: str) -> list[Path]:
    return sorted(p for p in (root / "autograded").glob(f"*/{assignment}") if p.is_dir())


FEEDBACK_RECEIPTS = ("timestamp.txt", "submission_secret.txt")  # release_feedback reads them


@dataclass
class FeedbackRun:
    """What :func:`feedback` did besides writing feedback (names are ``student/notebook``)."""

    held: list[str] = field(default_factory=list)  # not written: a written answer waits
    released_pending: list[str] = field(default_factory=list)  # written anyway (allow_pending)
    removed: list[str] = field(default_factory=list)  # earlier feedback files of held notebooks


def pending_notebooks(root: Path, assignment: str) -> dict[str, list[str]]:
    """``{student: [notebooks]}`` of ``assignment`` that nbgrader marks "needs manual grade":
    a written answer nobody graded yet (or that changed since it was graded by hand)."""
    from . import gradebook

    out: dict[str, list[str]] = {}
    for row in gradebook.scores(root):
        if row.assignment == assignment and row.needs_manual:
            out.setdefault(row.student, []).append(row.notebook)
    return {student: sorted(names) for student, names in sorted(out.items())}


def feedback(
    root: Path,
    assignment: str,
    allow_pending: bool = False,
    students: list[str] | None = None,
) -> FeedbackRun | None:
    """``nbgrader generate_feedback`` (hidden tests scrubbed, see nbgrader_ext); None (and
    nothing run) when the assignment has no graded submission yet. Each feedback folder then
    holds only the feedback HTML and nbgrader's two receipts (:func:`prune_feedback`).
    ``students`` (e.g. after regrading one): only their feedback is written, held back or
    pruned; every other student's folder is left as it is.

    A notebook whose written answer waits for a human would show it as 0 points: its feedback
    is held back (no HTML, so ``release_feedback`` has nothing of it to release), and an HTML
    file left from an earlier run is removed. A student none of whose notebooks is ready is
    not given to nbgrader at all. ``allow_pending`` writes them all anyway."""
    graded = graded_submissions(root, assignment)
    asked = None if students is None else set(students)  # (None: everyone)
    others: set[str] = set()  # graded students not asked for: left as they are
    if asked is not None:
        others = {folder.parent.name for folder in graded} - asked
        graded = [folder for folder in graded if folder.parent.name in asked]
    if not graded:
        return None
    run = FeedbackRun()
    pending = {
        student: names
        for student, names in pending_notebooks(root, assignment).items()
        if asked is None or student in asked
    }
    flat = [f"{student}/{name}" for student, names in pending.items() for name in names]
    waiting: set[str] = set()  # students none of whose notebooks may be written yet
    if allow_pending:
        run.released_pending = flat
    else:
        run.held = flat
        for folder in graded:
            student = folder.parent.name
            names = {p.stem for p in folder.glob("*.ipynb")}
            if names and names <= set(pending.get(student, [])):
                waiting.add(student)
        for student, names in pending.items():  # earlier runs' files: never to be released
            for name in names:
                stale = root / "feedback" / student / assignment / f"{name}.html"
                if os.path.lexists(stale):
                    stale.unlink()
                    run.removed.append(str(stale.relative_to(root)))
        if len(waiting) == len(graded):
            return run
    _generate_feedback(root, assignment, waiting | others)
    for folder in sorted((root / "feedback").glob(f"*/{assignment}")):
        if asked is None or folder.parent.name in asked:
            prune_feedback(folder)
    if not allow_pending:
        for held in run.held:
            student, name = held.split("/")
            path = root / "feedback" / student / assignment / f"{name}.html"
            if os.path.lexists(path):
                path.unlink()
    return run


def _generate_feedback(root: Path, assignment: str, excluded: set[str]) -> None:
    """``nbgrader generate_feedback <assignment> --force``, every graded student but
    ``excluded``, in this process."""
    settings = {"student_id_exclude": ",".join(sorted(excluded))} if excluded else {}
    api = _api(root, **settings)  # (student ids passed the intake's safe alphabet: no comma)
    _succeeded(f"generate_feedback {assignment}", api.generate_feedback, assignment, force=True)


def _api(root: Path, **coursedir: str) -> Any:
    """nbgrader's ``NbGraderAPI`` for the course root, with its configuration (and these
    ``CourseDirectory`` settings)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from .course_config import load_config

    config = load_config(root.resolve())
    for key, value in coursedir.items():
        setattr(config.CourseDirectory, key, value)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def _succeeded(command: str, call: Callable[..., dict], *args: Any, **kwargs: Any) -> None:
    """Run an ``NbGraderAPI`` command; on failure print nbgrader's log and raise."""
    import warnings

    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():  # nbgrader 0.9 + SQLAlchemy 2.1: harmless notes
        warnings.simplefilter("ignore", SAWarning)
        response = call(*args, **kwargs)
    if not response.get("success"):
        # nbgrader's log, then what stopped it: the traceback's last line, as the command
        # would print it
        error = response.get("error", "").strip().splitlines()
        sys.stderr.write(response.get("log", "") + (error[-1] if error else "") + "\n")
        raise CycleError(f"`nbgrader {command}` failed; its log is printed above.")


def prune_feedback(folder: Path) -> list[str]:
    """Remove from a feedback folder everything but ``*.html`` files and the receipts
    ``release_feedback`` needs (regular files only, none through a link); return what was
    removed. (nbgrader copies every other file of ``autograded/`` into ``feedback/``; the
    engine keeps submissions' files out of ``autograded/``, this keeps a folder graded by other
    means from passing them on.)"""
    removed = []
    if folder.is_symlink() or not folder.is_dir():
        return removed
    for entry in sorted(folder.iterdir()):
        regular = entry.is_file() and not entry.is_symlink()
        if regular and (entry.suffix == ".html" or entry.name in FEEDBACK_RECEIPTS):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry.name)
    return removed


def export(root: Path, path: Path) -> Path:
    """``nbgrader export`` to a CSV file."""
    nbgrader(root, "export", f"--to={path}")
    return path


@contextlib.contextmanager
def exclusive(root: Path, wait_s: float = 600.0) -> Iterator[None]:
    """One grading coordinator at a time per course root (the gradebook has one writer)."""
    path = root / ".autograde.lock"
    with open(path, "w") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CycleError(
                        "another autograde is running on this course; wait for it to finish."
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
