"""02_metrics through nbgrader itself: generate_assignment, submit, autograde, gradebook.

One autograde batch grades the instructor solution, the untouched release, a different
correct solution and the typical mistakes of tests/submissions/02_metrics.py. The notebook
also has a written answer graded by hand: these tests prove that it waits for a human in
the gradebook, counts nothing until then, and counts once the instructor has graded it.
"""

from __future__ import annotations

import json

import pytest
from conftest import Catalog, assert_release_current, grade_course, make_course

from attention_course import grading, notebooks

pytestmark = pytest.mark.slow

CATALOG = Catalog.load("02_metrics")
ASSIGNMENT, NOTEBOOK = CATALOG.assignment, CATALOG.notebook
TEST_CELLS = CATALOG.test_cells()
MANUAL = "ethics_answer"

# The points of each graded behaviour, as the exercise headings state them.
POINTS = {
    "test_confusion_matrix": 2, "test_precision_recall_f1": 3, "test_threshold_sweep": 3,
    "test_choose_threshold": 2, "test_roc_curve": 2, "test_auc": 1,
    "test_normalize_confusion": 2,
}
MANUAL_POINTS = 4
AUTO_TOTAL = sum(POINTS.values())  # 15, as in the README's table (+ 4 graded by hand)


@pytest.fixture(scope="session")  # once per run: make test keeps a file on one worker
def graded(tmp_path_factory, course_env):
    root = make_course(tmp_path_factory.mktemp("nb02"), [ASSIGNMENT])
    grading.release(root, [ASSIGNMENT])
    release_nb = notebooks.read_notebook(root / "release" / ASSIGNMENT / NOTEBOOK)
    source_nb = notebooks.read_notebook(root / "source" / ASSIGNMENT / NOTEBOOK)
    return grade_course(root, ASSIGNMENT, CATALOG.students(release_nb, source_nb), NOTEBOOK)


def _notebook_score(graded, student):
    return next(r for r in grading.scores(graded.root)
                if r.student == student and r.assignment == ASSIGNMENT)


def test_catalog_knows_the_written_answer():
    assert CATALOG.manual_cells() == {MANUAL}
    assert MANUAL not in TEST_CELLS


def test_solution_scores_full_marks(graded):
    assert graded.lost("solution") == set()
    score, max_score = graded.total("solution")
    assert score == max_score == AUTO_TOTAL


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
    # The wrong answers the notebook must catch (issue #5), by behaviour.
    required = {
        "confusion_transposed": "test_confusion_matrix",
        "precision_recall_swapped": "test_precision_recall_f1",
        "roc_from_hard_labels": "test_roc_curve",
    }
    for name, test in required.items():
        assert test in CATALOG.mistakes[name].breaks, name


def test_written_answer_waits_for_manual_grading(graded):
    for student in ["solution", "alternative", *(f"mistakes-{i}" for i in
                                                 range(len(CATALOG.groups)))]:
        answer = graded.manual[student][MANUAL]
        assert answer.needs_manual_grade and answer.auto_score is None, (student, answer)
        assert answer.max_score == MANUAL_POINTS
        row = _notebook_score(graded, student)
        assert row.needs_manual, student
        # the written answer counts nothing until a human grades it
        assert row.max_score == AUTO_TOTAL + MANUAL_POINTS
        assert row.score == graded.total(student)[0]


def test_unanswered_written_answer_gets_zero_without_a_human(graded):
    answer = graded.manual["blank"][MANUAL]
    assert answer.auto_score == 0 and not answer.needs_manual_grade
    assert not _notebook_score(graded, "blank").needs_manual


def test_manual_score_counts_once_given(graded):
    from nbgrader.api import Gradebook

    with Gradebook(grading.db_url(graded.root)) as gb:
        grade = gb.find_grade(MANUAL, NOTEBOOK.removesuffix(".ipynb"), ASSIGNMENT, "alternative")
        grade.manual_score = 3  # what formgrader stores when the instructor saves a score
        grade.needs_manual_grade = False
        gb.db.commit()
    row = _notebook_score(graded, "alternative")
    assert row.score == AUTO_TOTAL + 3 and not row.needs_manual
    table = grading.score_table(grading.scores(graded.root))
    line = next(x for x in table.splitlines() if x.startswith("alternative "))
    assert f"{AUTO_TOTAL + 3:g} / {AUTO_TOTAL + MANUAL_POINTS:g}" in line and "*" not in line
    solution_line = next(x for x in table.splitlines() if x.startswith("solution "))
    assert solution_line.rstrip().endswith("*"), "an ungraded written answer must be marked"


def test_rubric_stays_with_the_instructor(graded):
    assert "Rubric (4 points)" in json.dumps(graded.source_nb)
    assert "Rubric" not in json.dumps(graded.release_nb)
    grading.feedback(graded.root, ASSIGNMENT)
    html = (graded.root / "feedback" / "solution" / ASSIGNMENT / NOTEBOOK.replace(
        ".ipynb", ".html")).read_text()
    assert "_skm.roc_curve(t, s, drop_intermediate=False)" in json.dumps(graded.source_nb)
    assert "_skm.roc_curve(t, s" not in html and "BEGIN HIDDEN TESTS" not in html


def test_no_honest_submission_is_flagged(graded):
    honest = {"solution", "blank", "alternative", *(f"mistakes-{i}" for i in
                                                      range(len(CATALOG.groups)))}
    assert not honest & set(graded.report.flagged), graded.report.flagged
    assert graded.report.failed == []


def test_committed_release_is_current(graded):
    assert_release_current(graded, NOTEBOOK)
