"""Written answers in formgrader: the rubric shown before the answer it grades.

A written answer (a markdown cell that is an nbgrader solution and grade cell) is followed by a
locked markdown cell holding its rubric between ``### BEGIN MARK SCHEME`` and ``### END MARK
SCHEME`` (removed from the student version, restored by autograde for formgrader, scrubbed
from feedback). Rendered as markdown, those markers become two headings, and the rubric comes
after the answer box. The course's formgrade template (``templates/formgrade/index.html.j2``)
uses these Jinja filters to show the rubric in a panel *before* the answer box, without the
markers, and the rest of the rubric cell (its instructions to students) where it was.

Only locked cells count as rubrics: their content is the instructor's, restored from the
gradebook (``RestoreLayout``, ``OverwriteCells``), whatever a submission holds.
"""

from __future__ import annotations

import re
from typing import Any

BEGIN, END = "### BEGIN MARK SCHEME", "### END MARK SCHEME"
_REGION = re.compile(
    r"^[ \t]*" + re.escape(BEGIN) + r"[ \t]*\n?(.*?)^[ \t]*" + re.escape(END) + r"[ \t]*\n?",
    re.DOTALL | re.MULTILINE,
)


def _meta(cell: Any) -> dict:
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    return meta if isinstance(meta, dict) else {}


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def is_answer(cell: Any) -> bool:
    """A written answer: a markdown cell that is an nbgrader solution and grade cell."""
    meta = _meta(cell)
    return cell.get("cell_type") == "markdown" and bool(meta.get("solution") and meta.get("grade"))


def is_rubric(cell: Any) -> bool:
    """A locked markdown cell (the instructor's) with a mark scheme region."""
    meta = _meta(cell)
    return (
        cell.get("cell_type") == "markdown"
        and bool(meta.get("locked"))
        and not meta.get("solution")
        and not meta.get("grade")
        and BEGIN in _source(cell)
    )


def rubric_text(cell: Any) -> str:
    """The mark scheme of a rubric cell, without its markers (regions joined)."""
    return "\n\n".join(m.group(1).strip() for m in _REGION.finditer(_source(cell)))


def without_rubric(source: str) -> str:
    """``source`` with its mark scheme regions (markers and content) removed."""
    return _REGION.sub("", source).strip()


def _graded(cell: Any) -> bool:
    meta = _meta(cell)
    return bool(meta.get("grade") or meta.get("solution") or meta.get("task"))


def answer_of(nb: Any, cell: Any) -> Any | None:
    """The written answer a rubric cell belongs to: the nearest answer before it with no
    other graded or solution cell in between (None: a rubric on its own)."""
    cells = list(nb.get("cells", []))
    index = next((i for i, c in enumerate(cells) if c is cell), None)
    if index is None:
        return None
    for earlier in reversed(cells[:index]):
        if is_answer(earlier):
            return earlier
        if _graded(earlier):
            return None
    return None


def rubric_for(nb: Any, cell: Any) -> str:
    """The rubric to show before ``cell`` when it is a written answer ("" otherwise)."""
    if not is_answer(cell):
        return ""
    texts = [
        rubric_text(c) for c in nb.get("cells", []) if is_rubric(c) and answer_of(nb, c) is cell
    ]
    return "\n\n".join(t for t in texts if t)


def rubric_attached(nb: Any, cell: Any) -> bool:
    """Whether ``cell`` is a rubric shown before its answer (rendered without its region)."""
    return is_rubric(cell) and answer_of(nb, cell) is not None


FILTERS = {
    "course_rubric_for": "attention_grader.rubrics.rubric_for",
    "course_rubric_attached": "attention_grader.rubrics.rubric_attached",
    "course_is_rubric": "attention_grader.rubrics.is_rubric",
    "course_rubric_text": "attention_grader.rubrics.rubric_text",
    "course_without_rubric": "attention_grader.rubrics.without_rubric",
}
"""Jinja filters of the formgrade template (added to ``outputs.TEMPLATE_FILTERS``)."""
