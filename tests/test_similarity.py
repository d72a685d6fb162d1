"""``course similarity`` (attention_grader.similarity, copydetect): a copy of a classmate's
solution with every name renamed and the comments reworded is flagged among honest
submissions; the catalogs' independent solutions (ALTERNATIVE against the instructor's) are
not; student code is escaped in the report."""

from __future__ import annotations

import builtins
import io
import json
import keyword
import shutil
import tokenize
from html.parser import HTMLParser
from pathlib import Path

import pytest

from attention_grader import authoring, cli, similarity, submissions
from conftest import ROOT

A = "01_tokenization"
NB = f"{A}.ipynb"
MODULES = {"np", "math", "collections", "re", "tf", "keras", "layers", "itertools"}
SCRIPT = "</pre><script>alert(1)</script>"


def renamed(code: str) -> str:
    """``code`` with every name a student chooses renamed (``x`` -> ``my_x``; builtins,
    attributes and modules kept) and every comment reworded: what a copier does."""
    out, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if (
            tok.type == tokenize.NAME
            and not keyword.iskeyword(tok.string)
            and not hasattr(builtins, tok.string)
            and tok.string not in MODULES
            and not (prev is not None and prev.string == ".")
        ):
            tok = tok._replace(string=f"my_{tok.string}")
        elif tok.type == tokenize.COMMENT:
            tok = tok._replace(string="# my own words")
        out.append(tok)
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            prev = tok
    return tokenize.untokenize(out)


def _nb(name: str) -> dict:
    return authoring.read_notebook(ROOT / name)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course root with 01's source and release, and graded notebooks in autograded/: the
    instructor's solution, a blank one, the catalog's alternative solution, three typical
    mistakes, and a copy of the alternative with renamed names (plus a script in a string)."""
    root = tmp_path_factory.mktemp("similarity") / "course"
    for kind in ("source", "release"):
        shutil.copytree(ROOT / kind / A, root / kind / A)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    release_nb, source_nb = _nb(f"release/{A}/{NB}"), _nb(f"source/{A}/{NB}")
    catalog = submissions.catalog(A)
    solved = submissions.solved(release_nb, source_nb)
    copy = {cell: renamed(code) for cell, code in catalog.ALTERNATIVE.items()}
    first = next(iter(copy))
    copy[first] += f"\n_note = {SCRIPT!r}\n"
    notebooks = {
        "instructor": solved,
        "blank": release_nb,
        "alt": submissions.fill(solved, catalog.ALTERNATIVE),
        "copier": submissions.fill(solved, copy),
    }
    for i, name in enumerate(["vocab_specials_swapped", "vocab_constant", "one_hot_transposed"]):
        if name in catalog.MISTAKES:
            notebooks[f"mistake{i}"] = submissions.apply_mistake(
                release_nb, source_nb, catalog.MISTAKES[name]
            )
    for student, nb in notebooks.items():
        path = root / "autograded" / student / A / NB
        path.parent.mkdir(parents=True)
        authoring.write_notebook(nb, path)
    elsewhere = root.parent / "elsewhere"  # a linked folder is never read
    shutil.copytree(root / "autograded" / "alt", elsewhere)
    (root / "autograded" / "linked").symlink_to(elsewhere, target_is_directory=True)
    return root


def test_renamed_copy_is_a_different_text():
    code = submissions.catalog(A).ALTERNATIVE
    cell = next(iter(code))
    assert renamed(code[cell]) != code[cell] and "my_" in renamed(code[cell])
    compile(renamed(code[cell]), "copy", "exec")  # still Python


def test_the_planted_copy_and_only_it_is_flagged(course):
    docs = similarity.submissions(course, A)
    assert "linked" not in docs and set(docs) >= {"alt", "copier", "blank", "instructor"}
    result = similarity.compare(docs, similarity.boilerplate(course, A))
    assert [(p.a, p.b) for p in result.flagged] == [("alt", "copier")]
    assert result.flagged[0].similarity > 0.9
    assert {"blank", "instructor"} <= set(result.skipped)  # nothing of their own
    honest = [p for p in result.pairs if "copier" not in (p.a, p.b) and "alt" not in (p.a, p.b)]
    assert all(p.similarity < result.threshold for p in honest)


def test_without_boilerplate_everyone_shares_the_skeleton(course):
    """The skeleton and the solution are what makes honest submissions look alike: without
    them as boilerplate the instructor's solution and a typical mistake are flagged."""
    docs = similarity.submissions(course, A)
    result = similarity.compare(docs, [])
    assert ("instructor", "mistake0") in {(p.a, p.b) for p in result.flagged}


@pytest.mark.parametrize(
    "assignment", sorted(p.name for p in (ROOT / "source").glob("[0-9][0-9]_*"))
)
def test_independent_solutions_of_the_catalogs_are_not_flagged(assignment):
    """ALTERNATIVE against the instructor's code of the same cells, only the released
    skeleton as boilerplate: two people solving the same exercise are not a copy."""
    catalog = submissions.catalog(assignment)
    source_nb = _nb(f"source/{assignment}/{assignment}.ipynb")
    release_nb = _nb(f"release/{assignment}/{assignment}.ipynb")
    solution = submissions.solution_code(source_nb)
    docs = {
        "instructor": "\n".join(f"# {c}\n{solution[c]}\n" for c in catalog.ALTERNATIVE),
        "alternative": "\n".join(f"# {c}\n{code}\n" for c, code in catalog.ALTERNATIVE.items()),
    }
    result = similarity.compare(docs, [similarity.solution_code(release_nb["cells"])])
    assert not result.skipped and len(result.pairs) == 1, assignment
    assert result.flagged == [], (assignment, result.pairs[0].similarity)
    copy = {"copy": "\n".join(renamed(code) for code in catalog.ALTERNATIVE.values())}
    planted = similarity.compare({**docs, **copy}, [similarity.solution_code(release_nb["cells"])])
    assert [(p.a, p.b) for p in planted.flagged] == [("alternative", "copy")], assignment


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.pre: list[str] = []
        self._in_pre = False
        self.marked = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_pre |= tag == "pre"
        self.marked += tag == "mark"

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_pre = False

    def handle_data(self, data):
        if self._in_pre:
            self.pre.append(data)


def test_report_shows_the_pair_side_by_side_escaped(course, capsys):
    assert cli.main(["--root", str(course), "similarity", A]) == 0
    out = capsys.readouterr().out
    assert "1 flagged" in out and "alt  copier" in out
    page = (course / "reports" / f"similarity_{A}.html").read_text(encoding="utf-8")
    parsed = _Text()
    parsed.feed(page)
    assert "script" not in parsed.tags and "<script" not in page
    assert parsed.tags.count("pre") == 2 and parsed.marked > 0
    assert any(SCRIPT[6:] in text for text in parsed.pre)  # shown as text
    assert any("my_" in text for text in parsed.pre)
    assert cli.main(["--root", str(course), "similarity", "no_such"]) == 2


def test_marked_escapes_everything_but_the_marks():
    import numpy as np

    text = "<b>a</b> & <i>b</i>"
    html = similarity.marked(text, np.array([[0, 9], [3, 14]]))
    assert html == "<mark>&lt;b&gt;</mark>a&lt;/b&gt; <mark>&amp; &lt;i&gt;</mark>b&lt;/i&gt;"
    assert json.dumps(similarity.marked("", np.zeros((2, 0), dtype=int))) == '""'
