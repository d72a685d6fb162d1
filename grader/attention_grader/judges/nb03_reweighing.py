"""Trusted checks of 03_reweighing: smoothing weights, softmax, scaled dot-product attention
(shapes, values, masks), padding and causal masks, splitting and merging heads, multi-head
attention (against Keras' MultiHeadAttention, re-implemented here in NumPy), positional
encoding, the encoder block's shapes and the encoder block itself.

References are written here, independently of the notebook's solutions, in float64 NumPy.
``ref_mha`` follows ``keras.layers.MultiHeadAttention`` (with ``return_attention_scores=True``:
a query whose keys are all blocked gets zero weights and output ``bo``) and ``ref_encoder``
the notebook's post-norm block built from Keras layers; tests/test_judges_03.py proves both
equal Keras to 1e-5.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from attention_course import wire
from attention_course.checks import check_close, check_equal, check_shape, check_sums_to_one, fail

from ..judging import (
    Case,
    Check,
    Observed,
    any_spelling,
    case,
    recorded_calls,
    register,
    sealed,
)

NB = "03_reweighing"
LN_EPSILON = 1e-6  # the notebook's LayerNormalization(epsilon=1e-6)
TRANSPOSE_HINT = (
    "transpose only the last two axes of k: np.swapaxes(k, -1, -2) (or "
    "tf.linalg.matrix_transpose); k.T reverses every axis of a 3-D or 4-D array."
)


# ------------------------------------------------------------------------ references


def ref_smoothing(T: int, sigma: float) -> np.ndarray:
    d = np.subtract.outer(np.arange(T), np.arange(T)).astype(np.float64)
    w = np.exp(-d * d / (2.0 * sigma * sigma))
    return w / w.sum(axis=1, keepdims=True)


def ref_softmax(x: Any, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64) / temperature
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_attention(q: Any, k: Any, v: Any, mask: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(output, weights); blocked keys weigh 0, a query with no allowed key gets zeros."""
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (q, k, v))
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is None:
        weights = ref_softmax(scores)
    else:
        allowed = np.broadcast_to(np.asarray(mask) != 0, scores.shape)
        top = np.where(allowed, scores, -np.inf).max(axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        e = np.exp(np.where(allowed, scores - top, -np.inf))
        total = e.sum(axis=-1, keepdims=True)
        weights = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return weights @ v, weights


def ref_split(x: np.ndarray, num_heads: int) -> np.ndarray:
    b, t, width = x.shape
    return x.reshape(b, t, num_heads, width // num_heads).transpose(0, 2, 1, 3)


def ref_merge(x: np.ndarray) -> np.ndarray:
    b, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * d)


def ref_mha(
    query: Any, value: Any, key: Any, params: dict[str, Any], num_heads: int, mask: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Keras' MultiHeadAttention with flat weights (the notebook's ``params`` dict);
    ``mask`` (batch, T_q, T_k) like Keras' ``attention_mask``."""
    p = {name: np.asarray(w, dtype=np.float64) for name, w in params.items()}
    query, value, key = (np.asarray(t, dtype=np.float64) for t in (query, value, key))
    q = ref_split(query @ p["Wq"] + p["bq"], num_heads)
    k = ref_split(key @ p["Wk"] + p["bk"], num_heads)
    v = ref_split(value @ p["Wv"] + p["bv"], num_heads)
    heads, weights = ref_attention(q, k, v, None if mask is None else np.asarray(mask)[:, None])
    return ref_merge(heads) @ p["Wo"] + p["bo"], weights


def keras_mha_weights(params: dict[str, np.ndarray], num_heads: int) -> list[np.ndarray]:
    """Flat ``params`` -> the 8 arrays of ``keras.layers.MultiHeadAttention.get_weights()``
    (the inverse of the notebook's ``mha_params_from_keras``)."""

    def kernel(w: np.ndarray) -> np.ndarray:
        return w.reshape(w.shape[0], num_heads, -1)

    def bias(b: np.ndarray) -> np.ndarray:
        return b.reshape(num_heads, -1)

    wo = params["Wo"]
    return [
        kernel(params["Wq"]),
        bias(params["bq"]),
        kernel(params["Wk"]),
        bias(params["bk"]),
        kernel(params["Wv"]),
        bias(params["bv"]),
        wo.reshape(num_heads, wo.shape[0] // num_heads, wo.shape[1]),
        params["bo"],
    ]


def flat_mha_params(weights: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The 8 Keras arrays -> the notebook's flat ``params`` dict."""
    qk, qb, kk, kb, vk, vb, ok, ob = (np.asarray(w) for w in weights)
    return {
        "Wq": qk.reshape(qk.shape[0], -1),
        "bq": qb.reshape(-1),
        "Wk": kk.reshape(kk.shape[0], -1),
        "bk": kb.reshape(-1),
        "Wv": vk.reshape(vk.shape[0], -1),
        "bv": vb.reshape(-1),
        "Wo": ok.reshape(-1, ok.shape[-1]),
        "bo": ob,
    }


def ref_layer_norm(x: np.ndarray, gamma: Any, beta: Any, epsilon: float = LN_EPSILON) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * np.asarray(gamma, np.float64) + np.asarray(
        beta, np.float64
    )


def ref_encoder(
    x: Any, weights: dict[str, list[np.ndarray]], num_heads: int, mask: Any = None
) -> np.ndarray:
    """The post-norm encoder block at inference: h = LN1(x + MHA(x, x, x)),
    y = LN2(h + FFN(h)); ``mask`` (batch, T) blocks padded keys."""
    x = np.asarray(x, dtype=np.float64)
    attention_mask = None
    if mask is not None:
        keys = np.asarray(mask) != 0
        attention_mask = np.broadcast_to(keys[:, None, :], (x.shape[0], x.shape[1], x.shape[1]))
    a, _ = ref_mha(x, x, x, flat_mha_params(weights["attention"]), num_heads, attention_mask)
    h = ref_layer_norm(x + a, *weights["norm1"])
    k1, b1, k2, b2 = (np.asarray(w, np.float64) for w in weights["ffn"])
    f = np.maximum(h @ k1 + b1, 0.0) @ k2 + b2
    return ref_layer_norm(h + f, *weights["norm2"])


def ref_encoder_all_dropped(x: Any, weights: dict[str, list[np.ndarray]]) -> np.ndarray:
    """The block with dropout rate 1.0 in training mode, dropout on each sub-layer's output
    before its residual add: both sub-layer outputs are zeroed, y = LN2(LN1(x))."""
    h = ref_layer_norm(np.asarray(x, dtype=np.float64), *weights["norm1"])
    return ref_layer_norm(h, *weights["norm2"])


def ref_pe(seq_len: int, d_model: int) -> np.ndarray:
    pos = np.arange(seq_len, dtype=np.float64)[:, None]
    freq = 1.0 / 10000.0 ** (np.arange(0, d_model, 2) / d_model)
    pe = np.zeros((seq_len, d_model))
    pe[:, 0::2] = np.sin(pos * freq)
    pe[:, 1::2] = np.cos(pos * freq)
    return pe


def encoder_shapes(
    batch: int, T: int, d_model: int, num_heads: int, d_ff: int
) -> dict[str, tuple[int, ...]]:
    token = (batch, T, d_model)
    return {
        "input": token,
        "attention_weights": (batch, num_heads, T, T),
        "attention_output": token,
        "after_add_norm_1": token,
        "ffn_hidden": (batch, T, d_ff),
        "block_output": token,
    }


# ------------------------------------------------------------------------ stand-ins
#
# While scaled_dot_product_attention is graded, the student's softmax is stood in for, and while
# multi_head_attention is graded, split_heads, merge_heads and scaled_dot_product_attention are:
# each hidden case carries the calls a correct solution makes to them, with the answers computed
# here (probe.StandIn answers those calls from the values and any other call with the student's
# own function). No reference code enters the student's kernel, and every entry is sealed
# (judging.sealed): a digest of its arguments and its answer encrypted with a key derived from
# them, so a blank exercise cannot read the weights or the merged heads of a case out of the
# table; it gets them only by making the calls a correct solution makes. Blocked scores (-1e9
# here, -1e30 or -inf in a student's code) are held by where they are, not by their value.


def attention_calling(softmax: Callable[..., Any]) -> Callable[..., Any]:
    """Scaled dot-product attention built as the exercise describes it, calling ``softmax``:
    blocked scores replaced by -1e9 before the softmax over the keys, their weights set to 0
    after it. Equal to :func:`ref_attention` when ``softmax`` is :func:`ref_softmax`."""

    def attention(q: Any, k: Any, v: Any, mask: Any = None) -> tuple[np.ndarray, np.ndarray]:
        q, k, v = (np.asarray(t, dtype=np.float64) for t in (q, k, v))
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
        if mask is None:
            weights = np.asarray(softmax(scores, axis=-1), dtype=np.float64)
            return weights @ v, weights
        allowed = np.broadcast_to(np.asarray(mask) != 0, scores.shape)
        weights = np.asarray(softmax(np.where(allowed, scores, -1e9), axis=-1), dtype=np.float64)
        weights = np.where(allowed, weights, 0.0)
        return weights @ v, weights

    return attention


def mha_calling(
    split_heads: Callable[..., Any],
    merge_heads: Callable[..., Any],
    attention: Callable[..., Any],
) -> Callable[..., Any]:
    """Multi-head attention built as the exercise describes it, calling the three helpers.
    Equal to :func:`ref_mha` with :func:`ref_split`, :func:`ref_merge`, :func:`ref_attention`."""

    def mha(query, value, key, params, num_heads, mask=None):
        p = {name: np.asarray(w, dtype=np.float64) for name, w in params.items()}
        query, value, key = (np.asarray(t, dtype=np.float64) for t in (query, value, key))
        q = split_heads(query @ p["Wq"] + p["bq"], num_heads)
        k = split_heads(key @ p["Wk"] + p["bk"], num_heads)
        v = split_heads(value @ p["Wv"] + p["bv"], num_heads)
        if mask is not None:
            mask = np.asarray(mask)[:, None]  # (batch, 1, T_q, T_k): every head
        heads, weights = attention(q, k, v, mask)
        return np.asarray(merge_heads(heads), dtype=np.float64) @ p["Wo"] + p["bo"], weights

    return mha


def softmax_tables(calls: list[tuple[Any, Any, Any, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The softmax calls (and answers) of attention run on each ``(q, k, v, mask)``."""

    def run(softmax):
        attention = attention_calling(softmax)
        for q, k, v, mask in calls:
            attention(q, k, v, mask)

    return sealed(any_spelling(recorded_calls(run, softmax=ref_softmax), softmax=ref_softmax))


def mha_tables(inputs: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The helper calls (and answers) of multi-head attention run on one case's inputs."""

    def run(split_heads, merge_heads, scaled_dot_product_attention):
        mha = mha_calling(split_heads, merge_heads, scaled_dot_product_attention)
        mha(
            inputs["query"],
            inputs["value"],
            inputs["key"],
            inputs["params"],
            inputs["num_heads"],
            inputs["mask"],
        )

    references = {
        "split_heads": ref_split,
        "merge_heads": ref_merge,
        "scaled_dot_product_attention": ref_attention,
    }
    return sealed(any_spelling(recorded_calls(run, **references), **references))


# ------------------------------------------------------------------------ helpers


def _arrays(got: Observed, name: str, names: tuple[str, ...]) -> list[np.ndarray]:
    """The items of a returned pair (or list) as numeric arrays, with clear messages."""
    value = got.raw(name)
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        fail(
            f"{got.label}: expected {len(names)} values ({', '.join(names)}), got "
            f"{_describe(value)}.",
            "return output, weights (a tuple of two arrays).",
        )
    items = Observed(dict(zip(names, value, strict=True)), got.label, got.check)
    return [items.array(n, kind="f") for n in names]


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"one array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return type(value).__name__


def _matmul_error(error: wire.Raised) -> bool:
    text = f"{error.type_name} {error.message}".lower()
    return any(
        s in text
        for s in (
            "matmul",
            "mismatch in its core dimension",
            "incompatible",
            "cannot be broadcast",
            "dimensions must be equal",
            "shapes",
        )
    )


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------ exercise 1


@register
class SmoothingWeights(Check):
    notebook, cell = NB, "test_smoothing_weights"

    def cases(self):
        for T, sigma in [(5, 1.0), (7, 2.5), (12, 0.7), (1, 3.0), (9, 4.0), (6, 2.0)]:
            yield case(f"smoothing_weights({T}, {sigma})", T=T, sigma=sigma)

    def expected(self, inputs):
        return ref_smoothing(inputs["T"], inputs["sigma"])

    def judge(self, case, got, want):
        W = got.array("W", kind="f")
        check_shape(W, want.shape, name=case.label, hint="W is (T, T): one row per output.")
        check_sums_to_one(
            W,
            axis=1,
            name=f"rows of {case.label}",
            hint="normalise each row (axis=1) on its own, also near the edges: "
            "divide by the row's sum, not by a fixed constant or the "
            "column sums.",
        )
        check_close(
            W,
            want,
            name=case.label,
            rtol=1e-5,
            atol=1e-8,
            hint="W[i, j] is proportional to exp(-(i - j)**2 / (2 * sigma**2)): sigma is squared.",
        )


# ------------------------------------------------------------------------ exercise 2


@register
class Softmax(Check):
    notebook, cell = NB, "test_softmax"

    def cases(self):
        yield case(
            "softmax([[1, 2, 3], [0, 0, 0]])",
            x=np.array([[1.0, 2.0, 3.0], [0, 0, 0]]),
            axis=-1,
            temperature=1.0,
        )
        yield case("softmax([1000, 1001])", x=np.array([1000.0, 1001.0]), axis=-1, temperature=1.0)
        yield case(
            "softmax([1, 2], temperature=0.5)", x=np.array([1.0, 2.0]), axis=-1, temperature=0.5
        )
        yield case(
            "softmax([[1, 5], [3, 5]], axis=0)",
            x=np.array([[1.0, 5.0], [3.0, 5.0]]),
            axis=0,
            temperature=1.0,
        )
        x = _rng(3).normal(size=(2, 3, 4)) * 3
        for axis in (-1, 0, 1):
            yield case(
                f"softmax(x of shape (2, 3, 4), axis={axis})", x=x, axis=axis, temperature=1.0
            )
        big = np.array([[800.0, 805.0, -700.0], [-1000.0, -1001.0, -1002.0]])
        yield case(
            "softmax of rows with very large and very small scores", x=big, axis=-1, temperature=1.0
        )
        yield case(
            "softmax of very large scores along axis=0", x=big.T.copy(), axis=0, temperature=1.0
        )
        s = np.array([0.5, 2.0, 1.0, -1.0])
        for temperature in (0.01, 1e4, 3.0):
            yield case(
                f"softmax([0.5, 2, 1, -1], temperature={temperature:g})",
                x=s,
                axis=-1,
                temperature=temperature,
            )
        yield case(
            "softmax(x of shape (3, 2, 5), axis=1, temperature=2.5)",
            x=_rng(4).normal(size=(3, 2, 5)) * 4,
            axis=1,
            temperature=2.5,
        )

    def expected(self, inputs):
        return ref_softmax(inputs["x"], inputs["axis"], inputs["temperature"])

    def judge(self, case, got, want):
        y = got.array("y", kind="f")
        check_shape(y, want.shape, name=case.label, hint="return an array of the input's shape.")
        big = float(np.max(np.abs(case.inputs["x"]))) > 500
        if not np.all(np.isfinite(y.astype(np.float64))):
            fail(
                f"{case.label} contains NaN or inf.",
                "subtract the maximum along the axis (keepdims=True) before np.exp, so that no "
                "exponent is positive.",
            )
        hints = []
        if case.inputs["axis"] != -1:
            hints.append("normalise along the axis you are given, not always the last one")
        if case.inputs["temperature"] != 1.0:
            hints.append(
                "divide the scores by the temperature (a low temperature sharpens, a "
                "high one flattens)"
            )
        if big:
            hints.append(
                "subtract the maximum *along the axis*, not the maximum of the whole "
                "array: a row far below the global maximum underflows to 0/0"
            )
        check_close(
            y,
            want,
            name=case.label,
            rtol=1e-5,
            atol=1e-7,
            hint="; ".join(hints) + "." if hints else None,
        )


# ------------------------------------------------------------------------ exercise 3


def _attention_case(
    label: str,
    rng: np.random.Generator,
    lead: tuple[int, ...],
    Tq: int,
    Tk: int,
    dk: int,
    dv: int,
    mask: Any = None,
    dtype: str = "float64",
):
    return case(
        label,
        q=rng.normal(size=lead + (Tq, dk)).astype(dtype),
        k=rng.normal(size=lead + (Tk, dk)).astype(dtype),
        v=rng.normal(size=lead + (Tk, dv)).astype(dtype),
        mask=mask,
    )


class _Attention(Check):
    """The attention cells: each case carries the softmax calls of a correct solution."""

    @functools.cached_property
    def all_cases(self) -> list[Case]:
        return [
            Case(c.label, c.inputs, softmax_tables(self.attention_calls(c.inputs)))
            for c in self.cases()
        ]

    def attention_calls(self, inputs: dict[str, Any]) -> list[tuple[Any, Any, Any, Any]]:
        """The calls of scaled_dot_product_attention the test cell makes for one case."""
        return [(inputs["q"], inputs["k"], inputs["v"], inputs["mask"])]

    def expected(self, inputs):
        return ref_attention(inputs["q"], inputs["k"], inputs["v"], inputs["mask"])

    def error_hint(self, error):
        return TRANSPOSE_HINT if _matmul_error(error) else None

    def shapes(self, case, got, want) -> tuple[np.ndarray, np.ndarray]:
        output, weights = _arrays(got, "out", ("output", "weights"))
        check_shape(
            weights,
            want[1].shape,
            name=f"weights for {case.label}",
            hint="weights are (..., T_q, T_k): " + TRANSPOSE_HINT,
        )
        check_shape(
            output,
            want[0].shape,
            name=f"output for {case.label}",
            hint="output is (..., T_q, d_v): the weights (..., T_q, T_k) times v (..., T_k, d_v).",
        )
        return output, weights


@register
class AttentionShapes(_Attention):
    notebook, cell = NB, "test_attention_shapes"

    def cases(self):
        rng = _rng(11)
        yield _attention_case("q (2, 4, 6), k (2, 5, 6), v (2, 5, 7)", _rng(0), (2,), 4, 5, 6, 7)
        for lead, Tq, Tk, dk, dv in [
            ((2, 3), 4, 5, 6, 7),
            ((1,), 1, 3, 2, 5),
            ((3,), 6, 1, 4, 2),
            ((), 2, 3, 4, 5),
            ((2, 1, 3), 2, 4, 3, 1),
        ]:
            yield _attention_case(
                f"leading axes {lead}, T_q={Tq}, T_k={Tk}, d_k={dk}, d_v={dv}",
                rng,
                lead,
                Tq,
                Tk,
                dk,
                dv,
            )

    def judge(self, case, got, want):
        self.shapes(case, got, want)


@register
class AttentionValues(_Attention):
    notebook, cell = NB, "test_attention_values"

    def cases(self):
        yield case(
            "the example q (1, 2, 2), k (1, 3, 2), v (1, 3, 1)",
            q=np.array([[[1.0, 0.0], [0.0, 2.0]]]),
            k=np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]),
            v=np.array([[[1.0], [2.0], [3.0]]]),
            mask=None,
        )
        rng = _rng(12)
        for lead, Tq, Tk, dk, dv in [
            ((2, 3), 4, 5, 16, 7),
            ((2,), 4, 5, 6, 7),
            ((1,), 1, 1, 3, 2),
            ((3,), 5, 2, 9, 4),
        ]:
            yield _attention_case(
                f"float32 q, k, v with leading axes {lead}, T_q={Tq}, T_k={Tk}, d_k={dk}, d_v={dv}",
                rng,
                lead,
                Tq,
                Tk,
                dk,
                dv,
                dtype="float32",
            )

    def judge(self, case, got, want):
        output, weights = self.shapes(case, got, want)
        check_sums_to_one(
            weights,
            axis=-1,
            name=f"weights for {case.label}",
            hint="the softmax runs over the keys (the last axis): each query's weights sum to 1.",
        )
        check_close(
            weights,
            want[1],
            name=f"weights for {case.label}",
            rtol=1e-4,
            atol=1e-5,
            hint="scores = q @ k^T / sqrt(d_k): divide by the square root of the key "
            "dimension (q.shape[-1]), then softmax over the last axis.",
        )
        check_close(
            output,
            want[0],
            name=f"output for {case.label}",
            rtol=1e-4,
            atol=1e-5,
            hint="the output is weights @ v.",
        )


@register
class AttentionMask(_Attention):
    """Grades the masking only: the masked weights must be the student's own unmasked weights
    restricted to the allowed keys and renormalised (so a scaling mistake, graded by
    test_attention_values, does not cost these points too), with zero rows where nothing is
    allowed; the output must be those weights @ v."""

    notebook, cell = NB, "test_attention_mask"

    def attention_calls(self, inputs):
        q, k, v = inputs["q"], inputs["k"], inputs["v"]
        return [(q, k, v, inputs["mask"]), (q, k, v, None)]  # masked, then without the mask

    def cases(self):
        rng = _rng(1)
        causal = np.tril(np.ones((3, 3), dtype=bool))
        q, k, v = rng.normal(size=(1, 3, 4)), rng.normal(size=(1, 3, 4)), rng.normal(size=(1, 3, 2))
        yield case("the example: causal mask (3, 3), q (1, 3, 4)", q=q, k=k, v=v, mask=causal)
        nothing = np.array([[[True, True, True], [False, False, False], [True, False, True]]])
        yield case("the example with query 1 blocked from every key", q=q, k=k, v=v, mask=nothing)
        rng = _rng(13)
        B, H, Tq, Tk, dk, dv = 2, 3, 4, 5, 6, 7
        allowed = rng.random((B, 1, Tq, Tk)) < 0.6
        allowed[..., 0] = True
        q, k = rng.normal(size=(B, H, Tq, dk)), rng.normal(size=(B, H, Tk, dk))
        v = rng.normal(size=(B, H, Tk, dv)) + 100.0 * (~allowed.any(axis=2))[..., None]
        yield case("a boolean mask (2, 1, 4, 5) for q (2, 3, 4, 6)", q=q, k=k, v=v, mask=allowed)
        yield case(
            "a 0/1 integer mask (2, 1, 4, 5) for q (2, 3, 4, 6)",
            q=q,
            k=k,
            v=v,
            mask=allowed.astype(np.int64),
        )
        keys = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
        yield _attention_case(
            "a padding mask (3, 1, 5) for q (3, 4, 6) (broadcast over the queries)",
            _rng(14),
            (3,),
            4,
            5,
            6,
            3,
            mask=keys[:, None, :],
        )
        yield _attention_case(
            "a causal mask (4, 4) for q (2, 4, 3) (broadcast over the batch)",
            _rng(15),
            (2,),
            4,
            4,
            3,
            2,
            mask=np.tril(np.ones((4, 4), bool)),
        )
        none = np.ones((1, 2, 3), dtype=bool)
        none[0, 1, :] = False
        yield _attention_case(
            "a query whose keys are all blocked (boolean mask)",
            _rng(16),
            (1,),
            2,
            3,
            4,
            2,
            mask=none,
        )
        ints = (_rng(17).random((2, 1, 3, 4)) < 0.5).astype(np.int32)
        ints[:, :, 0, :] = 0  # query 0 of every example may attend to nothing
        ints[:, :, 1:, 1] = 1
        yield _attention_case(
            "queries whose keys are all blocked (0/1 integer mask, q (2, 2, 3, 5))",
            _rng(18),
            (2, 2),
            3,
            4,
            5,
            3,
            mask=ints,
        )

    def judge(self, case, got, want):
        output, weights = self.shapes(case, got, want)
        free = _arrays(got, "unmasked", ("output", "weights"))[1].astype(np.float64)
        check_shape(
            free,
            want[1].shape,
            name=f"weights without a mask for {case.label}",
            hint="weights are (..., T_q, T_k).",
        )
        mask = np.asarray(case.inputs["mask"])
        integer = mask.dtype.kind in "iu"
        convention = "True/1 = may attend, False/0 = blocked" + (
            "; this mask holds 0/1 integers: turn it into booleans first "
            "(mask.astype(bool)): ~ of an integer array is not a logical not"
            if integer
            else ""
        )
        allowed = np.broadcast_to(mask != 0, want[1].shape)
        w = weights.astype(np.float64)
        rows = allowed.any(axis=-1)  # queries with at least one allowed key
        if not rows.all():
            empty = w[~rows]
            if not np.all(np.isfinite(empty)) or np.any(np.abs(empty) > 1e-9):
                fail(
                    f"{case.label}: a query whose keys are all blocked should get all-zero "
                    "weights (and no NaN).",
                    "the notebook's choice: after the softmax, set the weights of blocked keys "
                    "to 0 again, so a row with no allowed key is all zeros (a softmax over only "
                    "large negative scores gives uniform weights, and -inf gives NaN).",
                )
            check_close(
                output[~rows],
                np.zeros_like(want[0][~rows]),
                name=f"output of the fully blocked queries in {case.label}",
                atol=1e-9,
                hint="a query that may attend to nothing has the zero vector as output.",
            )
        if not np.all(np.isfinite(w)):
            fail(
                f"{case.label}: the weights contain NaN or inf.",
                "replace blocked scores by a large negative number (e.g. -1e9) before the softmax.",
            )
        if np.any(np.abs(w[~allowed]) > 1e-9):
            fail(
                f"{case.label}: blocked keys got non-zero weights (largest "
                f"{float(np.max(np.abs(w[~allowed]))):.3g}).",
                f"{convention}. Blocked scores become a very large negative number before the "
                "softmax, so their weights are exactly 0.",
            )
        check_sums_to_one(
            w[rows],
            axis=-1,
            name=f"weights of the queries with allowed keys in {case.label}",
            hint="mask the scores *before* the softmax; zeroing weights afterwards "
            "leaves rows that do not sum to 1.",
        )
        kept = np.where(allowed, free, 0.0)
        total = kept.sum(axis=-1, keepdims=True)
        expected_w = np.divide(kept, total, out=np.zeros_like(kept), where=total > 0)
        check_close(
            w,
            expected_w,
            name=f"weights for {case.label} (your weights without the "
            "mask, restricted to the allowed keys and renormalised)",
            rtol=1e-4,
            atol=1e-6,
            hint=f"{convention}; the mask broadcasts against the scores (..., T_q, T_k): "
            "replace the blocked scores (np.where on the broadcast mask) before "
            "the softmax, so the allowed keys share all of the weight.",
        )
        v = np.asarray(case.inputs["v"], dtype=np.float64)
        check_close(
            output,
            expected_w @ v,
            name=f"output for {case.label}",
            rtol=1e-4,
            atol=1e-5,
            hint="the output is the masked weights @ v: a blocked key contributes nothing.",
        )


# ------------------------------------------------------------------------ exercise 4


@register
class Masks(Check):
    notebook, cell = NB, "test_masks"

    def cases(self):
        yield case(
            "padding_mask([[5, 7, 0, 0], [3, 0, 0, 0]])",
            op="padding",
            ids=np.array([[5, 7, 0, 0], [3, 0, 0, 0]]),
            kwargs={},
        )
        ids = _rng(21).integers(1, 50, size=(3, 6))
        ids[0, 4:] = 0
        ids[2, 1:] = 0
        yield case(
            "padding_mask of ids (3, 6), one row without padding", op="padding", ids=ids, kwargs={}
        )
        yield case(
            "padding_mask of left-padded ids and an id 0 inside",
            op="padding",
            ids=np.array([[0, 0, 4, 8, 2], [6, 0, 3, 0, 1]]),
            kwargs={},
        )
        yield case(
            "padding_mask([[9, 9, 4, 1]], pad_id=9)",
            op="padding",
            ids=np.array([[9, 9, 4, 1, 0]]),
            kwargs={"pad_id": 9},
        )
        for T in (3, 1, 5, 8):
            yield case(f"causal_mask({T})", op="causal", T=T)

    def expected(self, inputs):
        if inputs["op"] == "causal":
            T = inputs["T"]
            return np.arange(T)[None, :] <= np.arange(T)[:, None]
        pad_id = inputs["kwargs"].get("pad_id", 0)
        return (np.asarray(inputs["ids"]) != pad_id)[:, None, :]

    def judge(self, case, got, want):
        mask = got.raw("mask")
        if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_):
            fail(
                f"{case.label} should be a boolean array, got "
                f"{_describe(mask) if not isinstance(mask, np.ndarray) else mask.dtype}.",
                "build the mask from a comparison (ids != pad_id, or np.tril of a boolean "
                "array, or .astype(bool)) so that & can combine the two masks.",
            )
        if case.inputs["op"] == "causal":
            check_shape(
                mask,
                want.shape,
                name=case.label,
                hint="(T, T): rows are queries, columns are keys.",
            )
            check_equal(
                mask,
                want,
                name=case.label,
                hint="query i (row) may attend to keys j <= i (columns): the lower "
                "triangle with the diagonal.",
            )
            return
        check_shape(
            mask,
            want.shape,
            name=case.label,
            hint="(batch, T) -> (batch, 1, T): add an axis of size 1 for the queries.",
        )
        check_equal(
            mask,
            want,
            name=case.label,
            hint="True where the id is not pad_id (use the pad_id argument), wherever "
            "the padding is; padding is False.",
        )


# ------------------------------------------------------------------------ exercise 5.1


@register
class SplitMergeHeads(Check):
    notebook, cell = NB, "test_split_merge_heads"

    def cases(self):
        yield case(
            "split_heads(x (2, 4, 6), 3)",
            op="split",
            x=np.arange(48, dtype=np.float64).reshape(2, 4, 6),
            num_heads=3,
        )
        rng = _rng(31)
        for B, H, T, d in [(2, 3, 5, 4), (1, 4, 2, 3), (3, 1, 4, 5), (2, 5, 3, 1)]:
            yield case(
                f"split_heads(x ({B}, {T}, {H * d}), {H})",
                op="split",
                x=rng.normal(size=(B, T, H * d)),
                num_heads=H,
            )
        yield case(
            "merge_heads(split_heads(x (2, 4, 6), 3))",
            op="merge",
            x=np.arange(48, dtype=np.float64)
            .reshape(2, 4, 6)
            .reshape(2, 4, 3, 2)
            .transpose(0, 2, 1, 3)
            .copy(),
        )
        for B, H, T, d in [(2, 3, 5, 4), (1, 2, 6, 3), (3, 4, 2, 1)]:
            yield case(
                f"merge_heads(y ({B}, {H}, {T}, {d}))", op="merge", x=rng.normal(size=(B, H, T, d))
            )

    def expected(self, inputs):
        x = np.asarray(inputs["x"])
        return ref_split(x, inputs["num_heads"]) if inputs["op"] == "split" else ref_merge(x)

    def judge(self, case, got, want):
        y = got.array("y", kind="f")
        if case.inputs["op"] == "split":
            check_shape(
                y, want.shape, name=case.label, hint="(batch, T, h * d) -> (batch, h, T, d)."
            )
            check_close(
                y,
                want,
                name=case.label,
                hint="head h of position t is x[b, t, h*d:(h+1)*d] (a contiguous "
                "slice): reshape to (batch, T, h, d), then transpose to "
                "(batch, h, T, d).",
            )
        else:
            check_shape(
                y, want.shape, name=case.label, hint="(batch, h, T, d) -> (batch, T, h * d)."
            )
            check_close(
                y,
                want,
                name=case.label,
                hint="merged[b, t, h*d:(h+1)*d] must be y[b, h, t]: transpose to "
                "(batch, T, h, d) before reshaping.",
            )


# ------------------------------------------------------------------------ exercise 5.2


def mha_case(
    label: str,
    seed: int,
    num_heads: int,
    key_dim: int,
    value_dim: int,
    d_model: int,
    T_q: int,
    T_k: int,
    batch: int = 2,
    d_out: int | None = None,
    self_attention=False,
    key_is_value=True,
    mask: Any = None,
):
    """Random float32 weights (biases too) and inputs for one multi-head attention call."""
    rng = _rng(seed)
    d_out = d_model if d_out is None else d_out

    def w(*shape):
        return rng.normal(scale=0.5, size=shape).astype(np.float32)

    params = {
        "Wq": w(d_model, num_heads * key_dim),
        "bq": w(num_heads * key_dim),
        "Wk": w(d_model, num_heads * key_dim),
        "bk": w(num_heads * key_dim),
        "Wv": w(d_model, num_heads * value_dim),
        "bv": w(num_heads * value_dim),
        "Wo": w(num_heads * value_dim, d_out),
        "bo": w(d_out),
    }
    query = rng.normal(size=(batch, T_q, d_model)).astype(np.float32)
    value = query if self_attention else rng.normal(size=(batch, T_k, d_model)).astype(np.float32)
    key = value if key_is_value else rng.normal(size=value.shape).astype(np.float32)
    return case(
        label, query=query, value=value, key=key, params=params, num_heads=num_heads, mask=mask
    )


def mha_case_as_drawn(
    label: str, seed: int, num_heads: int, key_dim: int, d_model: int, T: int, mask: Any = None
):
    """Self-attention as the visible tests draw it: x (2, T, d_model), then the weights in
    Keras' shapes and order (scale 0.5), all from one generator."""
    rng = _rng(seed)
    x = rng.normal(size=(2, T, d_model)).astype(np.float32)
    shapes = [(d_model, num_heads, key_dim), (num_heads, key_dim)] * 3 + [
        (num_heads, key_dim, d_model),
        (d_model,),
    ]
    weights = [rng.normal(scale=0.5, size=shape).astype(np.float32) for shape in shapes]
    return case(
        label,
        query=x,
        value=x,
        key=x,
        params=flat_mha_params(weights),
        num_heads=num_heads,
        mask=mask,
    )


def mha_cross_case_as_drawn(label: str, seed: int):
    """Cross-attention as the visible test draws it: query (2, 3, 6), key (2, 5, 6), value
    (2, 5, 6), then the weights of MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4,
    output_shape=5) in Keras' shapes and order (scale 0.5), all from one generator."""
    rng = _rng(seed)
    query = rng.normal(size=(2, 3, 6)).astype(np.float32)
    key = rng.normal(size=(2, 5, 6)).astype(np.float32)
    value = rng.normal(size=(2, 5, 6)).astype(np.float32)
    shapes = [(6, 2, 3), (2, 3), (6, 2, 3), (2, 3), (6, 2, 4), (2, 4), (2, 4, 5), (5,)]
    weights = [rng.normal(scale=0.5, size=shape).astype(np.float32) for shape in shapes]
    return case(
        label,
        query=query,
        value=value,
        key=key,
        params=flat_mha_params(weights),
        num_heads=2,
        mask=None,
    )


class _MultiHead(Check):
    """The multi-head cells: each case carries the helper calls of a correct solution."""

    @functools.cached_property
    def all_cases(self) -> list[Case]:
        return [Case(c.label, c.inputs, mha_tables(c.inputs)) for c in self.cases()]

    def expected(self, inputs):
        return ref_mha(
            inputs["query"],
            inputs["value"],
            inputs["key"],
            inputs["params"],
            inputs["num_heads"],
            inputs["mask"],
        )

    def judge(self, case, got, want):
        output, weights = _arrays(got, "out", ("output", "weights"))
        check_shape(
            output,
            want[0].shape,
            name=f"output for {case.label}",
            hint="(batch, T_q, d_out): merge the heads, then project with Wo and bo.",
        )
        check_shape(
            weights,
            want[1].shape,
            name=f"weights for {case.label}",
            hint="(batch, h, T_q, T_k): one attention matrix per example and head.",
        )
        check_close(
            weights,
            want[1],
            name=f"weights for {case.label}",
            rtol=0,
            atol=1e-5,
            hint=self.weights_hint,
        )
        check_close(
            output,
            want[0],
            name=f"output for {case.label}",
            rtol=0,
            atol=1e-5,
            hint="project (x @ W + b for q, k and v: the biases too), split, attend, "
            "merge, then output-project with Wo and bo.",
        )


@register
class MhaAgainstKeras(_MultiHead):
    notebook, cell = NB, "test_mha_against_keras"
    weights_hint = (
        "queries from `query`, keys from `key` (projected with Wk, bk), values from "
        "`value`: Keras' order is (query, value, key)."
    )

    def cases(self):
        yield mha_case_as_drawn("self-attention, 2 heads, d_model 6, T 4", 0, 2, 3, 6, 4)
        yield mha_cross_case_as_drawn(
            "cross-attention T_q 3, T_k 5, key != value, d_k 3, d_v 4, d_out 5 (the example)", 1
        )
        yield mha_case(
            "cross-attention with key != value: 3 heads, d_k 6, d_v 7, d_model 8, T_q 4, T_k 5",
            1,
            3,
            6,
            7,
            8,
            4,
            5,
            key_is_value=False,
        )
        yield mha_case("one head, T_q = 1", 3, 1, 4, 2, 5, 1, 3)
        yield mha_case(
            "cross-attention with d_out 3 != d_model 6, batch 1, 4 heads",
            7,
            4,
            2,
            3,
            6,
            3,
            2,
            batch=1,
            d_out=3,
            key_is_value=False,
        )


@register
class MhaMask(_MultiHead):
    notebook, cell = NB, "test_mha_mask"
    weights_hint = (
        "pass the mask on to the attention with an axis for the heads: "
        "mask[:, None] is (batch, 1, T_q, T_k), the same mask for every head of "
        "an example."
    )

    def cases(self):
        causal = np.tril(np.ones((4, 4), dtype=bool))[None].repeat(2, axis=0)
        yield mha_case_as_drawn(
            "causal self-attention mask (2, 4, 4), 2 heads", 4, 2, 3, 6, 4, mask=causal
        )
        mask = _rng(6).random((2, 4, 5)) < 0.5
        mask[..., 2] = True
        mask[1, 3, :] = False  # a query that may attend to nothing: zero weights (as in Keras)
        yield mha_case(
            "a random cross-attention mask (2, 4, 5) with a fully blocked query, 3 heads",
            5,
            3,
            6,
            7,
            8,
            4,
            5,
            mask=mask,
        )
        mask = _rng(8).random((3, 5, 5)) < 0.5
        mask[..., 0] = True
        yield mha_case(
            "a different mask per example: batch 3, 3 heads",
            9,
            3,
            2,
            2,
            6,
            5,
            5,
            batch=3,
            self_attention=True,
            mask=mask,
        )
        mask = (_rng(10).random((2, 3, 4)) < 0.6).astype(np.int32)
        mask[..., 1] = 1
        yield mha_case("a 0/1 integer mask (2, 3, 4), 2 heads", 11, 2, 4, 3, 5, 3, 4, mask=mask)


# ------------------------------------------------------------------------ exercise 6


@register
class PositionalEncoding(Check):
    notebook, cell = NB, "test_positional_encoding"

    def cases(self):
        for n, d in [(4, 6), (50, 16), (7, 10), (1, 4), (3, 128), (20, 2)]:
            yield case(f"positional_encoding({n}, {d})", seq_len=n, d_model=d)

    def expected(self, inputs):
        return ref_pe(inputs["seq_len"], inputs["d_model"])

    def judge(self, case, got, want):
        pe = got.array("pe", kind="f")
        check_shape(
            pe,
            want.shape,
            name=case.label,
            hint="(seq_len, d_model): rows are positions, columns are encoding dimensions.",
        )
        check_close(
            pe,
            want,
            name=case.label,
            rtol=1e-4,
            atol=1e-5,
            hint="interleaved layout: sin in the even columns, cos in the odd ones; "
            "columns 2i and 2i+1 share the frequency 1 / 10000**(2i / d_model) "
            "(2i is the even column index, not i).",
        )


# ------------------------------------------------------------------------ exercise 7.1


@register
class EncoderShapes(Check):
    notebook, cell = NB, "test_encoder_shapes"
    config = {"batch": 2, "T": 5, "d_model": 8, "num_heads": 2, "d_ff": 32}
    hints = {
        "attention_weights": "one (T_q, T_k) matrix per example and per head: (batch, "
        "heads, T, T).",
        "ffn_hidden": "the first Dense of the feed-forward network has d_ff units.",
        "block_output": "the block keeps the input's shape so that blocks can be stacked.",
    }

    def cases(self):
        yield case("ENCODER_SHAPES for x (2, 5, 8), 2 heads, d_ff 32")

    def expected(self, inputs):
        return encoder_shapes(**self.config)

    def judge(self, case, got, want):
        shapes = got.raw("shapes")
        if not isinstance(shapes, dict):
            fail(f"ENCODER_SHAPES should be a dict, got {_describe(shapes)}.")
        check_equal(sorted(map(str, shapes)), sorted(want), name="keys of ENCODER_SHAPES")
        for key, shape in want.items():
            value = shapes[key]
            if not isinstance(value, (tuple, list)) or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_))
                for d in value
            ):
                fail(f"ENCODER_SHAPES[{key!r}] should be a tuple of ints, got {value!r:.80}.")
            check_equal(
                tuple(int(d) for d in value),
                shape,
                name=f"ENCODER_SHAPES[{key!r}]",
                hint=self.hints.get(key, "a residual add needs equal shapes on both sides."),
            )


# ------------------------------------------------------------------------ exercise 7.2


def block_case(
    label: str,
    seed: int,
    d_model: int,
    num_heads: int,
    d_ff: int,
    dropout: float,
    runs: list[dict[str, Any]],
):
    """Random weights for every sub-layer of the block (LayerNorm gamma/beta too) and the
    calls to make: ``runs`` of {x shape, mask or None, training}."""
    rng = _rng(seed)
    key_dim = d_model // num_heads

    def w(*shape, scale=0.4, loc=0.0):
        return (loc + rng.normal(scale=scale, size=shape)).astype(np.float32)

    weights = {
        "attention": [
            w(d_model, num_heads, key_dim),
            w(num_heads, key_dim),
            w(d_model, num_heads, key_dim),
            w(num_heads, key_dim),
            w(d_model, num_heads, key_dim),
            w(num_heads, key_dim),
            w(num_heads, key_dim, d_model),
            w(d_model),
        ],
        "norm1": [w(d_model, loc=1.0), w(d_model)],
        "ffn": [w(d_model, d_ff), w(d_ff), w(d_ff, d_model), w(d_model)],
        "norm2": [w(d_model, loc=1.0), w(d_model)],
    }
    calls = []
    for r in runs:
        if "repad_of" in r:  # the same input with other values at the padded positions
            x = calls[r["repad_of"]]["x"].copy()
            padded = np.asarray(r["mask"]) == 0
            x[padded] = rng.normal(scale=3.0, size=(int(padded.sum()), d_model))
        else:
            x = rng.normal(size=r["shape"]).astype(np.float32)
        calls.append({"x": x, "mask": r.get("mask"), "training": r.get("training", False)})
    return case(
        label,
        d_model=d_model,
        num_heads=num_heads,
        d_ff=d_ff,
        dropout=dropout,
        weights=weights,
        runs=calls,
    )


def visible_block_case(dropout: float = 0.0, training: bool = False):
    """The visible test's block: x (1, 3, 4), then every sub-layer's weights in Keras' shapes
    and order (scale 0.5), all from one generator; with ``dropout`` and ``training`` as the
    visible test's second block (the same weights, dropout 1.0, training=True)."""
    rng = _rng(0)
    x = rng.normal(size=(1, 3, 4)).astype(np.float32)
    d, h, key_dim, d_ff = 4, 2, 2, 8
    shapes = {
        "attention": [(d, h, key_dim), (h, key_dim)] * 3 + [(h, key_dim, d), (d,)],
        "norm1": [(d,), (d,)],
        "ffn": [(d, d_ff), (d_ff,), (d_ff, d), (d,)],
        "norm2": [(d,), (d,)],
    }
    weights = {
        name: [rng.normal(scale=0.5, size=shape).astype(np.float32) for shape in layer]
        for name, layer in shapes.items()
    }
    return case(
        f"the example: d_model 4, 2 heads, d_ff 8, x (1, 3, 4), dropout {dropout:g}, "
        f"training={training}",
        d_model=d,
        num_heads=h,
        d_ff=d_ff,
        dropout=dropout,
        weights=weights,
        runs=[{"x": x, "mask": None, "training": training}],
    )


class _EncoderBlock(Check):
    def expected(self, inputs):
        """Per run: the block at inference, or with dropout 1.0 in training mode the block
        whose sub-layer outputs are all dropped."""
        return [
            ref_encoder_all_dropped(r["x"], inputs["weights"])
            if r["training"] and inputs["dropout"] == 1.0
            else ref_encoder(r["x"], inputs["weights"], inputs["num_heads"], r["mask"])
            for r in inputs["runs"]
        ]

    def outputs(self, case, got) -> list[Any]:
        ys = got.raw("ys")
        runs = case.inputs["runs"]
        if not isinstance(ys, list) or len(ys) != len(runs):
            fail(
                f"{case.label}: the hidden check reported {_describe(ys)} (was the test cell "
                "changed?)."
            )
        return ys

    def output(self, case, got, ys, i) -> np.ndarray:
        run = case.inputs["runs"][i]
        y = Observed({"y": ys[i]}, got.label, self).array("y", kind="f")
        check_shape(
            y,
            run["x"].shape,
            name=f"block output for x {run['x'].shape} ({case.label})",
            hint="the block keeps (batch, T, d_model); the last Dense of the FFN has "
            "d_model units.",
        )
        return y


@register
class EncoderBlock(_EncoderBlock):
    notebook, cell = NB, "test_encoder_block"

    def cases(self):
        yield visible_block_case()
        yield block_case(
            "d_model 12, 3 heads, d_ff 20, dropout 0",
            40,
            12,
            3,
            20,
            0.0,
            [{"shape": (3, 7, 12)}, {"shape": (1, 1, 12)}],
        )
        yield block_case(
            "d_model 8, 2 heads, d_ff 16, dropout 0.5",
            41,
            8,
            2,
            16,
            0.5,
            [{"shape": (2, 5, 8)}, {"shape": (2, 5, 8), "training": True}],
        )
        # Where dropout sits: with rate 1.0 in training mode only the placement on each
        # sub-layer's output (before the residual add) leaves y = norm2(norm1(x)).
        yield visible_block_case(dropout=1.0, training=True)
        yield block_case(
            "d_model 12, 3 heads, d_ff 20, dropout 1.0",
            45,
            12,
            3,
            20,
            1.0,
            [{"shape": (2, 6, 12), "training": True}, {"shape": (3, 4, 12)}],
        )

    def judge(self, case, got, want):
        ys = self.outputs(case, got)
        for i, run in enumerate(case.inputs["runs"]):
            y = self.output(case, got, ys, i)
            name = f"block output for x {run['x'].shape} ({case.label})"
            if run["training"] and case.inputs["dropout"] == 1.0:
                check_close(
                    y,
                    want[i],
                    name=f"{name}, training=True",
                    rtol=1e-4,
                    atol=1e-5,
                    hint="dropout goes on each sub-layer's output, before the residual add: "
                    "h = norm1(x + dropout1(a)), y = norm2(h + dropout2(f)). With rate 1.0 in "
                    "training both dropped outputs are 0, so y = norm2(norm1(x)); dropout on "
                    "the sum (x + a, h + f) or on the input drops the residual path too.",
                )
                continue
            if run["training"]:
                if np.allclose(y, want[i], rtol=1e-4, atol=1e-5):
                    fail(
                        f"{name}, training=True: the output equals the output without dropout.",
                        "apply self.dropout1 to the attention output and "
                        "self.dropout2 to the FFN output, and pass training on to them.",
                    )
                continue
            check_close(
                y,
                want[i],
                name=f"{name}, training=False",
                rtol=1e-4,
                atol=1e-5,
                hint="post-norm: h = norm1(x + dropout1(attention(x, x, x))), then "
                "y = norm2(h + dropout2(ffn(h))): add the residual before "
                "normalising, in both halves, and pass training to the dropout "
                "layers (no dropout at inference).",
            )


@register
class EncoderBlockMask(_EncoderBlock):
    """Grades the masking only (the block's formula is test_encoder_block's): with the padding
    masked, the outputs at real tokens cannot depend on what the padded positions hold."""

    notebook, cell = NB, "test_encoder_block_mask"

    def cases(self):
        yield block_case(
            "d_model 8, 2 heads, d_ff 16, a 0/1 mask (2, 5)",
            44,
            8,
            2,
            16,
            0.0,
            _repadded(np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]), 8),
        )
        yield block_case(
            "d_model 12, 3 heads, d_ff 20, a boolean mask (3, 6)",
            42,
            12,
            3,
            20,
            0.0,
            _repadded(np.array([[True] * 6, [True] * 2 + [False] * 4, [True] * 5 + [False]]), 12),
        )
        yield block_case(
            "d_model 8, 2 heads, d_ff 16, a 0/1 mask (4, 4) (batch = T)",
            43,
            8,
            2,
            16,
            0.0,
            _repadded(np.array([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]]), 8),
        )

    def expected(self, inputs):
        return None

    def error_hint(self, error):
        if "mask" in error.message.lower():
            return (
                "turn mask (batch, T) into attention_mask (batch, 1, T) (mask[:, None, :]) "
                "and pass it to the attention."
            )
        return None

    def judge(self, case, got, want):
        ys = self.outputs(case, got)
        first, second = (self.output(case, got, ys, i) for i in (0, 1))
        real = np.asarray(case.inputs["runs"][0]["mask"]) != 0
        check_close(
            second[real],
            first[real],
            name=f"real tokens when only the padding changes ({case.label})",
            rtol=1e-4,
            atol=1e-5,
            hint="turn mask (batch, T) (True/1 = a real token) into attention_mask "
            "(batch, 1, T) and pass it to the attention, so that no query attends "
            "to a padded key.",
        )


def _repadded(mask: np.ndarray, d_model: int) -> list[dict[str, Any]]:
    """Two calls with the same mask whose inputs differ at the padded positions only."""
    return [{"shape": mask.shape + (d_model,), "mask": mask}, {"repad_of": 0, "mask": mask}]
