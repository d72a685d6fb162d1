"""Trusted checks of 05_imdb_attention: attention pooling (eagerly and inside a model), the
GRU + attention builder, the model's shapes, token + position embeddings, nearest neighbours.

References are written here in NumPy, independently of the notebook's solutions (the GRU
follows Keras 3's equations; tests/test_nbgrader_05_imdb_attention.py proves that the instructor
solution, a Keras model, matches them).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from attention_course import standins, wire
from attention_course.checks import check_close, check_equal, check_shape, fail

from ..judging import Case, Check, Observed, case, describe, register

NB = "05_imdb_attention"
SYMBOLIC = ("symbolic", "KerasTensor", "numpy array", "Could not automatically infer")


def _value_array(
    label: str, value: Any, name: str, kind: str | None = "f", check: Check | None = None
) -> np.ndarray:
    """A numeric array from a decoded value nested inside a report."""
    return Observed({name: value}, label, check).array(name, kind=kind)


def _nested(got: Observed, name: str, check: Check) -> Observed:
    """The dict a probe returned under ``name``, with the accessors of :class:`Observed`."""
    value = got.raw(name)
    if not isinstance(value, dict):
        fail(f"{got.label}: the probe returned {describe(value)} (was the test cell changed?).")
    return Observed(value, got.label, check)


def _symbolic_hint(error) -> str | None:
    if any(word in error.message for word in SYMBOLIC):
        return (
            "inside a Keras model the layer gets symbolic tensors: compute with keras.ops "
            "only (no NumPy, no .numpy(), no Python if on tensor values) and take sizes "
            "from keras.ops.shape(...), not from .shape (it is None for the length)."
        )
    return None


# ------------------------------------------------------------------------ references


def ref_attention(
    h: np.ndarray, W: np.ndarray, b: np.ndarray, v: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Attention pooling with additive scores in float64: (pooled (batch, d), weights (batch, T)).

    A row whose mask has no real step gets weights 0 and a zero pooled vector (notebook 03's
    choice for a query that may attend to nothing)."""
    h = np.asarray(h, np.float64)
    e = (np.tanh(h @ np.asarray(W, np.float64) + b) @ np.asarray(v, np.float64))[..., 0]
    real = np.ones(e.shape, bool) if mask is None else np.asarray(mask).astype(bool)
    e = np.where(real, e, -np.inf)
    e = np.where(real.any(axis=-1, keepdims=True), e, 0.0)  # no real step: no -inf row
    a = np.exp(e - e.max(axis=-1, keepdims=True))
    a = np.where(real, a / a.sum(axis=-1, keepdims=True), 0.0)
    return (a[..., None] * h).sum(axis=1), a


def ref_cosine_neighbours(
    word: str, vocab: dict[str, int], embeddings: np.ndarray, k: int
) -> list[str] | None:
    """Notebook 01's contract: the k most cosine-similar words, the word itself excluded,
    equal similarities by row index; None for a word not in vocab (it must raise KeyError)."""
    if word not in vocab:
        return None
    vectors = np.asarray(embeddings, np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.where(norms == 0, 1.0, norms)[:, None]
    similarity = unit @ unit[vocab[word]]
    row_to_word = {row: w for w, row in vocab.items()}
    rows = [row for row in range(len(vectors)) if row != vocab[word]]
    rows.sort(key=lambda row: -similarity[row])  # stable: equal similarities by row index
    return [row_to_word[row] for row in rows[:k]]


def _padded_ids(
    rng: np.random.Generator, vocab_size: int, lengths: list[int], T: int
) -> np.ndarray:
    """Ids 2..vocab_size-1 for the real tokens, 0 after them (as the vectorizer pads)."""
    ids = rng.integers(2, vocab_size, size=(len(lengths), T)).astype("int32")
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids


# ------------------------------------------------------------------------ exercise 1


@register
class AttentionPooling(Check):
    notebook, cell = NB, "test_attention_pooling"

    def cases(self):
        yield case(
            "AttentionPooling(units=2) on the example of the visible test",
            in_model=False,
            units=2,
            W=np.eye(2, dtype="float32"),
            b=np.zeros(2, "float32"),
            v=np.array([[1.0], [-1.0]], "float32"),
            h=np.array([[[1, 0], [0, 1], [2, 2]], [[1, 1], [-1, 0], [0, -2]]], "float32"),
            mask=np.array([[True, True, False], [True, True, True]]),
        )
        rng = np.random.default_rng(51)
        for B, T, d, units in [(2, 5, 6, 8), (3, 7, 4, 5), (1, 1, 3, 2), (2, 9, 10, 16)]:
            W = rng.normal(scale=0.6, size=(d, units)).astype("float32")
            b = rng.normal(scale=0.2, size=(units,)).astype("float32")
            v = rng.normal(scale=1.0, size=(units, 1)).astype("float32")
            h = rng.normal(size=(B, T, d)).astype("float32")
            lengths = rng.integers(1, T + 1, size=B)
            lengths[-1] = T  # one review without padding
            if B > 1:
                lengths[0] = max(1, T // 2)  # and one with padding
            mask = np.arange(T)[None, :] < lengths[:, None]
            what = f"h {(B, T, d)}, units {units}"
            common = dict(in_model=False, units=units, W=W, b=b, v=v)
            yield case(f"AttentionPooling ({what}) with a boolean mask", h=h, mask=mask, **common)
            yield case(
                f"AttentionPooling ({what}) with a 0/1 integer mask",
                h=h,
                mask=mask.astype("int32"),
                **common,
            )
            yield case(f"AttentionPooling ({what}) with mask=None", h=h, mask=None, **common)
            if B > 1:
                empty = mask.copy()
                empty[0] = False  # review 0 has no real token
                yield case(
                    f"AttentionPooling ({what}) where review 0 has no real token (its mask "
                    "is all False)",
                    h=h,
                    mask=empty,
                    **common,
                )
            if not mask.all():
                loud = h.copy()
                loud[~mask] = 50.0  # only the padded states change
                yield case(
                    f"AttentionPooling ({what}) with large values in the padded states",
                    h=loud,
                    mask=mask,
                    **common,
                )
        for vocab_size, dim, units, lengths, T in [
            (30, 6, 5, [8, 3, 1], 8),
            (20, 4, 3, [5, 12], 12),
            (25, 5, 4, [6, 0, 2], 6),  # review 1: padding only (ids all 0)
        ]:
            yield case(
                f"AttentionPooling inside a Keras model, after Embedding({vocab_size}, "
                f"{dim}, mask_zero=True), ids of shape ({len(lengths)}, {T})",
                in_model=True,
                vocab_size=vocab_size,
                dim=dim,
                units=units,
                embeddings=rng.normal(size=(vocab_size, dim)).astype("float32"),
                W=rng.normal(scale=0.6, size=(dim, units)).astype("float32"),
                b=rng.normal(scale=0.2, size=(units,)).astype("float32"),
                v=rng.normal(size=(units, 1)).astype("float32"),
                ids=_padded_ids(rng, vocab_size, lengths, T),
            )

    def expected(self, inputs):
        if inputs["in_model"]:
            ids = inputs["ids"]
            h, mask = inputs["embeddings"][ids], ids != 0
        else:
            h, mask = inputs["h"], inputs["mask"]
        pooled, weights = ref_attention(h, inputs["W"], inputs["b"], inputs["v"], mask)
        return {"pooled": pooled, "weights": weights, "mask": mask}

    def error_hint(self, error):
        hint = _symbolic_hint(error)
        if hint:
            return hint
        if "NotImplementedError" in error.type_name:
            return "replace `raise NotImplementedError()` in AttentionPooling.call."
        if "expecting 0 weights" in error.message:
            return (
                "call must use both layers of __init__: score_out(score_hidden(h)) (the test "
                "loads their weights)."
            )
        if "mask" in error.message.lower() or "bool" in error.message.lower():
            return 'turn the mask into booleans with keras.ops.cast(mask, "bool").'
        return None

    def judge(self, case, got, want):
        pooled, weights = got.pair("out")
        label = case.label
        weights = _value_array(label, weights, "weights", check=self)
        pooled = _value_array(label, pooled, "pooled", check=self)
        check_shape(
            weights,
            want["weights"].shape,
            name=f"weights of {label}",
            hint="one weight per time step, (batch, T): squeeze the last axis of the "
            "(batch, T, 1) scores.",
        )
        check_shape(
            pooled,
            want["pooled"].shape,
            name=f"pooled of {label}",
            hint="sum the weighted states over the time axis (axis=1): (batch, d).",
        )
        mask = want["mask"]
        if mask is not None and not np.asarray(mask).any(axis=-1).all():
            empty = ~np.asarray(mask).astype(bool).any(axis=-1)
            rows = [int(i) for i in np.flatnonzero(empty)]
            check_close(
                weights[empty],
                np.zeros(weights[empty].shape),
                atol=0,
                rtol=0,
                name=f"weights of review(s) {rows} of {label}, which have no real token",
                hint="a review with no real token has nothing to attend to: all its weights are "
                "exactly 0 (notebook 3's choice; the softmax alone spreads the weight evenly "
                "over the padding): set the weights of the padded steps to 0 after the "
                "softmax too.",
            )
            check_close(
                pooled[empty],
                np.zeros(pooled[empty].shape),
                atol=1e-6,
                rtol=0,
                name=f"pooled of review(s) {rows} of {label}, which have no real token",
                hint="no real token: weights 0, so the pooled vector is the zero vector.",
            )
        if mask is not None and not np.asarray(mask).all():
            pad = ~np.asarray(mask).astype(bool)
            check_close(
                weights[pad],
                np.zeros(int(pad.sum())),
                atol=0,
                rtol=0,
                name=f"weights on the padded steps of {label}",
                hint="padded steps must get weight exactly 0: replace their scores by a "
                "very large negative number BEFORE the softmax (True/1 in the mask "
                "= real token).",
            )
        sums = weights.astype(np.float64).sum(axis=-1)
        check_close(
            sums,
            want["weights"].sum(axis=-1),
            rtol=0,
            atol=1e-5,
            name=f"sum of the weights over time of {label}",
            hint="softmax over the time axis, after masking: the real tokens share all "
            "of the weight, a sum of 1 (masking only after the softmax leaves a sum below 1).",
        )
        check_close(
            weights,
            want["weights"],
            rtol=1e-4,
            atol=1e-6,
            name=f"weights of {label}",
            hint="e_t = score_out(score_hidden(h_t)) with the two layers of __init__, "
            "then a softmax over time (axis -1 of the (batch, T) scores).",
        )
        check_close(
            pooled,
            want["pooled"],
            rtol=1e-4,
            atol=1e-5,
            name=f"pooled of {label}",
            hint="pooled = sum over time of weights * states (not a mean, not the last state).",
        )


# ------------------------------------------------------------------------ exercise 2


def _gru_weight_shapes(
    vocab_size: int, embed_dim: int, gru_units: int, attention_units: int
) -> list[tuple[str, tuple[int, ...]]]:
    """The weights of the model in the order of its layers (Keras 3 GRU, reset_after)."""
    gru = [
        ("kernel", (embed_dim, 3 * gru_units)),
        ("recurrent kernel", (gru_units, 3 * gru_units)),
        ("bias", (2, 3 * gru_units)),
    ]
    return (
        [("Embedding(vocab_size, embed_dim)", (vocab_size, embed_dim))]
        + [(f"forward GRU {name}", shape) for name, shape in gru]
        + [(f"backward GRU {name}", shape) for name, shape in gru]
        + [
            ("attention score_hidden kernel", (2 * gru_units, attention_units)),
            ("attention score_hidden bias", (attention_units,)),
            ("attention score_out kernel", (attention_units, 1)),
            ("Dense(1) kernel", (2 * gru_units, 1)),
            ("Dense(1) bias", (1,)),
        ]
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def ref_gru(
    x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray
) -> np.ndarray:
    """The states of a Keras GRU (gates z, r, h; reset_after=True) over x (T, features)."""
    units = recurrent.shape[0]
    state, out = np.zeros(units), []
    for x_t in x @ kernel + bias[0]:
        rec = state @ recurrent + bias[1]
        z = _sigmoid(x_t[:units] + rec[:units])
        r = _sigmoid(x_t[units : 2 * units] + rec[units : 2 * units])
        candidate = np.tanh(x_t[2 * units :] + r * rec[2 * units :])
        state = z * state + (1 - z) * candidate
        out.append(state)
    return np.array(out).reshape(len(x), units)


def ref_states(inputs: dict, ids: np.ndarray) -> np.ndarray:
    """The bidirectional GRU's states (batch, T, 2 * gru_units) that reach the attention for
    ``ids``, at the real tokens (zeros at the padding, which the mask hides from the pooling)."""
    w = [np.asarray(a, np.float64) for a in inputs["weights"]]
    embeddings, forward, backward = w[0], w[1:4], w[4:7]
    ids = np.asarray(ids)
    out = np.zeros(ids.shape + (2 * forward[1].shape[0],))
    for i, row in enumerate(ids):
        real = row[row != 0]
        x = embeddings[real]
        out[i, : len(real)] = np.concatenate(
            [ref_gru(x, *forward), ref_gru(x[::-1], *backward)[::-1]], axis=1
        )
    return out


def pooling_table(inputs: dict) -> dict[str, Any]:
    """The stand-in table of AttentionPooling for one case of build_gru_attention: for each
    batch of ids, the layer's inputs (the GRU states at the real tokens), its mask and weights,
    and the answer (pooled, weights). attention_course.standins.answering_layer looks them up."""
    W, b, v = (np.asarray(a, np.float64) for a in inputs["weights"][7:10])
    calls = []
    for ids in inputs["ids"]:
        states, mask = ref_states(inputs, ids), np.asarray(ids) != 0
        pooled, weights = ref_attention(states, W, b, v, mask)
        calls.append(
            {
                "inputs": states,
                "mask": mask,
                "weights": [np.asarray(a) for a in inputs["weights"][7:10]],
                "result": [pooled, weights],
            }
        )
    return {"kind": "layer", "calls": calls}


def seal_table(table: dict[str, Any]) -> dict[str, Any]:
    """The layer table sealed (standins.seal_layer_calls): an answer opens only for a call with
    the entry's states, mask and weights, so a model cannot read the pooled vectors or the
    attention weights of the case out of the table (the layer's closure, the cases file)."""
    return standins.seal_layer_calls(table["calls"])


def ref_gru_attention(inputs: dict) -> dict:
    """Probabilities and attention weights of the model with the case's weights (inference:
    no dropout). Padding (id 0) comes after the real tokens, so each review is the GRUs run
    over its real tokens only, forwards and backwards, as the mask makes Keras do."""
    w = [np.asarray(a, np.float64) for a in inputs["weights"]]
    embeddings, forward, backward = w[0], w[1:4], w[4:7]
    W, b, v, dense_kernel, dense_bias = w[7:]
    probabilities, attention = [], []
    for ids in inputs["ids"]:
        p_rows, a_rows = [], []
        for row in np.asarray(ids):
            real = row[row != 0]
            x = embeddings[real]
            states = np.concatenate(
                [ref_gru(x, *forward), ref_gru(x[::-1], *backward)[::-1]], axis=1
            )  # (length, 2 * gru_units)
            pooled, weights = ref_attention(states[None], W, b, v, None)
            p_rows.append(_sigmoid(pooled[0] @ dense_kernel + dense_bias))
            a_rows.append(np.concatenate([weights[0], np.zeros(len(row) - len(real))]))
        probabilities.append(np.array(p_rows))
        attention.append(np.array(a_rows))
    return {"probabilities": probabilities, "attention": attention}


@register
class GruAttention(Check):
    """While build_gru_attention is graded, AttentionPooling is answered from values (see
    :func:`pooling_table`): a mistake in the layer costs the layer's points only."""

    notebook, cell = NB, "test_gru_attention"

    @functools.cached_property
    def all_cases(self) -> list[Case]:
        return [
            Case(c.label, c.inputs, {"AttentionPooling": seal_table(pooling_table(c.inputs))})
            for c in self.cases()
        ]

    sizes = [  # vocab_size, embed_dim, gru_units, attention_units, dropout
        (50, 8, 4, 6, 0.0),
        (23, 6, 3, 5, 0.4),
    ]

    def cases(self):
        rng = np.random.default_rng(52)
        for vocab_size, embed_dim, gru_units, attention_units, dropout in self.sizes:
            shapes = _gru_weight_shapes(vocab_size, embed_dim, gru_units, attention_units)
            weights = [
                rng.normal(scale=0.8 if name.startswith("Dense") else 0.5, size=shape).astype(
                    "float32"
                )
                for name, shape in shapes
            ]
            # reviews of several lengths, padded after their real tokens
            ids = [
                _padded_ids(rng, vocab_size, [7, 4, 1], 7),
                _padded_ids(rng, vocab_size, [5], 12),
            ]
            if vocab_size == 50:  # the ids of the visible test
                ids.append(np.array([[5, 9, 12, 0, 0, 0], [7, 7, 7, 7, 7, 7]], "int32"))
            yield case(
                f"build_gru_attention(vocab_size={vocab_size}, embed_dim={embed_dim}, "
                f"gru_units={gru_units}, attention_units={attention_units}, "
                f"dropout={dropout})",
                vocab_size=vocab_size,
                embed_dim=embed_dim,
                gru_units=gru_units,
                attention_units=attention_units,
                dropout=dropout,
                weights=weights,
                ids=ids,
            )

    def expected(self, inputs):
        return ref_gru_attention(inputs)

    def error_hint(self, error):
        hint = _symbolic_hint(error)
        if hint:
            return hint
        if "NotImplementedError" in error.type_name:
            return "replace `raise NotImplementedError()` in build_gru_attention."
        return None

    def judge(self, case, got, want):
        seen = _nested(got, "out", self)
        label, inputs = case.label, case.inputs
        self._judge_weights(label, inputs, seen)
        self._judge_dropout(label, inputs, seen)
        for index, ids in enumerate(inputs["ids"]):
            lengths = (np.asarray(ids) != 0).sum(axis=1).tolist()
            what = f"ids of shape {ids.shape} (reviews of {lengths} real tokens, then padding)"
            self._judge_outputs(label, what, ids, seen, want, index)

    def _judge_weights(self, label, inputs, seen):
        shapes = seen.raw("shapes")
        reference = _gru_weight_shapes(
            inputs["vocab_size"],
            inputs["embed_dim"],
            inputs["gru_units"],
            inputs["attention_units"],
        )
        if not isinstance(shapes, (list, tuple)):
            fail(f"{label}: the probe reported no weight shapes (was the test cell changed?).")
        got_shapes = [tuple(int(n) for n in s) for s in shapes]
        hint = (
            "every size comes from the arguments (vocab_size, embed_dim, gru_units, "
            "attention_units: nothing hard-coded, no CONFIG), layers in the order of the "
            "exercise, a Bidirectional GRU, and a Dense(1) head that sees only the pooled "
            "vector (2 * gru_units features; do not concatenate the GRU's last states)."
        )
        if len(got_shapes) != len(reference):
            fail(
                f"{label}: the model has {len(got_shapes)} weight arrays, expected "
                f"{len(reference)}: {[s for _, s in reference]}; got {got_shapes}.",
                hint,
            )
        for (name, want_shape), got_shape in zip(reference, got_shapes, strict=True):
            if got_shape != want_shape:
                fail(
                    f"{label}: weight '{name}' should have shape {want_shape}, got {got_shape}.",
                    hint,
                )
        seen.raw("set_weights")  # an exception while loading the weights fails here

    def _judge_dropout(self, label, inputs, seen):
        layers = seen.raw("layers")
        if not isinstance(layers, (list, tuple)):
            fail(f"{label}: the probe reported no layers (was the test cell changed?).")
        rate = inputs["dropout"]
        for kind in ("SpatialDropout1D", "Dropout"):
            configs = [
                cfg
                for item in layers
                if isinstance(item, (list, tuple)) and len(item) == 2 and item[0] == kind
                for cfg in [item[1]]
            ]
            if not configs:
                fail(
                    f"{label}: the model has no {kind} layer.",
                    f"{kind}(dropout) belongs to the model (see the list of layers).",
                )
            for cfg in configs:
                got_rate = cfg.get("rate") if isinstance(cfg, dict) else None
                if not isinstance(got_rate, (int, float)) or abs(got_rate - rate) > 1e-9:
                    fail(
                        f"{label}: {kind} has rate {got_rate!r}, expected {rate} (the dropout "
                        "argument).",
                        "use the dropout argument, not a fixed rate.",
                    )

    def _judge_outputs(self, label, what, ids, seen, want, index):
        probabilities = seen.raw("probabilities")
        attention = seen.raw("attention")
        if (
            not isinstance(probabilities, list)
            or not isinstance(attention, list)
            or len(probabilities) <= index
            or len(attention) <= index
        ):
            fail(f"{label}: the probe reported no outputs (was the test cell changed?).")
        name = f"model output for {what} ({label})"
        got_p = _value_array(label, probabilities[index], "model output", check=self)
        want_p = want["probabilities"][index]
        check_shape(
            got_p, want_p.shape, name=name, hint="model: ids -> probability, shape (batch, 1)."
        )
        logits = np.log(want_p / (1 - want_p))
        if not np.allclose(got_p, want_p, rtol=1e-4, atol=1e-5) and np.allclose(
            got_p, logits, rtol=1e-4, atol=1e-5
        ):
            fail(
                f"{name}: these are logits, not probabilities.",
                "the head is Dense(1, activation='sigmoid').",
            )
        check_close(
            got_p,
            want_p,
            rtol=1e-4,
            atol=1e-5,
            name=name,
            hint="Embedding(mask_zero=True) -> SpatialDropout1D -> Bidirectional(GRU("
            "return_sequences=True)) -> AttentionPooling -> Dropout -> Dense(1, "
            "sigmoid) on the pooled vector only; the mask from the embedding must "
            "reach the attention.",
        )
        got_a = _value_array(label, attention[index], "weights_model output", check=self)
        want_a = want["attention"][index]
        name = f"weights_model output for {what} ({label})"
        check_shape(
            got_a,
            want_a.shape,
            name=name,
            hint="weights_model: ids -> the attention weights of the same layers, (batch, T).",
        )
        check_close(
            got_a,
            want_a,
            rtol=1e-4,
            atol=1e-6,
            name=name,
            hint="weights_model = keras.Model(the same ids input, the weights returned "
            "by the model's AttentionPooling): it shares the layers of model.",
        )


# ------------------------------------------------------------------------ exercise 3


@register
class ModelShapes(Check):
    notebook, cell = NB, "test_model_shapes"

    def cases(self):
        yield case(
            "GRU_ATTENTION_SHAPES", batch=32, T=200, embed_dim=48, gru_units=40, attention_units=24
        )

    def expected(self, inputs):
        B, T = inputs["batch"], inputs["T"]
        states = 2 * inputs["gru_units"]
        return {
            "ids": (B, T),
            "embedded": (B, T, inputs["embed_dim"]),
            "gru_states": (B, T, states),
            "attention_hidden": (B, T, inputs["attention_units"]),
            "weights": (B, T),
            "pooled": (B, states),
            "probability": (B, 1),
        }

    def judge(self, case, got, want):
        shapes = got.raw("shapes")
        if not isinstance(shapes, dict):
            fail(f"GRU_ATTENTION_SHAPES should be a dict, got {describe(shapes)}.")
        hints = {
            "embedded": "the embedding adds an axis of embed_dim values per token.",
            "gru_states": "return_sequences keeps one state per step; a bidirectional GRU "
            "concatenates both directions (2 x gru_units features).",
            "attention_hidden": "tanh(W h_t + b) has attention_units values per step.",
            "weights": "one weight per step: (batch, T).",
            "pooled": "pooling removes the time axis and keeps the width of the GRU's states "
            "(2 x gru_units), not the attention's.",
            "probability": "Dense(1) gives one probability per review.",
        }
        extra = [key for key in shapes if key not in want]
        if extra:
            fail(
                f"GRU_ATTENTION_SHAPES has unexpected keys {extra!r:.80}.",
                f"keep exactly the keys {list(want)}.",
            )
        for key, shape in want.items():
            name = f"GRU_ATTENTION_SHAPES[{key!r}]"
            if key not in shapes:
                fail(f"{name} is missing.", "fill in every key of the dict.")
            value = shapes[key]
            if not isinstance(value, (tuple, list)) or not all(
                isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_))
                for n in value
            ):
                fail(f"{name} should be a tuple of ints, got {value!r:.80}.")
            check_equal(tuple(int(n) for n in value), shape, name=name, hint=hints.get(key))


# ------------------------------------------------------------------------ exercise 4


@register
class TokenPositionEmbedding(Check):
    notebook, cell = NB, "test_token_position_embedding"

    def cases(self):
        rng = np.random.default_rng(54)

        def tables(vocab_size, max_len, dim):
            return dict(
                vocab_size=vocab_size,
                max_len=max_len,
                dim=dim,
                token_table=rng.normal(size=(vocab_size, dim)).astype("float32"),
                position_table=rng.normal(size=(max_len, dim)).astype("float32"),
            )

        example = dict(
            vocab_size=8,
            max_len=4,
            dim=2,
            token_table=np.stack([np.arange(8), 10 * np.arange(8)], 1).astype("float32"),
            position_table=np.stack([0.1 * np.arange(4), -np.arange(4)], 1).astype("float32"),
        )
        ids = np.array([[3, 3, 5, 0], [6, 1, 0, 0]])
        yield case(
            "TokenAndPositionEmbedding(8, max_len=4, dim=2) on the ids (2, 4) of the visible test",
            in_model=False,
            ids=ids,
            **example,
        )
        yield case(
            "TokenAndPositionEmbedding(8, max_len=4, dim=2) on the first 2 ids of the visible test",
            in_model=False,
            ids=ids[:, :2],
            **example,
        )
        yield case(
            "TokenAndPositionEmbedding(20, max_len=10, dim=4) on ids (2, 4)",
            in_model=False,
            ids=np.array([[3, 3, 7, 0], [5, 1, 0, 0]]),
            **tables(20, 10, 4),
        )
        for B, T, vocab_size, max_len, dim in [
            (3, 1, 50, 12, 6),
            (3, 7, 50, 12, 6),
            (2, 12, 50, 12, 6),
            (1, 5, 9, 5, 3),
        ]:
            ids = rng.integers(0, vocab_size, size=(B, T)).astype("int32")
            ids[0, -1] = 0
            yield case(
                f"TokenAndPositionEmbedding({vocab_size}, max_len={max_len}, dim={dim}) "
                f"on ids ({B}, {T})",
                in_model=False,
                ids=ids,
                **tables(vocab_size, max_len, dim),
            )
        short = np.array([[4, 5, 0, 0, 0], [6, 7, 8, 9, 2]], "int32")
        longer = np.concatenate([short, np.zeros((2, 3), "int32")], axis=1)
        yield case(
            "TokenAndPositionEmbedding(20, max_len=8, dim=4) inside a Keras model with "
            "inputs of shape (batch, None), then GlobalAveragePooling1D (which uses the "
            "mask); ids (2, 5) and the same ids with 3 more padding ids",
            in_model=True,
            ids_list=[short, longer],
            **tables(20, 8, 4),
        )

    def expected(self, inputs):
        token, position = inputs["token_table"], inputs["position_table"]

        def embed(ids):
            return token[ids] + position[: ids.shape[1]][None]

        if inputs["in_model"]:
            out = []
            for ids in inputs["ids_list"]:
                m = (ids != 0)[..., None]
                out.append((embed(ids) * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1))
            return {"pooled": out}
        return {"out": embed(inputs["ids"]), "mask": inputs["ids"] != 0}

    def error_hint(self, error):
        hint = _symbolic_hint(error)
        if hint:
            return hint
        if "NotImplementedError" in error.type_name:
            return "replace `raise NotImplementedError()` in call and compute_mask."
        if "expecting 0 weights" in error.message:
            return (
                "call must use both tables of __init__: self.token(ids) + "
                "self.position(positions) (the test loads their weights)."
            )
        if any(w in error.message for w in ("Incompatible shapes", "broadcast", "indices")):
            return (
                "embed the positions 0..T-1 of the input (keras.ops.arange(T) with T from "
                "keras.ops.shape(ids)), not the ids and not all max_len positions."
            )
        return None

    def judge(self, case, got, want):
        seen = _nested(got, "out", self)
        if case.inputs["in_model"]:
            pooled = seen.raw("pooled")
            if not isinstance(pooled, list) or len(pooled) != len(want["pooled"]):
                fail(f"{case.label}: the probe reported no outputs (was the test cell changed?).")
            for ids, value, expected in zip(
                case.inputs["ids_list"], pooled, want["pooled"], strict=True
            ):
                check_close(
                    _value_array(case.label, value, "pooled", check=self),
                    expected,
                    rtol=1e-4,
                    atol=1e-5,
                    name=f"masked average of the embeddings of ids {ids.shape} in a model",
                    hint="compute_mask must return ids != 0 so that the next layers "
                    "ignore padding; T comes from keras.ops.shape(ids) (any "
                    "length up to max_len).",
                )
            return
        out = seen.array("output", kind="f")
        check_shape(
            out,
            want["out"].shape,
            name=f"output of {case.label}",
            hint="(batch, T, dim): one vector per token.",
        )
        check_close(
            out,
            want["out"],
            rtol=1e-5,
            atol=1e-5,
            name=f"output of {case.label}",
            hint="token(ids) + position(keras.ops.arange(T)), broadcast over the batch: "
            "embed the positions 0..T-1, not the ids.",
        )
        mask = seen.raw("mask")
        if mask is None:
            fail(
                f"compute_mask of {case.label} returned None.",
                "return ids != 0 (keras.ops.not_equal(ids, 0)).",
            )
        mask = seen.array("mask")
        if mask.dtype != np.bool_:
            fail(
                f"compute_mask of {case.label} has dtype {mask.dtype}, expected booleans.",
                "True where ids != 0: keras.ops.not_equal(ids, 0).",
            )
        check_equal(
            mask,
            want["mask"],
            name=f"compute_mask of {case.label}",
            hint="True where ids != 0 (real tokens), False on padding.",
        )


# ------------------------------------------------------------------------ exercise 5


@register
class NearestNeighbours(Check):
    """Notebook 01's contract (its Exercise 5.2), reused: cosine similarity, the word itself
    excluded by its row, equal similarities by row index, KeyError for an unknown word, a zero
    vector has similarity 0."""

    notebook, cell = NB, "test_nearest_neighbours"

    def cases(self):
        yield case(
            "nearest_neighbours('good', toy_vocab, toy_vectors, k=2) of the visible test",
            word="good",
            vocab={"good": 0, "great": 1, "bad": 2, "awful": 3, "movie": 4},
            embeddings=np.array([[1.0, 0.0], [10.0, 1.0], [-1.0, 0.1], [-1.0, 0.2], [0.1, 1.0]]),
            k=2,
        )
        zero_vocab = {"lovely": 4, "fine": 0, "dull": 1, "blank": 2, "nice": 3}
        zero_vectors = np.array([[1.0, 0.2], [-1.0, 0.3], [0.0, 0.0], [0.9, 0.5], [1.8, 1.0]])
        yield case(
            "nearest_neighbours('fine', tie_vocab, tie_vectors, k=4) of the visible test (equal "
            "similarities, a zero vector)",
            word="fine",
            vocab=zero_vocab,
            embeddings=zero_vectors,
            k=4,
        )
        rng = np.random.default_rng(55)
        vectors = rng.normal(size=(40, 6))
        vectors[7] *= 100.0  # a long vector must not win by its length
        vocab = {f"w{i}": i for i in range(40)}
        for word, k in [("w2", 4), ("w7", 4), ("w30", 1), ("w39", 6), ("w0", 3)]:
            yield case(
                f"nearest_neighbours({word!r}, random vectors (40, 6), k={k})",
                word=word,
                vocab=vocab,
                embeddings=vectors,
                k=k,
            )
        # exact ties (vectors scaled by powers of 2): equal similarities by row index; "twin"
        # (row 1) points exactly like "query" (row 4): the word is excluded by its row, not as
        # the first of the ranking; the order of the dict is not the order of the rows
        tied = np.array(
            [[0, 1], [4, 0], [1, 1], [0, -2], [1, 0], [2, -2], [4, 4], [-1, 0]], dtype=float
        )
        tied_vocab = {
            "query": 4,
            "delta": 6,
            "alpha": 5,
            "foxtrot": 7,
            "echo": 0,
            "bravo": 3,
            "charlie": 2,
            "twin": 1,
        }
        for word, k in [("query", 6), ("alpha", 3), ("charlie", 7)]:
            yield case(
                f"nearest_neighbours({word!r}, k={k}) with equal similarities",
                word=word,
                vocab=tied_vocab,
                embeddings=tied,
                k=k,
            )
        # a zero vector among the words: similarity 0, above every negative similarity
        zero = np.array(
            [
                [0.0, 0.0, 0.0],
                [1.0, 0.2, 0.0],
                [-1.0, 0.3, 0.1],
                [0.0, 0.0, 0.0],
                [0.9, 0.5, 0.3],
                [-0.8, -0.9, 0.2],
                [-0.1, 1.0, 0.6],
                [-1.0, -0.1, -0.4],
            ]
        )
        words = {"void": 0, "fine": 1, "dull": 2, "blank": 3, "nice": 4, "awful": 5, "odd": 6}
        words["bad"] = 7
        for word in ("fine", "dull"):
            yield case(
                f"nearest_neighbours({word!r}, k=5) when 'void' and 'blank' have zero vectors",
                word=word,
                vocab=words,
                embeddings=zero,
                k=5,
            )
        yield case(
            "nearest_neighbours of an unknown word",
            word="not-a-word",
            vocab=vocab,
            embeddings=vectors,
            k=3,
        )

    def expected(self, inputs):
        return ref_cosine_neighbours(
            inputs["word"], inputs["vocab"], inputs["embeddings"], inputs["k"]
        )

    def judge(self, case, got, want):
        value = got.values.get("neighbours")
        if want is None:
            if not (isinstance(value, wire.Raised) and value.type_name == "KeyError"):
                came = (
                    f"raised {value!r}"
                    if isinstance(value, wire.Raised)
                    else (f"returned {describe(value)}")
                )
                fail(
                    f"{case.label} should raise KeyError; your function {came}.",
                    "as in notebook 1: an unknown word raises KeyError (vocab[word]).",
                )
            return
        value = got.raw("neighbours")
        if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
            fail(f"{case.label} should return a list of strings, got {describe(value)}.")
        zero_hint = (
            " A zero vector has similarity 0 with everything (no NaN: divide only by "
            "norms that are not 0)."
            if "zero vector" in case.label
            else ""
        )
        check_equal(
            value,
            want,
            name=case.label,
            hint="as in notebook 1: rank by cosine similarity (vector lengths differ), most "
            "similar first; exclude the word itself by its row (not as the first of the "
            "ranking); equal similarities by row index; vocab[word] is the row (the dict's "
            "order is not)." + zero_hint,
        )
