"""`make demo` (the main job) in a throw-away copy of the course, run twice."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

DEMO_ASSIGNMENTS = ["01_tokenization", "02_metrics"]


def _demo(root):
    command = [sys.executable, "-m", "attention_grader", "demo", "--workers", "1"]
    proc = subprocess.run(command, cwd=root, text=True, capture_output=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _table_row(output: str, student: str) -> list[tuple[float, float, bool]]:
    """(score, max, waits for manual grading) per notebook, in the table's column order."""
    line = next(line for line in output.splitlines() if line.startswith(student + " "))
    return [
        (float(a), float(b), bool(star))
        for a, b, star in re.findall(r"([\d.]+) / ([\d.]+)( \*)?", line)
    ]


def _manual_points(root) -> list[float]:
    """Points graded by hand per notebook of ``root``, in the table's (sorted) column order."""
    from attention_grader import authoring, cells

    out = []
    for path in sorted(root.glob("source/*/*.ipynb"), key=lambda p: p.stem):
        nb_cells = authoring.read_notebook(path)["cells"]
        out.append(
            sum(
                float(cells.nbgrader(c).get("points", 0))
                for c in nb_cells
                if c["cell_type"] == "markdown" and cells.is_grade(c)
            )
        )
    return out


def test_demo_runs_the_whole_cycle_twice(tmp_path, course_env):
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    # Two assignments keep this test short (the cycle is the same for every assignment; each
    # notebook is graded end to end in its own test file): 01, and 02 with a written answer.
    for name in DEMO_ASSIGNMENTS:
        shutil.copytree(ROOT / "source" / name, root / "source" / name)

    for _ in range(2):  # running it twice works (everything is regenerated)
        out = _demo(root)
        solution = _table_row(out, "demo-solution")
        blank = _table_row(out, "demo-blank")
        mistake = _table_row(out, "demo-mistake")
        manual = _manual_points(root)
        assert len(solution) == len(blank) == len(mistake) == len(manual) > 0, out
        # the solution gets every autograded point; its written answers wait for a human (*)
        for (score, maximum, waits), by_hand in zip(solution, manual, strict=True):
            assert score == maximum - by_hand > 0 and waits == (by_hand > 0), out
        # an untouched notebook scores 0 and needs nobody (unchanged answers score 0 too)
        assert all(score == 0 and not waits for score, _, waits in blank), out
        for (score, maximum, _), by_hand in zip(mistake, manual, strict=True):
            assert 0 < score < maximum - by_hand, out

    with open(root / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["student_id"] for r in rows} == {"demo-solution", "demo-blank", "demo-mistake"}
    assert list(root.glob("feedback/demo-mistake/*/*.html")), "no feedback HTML"
    assert list(root.glob("backups/gradebook-*.db")), "the gradebook was not backed up"
