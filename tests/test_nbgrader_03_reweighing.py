"""03_reweighing through nbgrader itself: generate_assignment, submit, autograde, gradebook.

One autograde batch grades the instructor solution, the untouched release, a different
correct solution (TensorFlow, einsum, float64, loops) and the typical mistakes of
tests/submissions/03_reweighing.py, packed one per family into a few submissions.
The nbgrader pitfalls (stderr, tags, deleted cells, timeouts, kernel death, tampering)
are proven once, on notebook 01, since they depend on the configuration, not the notebook.
"""

from __future__ import annotations

import json

import pytest
from conftest import Catalog, assert_release_current, grade_course, make_course

from attention_course import grading, notebooks

pytestmark = pytest.mark.slow

CATALOG = Catalog.load("03_reweighing")
ASSIGNMENT, NOTEBOOK = CATALOG.assignment, CATALOG.notebook
TEST_CELLS = CATALOG.test_cells()

# The points of each graded behaviour, as the exercise headings state them.
POINTS = {
    "test_smoothing_weights": 2, "test_softmax": 2, "test_attention_shapes": 1,
    "test_attention_values": 2, "test_attention_mask": 2, "test_masks": 2,
    "test_split_merge_heads": 2, "test_mha_against_keras": 3, "test_mha_mask": 1,
    "test_positional_encoding": 2, "test_encoder_shapes": 1, "test_encoder_block": 2,
    "test_encoder_block_mask": 1,
}


@pytest.fixture(scope="session")  # once per run: make test keeps a file on one worker
def graded(tmp_path_factory, course_env):
    root = make_course(tmp_path_factory.mktemp("nb03"), [ASSIGNMENT])
    grading.release(root, [ASSIGNMENT])
    release_nb = notebooks.read_notebook(root / "release" / ASSIGNMENT / NOTEBOOK)
    source_nb = notebooks.read_notebook(root / "source" / ASSIGNMENT / NOTEBOOK)
    return grade_course(root, ASSIGNMENT, CATALOG.students(release_nb, source_nb), NOTEBOOK)


def test_solution_scores_full_marks(graded):
    assert graded.lost("solution") == set()
    score, max_score = graded.total("solution")
    assert score == max_score == 23  # README's points table


def test_points_per_behaviour(graded):
    got = {name: int(max_score) for name, (_, max_score) in graded.results["solution"].items()}
    assert got == POINTS


def test_untouched_release_scores_zero(graded):
    assert graded.total("blank")[0] == 0
    assert graded.lost("blank") == TEST_CELLS


def test_different_correct_solution_keeps_full_marks(graded):
    assert graded.lost("alternative") == set()


@pytest.mark.parametrize("name", sorted(CATALOG.mistakes))
def test_each_mistake_loses_exactly_its_behaviour(graded, name):
    CATALOG.check_mistake(graded, name)


def test_every_test_cell_catches_some_mistake():
    caught = set().union(*(m.breaks for m in CATALOG.mistakes.values()))
    assert caught == TEST_CELLS, f"no mistake exercises {sorted(TEST_CELLS - caught)}"


def test_issue_mistakes_are_in_the_catalog():
    # The wrong answers the notebook must catch (issue #3), by behaviour.
    required = {
        "attention_no_scaling": "test_attention_values",
        "attention_softmax_wrong_axis": "test_attention_values",
        "attention_mask_after_softmax": "test_attention_mask",
        "attention_mask_inverted": "test_attention_mask",
        "merge_without_transpose": "test_split_merge_heads",
        "mha_no_output_projection": "test_mha_against_keras",
        "pe_sin_cos_swapped": "test_positional_encoding",
    }
    for name, test in required.items():
        assert test in CATALOG.mistakes[name].breaks, name


def test_no_honest_submission_is_flagged(graded):
    honest = {"solution", "blank", "alternative", *(f"mistakes-{i}" for i in
                                                      range(len(CATALOG.groups)))}
    assert not honest & set(graded.report.flagged), graded.report.flagged
    assert graded.report.failed == []


def test_feedback_does_not_reveal_hidden_tests(graded):
    grading.feedback(graded.root, ASSIGNMENT)
    student = CATALOG.student_of("mha_key_value_swapped")
    html = (graded.root / "feedback" / student / ASSIGNMENT / "03_reweighing.html").read_text()
    assert "_keras_mha(num_heads=3" in json.dumps(graded.source_nb)  # a hidden line in source
    assert "_keras_mha(num_heads=3" not in html and "BEGIN HIDDEN TESTS" not in html
    assert "cross-attention weights vs Keras" in html  # the failing check's message stays


def test_committed_release_is_current(graded):
    assert_release_current(graded, NOTEBOOK)
