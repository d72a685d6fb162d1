"""What every notebook's grading must do, proven through nbgrader and the grading engine.

A notebook's test file subclasses :class:`NotebookSuite` and gives only its data: the
assignment, the points of each graded behaviour, and the mistakes its text makes sure are
caught. One engine run grades the instructor solution, the untouched release, a different
correct solution (``ALTERNATIVE`` of the catalog) and one submission per group of typical
mistakes (``attention_grader/catalogs/nb<assignment>.py``).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from attention_course import wire
from attention_grader import authoring, cells, cycle, executor, solutions, zygote
from conftest import ROOT
from courses import (
    GradedCourse,
    assert_release_current,
    environment,
    grade_course,
    grade_submitted,
    make_course,
    release_course,
)


def family_of(catalog, name: str) -> int:
    """The family of cells (its index in ``catalog.FAMILIES``) that mistake ``name`` edits."""
    cells = set(catalog.MISTAKES[name].edits) | set(catalog.MISTAKES[name].replace)
    hits = [i for i, fam in enumerate(catalog.FAMILIES) if cells & fam]
    assert len(hits) == 1, f"mistake {name} edits cells of {len(hits)} families"
    return hits[0]


def group_mistakes(catalog) -> list[list[str]]:
    """Pack mistakes into submissions, at most one mistake per family of cells.

    A family is a set of solution cells that call each other (``catalog.FAMILIES``).
    Mistakes in unrelated cells cannot mask each other's cascades, so one submission
    can carry one mistake per family and must lose exactly the union of their tests.
    """
    groups: list[list[str]] = []
    for name in sorted(catalog.MISTAKES):
        fam = family_of(catalog, name)
        for group in groups:
            if all(family_of(catalog, other) != fam for other in group):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def apply_mistakes(release_nb: dict, source_nb: dict, catalog, names: list[str]) -> dict:
    """The solved notebook with several mistakes (of different families) applied."""
    from attention_grader.submissions import Mistake, apply_mistake

    edits: dict = {}
    replace: dict = {}
    for name in names:
        edits.update(catalog.MISTAKES[name].edits)
        replace.update(catalog.MISTAKES[name].replace)
    return apply_mistake(
        release_nb,
        source_nb,
        Mistake(why="+".join(names), breaks=frozenset(), edits=edits, replace=replace),
    )


@dataclass
class Catalog:
    """A notebook's mistake catalog (attention_grader.catalogs) and its groups."""

    assignment: str
    notebook: str
    module: object
    groups: list[list[str]]

    @classmethod
    def load(cls, assignment: str) -> Catalog:
        from attention_grader.submissions import catalog

        module = catalog(assignment)
        return cls(assignment, f"{assignment}.ipynb", module, group_mistakes(module))

    @property
    def mistakes(self) -> dict:
        return self.module.MISTAKES

    def student_of(self, name: str) -> str:
        return next(f"mistakes-{i}" for i, group in enumerate(self.groups) if name in group)

    def _grade_cells(self, cell_type: str) -> set[str]:
        source = authoring.read_notebook(ROOT / "source" / self.assignment / self.notebook)
        return {
            cells.grade_id(cell)
            for cell in source["cells"]
            if cells.is_grade(cell) and cell["cell_type"] == cell_type
        }

    def test_cells(self) -> set[str]:
        """The autograded test cells."""
        return self._grade_cells("code")

    def manual_cells(self) -> set[str]:
        """The written answers graded by hand."""
        return self._grade_cells("markdown")

    def students(self, release_nb: dict, source_nb: dict) -> dict[str, dict]:
        """solution, blank, alternative, and one submission per group of mistakes."""
        import copy

        from attention_grader import submissions

        solution = submissions.solved(release_nb, source_nb)
        students = {
            "solution": solution,
            "blank": copy.deepcopy(release_nb),
            "alternative": submissions.fill(solution, self.module.ALTERNATIVE),
        }
        for i, group in enumerate(self.groups):
            students[f"mistakes-{i}"] = apply_mistakes(release_nb, source_nb, self.module, group)
        return students

    def check_mistake(self, graded: GradedCourse, name: str) -> None:
        """The submission carrying ``name`` lost exactly the tests its group's mistakes break."""
        student = self.student_of(name)
        group = self.groups[int(student.split("-")[1])]
        expected = set().union(*(self.mistakes[n].breaks for n in group))
        lost = graded.lost(student)
        mistake = self.mistakes[name]
        assert mistake.breaks <= lost, (
            f"{name} ({mistake.why}) should fail {sorted(mistake.breaks)}; "
            f"not failed: {sorted(mistake.breaks - lost)}"
        )
        assert lost == expected, (
            f"submission {student} with mistakes {group} lost {sorted(lost)}, "
            f"expected exactly {sorted(expected)}"
        )


def reports_of(result: executor.Result) -> dict:
    """What each test cell told the grader: the hidden checks' reports, the errors, the
    visible tests' printed messages (nothing of the timing)."""
    found: dict = {"status": result.status}
    for cell in result.notebook.get("cells", []):
        if not cells.is_grade(cell) or cells.is_solution(cell):
            continue
        told = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "error":
                told.append(("error", output.get("ename"), output.get("evalue")))
            elif kind == "stream" and output.get("name") == "stdout":
                told.append(("stdout", "".join(output.get("text", ""))))
            elif kind == "display_data" and wire.MIME in output.get("data", {}):
                told.append(("report", json.dumps(output["data"][wire.MIME], sort_keys=True)))
        found[cells.grade_id(cell)] = told
    return found


@contextlib.contextmanager
def executed(setting: str) -> Iterator[list[executor.Result]]:
    """Every executor result of the block's grading, with ``COURSE_SANDBOX_TEMPLATE=setting``."""
    seen: list[executor.Result] = []
    real = executor.execute

    def spy(job: executor.Job) -> executor.Result:
        result = real(job)
        seen.append(result)
        return result

    executor.execute = spy
    try:
        with environment({zygote.SETTING: setting}):
            yield seen
    finally:
        executor.execute = real


Extra = Callable[[dict, dict], dict]


def graded_catalog(
    base: Path, catalog: Catalog, setting: str, extra: Extra | None = None, only=None
) -> GradedCourse:
    """The catalog's submissions (solution, blank, alternative, the groups of mistakes, and
    ``extra(release_nb, source_nb)``; ``only``: these students) graded in one engine run with
    the template setting; ``reports`` and ``kernels`` say what each kernel told the grader."""
    root = make_course(base, [catalog.assignment])
    release_course(root, [catalog.assignment])
    release_nb = authoring.read_notebook(root / "release" / catalog.assignment / catalog.notebook)
    source_nb = authoring.read_notebook(root / "source" / catalog.assignment / catalog.notebook)
    students = catalog.students(release_nb, source_nb)
    if extra is not None:
        students.update(extra(release_nb, source_nb))
    if only is not None:
        students = {name: nb for name, nb in students.items() if name in only}
    with executed(setting) as seen:
        graded = grade_course(root, catalog.assignment, students, catalog.notebook)
    graded.reports = {r.key: reports_of(r) for r in seen}
    graded.kernels = {r.kernel_from for r in seen}
    return graded


def assert_fresh_kernels_agree(
    forked: GradedCourse,
    catalog: Catalog,
    base: Path,
    extra: Extra | None = None,
    only: set[str] | None = None,
) -> None:
    """``forked`` (graded with the template) against the same submissions graded with fresh
    kernels (``only``: these of them, and the instructor's solution check): the same reports,
    errors and messages in every test cell, and the same points. A cell whose reports differ
    must differ between two fresh kernels as well (a mistake that shuffles without a seed):
    then it is graded a third time with a fresh kernel to tell."""
    assert forked.kernels == {"template"}
    fresh = graded_catalog(base / "off", catalog, "off", extra, only)
    assert fresh.kernels == {"fresh"}
    if only is not None:
        assert only <= set(forked.results) and set(fresh.results) == only, only
    compared = set(fresh.results) | {solutions.STUDENT}
    before = fresh.reports
    after = {key: told for key, told in forked.reports.items() if key.split("/")[0] in compared}
    assert before.keys() == after.keys() and len(before) > 3
    assert fresh.results["solution"] and not fresh.lost("solution")
    told = [t for r in before.values() for v in r.values() if isinstance(v, list) for t in v]
    assert any(t[0] == "report" for t in told)  # the hidden checks did report
    differing = {key for key in before if before[key] != after[key]}
    students = {key.split("/")[0] for key in differing}
    assert students <= set(fresh.results), differing  # not the instructor's solution run
    again_results: dict = {}
    if students:  # graded again, in the same course (its solution is checked already)
        with executed("off") as seen:
            again = grade_submitted(
                fresh.root, catalog.assignment, catalog.notebook, sorted(students), force=True
            )
        again.reports = {r.key: reports_of(r) for r in seen}
        assert {r.kernel_from for r in seen} == {"fresh"} and again.reports.keys() == {
            key for key in before if key.split("/")[0] in students
        }
        again_results = {student: again.results[student] for student in students}
        for key in differing:
            for cell, reports in before[key].items():
                if reports != after[key][cell]:
                    assert reports != again.reports[key][cell], (
                        f"{key} {cell}: the same with two fresh kernels, another with the template"
                    )
    for student, points in fresh.results.items():
        if again_results.get(student, points) == points:  # deterministic points
            assert forked.results[student] == points, student


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
        """Every submission graded in one run, each kernel forked from the template (as
        ``make autograde`` grades once the template is up)."""
        base = tmp_path_factory.mktemp(cls.assignment[:2])
        return graded_catalog(base, cls.catalog(), "on", cls.extra_students)

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
        path = graded.root / "autograded" / "solution" / self.assignment / self.catalog().notebook
        cells = json.loads(path.read_text())["cells"]
        errors = [
            (cells.grade_id(c), "".join(o["text"]))
            for c in cells
            for o in c.get("outputs", [])
            if o.get("output_type") == "stream"
            and "[in the notebook]" in "".join(o.get("text", ""))
        ]
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
        student = catalog.student_of(self.feedback_student or sorted(catalog.mistakes)[0])
        # (this student's page only; essays: not graded)
        cycle.feedback(graded.root, self.assignment, allow_pending=True, students=[student])
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


def compared_sample(catalog: Catalog, mistakes: tuple[str, ...] = ()) -> set[str]:
    """The submissions ``make test`` grades again with fresh kernels: the solution, the
    untouched release, the alternative, the first two groups of mistakes (:func:`group_mistakes`
    puts one mistake of every family of cells in the first, one more of every family that has
    two in the second) and the groups holding ``mistakes``."""
    return {"solution", "blank", "alternative", "mistakes-0", "mistakes-1"} | {
        catalog.student_of(name) for name in mistakes
    }


class ComparedWithFreshKernels:
    """A suite whose catalog is also graded with fresh kernels: the template must give the
    same reports. ``make test`` compares 01 (without TensorFlow) and 06 (with it), each on
    :func:`compared_sample` (a fresh kernel of 06 imports TensorFlow: 4 s of a core each);
    ``COURSE_TEST_TEMPLATE_ALL=1`` compares their whole catalogs, and the other four in
    test_zygote."""

    compared_mistakes: ClassVar[tuple[str, ...]] = ()  # their groups are compared too

    def test_fresh_kernels_give_the_same_reports_as_the_template(self, graded, tmp_path):
        catalog = self.catalog()
        only = None
        if os.environ.get("COURSE_TEST_TEMPLATE_ALL") != "1":
            only = compared_sample(catalog, self.compared_mistakes)
        assert_fresh_kernels_agree(graded, catalog, tmp_path, self.extra_students, only)
