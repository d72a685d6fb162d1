"""Orchestration of the nbgrader cycle: release, autograde, feedback, grades, reports.

Each function wraps one nbgrader command, run in the course root with the
environment's ``bin`` folder on ``PATH`` (nbgrader runs ``alembic`` from there when it
creates the gradebook). What nbgrader leaves to the instructor is handled here:

- the gradebook is backed up before every autograde (it holds the hidden tests);
- only one autograde runs at a time per gradebook (SQLite would fail with
  "database is locked"): a lock file makes a second run wait, then fail clearly;
- a submission whose kernel died or hung does not stop the batch: nbgrader carries on
  with the next student and exits non-zero at the end; this module reads which
  submissions have no graded notebook and reports them;
- submissions that try to tamper with grading (rebinding test helpers, numpy, builtins)
  are flagged for a human to look at.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .notebooks import read_notebook
from .submissions import cell_source


class GradingError(RuntimeError):
    """A step of the grading cycle could not run."""


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("COURSE_FAST", None)  # nbgrader sets NBGRADER_EXECUTION: fast mode follows it
    if extra:
        env.update(extra)
    return env


def nbgrader(root: Path, *args: str, check: bool = True,
             quiet: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader <args>`` in the course ``root``."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=root, env=_env(), text=True, capture_output=True)
    if not quiet and proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
    if check and proc.returncode != 0:
        raise GradingError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}); "
                           "its log is printed above.")
    return proc


def db_url(root: Path) -> str:
    """The gradebook URL nbgrader will use (same rule as nbgrader_config.py)."""
    return os.environ.get("COURSE_DB_URL", f"sqlite:///{root / 'gradebook.db'}")


def sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def assignments(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "source").glob("[0-9][0-9]_*") if p.is_dir())


# --- release ----------------------------------------------------------------------

def release(root: Path, names: list[str] | None = None) -> list[Path]:
    """``nbgrader generate_assignment`` for each assignment; returns the release notebooks."""
    out = []
    for name in names or assignments(root):
        nbgrader(root, "generate_assignment", name, "--force", quiet=False)
        out.extend(sorted((root / "release" / name).glob("*.ipynb")))
    return out


# --- autograde --------------------------------------------------------------------

@contextlib.contextmanager
def gradebook_lock(root: Path, wait_s: float = 600.0) -> Iterator[None]:
    """Exclusive lock: one autograde at a time per course root."""
    path = root / ".autograde.lock"
    with open(path, "w") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise GradingError(
                        "another autograde is running on this gradebook; nbgrader cannot grade "
                        "in parallel on one SQLite file. Wait for it to finish."
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def backup_gradebook(root: Path, keep: int = 10) -> Path | None:
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


def require_released(root: Path, assignment: str) -> None:
    """Fail clearly unless ``generate_assignment`` recorded ``assignment`` in the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    path = sqlite_path(db_url(root))
    if path is not None and not path.exists():
        raise GradingError(
            f"no gradebook at {path}: run `make release` first. generate_assignment records "
            "the hidden tests in the gradebook, and autograde restores them from there."
        )
    with Gradebook(db_url(root)) as gb:
        try:
            assignment_row = gb.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(
                f"assignment {assignment!r} is not in the gradebook: run `make release` first."
            ) from None
        if not assignment_row.notebooks:
            raise GradingError(f"assignment {assignment!r} has no notebooks in the gradebook.")


@dataclass
class AutogradeReport:
    assignment: str
    graded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # kernel died, hung, or crashed nbgrader
    flagged: dict[str, list[str]] = field(default_factory=dict)  # tampering suspicions
    returncode: int = 0
    log: str = ""

    def summary(self) -> str:
        lines = [f"{self.assignment}: {len(self.graded)} graded, {len(self.failed)} failed"]
        for student in self.failed:
            lines.append(f"  FAILED {student}: nbgrader could not grade this submission (the "
                         "kernel died, hung or crashed). Scores stay 0 and need a human: open "
                         f"submitted/{student}/{self.assignment}/ and the log above.")
        for student, reasons in sorted(self.flagged.items()):
            lines.append(f"  REVIEW {student}: " + "; ".join(reasons))
        return "\n".join(lines)


def submitted_students(root: Path, assignment: str) -> list[str]:
    base = root / "submitted"
    if not base.exists():
        return []
    return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())


def autograde(root: Path, assignment: str, wait_s: float = 600.0) -> AutogradeReport:
    """Autograde every submission of ``assignment``; never stops at one bad submission."""
    require_released(root, assignment)
    students = submitted_students(root, assignment)
    report = AutogradeReport(assignment)
    if not students:
        return report
    with gradebook_lock(root, wait_s):
        backup_gradebook(root)
        proc = nbgrader(root, "autograde", assignment, "--force", check=False, quiet=True)
    report.returncode = proc.returncode
    report.log = proc.stdout + proc.stderr
    for student in students:
        graded = root / "autograded" / student / assignment
        expected = sorted(p.name for p in (root / "submitted" / student / assignment).glob(
            "*.ipynb"))
        if graded.is_dir() and all((graded / name).exists() for name in expected):
            report.graded.append(student)
        else:
            report.failed.append(student)
        for name in expected:
            reasons = tamper_scan(root / "submitted" / student / assignment / name)
            if reasons:
                report.flagged[student] = reasons
    return report


# --- tampering --------------------------------------------------------------------

_WATCHED_MODULES = {"np", "numpy", "tf", "tensorflow", "keras", "builtins", "sys",
                    "attention_course", "checks", "unittest", "math", "sklearn", "metrics"}
_WATCHED_CALLS = {"setattr", "delattr", "exec", "eval", "globals", "__import__", "compile"}


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _aliases(tree: ast.AST) -> set[str]:
    """Names that refer to a watched module (or something inside one) in this cell:
    ``import numpy as xp``, ``from numpy import testing``, ``import builtins as b``."""
    names = set(_WATCHED_MODULES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _WATCHED_MODULES:
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and \
                node.module.split(".")[0] in _WATCHED_MODULES:
            for alias in node.names:
                names.add(alias.asname or alias.name)
    return names


def _namespace_write(target: ast.AST, watched: set[str]) -> bool:
    """``x.__dict__[k] = v``, ``vars(x)[k] = v``, ``sys.modules[k]... = v``."""
    if not isinstance(target, ast.Subscript):
        return False
    for node in ast.walk(target.value):
        if isinstance(node, ast.Attribute) and node.attr in ("__dict__", "modules"):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("vars", "globals", "locals"):
            return True
    return _root_name(target) in watched


def _cells(nb: Any) -> list[dict]:
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("the file is JSON but not a notebook (no list of cells)")
    return [cell for cell in nb["cells"] if isinstance(cell, dict)]


def tamper_scan(path: Path) -> list[str]:
    """Reasons to look at a submission by hand: code in student cells that rebinds
    test helpers, numpy/tensorflow/builtins attributes (also through an import alias
    or a namespace dict), or reaches into the grader.

    Only cells a student may edit are scanned (locked cells are restored anyway). A
    file that does not parse as a notebook is itself a reason. This is a screen for a
    human, not a verdict: the checks keep their own references either way.
    """
    try:
        cells = _cells(read_notebook(path))
    except ValueError as error:
        return [f"{path.name}: {error}"]
    reasons: list[str] = []
    for cell in cells:
        metadata = cell.get("metadata")
        meta = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else {}
        meta = meta if isinstance(meta, dict) else {}
        if cell.get("cell_type") != "code" or meta.get("locked"):
            continue
        try:
            source = cell_source(cell)
            tree = ast.parse("\n".join(
                line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
            ))
        except (SyntaxError, ValueError, TypeError, AttributeError):
            continue
        where = meta.get("grade_id") or cell.get("id", "?")
        watched = _aliases(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [
                    node.target]
                for target in targets:
                    for leaf in ast.walk(target):  # tuple targets: a, np.x = ...
                        if isinstance(leaf, ast.Attribute) and isinstance(leaf.ctx, (
                                ast.Store, ast.Del)) and _root_name(leaf) in watched:
                            reasons.append(f"cell {where}: assigns {ast.unparse(leaf)}")
                        elif isinstance(leaf, ast.Subscript) and isinstance(leaf.ctx, (
                                ast.Store, ast.Del)) and _namespace_write(leaf, watched):
                            reasons.append(f"cell {where}: writes into a namespace: "
                                           f"{ast.unparse(leaf)}")
                        elif isinstance(leaf, ast.Name) and isinstance(leaf.ctx, (
                                ast.Store, ast.Del)) and leaf.id.startswith("check_"):
                            reasons.append(f"cell {where}: rebinds the test helper {leaf.id}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in _WATCHED_CALLS:
                reasons.append(f"cell {where}: calls {node.func.id}()")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "update" and "__dict__" in ast.unparse(node.func.value):
                reasons.append(f"cell {where}: updates a namespace: {ast.unparse(node.func)}")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names]
                module = getattr(node, "module", None) or ""
                if module.startswith("attention_course") or any(
                    n.startswith("attention_course") for n in names
                ):
                    reasons.append(f"cell {where}: imports the course package")
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and \
                    node.name.startswith("check_"):
                reasons.append(f"cell {where}: defines {node.name}")
    return list(dict.fromkeys(reasons))


# --- feedback, grades, table --------------------------------------------------------

def feedback(root: Path, assignment: str) -> None:
    """``nbgrader generate_feedback`` (hidden tests scrubbed, see nbgrader_ext)."""
    nbgrader(root, "generate_feedback", assignment, "--force")


def export_grades(root: Path, path: Path) -> Path:
    """``nbgrader export`` to a CSV file."""
    nbgrader(root, "export", f"--to={path}")
    return path


@dataclass(frozen=True)
class NotebookScore:
    student: str
    assignment: str
    notebook: str
    score: float
    max_score: float
    needs_manual: bool


def scores(root: Path) -> list[NotebookScore]:
    """Every submitted notebook's score, read from the gradebook."""
    from nbgrader.api import Gradebook

    out = []
    with Gradebook(db_url(root)) as gb:
        for assignment in gb.assignments:
            for submission in gb.assignment_submissions(assignment.name):
                for nb in submission.notebooks:
                    out.append(NotebookScore(
                        student=submission.student.id, assignment=assignment.name,
                        notebook=nb.name, score=float(nb.score), max_score=float(nb.max_score),
                        needs_manual=bool(nb.needs_manual_grade),
                    ))
    return out


def test_results(root: Path, assignment: str) -> dict[str, dict[str, tuple[float, float]]]:
    """``{student: {test grade_id: (score, max_score)}}`` of the autograded tests of one assignment.

    Written answers graded by hand are left out (see :func:`manual_results`).
    """
    from nbgrader.api import Gradebook

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
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, ManualGrade]] = {}
    with Gradebook(db_url(root)) as gb:
        for submission in gb.assignment_submissions(assignment):
            per = out.setdefault(submission.student.id, {})
            for nb in submission.notebooks:
                for grade in nb.grades:
                    if grade.cell.cell_type != "code":
                        per[grade.name] = ManualGrade(
                            auto_score=grade.auto_score, manual_score=grade.manual_score,
                            max_score=float(grade.max_score),
                            needs_manual_grade=bool(grade.needs_manual_grade))
    return out


def score_table(rows: list[NotebookScore]) -> str:
    """A text table student x notebook with ``score / max``."""
    notebooks = sorted({r.notebook for r in rows})
    students = sorted({r.student for r in rows})
    cell = {(r.student, r.notebook): r for r in rows}
    width = max([len("student"), *map(len, students)]) + 2
    cols = [max(len(n), 12) + 2 for n in notebooks]
    header = "".join(n.ljust(c) for n, c in zip(notebooks, cols, strict=True))
    lines = ["student".ljust(width) + header]
    for s in students:
        parts = []
        for n, c in zip(notebooks, cols, strict=True):
            r = cell.get((s, n))
            text = "-" if r is None else f"{r.score:g} / {r.max_score:g}" + (
                " *" if r.needs_manual else "")
            parts.append(text.ljust(c))
        lines.append(s.ljust(width) + "".join(parts))
    if any(r.needs_manual for r in rows):
        lines.append("* needs manual grading")
    return "\n".join(lines)


def class_report(root: Path, assignment: str) -> str:
    """Which tests fail most, and a histogram of total scores."""
    results = test_results(root, assignment)
    if not results:
        return f"{assignment}: no submissions"
    fails: dict[str, int] = {}
    totals = []
    for per in results.values():
        totals.append(sum(s for s, _ in per.values()))
        for name, (score, max_score) in per.items():
            if score < max_score:
                fails[name] = fails.get(name, 0) + 1
    max_total = sum(m for _, m in next(iter(results.values())).values())
    lines = [f"{assignment}: {len(results)} submissions, mean {sum(totals) / len(totals):.1f} "
             f"/ {max_total:g}", "tests failed most often:"]
    for name, count in sorted(fails.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
        lines.append(f"  {count:4d}  {name}")
    waiting = sorted(student for student, per in manual_results(root, assignment).items()
                     if any(g.needs_manual_grade for g in per.values()))
    if waiting:
        lines.append(f"written answers to grade by hand (formgrader): {len(waiting)} submissions")
    lines.append("autograded score histogram:")
    bins = 5
    for b in range(bins):
        lo, hi = max_total * b / bins, max_total * (b + 1) / bins
        n = sum(1 for t in totals if lo <= t < hi or (b == bins - 1 and t == hi))
        lines.append(f"  {lo:5.1f}-{hi:5.1f} {'#' * n} {n}")
    return "\n".join(lines)


def write_csv(rows: list[NotebookScore], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", "notebook", "score", "max_score",
                         "needs_manual_grade"])
        for r in rows:
            writer.writerow([r.student, r.assignment, r.notebook, r.score, r.max_score,
                             r.needs_manual])
