"""Throw-away course roots: a copy of the configuration and some assignments, submissions,
and grading through the engine (nbgrader in this process, notebooks in sandboxes)."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from attention_grader import authoring, cycle, engine, gradebook
from conftest import ROOT


@dataclass
class GradedCourse:
    """A course root after generate_assignment + autograde of some submissions."""

    root: Path
    assignment: str
    results: dict[str, dict[str, tuple[float, float]]]  # autograded tests only
    manual: dict[str, dict[str, gradebook.ManualGrade]]  # written answers graded by hand
    report: engine.Summary
    release_nb: dict
    source_nb: dict
    reports: dict = field(default_factory=dict)  # see notebook_suite.graded_catalog
    kernels: set = field(default_factory=set)  # where the kernels came from

    def lost(self, student: str) -> set[str]:
        """Test cells in which ``student`` did not get full points."""
        return {
            name for name, (score, max_score) in self.results[student].items() if score < max_score
        }

    def total(self, student: str) -> tuple[float, float]:
        per = self.results[student]
        return sum(s for s, _ in per.values()), sum(m for _, m in per.values())


@contextlib.contextmanager
def environment(overrides: dict[str, str]) -> Iterator[None]:
    """``overrides`` in ``os.environ`` while the block runs (e.g. a battery's small limits);
    every variable is put back as it was afterwards."""
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def make_course(base: Path, assignments: list[str]) -> Path:
    """A fresh course root holding ``source/`` of ``assignments`` and the config."""
    root = base / "course"
    root.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for name in assignments:
        shutil.copytree(ROOT / "source" / name, root / "source" / name)
    return root


_RELEASED: dict[str, Path] = {}  # content digest -> what release() made from it, this process


def release_course(root: Path, names: list[str]) -> None:
    """``cycle.release(root, names)``, made once per test process for the same content: a
    fresh course root (no gradebook, no release/ yet, the default SQLite gradebook) whose
    configuration, schedule and ``source/`` of ``names`` are byte for byte those of an earlier
    release gets a copy of what that release made (``release/<name>`` and ``gradebook.db``:
    nbgrader's own output); anything else is released by nbgrader. Each
    ``generate_assignment`` costs about 1.5 s of CPU, and most tests release the same few
    assignments."""
    fresh = not (root / "gradebook.db").exists() and not (root / "release").exists()
    if not fresh or os.environ.get("COURSE_DB_URL"):
        cycle.release(root, names)
        return
    digest = hashlib.sha256(os.environ.get("COURSE_ID", "").encode())  # (in the gradebook)
    files = [root / "nbgrader_config.py", root / "schedule.toml"]
    for name in names:
        digest.update(b"\0assignment\0" + name.encode())
        files += sorted(p for p in (root / "source" / name).rglob("*") if p.is_file())
    for path in files:
        data = path.read_bytes() if path.exists() else b"<none>"
        digest.update(str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(data).digest())
    key = digest.hexdigest()
    if key not in _RELEASED:
        cycle.release(root, names)
        kept = Path(tempfile.mkdtemp(prefix="released-"))
        atexit.register(shutil.rmtree, kept, True)
        shutil.copytree(root / "release", kept / "release")
        shutil.copy2(root / "gradebook.db", kept / "gradebook.db")
        _RELEASED[key] = kept
        return
    kept = _RELEASED[key]
    shutil.copytree(kept / "release", root / "release")
    shutil.copy2(kept / "gradebook.db", root / "gradebook.db")


def release_made(root: Path) -> tuple[dict[str, bytes], list[tuple]]:
    """What a release made in ``root``: the files of ``release/`` (bytes) and the gradebook's
    (assignment, notebook, grade cell, points, cell type)."""
    from nbgrader.api import Gradebook

    files = {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "release").rglob("*"))
        if p.is_file()
    }
    with Gradebook(gradebook.db_url(root), "lesson5-attention") as gb:
        cells = sorted(
            (a.name, nb.name, c.name, c.max_score, c.cell_type)
            for a in gb.assignments
            for nb in a.notebooks
            for c in nb.grade_cells
        )
    return files, cells


def submit(root: Path, student: str, assignment: str, notebook: str, nb: dict) -> None:
    target = root / "submitted" / student / assignment / notebook
    target.parent.mkdir(parents=True, exist_ok=True)
    authoring.write_notebook(nb, target)


def grade_course(
    root: Path, assignment: str, students: dict[str, dict], notebook: str, **engine_options
) -> GradedCourse:
    """Submit ``{student: notebook json}`` and grade them all in one run of the engine
    (in this process, one notebook at a time, unless ``engine_options`` say otherwise)."""
    for student, nb in students.items():
        submit(root, student, assignment, notebook, nb)
    return grade_submitted(root, assignment, notebook, **engine_options)


def grade_submitted(
    root: Path, assignment: str, notebook: str, students: list[str] | None = None, **engine_options
) -> GradedCourse:
    """Grade what is in ``submitted/`` now (see :func:`grade_course`); ``students``: only
    theirs."""
    options = {"sequential": True, "progress": False, **engine_options}
    report = engine.Engine(root, **options).grade([assignment], students)
    return GradedCourse(
        root=root,
        assignment=assignment,
        results=gradebook.test_results(root, assignment),
        manual=gradebook.manual_results(root, assignment),
        report=report,
        release_nb=authoring.read_notebook(root / "release" / assignment / notebook),
        source_nb=authoring.read_notebook(root / "source" / assignment / notebook),
    )


def assert_release_current(graded: GradedCourse, notebook: str) -> None:
    generated = authoring.read_notebook(graded.root / "release" / graded.assignment / notebook)
    committed_path = ROOT / "release" / graded.assignment / notebook
    assert committed_path.exists(), "release/ is missing: run `make release` and commit it"
    assert authoring.read_notebook(committed_path) == generated, (
        "release/ is stale: run `make release` and commit the result"
    )
