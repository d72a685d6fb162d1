"""Shared fixtures: a throw-away course directory graded through nbgrader itself."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "src", ROOT / "grader"):
    sys.path.insert(0, str(_path))

from attention_grader import authoring as notebooks  # noqa: E402
from attention_grader import engine, gradebook  # noqa: E402

# No test may need the network or the real data: fixtures only, fast mode everywhere.
os.environ["COURSE_FAST"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_configure(config: pytest.Config) -> None:
    missing = [
        tool
        for tool in ("nbgrader", "nbclient", "ipykernel", "keras", "distributed")
        if __import__("importlib").util.find_spec(tool) is None
    ]
    if missing:  # fail loudly, never skip
        raise pytest.UsageError(
            f"the test environment lacks {missing}: run `make test` (it installs .venv)."
        )
    from attention_grader import sandbox

    problem = sandbox.problem()
    if problem:  # the sandbox is part of the product: no sandbox, no test run
        raise pytest.UsageError(f"no grading sandbox on this machine: {problem}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``mistake``: every mistake of the catalog of a notebook's suite class."""
    if "mistake" in metafunc.fixturenames and hasattr(metafunc.cls, "catalog"):
        metafunc.parametrize("mistake", sorted(metafunc.cls.catalog().mistakes))


@dataclass
class GradedCourse:
    """A course root after generate_assignment + autograde of some submissions."""

    root: Path
    assignment: str
    results: dict[str, dict[str, tuple[float, float]]]  # autograded tests only
    manual: dict[str, dict[str, gradebook.ManualGrade]]  # written answers graded by hand
    report: engine.Summary
    release_nb: dict
    source_nb: dict

    def lost(self, student: str) -> set[str]:
        """Test cells in which ``student`` did not get full points."""
        return {
            name for name, (score, max_score) in self.results[student].items() if score < max_score
        }

    def total(self, student: str) -> tuple[float, float]:
        per = self.results[student]
        return sum(s for s, _ in per.values()), sum(m for _, m in per.values())


def make_course(base: Path, assignments: list[str]) -> Path:
    """A fresh course root holding ``source/`` of ``assignments`` and the config."""
    root = base / "course"
    root.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for name in assignments:
        shutil.copytree(ROOT / "source" / name, root / "source" / name)
    return root


def submit(root: Path, student: str, assignment: str, notebook: str, nb: dict) -> None:
    target = root / "submitted" / student / assignment / notebook
    target.parent.mkdir(parents=True, exist_ok=True)
    notebooks.write_notebook(nb, target)


def grade_course(
    root: Path, assignment: str, students: dict[str, dict], notebook: str, **engine_options
) -> GradedCourse:
    """Submit ``{student: notebook json}`` and grade them all in one run of the engine
    (in this process, one notebook at a time, unless ``engine_options`` say otherwise)."""
    for student, nb in students.items():
        submit(root, student, assignment, notebook, nb)
    return grade_submitted(root, assignment, notebook, **engine_options)


def grade_submitted(root: Path, assignment: str, notebook: str, **engine_options) -> GradedCourse:
    """Grade what is in ``submitted/`` now (see :func:`grade_course`)."""
    options = {"sequential": True, "progress": False, **engine_options}
    report = engine.Engine(root, **options).grade([assignment])
    return GradedCourse(
        root=root,
        assignment=assignment,
        results=gradebook.test_results(root, assignment),
        manual=gradebook.manual_results(root, assignment),
        report=report,
        release_nb=notebooks.read_notebook(root / "release" / assignment / notebook),
        source_nb=notebooks.read_notebook(root / "source" / assignment / notebook),
    )


@pytest.fixture(scope="session")
def course_env() -> dict[str, str]:
    """Environment for nbgrader runs in the throw-away courses (restored afterwards)."""
    saved = dict(os.environ)
    os.environ.pop("COURSE_DB_URL", None)  # default: sqlite file in the course root
    os.environ["COURSE_CELL_TIMEOUT"] = "40"  # the infinite-loop submission costs 40 s, not 120
    yield dict(os.environ)
    os.environ.clear()
    os.environ.update(saved)


def group_mistakes(catalog) -> list[list[str]]:
    """Pack mistakes into submissions, at most one mistake per family of cells.

    A family is a set of solution cells that call each other (``catalog.FAMILIES``).
    Mistakes in unrelated cells cannot mask each other's cascades, so one submission
    can carry one mistake per family and must lose exactly the union of their tests.
    """

    def family(name: str) -> int:
        cells = set(catalog.MISTAKES[name].edits) | set(catalog.MISTAKES[name].replace)
        hits = [i for i, fam in enumerate(catalog.FAMILIES) if cells & fam]
        assert len(hits) == 1, f"mistake {name} edits cells of {len(hits)} families"
        return hits[0]

    groups: list[list[str]] = []
    for name in sorted(catalog.MISTAKES):
        fam = family(name)
        for group in groups:
            if all(family(other) != fam for other in group):
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
    """A notebook's mistake catalog (tests/submissions/<assignment>.py) and its groups."""

    assignment: str
    notebook: str
    module: object
    groups: list[list[str]]

    @classmethod
    def load(cls, assignment: str) -> Catalog:
        from attention_grader.submissions import load_catalog

        module = load_catalog(ROOT / "tests" / "submissions" / f"{assignment}.py")
        return cls(assignment, f"{assignment}.ipynb", module, group_mistakes(module))

    @property
    def mistakes(self) -> dict:
        return self.module.MISTAKES

    def student_of(self, name: str) -> str:
        return next(f"mistakes-{i}" for i, group in enumerate(self.groups) if name in group)

    def _grade_cells(self, cell_type: str) -> set[str]:
        source = notebooks.read_notebook(ROOT / "source" / self.assignment / self.notebook)
        return {
            cell["metadata"]["nbgrader"]["grade_id"]
            for cell in source["cells"]
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
            and cell["cell_type"] == cell_type
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


def assert_release_current(graded: GradedCourse, notebook: str) -> None:
    generated = notebooks.read_notebook(graded.root / "release" / graded.assignment / notebook)
    committed_path = ROOT / "release" / graded.assignment / notebook
    assert committed_path.exists(), "release/ is missing: run `make release` and commit it"
    assert notebooks.read_notebook(committed_path) == generated, (
        "release/ is stale: run `make release` and commit the result"
    )
