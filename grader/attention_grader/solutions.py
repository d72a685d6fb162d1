"""Before a class is graded: the instructor's solution, graded the same way, scores full marks.

For each assignment that has submissions to grade, the source notebooks (the instructor's
solution) are staged like a submission, prepared by the same :class:`preparing.Preparer`,
executed by the same workers in the same sandbox and judged by the same
:class:`nbgrader_ext.TrustedVerdicts`, without writing anything to the gradebook. When a test
cell fails, the notebook does not finish or its setup cell fails, the fault is the grading
environment's (a package the sandbox cannot import, a worker built from another
environment...) or the assignment's, never a student's: none of the assignment's submissions
is graded or recorded, and the run says why (exit status 1).

A check that passed is remembered in ``autograded/.course-solutions.json`` under a hash of
what decides grades (:func:`stamps.grading_version`) and of the source notebooks, so it costs
one execution per notebook after each change, not per run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import is_grade, is_solution
from traitlets.config import Config

from . import executor, nbgrader_ext, recording
from .planning import Planner
from .preparing import Prepared, Preparer
from .staging import INTAKE, Submission

SOLUTIONS = ".course-solutions.json"  # in autograded/: the checks that passed
STUDENT = "course-solution-check"  # the id the solution is prepared under (never recorded)


class SolutionCheck:
    def __init__(self, root: Path, config: Config, planner: Planner, preparer: Preparer) -> None:
        self.root, self.config, self.planner, self.preparer = root, config, planner, preparer
        self.coursedir = CourseDirectory(config=config)
        self.path = (
            Path(self.coursedir.format_path(self.coursedir.autograded_directory, ".", "."))
            / SOLUTIONS
        )

    def source(self, assignment: str) -> Path:
        return Path(self.coursedir.format_path(self.coursedir.source_directory, ".", assignment))

    def version(self, assignment: str) -> str:
        digest = hashlib.sha256(self.planner.versions[assignment].encode())
        for path in sorted(self.source(assignment).glob("*.ipynb")):
            digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()

    def _passed(self) -> dict[str, str]:
        try:
            passed = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return passed if isinstance(passed, dict) else {}

    def known_good(self, assignment: str) -> bool:
        """Whether the solution passed with exactly what decides grades now."""
        return self._passed().get(assignment) == self.version(assignment)

    def remember(self, assignment: str) -> None:
        passed = self._passed()
        passed[assignment] = self.version(assignment)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(passed, sort_keys=True))

    def prepare(self, assignment: str) -> Prepared:
        """The solution staged (``.intake/solutions/<assignment>``) and prepared."""
        folder = self.root / INTAKE / "solutions" / assignment
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        notebooks = self.planner.notebooks(assignment)
        for name in notebooks:
            source = self.source(assignment) / f"{name}.ipynb"
            if source.is_file():
                shutil.copyfile(source, folder / f"{name}.ipynb")
        return self.preparer.prepare(Submission(STUDENT, assignment, folder), notebooks)

    def judge(self, prepared: Prepared, results: list[executor.Result]) -> str:
        """Why the solution does not score full marks ("" when it does)."""
        problems = list(prepared.refused.values())
        notebooks = self.planner.notebooks(prepared.submission.assignment)
        missing = set(notebooks) - {r.key.rsplit("/", 1)[-1] for r in results}
        problems.extend(
            f"{name}.ipynb: not in source/" for name in sorted(missing - set(prepared.refused))
        )
        for result in results:
            name = result.key.rsplit("/", 1)[-1]
            fault = recording.environment_fault(result)
            if fault or result.status != "ok":
                problems.append(f"{name}: {fault or result.reason}")
                continue
            failed, score, total = self._score(result, name)
            if failed:
                problems.append(
                    f"{name}: scores {score:g} of {total:g} (failed: {', '.join(failed)})"
                )
        if not problems:
            return ""
        return "the instructor's solution does not score full marks here: " + "; ".join(problems)

    def _score(self, result: executor.Result, name: str) -> tuple[list[str], float, float]:
        """(failed test cells, score, maximum) of an executed solution notebook."""
        nb = nbformat.from_dict(result.notebook)
        resources = {"nbgrader": {"notebook": name, "assignment": "", "student": STUDENT}}
        nb, _ = nbgrader_ext.TrustedVerdicts(config=self.config).preprocess(nb, resources)
        failed, score, total = [], 0.0, 0.0
        for cell in nb.cells:
            if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
                continue
            points = float(cell.metadata["nbgrader"].get("points", 0))
            total += points
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                failed.append(cell.metadata["nbgrader"].get("grade_id", "?"))
            else:
                score += points
        return failed, score, total
