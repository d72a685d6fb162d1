"""Stand-ins for notebook functions that TensorFlow or Keras call on tensors (notebooks 04, 05).

:class:`attention_course.probe.StandIn` answers a plain function's prepared calls by comparing
their arguments. A function that ``TextVectorization`` or a Keras model calls cannot be answered
that way: it is called on string tensors inside ``tf.data`` (graph mode), or on the states of a
model. The stand-ins here answer such calls from values as well: the grader computed every
answer a correct solution needs for the hidden case's inputs, and the stand-in looks them up
(element by element for strings, by the layer's inputs and weights for a layer). No algorithm
of the notebook is in this module or in the tables. Sealed tables (what the grader sends) show
not even those answers: a string's output opens only for that string, a factory's object only
for its call's arguments, so reading a table tells nothing that making the calls would not.

A hidden test cell turns the case's tables into stand-ins with :func:`prepared`::

    for case in hidden_cases("test_make_vectorizer"):
        with standing_in(globals(), **prepared(case.stand_ins, globals())):
            report(case, out=call(_observe, case))

Tables (plain wire data, made by the grader):

- a list of calls: a :class:`~attention_course.probe.StandIn`, as ``standing_in`` makes it;
- ``{"kind": "elementwise", "pairs": [[input string, output], ...]}``: a function applied to
  each string of a tensor (:class:`ElementMap`), e.g. ``standardize``; sealed
  (:func:`seal_pairs`), ``{"kind": "elementwise", "sealed": {digest: box}, "item": ...}``:
  each string's output encrypted with a key derived from the string, under a digest of it;
- ``{"kind": "factory", "calls": [{"args", "kwargs", "params", "defaults", "object"}]}``: a
  function returning an object (:class:`Factory`), e.g. ``make_vectorizer``; ``object`` is
  ``{"call": <elementwise table>, "methods": {name: value}}`` (:class:`Prepared`); an entry
  sealed by :func:`attention_course.probe.seal_entry` (its ``result`` the ``object``) opens only
  for its arguments;
- ``{"kind": "layer", "calls": [{"inputs", "mask", "weights", "result"}]}``: a Keras layer's
  ``call`` (:func:`answering_layer`); the hidden cell gives the layer's interface (the
  notebook's given ``__init__`` and output shapes) as a class; sealed
  (:func:`seal_layer_calls`), ``{"kind": "layer", "sealed": [...]}``.

Every stand-in hands a call it has no answer for to the notebook's own function (``fallback``),
as if no stand-in were there; without one it raises ``LookupError``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import probe, wire

# Bound at import (before any student cell runs), as in probe and wire.
_asarray, _allclose, _array_equal, _empty = np.asarray, np.allclose, np.array_equal, np.empty


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class ElementMap:
    """Answers ``function(x)`` for a function applied to each string of ``x`` on its own (a
    ``str``, a list, a NumPy array or a tensor of strings, also a symbolic one inside
    ``tf.data`` or a Keras layer), from ``pairs`` of (input string, output). An output is a
    string or an array (then the result gains its axes: ``(N,)`` strings -> ``(N, L)``);
    ``squeeze_last`` drops a last input axis of size 1 first (``(N, 1)`` -> ``(N, L)``, as
    ``TextVectorization`` does). Strings without an answer go to ``fallback``, all at once."""

    def __init__(
        self,
        name: str,
        pairs: list[Any],
        fallback: Any = None,
        squeeze_last: bool = False,
        sealed: Mapping[str, Any] | None = None,
    ) -> None:
        self.__name__ = self.name = name
        self._table = {str(key): value for key, value in pairs}
        self._fallback = fallback
        self._squeeze_last = squeeze_last
        self._sealed = dict((sealed or {}).get("sealed") or {})
        item = (sealed or {}).get("item")
        if isinstance(item, Mapping):  # the kind of the outputs, stated (no output in clear)
            self._strings = bool(item.get("strings"))
            self._item_shape = tuple(int(n) for n in item.get("shape") or ())
            self._dtype = None if self._strings else np.dtype(str(item.get("dtype")))
            return
        sample = next(iter(self._table.values()), "")
        self._strings = isinstance(sample, str)
        self._item_shape = () if self._strings else tuple(_asarray(sample).shape)
        self._dtype = None if self._strings else _asarray(sample).dtype

    def _opened(self, text: str) -> bool:
        """Whether ``text`` has an answer, opening its sealed entry if there is one."""
        if text in self._table:
            return True
        if not self._sealed or not isinstance(text, str):
            return False
        box = self._sealed.get(_pair_digest(text))
        if not isinstance(box, str):
            return False
        self._table[text] = _pair_open(text, box)
        return True

    def __repr__(self) -> str:
        return f"<stand-in for {self.name}: {len(self._table)} prepared answers>"

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return self._other(x, *args, **kwargs)
        tf = _tf() if _is_tensor(x) else None
        if tf is not None and not tf.executing_eagerly() or _is_symbolic(x):
            return self._in_graph(tf or _tf(), x)
        strings = _asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=object)
        out = self._answer(strings)
        if tf is None and isinstance(x, str) and self._strings:
            return out.item()
        tf = tf or _tf()
        return tf.constant(out.tolist() if self._strings else out.astype(self._dtype))

    def _other(self, *args: Any, **kwargs: Any) -> Any:
        if callable(self._fallback):
            return self._fallback(*args, **kwargs)
        raise LookupError(f"{self.name}: the grader's stand-in answers one string tensor only")

    def _answer(self, strings: np.ndarray) -> np.ndarray:
        if self._squeeze_last and strings.ndim >= 2 and strings.shape[-1] == 1:
            strings = strings[..., 0]
        flat = [_text(s) for s in strings.ravel().tolist()]
        missing = sorted({s for s in flat if not self._opened(s)})
        found = dict(self._table)
        if missing:
            if not callable(self._fallback):
                raise LookupError(
                    f"{self.name} has no answer for {missing[0]!r} (the grader answers only "
                    "the texts of the hidden case)"
                )
            answers = self._fallback(_tf().constant(missing))
            answers = _asarray(answers.numpy() if hasattr(answers, "numpy") else answers)
            if self._strings:
                answers = [_text(a) for a in answers.ravel().tolist()]
            for key, value in zip(missing, answers, strict=True):
                found[key] = value
        if self._strings:
            out = _empty(len(flat), dtype=object)
            for i, s in enumerate(flat):
                out[i] = str(found[s]).encode("utf-8")
            return out.reshape(strings.shape)
        rows = [_asarray(found[s]) for s in flat]
        return _asarray(rows, dtype=self._dtype).reshape(strings.shape + self._item_shape)

    def _in_graph(self, tf: Any, x: Any) -> Any:
        x = tf.convert_to_tensor(x)
        dtype = tf.string if self._strings else tf.as_dtype(self._dtype)

        def answer(strings: Any) -> Any:
            return self._answer(_asarray(strings.numpy(), dtype=object))  # an array, not a list

        result = tf.py_function(answer, [x], dtype)
        shape = x.shape
        if self._squeeze_last and shape.rank is not None and shape.rank >= 2 and shape[-1] == 1:
            shape = shape[:-1]
        result.set_shape(shape.concatenate(self._item_shape))
        return result


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith(("tensorflow", "keras"))


def _is_symbolic(x: Any) -> bool:
    return _is_tensor(x) and not hasattr(x, "numpy")


class Prepared:
    """The object a :class:`Factory` returns: calling it answers from an :class:`ElementMap`,
    and each of its ``methods`` returns a prepared value (``vectorizer.get_vocabulary()``)."""

    def __init__(self, name: str, spec: Mapping[str, Any]) -> None:
        self._name = name
        table = spec["call"]
        self._call = ElementMap(
            f"{name}(...)",
            table.get("pairs") or [],
            squeeze_last=True,
            sealed=table if "sealed" in table else None,
        )
        self._methods = dict(spec.get("methods") or {})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        methods = self.__dict__.get("_methods", {})
        if attribute not in methods:
            name = self.__dict__.get("_name", "a notebook function")
            raise AttributeError(
                f"the grader's stand-in for the result of {name} has no {attribute!r} "
                f"(it answers: calls on the case's texts, {', '.join(sorted(methods))})"
            )

        def method() -> Any:
            return copy.deepcopy(methods[attribute])

        return method

    def __repr__(self) -> str:
        return f"<stand-in for the result of {self._name}>"


class Factory(probe.StandIn):
    """A :class:`~attention_course.probe.StandIn` whose prepared answers are objects: a matching
    call returns a :class:`Prepared` built from the entry's ``object``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        canonical: dict[tuple, bytes | None] = {}
        for entry in self._calls:
            if "digest" in entry:  # sealed: the object opens for its call's arguments only
                opened = probe._open(entry, list(args), kwargs, canonical)
                if opened is not probe._CLOSED:
                    return Prepared(self.name, opened)
            elif probe._matches(entry, list(args), kwargs):
                return Prepared(self.name, entry["object"])
        if callable(self._fallback):
            return self._fallback(*args, **kwargs)
        raise LookupError(
            f"{self.name} is not defined in the notebook (the grader answers only the calls "
            "a correct solution makes)"
        )


# --------------------------------------------------------------------------- sealed pairs

_PAIR_DIGEST, _PAIR_KEY = b"attention-course element digest\0", b"attention-course element key\0"


def _pair_digest(text: str) -> str:
    return hashlib.sha256(_PAIR_DIGEST + text.encode("utf-8", "surrogatepass")).hexdigest()


def _pair_key(text: str) -> bytes:
    return hashlib.sha256(_PAIR_KEY + text.encode("utf-8", "surrogatepass")).digest()


def _xor(data: bytes, key: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, probe._keystream(key, len(data)), strict=True))


def _pair_open(text: str, box: str) -> Any:
    return wire.decode(json.loads(_xor(base64.b64decode(box), _pair_key(text))))


def seal_pairs(pairs: list[Any]) -> dict[str, Any]:
    """An elementwise table whose outputs open only for their own input strings: ``{"kind":
    "elementwise", "sealed": {digest of the string: output encrypted with a key derived from
    it}, "item": the kind of the outputs}``. Made by the grader; :class:`ElementMap` opens it."""
    items = [(str(key), value) for key, value in pairs]
    sample = items[0][1] if items else ""
    strings = isinstance(sample, str)
    item: dict[str, Any] = {"strings": strings}
    if not strings:
        item.update(shape=list(_asarray(sample).shape), dtype=str(_asarray(sample).dtype))
    sealed = {}
    for text, value in items:
        plain = json.dumps(wire.encode(value)).encode()
        box = _xor(plain, _pair_key(text))
        sealed[_pair_digest(text)] = base64.b64encode(box).decode("ascii")
    return {"kind": "elementwise", "sealed": sealed, "item": item}


# --------------------------------------------------------------------------- layers


def _same_masked(expected: Any, given: Any, mask: Any, atol: float) -> bool:
    """``given`` equals ``expected`` where ``mask`` is true (the steps a pooling reads)."""
    given, expected = _asarray(given, dtype=np.float64), _asarray(expected, dtype=np.float64)
    if given.shape != expected.shape:
        return False
    if mask is not None:
        keep = _asarray(mask).astype(bool)
        if keep.shape != given.shape[: keep.ndim]:
            return False
        given, expected = given[keep], expected[keep]
    return bool(_allclose(given, expected, rtol=1e-4, atol=atol))


_LAYER_COARSE = 1e-3  # the grid of a sealed layer entry's float arrays: 1e-3 * sqrt(size)


def _layer_args(inputs: Any, mask: Any, weights: list) -> list[Any]:
    """The arguments a sealed layer entry is keyed by: the inputs at the steps the mask keeps
    (0 elsewhere), the mask, the weights."""
    x = _asarray(inputs, dtype=np.float64)
    if mask is not None:
        mask = _asarray(mask).astype(bool)
        if mask.shape != x.shape[: mask.ndim]:
            raise probe.Unsealable("a mask of another shape")
        x = np.where(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x, 0.0)
    return [x, mask, *(_asarray(w) for w in weights)]


def seal_layer_calls(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """A layer table (``{"inputs", "mask", "weights", "result"}`` entries) sealed by
    :func:`attention_course.probe.seal_entry`: each result opens only for a call whose inputs
    (at the kept steps), mask and weights are the entry's (float arrays within about 5e-4 in
    a few signed sums: the same states computed in float32 by a Keras model). Made by the
    grader; :func:`answering_layer` opens it."""
    sealed = []
    for entry in calls:
        weights = list(entry.get("weights") or [])
        params = ["inputs", "mask"] + [f"weight{i}" for i in range(len(weights))]
        args = _layer_args(entry["inputs"], entry.get("mask"), weights)
        plain = {"params": params, "defaults": {}, "args": args, "kwargs": {}}
        sealed.append(probe.seal_entry({**plain, "result": list(entry["result"])}, _LAYER_COARSE))
    return {"kind": "layer", "sealed": sealed}


def _sealed_layer_answer(
    sealed: list[dict[str, Any]], inputs: Any, mask: Any, weights: list
) -> Any:
    try:
        args = _layer_args(inputs, mask, weights)
    except (probe.Unsealable, TypeError, ValueError):
        return None
    canonical: dict[tuple, bytes | None] = {}
    for entry in sealed:
        opened = probe._open(entry, args, {}, canonical)
        if opened is not probe._CLOSED:
            return opened
    return None


def _layer_answer(
    table: list[dict[str, Any]],
    inputs: Any,
    mask: Any,
    weights: list,
    sealed: list[dict[str, Any]] | None = None,
) -> Any:
    if sealed:
        found = _sealed_layer_answer(sealed, inputs, mask, weights)
        if found is not None:
            return found
    given_mask = None if mask is None else _asarray(mask).astype(bool)
    for entry in table:
        want_mask = entry.get("mask")
        if (want_mask is None) != (given_mask is None):
            continue
        if want_mask is not None and (
            given_mask.shape != _asarray(want_mask).shape
            or not _array_equal(given_mask, _asarray(want_mask).astype(bool))
        ):
            continue
        if not _same_masked(entry["inputs"], inputs, want_mask, atol=1e-4):
            continue
        want_weights = entry.get("weights") or []
        if len(want_weights) != len(weights) or not all(
            _same_masked(w, g, None, atol=1e-6) for w, g in zip(want_weights, weights, strict=True)
        ):
            continue
        return entry["result"]
    return None


def answering_layer(interface: type, table: Any, fallback: Any = None, name: str = "") -> type:
    """A subclass of the Keras layer class ``interface`` (the notebook's given ``__init__``,
    ``build`` and ``compute_output_spec``, no ``call``) whose ``call(inputs, mask=None)``
    answers from ``table`` (``{"kind": "layer", "calls": [...]}``): an entry answers when the
    layer's inputs (at the steps its mask keeps), its mask and its weights (``get_weights()``)
    are the entry's. Any other call goes to ``fallback.call`` (the notebook's own class, run
    on this layer: same sublayers), or raises ``LookupError``."""
    calls = list((table.get("calls") or []) if isinstance(table, Mapping) else table)
    sealed = list((table.get("sealed") or []) if isinstance(table, Mapping) else [])
    own_call = getattr(fallback, "call", None) if isinstance(fallback, type) else None
    label = name or getattr(interface, "__name__", "layer")

    def answer_now(self: Any, inputs: Any, mask: Any) -> Any:
        array = _asarray(inputs)
        result = _layer_answer(
            calls, array, None if mask is None else _asarray(mask), self.get_weights(), sealed
        )
        if result is None:
            return None
        return tuple(_asarray(r, dtype=array.dtype) for r in result)

    def call(self: Any, inputs: Any, mask: Any = None) -> Any:
        tf = _tf()
        if tf.executing_eagerly() and hasattr(inputs, "numpy"):
            result = answer_now(self, inputs, mask)
            if result is not None:
                return tuple(tf.convert_to_tensor(r) for r in result)
        elif calls or sealed:
            return _layer_in_graph(self, tf, inputs, mask, answer_now, own_call)
        if own_call is not None:
            return own_call(self, inputs, mask=mask)
        raise LookupError(
            f"{label}: the grader's stand-in answers only the inputs of the hidden case"
        )

    return type(label, (interface,), {"call": call, "__module__": __name__})


def _layer_in_graph(self: Any, tf: Any, inputs: Any, mask: Any, answer_now: Any, own: Any) -> Any:
    """Inside a traced function (``model.predict``): look the values up in ``tf.py_function``."""
    spec = self.compute_output_spec(inputs, mask=mask)
    specs = list(spec) if isinstance(spec, (tuple, list)) else [spec]

    def answer(*values: Any) -> Any:
        x, m = values[0], values[1]
        result = answer_now(self, x.numpy(), None if mask is None else m.numpy())
        if result is None:
            if own is None:
                raise LookupError("the grader's stand-in answers only the hidden case's inputs")
            result = own(self, x, mask=None if mask is None else m)
            result = result if isinstance(result, (tuple, list)) else [result]
        return [_asarray(r) for r in result]

    mask_value = tf.zeros([0]) if mask is None else mask
    outputs = tf.py_function(answer, [inputs, mask_value], [inputs.dtype] * len(specs))
    for out, s in zip(outputs, specs, strict=True):
        out.set_shape(s.shape)
    return tuple(outputs) if isinstance(spec, (tuple, list)) else outputs[0]


# --------------------------------------------------------------------------- tables


def prepared(tables: Mapping[str, Any], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The stand-ins of one hidden case: ``{name: stand-in}`` from its tables (see the module
    docstring), each falling back to ``namespace[name]`` (the notebook's own function). A
    ``"layer"`` table is left as it is: :func:`answering_layer` needs the layer's interface."""
    out: dict[str, Any] = {}
    for name, table in tables.items():
        fallback = namespace.get(name)
        kind = table.get("kind") if isinstance(table, Mapping) else None
        if kind == "elementwise":
            sealed = table if "sealed" in table else None
            out[name] = ElementMap(name, table.get("pairs") or [], fallback, sealed=sealed)
        elif kind == "factory":
            out[name] = Factory(name, table["calls"], fallback)
        elif kind == "calls":
            out[name] = probe.StandIn(name, table["calls"], fallback)
        else:
            out[name] = table
    return out
