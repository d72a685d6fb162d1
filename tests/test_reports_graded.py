"""The class report on a class of notebook 01 really graded (engine, sandbox, nbgrader): blank
exercises are counted as not attempted from nbgrader's own record, and the mistakes are named
from the verdicts the grader wrote into autograded/."""

from __future__ import annotations

import pytest

from attention_grader import authoring, gradebook, reports, submissions
from courses import grade_course, make_course, release_course

pytestmark = pytest.mark.slow  # kernels

A = "01_tokenization"
NB = f"{A}.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    import os

    saved = dict(os.environ)
    os.environ.pop("COURSE_DB_URL", None)
    try:
        root = make_course(tmp_path_factory.mktemp("graded-report"), [A])
        release_course(root, [A])
        release_nb = authoring.read_notebook(root / "release" / A / NB)
        source_nb = authoring.read_notebook(root / "source" / A / NB)
        catalog = submissions.catalog(A)
        solved = submissions.solved(release_nb, source_nb)
        half = submissions.fill(
            release_nb,
            {
                gid: code
                for gid, code in submissions.solution_code(source_nb).items()
                if gid != "learn_bpe"
            },
        )
        students = {
            "sol": solved,
            "blank": release_nb,
            "half": half,  # every exercise but learn_bpe
            "swap1": submissions.apply_mistake(
                release_nb, source_nb, catalog.MISTAKES["vocab_specials_swapped"]
            ),
            "swap2": submissions.apply_mistake(
                release_nb, source_nb, catalog.MISTAKES["vocab_specials_swapped"]
            ),
            "const": submissions.apply_mistake(
                release_nb, source_nb, catalog.MISTAKES["vocab_constant"]
            ),
        }
        yield grade_course(root, A, students, NB)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_blank_exercises_are_not_attempted(graded):
    root, results = graded.root, graded.results
    blank = reports.blank_tests(root, A, results)
    assert graded.lost("blank") and blank["blank"] == graded.lost("blank")
    assert blank["sol"] == set() and not graded.lost("sol")
    assert blank["half"] == {"test_learn_bpe"} == graded.lost("half")
    for student in ("swap1", "swap2", "const"):
        assert graded.lost(student) and blank[student] == set(), student
    unchanged = gradebook.unanswered(root, A)
    assert unchanged["half"] == {"learn_bpe"} and unchanged["sol"] == set()


def test_mistakes_are_named_from_the_verdicts(graded):
    root, results = graded.root, graded.results
    blank = reports.blank_tests(root, A, results)
    messages = gradebook.verdict_messages(root, A)
    assert "blank" in messages and messages["sol"] == {}
    found = reports.mistakes(results, blank, messages)
    top = found["test_build_vocab_reserved_ids"][0]
    assert (top.count, top.attempts) == (2, 5)  # swap1 and swap2 alike; "blank" not attempted
    assert top.hint and "reserved" in top.hint
    assert "test_learn_bpe" not in found  # half left it blank: no mistake
    assert all(m.text != "(no message recorded)" for ms in found.values() for m in ms)
    summary = reports.summarize(A, results, {}, {}, blank=blank, messages=messages)
    items = {item.name: item for item in summary.items}
    assert items["test_learn_bpe"].not_attempted == 2 and items["test_learn_bpe"].wrong == 0
    assert items["test_build_vocab_reserved_ids"].wrong == 3


def test_the_page_of_a_graded_class(graded, tmp_path):
    path = reports.write_class_report(graded.root, tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    assert 'id="mistakes-01_tokenization"' in text and 'id="goals-table"' in text
    assert 'id="unmapped"' not in text  # every graded cell of 01 has goals
