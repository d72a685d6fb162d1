"""Text reports of the gradebook: the score table and a per-assignment class report."""

from __future__ import annotations

from pathlib import Path

from .gradebook import NotebookScore, manual_results, test_results


def score_table(rows: list[NotebookScore]) -> str:
    """A text table student x notebook with ``score / max``."""
    notebooks = sorted({r.notebook for r in rows})
    students = sorted({r.student for r in rows})
    cell = {(r.student, r.notebook): r for r in rows}
    width = max([len("student"), *map(len, students)]) + 2
    cols = [max(len(n), 12) + 2 for n in notebooks]
    header = "".join(n.ljust(c) for n, c in zip(notebooks, cols, strict=True))
    lines = ["student".ljust(width) + header]
    for s in students:
        parts = []
        for n, c in zip(notebooks, cols, strict=True):
            r = cell.get((s, n))
            text = (
                "-"
                if r is None
                else f"{r.score:g} / {r.max_score:g}" + (" *" if r.needs_manual else "")
            )
            parts.append(text.ljust(c))
        lines.append(s.ljust(width) + "".join(parts))
    if any(r.needs_manual for r in rows):
        lines.append("* needs manual grading")
    return "\n".join(lines)


def class_report(root: Path, assignment: str) -> str:
    """Which tests fail most, and a histogram of total scores."""
    results = test_results(root, assignment)
    if not results:
        return f"{assignment}: no submissions"
    fails: dict[str, int] = {}
    totals = []
    for per in results.values():
        totals.append(sum(s for s, _ in per.values()))
        for name, (score, max_score) in per.items():
            if score < max_score:
                fails[name] = fails.get(name, 0) + 1
    max_total = sum(m for _, m in next(iter(results.values())).values())
    lines = [
        f"{assignment}: {len(results)} submissions, mean {sum(totals) / len(totals):.1f} "
        f"/ {max_total:g}",
        "tests failed most often:",
    ]
    for name, count in sorted(fails.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
        lines.append(f"  {count:4d}  {name}")
    waiting = sorted(
        student
        for student, per in manual_results(root, assignment).items()
        if any(g.needs_manual_grade for g in per.values())
    )
    if waiting:
        lines.append(f"written answers to grade by hand (formgrader): {len(waiting)} submissions")
    lines.append("autograded score histogram:")
    bins = 5
    for b in range(bins):
        lo, hi = max_total * b / bins, max_total * (b + 1) / bins
        n = sum(1 for t in totals if lo <= t < hi or (b == bins - 1 and t == hi))
        lines.append(f"  {lo:5.1f}-{hi:5.1f} {'#' * n} {n}")
    return "\n".join(lines)
