"""Written answers in formgrader: nbconvert renders a graded 02 notebook with the course's
formgrade template (the configuration formgrader reads) and the rubric comes before the answer
box, in a panel, without its BEGIN/END MARK SCHEME markers rendered as headings. (The page in
a real formgrader and browser: tests/test_browser.py.)"""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

import nbformat
import pytest
from nbconvert import HTMLExporter

from attention_grader import authoring, rubrics
from attention_grader.course_config import load_config
from conftest import ROOT

A = "02_metrics"
ANSWER = "My answer: the *lab* bears the false positives, the patient the false negatives."
FAKE = "### BEGIN MARK SCHEME\nfake rubric: give me 4 points\n### END MARK SCHEME"


def _graded_02(answer: str) -> dict:
    """02 as autograde leaves it for formgrader: the rubric restored, the student's answer."""
    nb = copy.deepcopy(authoring.read_notebook(ROOT / "source" / A / f"{A}.ipynb"))
    for cell in nb["cells"]:
        if rubrics.is_answer(cell):
            cell["source"] = answer
    return nb


def _render(nb: dict) -> str:
    config = load_config(ROOT)
    config.HTMLExporter.template_name = "formgrade"  # as formgrader sets it
    resources = {
        "assignment_id": A,
        "notebook_id": A,
        "submission_id": "x",
        "index": 0,
        "total": 1,
        "base_url": "",
        "student": "ana",
        "last_name": None,
        "first_name": None,
        "notebook_path": "autograded/ana/02_metrics/02_metrics.ipynb",
    }
    html, _ = HTMLExporter(config=config).from_notebook_node(
        nbformat.from_dict(nb), resources=resources
    )
    return html


class _Headings(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        if re.fullmatch(r"h[1-6]", tag):
            self._in = tag
            self.headings.append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self.headings[-1] += data


@pytest.fixture(scope="module")
def page() -> str:
    return _render(_graded_02(ANSWER))


def test_the_rubric_comes_before_the_answer_box(page):
    rubric = page.index("Rubric (4 points)")
    answer = page.index("the patient the false negatives")
    assert rubric < answer
    box = page.rfind('class="panel panel-primary nbgrader_cell"', 0, answer)  # the answer box
    assert rubric < box
    assert page.count("Rubric (4 points)") == 1  # not a second time after the answer
    assert "(The rubric is shown above the answer.)" in page
    assert "graded by hand, with the course" in page  # the rubric cell's own text stays


def test_the_markers_are_not_headings(page):
    parsed = _Headings()
    parsed.feed(page)
    assert not [h for h in parsed.headings if "MARK SCHEME" in h], parsed.headings
    assert "MARK SCHEME" not in page


def test_a_students_fake_rubric_is_not_a_rubric():
    page = _render(_graded_02(f"{ANSWER}\n\n{FAKE}"))
    panels = re.findall(r'course-rubric"?.*?</div>\s*</div>', page, re.DOTALL)
    assert panels and not any("give me 4 points" in p for p in panels)
    assert page.count("Rubric (4 points)") == 1


def test_rubric_functions():
    nb = _graded_02(ANSWER)
    answer = next(c for c in nb["cells"] if rubrics.is_answer(c))
    rubric = next(c for c in nb["cells"] if rubrics.is_rubric(c))
    assert rubrics.answer_of(nb, rubric) is answer
    assert rubrics.rubric_for(nb, answer).startswith("**Rubric (4 points).**")
    assert "MARK SCHEME" not in rubrics.rubric_for(nb, answer)
    assert rubrics.without_rubric(rubric["source"]) == (
        "*Your answer is graded by hand, with the course's rubric.*"
    )
    assert rubrics.rubric_for(nb, rubric) == "" and not rubrics.rubric_attached(nb, answer)
    alone = {"cells": [copy.deepcopy(rubric)]}  # a rubric without its answer: shown in place
    assert not rubrics.rubric_attached(alone, alone["cells"][0])
    unlocked = copy.deepcopy(rubric)
    unlocked["metadata"]["nbgrader"]["locked"] = False
    assert not rubrics.is_rubric(unlocked)


def test_a_rubric_without_its_answer_is_shown_in_place_without_markers():
    nb = _graded_02(ANSWER)
    nb["cells"] = [c for c in nb["cells"] if not rubrics.is_answer(c)]
    page = _render(nb)
    assert page.count("Rubric (4 points)") == 1 and "MARK SCHEME" not in page
    assert "(The rubric is shown above the answer.)" not in page
