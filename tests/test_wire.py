"""attention_course.wire: plain data between a grading kernel and the grader."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from attention_course import wire


def roundtrip(value):
    return wire.decode(json.loads(json.dumps(wire.encode(value))))


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -7,
        2**70,
        1.5,
        "text",
        "",
        [1, "a", None],
        (1, (2, 3)),
        {"a": 1, (1, 2): [3]},
        {1, 2},
        [[1, 2], [3, 4]],
    ],
)
def test_plain_values_come_back_equal_and_of_the_same_type(value):
    back = roundtrip(value)
    assert back == value and type(back) is type(value)


@pytest.mark.parametrize(
    "dtype", ["float32", "float64", "int64", "int8", "uint16", "bool", "complex64"]
)
def test_arrays_keep_dtype_shape_and_values(dtype):
    array = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    back = roundtrip(array)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array)


def test_numpy_scalars_come_back_as_numpy_scalars():
    assert roundtrip(np.float32(1.25)) == np.float32(1.25)
    assert isinstance(roundtrip(np.int64(3)), np.int64)


def test_non_finite_floats_and_text_arrays():
    back = roundtrip([float("nan"), float("inf"), -float("inf")])
    assert np.isnan(back[0]) and back[1:] == [float("inf"), -float("inf")]
    text = roundtrip(np.array([["a", "bc"], ["", "d"]]))
    assert text.tolist() == [["a", "bc"], ["", "d"]]


def test_a_tensor_like_object_arrives_as_an_array():
    class Tensor:
        def __array__(self, dtype=None, copy=None):
            return np.ones((2, 2), dtype="float32")

        def numpy(self):
            return self.__array__()

    back = roundtrip(Tensor())
    assert back.shape == (2, 2) and back.dtype == np.float32


def test_subclasses_are_read_by_their_real_value():
    class Liar(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

        def __int__(self):
            return 999

    class LyingList(list):
        def __iter__(self):
            return iter([1, 2, 3])

    assert roundtrip(Liar(5)) == 5 and type(roundtrip(Liar(5))) is int
    assert roundtrip(LyingList([7])) == [7]


def test_unknown_objects_and_exceptions_arrive_as_markers():
    class Thing:
        pass

    opaque = roundtrip(Thing())
    assert isinstance(opaque, wire.Opaque) and opaque.type_name == "Thing"
    assert opaque != opaque  # never equal to anything
    raised = roundtrip(wire.Raised("ValueError", "bad shape"))
    assert isinstance(raised, wire.Raised) and repr(raised) == "ValueError: bad shape"


@pytest.mark.parametrize("dtype", [str, object, "float32"])
@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (0,), ()])
def test_empty_and_zero_dimensional_arrays_keep_their_shape(dtype, shape):
    array = np.zeros(shape, dtype=dtype)
    back = roundtrip(array)
    assert np.asarray(back).shape == shape and np.asarray(back).dtype == array.dtype


def test_object_arrays_keep_shape_and_items():
    array = np.empty((2, 2), dtype=object)
    array[:] = [[1, "a"], [None, (2, 3)]]
    back = roundtrip(array)
    assert back.dtype == object and back.shape == (2, 2)
    assert back.tolist() == [[1, "a"], [None, (2, 3)]]


B64_8 = base64.b64encode(b"\0" * 8).decode()

# Every malformed input, with the words of the WireError it must raise: the error says which
# rule the data broke (a check that is removed lets the data through or fails otherwise).
MALFORMED = {
    "bytes": (b"x", "unexpected bytes"),
    "an object": (object(), "unexpected object"),
    "an empty dict": ({}, "unexpected dict"),
    "an unknown tag": ({"something": 1}, "unknown tagged value"),
    "tuple items not a list": ({"__tuple__": "ab"}, "expected a list"),
    "dict entries not a list": ({"__dict__": {"a": 1}}, "expected a list"),
    "dict entry not a pair": ({"__dict__": [[1]]}, "malformed dict entry"),
    "dict entry not a list": ({"__dict__": [5]}, "malformed dict entry"),
    "unhashable dict key": ({"__dict__": [[[1], 2]]}, "unhashable dict key"),
    "unhashable set item": ({"__set__": [[1]]}, "unhashable set item"),
    "opaque set item": ({"__set__": [{"__object__": "x"}]}, "unhashable set item"),
    "set items not a list": ({"__set__": "ab"}, "expected a list"),
    "float not a non-finite name": ({"__float__": "1e999"}, "malformed float"),
    "float a list": ({"__float__": []}, "malformed float"),
    "array dtype not allowed": (
        {"__ndarray__": "AAAA", "dtype": "object", "shape": [1]},
        "not allowed",
    ),
    "array bytes do not match": (
        {"__ndarray__": B64_8, "dtype": "float64", "shape": [2]},
        "does not match its shape and dtype",
    ),
    "array data not base64": (
        {"__ndarray__": "not base64!", "dtype": "int8", "shape": [1]},
        "not base64",
    ),
    "array data not ascii": ({"__ndarray__": "é", "dtype": "int8", "shape": [1]}, "not base64"),
    "array data not text": ({"__ndarray__": 5, "dtype": "int8", "shape": [1]}, "array data"),
    "negative dimension": ({"__ndarray__": "AA==", "dtype": "int8", "shape": [-1]}, "shape"),
    "boolean dimension": ({"__ndarray__": "AA==", "dtype": "int8", "shape": [True]}, "shape"),
    "no shape": ({"__ndarray__": "AA==", "dtype": "int8"}, "shape"),
    "text array shape differs": ({"__strarray__": ["a"], "shape": [2]}, "does not match"),
    "text array without shape": ({"__strarray__": ["a"]}, "shape"),
    "object array shape differs": ({"__objarray__": [1], "shape": [2]}, "does not match"),
    "object array items not a list": ({"__objarray__": "ab", "shape": [2]}, "expected a list"),
    "object array shape text": ({"__objarray__": [1], "shape": "1"}, "shape"),
    "exception not a pair": ({"__raised__": ["ValueError"]}, "malformed exception"),
    "exception not text": ({"__raised__": [1, 2]}, "malformed exception"),
    "exception not a list": ({"__raised__": "ab"}, "expected a list"),
    # these raised TypeError, ValueError or OverflowError from NumPy or hashing before
    "array dtype a list": ({"__ndarray__": "", "dtype": [], "shape": [1]}, "not allowed"),
    "array dtype a dict": ({"__ndarray__": "", "dtype": {}, "shape": [1]}, "not allowed"),
    "array too many dimensions": (
        {"__ndarray__": "AA==", "dtype": "int8", "shape": [1] * 70},
        "dimensions",
    ),
    "empty array with a huge dimension": (
        {"__ndarray__": "", "dtype": "int8", "shape": [0, 10**30]},
        "too large",
    ),
    "empty array with huge dimensions": (
        {"__ndarray__": "", "dtype": "int8", "shape": [0, 2**62, 2**62]},
        "too large",
    ),
    "object array too many dimensions": ({"__objarray__": [1], "shape": [1] * 70}, "dimensions"),
    "empty object array with a huge dimension": (
        {"__objarray__": [], "shape": [0, 10**30]},
        "too large",
    ),
    "text array too many dimensions": ({"__strarray__": [], "shape": [1] * 70}, "dimensions"),
    "empty text array with a huge dimension": (
        {"__strarray__": [], "shape": [0, 10**30]},
        "too large",
    ),
    "ragged text array": ({"__strarray__": [["a"], ["a", "b"]], "shape": [2]}, "does not match"),
    "ragged text array, shape of the first row": (
        {"__strarray__": [["a"], ["a", "b"]], "shape": [2, 1]},
        "does not match",
    ),
    "text array of numbers": ({"__strarray__": [1, 2], "shape": [2]}, "does not match"),
    "text array of a tagged value": (
        {"__strarray__": {"__set__": ["a"]}, "shape": []},
        "does not match",
    ),
    "object marker not text": ({"__object__": 5}, "malformed object marker"),
    "object marker error not text": (
        {"__object__": "Thing", "error": ["x"]},
        "malformed object marker",
    ),
}


@pytest.mark.parametrize("data, words", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_data_is_rejected(data, words):
    with pytest.raises(wire.WireError, match=words):
        wire.decode(data)


@pytest.mark.parametrize("data, words", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_data_is_rejected_inside_containers(data, words):
    for outer in ([data], {"__tuple__": [data]}, {"__dict__": [["k", data]]}):
        with pytest.raises(wire.WireError, match=words):
            wire.decode(outer)


def test_decoding_has_limits_on_size_and_depth():
    with pytest.raises(wire.WireError, match="too large"):
        wire.decode(list(range(100)), max_items=10)
    deep: object = 1
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.WireError, match="deep"):
        wire.decode(deep)
    big = {"__ndarray__": "", "dtype": "uint8", "shape": [10**9]}
    with pytest.raises(wire.WireError, match="too large"):
        wire.decode(big)
    for tag in ("__objarray__", "__strarray__"):  # array elements count, whatever the array
        with pytest.raises(wire.WireError, match="too large"):
            wire.decode({tag: [], "shape": [11, 0]}, max_items=10)


JUNK = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    float("nan"),
    "",
    "nan",
    "AA==",
    [],
    [0],
    [-1],
    [1] * 40,
    [2**64],
    {},
    {"k": 1},
    [[1]],
    ["a", ["b"]],
    {"__set__": [[]]},
    {"__object__": 1},
]


def _mutants(value, rng):
    """``value`` with one node (a list item, a dict value or key) replaced by junk."""
    nodes = []

    def walk(node):
        if type(node) is list:
            nodes.extend((node, i) for i in range(len(node)))
            for item in node:
                walk(item)
        elif type(node) is dict:
            nodes.extend((node, k) for k in node)
            for item in node.values():
                walk(item)

    walk(value)
    if not nodes:
        return
    for _ in range(40):
        copy = json.loads(json.dumps(value))
        nodes.clear()
        walk(copy)
        parent, at = nodes[rng.randrange(len(nodes))]
        junk = json.loads(json.dumps(rng.choice(JUNK)))
        if type(parent) is dict and rng.random() < 0.3:
            parent["junk" if rng.random() < 0.5 else rng.choice(list(TAGS))] = parent.pop(at)
        else:
            parent[at] = junk
        yield copy


TAGS = {
    "__tuple__",
    "__dict__",
    "__set__",
    "__float__",
    "__ndarray__",
    "__strarray__",
    "__objarray__",
    "__object__",
    "__raised__",
    "shape",
    "dtype",
    "error",
}


def test_mangled_wire_data_decodes_or_raises_wire_error_only():
    import random

    rng = random.Random(21)
    text = np.array([["a", "bc"], ["", "d"]])
    objects = np.empty(2, dtype=object)
    objects[:] = [(1, 2), "x"]
    samples = [
        (1, [2.5, "x"], {"k": {3, 4}}),
        {"a": np.arange(6, dtype="int16").reshape(2, 3), (1,): float("inf")},
        [text, objects, wire.Raised("E", "m"), np.float32(2)],
    ]
    tried = 0
    for sample in samples:
        for mutant in _mutants(wire.encode(sample), rng):
            tried += 1
            try:
                wire.decode(mutant)
            except wire.WireError:
                pass
    assert tried == 120
