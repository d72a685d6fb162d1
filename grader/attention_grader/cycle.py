"""The nbgrader commands of the cycle that run as nbgrader itself runs them.

``release`` (generate_assignment), ``feedback`` (generate_feedback) and ``export`` run
``nbgrader`` in the course root, with the environment's ``bin`` folder on ``PATH`` (nbgrader
runs ``alembic`` from there when it creates a gradebook). Autograding goes through
:mod:`engine`, one coordinator per course root at a time (:func:`exclusive`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

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
    out = []
    names = names or assignments(root)
    for name in names:
        nbgrader(root, "generate_assignment", name, "--force")
        out.extend(sorted((root / "release" / name).glob("*.ipynb")))
    set_due_dates(root, names)
    return out


def due_dates(root: Path) -> dict[str, str]:
    """``{assignment: ISO 8601 due date}`` from ``schedule.toml`` (empty without one)."""
    path = root / "schedule.toml"
    if not path.exists():
        return {}
    due = tomllib.loads(path.read_text(encoding="utf-8")).get("due", {})
    return {name: str(when) for name, when in due.items()}


def set_due_dates(root: Path, names: list[str]) -> None:
    """Write the due date of each assignment into the gradebook (none: never late)."""
    from nbgrader.api import Gradebook

    from .gradebook import db_url

    dates = due_dates(root)
    with Gradebook(db_url(root)) as gb:
        for name in names:
            gb.update_or_create_assignment(name, duedate=dates.get(name))


def graded_submissions(root: Path, assignment: str) -> list[Path]:
    return sorted(p for p in (root / "autograded").glob(f"*/{assignment}") if p.is_dir())


FEEDBACK_RECEIPTS = ("timestamp.txt", "submission_secret.txt")  # release_feedback reads them


def feedback(root: Path, assignment: str) -> bool:
    """``nbgrader generate_feedback`` (hidden tests scrubbed, see nbgrader_ext); False
    (and nothing run) when the assignment has no graded submission yet. Each feedback folder
    then holds only the feedback HTML and nbgrader's two receipts (:func:`prune_feedback`)."""
    if not graded_submissions(root, assignment):
        return False
    nbgrader(root, "generate_feedback", assignment, "--force")
    for folder in sorted((root / "feedback").glob(f"*/{assignment}")):
        prune_feedback(folder)
    return True


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
