"""Reports of the gradebook: the text score table and class report, and an HTML class report.

Every number comes from the gradebook readers of :mod:`.gradebook` (``scores``,
``test_results``, ``manual_results``) through the pure functions of this module
(:func:`totals`, :func:`max_total`, :func:`failure_counts`, :func:`item_analysis`, ...);
the text and the HTML renderers only format what those functions return, so the terminal
and the page cannot disagree.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .gradebook import (
    ManualGrade,
    NotebookScore,
    manual_results,
    scores,
    test_results,
    unrecorded_notebooks,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: ``{student: {test grade_id: (score, max_score)}}``, as :func:`.gradebook.test_results`.
Results = Mapping[str, Mapping[str, tuple[float, float]]]

UNDEFINED = "\u2013"  # en dash: shown where a discrimination is undefined


# ------------------------------------------------------------------------ the numbers


def full_points(score: float, max_score: float) -> bool:
    """Whether a test got its full points (the one rule of "passed" in every report)."""
    return not score < max_score


def totals(results: Results) -> dict[str, float]:
    """``{student: autograded total}``: the sum of the scores of the student's tests."""
    return {student: sum(s for s, _ in per.values()) for student, per in results.items()}


def max_total(results: Results) -> float:
    """The autograded maximum of the assignment: the sum of every test's ``max_score``."""
    maxima: dict[str, float] = {}
    for per in results.values():
        for name, (_, max_score) in per.items():
            maxima[name] = max_score
    return sum(maxima.values())


def failure_counts(results: Results) -> dict[str, int]:
    """``{test: number of submissions without full points}``, every test (0 included)."""
    counts: dict[str, int] = {}
    for per in results.values():
        for name, (score, max_score) in per.items():
            counts[name] = counts.get(name, 0) + (not full_points(score, max_score))
    return counts


def point_biserial(flags: Sequence[bool], values: Sequence[float]) -> float | None:
    """Pearson correlation between a 0/1 variable and a numeric one (the point-biserial).

    ``None`` when undefined: fewer than two pairs, or either variable constant.
    """
    n = len(flags)
    if n != len(values):
        raise ValueError(f"{n} flags but {len(values)} values")
    if n < 2:
        return None
    xs = [1.0 if f else 0.0 for f in flags]
    mx, my = sum(xs) / n, math.fsum(values) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in values)
    # Totals are sums of floats: equal totals may differ in the last bit. Treat a spread
    # that small as none at all, rather than correlating rounding noise.
    if sxx == 0 or syy <= 1e-18 * max(1.0, my * my) * n:
        return None
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, values, strict=True))
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


@dataclass(frozen=True)
class Item:
    """Item analysis of one autograded test cell."""

    name: str
    max_score: float
    students: int  # submissions that have this test
    full: int  # of which with full points
    discrimination: float | None  # point-biserial with the rest score; None if undefined

    @property
    def failed(self) -> int:
        """Submissions without full points on this test."""
        return self.students - self.full

    @property
    def difficulty(self) -> float:
        """Proportion of students with full points (1.0: everyone passed)."""
        return self.full / self.students

    @property
    def failure_rate(self) -> float:
        return self.failed / self.students


def item_analysis(results: Results) -> list[Item]:
    """Difficulty and discrimination of every test, hardest first (then by name).

    Discrimination is the point-biserial correlation between "full points on this test"
    and the student's total on the *other* tests (the total minus this test's score), so
    that a test is not correlated with itself.
    """
    total = totals(results)
    flags: dict[str, list[bool]] = {}
    rest: dict[str, list[float]] = {}
    maxima: dict[str, float] = {}
    for student, per in results.items():
        for name, (score, max_score) in per.items():
            flags.setdefault(name, []).append(full_points(score, max_score))
            rest.setdefault(name, []).append(total[student] - score)
            maxima[name] = max_score
    items = [
        Item(
            name=name,
            max_score=maxima[name],
            students=len(flags[name]),
            full=sum(flags[name]),
            discrimination=point_biserial(flags[name], rest[name]),
        )
        for name in flags
    ]
    return sorted(items, key=lambda item: (item.difficulty, item.name))


def waiting_answers(manual: Mapping[str, Mapping[str, ManualGrade]]) -> dict[str, list[str]]:
    """``{student: [written answers still to grade by hand]}`` (students with none left out)."""
    out = {}
    for student, per in sorted(manual.items()):
        names = sorted(name for name, grade in per.items() if grade.needs_manual_grade)
        if names:
            out[student] = names
    return out


@dataclass(frozen=True)
class AssignmentSummary:
    """Everything the HTML report shows about one assignment."""

    name: str
    totals: dict[str, float]
    max_total: float
    items: list[Item]
    waiting: dict[str, list[str]]  # written answers to grade by hand
    unrecorded: dict[str, list[str]]  # notebooks without a recorded autograde

    @property
    def submissions(self) -> int:
        return len(self.totals)

    @property
    def mean(self) -> float:
        return sum(self.totals.values()) / len(self.totals)


def summarize(
    name: str,
    results: Results,
    manual: Mapping[str, Mapping[str, ManualGrade]],
    unrecorded: Mapping[str, list[str]],
) -> AssignmentSummary:
    """Gather the numbers of one assignment (a pure function of the gradebook's readings)."""
    return AssignmentSummary(
        name=name,
        totals=totals(results),
        max_total=max_total(results),
        items=item_analysis(results),
        waiting=waiting_answers(manual),
        unrecorded=dict(unrecorded),
    )


# ------------------------------------------------------------------------ text reports


def _cell_text(row: NotebookScore | None) -> str:
    if row is None:
        return "-"
    marks = (" *" if row.needs_manual else "") + (" L" if row.late_penalty > 0 else "")
    return f"{row.score:g} / {row.max_score:g}{marks}"


def _score_grid(
    rows: list[NotebookScore],
) -> tuple[list[str], list[str], dict[tuple[str, str], NotebookScore]]:
    """Notebooks (columns), students (rows) and ``{(student, notebook): row}``."""
    notebooks = sorted({r.notebook for r in rows})
    students = sorted({r.student for r in rows})
    return notebooks, students, {(r.student, r.notebook): r for r in rows}


def score_table(rows: list[NotebookScore]) -> str:
    """A text table student x notebook with ``score / max``."""
    notebooks, students, cell = _score_grid(rows)
    width = max([len("student"), *map(len, students)]) + 2
    cols = [max(len(n), 12) + 2 for n in notebooks]
    header = "".join(n.ljust(c) for n, c in zip(notebooks, cols, strict=True))
    lines = ["student".ljust(width) + header]
    for s in students:
        parts = [
            _cell_text(cell.get((s, n))).ljust(c) for n, c in zip(notebooks, cols, strict=True)
        ]
        lines.append(s.ljust(width) + "".join(parts))
    if any(r.needs_manual for r in rows):
        lines.append("* needs manual grading")
    if any(r.late_penalty > 0 for r in rows):
        lines.append("L late: the score shown is after the late penalty")
    return "\n".join(lines)


def class_report(root: Path, assignment: str) -> str:
    """Which tests fail most, and a histogram of total scores."""
    results = test_results(root, assignment)
    if not results:
        return f"{assignment}: no submissions"
    total = list(totals(results).values())
    top = max_total(results)
    lines = [
        f"{assignment}: {len(results)} submissions, mean {sum(total) / len(total):.1f} / {top:g}",
        "tests failed most often:",
    ]
    fails = {name: count for name, count in failure_counts(results).items() if count}
    for name, count in sorted(fails.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
        lines.append(f"  {count:4d}  {name}")
    waiting = waiting_answers(manual_results(root, assignment))
    if waiting:
        lines.append(f"written answers to grade by hand (formgrader): {len(waiting)} submissions")
    lines.append("autograded score histogram:")
    bins = 5
    for b in range(bins):
        lo, hi = top * b / bins, top * (b + 1) / bins
        n = sum(1 for t in total if lo <= t < hi or (b == bins - 1 and t == hi))
        lines.append(f"  {lo:5.1f}-{hi:5.1f} {'#' * n} {n}")
    return "\n".join(lines)


# ------------------------------------------------------------------------ figures


def score_figure(summary: AssignmentSummary) -> Figure:
    """Histogram of the autograded totals, the maximum and the mean marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = fig.add_subplot()
    values = list(summary.totals.values())
    hi = max([summary.max_total, *values]) or 1.0
    if hi <= 40 and all(float(v).is_integer() for v in [hi, *values]):
        edges = [k - 0.5 for k in range(int(hi) + 2)]  # whole points: one bar per score
    else:
        edges = [hi * k / 20 for k in range(21)]
    ax.hist(values, bins=edges, color="#4c72b0", edgecolor="white")
    top = ax.axvline(summary.max_total, color="#c44e52", linestyle="--", linewidth=2)
    mean = ax.axvline(summary.mean, color="#55a868", linestyle=":", linewidth=2)
    ax.legend(
        handles=[top, mean],
        labels=[f"max {summary.max_total:g}", f"mean {summary.mean:.2f}"],
        loc="best",
        frameon=False,
    )
    ax.set_xlabel("autograded score")
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{summary.name}: autograded scores ({summary.submissions} submissions)")
    return fig


def failure_figure(summary: AssignmentSummary) -> Figure:
    """Horizontal bars: the share of submissions without full points, per test cell."""
    from matplotlib.figure import Figure

    items = summary.items  # hardest first: drawn bottom-up, so reversed to put it on top
    fig = Figure(figsize=(6.4, 1.2 + 0.28 * len(items)), layout="constrained")
    ax = fig.add_subplot()
    shown = list(reversed(items))
    bars = ax.barh(
        [item.name for item in shown], [item.failure_rate for item in shown], color="#c44e52"
    )
    ax.bar_label(bars, labels=[f"{item.failed}/{item.students}" for item in shown], padding=3)
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("share of submissions without full points")
    ax.set_title(f"{summary.name}: failure rate per test cell")
    return fig


def _png(fig: Figure) -> str:
    """The figure as a base64 PNG (rendered by Agg; no window, no pyplot state)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# ------------------------------------------------------------------------ HTML

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; font-size: 0.92em; }
.warn { background: #fff4e5; border-left: 4px solid #e69500; padding: 0.4em 0.8em; }
section { border-top: 2px solid #ddd; margin-top: 2em; }
img { max-width: 100%; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return UNDEFINED
    return f"{round(value, digits) + 0.0:.{digits}f}"  # never "-0.00"


def _score_table_html(rows: list[NotebookScore]) -> str:
    notebooks, students, cell = _score_grid(rows)
    out = ['<table id="scores">', "<tr><th>student</th>"]
    out += [f"<th>{_e(n)}</th>" for n in notebooks]
    out.append("</tr>")
    for s in students:
        out.append(f"<tr><th>{_e(s)}</th>")
        out += [f'<td class="num">{_e(_cell_text(cell.get((s, n))))}</td>' for n in notebooks]
        out.append("</tr>")
    out.append("</table>")
    if any(r.needs_manual for r in rows):
        out.append(
            '<p class="note">* needs manual grading: a written answer waits in formgrader, '
            "or nbgrader did not record the notebook's autograde (see each assignment).</p>"
        )
    return "\n".join(out)


def _student_list(ident: str, entries: Mapping[str, list[str]]) -> str:
    lines = [f'<ul id="{_e(ident)}">']
    for student, names in entries.items():
        lines.append(f"<li><b>{_e(student)}</b>: {_e(', '.join(names))}</li>")
    lines.append("</ul>")
    return "\n".join(lines)


def _assignment_html(summary: AssignmentSummary) -> str:
    a = _e(summary.name)
    out = [f'<section id="assignment-{a}">', f"<h2>{a}</h2>"]
    out.append(
        f'<table id="summary-{a}">'
        f'<tr><th>submissions</th><td class="num">{summary.submissions}</td></tr>'
        f'<tr><th>mean autograded score</th><td class="num">{summary.mean:.2f}</td></tr>'
        f'<tr><th>maximum</th><td class="num">{summary.max_total:g}</td></tr>'
        "</table>"
    )
    if summary.unrecorded:
        out.append(
            f'<div class="warn"><h3>Needs review: autograde not recorded '
            f"({len(summary.unrecorded)})</h3>"
            "<p>These notebooks have test cells without any score in the gradebook: nbgrader "
            "created the submission but did not save its autograde (it failed, or the "
            "notebook was not submitted). They count 0 in the scores, the figures and the "
            "item analysis below. Look at <code>make autograde</code>'s report and "
            "regrade them.</p>"
        )
        out.append(_student_list(f"review-{summary.name}", summary.unrecorded))
        out.append("</div>")
    out.append(f"<h3>Written answers to grade by hand ({len(summary.waiting)})</h3>")
    if summary.waiting:
        out.append(
            '<p class="note">Answers still marked <i>needs manual grade</i> (formgrader).</p>'
        )
        out.append(_student_list(f"manual-{summary.name}", summary.waiting))
    else:
        out.append('<p class="note">None waiting.</p>')
    if not summary.items:
        out.append('<p class="note">No autograded test cells.</p></section>')
        return "\n".join(out)
    out.append("<h3>Score distribution</h3>")
    out.append(
        f'<figure><img src="data:image/png;base64,{_png(score_figure(summary))}" '
        f'alt="histogram of the autograded scores of {a}">'
        "<figcaption>Autograded total per submission (written answers not included); "
        "dashed: the maximum, dotted: the mean.</figcaption></figure>"
    )
    out.append("<h3>Failure rate per test cell</h3>")
    out.append(
        f'<figure><img src="data:image/png;base64,{_png(failure_figure(summary))}" '
        f'alt="failure rate per test cell of {a}">'
        "<figcaption>Share of submissions without full points on each test, most failed "
        "on top; the label is failed / submissions.</figcaption></figure>"
    )
    out.append("<h3>Item analysis</h3>")
    out.append(
        '<p class="note"><b>Difficulty</b> is the proportion of students with full points '
        "on the test (1.00: everyone passed, low: a hard test). "
        "<b>Discrimination</b> is the point-biserial correlation between passing the test "
        "and the total score on the <i>other</i> tests (near 1: the students who do well "
        "overall pass it; near 0 or negative: the test does not separate them, check it); "
        f"{UNDEFINED} when undefined, i.e. everyone passed, everyone failed, or the other "
        "tests' totals are all equal.</p>"
    )
    out.append(
        f'<table id="items-{a}"><tr><th>test cell</th><th>points</th><th>failed</th>'
        "<th>difficulty</th><th>discrimination</th></tr>"
    )
    for item in summary.items:
        out.append(
            f"<tr><td>{_e(item.name)}</td><td class='num'>{item.max_score:g}</td>"
            f"<td class='num'>{item.failed} / {item.students}</td>"
            f"<td class='num'>{_fmt(item.difficulty)}</td>"
            f"<td class='num'>{_fmt(item.discrimination)}</td></tr>"
        )
    out.append("</table></section>")
    return "\n".join(out)


def render_class_report(rows: list[NotebookScore], summaries: list[AssignmentSummary]) -> str:
    """The HTML page of the class report (pure: no gradebook access)."""
    stamp = time.strftime("%Y-%m-%d %H:%M")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Class report</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Class report</h1>",
        f'<p class="note">Written by <code>make grades</code> on {_e(stamp)} from the '
        "gradebook. Scores are the gradebook's (the same as in <code>grades.csv</code>); "
        "the statistics of each assignment use its autograded test cells only.</p>",
        "<h2>Scores</h2>",
        _score_table_html(rows) if rows else '<p class="note">No submissions.</p>',
    ]
    parts += [_assignment_html(s) for s in summaries]
    parts.append(
        '<section id="about"><h2>What this page knows</h2><p class="note">'
        "Only what the gradebook holds. <i>Written answers to grade by hand</i> are answers "
        "whose grade is marked <i>needs manual grade</i>. <i>Needs review</i> lists notebooks "
        "whose test cells have no score at all: nbgrader created the submission but its "
        "autograde was not recorded. The grading engine's own verdicts, timings and failure "
        "reasons are not in the gradebook (see the report of <code>make autograde</code>), "
        "and a regrade that failed after an earlier successful one leaves the earlier scores "
        "in the gradebook, so it does not show here.</p></section>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_class_report(root: Path, path: Path) -> Path:
    """Write the HTML class report of the course in ``root`` to ``path`` (one file)."""
    rows = scores(root)
    summaries = []
    for name in sorted({r.assignment for r in rows}):
        results = test_results(root, name)
        if results:
            summaries.append(
                summarize(
                    name, results, manual_results(root, name), unrecorded_notebooks(root, name)
                )
            )
    page = render_class_report(rows, summaries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
