"""Step 1 of grading a submission: stage it through the intake gate.

``submitted/<student>/<assignment>`` belongs to the student. :func:`stage` copies its regular
files, through :func:`intake.copy_tree` (symbolic links, FIFOs, devices, unsafe names, too many
or too large files refuse the submission, with the reason), into two folders of the grader's
own (``.intake`` in the course root, mode 700):

- ``.intake/files/<student>/<assignment>``: every regular file, hashed for the stamp
  (:func:`stamps.digest_files`) and handed to the sandbox;
- ``.intake/submitted/<student>/<assignment>``: the notebooks and a checked ``timestamp.txt``
  and ``submission_secret.txt`` (:func:`intake.receipts`), the ``submitted_directory`` that
  nbgrader reads when the submission is recorded (so nbgrader copies no other file of it into
  ``autograded/`` and ``feedback/``).

Nothing after this step reads ``submitted/``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import intake, stamps

INTAKE = ".intake"  # in the course root: the grader's copies of the submissions (git-ignored)
STAGED_FILES = f"{INTAKE}/files"  # every regular file of a submission, as it passed the gate
STAGED_SUBMITTED = f"{INTAKE}/submitted"  # what nbgrader reads: notebooks, timestamp, secret


@dataclass
class Submission:
    student: str
    assignment: str
    folder: Path  # the staged copy (never the student's folder in submitted/)
    digest: str = ""
    refused: str = ""  # why the intake gate refused it (then nothing is graded or recorded)
    notes: list[str] = field(default_factory=list)  # what the intake gate left out

    @property
    def name(self) -> str:
        if not intake.safe_name(self.student):  # (refused at intake: shown, not printed raw)
            return f"{intake.shown(self.student)}/{self.assignment}"
        return f"{self.student}/{self.assignment}"


def entries(base: Path) -> list[str]:
    """The names in ``submitted/`` (sorted; editors' leftovers left out). ``submitted/`` itself
    is the instructor's and may be a link to another disk; nothing inside it is followed."""
    if not base.is_dir():
        return []
    with os.scandir(base) as found:
        return sorted(e.name for e in found if e.name not in intake.SKIPPED)


def _remove(*folders: Path) -> None:
    for folder in folders:
        if os.path.lexists(folder):
            shutil.rmtree(folder)


def stage(
    root: Path, base: Path, student: str, assignment: str, notebooks: list[str]
) -> Submission | None:
    """Copy ``base/<student>/<assignment>`` through the gate (see the module docstring). None
    when the student has no such submission; a refused :class:`Submission` (``refused`` says
    why) when the gate refuses it."""
    folder = base / student / assignment
    student_entry = base / student
    if not student_entry.is_dir() or student_entry.is_symlink():
        if student_entry.is_symlink() and os.path.lexists(folder):
            return Submission(
                student,
                assignment,
                folder,
                refused="refused at intake: the student folder is a symbolic link",
            )
        return None  # a stray file in submitted/
    try:
        os.lstat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:  # a student folder the grader may list but not enter
        return Submission(
            student,
            assignment,
            folder,
            refused=f"refused at intake: the student folder cannot be read ({error.strerror})",
        )
    staging = root / INTAKE
    staging.mkdir(mode=0o700, exist_ok=True)
    staging.chmod(0o700)  # the grader's alone: students' files, other students' included
    files_dir = root / STAGED_FILES / student / assignment
    view = root / STAGED_SUBMITTED / student / assignment
    sub = Submission(student, assignment, files_dir)
    try:
        intake.check_student_id(student)
        _remove(files_dir, view)
        copied = intake.copy_tree(folder, files_dir)
        for name in notebooks:
            path = files_dir / f"{name}.ipynb"
            if os.path.lexists(path) and not path.is_file():
                raise intake.Refused(
                    f"{name}.ipynb: {intake.kind(path.lstat().st_mode)} where the notebook belongs"
                )
        shadow = intake.shadowing(files_dir)
        if shadow:
            raise intake.Refused(shadow)
        sub.digest = stamps.digest_files(files_dir, copied)
        view.mkdir(parents=True, mode=0o700)
        for name in notebooks:
            if (files_dir / f"{name}.ipynb").is_file():
                shutil.copyfile(files_dir / f"{name}.ipynb", view / f"{name}.ipynb")
        for name, text in intake.receipts(files_dir, sub.notes).items():
            (view / name).write_text(text)
    except (intake.Refused, OSError) as error:
        _remove(files_dir, view)
        sub.folder = folder
        why = error if isinstance(error, intake.Refused) else f"cannot be read ({error.strerror})"
        sub.refused = f"refused at intake: {why}"
    return sub
