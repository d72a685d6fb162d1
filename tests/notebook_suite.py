"""What every notebook's grading must do, proven through nbgrader and the grading engine.

A notebook's test file subclasses :class:`NotebookSuite` and gives only its data: the
assignment, the points of each graded behaviour, and the mistakes its text makes sure are
caught. One engine run grades the instructor solution, the untouched release, a different
correct solution (``ALTERNATIVE`` of the catalog) and one submission per group of typical
mistakes (``tests/submissions/<assignment>.py``).
"""

from __future__ import annotations

import html
import json
from typing import ClassVar

import pytest

from attention_grader import authoring, cycle
from conftest import Catalog, GradedCourse, assert_release_current, grade_course, make_course


class NotebookSuite:
    """Base of the per-notebook test classes (not collected itself: no ``Test`` prefix)."""

    assignment: ClassVar[str]
    points: ClassVar[dict[str, int]]  # test grade_id -> points, as the exercise headings say
    required: ClassVar[dict[str, str]] = {}  # mistake -> a test cell it must fail
    feedback_student: ClassVar[str | None] = None  # a mistake whose feedback is inspected

    @classmethod
    def catalog(cls) -> Catalog:
        return Catalog.load(cls.assignment)

    @pytest.fixture(scope="class")
    @classmethod
    def graded(cls, tmp_path_factory, course_env) -> GradedCourse:
        catalog = cls.catalog()
        root = make_course(tmp_path_factory.mktemp(cls.assignment[:2]), [cls.assignment])
        cycle.release(root, [cls.assignment])
        folder = root / "release" / cls.assignment
        release_nb = authoring.read_notebook(folder / catalog.notebook)
        source_nb = authoring.read_notebook(root / "source" / cls.assignment / catalog.notebook)
        students = catalog.students(release_nb, source_nb)
        students.update(cls.extra_students(release_nb, source_nb))
        return grade_course(root, cls.assignment, students, catalog.notebook)

    @classmethod
    def extra_students(cls, release_nb: dict, source_nb: dict) -> dict[str, dict]:
        """More submissions for the same run (a subclass's own cases)."""
        return {}

    def honest(self) -> set[str]:
        return {
            "solution",
            "blank",
            "alternative",
            *(f"mistakes-{i}" for i in range(len(self.catalog().groups))),
        }

    def test_solution_scores_full_marks(self, graded):
        assert graded.lost("solution") == set()
        score, max_score = graded.total("solution")
        assert score == max_score == sum(self.points.values())

    def test_solution_passes_its_visible_tests_while_grading(self, graded):
        # demonstration cells are skipped while grading: no test cell may need them
        path = graded.root / "autograded" / "solution" / self.assignment / \
            self.catalog().notebook
        cells = json.loads(path.read_text())["cells"]
        errors = [(c["metadata"].get("nbgrader", {}).get("grade_id"), "".join(o["text"]))
                  for c in cells for o in c.get("outputs", [])
                  if o.get("output_type") == "stream" and "[in the notebook]" in "".join(
                      o.get("text", ""))]
        assert errors == []

    def test_points_per_behaviour(self, graded):
        got = {name: int(top) for name, (_, top) in graded.results["solution"].items()}
        assert got == self.points

    def test_untouched_release_scores_zero(self, graded):
        assert graded.total("blank")[0] == 0
        assert graded.lost("blank") == self.catalog().test_cells()

    def test_different_correct_solution_keeps_full_marks(self, graded):
        assert graded.lost("alternative") == set()

    def test_each_mistake_loses_exactly_its_behaviour(self, graded, mistake):
        self.catalog().check_mistake(graded, mistake)

    def test_every_test_cell_catches_some_mistake(self):
        catalog = self.catalog()
        caught = set().union(*(m.breaks for m in catalog.mistakes.values()))
        assert caught == catalog.test_cells(), (
            f"no mistake exercises {sorted(catalog.test_cells() - caught)}"
        )

    def test_required_mistakes_are_in_the_catalog(self):
        mistakes = self.catalog().mistakes
        for name, test in self.required.items():
            assert test in mistakes[name].breaks, name

    def test_no_honest_submission_is_flagged_or_failed(self, graded):
        outcomes = {o.submission.student: o for o in graded.report.outcomes}
        for student in self.honest():
            assert outcomes[student].status == "graded", (student, outcomes[student].reasons)
            assert outcomes[student].notes == [], (student, outcomes[student].notes)

    def test_feedback_keeps_messages_and_hides_hidden_tests(self, graded):
        catalog = self.catalog()
        cycle.feedback(graded.root, self.assignment)
        student = catalog.student_of(self.feedback_student or sorted(catalog.mistakes)[0])
        name = catalog.notebook.replace(".ipynb", ".html")
        page = html.unescape(
            (graded.root / "feedback" / student / self.assignment / name).read_text()
        )
        hidden = _hidden_lines(graded.source_nb, graded.release_nb)
        assert hidden, "the source notebook has no hidden test lines"
        assert "BEGIN HIDDEN TESTS" not in page
        assert not [line for line in hidden if line in page]
        graded_nb = json.loads(
            (graded.root / "autograded" / student / self.assignment / catalog.notebook).read_text()
        )
        messages = [
            o["evalue"]
            for c in graded_nb["cells"]
            for o in c.get("outputs", [])
            if o.get("output_type") == "error" and o.get("ename") == "AssertionError"
        ]
        assert messages, f"{student} failed no test cell"
        assert all(m.splitlines()[0][:60] in page for m in messages)

    def test_committed_release_is_current(self, graded):
        assert_release_current(graded, self.catalog().notebook)


def _hidden_lines(source_nb: dict, release_nb: dict) -> list[str]:
    """Lines of hidden tests that appear nowhere in the student's version."""
    released = json.dumps(release_nb)
    lines = []
    for cell in source_nb["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif (
                inside
                and len(line.strip()) >= 24
                and json.dumps(line.strip())[1:-1] not in released
            ):
                lines.append(line.strip())
    return lines
