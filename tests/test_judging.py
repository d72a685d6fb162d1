"""attention_grader.judging: verdicts from what a test cell reported (01's checks)."""

from __future__ import annotations

import numpy as np
import pytest

from attention_course import wire
from attention_grader import judging
from attention_grader.judges import nb01_tokenization as nb01

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
