"""Reports of the gradebook: the text score table and class report, and the HTML class report.

The gradebook is built with nbgrader's own API (no notebook runs): a hand-made class whose
difficulty and discrimination values are computed here independently (numpy.corrcoef).
"""

from __future__ import annotations

import base64
import datetime
import io
import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

from attention_grader import cli, goals, gradebook, late, reports
from attention_grader.gradebook import ManualGrade, NotebookScore

ROOT = Path(__file__).resolve().parents[1]
PNG_IMG = '<img src="data:image/png;base64,'

# --- the hand-made class ----------------------------------------------------------------

A1, NB1 = "a1", "nb1"
A1_TESTS = {"test_a": 1.0, "test_b": 2.0, "test_c": 1.0, "test_d": 1.0, "test_all": 1.0}
A1_SCORES = {  # difficulties 0.25 to 1; test_d only passed by the weakest (negative r)
    "ana": {"test_a": 1.0, "test_b": 2.0, "test_c": 1.0, "test_d": 0.0, "test_all": 1.0},
    "ben": {"test_a": 1.0, "test_b": 1.0, "test_c": 1.0, "test_d": 0.0, "test_all": 1.0},
    "cai": {"test_a": 0.0, "test_b": 2.0, "test_c": 1.0, "test_d": 0.0, "test_all": 1.0},
    "dee": {"test_a": 0.0, "test_b": 0.0, "test_c": 0.0, "test_d": 1.0, "test_all": 1.0},
}  # test_b of ben is partial (1 of 2): not full points
ESSAY_MAX = 2.0
ESSAY = {  # (auto_score, manual_score, needs_manual_grade) of the written answer
    "ana": (None, 2.0, False),  # graded by hand
    "ben": (None, 1.0, True),  # graded by hand (1 point), then changed: flagged again
    "cai": (0.0, None, False),  # unchanged answer: nbgrader gives 0
    "dee": (None, None, True),  # waiting
}
A2, NB2 = "a2", "nb2"
A2_MAX = 3.0
A2_GRADED = {"fay": 3.0}  # gus submitted, but his autograde was never recorded
A2_UNRECORDED = "gus"

# The released notebook of a1, in order: each exercise's solution cells, then its tests.
A1_LAYOUT = [
    ("sol_ab", "solution"),
    ("test_a", "test"),
    ("test_b", "test"),
    ("sol_c1", "solution"),
    ("sol_c2", "solution"),
    ("test_c", "test"),
    ("test_d", "test"),
    ("sol_all", "solution"),
    ("test_all", "test"),
]
EXERCISE = {  # which solution cells each test checks (written out by hand)
    "test_a": {"sol_ab"},
    "test_b": {"sol_ab"},
    "test_c": {"sol_c1", "sol_c2"},
    "test_d": {"sol_c1", "sol_c2"},
    "test_all": {"sol_all"},
}
UNCHANGED = {  # solution cells a student left as released ("No response.")
    "dee": {"sol_ab", "sol_all"},  # test_a, test_b failed: not attempted; test_all passed
    "cai": {"sol_c1", "sol_c2"},  # test_d failed: not attempted (test_c passed anyway)
    "ben": {"sol_c1"},  # test_d failed, sol_c2 written: wrong
}
NOT_ATTEMPTED = {("dee", "test_a"), ("dee", "test_b"), ("cai", "test_d")}
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
MESSAGES = {  # the verdicts under failed test cells of the autograded notebooks
    "ana": {"test_d": "hidden check failed: case one: expected 3, got 4.\nHint: count both ids."},
    "ben": {
        "test_b": f"hidden check failed: case two: your code raised ValueError: {HOSTILE}",
        "test_d": f"hidden check failed: case one: expected 3, got {HOSTILE}."
        "\nHint: count both ids.",
    },
    "cai": {"test_a": "hidden check failed: case three: the result is empty."},
    # dee: no autograded notebook (test_c's failure has no message recorded)
}
MISTAKES = {  # {test: [(share of attempts, count, what failed, hint)]}, by hand
    "test_a": [(1 / 3, 1, "case three: the result is empty.", None)],  # dee not attempted
    "test_b": [(1 / 3, 1, "case two: your code raised ValueError", None)],
    "test_c": [(1 / 4, 1, "(no message recorded)", None)],
    "test_d": [(2 / 3, 2, "case one: expected 3, got ...", "count both ids.")],  # cai blank
}
GOAL_MAP = {
    A1: {
        "test_a": ("5.0.1",),
        "test_b": ("5.0.1", "5.0.2"),
        "test_c": ("5.0.2",),
        "test_d": ("5.0.2",),
        "test_all": ("5.3",),
        "essay": ("5.3",),
    },
    A2: {"t1": ("5.1",)},
}
GOALS_BY_HAND = {  # goal: (points, class mean, students at full marks) over 6 students
    "5.0.1": (3.0, 7 / 6, 1),  # ana 3, ben 2, cai 2, dee 0, fay 0, gus 0
    "5.0.2": (4.0, 9 / 6, 0),  # ana 3, ben 2, cai 3, dee 1
    "5.1": (3.0, 3 / 6, 1),  # fay 3
    "5.3": (
        3.0,
        7 / 6,
        1,
    ),  # test_all + essay: ana 3, ben 1+1 (flagged: earlier score), cai 1, dee 1
}
BEHIND_BY_HAND = {"ana": 1, "ben": 1, "cai": 2, "dee": 4, "fay": 3, "gus": 4}
DUE = datetime.datetime(2027, 1, 15, 12, 0)  # UTC, as nbgrader stores it
SUBMITTED = {  # (submitted after the due date, extension)
    "ana": (datetime.timedelta(hours=-2), None),  # on time
    "ben": (datetime.timedelta(hours=1), None),  # 1 h late: 10 %
    "cai": (datetime.timedelta(days=3, minutes=30), datetime.timedelta(days=2)),  # 2 started days
    "dee": (datetime.timedelta(hours=12), datetime.timedelta(days=1)),  # within her extension
}
LATE_BY_HAND = {  # student: (seconds late, penalty on the score with the essay)
    "ben": (3600.0, 0.5),  # score 4 + essay 1 = 5 -> 10 %
    "cai": ((1 * 24 * 60 + 30) * 60.0, 0.8),  # score 4 + essay 0 -> 20 %
}


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A course root whose gradebook holds the hand-made class (built with nbgrader's API).

    Built once for the module (nbgrader runs ``alembic`` to create a gradebook: seconds);
    the tests only read it.
    """
    base = tmp_path_factory.mktemp("reports")
    root = base / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    url = f"sqlite:///{base / 'gradebook.db'}"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("COURSE_DB_URL", url)
        bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH
        monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
        assert gradebook.db_url(root) == url
        _build_gradebook(url)
        late.apply_policy(root)  # as `make grades` does before any report
        _write_notebooks(root)
        yield root


def _nb_cell(name: str, kind: str, outputs: list | None = None) -> dict:
    meta = {"grade_id": name, "solution": kind == "solution", "grade": kind == "test"}
    if kind == "test":
        meta["points"] = A1_TESTS[name]
    return {
        "cell_type": "code",
        "metadata": {"nbgrader": meta},
        "source": "raise NotImplementedError()" if kind == "solution" else "",
        "outputs": outputs or [],
        "execution_count": None,
    }


def _write_notebooks(root: Path) -> None:
    """The released notebook of a1 (its cell order) and the autograded notebooks' verdicts."""
    import json

    release = root / "release" / A1 / f"{NB1}.ipynb"
    release.parent.mkdir(parents=True)
    cells = [_nb_cell(name, kind) for name, kind in A1_LAYOUT]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    release.write_text(json.dumps(nb), encoding="utf-8")
    for student, per in MESSAGES.items():
        graded = []
        for name, kind in A1_LAYOUT:
            outputs = [
                {"output_type": "stream", "name": "stdout", "text": "printed by the student"}
            ]
            if name in per:
                outputs.append(
                    {
                        "output_type": "error",
                        "ename": "AssertionError",
                        "evalue": per[name],
                        "traceback": [f"AssertionError: {per[name]}"],
                    }
                )
            graded.append(_nb_cell(name, kind, outputs if kind == "test" else None))
        path = root / "autograded" / student / A1 / f"{NB1}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({**nb, "cells": graded}), encoding="utf-8")


def _build_gradebook(url: str) -> None:
    """The hand-made class, graded as nbgrader's autograde and formgrader would record it."""
    # nbgrader 0.9 + SQLAlchemy 2.1: add_submission emits harmless session warnings
    with warnings.catch_warnings(), Gradebook(url) as gb:
        warnings.simplefilter("ignore", SAWarning)
        gb.add_assignment(A1)
        gb.add_notebook(NB1, A1)
        for name, points in A1_TESTS.items():
            gb.add_grade_cell(name, NB1, A1, max_score=points, cell_type="code")
        gb.add_grade_cell("essay", NB1, A1, max_score=ESSAY_MAX, cell_type="markdown")
        gb.add_solution_cell("essay", NB1, A1)
        for name, kind in A1_LAYOUT:
            if kind == "solution":
                gb.add_solution_cell(name, NB1, A1)
        gb.update_or_create_assignment(A1, duedate=DUE)
        gb.add_assignment(A2)
        gb.add_notebook(NB2, A2)
        gb.add_grade_cell("t1", NB2, A2, max_score=A2_MAX, cell_type="code")
        for student, per in A1_SCORES.items():
            gb.add_student(student)
            gb.add_submission(A1, student)
            for name, score in per.items():
                grade = gb.find_grade(name, NB1, A1, student)
                grade.auto_score, grade.needs_manual_grade = score, False
            essay = gb.find_grade("essay", NB1, A1, student)
            essay.auto_score, essay.manual_score, essay.needs_manual_grade = ESSAY[student]
            for name, kind in A1_LAYOUT:
                if kind == "solution":
                    comment = gb.find_comment(name, NB1, A1, student)
                    blank = name in UNCHANGED.get(student, set())
                    comment.auto_comment = gradebook.NO_RESPONSE if blank else None
            after, extension = SUBMITTED[student]
            submission = gb.find_submission(A1, student)
            submission.timestamp, submission.extension = DUE + after, extension
        for student, score in A2_GRADED.items():
            gb.add_student(student)
            gb.add_submission(A2, student)
            grade = gb.find_grade("t1", NB2, A2, student)
            grade.auto_score, grade.needs_manual_grade = score, False
        gb.add_student(A2_UNRECORDED)
        gb.add_submission(A2, A2_UNRECORDED)  # grades left as nbgrader creates them: empty
        gb.db.commit()


def expected_items(per_student: dict[str, dict[str, float]], maxima: dict[str, float]) -> dict:
    """``{test: (failed, difficulty, discrimination or None)}``, computed with numpy."""
    students = sorted(per_student)
    total = np.array([sum(per_student[s].values()) for s in students])
    out = {}
    for name, top in maxima.items():
        score = np.array([per_student[s][name] for s in students])
        passed = (score >= top).astype(float)
        rest = total - score
        defined = passed.std() > 0 and rest.std() > 0
        r = float(np.corrcoef(passed, rest)[0, 1]) if defined else None
        out[name] = (int((passed == 0).sum()), float(passed.mean()), r)
    return out


# --- reading the page -------------------------------------------------------------------


class _Page(HTMLParser):
    """Tables (rows of cell texts) and lists (item texts) of a page, by element id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.lists: dict[str, list[str]] = {}
        self._table: str | None = None
        self._list: str | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        if tag == "table" and ident:
            self._table = ident
            self.tables[ident] = []
        elif tag == "ul" and ident:
            self._list = ident
            self.lists[ident] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th", "li") and (self._table or self._list):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "li" and self._list and self._cell is not None:
            self.lists[self._list].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "ul":
            self._list = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _number(text: str) -> float | None:
    return None if text == reports.UNDEFINED else float(text)


@pytest.fixture(scope="module")
def page(course: Path) -> tuple[str, _Page]:
    path = reports.write_class_report(
        course, course.parent / "out" / "class_report.html", mapping=GOAL_MAP
    )
    text = path.read_text(encoding="utf-8")
    return text, _Page(text)


# --- the pure functions -----------------------------------------------------------------


def test_item_analysis_matches_independent_formula():
    results = {
        s: {name: (score, A1_TESTS[name]) for name, score in per.items()}
        for s, per in A1_SCORES.items()
    }
    want = expected_items(A1_SCORES, A1_TESTS)
    items = reports.item_analysis(results)
    got = {i.name: (i.failed, i.difficulty, i.discrimination) for i in items}
    assert set(got) == set(A1_TESTS)
    for name, (failed, difficulty, r) in want.items():
        assert got[name][0] == failed, name
        assert got[name][1] == pytest.approx(difficulty), name
        if r is None:
            assert got[name][2] is None, name
        else:
            assert got[name][2] == pytest.approx(r), name
    assert want["test_all"][2] is None  # the class does have a constant column
    assert want["test_d"][2] < 0 < want["test_a"][2]  # and both signs
    assert len({d for _, d, _ in want.values()}) == 4  # and several difficulties
    assert [i.difficulty for i in items] == sorted(i.difficulty for i in items)  # hardest first


def test_discrimination_undefined_when_rest_is_constant():
    results = {  # t1 separates x and y, but their totals on the other tests are equal
        "x": {"t1": (1.0, 1.0), "t2": (1.0, 1.0)},
        "y": {"t1": (0.0, 1.0), "t2": (1.0, 1.0)},
        "z": {"t1": (0.0, 1.0), "t2": (1.0, 1.0)},
    }
    items = {i.name: i for i in reports.item_analysis(results)}
    assert items["t1"].discrimination is None
    assert items["t1"].failed == 2 and items["t1"].difficulty == pytest.approx(1 / 3)
    assert reports.point_biserial([True, False], [0.1 + 0.2, 0.3]) is None  # rounding noise
    assert reports.point_biserial([True], [1.0]) is None


def test_failure_counts_and_totals():
    results = {"p": {"u": (0.5, 1.0), "v": (2.0, 2.0)}, "q": {"u": (1.0, 1.0), "v": (0.0, 2.0)}}
    assert reports.failure_counts(results) == {"u": 1, "v": 1}
    assert reports.totals(results) == {"p": 2.5, "q": 1.0}
    assert reports.max_total(results) == 3.0


def _blank() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {s: set() for s in A1_SCORES}
    for student, name in NOT_ATTEMPTED:
        out[student].add(name)
    return out


def _summary() -> reports.AssignmentSummary:
    results = {
        s: {name: (score, A1_TESTS[name]) for name, score in per.items()}
        for s, per in A1_SCORES.items()
    }
    return reports.summarize(A1, results, {}, {}, blank=_blank())


def test_not_attempted_from_unchanged_cells_and_exercises():
    results = {
        s: {name: (score, A1_TESTS[name]) for name, score in per.items()}
        for s, per in A1_SCORES.items()
    }
    exercises = {name: sorted(cells) for name, cells in EXERCISE.items()}
    got = reports.not_attempted(results, UNCHANGED, exercises)
    assert {(s, t) for s, tests in got.items() for t in tests} == NOT_ATTEMPTED
    assert "test_all" not in got["dee"]  # left as released but passed: not a failure
    assert "test_d" in got["cai"] and "test_d" not in got["ben"]  # one of two cells written
    assert reports.not_attempted(results, UNCHANGED, {}) == {s: set() for s in A1_SCORES}


def test_mistake_key_cuts_the_students_values():
    a = "hidden check failed: f(1): expected [1, 2], got [3].\nHint: sort them."
    b = "hidden check failed: f(1): expected [1, 2], got <b>x</b>.\nHint: sort them."
    assert (
        reports.mistake_key(a)
        == reports.mistake_key(b)
        == ("f(1): expected [1, 2], got ...", "sort them.")
    )
    c = "hidden check (f(2)): no result came back. Your code raised KeyError: 'secret'"
    assert reports.mistake_key(c) == (
        "hidden check (f(2)): no result came back. Your code raised KeyError",
        None,
    )
    d = "hidden check (f(3)): the result could not be read (TypeError: bad <x>)."
    assert reports.mistake_key(d) == (
        "hidden check (f(3)): the result could not be read (TypeError)",
        None,
    )
    assert len(reports.mistake_key("x" * 5000)[0]) <= 240
    assert reports.mistake_key("f: \x1b[2Jcleared\x07") == ("f: [2Jcleared", None)


def test_score_figure_shows_every_submission_and_marks_the_maximum():
    summary = _summary()
    fig = reports.score_figure(summary)
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    assert sum(heights) == len(A1_SCORES)
    for student, per in A1_SCORES.items():  # each total sits in a bar centred on it
        total = sum(per.values())
        bar = next(p for p in ax.patches if p.get_x() <= total < p.get_x() + p.get_width())
        assert bar.get_height() == sum(sum(v.values()) == total for v in A1_SCORES.values())
        assert abs(bar.get_x() + bar.get_width() / 2 - total) < 1e-9, student
    marks = {tuple(line.get_xdata()) for line in ax.lines}
    assert (sum(A1_TESTS.values()),) * 2 in marks
    assert (summary.mean,) * 2 in marks


def test_failure_figure_stacks_wrong_and_not_attempted_most_failed_on_top():
    summary = _summary()
    ax = reports.failure_figure(summary).axes[0]
    wrong, blank = ax.containers[0], ax.containers[1]
    labels = [t.get_text() for t in ax.get_yticklabels()]  # bottom to top
    want = expected_items(A1_SCORES, A1_TESTS)
    n = len(A1_SCORES)
    for bar_w, bar_b, name in zip(wrong, blank, labels, strict=True):
        empty = sum((s, name) in NOT_ATTEMPTED for s in A1_SCORES)
        assert bar_w.get_width() == pytest.approx((want[name][0] - empty) / n), name
        assert bar_b.get_width() == pytest.approx(empty / n), name
        assert bar_b.get_x() == pytest.approx(bar_w.get_width())  # stacked
    totals = [w.get_width() + b.get_width() for w, b in zip(wrong, blank, strict=True)]
    assert totals == sorted(totals)  # bottom to top: most failed on top
    assert any(b.get_width() > 0 for b in blank) and any(w.get_width() > 0 for w in wrong)


# --- the HTML page ----------------------------------------------------------------------


def test_page_is_self_contained_with_figures(page):
    text, _ = page
    images = re.findall(re.escape(PNG_IMG) + r'([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 5  # histogram and failure bars for a1 and for a2, the goals
    for data in images:
        raw = base64.b64decode(data)
        assert raw.startswith(b"\x89PNG\r\n\x1a\n")
        assert matplotlib.image.imread(io.BytesIO(raw)).shape[0] > 100
    assert "<script" not in text and "<link" not in text and 'src="http' not in text


def test_page_numbers_match_the_gradebook(course, page):
    _, parsed = page
    for assignment in (A1, A2):
        results = gradebook.test_results(course, assignment)
        summary = {row[0]: row[1] for row in parsed.tables[f"summary-{assignment}"]}
        totals = [sum(s for s, _ in per.values()) for per in results.values()]
        assert int(summary["submissions"]) == len(results)
        assert float(summary["mean autograded score"]) == pytest.approx(np.mean(totals), abs=5e-3)
        failed = {
            name: sum(per[name][0] < per[name][1] for per in results.values())
            for name in next(iter(results.values()))
        }
        rows = parsed.tables[f"items-{assignment}"][1:]
        assert {row[0]: int(row[2].split(" / ")[0]) for row in rows} == failed
    assert float(
        {r[0]: r[1] for r in parsed.tables[f"summary-{A1}"]}["mean autograded score"]
    ) == pytest.approx(np.mean([sum(per.values()) for per in A1_SCORES.values()]), abs=5e-3)


def test_page_item_analysis_of_the_hand_made_class(page):
    _, parsed = page
    rows = parsed.tables[f"items-{A1}"]
    assert rows[0] == [
        "test cell",
        "points",
        "failed",
        "wrong",
        "not attempted",
        "wrong / attempts",
        "difficulty",
        "discrimination",
    ]
    shown = {row[0]: row for row in rows[1:]}
    want = expected_items(A1_SCORES, A1_TESTS)
    assert set(shown) == set(want)
    for name, (failed, difficulty, r) in want.items():
        row = shown[name]
        blank = sum((s, name) in NOT_ATTEMPTED for s in A1_SCORES)
        assert float(row[1]) == A1_TESTS[name]
        assert row[2] == f"{failed} / {len(A1_SCORES)}"
        assert (int(row[3]), int(row[4])) == (failed - blank, blank), name
        attempts = len(A1_SCORES) - blank
        assert _number(row[5]) == pytest.approx((failed - blank) / attempts, abs=5e-3), name
        assert _number(row[6]) == pytest.approx(difficulty, abs=5e-3)
        if r is None:
            assert row[7] == reports.UNDEFINED, name
        else:
            assert _number(row[7]) == pytest.approx(r, abs=5e-3), name
    assert sum(int(row[4]) for row in rows[1:]) == len(NOT_ATTEMPTED)
    difficulties = [float(row[6]) for row in rows[1:]]
    assert difficulties == sorted(difficulties)  # hardest first, like the bars


def test_page_lists_manual_grading_and_review(page):
    text, parsed = page
    waiting = sorted(s for s, (_, manual, needs) in ESSAY.items() if needs and manual is None)
    reflagged = sorted(s for s, (_, manual, needs) in ESSAY.items() if needs and manual)
    assert waiting and reflagged
    assert parsed.lists[f"manual-{A1}"] == [f"{s}: essay" for s in waiting]
    assert parsed.lists[f"reflagged-{A1}"] == [f"{s}: essay" for s in reflagged]
    assert parsed.lists[f"review-{A2}"] == [f"{A2_UNRECORDED}: {NB2}"]
    assert f"review-{A1}" not in parsed.lists  # every a1 notebook was autograded
    assert "point-biserial" in text and "proportion of students with full points" in text


def test_page_score_table_is_the_text_score_table(course, page):
    _, parsed = page
    rows = gradebook.scores(course)
    text_lines = reports.score_table(rows).splitlines()
    text_table = {
        cols[0]: cols[1:]
        for cols in (re.split(r"\s{2,}", line.strip()) for line in text_lines[1:])
        if not cols[0].startswith(("*", "L late"))
    }
    html_rows = parsed.tables["scores"]
    assert html_rows[0] == re.split(r"\s{2,}", text_lines[0].strip())
    assert {row[0]: row[1:] for row in html_rows[1:]} == text_table
    ana = sum(A1_SCORES["ana"].values()) + ESSAY["ana"][1]
    assert text_table["ana"] == [f"{ana:g} / {sum(A1_TESTS.values()) + ESSAY_MAX:g}", "-"]
    assert text_table[A2_UNRECORDED][1] == "0 / 3 *"
    assert text_table["ben"][0].endswith(" L") and text_table["cai"][0].endswith(" L")
    assert not text_table["dee"][0].endswith(" L")  # within her extension


def test_writing_the_page_prints_nothing(course, tmp_path, capfd):
    capfd.readouterr()
    reports.write_class_report(course, tmp_path / "quiet.html")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


@pytest.mark.slow  # runs `nbgrader export`
def test_cmd_grades_writes_the_page(course, capsys):
    cli.cmd_grades(course, course / "grades.csv")
    out = capsys.readouterr().out
    path = course / "reports" / "class_report.html"
    assert path.exists() and str(path) in out
    assert path.read_text(encoding="utf-8").count(PNG_IMG) == 4  # a1, a2: no course goals
    assert (course / "grades.csv").exists()
    assert reports.class_report(course, A1) in out


def test_class_report_text_from_the_gradebook(course):
    report = reports.class_report(course, A1).splitlines()
    totals = [sum(per.values()) for per in A1_SCORES.values()]
    assert report[0] == (
        f"{A1}: {len(A1_SCORES)} submissions, mean {np.mean(totals):.1f} "
        f"/ {sum(A1_TESTS.values()):g}"
    )
    waiting = sum(needs for _, _, needs in ESSAY.values())
    assert f"written answers to grade by hand (formgrader): {waiting} submissions" in report


# --- the text reports (moved from test_units.py) ----------------------------------------


def _columns(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_score_table():
    nb1, nb2 = "01_tokenization.ipynb", "02_metrics.ipynb"
    rows = [
        NotebookScore("alice", "01_tokenization", nb1, 23, 23, False),
        NotebookScore("alice", "02_metrics", nb2, 10, 12, False),
        NotebookScore("bob", "01_tokenization", nb1, 0, 23, False),
        NotebookScore("carol", "01_tokenization", nb1, 12.5, 23, False),
        NotebookScore("dave", "01_tokenization", nb1, 7, 23, True),
        NotebookScore("dave", "02_metrics", nb2, 12, 12, False),
    ]
    lines = reports.score_table(rows).splitlines()
    table = {
        _columns(line)[0]: _columns(line)[1:] for line in lines[1:] if not line.startswith("*")
    }
    assert _columns(lines[0]) == ["student", nb1, nb2]
    assert sorted(table) == ["alice", "bob", "carol", "dave"], lines  # one line per student
    assert table["alice"] == ["23 / 23", "10 / 12"]
    assert table["bob"] == ["0 / 23", "-"]
    assert table["carol"] == ["12.5 / 23", "-"]
    assert table["dave"] == ["7 / 23 *", "12 / 12"]
    assert lines[-1] == "* needs manual grading"
    plain = reports.score_table(rows[:1])
    assert "*" not in plain and len(plain.splitlines()) == 2


def test_class_report(monkeypatch, tmp_path):
    results = {
        "alice": {"test_a": (1.0, 1.0), "test_b": (2.0, 2.0)},
        "bob": {"test_a": (0.0, 1.0), "test_b": (2.0, 2.0)},
        "carol": {"test_a": (0.0, 1.0), "test_b": (0.0, 2.0)},
    }
    monkeypatch.setattr(reports, "test_results", lambda root, assignment: results)
    monkeypatch.setattr(reports, "manual_results", lambda root, assignment: {})
    monkeypatch.setattr(reports, "blank_tests", lambda root, a, r: {"carol": {"test_a"}})
    messages = {"bob": {"test_a": "hidden check failed: x: expected 1, got 2.\nHint: off by one."}}
    monkeypatch.setattr(reports, "verdict_messages", lambda root, assignment: messages)
    report = reports.class_report(tmp_path, "01_tokenization")
    assert "by hand" not in report  # no written answers in this assignment
    lines = report.splitlines()
    assert lines[0] == "01_tokenization: 3 submissions, mean 1.7 / 3"
    histogram_at = lines.index("autograded score histogram:")
    mistakes_at = lines.index("most frequent mistakes (share of the attempts):")
    failing = lines[
        lines.index("tests failed most often (wrong, not attempted):") + 1 : mistakes_at
    ]
    assert [line.split() for line in failing] == [["1", "1", "test_a"], ["1", "0", "test_b"]]
    named = lines[mistakes_at + 1 : histogram_at]
    assert named[0].split() == "50% (1/2) test_a: x: expected 1, got ... -- off by one.".split()
    assert "(no message recorded)" in named[1] and "33% (1/3)" in named[1]
    histogram = lines[histogram_at + 1 :]
    counts = [int(line.split()[-1]) for line in histogram]
    assert sum(counts) == len(results), histogram  # every student in exactly one bin
    assert counts[0] == 1 and counts[-1] == 1  # carol (0) first bin, alice (3 / 3) last bin
    waiting = ManualGrade(auto_score=None, manual_score=None, max_score=4, needs_manual_grade=True)
    done = ManualGrade(auto_score=None, manual_score=3.0, max_score=4, needs_manual_grade=False)
    monkeypatch.setattr(
        reports,
        "manual_results",
        lambda root, assignment: {
            "alice": {"essay": waiting},
            "bob": {"essay": done},
            "carol": {"essay": waiting},
        },
    )
    assert (
        "written answers to grade by hand (formgrader): 2 submissions"
        in reports.class_report(tmp_path, "02_metrics").splitlines()
    )
    monkeypatch.setattr(reports, "test_results", lambda root, assignment: {})
    assert reports.class_report(tmp_path, "02_metrics") == "02_metrics: no submissions"


# --- what to re-teach: mistakes, goals, late and pending --------------------------------


def test_gradebook_readers_of_attempts_and_verdicts(course):
    assert gradebook.exercise_cells(course, A1) == {
        name: sorted(cells, key=[c for c, _ in A1_LAYOUT].index) for name, cells in EXERCISE.items()
    }
    unchanged = gradebook.unanswered(course, A1)
    assert {s: cells for s, cells in unchanged.items() if cells} == UNCHANGED
    assert gradebook.verdict_messages(course, A1) == {**MESSAGES, "dee": {}}
    assert gradebook.verdict_messages(course, A2) == {"fay": {}, A2_UNRECORDED: {}}


def test_page_mistakes_by_name(page):
    _, parsed = page
    rows = parsed.tables[f"mistakes-{A1}"]
    assert rows[0] == [
        "test cell",
        "share of attempts",
        "students",
        "what failed",
        "likely mistake",
    ]
    got = {}
    for test, share, students, text, hint in rows[1:]:
        count, attempts = map(int, students.split(" / "))
        got.setdefault(test, []).append((count / attempts, count, text, hint or None))
        assert share == f"{count / attempts * 100:.0f} %"
    assert set(got) == set(MISTAKES)
    for test, want in MISTAKES.items():
        assert [(pytest.approx(a), b, c, d) for a, b, c, d in want] == got[test], test


def test_page_escapes_student_text(page):
    text, _ = page
    assert HOSTILE not in text and "<script" not in text and "onerror=alert" not in text
    assert "printed by the student" not in text  # only the verdicts are read
    assert "ValueError" in text  # the mistake is shown, the student's message cut off


def test_page_goals_by_mastery(page):
    _, parsed = page
    rows = parsed.tables["goals-table"]
    assert rows[0][:6] == [
        "goal",
        "the student can",
        "points",
        "class mean",
        "mean share",
        "at full marks",
    ]
    shown = {row[0]: row for row in rows[1:]}
    assert list(shown) == ["5.0.1", "5.0.2", "5.1", "5.3"]  # the course's order
    students = len(A1_SCORES) + len(A2_GRADED) + 1
    for code, (points, mean, full) in GOALS_BY_HAND.items():
        row = shown[code]
        assert float(row[2]) == points, code
        assert float(row[3]) == pytest.approx(mean, abs=5e-3), code
        assert row[4] == f"{mean / points * 100:.0f} %", code
        assert row[5] == f"{full / students * 100:.0f} %", code
        carriers = {
            f"{a}: {c}" for a, cells in GOAL_MAP.items() for c, g in cells.items() if code in g
        }
        assert set(row[6].split(", ")) == carriers, code
        assert row[1] == goals.GOALS[code]


def test_page_students_by_goal_flags_who_falls_behind(page):
    _, parsed = page
    rows = parsed.tables["student-goals"]
    assert rows[0] == ["student", "goals behind", "5.0.1", "5.0.2", "5.1", "5.3"]
    behind = {row[0]: int(row[1]) for row in rows[1:]}
    assert behind == BEHIND_BY_HAND
    assert [row[0] for row in rows[1:]] == sorted(behind, key=lambda s: (-behind[s], s))
    ben = {
        code: cell
        for code, cell in zip(rows[0][2:], rows[[r[0] for r in rows].index("ben")][2:], strict=True)
    }
    assert ben == {"5.0.1": "67 %", "5.0.2": "50 %", "5.1": "0 % !", "5.3": "67 %"}


def test_page_late_and_extensions(page):
    _, parsed = page
    rows = parsed.tables["late-table"]
    assert rows[0] == [
        "student",
        "assignment",
        "submitted",
        "due",
        "late by",
        "score",
        "penalty",
        "after",
    ]
    shown = {row[0]: row for row in rows[1:]}
    assert set(shown) == set(LATE_BY_HAND)
    assert shown["ben"][4] == "1 h" and shown["cai"][4] == "1 d 30 min"
    for student, (_, penalty) in LATE_BY_HAND.items():
        score = float(shown[student][5])
        assert float(shown[student][6]) == pytest.approx(penalty), student
        assert float(shown[student][7]) == pytest.approx(score - penalty), student
    assert shown["cai"][3] == "2027-01-17 12:00 UTC"  # her own due date
    assert [row[0] for row in rows[1:]] == ["cai", "ben"]  # latest first
    ext = {row[0]: row for row in parsed.tables["extensions-table"][1:]}
    assert set(ext) == {s for s, (_, e) in SUBMITTED.items() if e}
    assert ext["dee"][3] == "1 d" and ext["dee"][5] == "-" and ext["cai"][3] == "2 d"


def test_late_numbers_are_the_gradebook_and_policy(course):
    rows = {r.student: r for r in gradebook.lateness(course) if r.assignment == A1}
    for student, (after, extension) in SUBMITTED.items():
        row = rows[student]
        assert row.extension == extension
        want_late = max(0.0, (after - (extension or datetime.timedelta())).total_seconds())
        assert row.seconds_late == pytest.approx(want_late), student
        assert row.penalty == pytest.approx(LATE_BY_HAND.get(student, (0, 0.0))[1]), student


def test_text_report_counts_apart_and_names_mistakes(course):
    lines = reports.class_report(course, A1).splitlines()
    at = lines.index("tests failed most often (wrong, not attempted):")
    failing = {}
    for line in lines[at + 1 :]:
        if not line.startswith("  "):
            break
        wrong, empty, name = line.split()
        failing[name] = (int(wrong), int(empty))
    want = expected_items(A1_SCORES, A1_TESTS)
    for name, (failed, _, _) in want.items():
        empty = sum((s, name) in NOT_ATTEMPTED for s in A1_SCORES)
        if failed:
            assert failing[name] == (failed - empty, empty), name
    named = lines[lines.index("most frequent mistakes (share of the attempts):") + 1]
    assert named.split()[:3] == ["67%", "(2/3)", "test_d:"] and "count both ids." in named
    assert "of which graded by hand, then changed and flagged again: 1" in "\n".join(lines)


def test_every_graded_cell_of_the_course_report_has_goals(tmp_path):
    """The course's own mapping covers the graded cells of the released notebooks, so the
    real class report has no unmapped cell (goals.py's own test checks source/)."""
    import json

    for path in sorted((ROOT / "release").glob("*/*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade"):
                assert goals.goals_of(path.parent.name, meta["grade_id"]), (path, meta)
