"""Reports of the gradebook: the text score table and class report, and an HTML class report.

Every number comes from the readers of :mod:`.gradebook` (``scores``, ``test_results``,
``manual_results``, ``unanswered``, ``exercise_cells``, ``verdict_messages``, ``lateness``)
through the pure functions of this module (:func:`totals`, :func:`max_total`,
:func:`failure_counts`, :func:`item_analysis`, :func:`mistakes`, :func:`goal_mastery`, ...);
the text and the HTML renderers only format what those functions return, so the terminal
and the page cannot disagree.

The report answers "what do I re-teach": a failed test whose exercise the student left as
released (*not attempted*) is counted apart from a *wrong* answer everywhere; the most
frequent failure messages of each test name the mistakes; the goal tables
(:mod:`.goals`) say which learning goals the class has not mastered and who falls behind.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import math
import re
import time
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import goals as course_goals
from .gradebook import (
    Lateness,
    ManualGrade,
    NotebookScore,
    exercise_cells,
    lateness,
    manual_results,
    scores,
    test_results,
    unanswered,
    unrecorded_notebooks,
    verdict_messages,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: ``{student: {test grade_id: (score, max_score)}}``, as :func:`.gradebook.test_results`.
Results = Mapping[str, Mapping[str, tuple[float, float]]]

#: ``{student: {test cells failed with the exercise left as released}}``.
Blank = Mapping[str, AbstractSet[str]]
#: ``{notebook: {grade_id: goal codes}}``, as :data:`.goals.CELL_GOALS`.
GoalMap = Mapping[str, Mapping[str, Sequence[str]]]

UNDEFINED = "\u2013"  # en dash: shown where a discrimination is undefined
BEHIND = 0.5  # a student below this share of a goal's points is flagged as falling behind
TOP_MISTAKES = 3  # failure messages shown per test


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


def not_attempted(
    results: Results,
    blank_cells: Mapping[str, AbstractSet[str]],
    exercises: Mapping[str, Sequence[str]],
) -> dict[str, set[str]]:
    """``{student: {tests failed while their exercise is as released}}``.

    ``blank_cells`` is :func:`.gradebook.unanswered` (solution cells left as released),
    ``exercises`` :func:`.gradebook.exercise_cells` (the solution cells each test checks). A
    test counts as not attempted when the student lost points on it and *every* solution cell
    of its exercise is untouched; a test whose exercise is unknown counts as attempted.
    """
    out: dict[str, set[str]] = {}
    for student, per in results.items():
        untouched = blank_cells.get(student, set())
        out[student] = {
            name
            for name, (score, max_score) in per.items()
            if not full_points(score, max_score)
            and exercises.get(name)
            and all(cell in untouched for cell in exercises[name])
        }
    return out


def failure_split(results: Results, blank: Blank) -> dict[str, tuple[int, int]]:
    """``{test: (wrong, not attempted)}``: the failures of each test, counted apart."""
    out: dict[str, tuple[int, int]] = {}
    for student, per in results.items():
        for name, (score, max_score) in per.items():
            wrong, empty = out.get(name, (0, 0))
            if not full_points(score, max_score):
                if name in blank.get(student, ()):
                    empty += 1
                else:
                    wrong += 1
            out[name] = (wrong, empty)
    return out


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
    not_attempted: int = 0  # failed with the exercise left as released

    @property
    def failed(self) -> int:
        """Submissions without full points on this test."""
        return self.students - self.full

    @property
    def wrong(self) -> int:
        """Failed although the student wrote something."""
        return self.failed - self.not_attempted

    @property
    def attempts(self) -> int:
        """Submissions that attempted the exercise (or passed the test)."""
        return self.students - self.not_attempted

    @property
    def wrong_rate(self) -> float | None:
        """Share of the attempts that are wrong (None: nobody attempted)."""
        return self.wrong / self.attempts if self.attempts else None

    @property
    def difficulty(self) -> float:
        """Proportion of students with full points (1.0: everyone passed)."""
        return self.full / self.students

    @property
    def failure_rate(self) -> float:
        return self.failed / self.students


def item_analysis(results: Results, blank: Blank | None = None) -> list[Item]:
    """Difficulty and discrimination of every test, hardest first (then by name).

    Discrimination is the point-biserial correlation between "full points on this test"
    and the student's total on the *other* tests (the total minus this test's score), so
    that a test is not correlated with itself. ``blank`` (:func:`not_attempted`) counts the
    failures of students who left the exercise as released apart.
    """
    split = failure_split(results, blank or {})
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
            not_attempted=split[name][1],
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


def reflagged_answers(manual: Mapping[str, Mapping[str, ManualGrade]]) -> dict[str, list[str]]:
    """``{student: [written answers graded by hand, then flagged again by a regrade]}``: the
    answer changed since a human graded it; its earlier score counts until it is graded again."""
    out = {}
    for student, per in sorted(manual.items()):
        names = sorted(
            name
            for name, grade in per.items()
            if grade.needs_manual_grade and grade.manual_score is not None
        )
        if names:
            out[student] = names
    return out


# ------------------------------------------------------------------------ mistakes by name

_PREFIX = "hidden check failed: "
_HINT = "\nHint: "
_MAX_TEXT = 240


def one_line(text: str) -> str:
    """One line of at most ``_MAX_TEXT`` characters, without control characters (a terminal
    shows the text report, and the engine's summary)."""
    text = "".join(ch for ch in text if ch.isprintable() or ch.isspace())
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def mistake_key(message: str) -> tuple[str, str | None]:
    """``(what failed, likely mistake)`` of a verdict message, the same for every student who
    made the same mistake: the first line with the student's own values cut off (after
    "got", the text of an exception), and the judge's hint (after ``Hint:``), if any."""
    text = message.removeprefix(_PREFIX)
    hint = None
    if _HINT in text:
        text, hint = text.split(_HINT, 1)
        hint = one_line(hint) or None
    line = text.split("\n", 1)[0]
    line = re.sub(r"\bgot\b.*$", "got ...", line)
    line = re.sub(r"(?i)(your code raised [A-Za-z_][\w.]*).*$", r"\1", line)
    line = re.sub(r"\((\w+Error|\w+Exception)\b[^)]*\)?.*$", r"(\1)", line)
    return one_line(line), hint


@dataclass(frozen=True)
class Mistake:
    """One failure message of a test, as many students got it."""

    test: str
    text: str  # what failed (the case), students' values cut off
    hint: str | None  # the judge's likely mistake
    count: int  # students whose attempt failed with it
    attempts: int  # students who attempted the exercise

    @property
    def share(self) -> float:
        return self.count / self.attempts if self.attempts else 0.0


def mistakes(
    results: Results,
    blank: Blank,
    messages: Mapping[str, Mapping[str, str]],
    top: int = TOP_MISTAKES,
) -> dict[str, list[Mistake]]:
    """``{test: [the most frequent failure messages]}`` among the attempts (a failure of a
    student who left the exercise as released is not a mistake), most frequent first. A
    failed attempt whose message is not known counts under "(no message recorded)"."""
    counts: dict[str, dict[tuple[str, str | None], int]] = {}
    attempts: dict[str, int] = {}
    for student, per in results.items():
        for name, (score, max_score) in per.items():
            if name in blank.get(student, ()):
                continue
            attempts[name] = attempts.get(name, 0) + 1
            if full_points(score, max_score):
                continue
            message = messages.get(student, {}).get(name)
            key = mistake_key(message) if message else ("(no message recorded)", None)
            per_test = counts.setdefault(name, {})
            per_test[key] = per_test.get(key, 0) + 1
    out = {}
    for name, per_test in sorted(counts.items()):
        ranked = sorted(per_test.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))
        out[name] = [
            Mistake(name, text, hint, count, attempts[name]) for (text, hint), count in ranked[:top]
        ]
    return out


# ------------------------------------------------------------------------ goals by mastery


def graded_cells(results: Results, manual: Mapping[str, Mapping[str, ManualGrade]]) -> Results:
    """Autograded tests and written answers together: ``{student: {cell: (score, max)}}``
    (a written answer scores its manual score, else nbgrader's, else 0)."""
    out: dict[str, dict[str, tuple[float, float]]] = {s: dict(per) for s, per in results.items()}
    for student, per in manual.items():
        for name, grade in per.items():
            score = grade.manual_score if grade.manual_score is not None else grade.auto_score
            out.setdefault(student, {})[name] = (float(score or 0.0), grade.max_score)
    return out


@dataclass(frozen=True)
class GoalRow:
    """One learning goal across the assignments in the gradebook."""

    code: str
    title: str
    points: float  # available to each student
    mean: float  # class mean of the points earned
    full: int  # students with every point of the goal
    students: int
    exercises: tuple[str, ...]  # "assignment: cell" that carry it

    @property
    def full_share(self) -> float:
        return self.full / self.students if self.students else 0.0

    @property
    def mean_share(self) -> float:
        return self.mean / self.points if self.points else 0.0


@dataclass(frozen=True)
class GoalMastery:
    rows: list[GoalRow]
    #: ``{student: {goal: (earned, available)}}``
    per_student: dict[str, dict[str, tuple[float, float]]]
    unmapped: dict[str, list[str]] = field(default_factory=dict)  # graded cells without goals

    def behind(self, student: str, threshold: float = BEHIND) -> list[str]:
        """The goals where ``student`` has less than ``threshold`` of the points."""
        return [
            code
            for code, (earned, available) in self.per_student[student].items()
            if available and earned / available < threshold
        ]


def goal_mastery(
    graded: Mapping[str, Results],
    mapping: GoalMap | None = None,
    titles: Mapping[str, str] | None = None,
) -> GoalMastery:
    """Points, class mean and share at full marks per goal, and each student's points per
    goal, over the assignments ``graded`` (``{assignment: {student: {cell: (score, max)}}}``,
    see :func:`graded_cells`). ``mapping`` is ``{assignment: {cell: goals}}`` (default:
    :data:`.goals.CELL_GOALS`). A student who did not hand in an assignment earns 0 of its
    points (every student of any assignment counts for every goal)."""
    mapping = course_goals.CELL_GOALS if mapping is None else mapping
    titles = course_goals.GOALS if titles is None else titles
    students = sorted({s for results in graded.values() for s in results})
    available: dict[str, float] = {}
    exercises: dict[str, list[str]] = {}
    earned = {s: {} for s in students}
    unmapped: dict[str, list[str]] = {}
    for assignment, results in sorted(graded.items()):
        maxima: dict[str, float] = {}
        for per in results.values():
            for name, (_, max_score) in per.items():
                maxima[name] = max_score
        for name, max_score in sorted(maxima.items()):
            codes = tuple(mapping.get(assignment, {}).get(name, ()))
            if not codes:
                unmapped.setdefault(assignment, []).append(name)
            for code in codes:
                available[code] = available.get(code, 0.0) + max_score
                exercises.setdefault(code, []).append(f"{assignment}: {name}")
                for student in students:
                    score = results.get(student, {}).get(name, (0.0, max_score))[0]
                    earned[student][code] = earned[student].get(code, 0.0) + score
    order = sorted(available, key=course_goals.goal_order)
    rows = []
    for code in order:
        points = available[code]
        got = [earned[s].get(code, 0.0) for s in students]
        rows.append(
            GoalRow(
                code=code,
                title=titles.get(code, ""),
                points=points,
                mean=math.fsum(got) / len(got) if got else 0.0,
                full=sum(1 for g in got if not g < points - 1e-9),
                students=len(got),
                exercises=tuple(exercises[code]),
            )
        )
    per_student = {
        s: {code: (earned[s].get(code, 0.0), available[code]) for code in order} for s in students
    }
    return GoalMastery(rows, per_student, unmapped)


@dataclass(frozen=True)
class AssignmentSummary:
    """Everything the HTML report shows about one assignment."""

    name: str
    totals: dict[str, float]
    max_total: float
    items: list[Item]
    waiting: dict[str, list[str]]  # written answers to grade by hand
    unrecorded: dict[str, list[str]]  # notebooks without a recorded autograde
    reflagged: dict[str, list[str]] = field(default_factory=dict)  # graded, flagged again
    mistakes: dict[str, list[Mistake]] = field(default_factory=dict)

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
    blank: Blank | None = None,
    messages: Mapping[str, Mapping[str, str]] | None = None,
) -> AssignmentSummary:
    """Gather the numbers of one assignment (a pure function of the gradebook's readings)."""
    blank = blank or {}
    reflagged = reflagged_answers(manual)
    waiting = {
        student: [n for n in names if n not in reflagged.get(student, [])]
        for student, names in waiting_answers(manual).items()
    }
    return AssignmentSummary(
        name=name,
        totals=totals(results),
        max_total=max_total(results),
        items=item_analysis(results, blank),
        waiting={student: names for student, names in waiting.items() if names},
        unrecorded=dict(unrecorded),
        reflagged=reflagged,
        mistakes=mistakes(results, blank, messages or {}),
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


def blank_tests(root: Path, assignment: str, results: Results) -> dict[str, set[str]]:
    """:func:`not_attempted` of ``assignment`` from the gradebook and its released notebooks."""
    return not_attempted(results, unanswered(root, assignment), exercise_cells(root, assignment))


def class_report(root: Path, assignment: str) -> str:
    """Which tests fail most (wrong apart from not attempted), the most frequent mistakes,
    and a histogram of total scores."""
    results = test_results(root, assignment)
    if not results:
        return f"{assignment}: no submissions"
    total = list(totals(results).values())
    top = max_total(results)
    lines = [
        f"{assignment}: {len(results)} submissions, mean {sum(total) / len(total):.1f} / {top:g}",
        "tests failed most often (wrong, not attempted):",
    ]
    blank = blank_tests(root, assignment, results)
    split = {name: wb for name, wb in failure_split(results, blank).items() if sum(wb)}
    for name, (wrong, empty) in sorted(split.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[
        :10
    ]:
        lines.append(f"  {wrong:4d} {empty:4d}  {name}")
    found = mistakes(results, blank, verdict_messages(root, assignment), top=1)
    ranked = sorted((m[0] for m in found.values() if m), key=lambda m: (-m.share, -m.count, m.test))
    if ranked:
        lines.append("most frequent mistakes (share of the attempts):")
        for m in ranked[:5]:
            hint = f" -- {m.hint}" if m.hint else ""
            lines.append(f"  {m.share:4.0%} ({m.count}/{m.attempts})  {m.test}: {m.text}{hint}")
    manual = manual_results(root, assignment)
    waiting = waiting_answers(manual)
    if waiting:
        lines.append(f"written answers to grade by hand (formgrader): {len(waiting)} submissions")
    reflagged = reflagged_answers(manual)
    if reflagged:
        lines.append(f"  of which graded by hand, then changed and flagged again: {len(reflagged)}")
    lines.append("autograded score histogram:")
    bins = 5
    for b in range(bins):
        lo, hi = top * b / bins, top * (b + 1) / bins
        n = sum(1 for t in total if lo <= t < hi or (b == bins - 1 and t == hi))
        lines.append(f"  {lo:5.1f}-{hi:5.1f} {'#' * n} {n}")
    return "\n".join(lines)


def late_submissions(rows: Sequence[Lateness]) -> list[Lateness]:
    """The submissions handed in after their due date (the student's own, extension
    included), latest first."""
    return sorted(
        (r for r in rows if r.seconds_late > 0), key=lambda r: (-r.seconds_late, r.student)
    )


def extensions(rows: Sequence[Lateness]) -> list[Lateness]:
    """The submissions whose student has an extension (a due date of her own)."""
    return [r for r in rows if r.extension]


def duration(seconds: float) -> str:
    """``"2 d 3 h 4 min"`` (whole minutes, started minutes count)."""
    minutes = math.ceil(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{mins} min"] * bool(mins)
    return " ".join(parts) or "0 min"


def _when(value: datetime.datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


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
    """Horizontal stacked bars per test cell: the share of submissions with a wrong answer,
    then the share that failed without attempting the exercise (left as released)."""
    from matplotlib.figure import Figure

    items = summary.items  # hardest first: drawn bottom-up, so reversed to put it on top
    fig = Figure(figsize=(6.4, 1.4 + 0.28 * len(items)), layout="constrained")
    ax = fig.add_subplot()
    shown = list(reversed(items))
    names = [item.name for item in shown]
    wrong = [item.wrong / item.students for item in shown]
    empty = [item.not_attempted / item.students for item in shown]
    ax.barh(names, wrong, color="#c44e52", label="wrong")
    bars = ax.barh(names, empty, left=wrong, color="#bbbbbb", label="not attempted")
    ax.bar_label(
        bars,
        labels=[f"{item.wrong} + {item.not_attempted} / {item.students}" for item in shown],
        padding=3,
    )
    ax.set_xlim(0, 1.3)
    ax.set_xlabel("share of submissions without full points")
    ax.legend(loc="lower right", frameon=False)
    ax.set_title(f"{summary.name}: wrong and not attempted, per test cell")
    return fig


def goal_figure(mastery: GoalMastery) -> Figure:
    """Per goal: the class mean share of its points and the share of students at full marks."""
    from matplotlib.figure import Figure

    rows = list(reversed(mastery.rows))  # first goal on top
    fig = Figure(figsize=(6.4, 1.4 + 0.42 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    ys = list(range(len(rows)))
    ax.barh(
        [y + 0.2 for y in ys],
        [r.mean_share for r in rows],
        height=0.4,
        color="#4c72b0",
        label="class mean (share of the points)",
    )
    ax.barh(
        [y - 0.2 for y in ys],
        [r.full_share for r in rows],
        height=0.4,
        color="#55a868",
        label="students at full marks",
    )
    ax.axvline(BEHIND, color="#c44e52", linestyle=":", linewidth=1)
    ax.set_yticks(ys, [r.code for r in rows])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncols=2, frameon=False)
    ax.set_title("Learning goals: mastery of the class")
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
td.behind { background: #fde2e2; }
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
    pending = len(summary.waiting) + len(summary.reflagged)
    out.append(f"<h3>Written answers to grade by hand ({pending})</h3>")
    if summary.waiting:
        out.append(
            '<p class="note">Answers never graded, marked <i>needs manual grade</i> '
            "(formgrader).</p>"
        )
        out.append(_student_list(f"manual-{summary.name}", summary.waiting))
    if summary.reflagged:
        out.append(
            '<p class="note">Graded by hand, then flagged again by a regrade: the student '
            "changed the answer since; the earlier score counts until it is graded again.</p>"
        )
        out.append(_student_list(f"reflagged-{summary.name}", summary.reflagged))
    if not pending:
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
    out.append("<h3>Wrong and not attempted, per test cell</h3>")
    out.append(
        f'<figure><img src="data:image/png;base64,{_png(failure_figure(summary))}" '
        f'alt="wrong and not attempted per test cell of {a}">'
        "<figcaption>Share of submissions without full points on each test, most failed "
        "on top: red, a wrong answer; grey, not attempted (the failure of a student whose "
        "solution cell is still the released one). The label is wrong + not attempted / "
        "submissions.</figcaption></figure>"
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
        "<th>wrong</th><th>not attempted</th><th>wrong / attempts</th>"
        "<th>difficulty</th><th>discrimination</th></tr>"
    )
    for item in summary.items:
        out.append(
            f"<tr><td>{_e(item.name)}</td><td class='num'>{item.max_score:g}</td>"
            f"<td class='num'>{item.failed} / {item.students}</td>"
            f"<td class='num'>{item.wrong}</td><td class='num'>{item.not_attempted}</td>"
            f"<td class='num'>{_fmt(item.wrong_rate)}</td>"
            f"<td class='num'>{_fmt(item.difficulty)}</td>"
            f"<td class='num'>{_fmt(item.discrimination)}</td></tr>"
        )
    out.append("</table>")
    out.append(_mistakes_html(summary))
    out.append("</section>")
    return "\n".join(out)


def _mistakes_html(summary: AssignmentSummary) -> str:
    a = _e(summary.name)
    out = ["<h3>Mistakes by name</h3>"]
    if not summary.mistakes:
        out.append('<p class="note">No attempt failed.</p>')
        return "\n".join(out)
    out.append(
        '<p class="note">For each test, the most frequent failure messages among the '
        "students who attempted the exercise (the case that failed, the students' own values "
        "cut off, and the judge's likely mistake), with how many got it and their share of "
        "the attempts.</p>"
    )
    out.append(
        f'<table id="mistakes-{a}"><tr><th>test cell</th><th>share of attempts</th>'
        "<th>students</th><th>what failed</th><th>likely mistake</th></tr>"
    )
    order = {item.name: i for i, item in enumerate(summary.items)}
    for name in sorted(summary.mistakes, key=lambda n: (order.get(n, 0), n)):
        for m in summary.mistakes[name]:
            out.append(
                f"<tr><td>{_e(m.test)}</td><td class='num'>{m.share * 100:.0f} %</td>"
                f"<td class='num'>{m.count} / {m.attempts}</td><td>{_e(m.text)}</td>"
                f"<td>{_e(m.hint or '')}</td></tr>"
            )
    out.append("</table>")
    return "\n".join(out)


def _goals_html(mastery: GoalMastery) -> str:
    out = ['<section id="goals"><h2>Learning goals by mastery</h2>']
    if mastery.unmapped:
        missing = "; ".join(f"{a}: {', '.join(c)}" for a, c in mastery.unmapped.items())
        out.append(
            '<p class="warn" id="unmapped">Graded cells without goals (add them to '
            f"<code>attention_grader/goals.py</code>): {_e(missing)}</p>"
        )
    if not mastery.rows:
        out.append('<p class="note">No graded cell is mapped to a goal.</p></section>')
        return "\n".join(out)
    out.append(
        '<p class="note">Each graded cell (test cells and written answers) carries the goals '
        "listed in <code>attention_grader/goals.py</code>; a cell with two goals counts "
        "for both. <b>Points</b>: what a student can earn on the goal over the assignments "
        "in the gradebook; a notebook not handed in counts 0. <b>Full marks</b>: the share "
        "of students with every point of it.</p>"
    )
    out.append(
        '<table id="goals-table"><tr><th>goal</th><th>the student can</th><th>points</th>'
        "<th>class mean</th><th>mean share</th><th>at full marks</th><th>exercises</th></tr>"
    )
    for row in mastery.rows:
        out.append(
            f"<tr><td>{_e(row.code)}</td><td>{_e(row.title)}</td>"
            f"<td class='num'>{row.points:g}</td><td class='num'>{row.mean:.2f}</td>"
            f"<td class='num'>{row.mean_share * 100:.0f} %</td>"
            f"<td class='num'>{row.full_share * 100:.0f} %</td>"
            f"<td>{_e(', '.join(row.exercises))}</td></tr>"
        )
    out.append("</table>")
    out.append(
        f'<figure><img src="data:image/png;base64,{_png(goal_figure(mastery))}" '
        'alt="mastery of each learning goal">'
        "<figcaption>Per goal: the class mean as a share of its points, and the share of "
        f"students at full marks; dotted: {BEHIND * 100:.0f} %.</figcaption></figure>"
    )
    codes = [row.code for row in mastery.rows]
    out.append("<h3>Students by goal</h3>")
    out.append(
        '<p class="note">The share of each goal\'s points a student earned; '
        f"<b>!</b> marks less than {BEHIND * 100:.0f} %. Students behind on most goals "
        "first.</p>"
    )
    out.append('<table id="student-goals"><tr><th>student</th><th>goals behind</th>')
    out += [f"<th>{_e(c)}</th>" for c in codes]
    out.append("</tr>")
    students = sorted(mastery.per_student, key=lambda s: (-len(mastery.behind(s)), s))
    for student in students:
        behind = set(mastery.behind(student))
        out.append(f"<tr><th>{_e(student)}</th><td class='num'>{len(behind)}</td>")
        for code in codes:
            earned, available = mastery.per_student[student][code]
            mark = " !" if code in behind else ""
            cls = "num behind" if code in behind else "num"
            out.append(f"<td class='{cls}'>{earned / available * 100:.0f} %{mark}</td>")
        out.append("</tr>")
    out.append("</table></section>")
    return "\n".join(out)


def _late_html(rows: Sequence[Lateness]) -> str:
    out = ['<section id="late"><h2>Late submissions and extensions</h2>']
    late = late_submissions(rows)
    out.append(f"<h3>Late ({len(late)})</h3>")
    if late:
        out.append(
            "<p class=\"note\">After the student's own due date (the assignment's, or her "
            "extension's); the penalty is the late policy's on the current score.</p>"
        )
        out.append(
            '<table id="late-table"><tr><th>student</th><th>assignment</th><th>submitted</th>'
            "<th>due</th><th>late by</th><th>score</th><th>penalty</th><th>after</th></tr>"
        )
        for r in late:
            out.append(
                f"<tr><th>{_e(r.student)}</th><td>{_e(r.assignment)}</td>"
                f"<td>{_when(r.submitted)}</td><td>{_when(r.due)}</td>"
                f"<td>{duration(r.seconds_late)}</td><td class='num'>{r.score:g}</td>"
                f"<td class='num'>{r.penalty:g}</td>"
                f"<td class='num'>{max(0.0, r.score - r.penalty):g}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append('<p class="note">None.</p>')
    granted = extensions(rows)
    out.append(f"<h3>Extensions ({len(granted)})</h3>")
    if granted:
        out.append(
            '<p class="note">Due dates of one student on one assignment, from '
            "<code>[extensions]</code> in <code>schedule.toml</code>.</p>"
        )
        out.append(
            '<table id="extensions-table"><tr><th>student</th><th>assignment</th>'
            "<th>due</th><th>extension</th><th>submitted</th><th>late by</th></tr>"
        )
        for r in granted:
            out.append(
                f"<tr><th>{_e(r.student)}</th><td>{_e(r.assignment)}</td>"
                f"<td>{_when(r.due)}</td><td>{duration(r.extension.total_seconds())}</td>"
                f"<td>{_when(r.submitted)}</td>"
                f"<td>{duration(r.seconds_late) if r.seconds_late > 0 else '-'}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append('<p class="note">None.</p>')
    out.append("</section>")
    return "\n".join(out)


def render_class_report(
    rows: list[NotebookScore],
    summaries: list[AssignmentSummary],
    mastery: GoalMastery | None = None,
    late: Sequence[Lateness] = (),
) -> str:
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
    if mastery is not None:
        parts.append(_goals_html(mastery))
    parts.append(_late_html(late))
    parts.append(
        '<section id="about"><h2>What this page knows</h2><p class="note">'
        "What the gradebook holds, and the failure messages the grader wrote under failed "
        "test cells of the notebooks in <code>autograded/</code> (<i>Mistakes by name</i>; "
        "a test whose notebook is missing there counts as <i>no message recorded</i>). "
        "<i>Not attempted</i>: nbgrader found every solution cell of the test's exercise "
        "unchanged from the released notebook (its <i>No response.</i> comment); which "
        "solution cells an exercise has comes from the order of <code>release/</code>. "
        "<i>Written answers to grade by hand</i> are answers "
        "whose grade is marked <i>needs manual grade</i>. <i>Needs review</i> lists notebooks "
        "whose test cells have no score at all: nbgrader created the submission but its "
        "autograde was not recorded. The grading engine's own verdicts, timings and failure "
        "reasons are not in the gradebook (see the report of <code>make autograde</code>), "
        "and a regrade that failed after an earlier successful one leaves the earlier scores "
        "in the gradebook, so it does not show here.</p></section>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_class_report(root: Path, path: Path, mapping: GoalMap | None = None) -> Path:
    """Write the HTML class report of the course in ``root`` to ``path`` (one file).
    ``mapping``: the cells' goals (default :data:`.goals.CELL_GOALS`)."""
    rows = scores(root)
    summaries = []
    graded: dict[str, Results] = {}
    for name in sorted({r.assignment for r in rows}):
        results = test_results(root, name)
        manual = manual_results(root, name)
        if results:
            summaries.append(
                summarize(
                    name,
                    results,
                    manual,
                    unrecorded_notebooks(root, name),
                    blank=blank_tests(root, name, results),
                    messages=verdict_messages(root, name),
                )
            )
        if results or manual:
            graded[name] = graded_cells(results, manual)
    mastery = goal_mastery(graded, mapping) if graded else None
    page = render_class_report(rows, summaries, mastery, lateness(root))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
