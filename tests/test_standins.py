"""attention_course.standins: stand-ins that TensorFlow and Keras call (notebooks 04 and 05).

Each test runs a notebook's real hidden region (read from the source notebook) as a grading
kernel does: inputs and stand-in tables travel through the wire, the student's earlier
functions are unimplemented, and the trusted check judges what comes back. A correct later
exercise keeps full marks (the tables answer every call it makes, inside TextVectorization,
tf.data and a Keras model too); a call that a correct solution does not make reaches the
student's own function.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from attention_course import probe, wire
from attention_grader import authoring, cells, judging
from conftest import ROOT, LazyModule

pytestmark = pytest.mark.slow  # imports TensorFlow

tf = LazyModule("tensorflow")
keras = LazyModule("keras")


def _trip(value):
    return wire.decode(json.loads(json.dumps(wire.encode(value))))


def _cells(notebook: str) -> dict[str, str]:
    nb = authoring.read_notebook(ROOT / "source" / notebook / f"{notebook}.ipynb")
    return {cells.grade_id(c): "".join(c["source"]) for c in nb["cells"] if cells.grade_id(c)}


def _hidden(source: str) -> str:
    return re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, re.S).group(1)


def _skipped(*args, **kwargs):
    raise NotImplementedError("the student's own function was called")


def _grade(notebook: str, cell: str, namespace: dict, monkeypatch) -> list[str]:
    """Run the hidden region of ``cell`` in ``namespace``; the verdict of every case."""
    check = judging.checks_of(notebook)[cell]
    cases = [
        probe.Case(cell, i, c.label, _trip(c.inputs), _trip(c.stand_ins))
        for i, c in enumerate(check.all_cases)
    ]
    reports: list[tuple[int, dict]] = []
    monkeypatch.setattr(probe, "hidden_cases", lambda name: cases if name == cell else [])
    monkeypatch.setattr(probe, "report", lambda case, **v: reports.append((case.index, _trip(v))))
    exec(_hidden(_cells(notebook)[cell]), namespace)
    assert [i for i, _ in reports] == list(range(len(cases)))
    verdicts = []
    for index, values in reports:
        case = check.all_cases[index]
        try:
            check.judge(case, judging.Observed(values, case.label, check), check.want(index))
            verdicts.append("ok")
        except AssertionError as error:
            verdicts.append(str(error))
    return verdicts


def _namespace(notebook: str, *codes: str) -> dict:
    namespace = {"np": np, "tf": tf, "keras": keras, "MAX_TOKENS": 20000, "SEQ_LEN": 400}
    for code in codes:
        exec(code, namespace)
    return namespace


# --------------------------------------------------------------------------- 04

NB04 = "04_imdb_preprocessing"


@pytest.mark.parametrize("solution", ["instructor", "alternative"])
def test_04_vectorizer_keeps_its_points_without_standardize(solution, monkeypatch):
    from attention_grader.catalogs import nb04_imdb_preprocessing as catalog

    code = {"instructor": _cells(NB04), "alternative": catalog.ALTERNATIVE}[solution]
    namespace = _namespace(NB04, code["make_vectorizer"])
    namespace["standardize"] = _skipped
    assert _grade(NB04, "test_make_vectorizer", namespace, monkeypatch) == ["ok"] * 4


@pytest.mark.parametrize("solution", ["instructor", "alternative"])
def test_04_splits_keep_their_points_without_standardize_and_vectorizer(solution, monkeypatch):
    from attention_grader.catalogs import nb04_imdb_preprocessing as catalog

    code = {"instructor": _cells(NB04), "alternative": catalog.ALTERNATIVE}[solution]
    namespace = _namespace(NB04, code["vectorize_splits"])
    namespace["standardize"] = namespace["make_vectorizer"] = _skipped
    assert _grade(NB04, "test_vectorize_splits", namespace, monkeypatch) == ["ok"] * 3


def test_04_a_vocabulary_adapted_on_the_test_texts_runs_the_students_own_helpers(monkeypatch):
    """make_vectorizer(train + test) is not a call a correct solution makes: the student's own
    make_vectorizer runs (with the standardize stand-in inside TextVectorization's adapt, in
    graph mode) and the test-only words are found."""
    source = _cells(NB04)
    splits = source["vectorize_splits"].replace(
        "make_vectorizer(train_texts, max_tokens, seq_len)",
        "make_vectorizer(list(train_texts) + list(test_texts), max_tokens, seq_len)",
    )
    namespace = _namespace(NB04, source["make_vectorizer"], splits)
    namespace["standardize"] = _skipped  # every text of the case has an answer
    verdicts = _grade(NB04, "test_vectorize_splits", namespace, monkeypatch)
    assert all("occur only in the test texts" in v for v in verdicts), verdicts
    namespace = _namespace(NB04, splits)
    namespace["make_vectorizer"] = _skipped
    verdicts = _grade(NB04, "test_vectorize_splits", namespace, monkeypatch)
    assert all("NotImplementedError" in v for v in verdicts), verdicts


def test_04_element_map_answers_any_shape_eagerly_and_in_graph_mode():
    from attention_course.standins import ElementMap

    fallback_calls = []

    def fallback(texts):
        fallback_calls.append(texts.numpy().tolist())
        return tf.strings.upper(texts)

    lookup = ElementMap("standardize", [["A b!", "a b"], ["C", "c"]], fallback)
    assert lookup(tf.constant([["A b!"], ["C"]])).numpy().tolist() == [[b"a b"], [b"c"]]
    assert lookup(tf.constant("C")).numpy() == b"c"
    mapped = tf.data.Dataset.from_tensor_slices(["C", "A b!", "new"]).batch(2).map(lookup)
    assert [b.numpy().tolist() for b in mapped] == [[b"c", b"a b"], [b"NEW"]]
    assert fallback_calls == [[b"new"]]
    with pytest.raises(LookupError):
        ElementMap("standardize", [["C", "c"]])(tf.constant(["D"]))


# --------------------------------------------------------------------------- 05

NB05 = "05_imdb_attention"
CONFIG = {"CONFIG": {"embed_dim": 64, "gru_units": 32, "attention_units": 64}}


def _blank_pooling() -> str:
    head = _cells(NB05)["attention_pooling"].split("### BEGIN SOLUTION")[0]
    return head + "        raise NotImplementedError()\n"


@pytest.mark.parametrize("pooling", ["unimplemented", "missing"])
@pytest.mark.parametrize("solution", ["instructor", "alternative"])
def test_05_model_keeps_its_points_without_attention_pooling(solution, pooling, monkeypatch):
    from attention_grader.catalogs import nb05_imdb_attention as catalog

    code = {"instructor": _cells(NB05), "alternative": catalog.ALTERNATIVE}[solution]
    layer = _blank_pooling() if pooling == "unimplemented" else ""
    namespace = _namespace(NB05, layer, code["gru_attention"])
    namespace.update(CONFIG)
    assert _grade(NB05, "test_gru_attention", namespace, monkeypatch) == ["ok"] * 2


def test_05_a_model_without_the_mask_runs_the_students_own_layer(monkeypatch):
    """Without mask_zero=True the layer gets no mask: not an input of a correct model, so the
    student's own call runs (here unimplemented: the model test loses its points)."""
    model = _cells(NB05)["gru_attention"].replace("embed_dim, mask_zero=True)", "embed_dim)")
    namespace = _namespace(NB05, _blank_pooling(), model)
    verdicts = _grade(NB05, "test_gru_attention", namespace, monkeypatch)
    assert all("NotImplementedError" in v for v in verdicts), verdicts
    namespace = _namespace(NB05, _cells(NB05)["attention_pooling"], model)
    verdicts = _grade(NB05, "test_gru_attention", namespace, monkeypatch)
    assert all("model output" in v for v in verdicts), verdicts


def test_05_the_tables_hold_values_only():
    check = judging.checks_of(NB05)["test_gru_attention"]
    for case in check.all_cases:
        table = _trip(case.stand_ins)["AttentionPooling"]
        assert table["kind"] == "layer" and table["sealed"] and not table.get("calls")
        for entry in table["sealed"]:  # no states, weights or answer in the clear
            assert set(entry) == {"params", "defaults", "digest", "box", "floats"}


def test_05_the_layer_answers_inside_a_traced_function_too(monkeypatch):
    """model.predict traces the model: the stand-in then looks its values up in
    tf.py_function and gives what it gives eagerly, the reference's answer."""
    from attention_course.standins import answering_layer

    namespace = _namespace(NB05, _blank_pooling(), _cells(NB05)["gru_attention"])
    monkeypatch.setattr(probe, "hidden_cases", lambda name: [])
    exec(_hidden(_cells(NB05)["test_gru_attention"]), namespace)  # defines the interface only
    check = judging.checks_of(NB05)["test_gru_attention"]
    case = check.all_cases[1]
    inputs, table = _trip(case.inputs), _trip(case.stand_ins)["AttentionPooling"]
    namespace["AttentionPooling"] = answering_layer(
        namespace["_PoolingInterface"], table, fallback=namespace["AttentionPooling"]
    )
    model, _ = namespace["build_gru_attention"](
        inputs["vocab_size"],
        inputs["embed_dim"],
        inputs["gru_units"],
        inputs["attention_units"],
        inputs["dropout"],
    )
    model.set_weights(inputs["weights"])
    for index, ids in enumerate(inputs["ids"]):
        traced = model.predict(ids, verbose=0)
        np.testing.assert_allclose(traced, np.asarray(model(ids)), rtol=1e-6)
        np.testing.assert_allclose(traced, check.want(1)["probabilities"][index], atol=1e-5)


# --------------------------------------------------------------------------- leaks
#
# A hostile student: the graded exercise is (partly) blank and reads the answer of the running
# case out of the stand-in's table. On readable tables (as before sealing; rebuilt here by
# turning sealing off) the cheat gets every case, which proves it works; on the tables the
# grader sends it gets none.


@pytest.fixture
def readable(monkeypatch):
    from attention_grader.judges import nb04_imdb_preprocessing as nb04
    from attention_grader.judges import nb05_imdb_attention as nb05

    monkeypatch.setattr(nb04, "seal_table", lambda table: table)
    monkeypatch.setattr(nb05, "seal_table", lambda table: table)
    _forget_cases()
    yield
    _forget_cases()


def _forget_cases():
    for notebook in (NB04, NB05):
        for check in judging.checks_of(notebook).values():
            check.__dict__.pop("all_cases", None)


# vectorize_splits without calling make_vectorizer: the prepared vectorizer out of its table
SPLITS_FROM_TABLE = """
def vectorize_splits(train_texts, test_texts, max_tokens, seq_len):
    import gc
    from attention_course.standins import Prepared

    for thing in gc.get_objects():
        if type(thing).__name__ == "Factory":
            for entry in vars(thing).get("_calls", []):
                if "object" in entry:
                    layer = Prepared("make_vectorizer", entry["object"])
                    return (layer, np.asarray(layer(tf.constant(list(train_texts)))),
                            np.asarray(layer(tf.constant(list(test_texts)))))
    raise NotImplementedError()
"""

# the model is right, its weights_model is blank: the pooling weights of each batch of ids out
# of the layer stand-in's table (in the closure of its call)
WEIGHTS_MODEL_FROM_TABLE = """
    def _table():
        for cell in AttentionPooling.call.__closure__ or ():
            found = cell.cell_contents
            if isinstance(found, list) and found and isinstance(found[0], dict):
                if "result" in found[0]:
                    return found
        raise NotImplementedError()

    answers = iter([np.asarray(entry["result"][1]) for entry in _table()])
    return model, lambda ids, training=False: next(answers)
"""


def _model_with_blank_weights_model() -> str:
    code = _cells(NB05)["gru_attention"]
    head = code.split("    return (keras.Model(ids, probability")[0]
    return head + "    model = keras.Model(ids, probability)\n" + WEIGHTS_MODEL_FROM_TABLE


def _splits_cheat_score(monkeypatch) -> list[str]:
    namespace = _namespace(NB04, SPLITS_FROM_TABLE)
    namespace["standardize"] = namespace["make_vectorizer"] = _skipped
    return _grade(NB04, "test_vectorize_splits", namespace, monkeypatch)


def _weights_model_cheat_score(monkeypatch) -> list[str]:
    namespace = _namespace(NB05, _blank_pooling(), _model_with_blank_weights_model())
    namespace.update(CONFIG)
    return _grade(NB05, "test_gru_attention", namespace, monkeypatch)


def test_the_cheats_score_on_readable_tables(readable, monkeypatch):
    assert _splits_cheat_score(monkeypatch) == ["ok"] * 3
    assert _weights_model_cheat_score(monkeypatch) == ["ok"] * 2


def test_04_a_blank_vectorize_splits_cannot_read_the_vectorizer_from_its_table(monkeypatch):
    verdicts = _splits_cheat_score(monkeypatch)
    assert all("NotImplementedError" in v for v in verdicts), verdicts
    for cell in ("test_make_vectorizer", "test_vectorize_splits"):
        for case in judging.checks_of(NB04)[cell].all_cases:
            text = json.dumps(wire.encode(case.stand_ins))
            for t in case.inputs.get("texts", []) + case.inputs.get("train", []):
                assert len(t) < 8 or json.dumps(t)[1:-1] not in text, t


def test_05_a_blank_weights_model_cannot_read_the_pooling_weights_from_its_table(monkeypatch):
    verdicts = _weights_model_cheat_score(monkeypatch)
    assert all("NotImplementedError" in v for v in verdicts), verdicts


def test_04_sealed_texts_open_only_for_themselves():
    from attention_course.standins import ElementMap, seal_pairs

    table = seal_pairs([["A b!", "a b"], ["C", "c"]])
    assert "a b" not in json.dumps(table) and "A b!" not in json.dumps(table)
    own = []
    lookup = ElementMap(
        "standardize", [], lambda t: own.append(t) or tf.strings.lower(t), sealed=table
    )
    assert lookup(tf.constant([["A b!"], ["C"]])).numpy().tolist() == [[b"a b"], [b"c"]]
    assert lookup(tf.constant(["D!"])).numpy().tolist() == [b"d!"] and len(own) == 1
    mapped = tf.data.Dataset.from_tensor_slices(["C", "A b!"]).batch(2).map(lookup)
    assert [b.numpy().tolist() for b in mapped] == [[b"c", b"a b"]]
