"""Nothing a student can open or install holds a solution.

A solution leaks when any run of two consecutive non-trivial lines of a solution region (the
code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in ``source/``, whitespace
normalised) appears in the student notebooks (``release/``), the companion notebooks
(``notebooks/``) or the wheel ``pip install .`` builds (what Colab installs); and when a
visible test cell defines a reference implementation (a function named like one, or one that
redefines a graded function).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

import pytest

from attention_grader import authoring, cells
from conftest import ROOT

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)
REFERENCE_NAME = re.compile(r"ref|reference|expected|solution|answer", re.I)
MIN_LINE = 12  # shorter lines (`return x`, `else:`) are too common to mean a leak
# Solutions a later notebook gives on purpose: 05 is released after 04's deadline and reuses
# its text standardization as provided code.
GIVEN_LATER = {"05_imdb_attention": {"04_imdb_preprocessing/standardize"}}


def _lines(text: str) -> list[str]:
    """Non-trivial lines, whitespace normalised, comments dropped."""
    out = []
    for line in text.splitlines():
        line = (
            " ".join(line.split("#", 1)[0].split())
            if not line.strip().startswith(("'", '"'))
            else " ".join(line.split())
        )
        if len(line) >= MIN_LINE:
            out.append(line)
    return out


def _pairs(lines: list[str]) -> set[tuple[str, str]]:
    return set(zip(lines, lines[1:], strict=False))


@cache
def solution_pairs() -> dict[tuple[str, str], str]:
    """Every run of two solution lines -> where it comes from."""
    out = {}
    for path in sorted(ROOT.glob("source/*/*.ipynb")):
        for cell in authoring.read_notebook(path)["cells"]:
            if cell["cell_type"] != "code":
                continue
            for region in SOLUTION.findall(cells.source(cell)):
                for pair in _pairs(_lines(region)):
                    out[pair] = f"{path.parent.name}/{cell.get('id')}"
    return out


def leaks(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    found = {
        p
        for p in _pairs(_lines(text)) & set(solution_pairs())
        if solution_pairs()[p] not in allowed
    }
    return sorted(f"{solution_pairs()[p]}: {p[0]!r} / {p[1]!r}" for p in found)


@cache
def wheel_files(tmp: Path) -> dict[str, str]:
    # built as Colab's `pip install` builds it (isolated build environment from the index)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: archive.read(name).decode("utf-8", "replace")
            for name in archive.namelist()
            if not name.endswith("/")
        }


def test_the_detector_finds_a_copied_solution():
    pair = next(iter(solution_pairs()))
    assert leaks(f"x = 1\n    {pair[0]}\n{pair[1]}  # copied\n")
    assert not leaks(f"{pair[0]}\nsomething else entirely = 2\n{pair[1]}")


@pytest.mark.parametrize(
    "path",
    sorted(ROOT.glob("release/*/*.ipynb")) + sorted(ROOT.glob("notebooks/*.ipynb")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_student_notebooks_hold_no_solution(path):
    text = "\n".join(cells.source(c) for c in authoring.read_notebook(path)["cells"])
    assert leaks(text, frozenset(GIVEN_LATER.get(path.parent.name, ()))) == []


def test_the_wheel_students_install_holds_no_solution_and_no_grader(tmp_path_factory):
    files = wheel_files(tmp_path_factory.mktemp("wheel"))
    assert any(name.startswith("attention_course/") for name in files)
    assert not [name for name in files if "attention_grader" in name or "judges" in name]
    found = {name: leaks(text) for name, text in files.items() if name.endswith(".py")}
    assert {name: hits for name, hits in found.items() if hits} == {}


def _graded_names() -> set[str]:
    names = set()
    for path in ROOT.glob("source/*/*.ipynb"):
        for cell in authoring.read_notebook(path)["cells"]:
            if (
                cell.get("metadata", {}).get("nbgrader", {}).get("solution")
                and cell["cell_type"] == "code"
            ):
                tree = ast.parse(SOLUTION.sub("pass\n", cells.source(cell)))
                names |= {
                    n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                }
    return names


@pytest.mark.parametrize("path", sorted(ROOT.glob("source/*/*.ipynb")), ids=lambda p: p.parent.name)
def test_visible_tests_define_no_reference_implementation(path):
    graded = _graded_names()
    problems = []
    for cell in authoring.read_notebook(path)["cells"]:
        meta = cells.nbgrader(cell)
        if cell["cell_type"] != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        visible = HIDDEN.sub("", cells.source(cell))
        for node in ast.walk(ast.parse(visible)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and (
                REFERENCE_NAME.search(node.name) or node.name in graded
            ):
                problems.append(f"{meta['grade_id']}: defines {node.name}")
        problems += [f"{meta['grade_id']}: {hit}" for hit in leaks(visible)]
    assert problems == []
