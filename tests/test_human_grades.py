"""What a human decided about a written answer is never lost, and never shown as a zero.

02_metrics has one 4-point written answer (``ethics_answer``) graded by hand in formgrader.

- ``course feedback`` holds back the feedback of a notebook whose written answer nobody
  graded yet (it would show ``0 / 4``), says so, and removes such a notebook's feedback left
  by an earlier run; ``--allow-pending`` writes it anyway.
- A regrade (``FORCE=1``) keeps a hand-graded answer that did not change graded, with its
  score; an answer changed since it was graded by hand needs manual grading again and the
  engine's summary says so. Stock nbgrader's ``SaveAutoGrades`` (the control) flags every
  hand-graded answer again.
"""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades

from attention_grader import authoring, cli, course_config, cycle, engine, gradebook, submissions
from attention_grader.nbgrader_ext import KeepHumanGrades
from courses import grade_submitted, make_course, release_course, submit

pytestmark = pytest.mark.slow

A = "02_metrics"
NB = f"{A}.ipynb"
ESSAY = "ethics_answer"
# kept: graded by hand, resubmitted unchanged; edited: graded by hand, then its essay changed;
# waiting: nobody graded its essay yet
STUDENTS = ("kept", "edited", "waiting")


def _with_essay(nb: dict, text: str) -> dict:
    nb = copy.deepcopy(nb)
    (cell,) = [
        c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == ESSAY
    ]
    cell["source"] = text
    return nb


def _grade_by_hand(root, student: str, score: float) -> None:
    """What formgrader stores when the instructor saves a score."""
    with Gradebook(gradebook.db_url(root)) as gb:
        grade = gb.find_grade(ESSAY, A, A, student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        gb.db.commit()


def _essay(root, student: str) -> gradebook.ManualGrade:
    return gradebook.manual_results(root, A)[student][ESSAY]


def _feedback(root, student: str):
    return root / "feedback" / student / A / f"{A}.html"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    import os

    saved = dict(os.environ)
    os.environ.pop("COURSE_DB_URL", None)
    try:
        root = make_course(tmp_path_factory.mktemp("human"), [A])
        release_course(root, [A])
        release_nb = authoring.read_notebook(root / "release" / A / NB)
        source_nb = authoring.read_notebook(root / "source" / A / NB)
        solved = submissions.solved(release_nb, source_nb)
        for student in STUDENTS:
            submit(root, student, A, NB, _with_essay(solved, f"Essay of {student}: fairness."))
        graded = grade_submitted(root, A, NB)
        assert {o.submission.student: o.status for o in graded.report.outcomes} == dict.fromkeys(
            STUDENTS, "graded"
        ), graded.report.text()
        for student in STUDENTS:
            assert _essay(root, student).needs_manual_grade, student
        yield root, solved
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_feedback_waits_for_written_answers(course, capsys):
    root, _ = course
    _grade_by_hand(root, "kept", 3)
    _grade_by_hand(root, "edited", 2)
    # an earlier run wrote the waiting student's feedback (0 / 4 for the essay)
    assert cycle.feedback(root, A, allow_pending=True).released_pending == [f"waiting/{A}"]
    assert _feedback(root, "waiting").exists()
    capsys.readouterr()

    assert cli.main(["--root", str(root), "feedback", A]) == 0
    out = capsys.readouterr().out
    assert "HELD BACK for 1 notebook(s)" in out and f"waiting/{A}" in out, out
    assert f"removed feedback/waiting/{A}/{A}.html" in out, out
    assert "ALLOW_PENDING=1" in out
    assert not _feedback(root, "waiting").exists()  # nothing for release_feedback to release
    assert not list((root / "feedback" / "waiting").glob("*/*.html"))
    for student in ("kept", "edited"):  # graded by hand: their feedback is written
        page = _feedback(root, student).read_text()
        assert "Essay of" in page, student

    run = cycle.feedback(root, A)  # again: nothing stale left to remove, still held back
    assert run.held == [f"waiting/{A}"] and run.removed == [] and run.released_pending == []

    assert cli.main(["--root", str(root), "feedback", "--allow-pending", A]) == 0
    out = capsys.readouterr().out
    assert "--allow-pending: feedback written for 1 notebook(s)" in out and "HELD" not in out
    assert "Essay of waiting" in _feedback(root, "waiting").read_text()


def test_feedback_of_one_student_leaves_the_others_as_they_are(course, capsys):
    """``course feedback --student ID`` (``make feedback STUDENT=ID``), e.g. after regrading
    one student: only that student's feedback is written, held back or removed."""
    import shutil

    root, _ = course
    _grade_by_hand(root, "kept", 3)
    shutil.rmtree(root / "feedback", ignore_errors=True)
    for student in ("edited", "waiting"):  # an earlier run's pages
        _feedback(root, student).parent.mkdir(parents=True)
        _feedback(root, student).write_text("earlier page")
    extra = _feedback(root, "edited").with_name("extra.txt")  # a full run would prune it
    extra.write_text("not hers")
    capsys.readouterr()

    assert cli.main(["--root", str(root), "feedback", "--student", "kept", A]) == 0
    out = capsys.readouterr().out
    assert f"feedback/kept/{A}/ written" in out and "HELD" not in out, out
    assert "Essay of kept" in _feedback(root, "kept").read_text()
    for student in ("edited", "waiting"):
        assert _feedback(root, student).read_text() == "earlier page", student
    assert sorted(p.name for p in (root / "feedback").iterdir()) == ["edited", "kept", "waiting"]
    assert extra.read_text() == "not hers"

    # her written answer waits: held back, and only her earlier page is removed
    assert cli.main(["--root", str(root), "feedback", "--student", "waiting", A]) == 0
    out = capsys.readouterr().out
    assert "HELD BACK for 1 notebook(s)" in out and f"waiting/{A}" in out, out
    assert not _feedback(root, "waiting").exists()
    assert _feedback(root, "edited").read_text() == "earlier page"

    assert cli.main(["--root", str(root), "feedback", "--student", "nobody", A]) == 0
    assert f"{A}: no graded submission of nobody, no feedback" in capsys.readouterr().out
    assert not (root / "feedback" / "nobody").exists()


def test_regrade_keeps_unchanged_hand_grades_and_flags_changed_answers(course):
    root, solved = course
    _grade_by_hand(root, "kept", 3)
    _grade_by_hand(root, "edited", 2)
    submit(root, "edited", A, NB, _with_essay(solved, "Essay of edited, rewritten after grading."))

    report = engine.Engine(root, sequential=True, progress=False, force=True).grade([A])
    outcomes = {o.submission.student: o for o in report.outcomes}
    assert {s: o.status for s, o in outcomes.items()} == dict.fromkeys(STUDENTS, "graded")

    kept = _essay(root, "kept")
    assert not kept.needs_manual_grade and kept.manual_score == 3  # the human's decision stays
    row = next(r for r in gradebook.scores(root) if r.student == "kept")
    assert not row.needs_manual and row.score == row.max_score - 1

    edited = _essay(root, "edited")
    assert edited.needs_manual_grade and edited.manual_score == 2  # to grade again
    (note,) = [n for n in outcomes["edited"].notes if ESSAY in n]
    assert "changed since it was graded by hand" in note and "2 of 4" in note
    assert "REVIEW edited/02_metrics" in report.text() and ESSAY in report.text()
    assert not [n for n in outcomes["kept"].notes if ESSAY in n]
    assert _essay(root, "waiting").needs_manual_grade  # nobody graded it: still waiting
    assert _essay(root, "waiting").manual_score is None

    # regraded again before anyone looked: the changed answer still waits (its digest is now
    # the new text, but no human decided on it)
    engine.Engine(root, sequential=True, progress=False, force=True).grade([A], ["edited"])
    assert _essay(root, "edited").needs_manual_grade

    # graded by hand again: the next regrade keeps that decision
    _grade_by_hand(root, "edited", 4)
    report = engine.Engine(root, sequential=True, progress=False, force=True).grade(
        [A], ["edited", "kept"]
    )
    assert (
        not _essay(root, "edited").needs_manual_grade and _essay(root, "edited").manual_score == 4
    )
    assert not _essay(root, "kept").needs_manual_grade
    assert not [n for o in report.outcomes for n in o.notes if ESSAY in n], report.text()


@pytest.mark.parametrize("saver", [SaveAutoGrades, KeepHumanGrades])
def test_stock_nbgrader_flags_every_hand_grade_again(course, saver):
    """The control: nbgrader's own SaveAutoGrades, run on the notebook a human graded,
    marks it "needs manual grading" again; the course's keeps it graded."""
    root, _ = course
    _grade_by_hand(root, "kept", 3)
    config = course_config.load_config(root)
    # the answer as it reaches the saving step (autograded/ holds it after the output gate)
    nb = nbformat.read(root / "submitted" / "kept" / A / NB, as_version=4)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == ESSAY]
    resources = {
        "nbgrader": {
            "student": "kept",
            "assignment": A,
            "notebook": A,
            "db_url": gradebook.db_url(root),
        }
    }
    saver(config=config).preprocess(nb, resources)
    expected_flag = saver is SaveAutoGrades
    assert _essay(root, "kept").needs_manual_grade is expected_flag
    assert _essay(root, "kept").manual_score == 3


def test_regrade_keeps_hand_grades_in_a_postgresql_gradebook(tmp_path, course_env, monkeypatch):
    """The answers' digests live in the gradebook: on PostgreSQL too (its own DDL)."""
    from support.postgres import running_postgres

    with running_postgres(tmp_path) as url:
        monkeypatch.setenv("COURSE_DB_URL", url)
        monkeypatch.setenv("PATH", cycle.environment()["PATH"])  # nbgrader runs alembic
        root = make_course(tmp_path, [A])
        release_course(root, [A])
        release_nb = authoring.read_notebook(root / "release" / A / NB)
        source_nb = authoring.read_notebook(root / "source" / A / NB)
        solved = submissions.solved(release_nb, source_nb)
        submit(root, "kept", A, NB, _with_essay(solved, "Essay of kept."))
        submit(root, "edited", A, NB, _with_essay(solved, "Essay of edited."))
        grade_submitted(root, A, NB)
        _grade_by_hand(root, "kept", 1)
        _grade_by_hand(root, "edited", 1)
        submit(root, "edited", A, NB, _with_essay(solved, "Essay of edited, changed."))
        engine.Engine(root, sequential=True, progress=False, force=True).grade([A])
        assert (
            not _essay(root, "kept").needs_manual_grade and _essay(root, "kept").manual_score == 1
        )
        assert _essay(root, "edited").needs_manual_grade
