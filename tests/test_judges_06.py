"""06_custom_dataloader's convolution checks: their NumPy reference equals Keras, and their
verdicts separate the shapes and models the text asks for from typical mistakes.

The judges never build Keras models: they compare what the student's models report with a
NumPy reference (valid Conv1D, relu, MaxPooling1D, Flatten or the mean over time, sigmoid).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from attention_grader import judging
from attention_grader.judges import nb06_custom_dataloader as nb06

NB = "06_custom_dataloader"


def _verdict(cell: str, values_of_case) -> judging.Verdict:
    check = judging.checks_of(NB)[cell]
    reports = [{"case": i, "values": values_of_case(i, c)} for i, c in enumerate(check.all_cases)]
    return judging.verdict(NB, cell, reports)


# ------------------------------------------------------------------------ CONV_SHAPES

SHAPES = {
    "conv": (None, 58, 16),
    "pool": (None, 14, 16),
    "flatten": (None, 224),
    "global_pool": (None, 16),
    "output": (None, 1),
}
PARAMS = {"conv": 1584, "flatten_dense": 225, "global_pool_dense": 17}


def _shapes_verdict(shapes: dict, params: dict) -> judging.Verdict:
    return _verdict("test_conv_shapes", lambda i, c: {"shapes": shapes, "params": params})


def test_conv_shapes_accepts_tuples_lists_and_numpy_ints():
    assert _shapes_verdict(SHAPES, PARAMS).passed
    as_lists = {k: [None, *(np.int64(d) for d in v[1:])] for k, v in SHAPES.items()}
    assert _shapes_verdict(as_lists, {k: np.int32(v) for k, v in PARAMS.items()}).passed


@pytest.mark.parametrize(
    ("key", "wrong", "clue"),
    [
        ("conv", (None, 64, 16), "padding='same'"),
        ("pool", (None, 15, 16), "not rounded up"),
        ("pool", (None, 55, 16), "moves by pool_size"),
        ("global_pool", (None, 14), "the filters stay"),
        ("flatten", (None, 14, 16), "Flatten"),
    ],
)
def test_conv_shapes_names_the_arithmetic_mistake(key, wrong, clue):
    verdict = _shapes_verdict({**SHAPES, key: wrong}, PARAMS)
    assert not verdict.passed
    assert f"CONV_SHAPES[{key!r}]" in verdict.message and clue in verdict.message


@pytest.mark.parametrize(
    ("key", "wrong", "clue"),
    [("conv", 1568, "a bias too"), ("conv", 128, "all input channels"), ("flatten_dense", 224, "")],
)
def test_conv_params_names_the_mistake(key, wrong, clue):
    verdict = _shapes_verdict(SHAPES, {**PARAMS, key: wrong})
    assert not verdict.passed and f"CONV_PARAMS[{key!r}]" in verdict.message
    assert clue in verdict.message


# ------------------------------------------------------------------------ build_conv_models


def _layers(flat: bool, i: dict, extra_activation: bool = False) -> dict:
    """What a correct model reports (shapes per layer, parameters), as the hidden region does."""
    f, c, k = i["filters"], i["n_channels"], i["kernel_size"]
    conv, pooled = nb06._conv_lengths(i["window"], k, i["pool_size"])
    steps, length = (conv, pooled) if flat else (None, None)
    shapes = [(None, steps, f), (None, length, f)]
    params = [k * c * f + f, 0]
    if extra_activation:  # Conv1D without activation, then Activation("relu")
        shapes.insert(1, (None, steps, f))
        params.insert(1, 0)
    features = pooled * f if flat else f
    shapes += [(None, features), (None, 1)]
    params += [0, features + 1]
    return {"shapes": shapes, "params": params}


def _report(i: dict, want: dict, extra_activation: bool = False) -> dict:
    out = {}
    for name in ("flat", "pooled"):
        flat = name == "flat"
        out[name] = {
            "input": (None, i["window"] if flat else None, i["n_channels"]),
            **_layers(flat, i, extra_activation),
            "set_weights": None,
            "outputs": [y.astype(np.float32) for y in want[name]],
        }
    return {"out": out}


def _models_verdict(edit=None, extra_activation: bool = False) -> judging.Verdict:
    check = judging.checks_of(NB)["test_conv_models"]

    def values(index, case):
        report = _report(case.inputs, check.want(index), extra_activation)
        if edit:
            edit(report["out"], case.inputs)
        return report

    return _verdict("test_conv_models", values)


def test_conv_models_accept_the_reference_and_an_extra_activation_layer():
    assert _models_verdict().passed
    assert _models_verdict(extra_activation=True).passed


def _fixed_length(out, i):
    out["pooled"]["input"] = (None, i["window"], i["n_channels"])


def _flattening(out, i):
    _fixed_length(out, i)
    out["pooled"]["outputs"][1:] = [judging.wire.Raised("ValueError", "incompatible")] * 3


def _same_padding(out, i):
    conv = out["flat"]["shapes"][0]
    out["flat"]["shapes"][0] = (None, i["window"], conv[2])


def _max_over_time(out, i):
    out["pooled"]["outputs"] = [y + 0.01 for y in out["pooled"]["outputs"]]


@pytest.mark.parametrize(
    ("edit", "clue"),
    [
        (_fixed_length, "any length"),
        (_flattening, "any length"),
        (_same_padding, "window - kernel_size + 1"),
        (_max_over_time, "pooled_model"),
    ],
)
def test_conv_models_fail_typical_mistakes(edit, clue):
    verdict = _models_verdict(edit)
    assert not verdict.passed and clue in verdict.message, verdict.message


def test_conv_reference_is_a_plain_loop():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 11, 3))
    kernel, bias = rng.normal(size=(3, 3, 4)), rng.normal(size=4)
    got = nb06.ref_conv_features(x, kernel, bias, 2)
    conv = np.zeros((2, 9, 4))
    for b in range(2):
        for t in range(9):
            for j in range(4):
                conv[b, t, j] = max(0.0, float((x[b, t : t + 3] * kernel[:, :, j]).sum()) + bias[j])
    want = np.stack([conv[:, 2 * p : 2 * p + 2].max(axis=1) for p in range(4)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.slow
def test_conv_reference_equals_keras_for_every_hidden_case():
    import keras

    check = judging.checks_of(NB)["test_conv_models"]
    for case in check.all_cases:
        i = copy.deepcopy(case.inputs)
        for name, last in (
            ("flat", keras.layers.Flatten),
            ("pooled", keras.layers.GlobalAveragePooling1D),
        ):
            model = keras.Sequential(
                [
                    keras.Input(shape=(i["window"] if name == "flat" else None, i["n_channels"])),
                    keras.layers.Conv1D(i["filters"], i["kernel_size"], activation="relu"),
                    keras.layers.MaxPooling1D(i["pool_size"]),
                    last(),
                    keras.layers.Dense(1, activation="sigmoid"),
                ]
            )
            model.set_weights(i[f"{name}_weights"])
            want = nb06.ref_conv_models(i)[name]
            for x, expected in zip(i[f"{name}_inputs"], want, strict=True):
                got = np.asarray(model(x, training=False))
                np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=case.label)
