"""Notebook 05's models and the reference models that `make bench` trains are the same networks.

`make bench` reports figures for "the notebook's full-run configurations" but trains the
reference models of `attention_grader.imdb_models` (instructor-only). Here the notebook's own class
and function definitions (solution version) are executed, both versions of each model are
built and given the same random weights, and both must give the same probabilities on reviews
with padding. An edit to either side that changes the architecture or the masking breaks this
test. The full-run configuration (`FULL_RUN`, defined in the notebook's setup cell and in the
reference) and notebook 04's standardization (provided code in notebook 05, and the reference's) are
compared too.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest

from attention_grader import authoring, imdb_models
from conftest import ROOT
from test_imdb_models import RULE_CASES

pytestmark = pytest.mark.slow  # builds Keras models (imports TensorFlow)

NOTEBOOK = ROOT / "source" / "05_imdb_attention" / "05_imdb_attention.ipynb"
SMALL = {
    "embed_dim": 8,
    "transformer_dim": 8,
    "gru_units": 4,
    "attention_units": 6,
    "heads": 2,
    "ff_dim": 12,
    "transformer_seq_len": 10,
}
VOCAB, SEQ_LEN = 40, 10
KEPT_NAMES = {"TRANSFORMER_LEN", "FULL_RUN"}  # assignments kept from the notebook's cells


def _cells(nb: dict):
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "code" and not meta.get("grade"):  # test cells define nothing
            yield meta.get("grade_id"), "".join(cell["source"])


@pytest.fixture(scope="module")
def notebook_ns():
    """The notebook's definitions (functions, classes, FULL_RUN, TRANSFORMER_LEN and the
    provided standardization), nothing that loads data or trains."""
    import keras
    import tensorflow as tf

    ns = {"keras": keras, "tf": tf, "np": np}
    nb = authoring.read_notebook(NOTEBOOK)
    for grade_id, source in _cells(nb):
        tree = ast.parse(source)
        if grade_id == "provided_standardize":  # notebook 04's rules, all of the cell
            keep = tree.body
        else:
            keep = [
                node
                for node in tree.body
                if isinstance(node, ast.FunctionDef | ast.ClassDef)
                or (isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) in KEPT_NAMES)
            ]
        exec(compile(ast.Module(body=keep, type_ignores=[]), str(NOTEBOOK), "exec"), ns)
        if "FULL_RUN" in ns and "CONFIG" not in ns:  # after the setup cell: small models
            ns["CONFIG"] = {**ns["FULL_RUN"], **SMALL}
    for name in (
        "build_gru",
        "build_gru_attention",
        "build_transformer",
        "TRANSFORMER_LEN",
        "FULL_RUN",
        "standardize",
        "standardize_text",
    ):
        assert name in ns, f"notebook 05 no longer defines {name}: update this test"
    return ns


def _ids() -> np.ndarray:
    rng = np.random.default_rng(0)
    ids = rng.integers(2, VOCAB, size=(4, SEQ_LEN)).astype("int32")
    for row, length in enumerate([SEQ_LEN, 7, 3, 1]):  # padding at the end, as the vectorizer
        ids[row, length:] = 0
    return ids


def _notebook_model(ns: dict, name: str):
    cfg = ns["CONFIG"]
    if name == "gru":
        return ns["build_gru"](VOCAB)
    if name == "gru_attention":
        return ns["build_gru_attention"](
            VOCAB, cfg["embed_dim"], cfg["gru_units"], cfg["attention_units"], cfg["dropout"]
        )[0]
    return ns["build_transformer"](VOCAB)


@pytest.mark.parametrize("name", ["gru", "gru_attention", "transformer"])
def test_notebook_model_equals_the_reference_model(notebook_ns, name):
    notebook_model = _notebook_model(notebook_ns, name)
    reference = imdb_models.build_model(name, VOCAB, SEQ_LEN, cfg=SMALL)
    shapes = [tuple(w.shape) for w in notebook_model.get_weights()]
    assert shapes == [tuple(w.shape) for w in reference.get_weights()], (
        f"{name}: the notebook's and the reference's weights differ in shape or order: "
        "the two architectures have drifted apart"
    )
    rng = np.random.default_rng(1)
    weights = [rng.normal(scale=0.5, size=s).astype("float32") for s in shapes]
    notebook_model.set_weights(weights)
    reference.set_weights(weights)
    ids = _ids()
    np.testing.assert_allclose(
        np.asarray(notebook_model(ids, training=False)),
        np.asarray(reference(ids, training=False)),
        rtol=1e-4,
        atol=1e-6,
        err_msg=f"{name}: same weights, different outputs",
    )


def test_notebook_full_run_equals_the_reference_configuration(notebook_ns):
    assert notebook_ns["FULL_RUN"] == imdb_models.FULL_RUN, (
        "FULL_RUN in notebook 05's setup cell and in attention_grader.imdb_models differ: "
        "make bench would no longer measure the notebook's full-run configuration"
    )


def test_notebook_standardization_equals_the_reference_standardization(notebook_ns):
    import tensorflow as tf

    raw = list(RULE_CASES)
    for text in raw:
        assert notebook_ns["standardize_text"](text) == imdb_models.standardize_text(text), text
    got = notebook_ns["standardize"](tf.constant(raw)).numpy().tolist()
    assert got == imdb_models.standardize(tf.constant(raw)).numpy().tolist()
    assert [s.decode("utf-8") for s in got] == list(RULE_CASES.values())
