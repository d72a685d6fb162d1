"""Per-student due dates: ``[extensions]`` in schedule.toml, applied in the gradebook as
nbgrader's per-submission extension by ``make release`` (set_due_dates) and again before
grades are read, charged by the late policy and shown in the class report."""

from __future__ import annotations

import datetime
import shutil
import warnings

import pytest
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

from attention_grader import cli, compat, cycle, gradebook, late, reports
from conftest import ROOT
from test_reports import _Page

A, NB = "a", "nb"
DUE = "2027-01-15T23:59:00+01:00"  # 22:59 UTC
ANA_DUE = "2027-01-20T23:59:00+01:00"  # five days more
SUBMITTED = datetime.datetime(2027, 1, 18, 10, 0)  # UTC: late without the extension
pytestmark = pytest.mark.slow  # a gradebook per test

SCHEDULE = f"""
[due]
"{A}" = "{DUE}"

[extensions."{A}"]
ana = "{ANA_DUE}"

[late]
percent_per_day = 10
"""


@pytest.fixture
def course(tmp_path, monkeypatch):
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "schedule.toml").write_text(SCHEDULE, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    monkeypatch.setenv("COURSE_DB_URL", url)
    compat.create_gradebook(url, "default_course")  # Gradebook(url)'s own, without alembic
    with warnings.catch_warnings(), Gradebook(url) as gb:
        warnings.simplefilter("ignore", SAWarning)
        gb.add_assignment(A)
        gb.add_notebook(NB, A)
        gb.add_grade_cell("t", NB, A, max_score=10.0, cell_type="code")
        for student in ("ana", "ben"):
            gb.add_student(student)
            gb.add_submission(A, student, timestamp=SUBMITTED)
            grade = gb.find_grade("t", NB, A, student)
            grade.auto_score, grade.needs_manual_grade = 10.0, False
        gb.db.commit()
    return root


def _late(root):
    with Gradebook(gradebook.db_url(root)) as gb:
        return {
            s.student.id: (s.extension, s.total_seconds_late) for s in gb.assignment_submissions(A)
        }


def test_release_writes_the_extension_and_the_policy_charges_only_the_others(course):
    cycle.set_due_dates(course, [A])  # what `make release` does after generate_assignment
    state = _late(course)
    assert state["ana"] == (datetime.timedelta(days=5), 0)  # within her own due date
    due_utc = datetime.datetime(2027, 1, 15, 22, 59)
    assert state["ben"] == (None, (SUBMITTED - due_utc).total_seconds())
    late.apply_policy(course)
    penalties = {r.student: r.penalty for r in gradebook.lateness(course)}
    assert penalties == {"ana": 0.0, "ben": 3.0}  # ben: 3 started days, 30 % of 10


def test_the_report_shows_extensions_and_who_was_late(course, tmp_path):
    cycle.set_due_dates(course, [A])
    late.apply_policy(course)
    page = _Page(reports.write_class_report(course, tmp_path / "r.html").read_text("utf-8"))
    ext = page.tables["extensions-table"]
    assert ext[1][:4] == ["ana", A, "2027-01-20 22:59 UTC", "5 d"]
    assert len(ext) == 2 and ext[1][5] == "-"  # not late
    late_rows = page.tables["late-table"][1:]
    assert [(r[0], r[3], r[6]) for r in late_rows] == [("ben", "2027-01-15 22:59 UTC", "3")]


def test_schedule_is_the_one_place_of_extensions(course):
    cycle.set_due_dates(course, [A])
    assert cycle.apply_extensions(course) == []  # nothing changed since
    (course / "schedule.toml").write_text(SCHEDULE.replace("ana =", "ben ="), encoding="utf-8")
    assert sorted(cycle.apply_extensions(course)) == ["ana/a", "ben/a"]
    state = _late(course)
    assert state["ana"][0] is None and state["ana"][1] > 0
    assert state["ben"] == (datetime.timedelta(days=5), 0)


def test_course_grades_applies_extensions_of_submissions_new_since_release(course, capsys):
    (course / "schedule.toml").write_text(SCHEDULE.replace("ana =", "zoe ="), encoding="utf-8")
    cycle.set_due_dates(course, [A])  # released before zoe handed anything in
    with warnings.catch_warnings(), Gradebook(gradebook.db_url(course)) as gb:
        warnings.simplefilter("ignore", SAWarning)  # nbgrader 0.9 + SQLAlchemy 2
        gb.add_student("zoe")
        gb.add_submission(A, "zoe", timestamp=SUBMITTED)  # collected and autograded later
        gb.find_grade("t", NB, A, "zoe").auto_score = 10.0
        gb.db.commit()
    assert _late(course)["zoe"][0] is None
    cli.cmd_grades(course, course / "grades.csv")
    assert "extensions of schedule.toml applied: zoe/a" in capsys.readouterr().out
    assert _late(course)["zoe"] == (datetime.timedelta(days=5), 0)
    assert {r.student: r.penalty for r in gradebook.lateness(course)}["zoe"] == 0.0


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (SCHEDULE.replace(ANA_DUE, "2027-01-10T23:59:00+01:00"), "before the assignment's"),
        (SCHEDULE.replace(f'"{A}" = "{DUE}"', ""), "has no due date"),
        (SCHEDULE.replace(ANA_DUE, "2027-01-20T23:59:00"), "needs a UTC offset"),
        (SCHEDULE.replace(ANA_DUE, "next week"), "not an ISO 8601 time"),
        (SCHEDULE.replace(f'[extensions."{A}"]\nana', f'[extensions]\n"{A}"'), "must map"),
    ],
)
def test_wrong_extensions_are_refused_with_a_message(course, schedule, message):
    (course / "schedule.toml").write_text(schedule, encoding="utf-8")
    with pytest.raises(cycle.CycleError, match=message):
        cycle.set_due_dates(course, [A])
