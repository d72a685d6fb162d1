"""Reports of the gradebook: the text score table and class report, and the HTML class report.

The gradebook is built with nbgrader's own API (no notebook runs): a hand-made class whose
difficulty and discrimination values are computed here independently (numpy.corrcoef).
"""

from __future__ import annotations

import base64
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

from attention_grader import cli, gradebook, reports
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
    "ben": (None, None, True),  # changed answer, waiting
    "cai": (0.0, None, False),  # unchanged answer: nbgrader gives 0
    "dee": (None, None, True),  # waiting
}
A2, NB2 = "a2", "nb2"
A2_MAX = 3.0
A2_GRADED = {"fay": 3.0}  # gus submitted, but his autograde was never recorded
A2_UNRECORDED = "gus"


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
        yield root


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
    path = reports.write_class_report(course, course.parent / "out" / "class_report.html")
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


def _summary() -> reports.AssignmentSummary:
    results = {
        s: {name: (score, A1_TESTS[name]) for name, score in per.items()}
        for s, per in A1_SCORES.items()
    }
    return reports.summarize(A1, results, {}, {})


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


def test_failure_figure_bars_are_the_failure_rates_most_failed_on_top():
    summary = _summary()
    ax = reports.failure_figure(summary).axes[0]
    bars = sorted(ax.patches, key=lambda p: -p.get_y())  # top to bottom
    labels = [t.get_text() for t in ax.get_yticklabels()][::-1]
    want = expected_items(A1_SCORES, A1_TESTS)
    rates = {name: failed / len(A1_SCORES) for name, (failed, _, _) in want.items()}
    assert [b.get_width() for b in bars] == pytest.approx([rates[n] for n in labels])
    assert [b.get_width() for b in bars] == sorted((b.get_width() for b in bars), reverse=True)


# --- the HTML page ----------------------------------------------------------------------


def test_page_is_self_contained_with_figures(page):
    text, _ = page
    images = re.findall(re.escape(PNG_IMG) + r'([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 4  # histogram and failure bars for a1 and for a2
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
    assert rows[0] == ["test cell", "points", "failed", "difficulty", "discrimination"]
    shown = {row[0]: row for row in rows[1:]}
    want = expected_items(A1_SCORES, A1_TESTS)
    assert set(shown) == set(want)
    for name, (failed, difficulty, r) in want.items():
        row = shown[name]
        assert float(row[1]) == A1_TESTS[name]
        assert row[2] == f"{failed} / {len(A1_SCORES)}"
        assert _number(row[3]) == pytest.approx(difficulty, abs=5e-3)
        if r is None:
            assert row[4] == reports.UNDEFINED, name
        else:
            assert _number(row[4]) == pytest.approx(r, abs=5e-3), name
    difficulties = [float(row[3]) for row in rows[1:]]
    assert difficulties == sorted(difficulties)  # hardest first, like the bars


def test_page_lists_manual_grading_and_review(page):
    text, parsed = page
    waiting = sorted(s for s, (_, _, needs) in ESSAY.items() if needs)
    assert parsed.lists[f"manual-{A1}"] == [f"{s}: essay" for s in waiting]
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
        if not cols[0].startswith("*")
    }
    html_rows = parsed.tables["scores"]
    assert html_rows[0] == re.split(r"\s{2,}", text_lines[0].strip())
    assert {row[0]: row[1:] for row in html_rows[1:]} == text_table
    ana = sum(A1_SCORES["ana"].values()) + ESSAY["ana"][1]
    assert text_table["ana"] == [f"{ana:g} / {sum(A1_TESTS.values()) + ESSAY_MAX:g}", "-"]
    assert text_table[A2_UNRECORDED][1] == "0 / 3 *"


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
    assert path.read_text(encoding="utf-8").count(PNG_IMG) == 4
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
    report = reports.class_report(tmp_path, "01_tokenization")
    assert "by hand" not in report  # no written answers in this assignment
    lines = report.splitlines()
    assert lines[0] == "01_tokenization: 3 submissions, mean 1.7 / 3"
    histogram_at = lines.index("autograded score histogram:")
    failing = lines[lines.index("tests failed most often:") + 1 : histogram_at]
    assert [line.split() for line in failing] == [["2", "test_a"], ["1", "test_b"]]
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
