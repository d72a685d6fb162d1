"""``course similarity A=...``: submissions of one assignment that share unusually much code.

The solution cells of every graded submission (``autograded/<student>/<assignment>/``, what
nbgrader recorded after the intake) are compared pairwise with copydetect
(https://pypi.org/project/copydetect/), the winnowing fingerprint method of MOSS (Schleimer,
Wilkerson and Aiken, SIGMOD 2003): each submission's code is tokenized by Pygments, names,
strings and comments are normalized away (so renaming variables or rewording comments changes
nothing), hashes of every k-gram of tokens are winnowed into fingerprints, and the share of a
submission's own fingerprints that another submission also has is its similarity. The
fingerprints of the released skeleton (stubs, signatures, docstrings) and of the instructor's
solution are **boilerplate**: code everybody got or is expected to write does not count.

A pair is flagged when one of the two submissions has at least ``threshold`` of its own code in
common with the other; the HTML report shows each flagged pair side by side with the matching
code marked (every character of student code escaped). A flag is a pointer for a human, never
a grade. A submission with too little code of its own (blank, or the instructor's solution)
is listed, not compared.
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .gradebook import notebook_cells

THRESHOLD = 0.5  # flag a pair when one submission shares this much of its own code
NOISE = 25  # copydetect's noise threshold: k-grams of this many (normalized) characters
GUARANTEE = 30  # matches this long are always found (winnowing window = 30 - 25 + 1)
MIN_TOKENS = 60  # fewer fingerprinted characters of its own: not compared
_SUFFIX = "code.py"  # the file name copydetect's lexer guesses the language from


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def solution_code(cells: list[dict]) -> str:
    """The code solution cells of a notebook, in order, each after a ``# <grade_id>`` line."""
    parts = []
    for cell in cells:
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if (
            cell.get("cell_type") == "code"
            and isinstance(meta, dict)
            and meta.get("solution")
            and not meta.get("grade")
        ):
            parts.append(f"# {meta.get('grade_id', '')}\n{_source(cell)}\n")
    return "\n".join(parts)


def submissions(root: Path, assignment: str) -> dict[str, str]:
    """``{student: solution code}`` of the graded submissions of ``assignment``."""
    out = {}
    base = root / "autograded"
    if not base.is_dir():
        return out
    for folder in sorted(base.glob(f"*/{assignment}")):
        if folder.is_symlink() or not folder.is_dir() or folder.parent.is_symlink():
            continue
        code = "\n".join(solution_code(notebook_cells(p)) for p in sorted(folder.glob("*.ipynb")))
        out[folder.parent.name] = code
    return out


def boilerplate(root: Path, assignment: str) -> list[str]:
    """The released skeleton's and the instructor's solution cells (code nobody is flagged for)."""
    return [
        solution_code(notebook_cells(path))
        for kind in ("release", "source")
        for path in sorted((root / kind / assignment).glob("*.ipynb"))
    ]


@dataclass(frozen=True)
class Pair:
    """Two submissions and what they share."""

    a: str
    b: str
    similarity_a: float  # share of a's own code found in b
    similarity_b: float
    tokens: int  # normalized characters in common
    slices_a: np.ndarray  # 2 x N: starts and ends of the shared code in a's text
    slices_b: np.ndarray

    @property
    def similarity(self) -> float:
        return max(self.similarity_a, self.similarity_b)


@dataclass(frozen=True)
class Comparison:
    pairs: list[Pair]  # every compared pair, most similar first
    skipped: list[str]  # too little code of their own to compare
    threshold: float

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.similarity >= self.threshold]


def compare(
    docs: Mapping[str, str],
    boilerplate_code: list[str] = (),
    threshold: float = THRESHOLD,
    noise: int = NOISE,
    guarantee: int = GUARANTEE,
    min_tokens: int = MIN_TOKENS,
) -> Comparison:
    """Fingerprint every document (copydetect), drop the boilerplate's fingerprints, and
    compare every pair."""
    from copydetect import CodeFingerprint, compare_files

    window = guarantee - noise + 1

    def fingerprint(text: str, known: np.ndarray | None = None) -> CodeFingerprint:
        return CodeFingerprint(
            _SUFFIX, noise, window, boilerplate=known, language="python", fp=io.StringIO(text)
        )

    hashes: set[int] = set()
    for text in boilerplate_code:
        hashes |= fingerprint(text).hashes
    known = np.array(sorted(hashes), dtype=np.int64) if hashes else None
    prints, skipped = {}, []
    for student, text in sorted(docs.items()):
        fp = fingerprint(text, known)
        if fp.token_coverage < min_tokens:
            skipped.append(student)
        else:
            prints[student] = fp
    names = sorted(prints)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            tokens, (sa, sb), (slices_a, slices_b) = compare_files(prints[a], prints[b])
            pairs.append(
                Pair(
                    a,
                    b,
                    float(sa),
                    float(sb),
                    int(tokens),
                    np.asarray(slices_a, dtype=np.int64).reshape(2, -1),
                    np.asarray(slices_b, dtype=np.int64).reshape(2, -1),
                )
            )
    pairs.sort(key=lambda p: (-p.similarity, p.a, p.b))
    return Comparison(pairs, skipped, threshold)


# ------------------------------------------------------------------------ the HTML report


def marked(text: str, slices: np.ndarray) -> str:
    """``text`` escaped, with the shared code in ``<mark>`` (the only markup inserted)."""
    pieces, at = [], 0
    for start, end in sorted(zip(slices[0].tolist(), slices[1].tolist(), strict=True)):
        start, end = max(start, at), min(end, len(text))
        if end <= start:
            continue
        pieces += [html.escape(text[at:start]), "<mark>", html.escape(text[start:end]), "</mark>"]
        at = end
    pieces.append(html.escape(text[at:]))
    return "".join(pieces)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 90em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; font-size: 0.92em; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.82em; }
mark { background: #ffd27f; }
section { border-top: 2px solid #ddd; margin-top: 2em; }
"""


def render(assignment: str, comparison: Comparison, docs: Mapping[str, str]) -> str:
    e = html.escape
    flagged = comparison.flagged
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Similar submissions: {e(assignment)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Similar submissions: {e(assignment)}</h1>",
        f'<p class="note">Written by <code>course similarity</code> on '
        f"{e(time.strftime('%Y-%m-%d %H:%M'))}. Solution cells compared with copydetect "
        "(winnowed fingerprints of normalized tokens: renamed variables and changed comments "
        "do not hide a copy); the released skeleton and the instructor's solution are "
        f"boilerplate. A pair is flagged when one submission has at least "
        f"{comparison.threshold * 100:.0f} % of its own code in common with the other. "
        "<b>A pointer for a human, never a grade</b>: read the code before you conclude "
        "anything.</p>",
        f"<p>{len(docs)} submissions, {len(comparison.pairs)} pairs compared, "
        f"<b>{len(flagged)} flagged</b>.</p>",
    ]
    if comparison.skipped:
        out.append(
            '<p class="note">Too little code of their own to compare (blank, or only the '
            f"skeleton or the instructor's solution): {e(', '.join(comparison.skipped))}</p>"
        )
    out.append(
        '<table id="pairs"><tr><th>submission</th><th>submission</th><th>share of the '
        "first's code</th><th>share of the second's code</th><th>characters in common</th>"
        "</tr>"
    )
    for p in comparison.pairs[: max(len(flagged), 10)]:
        out.append(
            f"<tr><td>{e(p.a)}</td><td>{e(p.b)}</td>"
            f"<td class='num'>{p.similarity_a * 100:.0f} %</td>"
            f"<td class='num'>{p.similarity_b * 100:.0f} %</td>"
            f"<td class='num'>{p.tokens}</td></tr>"
        )
    out.append("</table>")
    if len(comparison.pairs) > len(flagged):
        out.append(
            '<p class="note">The table also shows the most similar pairs below the '
            "threshold (at least ten rows), for scale.</p>"
        )
    for n, p in enumerate(flagged, 1):
        out.append(
            f'<section id="pair-{n}"><h2>{e(p.a)} and {e(p.b)}: '
            f"{p.similarity * 100:.0f} %</h2><div class='side'>"
            f"<div><h3>{e(p.a)} ({p.similarity_a * 100:.0f} % shared)</h3>"
            f"<pre>{marked(docs[p.a], p.slices_a)}</pre></div>"
            f"<div><h3>{e(p.b)} ({p.similarity_b * 100:.0f} % shared)</h3>"
            f"<pre>{marked(docs[p.b], p.slices_b)}</pre></div></div></section>"
        )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(
    root: Path, assignment: str, path: Path, threshold: float = THRESHOLD
) -> Comparison:
    """Compare the graded submissions of ``assignment`` and write the HTML report."""
    docs = submissions(root, assignment)
    comparison = compare(docs, boilerplate(root, assignment), threshold)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(assignment, comparison, docs), encoding="utf-8")
    return comparison
