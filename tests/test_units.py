"""Fast unit tests of the course package: no kernel, no nbgrader subprocess, no network.

Covers the assertion API of the test cells (``checks``) and its hardening against a
student cell that rebinds numpy or builtins, the nbgrader preprocessors of
``nbgrader_ext``, the grading orchestration helpers that need no nbgrader run (tamper
scan, lock, gradebook backup, tables), the run mode, the notebook setup, and the Colab
branch of every source notebook's setup cell.
"""

from __future__ import annotations

import builtins
import copy
import fcntl
import importlib.util
import logging
import random
import re
import subprocess
import sys
import time
import tomllib
import types
import warnings
from pathlib import Path

import nbformat
import numpy as np
import numpy.testing
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.utils import determine_grade

from attention_course import checks, grading, notebook, notebooks, runmode, submissions
from attention_course.nbgrader_ext import STDERR_MARK, ScrubHiddenTests, StderrNotFailure

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NOTEBOOKS = sorted(ROOT.glob("source/*/*.ipynb"))
# Taken before any test rebinds builtins: the exception the grading helpers must raise.
REAL_ASSERTION_ERROR = builtins.AssertionError


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _message(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


class FakeTensor:
    """Quacks like a TensorFlow eager tensor: ``.shape`` (may hold None) and ``.numpy()``."""

    def __init__(self, values, shape=None):
        self._values = np.asarray(values)
        self.shape = tuple(self._values.shape) if shape is None else shape

    def numpy(self):
        return self._values


# --- checks: every helper, right and wrong input --------------------------------------

def test_to_numpy_accepts_arrays_lists_scalars_and_tensors():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert checks.to_numpy(array) is array  # no copy for arrays
    np.testing.assert_array_equal(checks.to_numpy([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]]))
    assert checks.to_numpy(2.5).shape == ()
    tensor = FakeTensor([[1.0, 2.0]])
    got = checks.to_numpy(tensor)
    assert isinstance(got, np.ndarray) and got.tolist() == [[1.0, 2.0]]


def test_to_numpy_none_says_forgot_return():
    with pytest.raises(AssertionError) as excinfo:
        checks.to_numpy(None, name="vocab")
    assert "vocab is None" in _message(excinfo)
    assert "forget a `return`" in _message(excinfo)


@pytest.mark.parametrize("value", [[[1, 2], [3]], {"a": 1}], ids=["ragged", "dict"])
def test_to_numpy_rejects_non_arrays(value):
    with pytest.raises(AssertionError) as excinfo:
        checks.to_numpy(value, name="scores")
    message = _message(excinfo)
    assert "scores" in message
    assert "could not be read as an array" in message or "not a numeric array" in message


def test_fail_and_check_true():
    with pytest.raises(AssertionError) as excinfo:
        checks.fail("wrong answer", hint="look at axis 1")
    assert _message(excinfo) == "wrong answer\nHint: look at axis 1"
    checks.check_true(1 == 1, "never shown")
    with pytest.raises(AssertionError, match="^rows must be sorted\nHint: use sorted"):
        checks.check_true([], "rows must be sorted", hint="use sorted")


def test_check_type():
    checks.check_type({"a": 1}, dict, name="vocab")
    checks.check_type(3, (float, int), name="count")
    with pytest.raises(AssertionError) as excinfo:
        checks.check_type([1], dict, name="vocab")
    assert "vocab should be of type dict, got list" in _message(excinfo)
    with pytest.raises(AssertionError) as excinfo:
        checks.check_type("3", (float, int), name="count")
    assert "float, int" in _message(excinfo) and "got str" in _message(excinfo)


def test_check_shape_passes_on_right_shape_and_wildcards():
    checks.check_shape(np.zeros((2, 5, 8)), (2, 5, 8))
    checks.check_shape(np.zeros((2, 5, 8)), [None, 5, None])
    checks.check_shape([[1, 2, 3], [4, 5, 6]], (2, 3))
    checks.check_shape(FakeTensor(np.zeros((4, 3)), shape=(None, 3)), (None, 3))


def test_check_shape_swapped_axes_hint():
    with pytest.raises(AssertionError) as excinfo:
        checks.check_shape(np.zeros((2, 3)), (3, 2), name="scores")
    message = _message(excinfo)
    assert "expected shape (3, 2), got (2, 3)" in message
    assert "swapped or transposed" in message


def test_check_shape_wrong_number_of_axes_and_sizes():
    with pytest.raises(AssertionError) as excinfo:
        checks.check_shape(np.zeros((2, 3, 1)), (2, 3), name="out", hint="squeeze the last axis")
    message = _message(excinfo)
    assert "expected shape (2, 3), got (2, 3, 1)" in message
    assert "2 axes expected, 3 found" in message
    assert "Hint: squeeze the last axis" in message
    with pytest.raises(AssertionError) as excinfo:
        checks.check_shape(np.zeros((2, 4)), (2, 3))
    assert "swapped" not in _message(excinfo)  # different sizes: no transposition hint
    with pytest.raises(AssertionError, match=r"got \(None, 3\)"):
        checks.check_shape(FakeTensor(np.zeros((4, 3)), shape=(None, 3)), (4, 3))


def test_check_close_accepts_dtypes_lists_and_tensors():
    expected = np.array([[0.1, 0.2, 0.3], [1.0 / 3.0, 2.0 / 3.0, 1e-7]])
    checks.check_close(expected.astype(np.float32), expected)  # float32 vs float64
    checks.check_close(expected, expected.astype(np.float32))
    checks.check_close(expected.tolist(), expected)
    checks.check_close(FakeTensor(expected.astype(np.float32)), expected)
    checks.check_close(3, 3.0)
    checks.check_close(np.array([1.0, np.nan]), np.array([1.0, np.nan]))  # same NaN positions
    checks.check_close(np.array([True, False]), np.array([1.0, 0.0]))


def test_check_close_wrong_values_name_expected_and_got():
    with pytest.raises(AssertionError) as excinfo:
        checks.check_close([1.0, 2.0, 3.0], [1.0, 2.0, 3.5], name="attention output",
                           hint="did you scale by sqrt(d_k)?")
    message = _message(excinfo)
    assert message.startswith("attention output: 1 of 3 values differ")
    assert "at index (2,)" in message
    assert "expected 3.5" in message and "got 3" in message
    assert "Hint: did you scale by sqrt(d_k)?" in message


def test_check_close_shape_first_then_non_finite():
    with pytest.raises(AssertionError, match="swapped or transposed"):
        checks.check_close(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(AssertionError, match="NaN or inf"):
        checks.check_close([1.0, np.inf], [1.0, 2.0], name="weights")
    with pytest.raises(AssertionError, match="expected numbers"):
        checks.check_close(np.array(["a", "b"]), np.array([1.0, 2.0]))
    # tolerance is relative: a 1e-3 relative error fails at the default rtol
    with pytest.raises(AssertionError):
        checks.check_close([1000.0], [1001.0])
    checks.check_close([1000.0], [1001.0], rtol=1e-2)


def test_check_equal_plain_values():
    checks.check_equal([2, 3, 4, 1], [2, 3, 4, 1])
    checks.check_equal({"a": 2, "b": 3}, {"b": 3, "a": 2})
    checks.check_equal("low", "low")
    checks.check_equal((1, 2), [1, 2])  # a tuple where a list is expected is accepted
    checks.check_equal(np.array([1, 2]), [1, 2])
    checks.check_equal(FakeTensor([1, 2]), np.array([1, 2]))


def test_check_equal_wrong_values_messages():
    with pytest.raises(AssertionError) as excinfo:
        checks.check_equal([2, 3, 4, 0], [2, 3, 4, 1], name="encode(...)")
    message = _message(excinfo)
    assert "first difference at position 3: expected 1, got 0" in message
    with pytest.raises(AssertionError, match="expected 3 items, got 2"):
        checks.check_equal(["a", "b"], ["a", "b", "c"])
    with pytest.raises(AssertionError) as excinfo:
        checks.check_equal({"<pad>": 1, "x": 2, "y": 3}, {"<pad>": 0, "x": 2, "z": 4},
                           name="vocab")
    message = _message(excinfo)
    assert "missing keys ['z']" in message
    assert "unexpected keys ['y']" in message
    assert "['<pad>']: expected 0, got 1" in message
    with pytest.raises(AssertionError, match="expected 'b', got 'a'"):
        checks.check_equal("a", "b")
    with pytest.raises(AssertionError, match=r"expected \[1, 3\], got \[1, 2\]"):
        checks.check_equal(np.array([1, 2]), np.array([1, 3]))
    with pytest.raises(AssertionError, match="swapped or transposed"):
        checks.check_equal(np.zeros((2, 3)), np.zeros((3, 2)))


def test_check_sums_to_one():
    rows = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    checks.check_sums_to_one(rows)
    checks.check_sums_to_one(rows.astype(np.float32).T, axis=0)
    checks.check_sums_to_one(FakeTensor(rows))
    with pytest.raises(AssertionError) as excinfo:
        checks.check_sums_to_one([[0.5, 0.5], [0.3, 0.6]], name="attention weights")
    assert "attention weights" in _message(excinfo)
    assert "should sum to 1" in _message(excinfo) and "0.9" in _message(excinfo)
    with pytest.raises(AssertionError, match=r"\[0, 1\]"):
        checks.check_sums_to_one([[1.5, -0.5]])
    with pytest.raises(AssertionError, match="NaN"):
        checks.check_sums_to_one([[np.nan, 1.0]])
    with pytest.raises(AssertionError, match="axis 1"):
        checks.check_sums_to_one(rows.T, axis=1)  # columns of rows.T do not sum to 1


def test_check_finite():
    checks.check_finite(np.array([1.0, -2.0], dtype=np.float32))
    with pytest.raises(AssertionError, match=r"NaN or inf \(2 values\)"):
        checks.check_finite([np.nan, 1.0, -np.inf])


def test_check_raises():
    checks.check_raises(int, ("x",), ValueError)
    checks.check_raises({}.__getitem__, ("missing",), KeyError)
    with pytest.raises(AssertionError, match="nothing was raised"):
        checks.check_raises(int, ("3",), ValueError, name="int('3')")
    with pytest.raises(AssertionError) as excinfo:
        checks.check_raises({}.__getitem__, ("k",), ValueError, name="lookup")
    assert "got KeyError" in _message(excinfo)


def test_check_not_implemented_stub():
    def stub(x):
        raise NotImplementedError()

    def done(x):
        return x

    def broken(x):
        raise ValueError("a bug, but not the stub")

    with pytest.raises(AssertionError) as excinfo:
        checks.check_not_implemented_stub(stub, 1)
    assert "stub is not implemented yet" in _message(excinfo)
    checks.check_not_implemented_stub(done, 1)
    checks.check_not_implemented_stub(broken, 1)


# --- checks: hardening against rebinding, proven in-process -----------------------------

_REAL_ASARRAY = np.asarray


class LyingAssertionError(Exception):
    """What a student could bind to ``builtins.AssertionError``."""


def _lies() -> dict[str, tuple[object, str, object]]:
    """name -> (owner, attribute, lying value): each one would let a wrong answer pass."""
    return {
        "numpy.isclose": (np, "isclose", lambda *a, **k: _REAL_ASARRAY(True)),
        "numpy.allclose": (np, "allclose", lambda *a, **k: True),
        "numpy.asarray": (np, "asarray", lambda *a, **k: _REAL_ASARRAY([1.0])),
        "numpy.testing.assert_allclose": (numpy.testing, "assert_allclose", lambda *a, **k: None),
        "builtins.len": (builtins, "len", lambda obj: 0),
        "builtins.all": (builtins, "all", lambda iterable: True),
        "builtins.AssertionError": (builtins, "AssertionError", LyingAssertionError),
    }


def _lie_in_effect(name: str) -> bool:
    """Evaluated while the lie is bound: proves the patch really took effect."""
    probes = {
        "numpy.isclose": lambda: bool(np.isclose(1.0, 2.0)),
        "numpy.allclose": lambda: np.allclose([1.0], [2.0]) is True,
        "numpy.asarray": lambda: np.asarray([5.0, 6.0]).tolist() == [1.0],
        "numpy.testing.assert_allclose": lambda: numpy.testing.assert_allclose(1, 2) is None,
        "builtins.len": lambda: len([1, 2, 3]) == 0,
        "builtins.all": lambda: all([False]),
        "builtins.AssertionError": lambda: AssertionError is LyingAssertionError,
    }
    return probes[name]()


_WRONG = [  # (case, helper, args): each must raise the real AssertionError
    ("check_close small", "check_close", ([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])),
    ("check_close large", "check_close", (np.arange(30.0), np.arange(30.0) + 0.5)),
    ("check_close shape", "check_close", (np.zeros((2, 3)), np.zeros((3, 2)))),
    ("check_shape swapped", "check_shape", (np.zeros((2, 3)), (3, 2))),
    ("check_shape axes", "check_shape", (np.zeros((2, 3, 1)), (2, 3))),
    ("check_equal list", "check_equal", ([1, 2, 3], [1, 2, 4])),
    ("check_equal length", "check_equal", ([1, 2], [1, 2, 3])),
    ("check_equal dict", "check_equal", ({"a": 1}, {"a": 2})),
    ("check_equal array", "check_equal", (np.array([1, 2]), np.array([1, 3]))),
    ("check_sums_to_one", "check_sums_to_one", ([[0.5, 0.5], [0.3, 0.6]],)),
    ("check_sums_to_one range", "check_sums_to_one", ([[1.5, -0.5]],)),
]
_RIGHT = [  # (case, helper, args): each must pass
    ("check_close", "check_close", ([1.0, 2.0, 3.0], np.array([1.0, 2.0, 3.0]))),
    ("check_close float32", "check_close",
     (np.array([0.1, 0.2], dtype=np.float32), np.array([0.1, 0.2]))),
    ("check_shape", "check_shape", (np.zeros((2, 3)), (2, 3))),
    ("check_equal list", "check_equal", ([1, 2, 3], [1, 2, 3])),
    ("check_equal dict", "check_equal", ({"a": 1}, {"a": 1})),
    ("check_equal array", "check_equal", (np.array([1, 2]), np.array([1, 2]))),
    ("check_sums_to_one", "check_sums_to_one", ([[0.5, 0.5], [0.3, 0.7]],)),
]


def _run_cases(cases) -> dict[str, BaseException | None]:
    outcomes: dict[str, BaseException | None] = {}
    for case, helper, args in cases:
        try:
            getattr(checks, helper)(*args)
        except BaseException as error:  # noqa: BLE001 - any outcome is recorded and judged later
            outcomes[case] = error
        else:
            outcomes[case] = None
    return outcomes


def _judge(wrong: dict, right: dict, label: str) -> list[str]:
    problems = []
    for case, error in wrong.items():
        if error is None:
            problems.append(f"{label}: {case} PASSED a wrong answer")
        elif type(error) is not REAL_ASSERTION_ERROR:
            problems.append(f"{label}: {case} raised {type(error).__name__}: "
                            f"{str(error)[:120]!r} instead of the real AssertionError")
    for case, error in right.items():
        if error is not None:
            problems.append(f"{label}: {case} FAILED a right answer with "
                            f"{type(error).__name__}: {str(error)[:120]!r}")
    return problems


@pytest.mark.parametrize("lie", sorted(_lies()))
def test_checks_ignore_a_rebound_function(lie):
    owner, attribute, value = _lies()[lie]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(owner, attribute, value)
        in_effect = _lie_in_effect(lie)
        wrong, right = _run_cases(_WRONG), _run_cases(_RIGHT)
    # judged after the lie is undone (pytest's own assertions use the builtins)
    assert in_effect, f"the lie {lie} did not take effect: this test would prove nothing"
    problems = _judge(wrong, right, f"with {lie} rebound")
    assert not problems, "\n".join(problems)


def test_checks_ignore_all_rebound_functions_at_once():
    lies = _lies()
    with pytest.MonkeyPatch.context() as mp:
        for owner, attribute, value in lies.values():
            mp.setattr(owner, attribute, value)
        in_effect = {name: _lie_in_effect(name) for name in lies}
        wrong, right = _run_cases(_WRONG), _run_cases(_RIGHT)
    assert all(in_effect.values()), f"lies not in effect: {in_effect}"
    problems = _judge(wrong, right, "with every lie bound")
    assert not problems, "\n".join(problems)


def test_rebinding_is_restored_after_hardening_tests():
    # the monkeypatching above must not leak into the rest of the session
    assert builtins.len([1, 2]) == 2 and builtins.all([False]) is False
    assert builtins.AssertionError is REAL_ASSERTION_ERROR
    assert not np.allclose([1.0], [2.0]) and np.asarray([5.0]).tolist() == [5.0]


def test_checks_module_is_sealed():
    original = checks.check_close
    replaced = False
    try:
        with pytest.raises(AttributeError, match="read-only"):
            checks.check_close = lambda *a, **k: None
        with pytest.raises(AttributeError):
            setattr(checks, "check_equal", lambda *a, **k: None)  # noqa: B010 - the point
        with pytest.raises(AttributeError):
            checks._isclose = lambda *a, **k: True
        with pytest.raises(AttributeError):
            del checks.check_shape
    finally:
        if checks.__dict__.get("check_close") is not original:  # never leak a broken module
            replaced = True
            checks.__dict__["check_close"] = original
    assert not replaced, "checks.check_close could be reassigned"
    from attention_course.checks import check_close

    assert check_close is original
    assert callable(checks.check_shape) and checks._isclose is not None


# --- nbgrader_ext -----------------------------------------------------------------

def _grade_cell(source: str = "check_equal(f(), 1)", points: float = 2,
                grade_id: str = "test_f") -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": points,
        "grade_id": grade_id, "schema_version": 3,
    }})


def test_stderr_of_a_grade_cell_no_longer_scores_zero():
    cell = _grade_cell()
    cell.outputs = [
        new_output("stream", name="stdout", text="vocab built\n"),
        new_output("stream", name="stderr", text="WARNING: deprecated\nsecond line\n"),
    ]
    nb = new_notebook(cells=[cell])
    # the nbgrader fact this preprocessor exists for: stderr alone scores 0
    assert determine_grade(nb.cells[0]) == (0, 2.0)
    nb, _ = StderrNotFailure().preprocess(nb, {})
    assert determine_grade(nb.cells[0]) == (2.0, 2.0)
    texts = [o["text"] for o in nb.cells[0].outputs]
    assert texts[0] == "vocab built\n"
    assert texts[1] == f"{STDERR_MARK}WARNING: deprecated\n{STDERR_MARK}second line\n"
    assert STDERR_MARK == "[stderr] "
    assert all(o["name"] == "stdout" for o in nb.cells[0].outputs)


def test_errors_still_score_zero_after_stderr_preprocessor():
    cell = _grade_cell()
    cell.outputs = [
        new_output("stream", name="stderr", text="UserWarning: x\n"),
        new_output("error", ename="AssertionError", evalue="expected 1, got 2",
                   traceback=["AssertionError: expected 1, got 2"]),
    ]
    nb, _ = StderrNotFailure().preprocess(new_notebook(cells=[cell]), {})
    assert determine_grade(nb.cells[0]) == (0, 2.0)


def test_stderr_preprocessor_leaves_other_cells_alone():
    plain = new_code_cell("import warnings; warnings.warn('x')")
    plain.outputs = [new_output("stream", name="stderr", text="UserWarning: x\n")]
    solution = new_code_cell("def f():\n    return 1", metadata={"nbgrader": {
        "grade": False, "solution": True, "locked": False, "grade_id": "f",
        "schema_version": 3}})
    solution.outputs = [new_output("stream", name="stderr", text="debug\n")]
    nb = new_notebook(cells=[plain, solution])
    before = copy.deepcopy(nb)
    nb, _ = StderrNotFailure().preprocess(nb, {})
    assert nb == before


def test_scrub_hidden_tests_removes_hidden_region_and_shortens_traceback():
    source = (
        "from attention_course.checks import check_equal\n"
        "check_equal(f(1), 2, name='visible example')\n"
        "### BEGIN HIDDEN TESTS\n"
        "SECRET_INPUT = [7, 7, 7]\n"
        "check_equal(f(SECRET_INPUT), 14, name='hidden case')\n"
        "### END HIDDEN TESTS\n"
        "print('after the hidden region')"
    )
    cell = _grade_cell(source)
    traceback = ["\x1b[0;31m---------------------------------------------------------------\x1b[0m",
                 "\x1b[0;31mAssertionError\x1b[0m  Traceback (most recent call last)",
                 "Cell In[7], line 5\n----> 5 check_equal(f(SECRET_INPUT), 14)"]
    traceback += [f"  frame {i}" for i in range(30)]
    cell.outputs = [new_output("error", ename="AssertionError", evalue="hidden case: expected 14",
                               traceback=traceback)]
    other = new_code_cell("x = 1  # SECRET_INPUT mentioned outside a grade cell")
    nb = new_notebook(cells=[new_markdown_cell("# Title"), cell, other])
    nb, _ = ScrubHiddenTests().preprocess(nb, {})
    scrubbed = nb.cells[1]
    assert "SECRET_INPUT" not in scrubbed.source
    assert "HIDDEN TESTS" not in scrubbed.source
    assert "check_equal(f(1), 2, name='visible example')" in scrubbed.source
    assert "print('after the hidden region')" in scrubbed.source
    assert scrubbed.outputs[0]["traceback"] == ["AssertionError: hidden case: expected 14"]
    assert nb.cells[2].source == "x = 1  # SECRET_INPUT mentioned outside a grade cell"


# --- grading: tamper scan ---------------------------------------------------------------

def _student_cell(source: str, grade_id: str = "answer") -> dict:
    return new_code_cell(source, metadata={"nbgrader": {
        "grade": False, "solution": True, "locked": False, "grade_id": grade_id,
        "schema_version": 3}})


def _locked_cell(source: str, grade_id: str = "test_answer") -> dict:
    return _grade_cell(source, grade_id=grade_id)


def _write(tmp_path: Path, cells: list, name: str = "submission.ipynb") -> Path:
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells), path)
    return path


TAMPERING = {
    "np.allclose": ("import numpy as np\nnp.allclose = lambda *a, **k: True", "np.allclose"),
    "numpy.testing": ("import numpy\nnumpy.testing.assert_allclose = lambda *a, **k: None",
                      "numpy.testing.assert_allclose"),
    "check_close": ("check_close = lambda *a, **k: None", "check_close"),
    "setattr": ("import numpy as np\nsetattr(np, 'isclose', lambda *a, **k: True)", "setattr"),
    "import checks": ("import attention_course.checks\n", "course package"),
    "from import": ("from attention_course import checks\n", "course package"),
    "builtins.len": ("import builtins\nbuiltins.len = lambda x: 0", "builtins.len"),
    "def check_": ("def check_equal(*args, **kwargs):\n    return None", "check_equal"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tamper_scan_flags(tmp_path, case):
    code, needle = TAMPERING[case]
    path = _write(tmp_path, [_student_cell("def f():\n    return 1"),
                             _student_cell(code, grade_id="cosine_similarity")])
    reasons = grading.tamper_scan(path)
    assert reasons, f"{case}: {code!r} was not flagged"
    assert any(needle in r and "cosine_similarity" in r for r in reasons), reasons


@pytest.mark.parametrize("code", [
    "import numpy as xp\nxp.allclose = lambda *a, **k: True",
    "from numpy import testing\ntesting.assert_allclose = lambda *a, **k: None",
    "import builtins as b\nb.len = lambda x: 0",
], ids=["numpy-alias", "numpy.testing-from-import", "builtins-alias"])
def test_tamper_scan_flags_rebinding_through_an_alias(tmp_path, code):
    path = _write(tmp_path, [_student_cell(code)])
    assert grading.tamper_scan(path), f"rebinding through an import alias not flagged:\n{code}"


@pytest.mark.parametrize("code", [
    "import sys\nsys.modules['attention_course.checks'].__dict__['check_close'] = print",
    "import numpy as np\nvars(np)['allclose'] = lambda *a, **k: True",
], ids=["checks-module-dict", "vars-numpy"])
def test_tamper_scan_flags_writes_through_a_namespace_dict(tmp_path, code):
    # Both replace a helper despite the sealed module (its __dict__ is a plain dict).
    path = _write(tmp_path, [_student_cell(code)])
    assert grading.tamper_scan(path), f"write through a module's __dict__ not flagged:\n{code}"


def test_tamper_scan_ignores_locked_cells(tmp_path):
    path = _write(tmp_path, [
        _locked_cell("import numpy as np\nnp.allclose = lambda *a, **k: True\n"
                     "_ns = globals()\nsetattr(np, 'x', 1)"),
        _student_cell("def f(x):\n    return x + 1"),
    ])
    assert grading.tamper_scan(path) == []


def test_tamper_scan_does_not_flag_the_instructor_solution(tmp_path):
    assert SOURCE_NOTEBOOKS, "source/ holds no notebook"
    for source_path in SOURCE_NOTEBOOKS:
        release_path = ROOT / "release" / source_path.parent.name / source_path.name
        assert release_path.exists(), f"{_rel(release_path)} is missing: run `make release`"
        solved = submissions.solved(notebooks.read_notebook(release_path),
                                    notebooks.read_notebook(source_path))
        path = tmp_path / source_path.name
        notebooks.write_notebook(solved, path)
        assert grading.tamper_scan(path) == [], f"honest solution of {_rel(source_path)} flagged"


def test_tamper_scan_does_not_flag_catalogued_honest_submissions(tmp_path):
    # typical mistakes and the alternative solution are wrong or different, never tampering
    catalogs = sorted((ROOT / "tests" / "submissions").glob("*.py"))
    for catalog_path in catalogs:
        assignment = catalog_path.stem
        source = ROOT / "source" / assignment / f"{assignment}.ipynb"
        release = ROOT / "release" / assignment / f"{assignment}.ipynb"
        source_nb, release_nb = notebooks.read_notebook(source), notebooks.read_notebook(release)
        catalog = submissions.load_catalog(catalog_path)
        variants = {name: submissions.apply_mistake(release_nb, source_nb, mistake)
                    for name, mistake in catalog.MISTAKES.items()}
        alternative = dict(submissions.solution_code(source_nb))
        alternative.update(getattr(catalog, "ALTERNATIVE", {}))
        variants["ALTERNATIVE"] = submissions.fill(release_nb, alternative)
        for name, nb in variants.items():
            path = tmp_path / f"{assignment}-{name}.ipynb"
            notebooks.write_notebook(nb, path)
            assert grading.tamper_scan(path) == [], f"{assignment}: {name} flagged as tampering"


def test_tamper_scan_reports_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [ this is not json', encoding="utf-8")
    reasons = grading.tamper_scan(path)
    assert len(reasons) == 1 and "not a valid notebook" in reasons[0], reasons


@pytest.mark.parametrize("text", ["[]", "null", '{"cells": [42]}'],
                         ids=["list", "null", "cell-not-a-dict"])
def test_tamper_scan_survives_json_that_is_not_a_notebook(tmp_path, text):
    path = tmp_path / "odd.ipynb"
    path.write_text(text, encoding="utf-8")
    try:
        reasons = grading.tamper_scan(path)
    except Exception as error:  # noqa: BLE001 - a crash here would stop the autograde report
        pytest.fail(f"tamper_scan crashed on {text!r}: {type(error).__name__}: {error}")
    assert isinstance(reasons, list)


# --- grading: lock, backup, released check, db url -----------------------------------

def test_flock_conflicts_between_two_open_files_of_one_process(tmp_path):
    path = tmp_path / "probe.lock"
    with open(path, "w") as first, open(path, "w") as second:
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BlockingIOError):
            fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(first, fcntl.LOCK_UN)
        fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again


def test_gradebook_lock_excludes_a_second_autograde(tmp_path):
    with grading.gradebook_lock(tmp_path, wait_s=0.5):
        lock_files = [p for p in tmp_path.iterdir() if p.is_file()]
        assert len(lock_files) == 1, lock_files
        with open(lock_files[0]) as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        start = time.monotonic()
        with pytest.raises(grading.GradingError, match="another autograde"):
            with grading.gradebook_lock(tmp_path, wait_s=0.5):
                pytest.fail("the second lock was granted while the first is held")
        assert time.monotonic() - start >= 0.45, "gave up before wait_s"
    with grading.gradebook_lock(tmp_path, wait_s=0.5):
        pass  # released: free again


def test_gradebook_lock_is_released_when_grading_fails(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with grading.gradebook_lock(tmp_path, wait_s=0.5):
            raise RuntimeError("boom")
    with grading.gradebook_lock(tmp_path, wait_s=0.5):
        pass


@pytest.fixture
def sqlite_default(monkeypatch):
    monkeypatch.delenv("COURSE_DB_URL", raising=False)


def test_backup_gradebook_copies_bytes(tmp_path, sqlite_default):
    db = tmp_path / "gradebook.db"
    payload = bytes(range(256)) * 40 + b"hidden tests live here"
    db.write_bytes(payload)
    target = grading.backup_gradebook(tmp_path)
    assert target is not None and target.exists()
    assert target.parent == tmp_path / "backups"
    assert target.read_bytes() == payload
    assert db.read_bytes() == payload  # the original is untouched


def test_backup_gradebook_keeps_at_most_keep(tmp_path, sqlite_default):
    (tmp_path / "gradebook.db").write_bytes(b"v")
    for _ in range(5):
        grading.backup_gradebook(tmp_path, keep=3)
    kept = list((tmp_path / "backups").iterdir())
    assert 1 <= len(kept) <= 3, [p.name for p in kept]


class _FakeClock:
    """Calls 100 microseconds apart, all within one wall-clock second."""

    def __init__(self):
        self.ns = 1_700_000_000_000_850_000

    def strftime(self, fmt):
        return "20250101-120000"

    def time_ns(self):
        self.ns += 100_000
        return self.ns

    def __getattr__(self, name):
        return getattr(time, name)


def test_backup_gradebook_keeps_the_newest_within_one_second(tmp_path, sqlite_default,
                                                             monkeypatch):
    monkeypatch.setattr(grading, "time", _FakeClock())
    db = tmp_path / "gradebook.db"
    returned = []
    for version in range(1, 6):
        db.write_bytes(f"version {version}".encode())
        returned.append(grading.backup_gradebook(tmp_path, keep=2))
        assert returned[-1].exists(), (
            f"backup #{version} was deleted by its own pruning: {returned[-1].name} "
            f"(kept: {sorted(p.name for p in (tmp_path / 'backups').iterdir())})")
    kept = sorted(p.read_bytes() for p in (tmp_path / "backups").iterdir())
    assert kept == [b"version 4", b"version 5"]


def test_backup_gradebook_without_db(tmp_path, sqlite_default, monkeypatch):
    assert grading.backup_gradebook(tmp_path) is None
    assert not (tmp_path / "backups").exists()
    monkeypatch.setenv("COURSE_DB_URL", "postgresql://grader@db.example/course")
    (tmp_path / "gradebook.db").write_bytes(b"x")  # not the configured gradebook
    assert grading.backup_gradebook(tmp_path) is None


def test_require_released_without_gradebook(tmp_path, sqlite_default):
    with pytest.raises(grading.GradingError) as excinfo:
        grading.require_released(tmp_path, "01_tokenization")
    assert "make release" in _message(excinfo)
    assert str(tmp_path / "gradebook.db") in _message(excinfo)


def test_db_url_honours_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_DB_URL", raising=False)
    assert grading.db_url(tmp_path) == f"sqlite:///{tmp_path}/gradebook.db"
    assert grading.sqlite_path(grading.db_url(tmp_path)) == tmp_path / "gradebook.db"
    monkeypatch.setenv("COURSE_DB_URL", "postgresql://grader@db.example/lesson5")
    assert grading.db_url(tmp_path) == "postgresql://grader@db.example/lesson5"
    assert grading.sqlite_path(grading.db_url(tmp_path)) is None


@pytest.mark.parametrize("url", [None, "postgresql://grader@db.example/lesson5"])
def test_db_url_same_rule_as_nbgrader_config(monkeypatch, url):
    if url is None:
        monkeypatch.delenv("COURSE_DB_URL", raising=False)
    else:
        monkeypatch.setenv("COURSE_DB_URL", url)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the config prepends src/
    from traitlets.config import Config

    config = Config()
    path = ROOT / "nbgrader_config.py"
    namespace = {"__file__": str(path), "__name__": "nbgrader_config", "get_config": lambda: config}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    assert config.CourseDirectory.db_url == grading.db_url(ROOT)
    assert config.CourseDirectory.root == str(ROOT)


# --- grading: tables and reports -------------------------------------------------------

def _columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_score_table():
    nb1, nb2 = "01_tokenization.ipynb", "02_metrics.ipynb"
    rows = [
        grading.NotebookScore("alice", "01_tokenization", nb1, 23, 23, False),
        grading.NotebookScore("alice", "02_metrics", nb2, 10, 12, False),
        grading.NotebookScore("bob", "01_tokenization", nb1, 0, 23, False),
        grading.NotebookScore("carol", "01_tokenization", nb1, 12.5, 23, False),
        grading.NotebookScore("dave", "01_tokenization", nb1, 7, 23, True),
        grading.NotebookScore("dave", "02_metrics", nb2, 12, 12, False),
    ]
    lines = grading.score_table(rows).splitlines()
    table = {_columns(line)[0]: _columns(line)[1:] for line in lines[1:]
             if not line.startswith("*")}
    assert _columns(lines[0]) == ["student", nb1, nb2]
    assert sorted(table) == ["alice", "bob", "carol", "dave"], lines  # one line per student
    assert table["alice"] == ["23 / 23", "10 / 12"]
    assert table["bob"] == ["0 / 23", "-"]
    assert table["carol"] == ["12.5 / 23", "-"]
    assert table["dave"] == ["7 / 23 *", "12 / 12"]
    assert lines[-1] == "* needs manual grading"
    plain = grading.score_table(rows[:1])
    assert "*" not in plain and len(plain.splitlines()) == 2


def test_class_report(monkeypatch, tmp_path):
    results = {
        "alice": {"test_a": (1.0, 1.0), "test_b": (2.0, 2.0)},
        "bob": {"test_a": (0.0, 1.0), "test_b": (2.0, 2.0)},
        "carol": {"test_a": (0.0, 1.0), "test_b": (0.0, 2.0)},
    }
    monkeypatch.setattr(grading, "test_results", lambda root, assignment: results)
    monkeypatch.setattr(grading, "manual_results", lambda root, assignment: {})
    report = grading.class_report(tmp_path, "01_tokenization")
    assert "by hand" not in report  # no written answers in this assignment
    lines = report.splitlines()
    assert lines[0] == "01_tokenization: 3 submissions, mean 1.7 / 3"
    histogram_at = lines.index("autograded score histogram:")
    failing = lines[lines.index("tests failed most often:") + 1: histogram_at]
    assert [line.split() for line in failing] == [["2", "test_a"], ["1", "test_b"]]
    histogram = lines[histogram_at + 1:]
    counts = [int(line.split()[-1]) for line in histogram]
    assert sum(counts) == len(results), histogram  # every student in exactly one bin
    assert counts[0] == 1 and counts[-1] == 1  # carol (0) first bin, alice (3 / 3) last bin
    waiting = grading.ManualGrade(auto_score=None, manual_score=None, max_score=4.0,
                                  needs_manual_grade=True)
    done = grading.ManualGrade(auto_score=None, manual_score=3.0, max_score=4.0,
                               needs_manual_grade=False)
    monkeypatch.setattr(grading, "manual_results", lambda root, assignment: {
        "alice": {"essay": waiting}, "bob": {"essay": done}, "carol": {"essay": waiting}})
    assert ("written answers to grade by hand (formgrader): 2 submissions"
            in grading.class_report(tmp_path, "02_metrics").splitlines())
    monkeypatch.setattr(grading, "test_results", lambda root, assignment: {})
    assert grading.class_report(tmp_path, "02_metrics") == "02_metrics: no submissions"


# --- run mode and notebook setup --------------------------------------------------------

@pytest.mark.parametrize(("nbgrader_execution", "course_fast", "fast"), [
    (None, None, False),
    ("autograde", None, True),
    ("validate", None, True),
    ("autograde", "0", False),
    ("autograde", "off", False),
    (None, "1", True),
    (None, "true", True),
    (None, "0", False),
    (None, "", False),
])
def test_fast_mode(monkeypatch, nbgrader_execution, course_fast, fast):
    for name, value in (("NBGRADER_EXECUTION", nbgrader_execution), ("COURSE_FAST", course_fast)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert runmode.fast_mode() is fast
    assert runmode.under_nbgrader() is bool(nbgrader_execution)


@pytest.fixture
def restore_global_state():
    """setup() changes logging levels and warning filters: put them back."""
    names = ("tensorflow", "absl", "keras", "h5py", "matplotlib")
    levels = {name: logging.getLogger(name).level for name in names}
    filters = list(warnings.filters)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    warnings.filters[:] = filters
    warnings._filters_mutated()


@pytest.mark.parametrize(("nbgrader_execution", "course_fast", "fast", "grading_flag"), [
    (None, None, False, False),
    ("autograde", None, True, True),
    ("validate", "0", False, True),
    (None, "1", True, False),
])
def test_setup_settings_follow_environment(monkeypatch, restore_global_state,
                                           nbgrader_execution, course_fast, fast, grading_flag):
    for name, value in (("NBGRADER_EXECUTION", nbgrader_execution), ("COURSE_FAST", course_fast)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with warnings.catch_warnings():
        settings = notebook.setup(seed=5)
        first_random, first_numpy = random.random(), np.random.rand()
    assert (settings.fast, settings.grading, settings.colab, settings.seed) == (
        fast, grading_flag, False, 5)
    assert first_random == random.Random(5).random()
    assert first_numpy == np.random.RandomState(5).rand()


def test_setup_reports_colab(monkeypatch, restore_global_state):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    with warnings.catch_warnings():
        assert notebook.setup(seed=0).colab is True


def _warnings_after_setup(monkeypatch, nbgrader_execution: str | None) -> list[str]:
    if nbgrader_execution is None:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    else:
        monkeypatch.setenv("NBGRADER_EXECUTION", nbgrader_execution)
    saved = list(warnings.filters)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # what a fresh kernel would show
            notebook.setup(seed=0)
            warnings.warn("a plain user warning", UserWarning, stacklevel=1)
            warnings.warn("an old API", DeprecationWarning, stacklevel=1)
    finally:
        warnings.filters[:] = saved
        warnings._filters_mutated()
    return [f"{w.category.__name__}: {w.message}" for w in caught]


def test_setup_under_nbgrader_silences_every_warning(monkeypatch, restore_global_state):
    assert _warnings_after_setup(monkeypatch, "autograde") == []
    assert _warnings_after_setup(monkeypatch, "validate") == []


def test_setup_outside_nbgrader_keeps_user_warnings(monkeypatch, restore_global_state):
    # the contrast that makes the test above meaningful
    assert _warnings_after_setup(monkeypatch, None) == ["UserWarning: a plain user warning"]


# --- the Colab branch of the setup cell -------------------------------------------------

def test_there_are_source_notebooks():
    assert SOURCE_NOTEBOOKS, "source/ holds no notebook"


def _setup_header(path: Path) -> str:
    nb = notebooks.read_notebook(path)
    cells = [c for c in nb["cells"]
             if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup"]
    assert len(cells) == 1, f"{_rel(path)}: expected one setup cell, found {len(cells)}"
    source = submissions.cell_source(cells[0])
    assert notebooks.SETUP_MARKER in source, f"{_rel(path)}: setup cell lacks the marker"
    return source.split(notebooks.SETUP_MARKER, 1)[0]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _run_setup_header(path: Path, monkeypatch, colab: bool,
                      installed: bool) -> tuple[list[tuple[tuple, dict]], dict]:
    """Execute the setup cell's generated header with subprocess.run recorded."""
    calls: list[tuple[tuple, dict]] = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        return subprocess.CompletedProcess(args[0] if args else kwargs.get("args"), 0)

    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name == "attention_course" and not installed:
            return None
        return real_find_spec(name, package)

    monkeypatch.setattr(subprocess, "run", record)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    if colab:
        if "google" not in sys.modules:
            monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    namespace: dict = {"__name__": "__main__"}
    with warnings.catch_warnings():
        exec(compile(_setup_header(path), f"{path}:setup", "exec"), namespace)
    return calls, namespace


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_setup_cell_installs_the_course_package_in_colab(path, monkeypatch,
                                                         restore_global_state):
    settings = notebooks.repo_settings(ROOT)
    table = _pyproject()["tool"]["attention-course"]
    assert (settings.repository, settings.branch) == (table["repository"],
                                                      table.get("branch", "main"))
    distribution = _pyproject()["project"]["name"]
    calls, namespace = _run_setup_header(path, monkeypatch, colab=True, installed=False)
    expected = [sys.executable, "-m", "pip", "install", "--quiet",
                f"{distribution} @ git+{settings.repository}@{settings.branch}"]
    assert len(calls) == 1, f"{_rel(path)}: expected one pip command, recorded {calls}"
    args, kwargs = calls[0]
    command = args[0] if args else kwargs.get("args")
    assert list(command) == expected
    assert kwargs.get("check") is True, f"{_rel(path)}: a failed pip install must stop the cell"
    assert namespace["SETTINGS"].colab is True


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_setup_cell_installs_nothing_outside_colab(path, monkeypatch, restore_global_state):
    calls, namespace = _run_setup_header(path, monkeypatch, colab=False, installed=False)
    assert calls == [], f"{_rel(path)}: ran {calls} outside Colab"
    assert namespace["SETTINGS"].colab is False


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=_rel)
def test_setup_cell_skips_install_when_package_present(path, monkeypatch, restore_global_state):
    calls, _ = _run_setup_header(path, monkeypatch, colab=True, installed=True)
    assert calls == [], f"{_rel(path)}: reinstalled an importable package: {calls}"


def test_colab_badge_url():
    settings = notebooks.RepoSettings("https://github.com/acme/nlp-course", "dev")
    badge = notebooks.colab_badge(settings, "03_reweighing", "03_reweighing.ipynb")
    url = ("https://colab.research.google.com/github/acme/nlp-course/blob/dev/"
           "release/03_reweighing/03_reweighing.ipynb")
    assert badge.endswith(f"({url})"), badge
    assert badge.startswith("[![Open in Colab](")
    assert notebooks.BADGE_PATTERN.fullmatch(badge)


@pytest.mark.parametrize("url", ["https://github.com/acme/nlp-course.git",
                                 "https://github.com/acme/nlp-course/"])
def test_github_path_normalises_url(url):
    assert notebooks.RepoSettings(url, "main").github_path == "acme/nlp-course"


@pytest.mark.parametrize("url", ["https://gitlab.com/acme/nlp-course",
                                 "git@github.com:acme/nlp-course.git",
                                 "https://github.com/acme"])
def test_github_path_rejects_other_urls(url):
    with pytest.raises(ValueError, match="not a GitHub URL"):
        _ = notebooks.RepoSettings(url, "main").github_path


# --- submissions ------------------------------------------------------------------------

def test_solution_code_strips_markers():
    source_nb = new_notebook(cells=[
        new_markdown_cell("## Exercise"),
        _student_cell("def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n"
                      "    return x + 1\n    ### END SOLUTION\n", grade_id="f"),
        _locked_cell("check_equal(f(1), 2)"),
    ])
    assert submissions.solution_code(source_nb) == {
        "f": "def f(x):\n    \"\"\"Doc.\"\"\"\n    return x + 1\n"}


def test_solution_code_of_source_notebooks_has_no_markers():
    for path in SOURCE_NOTEBOOKS:
        nb = notebooks.read_notebook(path)
        code = submissions.solution_code(nb)
        ids = [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        assert sorted(code) == sorted(ids)  # code and written answers
        for gid, text in code.items():
            assert "SOLUTION" not in text, f"{_rel(path)}: {gid} keeps a marker"
            assert text.strip(), f"{_rel(path)}: {gid} is empty without markers"


def test_apply_mistake_rejects_an_edit_that_does_not_match():
    path = SOURCE_NOTEBOOKS[0]
    source_nb = notebooks.read_notebook(path)
    release_nb = notebooks.read_notebook(ROOT / "release" / path.parent.name / path.name)
    gid = next(iter(submissions.solution_code(source_nb)))
    mistake = submissions.Mistake(why="stale edit", breaks=frozenset(),
                                  edits={gid: [("text that is not in any solution", "x")]})
    with pytest.raises(ValueError) as excinfo:
        submissions.apply_mistake(release_nb, source_nb, mistake)
    assert gid in _message(excinfo) and "not found" in _message(excinfo)


def test_apply_mistake_edits_only_the_named_cell():
    path = SOURCE_NOTEBOOKS[0]
    source_nb = notebooks.read_notebook(path)
    release_nb = notebooks.read_notebook(ROOT / "release" / path.parent.name / path.name)
    code = submissions.solution_code(source_nb)
    gid = next(iter(code))
    first_line = code[gid].splitlines()[0]
    mistake = submissions.Mistake(why="renamed", breaks=frozenset(),
                                  edits={gid: [(first_line, first_line + "  # edited")]})
    inputs_before = copy.deepcopy((release_nb, source_nb))
    nb = submissions.apply_mistake(release_nb, source_nb, mistake)
    by_id = {submissions.grade_id(c): submissions.cell_source(c) for c in nb["cells"]}
    assert by_id[gid] == code[gid].replace(first_line, first_line + "  # edited", 1)
    for other, text in code.items():
        if other != gid:
            assert by_id[other] == text
    assert (release_nb, source_nb) == inputs_before, "apply_mistake modified its inputs"
