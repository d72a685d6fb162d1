"""`make demo` (the main job) in a throw-away copy of the course, run twice."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo")]


def _demo(root):
    proc = subprocess.run([sys.executable, "-m", "attention_course", "demo"], cwd=root,
                          text=True, capture_output=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _table_row(output: str, student: str) -> list[tuple[float, float]]:
    line = next(line for line in output.splitlines() if line.startswith(student + " "))
    return [(float(a), float(b)) for a, b in re.findall(r"([\d.]+) / ([\d.]+)", line)]


def test_demo_runs_the_whole_cycle_twice(tmp_path, course_env):
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "source", root / "source")
    shutil.copytree(ROOT / "tests" / "submissions", root / "tests" / "submissions")

    for _ in range(2):  # running it twice works (everything is regenerated)
        out = _demo(root)
        solution = _table_row(out, "demo-solution")
        blank = _table_row(out, "demo-blank")
        mistake = _table_row(out, "demo-mistake")
        assert solution and all(score == maximum > 0 for score, maximum in solution), out
        assert all(score == 0 for score, _ in blank), out
        assert all(0 < score < maximum for score, maximum in mistake), out

    with open(root / "grades.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["student_id"] for r in rows} == {"demo-solution", "demo-blank", "demo-mistake"}
    assert list(root.glob("feedback/demo-mistake/*/*.html")), "no feedback HTML"
    assert list(root.glob("backups/gradebook-*.db")), "the gradebook was not backed up"
