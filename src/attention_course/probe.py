"""What a hidden test cell uses to hand the student's results to the grader.

A hidden check never decides a grade inside the student's kernel, where the student's own
code could rewrite it. It asks for its inputs and reports what the student's functions
returned (``call`` turns an exception into a reported value)::

    for case in hidden_cases("test_softmax"):
        report(case, y=call(softmax, case["x"], axis=case["axis"]))

While grading (``COURSE_GRADING_CASES`` names the inputs file the grader put into the
sandbox) ``report`` only emits the values as output of type :data:`wire.MIME`; the grader
compares them, outside the kernel, with references it computes itself. A case that is never
reported scores 0.

In the instructor's own kernel (a source notebook run top to bottom, ``nbgrader validate``)
there is no inputs file: the cases come from the instructor's grading package and every
report is judged on the spot, so a failing hidden check raises ``AssertionError`` there.
Students never run hidden tests (the release notebooks have none), and nothing here knows
an expected value.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from . import wire

# Bound at import (before any student cell runs), as in :mod:`wire`.
_ndarray, _asarray, _allclose, _array_equal = np.ndarray, np.asarray, np.allclose, np.array_equal
_bool_, _isclose = np.bool_, math.isclose

CASES_ENV = "COURSE_GRADING_CASES"


class Case(Mapping[str, Any]):
    """The inputs of one hidden case: ``case["x"]``; ``case.label`` says what it is."""

    def __init__(
        self,
        check: str,
        index: int,
        label: str,
        inputs: dict[str, Any],
        stand_ins: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.check, self.index, self.label = check, index, label
        self._inputs = inputs
        self.stand_ins = dict(stand_ins or {})  # {function name: prepared calls}, see StandIn

    def __getitem__(self, key: str) -> Any:
        return self._inputs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inputs)

    def __len__(self) -> int:
        return len(self._inputs)

    def __repr__(self) -> str:
        return f"<hidden case {self.index} of {self.check}: {self.label}>"


_loaded: dict[str, Any] = {}


def _grading_cases(path: str) -> dict[str, list[dict[str, Any]]]:
    if path not in _loaded:
        with open(path, encoding="utf-8") as handle:
            _loaded[path] = wire.decode(json.load(handle))
    return _loaded[path]


def _instructor_checks() -> Any:
    try:
        from attention_grader import judging
    except ImportError:
        raise RuntimeError(
            "hidden tests run only while grading (the grader provides their inputs) or in the "
            "instructor's environment (`make setup` installs the grading package)."
        ) from None
    return judging


def hidden_cases(check: str) -> list[Case]:
    """The inputs of the hidden check ``check`` (the test cell's grade_id), in order."""
    path = os.environ.get(CASES_ENV)
    raw = _grading_cases(path).get(check, []) if path else _instructor_checks().cases_of(check)
    return [
        Case(
            check,
            i,
            str(c.get("label", f"case {i}")),
            dict(c.get("inputs", {})),
            dict(c.get("stand_ins") or {}),
        )
        for i, c in enumerate(raw)
    ]


def report(case: Case, **observed: Any) -> None:
    """Hand what the student's code returned for ``case`` to the grader."""
    payload = {"check": case.check, "case": case.index, "values": wire.encode(observed)}
    if os.environ.get(CASES_ENV):
        from IPython.display import display

        display({wire.MIME: payload}, raw=True)
        return
    _instructor_checks().judge_now(case.check, case.index, wire.decode(payload["values"]))


def call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, or, if it raises, a record of the exception, so that one
    failing case does not stop the others and the grader can say what went wrong."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - reported to the grader, which decides
        return wire.Raised(type(error).__name__, str(error))


class StandIn:
    """Stands in for a notebook function while another exercise is graded, from answers only.

    ``calls`` are the calls a correct solution of the graded exercise makes, each
    ``{"args": [...], "kwargs": {...}, "result": value}``, with results the grader computed
    outside the kernel: no algorithm enters the kernel, only these values. A call with other
    arguments is answered by the notebook's own function (``fallback``), as if no stand-in were
    there; without one it raises ``LookupError``. Arrays match within a tolerance, so a
    solution that computes the same arguments another way still finds its answer; a list
    matches a tuple. An entry that also names the function's parameters (``"params"``: the
    names in order, ``"defaults"``: ``{name: value}``, data only) matches a call however its
    arguments are spelled: positionally, by keyword, or a default left out.

    A sealed entry (:func:`seal_entry`) shows neither its arguments nor its result: it holds a
    digest of the arguments and the result encrypted with a key derived from them, so only a
    call with exactly those arguments opens it. Reading the table then tells nothing that
    making the calls would not.
    """

    def __init__(self, name: str, calls: list[dict[str, Any]], fallback: Any = None) -> None:
        self.__name__ = self.name = name
        self._calls = list(calls)
        self._fallback = fallback

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        canonical: dict[tuple, bytes | None] = {}
        for entry in self._calls:
            if "digest" in entry:
                opened = _open(entry, list(args), kwargs, canonical)
                if opened is not _CLOSED:
                    return opened
            elif _matches(entry, list(args), kwargs):
                return copy.deepcopy(entry.get("result"))
        if callable(self._fallback):
            return self._fallback(*args, **kwargs)
        raise LookupError(
            f"{self.name} is not defined in the notebook (the grader answers only the calls "
            "a correct solution makes)"
        )

    def __repr__(self) -> str:
        return f"<stand-in for {self.name}: {len(self._calls)} prepared answers>"


def _matches(entry: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> bool:
    """Whether a call with ``args`` and ``kwargs`` is the prepared call ``entry``."""
    params = entry.get("params")
    if not isinstance(params, (list, tuple)):
        return _same(entry.get("args", []), args) and _same(entry.get("kwargs", {}), kwargs)
    defaults = entry.get("defaults") or {}
    want = _bind(params, defaults, list(entry.get("args", [])), dict(entry.get("kwargs", {})))
    given = _bind(params, defaults, args, kwargs)
    return want is not None and given is not None and _same(want, given)


_CLOSED = object()
_DIGEST, _KEY = b"attention-course stand-in digest\0", b"attention-course stand-in key\0"


class Unsealable(ValueError):
    """Arguments that have no exact canonical form (non-integral floats, objects)."""


def _canonical(value: Any, depth: int = 0) -> Any:
    """A JSON-ready form of ``value`` that is equal for equal arguments however they are held:
    tuples and lists alike, arrays as nested lists, booleans as 0/1, integral floats as ints,
    dicts as sorted pairs."""
    if depth > 32:
        raise Unsealable("nested too deep")
    if value is None or isinstance(value, _SCALARS):
        return _canonical_scalar(value)
    if isinstance(value, _ndarray):
        if value.dtype.kind not in "biufUSO":
            raise Unsealable(f"an array of dtype {value.dtype}")
        return _canonical(value.tolist(), depth + 1)  # strings and objects checked one by one
    if isinstance(value, (list, tuple)):
        return [_canonical(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        pairs = [[_canonical(k, depth + 1), _canonical(v, depth + 1)] for k, v in value.items()]
        return {"d": sorted(pairs, key=lambda pair: json.dumps(pair[0]))}
    return _canonical(_tensor_array(value), depth + 1)


_SCALARS = (str, bytes, bool, _bool_, int, np.integer, float, np.floating)


def _canonical_scalar(value: Any) -> Any:
    """The canonical form of ``None`` or an instance of one of :data:`_SCALARS`."""
    if value is None or isinstance(value, str):
        return None if value is None else ["s", str.__str__(value)]
    if isinstance(value, bytes):  # a string from a tensor (TensorFlow holds UTF-8 bytes)
        try:
            return ["s", bytes.decode(value, "utf-8")]
        except UnicodeDecodeError:
            raise Unsealable("bytes that are not UTF-8") from None
    if isinstance(value, (bool, _bool_)):
        return int(bool(value))
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    if math.isfinite(number) and number.is_integer():
        return int(number)
    raise Unsealable("a float that is not an integer")


def _tensor_array(value: Any) -> np.ndarray:
    """The array a tensor holds (through ``__array__``); :class:`Unsealable` for anything else."""
    if callable(getattr(value, "__array__", None)):
        try:
            array = _asarray(value)
        except Exception:  # noqa: BLE001 - anything that is not an array cannot be sealed
            raise Unsealable(f"a {type(value).__name__}") from None
        if isinstance(array, _ndarray) and array.dtype.kind in "biufUSO":
            return array
    raise Unsealable(f"a {type(value).__name__}")


def _canonical_call(
    params: list[str],
    defaults: dict[str, Any],
    args: list[Any],
    kwargs: dict[str, Any],
    floats: dict[str, Any] | None = None,
) -> bytes | None:
    """The canonical bytes of a call (None if it cannot be bound or held exactly); the
    parameters in ``floats`` are float arrays, held by their quantized projections."""
    bound = _bind(params, defaults, args, kwargs)
    if bound is None:
        return None
    form: dict[str, Any] = {}
    try:
        for name in params:
            if floats and name in floats:
                form[name] = {"f": _quantized(bound[name], floats[name])}
            else:
                form[name] = _canonical(bound[name])
    except (Unsealable, TypeError, ValueError, OverflowError, RecursionError, KeyError):
        return None
    return json.dumps(form, sort_keys=True, separators=(",", ":")).encode()


def _keystream(key: bytes, n: int) -> bytes:
    blocks = (hashlib.sha256(key + i.to_bytes(8, "big")).digest() for i in range(n // 32 + 1))
    return b"".join(blocks)[:n]


_PROJECTIONS, _GRID = 4, 4e-6


def _float_values(value: Any) -> np.ndarray:
    try:
        array = _asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as error:
        raise Unsealable(f"not a numeric array ({error})") from None
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise Unsealable("an empty or non-finite float array")
    return array


def _projections(array: np.ndarray, seed: str) -> np.ndarray:
    """``_PROJECTIONS`` sums of the array's values with signs (+1/-1) drawn from ``seed``."""
    n = array.size
    bits = np.unpackbits(
        np.frombuffer(_keystream(seed.encode(), _PROJECTIONS * n // 8 + 1), np.uint8)
    )
    signs = bits[: _PROJECTIONS * n].reshape(_PROJECTIONS, n).astype(np.float64) * 2 - 1
    return signs @ array.ravel()


# A score at or below this (or -inf) is a blocked one (masked attention): held by where it is,
# not by its value, so -1e9, -1e30 and -inf are alike, and the grid is that of the other values.
_BLOCKED = -1e8


def _blocked_values(value: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(values with the blocked ones as 0, where they are)`` of a float array that may hold
    -inf (NaN and +inf cannot be sealed)."""
    try:
        array = _asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as error:
        raise Unsealable(f"not a numeric array ({error})") from None
    if array.size == 0 or np.any(np.isnan(array)) or np.any(np.isposinf(array)):
        raise Unsealable("an empty array, or one with NaN or +inf")
    blocked = array <= _BLOCKED
    return np.where(blocked, 0.0, array), blocked


def _quantized(value: Any, spec: dict[str, Any]) -> list[int]:
    """The cells of ``value``'s projections on the grid of ``spec`` (see :func:`seal_entry`);
    with ``"blocked"`` in ``spec``, those of its other values, then where its blocked ones are."""
    if spec.get("blocked"):
        array, blocked = _blocked_values(value)
    else:
        array, blocked = _float_values(value), None
    if list(array.shape) != list(spec["shape"]):
        raise Unsealable("another shape")
    offsets = _asarray(spec["offsets"], dtype=np.float64)
    cells = np.floor((_projections(array, spec["seed"]) - offsets) / float(spec["grid"]))
    where = [] if blocked is None else np.packbits(blocked.ravel()).tolist()
    return [int(c) for c in cells] + [int(b) for b in where]


def _new_quantization(
    array: np.ndarray, seed: str, coarse: float = 0.0
) -> tuple[dict[str, Any], list[int]]:
    """A grid for the projections of ``array`` whose cells have each projection at their
    centre: the same array computed another way (float32, another order of operations) falls
    into the same cells, a different one does not. Only the offsets of the projections
    within a cell are stored, never the projections."""
    blocked = array <= _BLOCKED
    values = np.where(blocked, 0.0, array)  # blocked scores count by where they are only
    projections = _projections(values, seed)
    grid = max(_GRID * max(float(np.abs(values).sum()), 1e-9), coarse * math.sqrt(array.size))
    offsets = np.mod(projections - grid / 2, grid)
    spec = {"shape": list(array.shape), "seed": seed, "grid": grid, "offsets": offsets.tolist()}
    if blocked.any():
        spec["blocked"] = True
    return spec, _quantized(array, spec)


def seal_entry(entry: dict[str, Any], coarse: float = 0.0) -> dict[str, Any]:
    """``entry`` (with ``params``) sealed: a digest of its arguments and its result encrypted
    with a key derived from them, no arguments or result in the clear, so only a call with
    those arguments opens it. Exact values (ints, strings, integral floats, containers) are
    held exactly; a float array by a few of its projections quantized on a fine grid (equal
    within about 2e-6 of the sum of its absolute values; ``coarse``, if larger, widens the
    grid to ``coarse * sqrt(size)``, for arrays computed in float32 by a whole model). Values
    at or below -1e8 and -inf in a float array (blocked scores) are held by where they are,
    not by their value. Raises :class:`Unsealable` when an argument is neither (an object,
    NaN)."""
    params, defaults = list(entry["params"]), dict(entry.get("defaults") or {})
    bound = _bind(params, defaults, list(entry["args"]), dict(entry["kwargs"]))
    if bound is None:
        raise Unsealable("the arguments do not fit the parameters")
    form: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name in params:
        try:
            form[name] = _canonical(bound[name])
        except Unsealable:
            arrays[name] = _float_values(bound[name])
    floats = {}
    exact = json.dumps(form, sort_keys=True).encode()
    for name, array in arrays.items():
        seed = hashlib.sha256(exact + name.encode()).hexdigest()
        floats[name], cells = _new_quantization(array, seed, coarse)
        form[name] = {"f": cells}
    call = json.dumps(form, sort_keys=True, separators=(",", ":")).encode()
    plain = json.dumps(wire.encode(entry["result"])).encode()
    key = hashlib.sha256(_KEY + call).digest()
    box = bytes(a ^ b for a, b in zip(plain, _keystream(key, len(plain)), strict=True))
    sealed = {
        "params": params,
        "defaults": defaults,
        "digest": hashlib.sha256(_DIGEST + call).hexdigest(),
        "box": base64.b64encode(box).decode("ascii"),
    }
    if floats:
        sealed["floats"] = floats
    return sealed


def _open(
    entry: dict[str, Any],
    args: list[Any],
    kwargs: dict[str, Any],
    canonical: dict[tuple, bytes | None],
) -> Any:
    """The result sealed in ``entry`` if the call has its arguments, else ``_CLOSED``."""
    params, defaults = entry.get("params"), entry.get("defaults") or {}
    floats = entry.get("floats") or {}
    if not isinstance(params, list) or not isinstance(defaults, dict):
        return _CLOSED
    if floats:  # quantized on this entry's own grid
        call = _canonical_call(params, defaults, args, kwargs, floats)
    else:
        signature = (tuple(params), json.dumps(wire.encode(defaults), sort_keys=True))
        if signature not in canonical:
            canonical[signature] = _canonical_call(params, defaults, args, kwargs)
        call = canonical[signature]
    if call is None or hashlib.sha256(_DIGEST + call).hexdigest() != entry["digest"]:
        return _CLOSED
    box = base64.b64decode(entry["box"])
    key = hashlib.sha256(_KEY + call).digest()
    plain = bytes(a ^ b for a, b in zip(box, _keystream(key, len(box)), strict=True))
    return wire.decode(json.loads(plain))


def _bind(
    params: list[str], defaults: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """``{parameter: value}`` of a call, as Python binds it (None if it cannot be bound)."""
    if len(args) > len(params):
        return None
    bound = dict(zip(params, args, strict=False))
    for name, value in kwargs.items():
        if name not in params or name in bound:
            return None
        bound[name] = value
    for name in params:
        if name not in bound:
            if name not in defaults:
                return None
            bound[name] = defaults[name]
    return bound


def _same(expected: Any, given: Any) -> bool:
    """Whether ``given`` (from the student's code) matches ``expected`` (decoded wire data)."""
    try:
        if isinstance(expected, _ndarray):
            array = _asarray(given)
            if array.shape != expected.shape:
                return False
            if expected.dtype.kind in "fc" or array.dtype.kind in "fc":
                return bool(_allclose(array, expected, rtol=1e-5, atol=1e-6))
            return bool(_array_equal(array, expected))
        if isinstance(expected, dict):
            if not isinstance(given, Mapping) or len(given) != len(expected):
                return False
            return all(k in given and _same(v, given[k]) for k, v in expected.items())
        if isinstance(expected, (list, tuple)):
            if isinstance(given, (str, bytes, Mapping)) or len(given) != len(expected):
                return False
            return all(_same(e, g) for e, g in zip(expected, given, strict=True))
        if isinstance(expected, bool) or expected is None:
            return given is expected or (isinstance(given, _bool_) and bool(given) is expected)
        if isinstance(expected, float):
            return bool(_isclose(float(given), expected, rel_tol=1e-6, abs_tol=1e-9))
        if isinstance(expected, int):
            return not isinstance(given, bool) and int(given) == expected and given == expected
        return type(given) is type(expected) and given == expected
    except Exception:  # noqa: BLE001 - anything that cannot be compared does not match
        return False


@contextlib.contextmanager
def standing_in(namespace: dict[str, Any], **replacements: Any) -> Iterator[None]:
    """Let ``replacements`` stand in for the notebook's functions of the same names while
    one exercise is graded, so that a mistake in another exercise does not cost it points.
    A replacement given as a list of prepared calls (``case.stand_ins``) becomes a
    :class:`StandIn` answering from them, falling back to the notebook's own function.
    The notebook's own functions are put back afterwards."""
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    for name, value in replacements.items():
        if isinstance(value, list):
            own = saved[name]
            value = StandIn(name, value, None if own is missing else own)
        namespace[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value
