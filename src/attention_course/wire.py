"""Plain data between a grading kernel and the grader (both directions).

During grading, hidden checks receive their inputs from the grader and send back what the
student's code returned. Both travel as JSON made of plain values only: ``None``, ``bool``,
``int``, ``float``, ``str``, lists, and tagged objects for tuples, dicts and NumPy arrays
(raw little-endian bytes, base64). Nothing is pickled, so decoding never runs code.

``encode`` runs inside the student's kernel and reads values through the C-level methods of
the built-in types (``int.__add__(x, 0)``, ``str.__str__(x)``...), so a subclass that
overrides ``__eq__`` or ``__int__`` is reported by its real value. ``decode`` runs in the
grader and accepts only this format, with limits on depth and size; anything else raises
:class:`WireError`.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

# NumPy functions bound when this module is imported (before any student cell runs), so a
# student cell that rebinds ``np.asarray`` cannot change what is encoded or compared.
_asarray, _ascontiguousarray, _frombuffer = np.asarray, np.ascontiguousarray, np.frombuffer
_ndarray, _generic, _empty, _array = np.ndarray, np.generic, np.empty, np.array
_dtype, _prod = np.dtype, math.prod

MIME = "application/vnd.attention-course.report+json"
"""The output type a hidden check uses to report what the student's code returned."""

NUMERIC_DTYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    }
)
MAX_DEPTH = 32
MAX_DIMS = 32  # array dimensions (NumPy 1 allows 32, NumPy 2 allows 64)
MAX_ITEMS = 1_000_000  # list items, dict entries and array elements, summed over a value


class WireError(ValueError):
    """A value that cannot be encoded, or data that is not in the wire format."""


# ------------------------------------------------------------------------------- encode


def encode(value: Any) -> Any:
    """``value`` as JSON-ready plain data (see the module docstring)."""
    return _encode(value, 0)


def _encode(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or value is True or value is False:
        return value
    if isinstance(value, bool):  # pragma: no cover - bool cannot be subclassed
        return bool(value)
    if isinstance(value, int):
        return int.__add__(value, 0)  # the C-level value, whatever the subclass overrides
    if isinstance(value, float):
        number = float.__add__(value, 0.0)
        return number if math.isfinite(number) else {"__float__": repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (_generic, _ndarray)):
        return _encode_array(_asarray(value), depth)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, list):
        return [_encode(v, depth + 1) for v in list.__iter__(value)]
    if isinstance(value, dict):
        return {
            "__dict__": [
                [_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in dict.items(value)
            ]
        }
    if isinstance(value, (set, frozenset)):
        return {"__set__": [_encode(v, depth + 1) for v in value]}
    if isinstance(value, Raised):
        return {"__raised__": [str.__str__(value.type_name), str.__str__(value.message)]}
    if hasattr(value, "numpy") or hasattr(value, "__array__"):  # tensors, variables
        try:
            numpy = getattr(value, "numpy", None)
            return _encode_array(_asarray(numpy() if callable(numpy) else value), depth)
        except Exception as error:  # noqa: BLE001 - reported, not raised: the grader decides
            return {"__object__": type(value).__name__, "error": str(error)[:200]}
    return {"__object__": type(value).__name__}


def _encode_array(array: np.ndarray, depth: int) -> Any:
    array = _ndarray.view(_asarray(array), _ndarray)
    if array.dtype.name in NUMERIC_DTYPES:
        data = _ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        return {
            "__ndarray__": base64.b64encode(data.tobytes()).decode("ascii"),
            "dtype": array.dtype.name,
            "shape": list(array.shape),
        }
    if array.dtype.kind in "US":  # text arrays: nested lists of str, shape kept
        return {
            "__strarray__": _encode(array.astype(str).tolist(), depth + 1),
            "shape": list(array.shape),
        }
    if array.dtype == object:
        return {
            "__objarray__": [_encode(v, depth + 1) for v in array.ravel().tolist()],
            "shape": list(array.shape),
        }
    return {"__object__": f"ndarray[{array.dtype}]"}


class Raised:
    """Stands for an exception the student's code raised instead of returning a value."""

    __slots__ = ("type_name", "message")

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name, self.message = type_name[:100], message[:500]

    def __repr__(self) -> str:
        return f"{self.type_name}: {self.message}"

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


# ------------------------------------------------------------------------------- decode


class Opaque:
    """What came for an object the wire cannot carry: only its type name."""

    __slots__ = ("type_name", "error")

    def __init__(self, type_name: str, error: str = "") -> None:
        self.type_name = type_name
        self.error = error

    def __repr__(self) -> str:
        return f"<{self.type_name} object>"

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def decode(data: Any, max_items: int = MAX_ITEMS) -> Any:
    """Plain Python/NumPy values from wire data; :class:`WireError` if it is malformed."""
    budget = [max_items]
    return _decode(data, 0, budget)


def _spend(budget: list[int], n: int) -> None:
    budget[0] -= n
    if budget[0] < 0:
        raise WireError("value too large")


def _decode(data: Any, depth: int, budget: list[int]) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("value nested too deep")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        _spend(budget, len(data))
        return [_decode(v, depth + 1, budget) for v in data]
    if kind is not dict or len(data) == 0:
        raise WireError(f"unexpected {kind.__name__} in wire data")
    for tag, decode_tagged in _TAGGED:  # the first tag present decides
        if tag in data:
            return decode_tagged(data, depth, budget)
    raise WireError("unknown tagged value")


def _decode_tuple(data: dict, depth: int, budget: list[int]) -> tuple:
    items = _expect_list(data["__tuple__"])
    _spend(budget, len(items))
    return tuple(_decode(v, depth + 1, budget) for v in items)


def _decode_dict(data: dict, depth: int, budget: list[int]) -> dict:
    pairs = _expect_list(data["__dict__"])
    _spend(budget, len(pairs))
    out = {}
    for pair in pairs:
        if type(pair) is not list or len(pair) != 2:
            raise WireError("malformed dict entry")
        key = _decode(pair[0], depth + 1, budget)
        value = _decode(pair[1], depth + 1, budget)
        try:
            out[key] = value
        except TypeError:
            raise WireError("unhashable dict key") from None
    return out


def _decode_set(data: dict, depth: int, budget: list[int]) -> set:
    items = _expect_list(data["__set__"])
    _spend(budget, len(items))
    values = [_decode(v, depth + 1, budget) for v in items]
    try:
        return set(values)
    except TypeError:
        raise WireError("unhashable set item") from None


def _decode_float(data: dict, depth: int, budget: list[int]) -> float:
    text = data["__float__"]
    if text not in ("nan", "inf", "-inf"):
        raise WireError("malformed float")
    return float(text)


def _decode_strarray(data: dict, depth: int, budget: list[int]) -> np.ndarray:
    shape = _expect_shape(data.get("shape"))
    _spend_on_shape(budget, shape)
    values = data["__strarray__"]
    _expect_text_cells(values, shape)
    return _array(values, dtype=str).reshape(shape)


def _expect_text_cells(values: Any, shape: tuple[int, ...]) -> None:
    """``values`` is nested lists of ``str`` that fill ``shape`` exactly."""
    if not shape:
        if type(values) is not str:
            raise WireError("text array does not match its shape")
        return
    if type(values) is not list or len(values) != shape[0]:
        raise WireError("text array does not match its shape")
    for value in values:
        _expect_text_cells(value, shape[1:])


def _decode_objarray(data: dict, depth: int, budget: list[int]) -> np.ndarray:
    shape = _expect_shape(data.get("shape"))
    _spend_on_shape(budget, shape)
    items = _expect_list(data["__objarray__"])
    if len(items) != _prod(shape):
        raise WireError("object array does not match its shape")
    items = [_decode(v, depth + 1, budget) for v in items]
    array = _empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def _decode_object(data: dict, depth: int, budget: list[int]) -> Opaque:
    type_name, error = data["__object__"], data.get("error", "")
    if type(type_name) is not str or type(error) is not str:
        raise WireError("malformed object marker")
    return Opaque(type_name[:100], error[:200])


def _decode_raised(data: dict, depth: int, budget: list[int]) -> Raised:
    pair = _expect_list(data["__raised__"])
    if len(pair) != 2 or not all(type(p) is str for p in pair):
        raise WireError("malformed exception")
    return Raised(pair[0], pair[1])


def _expect_list(value: Any) -> list:
    if type(value) is not list:
        raise WireError("malformed wire data: expected a list")
    return value


def _expect_shape(value: Any) -> tuple[int, ...]:
    if type(value) is not list or not all(type(d) is int and d >= 0 for d in value):
        raise WireError("malformed array shape")
    if len(value) > MAX_DIMS:
        raise WireError(f"array has more than {MAX_DIMS} dimensions")
    return tuple(value)


def _spend_on_shape(budget: list[int], shape: tuple[int, ...]) -> None:
    """Spend an array's elements; an empty array spends its non-zero dimensions, so that no
    dimension is too large for NumPy even when another one is zero."""
    _spend(budget, _prod(d for d in shape if d != 0))


def _decode_array(data: dict, depth: int, budget: list[int]) -> Any:
    dtype_name = data.get("dtype")
    if type(dtype_name) is not str or dtype_name not in NUMERIC_DTYPES:
        raise WireError(f"array dtype {dtype_name!r:.40} is not allowed")
    shape = _expect_shape(data.get("shape"))
    _spend_on_shape(budget, shape)
    encoded = data["__ndarray__"]
    if type(encoded) is not str:
        raise WireError("malformed array data")
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise WireError("array data is not base64") from None
    dtype = _dtype(dtype_name).newbyteorder("<")
    if len(raw) != _prod(shape) * dtype.itemsize:
        raise WireError("array data does not match its shape and dtype")
    array = _frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="), copy=True)
    array = array.reshape(shape)
    return array[()] if shape == () else array


# Tagged objects, in the order their tags are looked for.
_TAGGED = (
    ("__tuple__", _decode_tuple),
    ("__dict__", _decode_dict),
    ("__set__", _decode_set),
    ("__float__", _decode_float),
    ("__ndarray__", _decode_array),
    ("__strarray__", _decode_strarray),
    ("__objarray__", _decode_objarray),
    ("__object__", _decode_object),
    ("__raised__", _decode_raised),
)
