"""05_imdb_attention through nbgrader itself: generate_assignment, submit, autograde.

One autograde batch grades the instructor solution, the untouched release, a different
correct solution (additive mask and hand-written softmax, einsum, keras.ops.take,
sorted()) and the typical mistakes of tests/submissions/05_imdb_attention.py, one per
family per submission. Grading runs on the synthetic IMDB fixture (fast mode).
"""

from __future__ import annotations

import json

import pytest
from conftest import Catalog, assert_release_current, grade_course, make_course

from attention_course import grading, notebooks

pytestmark = pytest.mark.slow

CATALOG = Catalog.load("05_imdb_attention")
ASSIGNMENT, NOTEBOOK = CATALOG.assignment, CATALOG.notebook
TEST_CELLS = CATALOG.test_cells()

# The points of each graded behaviour, as the exercise headings state them.
POINTS = {
    "test_attention_pooling": 4, "test_gru_attention": 2, "test_model_shapes": 1,
    "test_token_position_embedding": 2, "test_nearest_neighbours": 2,
}


@pytest.fixture(scope="session")  # once per run: make test keeps a file on one worker
def graded(tmp_path_factory, course_env):
    root = make_course(tmp_path_factory.mktemp("nb05"), [ASSIGNMENT])
    grading.release(root, [ASSIGNMENT])
    release_nb = notebooks.read_notebook(root / "release" / ASSIGNMENT / NOTEBOOK)
    source_nb = notebooks.read_notebook(root / "source" / ASSIGNMENT / NOTEBOOK)
    return grade_course(root, ASSIGNMENT, CATALOG.students(release_nb, source_nb), NOTEBOOK)


def test_solution_scores_full_marks(graded):
    assert graded.lost("solution") == set()
    score, max_score = graded.total("solution")
    assert score == max_score == 11  # README's points table


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
    # The wrong answers the notebook must catch (issue #4), by behaviour.
    required = {
        "softmax_includes_padding": "test_attention_pooling",
        "softmax_over_features": "test_attention_pooling",
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
    student = CATALOG.student_of("mean_instead_of_weighted_sum")
    html = (graded.root / "feedback" / student / ASSIGNMENT /
            NOTEBOOK.replace(".ipynb", ".html")).read_text()
    hidden = "_h2[~_mask] = 50.0"
    assert hidden in json.dumps(graded.source_nb)  # a hidden line in source
    assert hidden not in html and "BEGIN HIDDEN TESTS" not in html
    assert "not a plain average" in html  # the failing check's hint stays


def test_committed_release_is_current(graded):
    assert_release_current(graded, NOTEBOOK)
