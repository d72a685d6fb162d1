"""Repository hygiene: notebooks, their nbgrader metadata, the release, pins, ignores.

Reads files only (no kernel, no nbgrader run). Every notebook found by the globs below is
checked, so a notebook added later is covered without editing this file.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import tomllib
from functools import cache
from pathlib import Path

import nbformat
import pytest
import yaml

from attention_grader import authoring as notebooks
from attention_grader import cells

ROOT = Path(__file__).resolve().parents[1]
SOURCE = sorted(ROOT.glob("source/*/*.ipynb"))
RELEASE = sorted(ROOT.glob("release/*/*.ipynb"))
COMPANION = sorted(ROOT.glob("notebooks/*.ipynb"))
ALL = SOURCE + RELEASE + COMPANION
GRADED = SOURCE + RELEASE

NAME = re.compile(r"^\d{2}_[a-z0-9]+(?:_[a-z0-9]+)*\.ipynb$")
AUTO_GRADE_ID = re.compile(r"^cell-[0-9a-f]+$")
GOAL_CODE = re.compile(r"\b5\.\d+(?:\.\d+)?\b")
EXERCISE_POINTS = re.compile(r"^#{1,6} .*\((\d+(?:\.\d+)?) points?\)\s*$", re.M)
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
PIN = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._-]+\])?==([A-Za-z0-9.+!_-]+)\s*(;\s*\S.*)?$"
)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@cache
def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def load(path: Path) -> dict:
    """A private copy of the notebook JSON (tests may modify it)."""
    return copy.deepcopy(_load(path))


def where(path: Path, index: int, cell: dict) -> str:
    return f"{rel(path)} cell {index} ({cells.grade_id(cell) or cell.get('id', '?')})"


def is_solution_code(cell: dict) -> bool:
    return cell["cell_type"] == "code" and bool(cells.nbgrader(cell).get("solution"))


def is_grade_code(cell: dict) -> bool:
    return cell["cell_type"] == "code" and bool(cells.nbgrader(cell).get("grade"))


def is_test_code(cell: dict) -> bool:
    """Grade cells and locked code cells (what nbgrader restores before grading)."""
    meta = cells.nbgrader(cell)
    return cell["cell_type"] == "code" and bool(meta.get("grade") or meta.get("locked"))


def without_hidden_markers(text: str) -> str:
    """The full test (visible + hidden), as autograde runs it."""
    return "\n".join(
        line for line in text.split("\n") if BEGIN_HIDDEN not in line and END_HIDDEN not in line
    )


def without_hidden_region(text: str) -> str:
    """The visible part only, as students see it."""
    out, inside = [], False
    for line in text.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def release_of(path: Path) -> Path:
    return ROOT / "release" / path.parent.name / path.name


def source_for(path: Path) -> Path:
    return ROOT / "source" / path.parent.name / path.name


def ids(paths: list[Path]) -> list[str]:
    return [rel(p) for p in paths]


# --- there is something to check -----------------------------------------------------


def test_source_has_notebooks():
    assert SOURCE, "source/ holds no notebook (expected source/<assignment>/<assignment>.ipynb)"


def test_every_source_notebook_has_its_release_and_back():
    missing = [rel(release_of(p)) for p in SOURCE if not release_of(p).exists()]
    orphans = [rel(p) for p in RELEASE if not source_for(p).exists()]
    assert not missing, f"no release for {missing}: run `make release` and commit release/"
    assert not orphans, f"release notebooks without a source notebook: {orphans}"


# --- every notebook: valid, stripped, named ----------------------------------------------


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_valid_nbformat_4(path):
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert nb.nbformat == 4, f"{rel(path)}: nbformat {nb.nbformat}, expected 4"
    nbformat.validate(nb)


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_stripped_with_plain_kernelspec(path):
    nb = load(path)
    meta = nb.get("metadata", {})
    assert meta.get("kernelspec") == KERNELSPEC, (
        f"{rel(path)}: kernelspec {meta.get('kernelspec')}, expected the plain python3 "
        "(run `make sync`)"
    )
    assert "widgets" not in meta, f"{rel(path)}: widget state in metadata (run `make sync`)"
    problems = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{where(path, index, cell)}: has outputs")
        if cell.get("execution_count") is not None:
            problems.append(
                f"{where(path, index, cell)}: execution_count {cell['execution_count']}"
            )
    assert not problems, "not stripped (run `make sync`):\n" + "\n".join(problems)


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_file_and_folder_names(path):
    assert NAME.match(path.name), f"{rel(path)}: name must be NN_snake_case.ipynb"
    if path.parts[-3] in ("source", "release"):
        assert path.parent.name == path.stem, (
            f"{rel(path)}: expected {path.parts[-3]}/<assignment>/<assignment>.ipynb "
            f"(folder {path.parent.name!r}, notebook {path.stem!r})"
        )


# --- nbgrader metadata -------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_nbgrader_metadata(path):
    problems, seen = [], {}
    for index, cell in enumerate(load(path)["cells"]):
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        meta, at = cells.nbgrader(cell), where(path, index, cell)
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or not gid:
            problems.append(f"{at}: no grade_id")
        elif AUTO_GRADE_ID.match(gid):
            problems.append(f"{at}: auto-generated grade_id {gid!r}; name what it tests")
        elif gid in seen:
            problems.append(f"{at}: grade_id {gid!r} also used by cell {seen[gid]}")
        else:
            seen[gid] = index
        if meta.get("schema_version") != 3:
            problems.append(f"{at}: schema_version {meta.get('schema_version')}, expected 3")
        if meta.get("grade"):
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, int | float) or points <= 0:
                problems.append(f"{at}: grade cell needs numeric points > 0, has {points!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SOURCE, ids=ids(SOURCE))
def test_solution_cells_have_markers(path):
    problems = []
    for index, cell in enumerate(load(path)["cells"]):
        if not is_solution_code(cell):
            continue
        text = cells.source(cell)
        begins, ends = text.count(BEGIN_SOLUTION), text.count(END_SOLUTION)
        if begins == 0 or begins != ends or text.find(BEGIN_SOLUTION) > text.find(END_SOLUTION):
            problems.append(
                f"{where(path, index, cell)}: {begins} x {BEGIN_SOLUTION!r}, "
                f"{ends} x {END_SOLUTION!r}"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", GRADED, ids=ids(GRADED))
def test_hidden_test_markers_are_paired(path):
    problems = []
    for index, cell in enumerate(load(path)["cells"]):
        if not is_test_code(cell):
            continue
        inside = False
        for line in cells.source(cell).split("\n"):
            if BEGIN_HIDDEN in line:
                if inside:
                    problems.append(f"{where(path, index, cell)}: nested {BEGIN_HIDDEN!r}")
                inside = True
            elif END_HIDDEN in line:
                if not inside:
                    problems.append(f"{where(path, index, cell)}: {END_HIDDEN!r} without BEGIN")
                inside = False
        if inside:
            problems.append(f"{where(path, index, cell)}: {BEGIN_HIDDEN!r} without END")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", GRADED, ids=ids(GRADED))
def test_every_solution_is_graded_later(path):
    nb_cells = load(path)["cells"]
    problems = []
    for index, cell in enumerate(nb_cells):
        if is_solution_code(cell) and not any(cells.is_grade(c) for c in nb_cells[index + 1 :]):
            problems.append(f"{where(path, index, cell)}: no grade cell after this solution")
    assert not problems, "\n".join(problems)


def _last_statement_problem(text: str) -> str | None:
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        return f"does not parse: {error}"
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return None
    value = tree.body[-1].value
    if isinstance(value, ast.Call):
        func = value.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name.startswith("check_"):
            return None
    return (
        f"ends with the expression `{ast.unparse(value)[:80]}`: nbgrader takes a numeric "
        "value of the last expression as partial credit; end with a statement or a check_"
    )


@pytest.mark.parametrize("path", GRADED, ids=ids(GRADED))
def test_no_test_cell_ends_with_a_value(path):
    problems = []
    for index, cell in enumerate(load(path)["cells"]):
        if not is_grade_code(cell):
            continue
        text = cells.source(cell)
        for view, code in (
            ("graded", without_hidden_markers(text)),
            ("visible", without_hidden_region(text)),
        ):
            problem = _last_statement_problem(code)
            if problem:
                problems.append(f"{where(path, index, cell)} ({view} part): {problem}")
    assert not problems, "\n".join(problems)


def _check_calls(tree: ast.AST) -> dict[str, int]:
    """First line on which each check_* helper is called (by name or as an attribute)."""
    first: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name.startswith("check_"):
                first[name] = min(first.get(name, node.lineno), node.lineno)
    return first


@pytest.mark.parametrize("path", GRADED, ids=ids(GRADED))
def test_test_cells_import_the_checks_they_call(path):
    problems = []
    for index, cell in enumerate(load(path)["cells"]):
        if not is_test_code(cell):
            continue
        text = without_hidden_markers(cells.source(cell))
        try:
            tree = ast.parse(text)
        except SyntaxError as error:
            problems.append(f"{where(path, index, cell)}: does not parse: {error}")
            continue
        calls = _check_calls(tree)
        if not calls:
            continue
        imported: dict[str, int] = {}
        for node in tree.body:  # top-level imports only
            if isinstance(node, ast.ImportFrom) and node.module == "attention_course.checks":
                for alias in node.names:
                    imported.setdefault(alias.asname or alias.name, node.lineno)
        if "from attention_course.checks import" not in text:
            problems.append(
                f"{where(path, index, cell)}: calls {sorted(calls)} but has no "
                "`from attention_course.checks import ...` at its top"
            )
            continue
        for name, line in sorted(calls.items()):
            if name not in imported:
                problems.append(
                    f"{where(path, index, cell)}: calls {name} without importing "
                    "it in this cell (a student cell could rebind the global name)"
                )
            elif imported[name] > line:
                problems.append(
                    f"{where(path, index, cell)}: {name} is called on line {line} "
                    f"before it is imported on line {imported[name]}"
                )
    assert not problems, "\n".join(problems)


# --- the setup cell and the Colab badge -------------------------------------------------


@pytest.mark.parametrize("path", GRADED, ids=ids(GRADED))
def test_setup_cell_is_first_locked_and_in_sync(path):
    nb = load(path)
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    setup = [c for c in code_cells if cells.nbgrader(c).get("grade_id") == notebooks.SETUP_GRADE_ID]
    assert len(setup) == 1, f"{rel(path)}: expected one setup cell (grade_id 'setup')"
    assert code_cells[0] is setup[0], f"{rel(path)}: the setup cell must be the first code cell"
    meta = cells.nbgrader(setup[0])
    assert meta.get("locked") is True, f"{rel(path)}: the setup cell must be locked"
    assert not meta.get("grade") and not meta.get("solution"), (
        f"{rel(path)}: the setup cell must be neither a grade nor a solution cell"
    )
    assert notebooks.SETUP_MARKER in cells.source(setup[0]), (
        f"{rel(path)}: setup cell lacks the line {notebooks.SETUP_MARKER!r}"
    )
    changed = notebooks.sync_notebook(
        copy.deepcopy(nb), notebooks.repo_settings(ROOT), path.parent.name, path.name
    )
    assert changed is False, (
        f"{rel(path)}: Colab badge or setup header out of sync with pyproject.toml "
        "(run `make sync release`)"
    )


@pytest.mark.parametrize("path", GRADED, ids=ids(GRADED))
def test_first_cell_has_colab_badge_of_its_release(path):
    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    settings = table["tool"]["attention-course"]
    repo = settings["repository"].removesuffix("/").removesuffix(".git")
    owner_name = repo.removeprefix("https://github.com/")
    url = (
        f"https://colab.research.google.com/github/{owner_name}/blob/"
        f"{settings.get('branch', 'main')}/release/{path.parent.name}/{path.name}"
    )
    first = load(path)["cells"][0]
    assert first["cell_type"] == "markdown", f"{rel(path)}: the first cell must be markdown"
    assert (
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"
        in cells.source(first)
    ), f"{rel(path)}: first cell lacks the Colab badge for {url}"


DEMOS_SKIPPED = re.compile(
    r"Grading\s+runs\s+your\s+notebook\s+top\s+to\s+bottom\s+in\s+a\s+fresh\s+kernel;\s+"
    r"cells\s+tagged\s+`demo`\s+\(figures\s+and\s+demonstrations\s+that\s+no\s+test\s+needs\)"
    r"\s+are\s+skipped\s+there\s+unless\s+you\s+changed\s+one\s+of\s+them\s+or\s+a\s+cell\s+"
    r"of\s+yours\s+uses\s+a\s+name\s+that\s+a\s+demonstration\s+assigns\."
)


@pytest.mark.parametrize("path", GRADED, ids=ids(GRADED))
def test_a_notebook_with_demo_cells_tells_students_grading_skips_them(path):
    """Grading skips unchanged `demo` cells unless another cell uses a name they assign
    (nbgrader_ext.RestoreLayout): a student must read that in the introduction."""
    nb = load(path)
    demos = [c for c in nb["cells"] if "demo" in c.get("metadata", {}).get("tags", [])]
    if demos:
        assert DEMOS_SKIPPED.search(cells.source(nb["cells"][0])), (
            f"{rel(path)} has {len(demos)} cells tagged demo, but its first cell does not say "
            "that grading skips them"
        )


@pytest.mark.parametrize("path", GRADED, ids=ids(GRADED))
def test_the_solutions_and_the_release_need_no_demonstration(path):
    """Grading skips the demonstrations only while no other cell reads a name they assign
    (nbgrader_ext.reads_demo_names): if the instructor's solution, a test cell or a provided
    cell read one, every student's grading would run them (slower, silently)."""
    from attention_grader import nbgrader_ext

    nb = nbformat.reads(json.dumps(load(path)), as_version=4)
    demos = {c.get("id") for c in nb.cells if "demo" in c.get("metadata", {}).get("tags", [])}
    assert nbgrader_ext.reads_demo_names(nb, demos) == set(), (
        f"{rel(path)}: cells outside the demonstrations read values a demonstration set "
        "(or a cell is not Python)"
    )


# --- release: no solutions, no hidden tests, working stubs --------------------------------


def _regions(text: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """(stripped lines inside begin/end regions, stripped lines outside them)."""
    inside_lines, outside_lines, inside = [], [], False
    for line in text.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            inside_lines.append(line.strip())
        else:
            outside_lines.append(line.strip())
    return inside_lines, outside_lines


def _secret_and_public_lines(source_nb: dict) -> tuple[set[str], set[str]]:
    """Lines only the instructor sees (solutions, hidden tests) and lines students see too."""
    secret, public = set(), set()
    for cell in source_nb["cells"]:
        text = cells.source(cell)
        if is_solution_code(cell):
            inside, outside = _regions(text, BEGIN_SOLUTION, END_SOLUTION)
        elif is_test_code(cell):
            inside, outside = _regions(text, BEGIN_HIDDEN, END_HIDDEN)
        else:
            inside, outside = [], [line.strip() for line in text.split("\n")]
        secret.update(inside)
        public.update(outside)
    return secret, public


@pytest.mark.parametrize("path", RELEASE, ids=ids(RELEASE))
def test_release_holds_no_solution_and_no_hidden_test(path):
    assert source_for(path).exists(), f"{rel(path)}: no source notebook"
    release_nb = load(path)
    problems = []
    for index, cell in enumerate(release_nb["cells"]):
        text = cells.source(cell)
        for marker in (BEGIN_SOLUTION, END_SOLUTION, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            if marker in text:
                problems.append(f"{where(path, index, cell)}: contains {marker!r}")
    secret, public = _secret_and_public_lines(load(source_for(path)))
    leaked = {line for line in secret - public if len(line) > 25}
    for index, cell in enumerate(release_nb["cells"]):
        for line in cells.source(cell).split("\n"):
            if line.strip() in leaked:
                problems.append(
                    f"{where(path, index, cell)}: instructor-only line {line.strip()!r}"
                )
    assert not problems, "\n".join(problems)


def _raises_not_implemented(tree: ast.AST) -> int:
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                count += 1
    return count


@pytest.mark.parametrize("path", RELEASE, ids=ids(RELEASE))
def test_release_stubs_raise_not_implemented(path):
    source_cells = {
        cells.nbgrader(c)["grade_id"]: c
        for c in load(source_for(path))["cells"]
        if is_solution_code(c)
    }
    problems = []
    for index, cell in enumerate(load(path)["cells"]):
        if not is_solution_code(cell):
            continue
        at, gid = where(path, index, cell), cells.nbgrader(cell).get("grade_id")
        try:
            tree = ast.parse(cells.source(cell))
        except SyntaxError as error:
            problems.append(f"{at}: stub does not parse: {error}")
            continue
        stubs = _raises_not_implemented(tree)
        expected = (
            cells.source(source_cells[gid]).count(BEGIN_SOLUTION) if gid in source_cells else 1
        )
        if stubs < max(expected, 1):
            problems.append(
                f"{at}: {stubs} `raise NotImplementedError()` for {expected} solution regions"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", RELEASE, ids=ids(RELEASE))
def test_release_has_the_graded_cells_of_its_source(path):
    def graded(nb: dict) -> list[tuple]:
        return [
            (
                cells.grade_id(c),
                cells.is_solution(c),
                cells.is_grade(c),
                cells.nbgrader(c).get("points"),
                cells.is_locked(c),
            )
            for c in nb["cells"]
            if cells.grade_id(c)
        ]

    assert graded(load(path)) == graded(load(source_for(path))), (
        f"{rel(path)}: grade_ids, kinds or points differ from {rel(source_for(path))} "
        "(run `make release`)"
    )


# --- source markdown: goals, explanation before code, points as documented ----------------


@pytest.mark.parametrize("path", SOURCE, ids=ids(SOURCE))
def test_first_markdown_names_learning_goals(path):
    markdown = [c for c in load(path)["cells"] if c["cell_type"] == "markdown"]
    assert markdown, f"{rel(path)}: no markdown cell"
    assert GOAL_CODE.search(cells.source(markdown[0])), (
        f"{rel(path)}: the first markdown cell names no learning-goal code (5.x or 5.x.y)"
    )


@pytest.mark.parametrize("path", SOURCE, ids=ids(SOURCE))
def test_markdown_explains_before_each_exercise(path):
    problems, explained = [], False
    for index, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "markdown":
            explained = True
        elif is_solution_code(cell):
            if not explained:
                problems.append(
                    f"{where(path, index, cell)}: no markdown cell since the "
                    "previous exercise or test; explain before asking for code"
                )
            explained = False
        elif is_grade_code(cell):
            explained = False
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SOURCE, ids=ids(SOURCE))
def test_exercise_points_as_documented(path):
    """Each exercise heading "(N points)" equals the points of the grade cells under it."""
    exercises: list[list] = []  # [heading, documented, graded]
    problems = []
    for index, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "markdown":
            for match in EXERCISE_POINTS.finditer(cells.source(cell)):
                exercises.append([match.group(0).strip(), float(match.group(1)), 0.0])
        elif is_grade_code(cell):
            if not exercises:
                problems.append(
                    f"{where(path, index, cell)}: grade cell before any exercise "
                    "heading with '(N points)'"
                )
            else:
                exercises[-1][2] += float(cells.nbgrader(cell).get("points", 0))
    problems += [
        f"{rel(path)}: {heading!r} documents {doc:g} points, its tests give {got:g}"
        for heading, doc, got in exercises
        if doc != got
    ]
    assert exercises, f"{rel(path)}: no exercise heading with '(N points)'"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", SOURCE, ids=ids(SOURCE))
def test_readme_documents_the_points(path):
    nb_cells = load(path)["cells"]
    auto = sum(float(cells.nbgrader(c).get("points", 0)) for c in nb_cells if is_grade_code(c))
    manual = sum(
        float(cells.nbgrader(c).get("points", 0))
        for c in nb_cells
        if cells.nbgrader(c).get("grade") and c["cell_type"] == "markdown"
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith(f"| `{path.parent.name}`")]
    assert len(rows) == 1, f"README.md: expected one table row for `{path.parent.name}`"
    documented = rows[0].strip().strip("|").split("|")[-1].strip()
    # "23" (all autograded) or "15 + 4 by hand" (written answers graded by hand)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(?: \+ (\d+(?:\.\d+)?) by hand)?", documented)
    assert match, (
        f"README.md: points of {path.parent.name} should read 'N' or "
        f"'N + M by hand', found {documented!r}"
    )
    got = (float(match.group(1)), float(match.group(2) or 0))
    assert got == (auto, manual), (
        f"README.md documents {documented!r} points for {path.parent.name}, its grade cells "
        f"give {auto:g} autograded + {manual:g} by hand"
    )


# --- pins and ignores -------------------------------------------------------------------


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def _pins(path: Path) -> tuple[dict[str, str], list[str]]:
    pins, bad = {}, []
    for line in _requirement_lines(path):
        match = PIN.match(line)
        if match:
            pins[_normalise(match.group(1))] = match.group(3)
        else:
            bad.append(line)
    return pins, bad


def test_requirements_are_exact_pins_and_locked():
    pins, bad = _pins(ROOT / "requirements.txt")
    assert pins, "requirements.txt pins nothing"
    assert not bad, f"requirements.txt lines that are not exact pins (name==version): {bad}"
    lock, bad_lock = _pins(ROOT / "requirements.lock")
    assert not bad_lock, f"requirements.lock lines that are not exact pins: {bad_lock}"
    missing = sorted(name for name in pins if name not in lock)
    differ = sorted(
        f"{name}: {pins[name]} vs lock {lock[name]}"
        for name in pins
        if name in lock and lock[name] != pins[name]
    )
    assert not missing, f"pinned in requirements.txt but absent from requirements.lock: {missing}"
    assert not differ, f"requirements.txt and requirements.lock disagree: {differ}"


def test_environment_yml_uses_requirements_and_python_311():
    path = ROOT / "environment.yml"
    assert path.exists(), "environment.yml is missing: the conda route needs it (see DESIGN.md)"
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    deps = env.get("dependencies", [])
    pythons = [d for d in deps if isinstance(d, str) and re.match(r"^python\s*[=<>!~ ]", d)]
    assert pythons, "environment.yml does not pin python"
    assert all(re.fullmatch(r"python\s*={1,2}\s*3\.11(\.[0-9*]+)?", d.strip()) for d in pythons), (
        f"environment.yml must pin python 3.11, has {pythons}"
    )
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    pip_lines = [line.strip() for section in pip_sections for line in section]
    assert any(re.fullmatch(r"-r\s+requirements\.txt", line) for line in pip_lines), (
        f"environment.yml's pip section does not install -r requirements.txt: {pip_lines}"
    )


def _gitignore() -> set[str]:
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize(
    "patterns",
    [
        ("submitted/", "/submitted/"),
        ("autograded/*", "/autograded/*"),
        ("feedback/", "/feedback/"),
        ("gradebook.db", "/gradebook.db"),
    ],
    ids=lambda p: p[0],
)
def test_gitignore_ignores_grading_data(patterns):
    assert _gitignore() & set(patterns), f".gitignore does not ignore {patterns[0]}"


def test_gitignore_ignores_gradebook_backups():
    # grading.backup_gradebook copies the gradebook (it holds the hidden tests) to backups/,
    # and README.md lists backups/ as git-ignored
    assert _gitignore() & {"backups/", "/backups/"}, (
        ".gitignore does not ignore backups/ (copies of gradebook.db with the hidden tests)"
    )
