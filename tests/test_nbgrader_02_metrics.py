"""02_metrics graded end to end (see notebook_suite.NotebookSuite), and its written answer:
it waits for a human in the gradebook, counts nothing until then, and counts once graded."""

import json

import pytest
from nbgrader.api import Gradebook

from attention_grader import cycle, gradebook, reports
from notebook_suite import NotebookSuite

pytestmark = pytest.mark.slow

MANUAL, MANUAL_POINTS = "ethics_answer", 4


class TestMetrics(NotebookSuite):
    assignment = "02_metrics"
    points = {
        "test_confusion_matrix": 2,
        "test_precision_recall_f1": 3,
        "test_threshold_sweep": 3,
        "test_choose_threshold": 2,
        "test_roc_curve": 2,
        "test_auc": 1,
        "test_normalize_confusion": 2,
    }
    required = {
        "confusion_transposed": "test_confusion_matrix",
        "precision_recall_swapped": "test_precision_recall_f1",
        "roc_from_hard_labels": "test_roc_curve",
    }

    def _row(self, graded, student):
        return next(
            r
            for r in gradebook.scores(graded.root)
            if r.student == student and r.assignment == self.assignment
        )

    def test_catalog_knows_the_written_answer(self):
        assert self.catalog().manual_cells() == {MANUAL}
        assert MANUAL not in self.catalog().test_cells()

    def test_written_answer_waits_for_manual_grading(self, graded):
        auto_total = sum(self.points.values())
        for student in self.honest() - {"blank"}:
            answer = graded.manual[student][MANUAL]
            assert answer.needs_manual_grade and answer.auto_score is None, (student, answer)
            assert answer.max_score == MANUAL_POINTS
            row = self._row(graded, student)
            assert row.needs_manual, student
            assert row.max_score == auto_total + MANUAL_POINTS  # counts nothing until graded
            assert row.score == graded.total(student)[0]

    def test_unanswered_written_answer_gets_zero_without_a_human(self, graded):
        answer = graded.manual["blank"][MANUAL]
        assert answer.auto_score == 0 and not answer.needs_manual_grade
        assert not self._row(graded, "blank").needs_manual

    def test_manual_score_counts_once_given(self, graded):
        auto_total = sum(self.points.values())
        with Gradebook(gradebook.db_url(graded.root)) as gb:
            grade = gb.find_grade(MANUAL, self.assignment, self.assignment, "alternative")
            grade.manual_score = 3  # what formgrader stores when the instructor saves a score
            grade.needs_manual_grade = False
            gb.db.commit()
        row = self._row(graded, "alternative")
        assert row.score == auto_total + 3 and not row.needs_manual
        table = reports.score_table(gradebook.scores(graded.root))
        line = next(x for x in table.splitlines() if x.startswith("alternative "))
        assert f"{auto_total + 3:g} / {auto_total + MANUAL_POINTS:g}" in line and "*" not in line
        solution_line = next(x for x in table.splitlines() if x.startswith("solution "))
        assert solution_line.rstrip().endswith("*"), "an ungraded written answer must be marked"

    def test_rubric_reaches_the_grader_and_never_the_student(self, graded):
        assert "Rubric (4 points)" in json.dumps(graded.source_nb)
        assert "Rubric" not in json.dumps(graded.release_nb)
        # formgrader shows the autograded notebook: the rubric is back, after the answer
        for student in ("solution", "blank"):
            seen = (
                graded.root / "autograded" / student / self.assignment / f"{self.assignment}.ipynb"
            ).read_text()
            assert "Rubric (4 points)" in seen, student
        cycle.feedback(graded.root, self.assignment, allow_pending=True)  # essay not graded
        for student in ("solution", "blank"):
            page = (
                graded.root / "feedback" / student / self.assignment / f"{self.assignment}.html"
            ).read_text()
            assert "Rubric" not in page and "MARK SCHEME" not in page, student
