"""nbgrader preprocessors that keep grading honest (see NBGRADER_NOTES.md).

- ``StderrNotFailure`` (autograde, right after ``Execute``): nbgrader scores a test
  cell 0 when it wrote anything to stderr. A library warning is not a failed test,
  so stderr output of grade cells is turned into stdout (kept, marked) before the
  scores are saved. Errors (exceptions) still fail the cell.
- ``ScrubHiddenTests`` (generate_feedback): removes the hidden-test region from test
  cells and shortens tracebacks of failed test cells to their last line (the
  assertion message the student needs), so feedback does not reveal hidden tests.

Both subclass nbgrader's own preprocessor base class; a plain nbconvert preprocessor
would be disabled by default and silently do nothing.
"""

from __future__ import annotations

from typing import Any

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.utils import is_grade

STDERR_MARK = "[stderr] "


class StderrNotFailure(NbGraderPreprocessor):
    """Turn stderr stream outputs of grade cells into marked stdout outputs."""

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        if cell.cell_type == "code" and is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
                    text = output.get("text", "")
                    output["text"] = "".join(
                        STDERR_MARK + line for line in text.splitlines(keepends=True)
                    )
        return cell, resources


class ScrubHiddenTests(NbGraderPreprocessor):
    """Keep hidden tests out of feedback: strip their source, shorten tracebacks."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        clear = ClearHiddenTests(enforce_metadata=False)
        for cell in nb.cells:
            if cell.cell_type != "code" or not is_grade(cell):
                continue
            clear._remove_hidden_test_region(cell)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: "
                                           f"{output.get('evalue', '')}"]
        return nb, resources
