"""attention_grader.tamper.scan: the screen that points the instructor at suspicious code.

Reads notebook files only (no kernel). Importing the course package's check helpers is
allowed on purpose (students may call them); rebinding them, NumPy or builtins, writing
into a module's namespace and reaching for IPython are flagged.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from attention_grader import authoring, submissions, tamper

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NOTEBOOKS = sorted(ROOT.glob("source/*/*.ipynb"))
ASSIGNMENTS = sorted(p.parent.name for p in ROOT.glob("source/*/*.ipynb"))


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _student_cell(source: str, grade_id: str = "answer") -> nbformat.NotebookNode:
    return new_code_cell(
        source,
        metadata={
            "nbgrader": {
                "grade": False,
                "solution": True,
                "locked": False,
                "grade_id": grade_id,
                "schema_version": 3,
            }
        },
    )


def _locked_cell(source: str, grade_id: str = "test_answer") -> nbformat.NotebookNode:
    return new_code_cell(
        source,
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": False,
                "locked": True,
                "points": 2,
                "grade_id": grade_id,
                "schema_version": 3,
            }
        },
    )


def _write(tmp_path: Path, cells: list, name: str = "submission.ipynb") -> Path:
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells), path)
    return path


TAMPERING = {  # case: (student code, text the reason must contain)
    "np.allclose": ("import numpy as np\nnp.allclose = lambda *a, **k: True", "np.allclose"),
    "numpy.testing": (
        "import numpy\nnumpy.testing.assert_allclose = lambda *a, **k: None",
        "numpy.testing.assert_allclose",
    ),
    "check_close": ("check_close = lambda *a, **k: None", "check_close"),
    "setattr": ("import numpy as np\nsetattr(np, 'isclose', lambda *a, **k: True)", "setattr"),
    "builtins.len": ("import builtins\nbuiltins.len = lambda x: 0", "builtins.len"),
    "def check_": ("def check_equal(*args, **kwargs):\n    return None", "check_equal"),
    "checks attribute": (
        "from attention_course import checks\nchecks.check_close = print",
        "checks.check_close",
    ),
    "get_ipython": (
        "get_ipython().input_transformers_cleanup.append(lambda lines: lines)",
        "get_ipython",
    ),
    "get_ipython magic": ("ip = get_ipython()\nip.run_line_magic('who', '')", "get_ipython"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_scan_flags_tampering_and_names_the_cell(tmp_path, case):
    code, needle = TAMPERING[case]
    path = _write(
        tmp_path,
        [
            _student_cell("def f():\n    return 1"),
            _student_cell(code, grade_id="cosine_similarity"),
        ],
    )
    reasons = tamper.scan(path)
    assert reasons, f"{case}: {code!r} was not flagged"
    assert any(needle in r and "cosine_similarity" in r for r in reasons), reasons
    assert not any("cell answer" in r for r in reasons), f"the honest cell was flagged: {reasons}"


@pytest.mark.parametrize(
    "code",
    [
        "import attention_course.checks\n",
        "from attention_course import checks\n",
        "from attention_course.checks import check_close, check_equal\n",
        "from attention_course.checks import check_equal\ncheck_equal(f(1), 2)",
    ],
    ids=["import-module", "from-import-module", "from-import-helpers", "call-a-helper"],
)
def test_scan_allows_importing_and_calling_the_check_helpers(tmp_path, code):
    path = _write(tmp_path, [_student_cell("def f(x):\n    return 2 * x"), _student_cell(code)])
    assert tamper.scan(path) == []


@pytest.mark.parametrize(
    "code",
    [
        "import numpy as xp\nxp.allclose = lambda *a, **k: True",
        "from numpy import testing\ntesting.assert_allclose = lambda *a, **k: None",
        "import builtins as b\nb.len = lambda x: 0",
    ],
    ids=["numpy-alias", "numpy.testing-from-import", "builtins-alias"],
)
def test_scan_flags_rebinding_through_an_alias(tmp_path, code):
    path = _write(tmp_path, [_student_cell(code)])
    assert tamper.scan(path), f"rebinding through an import alias not flagged:\n{code}"


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nsys.modules['attention_course.checks'].__dict__['check_close'] = print",
        "import numpy as np\nvars(np)['allclose'] = lambda *a, **k: True",
    ],
    ids=["checks-module-dict", "vars-numpy"],
)
def test_scan_flags_writes_through_a_namespace_dict(tmp_path, code):
    # Both replace a helper despite the sealed module (its __dict__ is a plain dict).
    path = _write(tmp_path, [_student_cell(code)])
    reasons = tamper.scan(path)
    assert any("writes into a namespace" in r for r in reasons), reasons


def test_scan_ignores_locked_cells(tmp_path):
    path = _write(
        tmp_path,
        [
            _locked_cell(
                "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
                "_ns = globals()\nsetattr(np, 'x', 1)\nget_ipython()"
            ),
            _student_cell("def f(x):\n    return x + 1"),
        ],
    )
    assert tamper.scan(path) == []


def test_scan_does_not_flag_the_instructor_solutions(tmp_path):
    assert SOURCE_NOTEBOOKS, "source/ holds no notebook"
    for source_path in SOURCE_NOTEBOOKS:
        release_path = ROOT / "release" / source_path.parent.name / source_path.name
        assert release_path.exists(), f"{_rel(release_path)} is missing: run `make release`"
        solved = submissions.solved(
            authoring.read_notebook(release_path), authoring.read_notebook(source_path)
        )
        path = tmp_path / source_path.name
        authoring.write_notebook(solved, path)
        assert tamper.scan(path) == [], f"honest solution of {_rel(source_path)} flagged"


def test_scan_does_not_flag_catalogued_honest_submissions(tmp_path):
    # typical mistakes and the alternative solution are wrong or different, never tampering
    assert ASSIGNMENTS, "source/ holds no notebook"
    for assignment in ASSIGNMENTS:
        source = ROOT / "source" / assignment / f"{assignment}.ipynb"
        release = ROOT / "release" / assignment / f"{assignment}.ipynb"
        source_nb, release_nb = authoring.read_notebook(source), authoring.read_notebook(release)
        catalog = submissions.catalog(assignment)
        variants = {
            name: submissions.apply_mistake(release_nb, source_nb, mistake)
            for name, mistake in catalog.MISTAKES.items()
        }
        alternative = dict(submissions.solution_code(source_nb))
        alternative.update(getattr(catalog, "ALTERNATIVE", {}))
        variants["ALTERNATIVE"] = submissions.fill(release_nb, alternative)
        for name, nb in variants.items():
            path = tmp_path / f"{assignment}-{name}.ipynb"
            authoring.write_notebook(nb, path)
            assert tamper.scan(path) == [], f"{assignment}: {name} flagged as tampering"


def test_scan_reports_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [ this is not json', encoding="utf-8")
    reasons = tamper.scan(path)
    assert len(reasons) == 1, reasons
    assert reasons[0].startswith("broken.ipynb: not a notebook"), reasons


@pytest.mark.parametrize(
    "text", ["[]", "null", '{"cells": 3}'], ids=["list", "null", "cells-not-a-list"]
)
def test_scan_reports_json_that_is_not_a_notebook(tmp_path, text):
    path = tmp_path / "odd.ipynb"
    path.write_text(text, encoding="utf-8")
    reasons = tamper.scan(path)
    assert len(reasons) == 1 and "not a notebook" in reasons[0], reasons


@pytest.mark.parametrize(
    "cells",
    [
        [42, "text"],
        [{"cell_type": "code", "source": 7, "metadata": []}],
        [{"cell_type": "code", "source": ["x = (", "\n"], "metadata": {"nbgrader": "odd"}}],
    ],
    ids=["cells-not-dicts", "odd-source-and-metadata", "syntax-error"],
)
def test_scan_survives_odd_cells(tmp_path, cells):
    # a crash here would stop the autograde report; odd but harmless cells are no reason
    path = tmp_path / "odd.ipynb"
    path.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    assert tamper.scan(path) == []


def test_scan_reports_json_nested_too_deeply_to_read(tmp_path):
    # 100,000 nested lists: Python's JSON parser raises RecursionError, which once escaped
    # the scan and stopped the whole class's grading run
    path = tmp_path / "deep.ipynb"
    path.write_text('{"cells": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    reasons = tamper.scan(path)
    assert reasons == ["deep.ipynb: not a notebook (its JSON is nested too deeply to be read)"]


@pytest.mark.parametrize(
    "deep",
    ["x = " + "+".join(["1"] * 100_000), "x = " + "-" * 100_000 + "1"],
    ids=["long-sum", "unary-chain"],
)
def test_scan_names_code_too_deep_to_screen_and_screens_the_other_cells(tmp_path, deep):
    # ast.parse raises RecursionError (or MemoryError) on such code; the scan must go on with
    # the next cells and say which one it could not screen
    path = _write(
        tmp_path,
        [_student_cell(deep, "deep"), _student_cell("def check_answer():\n    pass\n", "after")],
    )
    reasons = tamper.scan(path)
    assert reasons == [
        "cell deep: code nested too deeply to be screened (look by hand)",
        "cell after: defines check_answer",
    ]
