"""Build submissions from notebooks: the instructor solution, a blank one, mistakes.

Used by ``make demo`` (three sample submissions) and by the test suite (one
submission per typical mistake). A *mistake catalog* is a Python file
``attention_grader/catalogs/nb<assignment>.py`` that defines

``MISTAKES``: ``{name: Mistake(...)}``, typical wrong answers, each naming the test
cells it must fail; ``ALTERNATIVE``: ``{solution grade_id: code}``, a different but
correct solution; ``DEMO_MISTAKE``: the name of the mistake ``make demo`` submits.
"""

from __future__ import annotations

import copy
import importlib
import re
from dataclasses import dataclass, field
from types import ModuleType

from . import cells

SOLUTION_BLOCK = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer.

    ``edits``: ``{solution grade_id: [(old, new), ...]}`` applied to the instructor
    solution (each ``old`` must occur, so a changed solution fails loudly);
    ``replace``: ``{solution grade_id: code}`` replacing a cell entirely;
    ``breaks``: the test grade_ids that must lose their points (and only those).
    """

    why: str
    breaks: frozenset[str]
    edits: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    replace: dict[str, str] = field(default_factory=dict)


def solution_code(source_nb: dict) -> dict[str, str]:
    """``{grade_id: text}`` of every solution cell, with the solution markers removed.

    Code cells and written answers (markdown solution cells graded by hand) alike: a
    filled-in written answer is what makes nbgrader ask for manual grading.
    """
    out = {}
    for cell in source_nb["cells"]:
        meta = cells.nbgrader(cell)
        if meta.get("solution") and cell["cell_type"] in ("code", "markdown"):
            out[meta["grade_id"]] = SOLUTION_BLOCK.sub("", cells.source(cell))
    return out


def fill(release_nb: dict, code: dict[str, str]) -> dict:
    """A copy of ``release_nb`` whose cells named in ``code`` get that source."""
    nb = copy.deepcopy(release_nb)
    missing = set(code)
    for cell in nb["cells"]:
        gid = cells.grade_id(cell)
        if gid in code:
            cell["source"] = code[gid]
            missing.discard(gid)
    if missing:
        raise KeyError(f"no cells with grade_id {sorted(missing)} in the notebook")
    return nb


def solved(release_nb: dict, source_nb: dict) -> dict:
    """The student notebook with every solution cell filled in from the source."""
    return fill(release_nb, solution_code(source_nb))


def apply_mistake(release_nb: dict, source_nb: dict, mistake: Mistake) -> dict:
    """The solved notebook with ``mistake`` applied."""
    code = solution_code(source_nb)
    for gid, edits in mistake.edits.items():
        text = code[gid]
        for old, new in edits:
            if old not in text:
                raise ValueError(f"mistake edit for {gid!r}: {old!r} not found in the solution")
            text = text.replace(old, new)
        code[gid] = text
    code.update(mistake.replace)
    return fill(release_nb, code)


def catalog(assignment: str) -> ModuleType:
    """The mistake catalog of ``assignment`` (``attention_grader.catalogs.nb<assignment>``)."""
    return importlib.import_module(f"attention_grader.catalogs.nb{assignment}")
