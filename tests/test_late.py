"""The late policy charges the score a student gets: written answers graded by hand included.

nbgrader computes a notebook's late penalty when autograde records it, on the autograded
points only; a written answer graded afterwards in formgrader would escape the penalty.
``late.apply_policy`` (run by ``course grades`` and ``course feedback``) charges the final
score, and the CSV export, the score table and the report agree.
"""

from __future__ import annotations

import csv

import pytest
from nbgrader.api import Gradebook

from attention_grader import authoring, cli, gradebook, late, reports, submissions
from courses import grade_submitted, make_course, release_course, submit

pytestmark = pytest.mark.slow

A = "02_metrics"
NB = f"{A}.ipynb"


def _essay_id(source_nb: dict) -> str:
    ids = [
        cellmeta["grade_id"]
        for cell in source_nb["cells"]
        if cell["cell_type"] == "markdown"
        and (cellmeta := cell.get("metadata", {}).get("nbgrader", {})).get("grade")
    ]
    assert len(ids) == 1, ids
    return ids[0]


@pytest.fixture(scope="module")
def late_course(tmp_path_factory):
    import os

    saved = dict(os.environ)
    os.environ.pop("COURSE_DB_URL", None)
    try:
        root = make_course(tmp_path_factory.mktemp("late"), [A])
        (root / "schedule.toml").write_text(
            f'[due]\n"{A}" = "2026-03-01T12:00:00+00:00"\n\n'
            "[late]\npercent_per_day = 10\nmax_percent = 100\n"
        )
        release_course(root, [A])
        release_nb = authoring.read_notebook(root / "release" / A / NB)
        source_nb = authoring.read_notebook(root / "source" / A / NB)
        solved = submissions.solved(release_nb, source_nb)
        for student, stamp in {
            "on-time": "2026-03-01 11:00:00.000000 UTC",
            "hour-late": "2026-03-01 13:00:00.000000 UTC",
        }.items():
            submit(root, student, A, NB, solved)
            (root / "submitted" / student / A / "timestamp.txt").write_text(stamp)
        graded = grade_submitted(root, A, NB)
        yield graded, _essay_id(source_nb)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _row(root, student):
    return next(r for r in gradebook.scores(root) if r.student == student)


def test_hand_graded_points_pay_the_late_penalty(late_course):
    graded, essay = late_course
    root = graded.root
    auto = _row(root, "hour-late")
    # at autograde time the penalty is 10 % of the autograded points (the essay waits)
    assert auto.needs_manual and auto.late_penalty == pytest.approx(0.1 * (auto.max_score - 4))
    with Gradebook(gradebook.db_url(root)) as gb:
        for student in ("on-time", "hour-late"):
            grade = gb.find_grade(essay, NB.removesuffix(".ipynb"), A, student)
            grade.manual_score = 4  # what formgrader stores when the instructor saves a score
            grade.needs_manual_grade = False
        gb.db.commit()
    assert late.apply_policy(root) == 1  # the late notebook's penalty changed, nothing else
    assert late.apply_policy(root) == 0  # and applying it again changes nothing
    final = _row(root, "hour-late")
    full = final.max_score  # 15 autograded + 4 by hand, all earned
    # one started day late: 10 % of the final score, hand-graded points included
    assert final.late_penalty == pytest.approx(0.1 * full)
    assert final.score == pytest.approx(0.9 * full)
    assert _row(root, "on-time").late_penalty == 0 and _row(root, "on-time").score == full


def test_grades_csv_and_score_table_agree_with_the_policy(late_course, capsys):
    graded, _ = late_course
    root = graded.root
    cli.cmd_grades(root, root / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader((root / "grades.csv").open())}
    final = _row(root, "hour-late")
    assert float(rows["hour-late"]["raw_score"]) == pytest.approx(final.max_score)
    assert float(rows["hour-late"]["score"]) == pytest.approx(final.score)
    assert float(rows["on-time"]["score"]) == pytest.approx(final.max_score)
    table = reports.score_table(gradebook.scores(root))
    late_line = next(x for x in table.splitlines() if x.startswith("hour-late "))
    on_time_line = next(x for x in table.splitlines() if x.startswith("on-time "))
    assert late_line.rstrip().endswith("L") and not on_time_line.rstrip().endswith("L")
    assert "L late: the score shown is after the late penalty" in table
