"""04_imdb_preprocessing's check of make_dataset, judged on observations built here (no
kernel, no TensorFlow): a correct pipeline passes, and each mistake the check knows fails
with its own message."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from attention_course import wire
from attention_grader import judging

NB, CELL = "04_imdb_preprocessing", "test_make_dataset"
CHECK = judging.checks_of(NB)[CELL]


def _order(inputs: dict, seed: int | None, epoch: int) -> np.ndarray:
    n = len(inputs["ids"])
    if not inputs["training"]:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)  # a new order every epoch


def _epoch(inputs: dict, order: np.ndarray) -> dict:
    ids, labels, b = inputs["ids"], inputs["labels"].astype(np.int64), inputs["batch_size"]
    batches = [order[i : i + b] for i in range(0, len(order), b)]
    return {"ids": [ids[rows] for rows in batches], "labels": [labels[rows] for rows in batches]}


def _build(inputs: dict, plan: dict) -> dict:
    seq_len, b = inputs["ids"].shape[1], inputs["batch_size"]
    return {
        "spec": [[[None, seq_len], "int64"], [[None], "int64"]],
        "cardinality": -(-len(inputs["ids"]) // b),
        "final": "_PrefetchDataset",
        "prefetch_buffer": -1,
        "epochs": [_epoch(inputs, _order(inputs, plan["seed"], e)) for e in range(plan["epochs"])],
    }


def _right_reports() -> list[dict]:
    return [
        {"case": i, "values": {"builds": [_build(case.inputs, p) for p in case.inputs["builds"]]}}
        for i, case in enumerate(CHECK.all_cases)
    ]


def _message(reports: list[dict]) -> str:
    verdict = judging.verdict(NB, CELL, reports)
    assert not verdict.passed
    assert verdict.message.startswith("hidden check failed:"), verdict.message  # not a crash
    return verdict.message


def _case(label_part: str) -> int:
    (index,) = [i for i, c in enumerate(CHECK.all_cases) if label_part in c.label]
    return index


TRAIN, EVAL, BIG = _case("seed=1, then"), _case("10 examples"), _case("12000")


def test_a_correct_pipeline_passes():
    verdict = judging.verdict(NB, CELL, _right_reports())
    assert verdict.passed, verdict.message


def _edit_build(index: int, edit, build: int = 0) -> list[dict]:
    reports = _right_reports()
    edit(reports[index]["values"]["builds"][build])
    return reports


def _swap_first_two_rows(build):
    epoch = build["epochs"][0]
    for key in ("ids", "labels"):
        first = epoch[key][0]
        epoch[key][0] = np.concatenate([first[1:2], first[:1], first[2:]])


MISTAKES = {
    "raises NotImplementedError": (
        EVAL,
        lambda reports: reports[EVAL]["values"]["builds"].__setitem__(
            0, wire.Raised("NotImplementedError", "")
        ),
        "replace `raise NotImplementedError()`",
    ),
    "raises another error": (
        EVAL,
        lambda reports: reports[EVAL]["values"]["builds"].__setitem__(
            0, wire.Raised("ValueError", "bad")
        ),
        "your code raised ValueError: bad",
    ),
    "an observation that is not a dict": (
        EVAL,
        lambda reports: reports[EVAL]["values"]["builds"].__setitem__(0, 5),
        "no observation came back",
    ),
    "fewer datasets than built": (
        TRAIN,
        lambda reports: reports[TRAIN]["values"]["builds"].pop(),
        "2 datasets observed, expected 3",
    ),
    "builds not a list": (
        EVAL,
        lambda reports: reports[EVAL]["values"].__setitem__("builds", "x"),
        "expected one observation per dataset built",
    ),
}

BUILD_MISTAKES = {
    "elements not pairs": (lambda b: b.__setitem__("spec", "TensorSpec(...)"), "element_spec"),
    "fixed batch size": (
        lambda b: b["spec"][0].__setitem__(0, [4, 4]),
        "batch(batch_size) without drop_remainder",
    ),
    "float labels": (lambda b: b["spec"][1].__setitem__(1, "float32"), "expected integers"),
    "repeated": (lambda b: b.__setitem__("cardinality", -1), "no repeat()"),
    "no prefetch": (lambda b: b.__setitem__("final", "_BatchDataset"), "not a prefetch"),
    "fixed prefetch buffer": (lambda b: b.__setitem__("prefetch_buffer", 2), "AUTOTUNE (-1)"),
    "epochs missing": (lambda b: b.__setitem__("epochs", []), "1 epochs expected"),
    "epoch not read": (lambda b: b["epochs"].__setitem__(0, {"ids": None}), "no batches"),
    "epoch not a dict": (lambda b: b["epochs"].__setitem__(0, [1]), "no batches"),
    "more id batches than label batches": (
        lambda b: b["epochs"][0]["labels"].pop(),
        "3 batches of ids but 2 batches of labels",
    ),
    "ids batch of the wrong shape": (
        lambda b: b["epochs"][0]["ids"].__setitem__(0, np.zeros(4, dtype=np.int64)),
        "batch 0 of ids is an array of shape (4,)",
    ),
    "labels batch of the wrong shape": (
        lambda b: b["epochs"][0]["labels"].__setitem__(0, np.zeros((4, 1), dtype=np.int64)),
        "batch 0 of labels",
    ),
    "float labels served": (
        lambda b: b["epochs"][0]["labels"].__setitem__(0, np.zeros(4, dtype=np.float32)),
        "the labels have dtype float32",
    ),
    "a row that is not an input row": (
        lambda b: b["epochs"][0]["ids"][0].__setitem__((0, 0), 10**6),
        "not a row of the input",
    ),
    "labels apart from their ids": (
        lambda b: b["epochs"][0]["labels"].__setitem__(0, 1 - b["epochs"][0]["labels"][0]),
        "labels do not belong to their ids",
    ),
    "last batch dropped": (
        lambda b: [b["epochs"][0][k].pop() for k in ("ids", "labels")],
        "expected each of the 10 exactly once",
    ),
    "batches of the wrong sizes": (
        lambda b: [
            b["epochs"][0][k].__setitem__(slice(None), [np.concatenate(b["epochs"][0][k])])
            for k in ("ids", "labels")
        ],
        "batch sizes [10]",
    ),
    "shuffled without training": (_swap_first_two_rows, "shuffle only when training=True"),
}


@pytest.mark.parametrize(("index", "edit", "words"), MISTAKES.values(), ids=MISTAKES.keys())
def test_a_broken_observation_fails_with_its_message(index, edit, words):
    reports = _right_reports()
    edit(reports)
    assert words in _message(reports)


@pytest.mark.parametrize(("edit", "words"), BUILD_MISTAKES.values(), ids=BUILD_MISTAKES.keys())
def test_a_mistake_in_a_dataset_fails_with_its_message(edit, words):
    assert words in _message(_edit_build(EVAL, edit))


def _served_as(dtype, labels_dtype=np.int64) -> list[dict]:
    reports = _right_reports()
    for report in reports:
        for build in report["values"]["builds"]:
            for epoch in build["epochs"]:
                epoch["ids"] = [x.astype(dtype) for x in epoch["ids"]]
                epoch["labels"] = [y.astype(labels_dtype) for y in epoch["labels"]]
    return reports


@pytest.mark.parametrize("dtype", [np.int32, np.uint16, np.uint64, np.float32, np.float64])
@pytest.mark.parametrize("labels_dtype", [np.int64, np.uint8])
def test_ids_and_labels_of_any_integer_valued_type_pass(dtype, labels_dtype):
    """The text asks for (ids, label) pairs, not for a dtype: ids served as other integers, or
    as floats holding the same values, are the input's rows."""
    verdict = judging.verdict(NB, CELL, _served_as(dtype, labels_dtype))
    assert verdict.passed, verdict.message


NOT_A_ROW = {  # (a row's values as floats -> the row served instead, the cases it fits)
    "reordered": (lambda row: row[::-1], (EVAL,)),  # the same ids in another order
    "negative": (lambda row: row - row.max() - 1, (EVAL, BIG)),
    "too large": (lambda row: row + 10**6, (EVAL, BIG)),
}


@pytest.mark.parametrize(
    ("change", "dtype"),
    [(c, d) for c in NOT_A_ROW for d in (np.int64, np.float64)] + [("fractional", np.float64)],
)
def test_a_row_that_is_no_input_row_fails_whatever_its_type(change, dtype):
    edit, cases = NOT_A_ROW.get(change, (lambda row: row + 0.5, (EVAL, BIG)))
    for index in cases:
        reports = _served_as(dtype)
        batch = reports[index]["values"]["builds"][0]["epochs"][0]["ids"][0]
        batch[1] = edit(batch[1].astype(np.float64)).astype(dtype)
        assert "batch 0 holds an ids row that is not a row of the input" in _message(reports)


def _orders_of(index: int, orders) -> list[dict]:
    """The right reports, except that case ``index`` serves ``orders[build][epoch]``."""
    reports = _right_reports()
    case = CHECK.all_cases[index]
    builds = reports[index]["values"]["builds"]
    for build, these in zip(builds, orders, strict=True):
        build["epochs"] = [_epoch(case.inputs, np.asarray(order)) for order in these]
    return reports


def test_training_without_shuffling_fails():
    n = len(CHECK.all_cases[TRAIN].inputs["ids"])
    same = [np.arange(n)] * 2
    assert "served the examples in their order" in _message(
        _orders_of(TRAIN, [same, same[:1], same[:1]])
    )


def test_shuffled_batches_instead_of_examples_fail():
    n, b = 64, 16
    blocks = np.arange(n).reshape(n // b, b)
    orders = [
        [blocks[[3, 1, 0, 2]].ravel(), blocks[[2, 0, 3, 1]].ravel()],
        [blocks[[3, 1, 0, 2]].ravel()],
        [blocks[[1, 3, 2, 0]].ravel()],
    ]
    assert "the batches were shuffled, not the examples" in _message(_orders_of(TRAIN, orders))


def test_a_shuffle_buffer_smaller_than_the_data_fails():
    n = len(CHECK.all_cases[BIG].inputs["ids"])
    rng, buffer, order = np.random.default_rng(0), list(range(1000)), []
    for incoming in range(1000, n + 1000):  # tf.data's shuffle with a buffer of 1000
        order.append(buffer.pop(int(rng.integers(len(buffer)))))
        if incoming < n:
            buffer.append(incoming)
    order = np.array(order)
    assert "the shuffle buffer is smaller than the data" in _message(_orders_of(BIG, [[order]]))


def _train_orders(first_seed: int, second_seed: int, third_seed: int, same_epochs=False):
    inputs = CHECK.all_cases[TRAIN].inputs
    first = [_order(inputs, first_seed, 0), _order(inputs, first_seed, 0 if same_epochs else 1)]
    return [first, [_order(inputs, second_seed, 0)], [_order(inputs, third_seed, 0)]]


def test_the_same_order_in_every_epoch_fails():
    assert "two epochs served the same order" in _message(
        _orders_of(TRAIN, _train_orders(1, 1, 2, same_epochs=True))
    )


def test_the_seed_decides_the_order():
    assert "same seed=1 served different orders" in _message(
        _orders_of(TRAIN, _train_orders(1, 7, 2))
    )
    assert "seed=1 and seed=2 served the same order" in _message(
        _orders_of(TRAIN, _train_orders(1, 1, 1))
    )


def test_the_observations_are_not_changed_by_judging():
    reports = _right_reports()
    kept = copy.deepcopy(reports)
    judging.verdict(NB, CELL, reports)
    assert wire.encode(reports) == wire.encode(kept)
