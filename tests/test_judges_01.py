"""Rules of 01_tokenization's trusted checks, without a kernel: each rule the exercise text
states has a hidden case that tells it from its violation (the graded end-to-end run in
test_nbgrader_01_tokenization.py proves the same through nbgrader)."""

from __future__ import annotations

from collections import Counter

import pytest

from attention_grader.judges import nb01_tokenization as nb01
from attention_grader.judging import Observed, checks_of

PAD, UNK = nb01.PAD, nb01.UNK


def _verdicts(cell: str, answer) -> list[bool]:
    """For every hidden case of ``cell``: does ``answer(**inputs)`` (the values the kernel
    would report) pass the judge?"""
    check = checks_of(nb01.NB)[cell]
    verdicts = []
    for index, case in enumerate(check.all_cases):
        try:
            check.judge(case, Observed(answer(case.inputs), case.label, check), check.want(index))
        except AssertionError:
            verdicts.append(False)
        else:
            verdicts.append(True)
    return verdicts


def _vocab(build):
    return lambda inputs: {"vocab": build(inputs["token_lists"], **inputs["options"])}


def _most_common_cut(token_lists, max_size=None, min_freq=1):
    """Right order, wrong tie at the cut: Counter.most_common keeps first appearances."""
    counts = Counter(t for tokens in token_lists for t in tokens if t not in (PAD, UNK))
    kept = [t for t, n in counts.most_common() if n >= min_freq]
    if max_size is not None:
        kept = kept[: max(max_size - 2, 0)]
    kept.sort(key=lambda t: (-counts[t], t))
    return {PAD: 0, UNK: 1, **{t: i + 2 for i, t in enumerate(kept)}}


@pytest.mark.parametrize(
    "cell", ["test_build_vocab_reserved_ids", "test_build_vocab_order", "test_build_vocab_limits"]
)
def test_the_reference_vocabulary_passes(cell):
    assert all(_verdicts(cell, _vocab(nb01.ref_vocab)))


def test_a_constant_vocabulary_fails_the_reserved_ids():
    verdicts = _verdicts(
        "test_build_vocab_reserved_ids", lambda inputs: {"vocab": {PAD: 0, UNK: 1}}
    )
    assert not all(verdicts)


def test_a_tie_at_the_max_size_cut_is_judged():
    assert all(_verdicts("test_build_vocab_order", _vocab(_most_common_cut)))
    assert not all(_verdicts("test_build_vocab_limits", _vocab(_most_common_cut)))


def test_encode_looks_up_a_literal_pad():
    def encode(inputs):
        vocab = inputs["vocab"]
        ids = [vocab.get(t, 1) for t in inputs.get("tokens", [])]
        if inputs["op"] == "encode":
            return {"out": ids}
        inverse = {i: t for t, i in vocab.items()}
        source = ids if inputs["op"] == "roundtrip" else inputs["ids"]
        return {"out": [inverse.get(int(i), UNK) for i in source if int(i) != 0]}

    def encode_reserved_as_unknown(inputs):
        reported = encode(inputs)
        if inputs["op"] == "encode":
            reported["out"] = [
                1 if t in (PAD, UNK) else inputs["vocab"].get(t, 1) for t in inputs["tokens"]
            ]
        return reported

    assert all(_verdicts("test_encode_decode", encode))
    assert not all(_verdicts("test_encode_decode", encode_reserved_as_unknown))
