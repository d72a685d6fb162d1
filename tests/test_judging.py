"""attention_grader.judging: verdicts from what a test cell reported (01's checks)."""

from __future__ import annotations

import collections
import importlib

import numpy as np
import pytest

from attention_course import probe, wire
from attention_grader import cells, judging
from attention_grader.authoring import project_root, read_notebook
from attention_grader.judges import nb01_tokenization as nb01
from attention_grader.submissions import solution_code

CHECK = judging.checks_of("01_tokenization")["test_one_hot"]


def _right_reports() -> list[dict]:
    out = []
    for index, case in enumerate(CHECK.all_cases):
        ids = case.inputs["ids"]
        encoded = (ids[..., None] == np.arange(case.inputs["vocab_size"])).astype("float32")
        out.append({"case": index, "values": {"encoded": encoded}})
    return out


def test_every_graded_cell_of_01_has_a_check_with_cases():
    checks = judging.checks_of("01_tokenization")
    assert set(checks) == {
        "test_build_vocab_reserved_ids",
        "test_build_vocab_order",
        "test_build_vocab_limits",
        "test_encode_decode",
        "test_pair_counts",
        "test_merge_pair",
        "test_learn_bpe",
        "test_bpe_encode",
        "test_one_hot",
        "test_embedding_lookup",
        "test_cosine_similarity",
        "test_nearest_neighbours",
    }
    assert all(check.all_cases for check in checks.values())


def test_right_values_for_every_case_pass():
    assert judging.verdict("01_tokenization", "test_one_hot", _right_reports()).passed


def test_nothing_reported_scores_zero():
    verdict = judging.verdict("01_tokenization", "test_one_hot", [])
    assert not verdict.passed and "no result came back" in verdict.message


def test_a_missing_case_a_duplicate_or_a_malformed_report_fails():
    reports = _right_reports()
    assert "no result" in judging.verdict("01_tokenization", "test_one_hot", reports[:-1]).message
    assert (
        "twice"
        in judging.verdict("01_tokenization", "test_one_hot", [*reports, reports[0]]).message
    )
    bad = [*reports[1:], {"case": "0", "values": {}}]
    assert "malformed" in judging.verdict("01_tokenization", "test_one_hot", bad).message


def test_a_wrong_value_fails_with_the_check_message():
    reports = _right_reports()
    reports[2]["values"]["encoded"] = reports[2]["values"]["encoded"][..., ::-1]
    verdict = judging.verdict("01_tokenization", "test_one_hot", reports)
    assert not verdict.passed and verdict.message.startswith("hidden check failed:")
    assert CHECK.all_cases[2].label in verdict.message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (wire.Opaque("Sequential"), "Sequential object"),
        (wire.Raised("IndexError", "index 7 is out of bounds"), "your code raised IndexError"),
        ([["a"]], "numeric array"),
    ],
)
def test_what_is_not_an_answer_is_named(value, words):
    reports = _right_reports()
    reports[0]["values"]["encoded"] = value
    verdict = judging.verdict("01_tokenization", "test_one_hot", reports)
    assert not verdict.passed and words in verdict.message


def test_an_unknown_cell_cannot_be_graded():
    assert not judging.verdict("01_tokenization", "test_nonexistent", []).passed


def test_references_agree_with_the_notebook_text():
    # the worked example of exercise 3.3 (checked by hand in the notebook's markdown)
    corpus = {"low": 5, "lower": 2, "newest": 6, "widest": 3}
    assert nb01.ref_learn(corpus, 5) == [
        ("e", "s"),
        ("es", "t"),
        ("est", "</w>"),
        ("l", "o"),
        ("lo", "w"),
    ]
    assert nb01.ref_bpe_encode("abc", [("b", "c"), ("a", "b")]) == ["a", "bc", "</w>"]
    assert nb01.ref_vocab([["b", "a", "b"], ["c", "a", "b"]]) == {
        "<pad>": 0,
        "<unk>": 1,
        "b": 2,
        "a": 3,
        "c": 4,
    }


# --------------------------------------------------------------------------- stand-ins


def test_recorded_calls_keep_every_call_once_with_the_references_values():
    def pair_counts(word_freqs):
        return {"calls": len(word_freqs)}

    def merge_pair(word_freqs, pair):
        return {pair[0] + pair[1]: sum(word_freqs.values())}

    def run(pair_counts, merge_pair):
        state = {"a": 1, "b": 2}
        pair_counts(state)
        pair_counts(state)  # the same call again: kept once
        merged = merge_pair(state, ("a", "b"))
        merge_pair(merged, pair=("x", "y"))
        state["c"] = 3  # changed after the call: the table keeps what was passed
        return "ignored"

    tables = judging.recorded_calls(run, pair_counts=pair_counts, merge_pair=merge_pair)
    assert tables == {
        "pair_counts": [{"args": [{"a": 1, "b": 2}], "kwargs": {}, "result": {"calls": 2}}],
        "merge_pair": [
            {"args": [{"a": 1, "b": 2}, ("a", "b")], "kwargs": {}, "result": {"ab": 3}},
            {"args": [{"ab": 3}], "kwargs": {"pair": ("x", "y")}, "result": {"xy": 3}},
        ],
    }
    assert judging.recorded_calls(lambda pair_counts: None, pair_counts=pair_counts) == {
        "pair_counts": []
    }


def test_any_spelling_names_the_parameters_and_refuses_calls_that_do_not_fit():
    def prf(y_true, y_pred, zero_division=0.0):
        return (1.0, 1.0, 1.0)

    tables = judging.recorded_calls(lambda prf: prf([1], [1], zero_division=1.0), prf=prf)
    (entry,) = judging.any_spelling(tables, prf=prf)["prf"]
    assert entry["params"] == ["y_true", "y_pred", "zero_division"]
    assert entry["defaults"] == {"zero_division": 0.0}
    assert tables["prf"][0].keys() == {"args", "kwargs", "result"}  # the input is not changed
    with pytest.raises(ValueError, match="does not fit"):
        judging.any_spelling(tables, prf=lambda y_true, y_pred: None)
    with pytest.raises(ValueError, match="plain parameters"):
        judging.any_spelling(tables, prf=lambda *args: None)


def _plain_data_only(value, path="tables"):
    """Fail unless ``value`` is made of the wire's plain types (no function, no object)."""
    if value is None or type(value) in (bool, int, float, str):
        return
    if isinstance(value, np.ndarray):
        assert value.dtype.kind in "biuf", f"{path}: array of dtype {value.dtype}"
        return
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _plain_data_only(item, f"{path}[{i}]")
        return
    assert type(value) is dict, f"{path}: {type(value).__name__} is not plain data"
    for key, item in value.items():
        _plain_data_only(key, f"{path} key")
        _plain_data_only(item, f"{path}[{key!r}]")


STAND_IN_CELLS = [
    ("01_tokenization", "test_learn_bpe", {"pair_counts", "merge_pair"}),
    ("01_tokenization", "test_bpe_encode", {"merge_pair"}),
    ("01_tokenization", "test_nearest_neighbours", {"cosine_similarity"}),
    ("02_metrics", "test_threshold_sweep", {"precision_recall_f1"}),
    ("02_metrics", "test_choose_threshold", {"threshold_sweep"}),
    ("06_custom_dataloader", "test_make_windows", {"find_segments", "count_windows"}),
    (
        "06_custom_dataloader",
        "test_split_normalize_window",
        {"make_windows", "find_segments", "count_windows"},
    ),
]


def _solution_and_hidden(notebook):
    nb = read_notebook(project_root() / "source" / notebook / f"{notebook}.ipynb")
    hidden = {}
    for cell in nb["cells"]:
        text = cells.source(cell)
        if "### BEGIN HIDDEN TESTS" in text:
            start = text.index("### BEGIN HIDDEN TESTS")
            hidden[cells.grade_id(cell)] = text[start : text.index("### END HIDDEN TESTS")]
    return solution_code(nb), hidden


def _run_hidden(notebook, cell, code, broken=()):
    """Run the hidden region of ``cell`` as the grading kernel does (cases through the wire),
    over ``code`` (solution cells); the notebook's ``broken`` functions return nonsense.
    Returns the verdict and how often the notebook's own functions were called."""
    sent = wire.decode(wire.encode(judging.cases_for(notebook)))
    namespace = {"np": np, "collections": collections, "__name__": "__main__"}
    for grade_id, text in code.items():
        if grade_id == cell or "def " not in text or "keras" in text or "tensorflow" in text:
            continue  # written answers; 06's loader and model (TensorFlow) are not needed
        exec(text, namespace)  # noqa: S102 - the instructor's own solution cells
    own_calls = collections.Counter()
    for name in broken:
        namespace[name] = lambda *a, _name=name, **k: own_calls.update([_name]) or "nonsense"
    reports = []
    namespace.update(
        call=probe.call,
        hidden_cases=lambda check: [
            probe.Case(check, i, c["label"], c["inputs"], c["stand_ins"])
            for i, c in enumerate(sent[check])
        ],
        report=lambda case, **values: reports.append(
            {"case": case.index, "values": wire.decode(wire.encode(values))}
        ),
        standing_in=probe.standing_in,
    )
    region = code[cell].replace(
        "from attention_course.probe import call, hidden_cases, report, standing_in", ""
    )
    exec(region, namespace)  # noqa: S102
    return judging.verdict(notebook, cell, reports), own_calls


@pytest.mark.parametrize(("notebook", "cell", "helpers"), STAND_IN_CELLS)
def test_stand_ins_are_values_that_answer_every_call_of_the_solution(notebook, cell, helpers):
    check = judging.checks_of(notebook)[cell]
    for case_ in check.all_cases:
        assert set(case_.stand_ins) == helpers, case_.label
        _plain_data_only(case_.stand_ins)
        sent = wire.decode(wire.encode(case_.stand_ins))
        assert sent.keys() == case_.stand_ins.keys()
    solution, hidden = _solution_and_hidden(notebook)
    code = {**solution, cell: hidden[cell]}
    # the notebook's own helpers are broken: the later exercise keeps its points because every
    # call the solution makes is answered from the grader's values, none reaches them
    verdict, own_calls = _run_hidden(notebook, cell, code, broken=helpers)
    assert verdict.passed, verdict.message
    assert not own_calls


@pytest.mark.parametrize(("notebook", "cell", "helpers"), STAND_IN_CELLS)
def test_the_alternative_solution_is_answered_as_well(notebook, cell, helpers):
    catalog = importlib.import_module(f"attention_grader.catalogs.nb{notebook}")
    solution, hidden = _solution_and_hidden(notebook)
    code = {**solution, **catalog.ALTERNATIVE, cell: hidden[cell]}
    verdict, own_calls = _run_hidden(notebook, cell, code, broken=helpers)
    assert verdict.passed, verdict.message
    assert not own_calls


def test_a_call_the_grader_did_not_prepare_reaches_the_notebook_function():
    solution, hidden = _solution_and_hidden("01_tokenization")
    code = {**solution, "test_learn_bpe": hidden["test_learn_bpe"]}
    # a learn_bpe without the end-of-word marker asks for other counts: its own (broken)
    # pair_counts answers them, and it loses its points
    code["learn_bpe"] = code["learn_bpe"].replace('+ ("</w>",)', "")
    verdict, own_calls = _run_hidden("01_tokenization", "test_learn_bpe", code, ["pair_counts"])
    assert not verdict.passed and own_calls["pair_counts"] > 0


@pytest.mark.parametrize("notebook", ["01_tokenization", "02_metrics", "06_custom_dataloader"])
def test_hidden_regions_let_only_the_graders_values_stand_in(notebook):
    _, hidden = _solution_and_hidden(notebook)
    uses = 0
    for cell, region in hidden.items():
        calls = region.count("standing_in(")
        uses += calls
        assert calls == region.count("standing_in(globals(), **case.stand_ins)"), cell
        if calls:
            assert "def " not in region, f"{cell}: a hidden region that stands in defines code"
    assert uses == {"01_tokenization": 3, "02_metrics": 2, "06_custom_dataloader": 2}[notebook]


@pytest.mark.parametrize(
    ("notebook", "cell", "function", "cheat"),
    [
        (  # the merges of learn_bpe would be the pairs passed to merge_pair
            "01_tokenization",
            "test_learn_bpe",
            "learn_bpe",
            "def learn_bpe(word_counts, num_merges):\n"
            "    table = merge_pair._calls\n"
            "    return [tuple(e['args'][1]) if 'args' in e else e['box'] for e in table]\n",
        ),
        (  # split_normalize_window's windows and cut would be in make_windows' table
            "06_custom_dataloader",
            "test_split_normalize_window",
            "split_normalize_window",
            "def split_normalize_window(X, y, train_fraction, window, stride):\n"
            "    X = np.asarray(X, dtype=np.float32)\n"
            "    table = [e for e in make_windows._calls if 'args' in e] or [{}] * 2\n"
            "    cut = len(table[0].get('args', [X])[0])\n"
            "    mean, std = X[:cut].mean(0), X[:cut].std(0)\n"
            "    std = np.where(std == 0, 1.0, std)\n"
            "    (tw, tl, _), (ew, el, _) = [e.get('result', (0, 0, 0)) for e in table[:2]]\n"
            "    return tw, tl, ew, el, mean, std\n",
        ),
    ],
)
def test_a_blank_exercise_cannot_read_its_answer_from_the_stand_ins(
    notebook, cell, function, cheat
):
    solution, hidden = _solution_and_hidden(notebook)
    code = {**solution, function: cheat, cell: hidden[cell]}
    verdict, _ = _run_hidden(notebook, cell, code)
    assert not verdict.passed
    # (on readable tables, {"args", "kwargs", "result"}, both cheats get full marks: checked
    # by hand when sealing was added) because every entry of these tables is sealed
    for c in judging.checks_of(notebook)[cell].all_cases:
        for table in c.stand_ins.values():
            assert all("args" not in e and "result" not in e and "digest" in e for e in table)


# --------------------------------------------------------------------------- names

NOTEBOOKS = sorted(path.name for path in (project_root() / "source").iterdir() if path.is_dir())


def test_a_check_is_named_after_its_test_cell():
    assert judging.check_class_name("test_attention_pooling") == "AttentionPooling"
    assert judging.check_class_name("test_precision_recall_f1") == "PrecisionRecallF1"
    assert judging.check_class_name("test_auc") == "Auc"
    for not_a_test_cell in ("attention_pooling", "test_", "provided_standardize"):
        with pytest.raises(TypeError, match="not the grade id of a test cell"):
            judging.check_class_name(not_a_test_cell)


def test_a_wrongly_named_check_is_refused_when_its_module_is_imported():
    notebook = "99_naming_rule"  # no such notebook: nothing else registers checks for it

    class AttentionPoolingCheck(judging.Check):
        notebook, cell = "99_naming_rule", "test_attention_pooling"

    with pytest.raises(
        TypeError, match="must be named AttentionPooling, not AttentionPoolingCheck"
    ):
        judging.register(AttentionPoolingCheck)
    assert notebook not in judging._REGISTRY

    class AttentionPooling(judging.Check):
        notebook, cell = "99_naming_rule", "test_attention_pooling"

    try:
        assert judging.register(AttentionPooling) is AttentionPooling
        assert type(judging._REGISTRY[notebook]["test_attention_pooling"]) is AttentionPooling
    finally:
        judging._REGISTRY.pop(notebook, None)


def test_there_are_six_notebooks_with_checks():
    assert len(NOTEBOOKS) == 6 and all(judging.checks_of(name) for name in NOTEBOOKS), NOTEBOOKS


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_check_follows_the_naming_rule(notebook):
    checks = judging.checks_of(notebook)
    for cell, check in checks.items():
        assert type(check).__name__ == judging.check_class_name(cell), (notebook, cell)
    # every other check class of the module (a base class) says it is not a check of a cell
    module = importlib.import_module(judging.judges_module(notebook))
    registered = {type(check) for check in checks.values()}
    for name, value in vars(module).items():
        if isinstance(value, type) and issubclass(value, judging.Check):
            if value.__module__ == module.__name__ and value not in registered:
                assert name.startswith("_"), f"{module.__name__}.{name} is not registered"
    # and every autograded test cell of the notebook has its check
    nb = read_notebook(project_root() / "source" / notebook / f"{notebook}.ipynb")
    graded = {
        cells.grade_id(cell)
        for cell in nb["cells"]
        if cells.is_grade(cell) and not cells.is_solution(cell)
    }
    assert graded == set(checks)
