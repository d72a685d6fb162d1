"""Each notebook's stated time, and the times the start notebook and the README state for it,
are one number: a line ``**Time:** about N hours.`` in the notebook's first cell, and a table
row naming the notebook (`` `NN_name` ``) with a cell ``about N hours`` in
``notebooks/00_start_here.ipynb`` and in ``README.md``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_LINE = re.compile(r"^\*\*Time:\*\* about (\d+(?:\.\d+)?) hours?\b", re.MULTILINE)
TABLE_TIME = re.compile(r"about (\d+(?:\.\d+)?) hours?")
TABLE_NAME = re.compile(r"`(\d\d_[a-z0-9_]+)`")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _notebooks() -> dict[str, Path]:
    paths = sorted((ROOT / "source").glob("[0-9][0-9]_*/[0-9][0-9]_*.ipynb"))
    assert len(paths) >= 6, paths  # the six graded notebooks are there
    return {path.stem: path for path in paths}


def stated_in_intro(text: str) -> list[float]:
    """The times a notebook's introduction states (lines '**Time:** about N hours')."""
    return [float(n) for n in NOTEBOOK_LINE.findall(text)]


def stated_in_notebook(path: Path) -> list[float]:
    """The times the notebook's introduction (its first cell) states."""
    return stated_in_intro(_source(_cells(path)[0]))


def stated_in_tables(text: str) -> dict[str, list[float]]:
    """notebook -> the times of the markdown table rows that name it and state a time."""
    found: dict[str, list[float]] = {}
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            continue
        row = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = [m.group(1) for cell in row if (m := TABLE_NAME.fullmatch(cell))]
        times = [float(m.group(1)) for cell in row if (m := TABLE_TIME.fullmatch(cell))]
        if len(names) == 1 and len(times) == 1:
            found.setdefault(names[0], []).append(times[0])
    return found


def differences(notebooks: dict[str, list[float]], table: dict[str, list[float]]) -> list[str]:
    """Every way ``table`` (a document's rows) disagrees with the notebooks' own times."""
    problems = []
    for name, own in sorted(notebooks.items()):
        given = table.get(name, [])
        if len(own) != 1:
            problems.append(f"{name} states {len(own)} times in its introduction: {own}")
        elif not given:
            problems.append(f"{name}: no row states its time (the notebook says {own[0]:g} h)")
        elif set(given) != set(own):
            problems.append(f"{name}: the table says {given} h, the notebook {own[0]:g} h")
    problems += [
        f"{name}: a row for a notebook that does not exist"
        for name in table.keys() - notebooks.keys()
    ]
    return problems


def _stated() -> dict[str, list[float]]:
    return {name: stated_in_notebook(path) for name, path in _notebooks().items()}


@pytest.mark.parametrize("name", sorted(_notebooks()))
def test_each_notebook_states_its_time(name):
    times = stated_in_notebook(_notebooks()[name])
    assert len(times) == 1, (
        f"{name}: its first cell should have one line '**Time:** about N hours.', found {times}"
    )
    assert 0.5 <= times[0] <= 6, f"{name}: {times[0]} hours is not a notebook's time"


def test_start_here_states_the_notebooks_times():
    text = "\n".join(_source(c) for c in _cells(ROOT / "notebooks" / "00_start_here.ipynb"))
    problems = differences(_stated(), stated_in_tables(text))
    assert not problems, "\n".join(problems)


def test_readme_states_the_notebooks_times():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    problems = differences(_stated(), stated_in_tables(text))
    assert not problems, "\n".join(problems)


def test_any_one_drift_is_found():
    """The comparison fails when any single time moves: in a notebook, or in a table row."""
    notebooks = {"01_a": [3.0], "02_b": [2.5]}
    table = stated_in_tables("| `01_a` | x | about 3 hours |\n| `02_b` | about 2.5 hours |")
    assert table == {"01_a": [3.0], "02_b": [2.5]}
    assert differences(notebooks, table) == []
    for name in notebooks:
        assert differences({**notebooks, name: [notebooks[name][0] + 0.5]}, table)
        assert differences(notebooks, {**table, name: [table[name][0] + 0.5]})
        assert differences({**notebooks, name: []}, table)  # the notebook states none
        assert differences(notebooks, {k: v for k, v in table.items() if k != name})
    assert differences(notebooks, {**table, "02_b": [2.5, 3.0]})  # two rows disagree
    assert stated_in_intro("**Time:** about 1 hour.") == [1.0]
    assert stated_in_intro("**Time:** about 90 minutes.") == []  # not the stated format
