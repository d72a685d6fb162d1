"""The NumPy references of 03_reweighing's trusted checks equal Keras.

The judges of notebook 03 grade multi-head attention and the encoder block against their
own NumPy implementations (the grader never builds Keras layers). These tests prove that
those references are Keras' MultiHeadAttention and a post-norm encoder block built from
Keras layers, to 1e-5, with the weights the hidden cases send to the student's kernel.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from attention_grader.judges import nb03_reweighing as nb03
from conftest import LazyModule

pytestmark = pytest.mark.slow  # imports TensorFlow

keras = LazyModule("keras")


def _keras_mha(
    num_heads: int,
    key_dim: int,
    value_dim: int,
    d_out: int | None,
    params: dict,
    query: np.ndarray,
    value: np.ndarray,
    key: np.ndarray,
):
    layer = keras.layers.MultiHeadAttention(
        num_heads=num_heads, key_dim=key_dim, value_dim=value_dim, output_shape=d_out
    )
    layer(query, value, key)  # build
    layer.set_weights(nb03.keras_mha_weights(params, num_heads))
    return layer


MHA_CASES = [
    (
        "self-attention",
        dict(
            seed=0,
            num_heads=2,
            key_dim=3,
            value_dim=3,
            d_model=6,
            T_q=4,
            T_k=4,
            self_attention=True,
        ),
        None,
    ),
    (
        "cross-attention, key != value",
        dict(
            seed=1, num_heads=3, key_dim=6, value_dim=7, d_model=8, T_q=4, T_k=5, key_is_value=False
        ),
        None,
    ),
    (
        "d_out != d_model",
        dict(
            seed=7,
            num_heads=4,
            key_dim=2,
            value_dim=3,
            d_model=6,
            T_q=3,
            T_k=2,
            batch=1,
            d_out=3,
            key_is_value=False,
        ),
        None,
    ),
    (
        "causal mask",
        dict(
            seed=4,
            num_heads=2,
            key_dim=3,
            value_dim=3,
            d_model=6,
            T_q=4,
            T_k=4,
            self_attention=True,
        ),
        "causal",
    ),
    (
        "cross-attention mask with an all-masked query row",
        dict(seed=5, num_heads=3, key_dim=6, value_dim=7, d_model=8, T_q=4, T_k=5),
        "random",
    ),
]


def _mask(kind: str | None, batch: int, T_q: int, T_k: int):
    if kind is None:
        return None
    if kind == "causal":
        return np.tril(np.ones((T_q, T_k), dtype=bool))[None].repeat(batch, axis=0)
    mask = np.random.default_rng(6).random((batch, T_q, T_k)) < 0.5
    mask[..., 0] = True
    mask[-1, -1, :] = False  # a query that may attend to nothing
    return mask


@pytest.mark.parametrize(("label", "config", "mask_kind"), MHA_CASES, ids=[c[0] for c in MHA_CASES])
def test_numpy_mha_equals_keras(label, config, mask_kind):
    batch = config.get("batch", 2)
    mask = _mask(mask_kind, batch, config["T_q"], config["T_k"])
    case = nb03.mha_case(label, **config, mask=mask)
    inputs = case.inputs
    layer = _keras_mha(
        config["num_heads"],
        config["key_dim"],
        config["value_dim"],
        config.get("d_out"),
        inputs["params"],
        inputs["query"],
        inputs["value"],
        inputs["key"],
    )
    want, want_w = layer(
        inputs["query"],
        inputs["value"],
        inputs["key"],
        attention_mask=mask,
        return_attention_scores=True,
    )
    got, got_w = nb03.ref_mha(
        inputs["query"], inputs["value"], inputs["key"], inputs["params"], inputs["num_heads"], mask
    )
    np.testing.assert_allclose(got_w, np.asarray(want_w), rtol=0, atol=1e-5)
    np.testing.assert_allclose(got, np.asarray(want), rtol=0, atol=1e-5)
    if mask_kind == "random":
        assert not np.asarray(want_w)[-1, :, -1].any()  # Keras: zero weights too


def test_every_hidden_mha_case_equals_keras():
    for check in (nb03.MhaAgainstKeras(), nb03.MhaMask()):
        for case in check.all_cases:
            x = case.inputs
            p, h = x["params"], x["num_heads"]
            key_dim = p["Wq"].shape[1] // h
            value_dim = p["Wv"].shape[1] // h
            layer = _keras_mha(
                h, key_dim, value_dim, p["Wo"].shape[1], p, x["query"], x["value"], x["key"]
            )
            mask = x["mask"]
            want, want_w = layer(
                x["query"],
                x["value"],
                x["key"],
                return_attention_scores=True,
                attention_mask=None if mask is None else mask.astype(bool),
            )
            got, got_w = check.expected(x)
            np.testing.assert_allclose(
                got_w, np.asarray(want_w), rtol=0, atol=1e-5, err_msg=case.label
            )
            np.testing.assert_allclose(got, np.asarray(want), rtol=0, atol=1e-5, err_msg=case.label)


@functools.cache
def _blocks() -> tuple[type, type]:
    """The Keras classes the encoder-block checks compare with (made at first use: Keras is
    imported by the tests that need it, not while the suite is collected)."""

    class _KerasBlock(keras.layers.Layer):
        """The notebook's post-norm encoder block, written with Keras layers."""

        def __init__(self, d_model, num_heads, d_ff):
            super().__init__()
            self.supports_masking = True
            self.attention = keras.layers.MultiHeadAttention(
                num_heads=num_heads, key_dim=d_model // num_heads
            )
            self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6)
            self.ffn = keras.Sequential(
                [keras.layers.Dense(d_ff, activation="relu"), keras.layers.Dense(d_model)]
            )
            self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6)

        def call(self, x, mask=None):
            attention_mask = None if mask is None else keras.ops.cast(mask, "bool")[:, None, :]
            h = self.norm1(x + self.attention(x, x, x, attention_mask=attention_mask))
            return self.norm2(h + self.ffn(h))

    class _DroppingBlock(_KerasBlock):
        """The notebook's block with Dropout(rate) on each sub-layer's output, before the add."""

        def __init__(self, d_model, num_heads, d_ff, rate):
            super().__init__(d_model, num_heads, d_ff)
            self.dropout1 = keras.layers.Dropout(rate)
            self.dropout2 = keras.layers.Dropout(rate)

        def call(self, x, mask=None, training=False):
            a = self.attention(x, x, x, training=training)
            h = self.norm1(x + self.dropout1(a, training=training))
            return self.norm2(h + self.dropout2(self.ffn(h), training=training))

    return _KerasBlock, _DroppingBlock


def test_numpy_encoder_block_equals_keras():
    for check in (nb03.EncoderBlock(), nb03.EncoderBlockMask()):
        for case in check.all_cases:
            x = case.inputs
            block = _blocks()[0](x["d_model"], x["num_heads"], x["d_ff"])
            x0 = x["runs"][0]["x"]
            block.attention(x0, x0, x0)
            block.norm1(x0)
            block.ffn(x0)
            block.norm2(x0)
            for name, weights in x["weights"].items():
                getattr(block, name).set_weights(weights)
            for run in x["runs"]:
                if run["training"]:
                    continue
                want = nb03.ref_encoder(run["x"], x["weights"], x["num_heads"], run["mask"])
                got = np.asarray(block(run["x"], mask=run["mask"]))
                np.testing.assert_allclose(want, got, rtol=0, atol=1e-5, err_msg=case.label)


def test_dropout_cases_equal_keras_with_every_sublayer_output_dropped():
    """With rate 1.0 in training mode, the reference (norm2(norm1(x))) is what Keras gives for
    dropout on each sub-layer's output; the inference runs of those cases drop nothing."""
    cases = [c for c in nb03.EncoderBlock().all_cases if c.inputs["dropout"] == 1.0]
    assert len(cases) == 2 and any(not r["training"] for c in cases for r in c.inputs["runs"])
    for case in cases:
        x = case.inputs
        block = _blocks()[1](x["d_model"], x["num_heads"], x["d_ff"], 1.0)
        x0 = x["runs"][0]["x"]
        block.attention(x0, x0, x0)
        block.norm1(x0)
        block.ffn(x0)
        block.norm2(x0)
        for name, weights in x["weights"].items():
            getattr(block, name).set_weights(weights)
        want = nb03.EncoderBlock().expected(x)
        for run, expected in zip(x["runs"], want, strict=True):
            got = np.asarray(block(run["x"], training=run["training"]))
            np.testing.assert_allclose(expected, got, rtol=0, atol=1e-5, err_msg=case.label)
            dropped = nb03.ref_encoder_all_dropped(run["x"], x["weights"])
            assert np.allclose(expected, dropped) == run["training"], case.label


def test_hidden_cases_hold_the_visible_cross_attention_inputs():
    """The visible cross-attention test draws its layer's inputs and weights from one generator;
    a hidden case of test_mha_against_keras is that same layer and input."""
    rng = np.random.default_rng(1)
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=5)
    q = rng.normal(size=(2, 3, 6)).astype("float32")
    k = rng.normal(size=(2, 5, 6)).astype("float32")
    v = rng.normal(size=(2, 5, 6)).astype("float32")
    layer(q, v, k)
    layer.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.get_weights()]
    )
    mirror = nb03.MhaAgainstKeras().all_cases[1].inputs
    for name, value in (("query", q), ("key", k), ("value", v)):
        np.testing.assert_array_equal(mirror[name], value, err_msg=name)
    for name, value in nb03.flat_mha_params(layer.get_weights()).items():
        np.testing.assert_array_equal(mirror["params"][name], value, err_msg=name)
    want, want_w = layer(q, v, k, return_attention_scores=True)
    got, got_w = nb03.MhaAgainstKeras().expected(mirror)
    np.testing.assert_allclose(got_w, np.asarray(want_w), rtol=0, atol=1e-5)
    np.testing.assert_allclose(got, np.asarray(want), rtol=0, atol=1e-5)


def test_encoder_shapes_equal_keras():
    config = nb03.EncoderShapes.config
    x = np.zeros((config["batch"], config["T"], config["d_model"]), dtype="float32")
    mha = keras.layers.MultiHeadAttention(
        num_heads=config["num_heads"], key_dim=config["d_model"] // config["num_heads"]
    )
    att, w = mha(x, x, x, return_attention_scores=True)
    hidden = keras.layers.Dense(config["d_ff"], activation="relu")(att)
    out = keras.layers.Dense(config["d_model"])(hidden)
    measured = {
        "input": x.shape,
        "attention_weights": tuple(w.shape),
        "attention_output": tuple(att.shape),
        "after_add_norm_1": tuple(att.shape),
        "ffn_hidden": tuple(hidden.shape),
        "block_output": tuple(out.shape),
    }
    assert nb03.EncoderShapes().expected({}) == measured


def test_reference_attention_blocks_rows_and_keys():
    q = np.random.default_rng(0).normal(size=(1, 2, 3))
    mask = np.array([[[True, False, True], [False, False, False]]])
    out, w = nb03.ref_attention(q, q[:, [0, 1, 0]], np.ones((1, 3, 2)), mask)
    assert w[0, 0, 1] == 0 and abs(w[0, 0].sum() - 1) < 1e-12
    assert not w[0, 1].any() and not out[0, 1].any()


def test_a_plain_transpose_gets_the_hint():
    """k.T makes NumPy's matmul fail: the verdict names the mistake, not only the error."""
    from attention_course import wire
    from attention_grader import judging

    error = wire.Raised(
        "ValueError",
        "matmul: Input operand 1 has a mismatch in its core "
        "dimension 0, with gufunc signature (n?,k),(k,m?)->(n?,m?)",
    )
    for cell in ("test_attention_shapes", "test_attention_values", "test_attention_mask"):
        check = judging.checks_of(nb03.NB)[cell]
        reports = [
            {"case": i, "values": {"out": error, "unmasked": error}}
            for i in range(len(check.all_cases))
        ]
        result = judging.verdict(nb03.NB, cell, reports)
        assert not result.passed
        assert "transpose only the last two axes of k" in result.message, result.message


@pytest.mark.parametrize(("check", "seed"), [(nb03.MhaAgainstKeras, 0), (nb03.MhaMask, 4)])
def test_hidden_cases_hold_the_visible_mha_inputs(check, seed):
    """The visible MHA tests draw x, then the Keras layer's weights, from one generator: the
    first hidden case of each cell is that same layer and input (hidden covers visible)."""
    rng = np.random.default_rng(seed)
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=3)
    x = rng.normal(size=(2, 4, 6)).astype("float32")
    layer(x, x, x)
    layer.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.get_weights()]
    )
    first = check().all_cases[0].inputs
    np.testing.assert_array_equal(first["query"], x)
    flat = nb03.flat_mha_params(layer.get_weights())
    for name, value in flat.items():
        np.testing.assert_array_equal(first["params"][name], value, err_msg=name)


# --------------------------------------------------------------------------- stand-ins

STAND_IN_CELLS = {
    "test_attention_shapes": ("attention", ("softmax",)),
    "test_attention_values": ("attention", ("softmax",)),
    "test_attention_mask": ("attention", ("softmax",)),
    "test_mha_against_keras": (
        "multi_head_attention",
        ("split_heads", "merge_heads", "scaled_dot_product_attention"),
    ),
    "test_mha_mask": (
        "multi_head_attention",
        ("split_heads", "merge_heads", "scaled_dot_product_attention"),
    ),
}


def _solution_cells() -> dict[str, str]:
    from attention_grader import authoring, cells
    from conftest import ROOT

    nb = authoring.read_notebook(ROOT / "source" / nb03.NB / f"{nb03.NB}.ipynb")
    return {cells.grade_id(c): "".join(c["source"]) for c in nb["cells"] if cells.grade_id(c)}


def _skipped(*args, **kwargs):
    raise NotImplementedError("the student's own function was called")


def _run_hidden(cell: str, code: str, helpers: tuple[str, ...], case) -> dict:
    """The hidden region of ``cell`` on one case, as in a grading kernel: inputs and tables
    travel through the wire; the student's helpers are all unimplemented."""
    import json

    from attention_course import probe, wire

    def trip(value):
        return wire.decode(json.loads(json.dumps(wire.encode(value))))

    namespace = {"np": np}
    exec(code, namespace)
    namespace.update({name: _skipped for name in helpers})
    inputs, tables = trip(case.inputs), trip(case.stand_ins)
    assert set(tables) == set(helpers)
    with probe.standing_in(namespace, **tables):
        if cell.startswith("test_attention"):
            attention = namespace["scaled_dot_product_attention"]
            q, k, v = inputs["q"], inputs["k"], inputs["v"]
            values = {"out": probe.call(attention, q, k, v, mask=inputs["mask"])}
            if cell == "test_attention_mask":
                values["unmasked"] = probe.call(attention, q, k, v)
        else:
            values = {
                "out": probe.call(
                    namespace["multi_head_attention"],
                    inputs["query"],
                    inputs["value"],
                    inputs["key"],
                    dict(inputs["params"]),
                    inputs["num_heads"],
                    mask=inputs["mask"],
                )
            }
    assert namespace[helpers[0]] is _skipped  # put back
    return trip(values)


@pytest.mark.parametrize("cell", sorted(STAND_IN_CELLS))
@pytest.mark.parametrize("solution", ["instructor", "alternative"])
def test_stand_in_tables_answer_every_call_of_a_correct_solution(cell, solution):
    """With every helper of the student unimplemented, a correct attention (multi-head
    attention) still scores full marks: the grader's tables answer each call it makes, the
    instructor's as well as the catalog's differently written alternative."""
    from attention_grader import judging
    from attention_grader.catalogs import nb03_reweighing as catalog

    solution_cell, helpers = STAND_IN_CELLS[cell]
    code = (
        _solution_cells()[solution_cell]
        if solution == "instructor"
        else catalog.ALTERNATIVE[solution_cell]
    )
    check = judging.checks_of(nb03.NB)[cell]
    for index, case in enumerate(check.all_cases):
        values = _run_hidden(cell, code, helpers, case)
        check.judge(case, judging.Observed(values, case.label, check), check.want(index))


def test_a_call_a_correct_solution_does_not_make_goes_to_the_students_function():
    """Attention without the scaling calls softmax with other scores: the table has no answer,
    the student's own softmax is called (here unimplemented), and the cell loses its points."""
    from attention_course import wire
    from attention_grader import judging

    code = _solution_cells()["attention"].replace(" / np.sqrt(d_k)", "")
    check = judging.checks_of(nb03.NB)["test_attention_values"]
    case = check.all_cases[1]
    values = _run_hidden("test_attention_values", code, ("softmax",), case)
    assert isinstance(values["out"], wire.Raised)
    assert values["out"].type_name == "NotImplementedError"


def test_no_reference_code_in_the_hidden_regions():
    """The hidden regions hand the stand-ins values only: no function or class of their own."""
    import re

    from attention_grader import authoring, cells
    from conftest import ROOT

    nb = authoring.read_notebook(ROOT / "source" / nb03.NB / f"{nb03.NB}.ipynb")
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, re.S)
        for region in hidden:
            if cells.grade_id(cell) in STAND_IN_CELLS:
                assert "def " not in region and "class " not in region, cells.grade_id(cell)
                assert "standing_in(globals(), **case.stand_ins)" in region
