"""attention_course.checks: the assertions of the visible test cells.

Every helper with a right and a wrong input, the wording of its feedback, and its
hardening against a student cell that rebinds numpy or builtins, or hands in an object
that claims to equal everything. No kernel: the helpers are called in-process.
"""

from __future__ import annotations

import builtins

import numpy as np
import numpy.testing
import pytest

from attention_course import checks

# Taken before any test rebinds builtins: the exception the helpers must raise.
REAL_ASSERTION_ERROR = builtins.AssertionError


def _message(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


class FakeTensor:
    """Quacks like a TensorFlow eager tensor: ``.shape`` (may hold None), ``.numpy()`` and
    ``__array__`` (``tf.Tensor`` and ``tf.Variable`` have both)."""

    def __init__(self, values, shape=None):
        self._values = np.asarray(values)
        self.shape = tuple(self._values.shape) if shape is None else shape

    def numpy(self):
        return self._values

    def __array__(self, dtype=None, copy=None):
        return self._values if dtype is None else self._values.astype(dtype)


# --- to_numpy, fail, check_true, check_type ---------------------------------------------


def test_to_numpy_accepts_arrays_lists_scalars_and_tensors():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert checks.to_numpy(array) is array  # no copy for arrays
    np.testing.assert_array_equal(checks.to_numpy([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]]))
    assert checks.to_numpy(2.5).shape == ()
    got = checks.to_numpy(FakeTensor([[1.0, 2.0]]))
    assert isinstance(got, np.ndarray) and got.tolist() == [[1.0, 2.0]]


def test_to_numpy_of_none_says_a_return_is_missing():
    with pytest.raises(AssertionError) as excinfo:
        checks.to_numpy(None, name="vocab")
    assert "vocab is None" in _message(excinfo)
    assert "forget a `return`" in _message(excinfo)


@pytest.mark.parametrize("value", [[[1, 2], [3]], {"a": 1}], ids=["ragged", "dict"])
def test_to_numpy_rejects_what_is_not_an_array(value):
    with pytest.raises(AssertionError) as excinfo:
        checks.to_numpy(value, name="scores")
    message = _message(excinfo)
    assert "scores" in message
    assert "could not be read as an array" in message or "not a numeric array" in message


def test_fail_adds_the_hint_on_its_own_line():
    with pytest.raises(AssertionError) as excinfo:
        checks.fail("wrong answer", hint="look at axis 1")
    assert _message(excinfo) == "wrong answer\nHint: look at axis 1"
    with pytest.raises(AssertionError) as excinfo:
        checks.fail("wrong answer")
    assert _message(excinfo) == "wrong answer"


def test_check_true_fails_only_on_a_falsy_condition():
    checks.check_true(1 == 1, "never shown")
    with pytest.raises(AssertionError, match="^rows must be sorted\nHint: use sorted$"):
        checks.check_true([], "rows must be sorted", hint="use sorted")


def test_check_type_names_expected_and_got():
    checks.check_type({"a": 1}, dict, name="vocab")
    checks.check_type(3, (float, int), name="count")
    with pytest.raises(AssertionError) as excinfo:
        checks.check_type([1], dict, name="vocab")
    assert "vocab should be of type dict, got list" in _message(excinfo)
    with pytest.raises(AssertionError) as excinfo:
        checks.check_type("3", (float, int), name="count")
    assert "float, int" in _message(excinfo) and "got str" in _message(excinfo)


# --- check_shape ------------------------------------------------------------------------


def test_check_shape_passes_on_right_shape_and_wildcards():
    checks.check_shape(np.zeros((2, 5, 8)), (2, 5, 8))
    checks.check_shape(np.zeros((2, 5, 8)), [None, 5, None])
    checks.check_shape([[1, 2, 3], [4, 5, 6]], (2, 3))
    checks.check_shape(FakeTensor(np.zeros((4, 3)), shape=(None, 3)), (None, 3))


def test_check_shape_hints_at_swapped_axes():
    with pytest.raises(AssertionError) as excinfo:
        checks.check_shape(np.zeros((2, 3)), (3, 2), name="scores")
    message = _message(excinfo)
    assert "expected shape (3, 2), got (2, 3)" in message
    assert "swapped or transposed" in message


def test_check_shape_counts_axes_and_gives_no_swap_hint_for_other_sizes():
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


# --- check_close ------------------------------------------------------------------------


def test_check_close_accepts_dtypes_lists_and_tensors():
    expected = np.array([[0.1, 0.2, 0.3], [1.0 / 3.0, 2.0 / 3.0, 1e-7]])
    checks.check_close(expected.astype(np.float32), expected)  # float32 vs float64
    checks.check_close(expected, expected.astype(np.float32))
    checks.check_close(expected.tolist(), expected)
    checks.check_close(FakeTensor(expected.astype(np.float32)), expected)
    checks.check_close(3, 3.0)
    checks.check_close(np.array([1.0, np.nan]), np.array([1.0, np.nan]))  # same NaN positions
    checks.check_close(np.array([True, False]), np.array([1.0, 0.0]))


def test_check_close_names_the_worst_value_expected_and_got():
    with pytest.raises(AssertionError) as excinfo:
        checks.check_close(
            [1.0, 2.0, 3.0],
            [1.0, 2.0, 3.5],
            name="attention output",
            hint="did you scale by sqrt(d_k)?",
        )
    message = _message(excinfo)
    assert message.startswith("attention output: 1 of 3 values differ")
    assert "at index (2,)" in message
    assert "expected 3.5" in message and "got 3" in message
    assert "Hint: did you scale by sqrt(d_k)?" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.0, 2.0), (np.float32(1.0), np.array(2.0)), (np.array(1.0), 2)],
    ids=["floats", "float32-vs-0d-array", "0d-array-vs-int"],
)
def test_check_close_of_two_mismatching_scalars_gives_the_normal_message(value, expected):
    # A scalar difference is a NumPy scalar, not an array: the message used to crash on it.
    with pytest.raises(AssertionError) as excinfo:
        checks.check_close(value, expected, name="loss")
    assert type(excinfo.value) is REAL_ASSERTION_ERROR
    message = _message(excinfo)
    assert message.startswith("loss: 1 of 1 values differ"), message
    assert "largest difference 1: expected 2, got 1." in message
    assert "at index" not in message  # a scalar has no index


def test_check_close_checks_shape_first_then_non_finite_then_values():
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


# --- check_equal ------------------------------------------------------------------------


def test_check_equal_accepts_equal_plain_values():
    checks.check_equal([2, 3, 4, 1], [2, 3, 4, 1])
    checks.check_equal({"a": 2, "b": 3}, {"b": 3, "a": 2})
    checks.check_equal("low", "low")
    checks.check_equal((1, 2), [1, 2])  # a tuple where a list is expected is accepted
    checks.check_equal(np.array([1, 2]), [1, 2])
    checks.check_equal(FakeTensor([1, 2]), np.array([1, 2]))


def test_check_equal_messages_locate_the_difference():
    with pytest.raises(AssertionError) as excinfo:
        checks.check_equal([2, 3, 4, 0], [2, 3, 4, 1], name="encode(...)")
    assert "first difference at position 3: expected 1, got 0" in _message(excinfo)
    with pytest.raises(AssertionError, match="expected 3 items, got 2"):
        checks.check_equal(["a", "b"], ["a", "b", "c"])
    with pytest.raises(AssertionError) as excinfo:
        checks.check_equal({"<pad>": 1, "x": 2, "y": 3}, {"<pad>": 0, "x": 2, "z": 4}, name="vocab")
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


class AgreeableList(list):
    """A list that claims to equal anything, and shows the right answer when read naively."""

    RIGHT = [1, 2, 4]

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = None

    def __len__(self):
        return len(self.RIGHT)

    def __iter__(self):
        return iter(self.RIGHT)

    def __getitem__(self, index):
        return self.RIGHT[index]


class AgreeableInt(int):
    """An int that claims to equal anything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


class AgreeableDict(dict):
    """A dict that claims to equal anything, and shows the right answer when read naively."""

    RIGHT = {"a": 2}

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = None

    def __contains__(self, key):
        return True

    def __getitem__(self, key):
        return self.RIGHT[key]

    def __iter__(self):
        return iter(self.RIGHT)

    def __len__(self):
        return len(self.RIGHT)

    def keys(self):
        return self.RIGHT.keys()

    def items(self):
        return self.RIGHT.items()

    def values(self):
        return self.RIGHT.values()


@pytest.mark.parametrize(
    ("value", "expected", "needle"),
    [
        (AgreeableList([1, 2, 3]), [1, 2, 4], "first difference at position 2: expected 4, got 3"),
        (AgreeableInt(3), 4, "expected 4, got 3"),
        (AgreeableDict({"a": 1}), {"a": 2}, "['a']: expected 2, got 1"),
        ([AgreeableInt(3)], [4], "first difference at position 0: expected 4, got 3"),
        ({"a": AgreeableInt(1)}, {"a": 2}, "['a']: expected 2, got 1"),
    ],
    ids=["list-subclass", "int-subclass", "dict-subclass", "int-subclass-in-list", "in-dict"],
)
def test_check_equal_is_not_fooled_by_a_subclass_that_agrees_with_everything(
    value, expected, needle
):
    # the premise: compared naively, each of these passes for the expected value
    assert value == expected and not (value != expected)
    with pytest.raises(AssertionError) as excinfo:
        checks.check_equal(value, expected, name="answer")
    assert needle in _message(excinfo)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AgreeableList([1, 2, 4]), [1, 2, 4]),
        (AgreeableInt(4), 4),
        (AgreeableDict({"a": 2}), {"a": 2}),
    ],
    ids=["list-subclass", "int-subclass", "dict-subclass"],
)
def test_check_equal_accepts_a_subclass_holding_the_right_value(value, expected):
    checks.check_equal(value, expected)


# --- check_sums_to_one, check_finite, check_raises, check_not_implemented_stub ----------


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


def test_check_finite_counts_non_finite_values():
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


def test_check_not_implemented_stub_fails_only_on_the_stub():
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


# --- hardening against rebinding, proven in-process --------------------------------------

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
    ("check_close scalar", "check_close", (1.0, 2.0)),
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
    (
        "check_close float32",
        "check_close",
        (np.array([0.1, 0.2], dtype=np.float32), np.array([0.1, 0.2])),
    ),
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
            problems.append(
                f"{label}: {case} raised {type(error).__name__}: "
                f"{str(error)[:120]!r} instead of the real AssertionError"
            )
    for case, error in right.items():
        if error is not None:
            problems.append(
                f"{label}: {case} FAILED a right answer with "
                f"{type(error).__name__}: {str(error)[:120]!r}"
            )
    return problems


def test_the_cases_are_judged_right_without_any_lie():
    # the baseline that makes the tests below meaningful
    problems = _judge(_run_cases(_WRONG), _run_cases(_RIGHT), "without a lie")
    assert not problems, "\n".join(problems)


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
