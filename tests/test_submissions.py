"""attention_grader.submissions: building submissions from the source notebooks.

The solution without its markers, and typical mistakes applied to it (the mistake
catalogs of ``attention_grader.catalogs`` rely on both). Notebook JSON only, no kernel.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from attention_grader import authoring, cells, submissions

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NOTEBOOKS = sorted(ROOT.glob("source/*/*.ipynb"))


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _nbgrader(grade_id: str, **flags) -> dict:
    meta = {"grade": False, "solution": False, "locked": False, "grade_id": grade_id}
    meta.update(flags, schema_version=3)
    return {"nbgrader": meta}


def _solution_cell(source: str, grade_id: str):
    return new_code_cell(source, metadata=_nbgrader(grade_id, solution=True))


def _test_cell(source: str, grade_id: str):
    return new_code_cell(source, metadata=_nbgrader(grade_id, grade=True, locked=True, points=1))


def _notebooks(path: Path) -> tuple[dict, dict]:
    """(release, source) of a source notebook."""
    release = ROOT / "release" / path.parent.name / path.name
    return authoring.read_notebook(release), authoring.read_notebook(path)


def test_solution_code_strips_markers():
    source_nb = new_notebook(
        cells=[
            new_markdown_cell("## Exercise"),
            _solution_cell(
                'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n'
                "    return x + 1\n    ### END SOLUTION\n",
                grade_id="f",
            ),
            new_markdown_cell(
                "### BEGIN SOLUTION\nBecause the rows sum to 1.\n### END SOLUTION",
                metadata=_nbgrader("why", solution=True, grade=True, points=2),
            ),
            _test_cell("check_equal(f(1), 2)", grade_id="test_f"),
        ]
    )
    assert submissions.solution_code(source_nb) == {
        "f": 'def f(x):\n    """Doc."""\n    return x + 1\n',
        "why": "Because the rows sum to 1.\n",
    }


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_solution_code_of_a_source_notebook_has_no_markers(path):
    nb = authoring.read_notebook(path)
    code = submissions.solution_code(nb)
    ids = [
        c["metadata"]["nbgrader"]["grade_id"]
        for c in nb["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    ]
    assert ids, f"{_rel(path)}: no solution cell"
    assert sorted(code) == sorted(ids)  # code and written answers
    for gid, text in code.items():
        assert "SOLUTION" not in text, f"{_rel(path)}: {gid} keeps a marker"
        assert text.strip(), f"{_rel(path)}: {gid} is empty without markers"


def test_apply_mistake_rejects_an_edit_that_does_not_match():
    release_nb, source_nb = _notebooks(SOURCE_NOTEBOOKS[0])
    gid = next(iter(submissions.solution_code(source_nb)))
    mistake = submissions.Mistake(
        why="stale edit",
        breaks=frozenset(),
        edits={gid: [("text that is not in any solution", "x")]},
    )
    with pytest.raises(ValueError) as excinfo:
        submissions.apply_mistake(release_nb, source_nb, mistake)
    assert gid in str(excinfo.value) and "not found" in str(excinfo.value)


def test_apply_mistake_edits_only_the_named_cell():
    release_nb, source_nb = _notebooks(SOURCE_NOTEBOOKS[0])
    code = submissions.solution_code(source_nb)
    assert len(code) >= 2, "needs two solution cells to show the others are untouched"
    gid = next(iter(code))
    first_line = code[gid].splitlines()[0]
    mistake = submissions.Mistake(
        why="renamed", breaks=frozenset(), edits={gid: [(first_line, first_line + "  # edited")]}
    )
    inputs_before = copy.deepcopy((release_nb, source_nb))
    nb = submissions.apply_mistake(release_nb, source_nb, mistake)
    by_id = {cells.grade_id(c): cells.source(c) for c in nb["cells"]}
    assert by_id[gid] == code[gid].replace(first_line, first_line + "  # edited", 1)
    for other, text in code.items():
        if other != gid:
            assert by_id[other] == text, f"{other} changed"
    assert (release_nb, source_nb) == inputs_before, "apply_mistake modified its inputs"


def test_apply_mistake_replaces_a_whole_cell():
    release_nb, source_nb = _notebooks(SOURCE_NOTEBOOKS[0])
    code = submissions.solution_code(source_nb)
    gid = next(iter(code))
    mistake = submissions.Mistake(
        why="gave up", breaks=frozenset(), replace={gid: "raise NotImplementedError()\n"}
    )
    nb = submissions.apply_mistake(release_nb, source_nb, mistake)
    by_id = {cells.grade_id(c): cells.source(c) for c in nb["cells"]}
    assert by_id[gid] == "raise NotImplementedError()\n"


def test_fill_refuses_an_unknown_grade_id():
    release_nb, _ = _notebooks(SOURCE_NOTEBOOKS[0])
    with pytest.raises(KeyError, match="no_such_cell"):
        submissions.fill(release_nb, {"no_such_cell": "x = 1"})
