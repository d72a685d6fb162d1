"""``course export`` (attention_grader.lms): the Canvas and Moodle import files of the hand-made
class of test_reports, read back with the csv module and compared with nbgrader's own
``grades.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from attention_grader import cli, cycle, lms
from test_reports import A1, A2, LATE_BY_HAND, course  # noqa: F401 - the fixture

PENDING = {("ben", A1), ("dee", A1), ("gus", A2)}  # by hand: written answers waiting, gus
MAPPING_TOML = """
[students]
ana = { id = "S-001", login = "ana.l", name = "Ana Lopez", section = "=Group A" }
ben = "S-002"
[assignments]
a1 = "Tokenization (4711)"
"""


def _grades_csv(root: Path, tmp_path: Path) -> dict[tuple[str, str], dict[str, str]]:
    path = cycle.export(root, tmp_path / "grades.csv")  # nbgrader export
    with open(path, newline="", encoding="utf-8") as handle:
        return {(r["student_id"], r["assignment"]): r for r in csv.DictReader(handle)}


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def exported(course, tmp_path_factory):  # noqa: F811 - the fixture imported above
    tmp = tmp_path_factory.mktemp("export")
    mapping_path = tmp / "lms.toml"
    mapping_path.write_text(MAPPING_TOML, encoding="utf-8")
    mapping = lms.load_mapping(mapping_path)
    canvas, moodle = tmp / "canvas.csv", tmp / "moodle.csv"
    lms.export(course, canvas, moodle, mapping)
    return _grades_csv(course, tmp), _read(canvas), _read(moodle)


pytestmark = pytest.mark.slow  # nbgrader export


def test_canvas_file_matches_grades_csv(exported):
    grades, canvas, _ = exported
    head, points, *rows = canvas
    assert head == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] + [
        "Tokenization (4711)",
        A2,
    ]
    assert points[0] == "Points Possible"
    back = {"S-001": "ana", "S-002": "ben"}  # the mapping, backwards
    students = {student for student, _ in grades}
    assert len(rows) == len(students)
    for row in rows:
        student = back.get(row[2], row[2])
        assert student in students
        for col, assignment in ((5, A1), (6, A2)):
            want = grades[student, assignment]
            assert float(points[col]) == pytest.approx(float(want["max_score"]))
            if (student, assignment) in PENDING:
                assert row[col] == "", (student, assignment)
            else:
                assert float(row[col]) == pytest.approx(float(want["score"])), (student, assignment)
    ana = next(row for row in rows if row[2] == "S-001")
    assert ana[:5] == ["Ana Lopez", "", "S-001", "ana.l", "'=Group A"]  # no formula
    assert next(row for row in rows if row[0] == "cai")[2:4] == ["cai", "cai"]  # unmapped


def test_moodle_file_matches_grades_csv_and_marks_pending_and_late(exported):
    grades, _, moodle = exported
    head, *rows = moodle
    assert head[:5] == ["First name", "Last name", "ID number", "Username", "Email address"]
    assert head[5:] == [
        "Tokenization (4711)",
        "Tokenization (4711) (Feedback)",
        A2,
        f"{A2} (Feedback)",
    ]
    back = {"S-001": "ana", "S-002": "ben"}
    seen = set()
    for row in rows:
        student = back.get(row[2], row[2])
        for col, assignment in ((5, A1), (7, A2)):
            seen.add((student, assignment))
            want, feedback = grades[student, assignment], row[col + 1]
            if (student, assignment) in PENDING:
                assert row[col] == "" and feedback.startswith(lms.PENDING_NOTE)
            else:
                assert float(row[col]) == pytest.approx(float(want["score"]))
            penalty = float(want["late_submission_penalty"] or 0)
            assert ("late:" in feedback) == (penalty > 0), (student, assignment)
    assert seen == set(grades)
    cai = next(row for row in rows if row[2] == "cai")
    raw = float(grades["cai", A1]["raw_score"])
    penalty = LATE_BY_HAND["cai"][1]
    assert cai[6] == f"late: {raw:g} - {penalty:g} late penalty = {raw - penalty:g}"


def test_allow_pending_exports_provisional_scores(course, tmp_path):  # noqa: F811
    grades = _grades_csv(course, tmp_path)
    lms.export(course, tmp_path / "c.csv", tmp_path / "m.csv", allow_pending=True)
    canvas = {row[2]: row for row in _read(tmp_path / "c.csv")[2:]}
    moodle = {row[2]: row for row in _read(tmp_path / "m.csv")[1:]}
    assert float(canvas["dee"][5]) == pytest.approx(float(grades["dee", A1]["score"]))
    assert moodle["dee"][6].startswith(lms.PROVISIONAL_NOTE)


def test_mapping_from_a_csv_roster_and_refusals(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text('student,id,name,section\nana,S-9,"Lopez, Ana",G1\n', encoding="utf-8")
    mapping = lms.load_mapping(roster)
    assert mapping.students["ana"] == lms.LmsStudent(id="S-9", name="Lopez, Ana", section="G1")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,id\nx,1\n", encoding="utf-8")
    with pytest.raises(lms.MappingError, match="'student' column"):
        lms.load_mapping(bad)
    worse = tmp_path / "bad.toml"
    worse.write_text("[students]\nana = { password = 'x' }\n", encoding="utf-8")
    with pytest.raises(lms.MappingError, match="ana"):
        lms.load_mapping(worse)
    assert lms.number(14.4) == "14.4" and lms.number(3.0) == "3" and lms.number(1 / 3) == "0.3333"
    # without a mapping entry: nbgrader's lms_user_id, else the course id
    nobody = lms.LmsMap()
    assert nobody.student(lms.Person("cai", lms_user_id="L-7")).id == "L-7"
    assert nobody.student(lms.Person("cai")) == lms.LmsStudent(id="cai", login="cai")
    assert mapping.student(lms.Person("ana", lms_user_id="L-1")).id == "S-9"  # mapping wins


def test_course_export_command(course, tmp_path, capsys):  # noqa: F811
    mapping = tmp_path / "lms.toml"
    mapping.write_text(MAPPING_TOML + '\n[students.zed]\nid = "S-404"\n', encoding="utf-8")
    canvas, moodle = tmp_path / "out" / "c.csv", tmp_path / "out" / "m.csv"
    args = ["--root", str(course), "export", "--canvas", str(canvas), "--moodle", str(moodle)]
    assert cli.main([*args, "--map", str(mapping)]) == 0
    out = capsys.readouterr().out
    assert canvas.is_file() and moodle.is_file()
    assert "left EMPTY (pending)" in out and "ben/a1" in out and "gus/a2" in out
    assert "students not in the gradebook (ignored): zed" in out
    assert cli.main([*args, "--map", str(tmp_path / "missing.toml")]) == 2
