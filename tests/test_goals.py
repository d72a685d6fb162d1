"""The learning-goal mapping (attention_grader.goals) against the notebooks in source/."""

from __future__ import annotations

import json
import re
from pathlib import Path

from attention_grader import goals

ROOT = Path(__file__).resolve().parents[1]


def _graded_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [
        c["metadata"]["nbgrader"]["grade_id"]
        for c in cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    ]


def _notebooks() -> list[Path]:
    paths = sorted((ROOT / "source").glob("[0-9][0-9]_*/*.ipynb"))
    assert len(paths) >= 6, paths  # the six graded notebooks are there
    return paths


def test_goal_codes_are_the_courses():
    codes = list(goals.GOALS)
    assert codes == sorted(codes, key=goals.goal_order)
    assert codes[0] == "5.0.1" and codes[-1] == "5.12" and len(codes) == 14
    assert all(re.fullmatch(r"5\.\d+(\.\d+)?", c) and goals.GOALS[c] for c in codes)


def test_every_graded_cell_of_every_source_notebook_has_goals_of_its_notebook():
    for path in _notebooks():
        notebook = path.parent.name
        assert notebook in goals.NOTEBOOK_GOALS, f"{notebook}: add its goals to goals.py"
        stated = set(goals.NOTEBOOK_GOALS[notebook])
        assert stated <= set(goals.GOALS), notebook
        graded = _graded_cells(path)
        assert graded, path
        missing = [cell for cell in graded if not goals.goals_of(notebook, cell)]
        assert not missing, f"{notebook}: graded cells without goals in goals.py: {missing}"
        for cell in graded:
            codes = set(goals.goals_of(notebook, cell))
            assert codes <= set(goals.GOALS), (notebook, cell, codes - set(goals.GOALS))
            assert codes <= stated, (notebook, cell, f"not a goal of {notebook}")
        carried = {code for cell in graded for code in goals.goals_of(notebook, cell)}
        assert carried == stated, (notebook, f"goals no graded cell carries: {stated - carried}")
        stale = set(goals.CELL_GOALS[notebook]) - set(graded)
        assert not stale, f"{notebook}: goals.py lists cells the notebook no longer has: {stale}"


def test_notebook_goals_are_the_ones_the_start_notebook_states():
    """00_start_here.ipynb's table names each notebook's goals (ranges such as 5.4-5.8)."""
    start = json.loads((ROOT / "notebooks" / "00_start_here.ipynb").read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in start["cells"])
    order = list(goals.GOALS)
    for notebook, stated in goals.NOTEBOOK_GOALS.items():
        row = next(line for line in text.splitlines() if f"`{notebook}`" in line)
        named: set[str] = set()
        for part in row.split("|")[3].split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-")
                named |= set(order[order.index(lo) : order.index(hi) + 1])
            else:
                named.add(part)
        assert named == set(stated), notebook
