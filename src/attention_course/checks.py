"""Assertion helpers used by the notebooks' test cells.

One place decides tolerances, dtype handling and the wording of feedback. Each
helper raises ``AssertionError`` with a message that says what was expected, what
came, and (when given) the likely mistake.

Hardening: the numeric functions used here are bound when this module is imported
(by the locked setup cell, before any student cell runs). A student cell that later
rebinds ``np.allclose``, ``np.testing.assert_allclose``, ``np.asarray``, builtins
such as ``abs`` or ``len``, or ``tf.debugging.*`` cannot change a verdict, and the
public names of this module cannot be reassigned (``checks.check_close = ...``
raises). Test cells import the helpers they use at their top, so rebinding a name in
the notebook's namespace does not reach them either.
"""

from __future__ import annotations

import builtins as _builtins
import sys as _sys
import types as _types
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as _np

from . import wire as _wire

# --- references taken at import time, before any student code runs -------------
_asarray = _np.asarray
_array = _np.array
_isclose = _np.isclose
_isfinite = _np.isfinite
_abs = _np.abs
_max = _np.max
_argmax = _np.argmax
_all = _np.all
_any = _np.any
_sum = _np.sum
_unravel_index = _np.unravel_index
_array_equal = _np.array_equal
_float64 = _np.float64
_ndarray = _np.ndarray
_issubdtype = _np.issubdtype
_number = _np.number
_bool_ = _np.bool_
_array2string = _np.array2string
_len = _builtins.len
_isinstance = _builtins.isinstance
_tuple = _builtins.tuple
_list = _builtins.list
_int = _builtins.int
_float = _builtins.float
_str = _builtins.str
_repr = _builtins.repr
_hasattr = _builtins.hasattr
_getattr = _builtins.getattr
_sorted = _builtins.sorted
_zip = _builtins.zip
_range = _builtins.range
_AssertionError = _builtins.AssertionError
_TypeError = _builtins.TypeError
_Exception = _builtins.Exception
_AttributeError = _builtins.AttributeError
_NotImplementedError = _builtins.NotImplementedError
_callable = _builtins.callable
_type = _builtins.type
_all_true = _builtins.all
_enumerate = _builtins.enumerate
_dict = _builtins.dict
_any_true = _builtins.any
_encode = _wire.encode
_decode = _wire.decode


def _plain(value: Any) -> Any:
    """``value`` as plain data (built-in types, NumPy arrays), read without calling any
    method a subclass could override: an object that claims to equal everything does not."""
    try:
        return _decode(_encode(value))
    except _Exception:
        return value


__all__ = [
    "to_numpy",
    "fail",
    "check_true",
    "check_type",
    "check_shape",
    "check_close",
    "check_equal",
    "check_sums_to_one",
    "check_finite",
    "check_raises",
    "check_not_implemented_stub",
]


def _with_hint(message: str, hint: str | None) -> str:
    return message if not hint else f"{message}\nHint: {hint}"


def fail(message: str, hint: str | None = None) -> None:
    """Raise ``AssertionError`` with ``message`` (and a hint on the likely mistake)."""
    raise _AssertionError(_with_hint(message, hint))


def to_numpy(value: Any, name: str = "value") -> Any:
    """Convert a NumPy array, a TensorFlow/Keras tensor, a list or a scalar to NumPy.

    Accepts float32 and float64 alike. Raises ``AssertionError`` for ``None`` (a
    function that forgot to ``return``) or objects that are not array-like.
    """
    if value is None:
        fail(f"{name} is None.", "did your function forget a `return` statement?")
    if _isinstance(value, _ndarray):
        return value
    numpy_method = _getattr(value, "numpy", None)  # tf.Tensor, tf.Variable
    if numpy_method is not None and _callable(numpy_method):
        try:
            return _asarray(numpy_method())
        except _Exception:  # pragma: no cover - symbolic tensors
            pass
    try:
        result = _asarray(value)
    except _Exception as error:
        fail(f"{name} could not be read as an array ({_type(value).__name__}: {error}).")
    if result.dtype == object:
        fail(f"{name} is not a numeric array (got an object array from {_type(value).__name__}).")
    return result


def check_true(condition: Any, message: str, hint: str | None = None) -> None:
    """Fail with ``message`` unless ``condition`` is truthy."""
    if not condition:
        fail(message, hint)


def check_type(
    value: Any, expected: type | tuple[type, ...], name: str = "value", hint: str | None = None
) -> None:
    """Check ``isinstance(value, expected)``."""
    if not _isinstance(value, expected):
        names = (
            ", ".join(t.__name__ for t in expected)
            if _isinstance(expected, _tuple)
            else expected.__name__
        )
        fail(f"{name} should be of type {names}, got {_type(value).__name__}.", hint)


def _shape_of(value: Any, name: str) -> tuple[int, ...]:
    shape = _getattr(value, "shape", None)
    if shape is None:
        return _tuple(to_numpy(value, name).shape)
    return _tuple(None if d is None else _int(d) for d in shape)


def check_shape(
    value: Any, expected: Sequence[int | None], name: str = "output", hint: str | None = None
) -> None:
    """Check the shape of an array/tensor. ``None`` in ``expected`` matches any size."""
    got = _shape_of(value, name)
    want = _tuple(expected)
    ok = _len(got) == _len(want) and _all_true(w is None or g == w for g, w in _zip(got, want))
    if not ok:
        extra = ""
        if _len(got) == _len(want) and _sorted(_str(g) for g in got) == _sorted(
            _str(w) for w in want
        ):
            extra = " (same sizes in a different order: are two axes swapped or transposed?)"
        elif _len(got) != _len(want):
            extra = f" ({_len(want)} axes expected, {_len(got)} found)"
        fail(f"{name}: expected shape {want}, got {got}{extra}.", hint)


def _describe_mismatch(got: Any, want: Any, rtol: float, atol: float) -> str:
    close = _isclose(got, want, rtol=rtol, atol=atol, equal_nan=False)
    bad = ~close
    n_bad = _int(_sum(bad))
    diff = _array(_abs(got.astype(_float64) - want.astype(_float64)), dtype=_float64)
    diff[~_isfinite(diff)] = _float64("inf")
    worst = _unravel_index(_int(_argmax(diff)), diff.shape) if diff.ndim else ()
    where = f" at index {_tuple(_int(i) for i in worst)}" if worst else ""
    msg = (
        f"{n_bad} of {got.size} values differ (rtol={rtol:g}, atol={atol:g}); "
        f"largest difference {_float(_max(diff)):.3g}{where}: "
        f"expected {_float(want[worst]) if worst else _float(want):.6g}, "
        f"got {_float(got[worst]) if worst else _float(got):.6g}."
    )
    if got.size <= 24:
        msg += f"\nexpected:\n{_show(want)}\ngot:\n{_show(got)}"
    return msg


def _show(array: Any) -> str:
    """Format a small array for a message; never let formatting hide the verdict.

    ``np.array2string`` is Python code that looks up builtins at call time, so a
    student cell that rebinds one (``len``, ``max``...) could make it raise. The
    fallback uses only C-level methods.
    """
    try:
        return _array2string(array, precision=4)
    except _Exception:
        try:
            return _repr(array.round(4).tolist())
        except _Exception:
            return "<array could not be formatted>"


def check_close(
    value: Any,
    expected: Any,
    name: str = "output",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    hint: str | None = None,
) -> None:
    """Check values are close to ``expected`` (shape first, then values).

    Accepts NumPy arrays, tensors, lists and scalars, float32 or float64.
    """
    got = to_numpy(value, name)
    want = to_numpy(expected, "expected")
    check_shape(got, want.shape, name, hint)
    if not (_issubdtype(got.dtype, _number) or got.dtype == _bool_):
        fail(f"{name}: expected numbers, got dtype {got.dtype}.", hint)
    if _any(~_isfinite(got.astype(_float64))) and not _array_equal(
        ~_isfinite(got.astype(_float64)), ~_isfinite(want.astype(_float64))
    ):
        fail(f"{name} contains NaN or inf where finite values were expected.", hint)
    if not _all(_isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)):
        fail(f"{name}: {_describe_mismatch(got, want, rtol, atol)}", hint)


def check_equal(value: Any, expected: Any, name: str = "output", hint: str | None = None) -> None:
    """Check exact equality for plain Python values (ints, strings, lists, dicts, tuples).

    Arrays/tensors are compared element-wise (exactly) after conversion to NumPy. Both
    values are first read as plain data, so a student's object cannot fake equality.
    """
    value, expected = _plain(value), _plain(expected)
    is_array = _isinstance(value, _ndarray) or _hasattr(value, "numpy")
    if is_array or _isinstance(expected, _ndarray):
        got = to_numpy(value, name)
        want = to_numpy(expected, "expected")
        check_shape(got, want.shape, name, hint)
        if not _array_equal(got, want):
            fail(f"{name}: expected {want.tolist()!r}, got {got.tolist()!r}.", hint)
        return
    if _isinstance(expected, (_list, _tuple)) and _isinstance(value, (_list, _tuple)):
        if _len(value) != _len(expected):
            fail(
                f"{name}: expected {_len(expected)} items, got {_len(value)}.\n"
                f"expected: {_repr(expected)}\ngot:      {_repr(value)}",
                hint,
            )
        for i, (g, w) in _enumerate(_zip(value, expected)):
            if g != w:
                fail(
                    f"{name}: first difference at position {i}: expected {w!r}, got {g!r}.\n"
                    f"expected: {_repr(expected)}\ngot:      {_repr(value)}",
                    hint,
                )
        return
    if _isinstance(expected, _dict) and _isinstance(value, _dict):
        missing = [k for k in expected if k not in value]
        extra = [k for k in value if k not in expected]
        wrong = [k for k in expected if k in value and value[k] != expected[k]]
        if missing or extra or wrong:
            parts = []
            if missing:
                parts.append(f"missing keys {missing[:8]!r}")
            if extra:
                parts.append(f"unexpected keys {extra[:8]!r}")
            for k in wrong[:5]:
                parts.append(f"[{k!r}]: expected {expected[k]!r}, got {value[k]!r}")
            fail(f"{name}: " + "; ".join(parts) + ".", hint)
        return
    if value != expected:
        fail(f"{name}: expected {expected!r}, got {value!r}.", hint)


def check_sums_to_one(
    value: Any, axis: int = -1, name: str = "weights", atol: float = 1e-5, hint: str | None = None
) -> None:
    """Check that values are in [0, 1] and sum to 1 along ``axis`` (softmax rows)."""
    got = to_numpy(value, name).astype(_float64)
    if _any(~_isfinite(got)):
        fail(f"{name} contains NaN or inf.", hint)
    if _any(got < -atol) or _any(got > 1 + atol):
        fail(
            f"{name}: probabilities must lie in [0, 1]; found min {got.min():.4g}, "
            f"max {got.max():.4g}.",
            hint,
        )
    sums = _sum(got, axis=axis)
    if not _all(_abs(sums - 1.0) <= atol):
        worst = _float(_max(_abs(sums - 1.0)))
        fail(
            f"{name}: each slice along axis {axis} should sum to 1; the worst sums to "
            f"{1.0 + worst if _any(sums > 1) else 1.0 - worst:.4g}.",
            hint,
        )


def check_finite(value: Any, name: str = "output", hint: str | None = None) -> None:
    """Check that no value is NaN or infinite."""
    got = to_numpy(value, name).astype(_float64)
    if _any(~_isfinite(got)):
        fail(f"{name} contains NaN or inf ({_int(_sum(~_isfinite(got)))} values).", hint)


def check_raises(
    func: Callable[..., Any],
    args: Iterable[Any] = (),
    expected: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    name: str = "call",
    hint: str | None = None,
) -> None:
    """Check that ``func(*args)`` raises ``expected``."""
    try:
        func(*_tuple(args))
    except expected:
        return
    except _Exception as error:  # wrong kind of error
        fail(
            f"{name}: expected {expected} to be raised, got {_type(error).__name__}: {error}", hint
        )
    fail(f"{name}: expected an exception ({expected}), but nothing was raised.", hint)


def check_not_implemented_stub(func: Callable[..., Any], *args: Any) -> None:
    """Fail with a friendly message if ``func`` is still the unimplemented stub."""
    try:
        func(*args)
    except _NotImplementedError:
        fail(
            f"{_getattr(func, '__name__', 'this function')} is not implemented yet: "
            "replace `raise NotImplementedError()` with your code."
        )
    except _Exception:
        return


class _SealedModule(_types.ModuleType):
    """Module type whose public helpers cannot be reassigned from a notebook."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in __all__ or (name.startswith("_") and not name.startswith("__")):
            raise _AttributeError(
                f"attention_course.checks.{name} is read-only: the grading helpers "
                "cannot be replaced."
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        raise _AttributeError(f"attention_course.checks.{name} cannot be deleted.")


_sys.modules[__name__].__class__ = _SealedModule
