"""Every source notebook (and companion notebook) runs top to bottom in fast mode.

The source notebooks hold the solutions and the hidden tests, so a clean run means the
instructor solution passes every test, and the notebook works before nbgrader is involved.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOKS = sorted(ROOT.glob("source/*/*.ipynb")) + sorted(ROOT.glob("notebooks/*.ipynb"))

pytestmark = pytest.mark.slow


def _run(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    env_before = dict(os.environ)
    os.environ["COURSE_FAST"] = "1"
    try:
        NotebookClient(
            nb,
            timeout=300,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    return nb


def test_there_are_notebooks():
    assert any(p.parts[-3] == "source" for p in NOTEBOOKS), "source/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_runs_clean_in_fast_mode(path):
    nb = _run(path)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        for output in cell.outputs:
            if output.output_type == "error":
                problems.append(f"{name}: {output.ename}: {output.evalue[:300]}")
            elif output.output_type == "stream" and output.name == "stderr":
                # nbgrader would score a test cell 0 for this; nothing may write to stderr
                problems.append(f"{name}: wrote to stderr: {output.text[:300]!r}")
    assert not problems, "\n".join(problems)
