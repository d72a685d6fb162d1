"""What every test shares: the package paths, fast mode, the checks that the environment
is complete (never a silent skip), and the environment of grading runs."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "src", ROOT / "grader"):
    sys.path.insert(0, str(_path))

# No test may need the network or the real data: fixtures only, fast mode everywhere.
os.environ["COURSE_FAST"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

pytest_plugins = ["never_skip"]  # a skipped test fails the run


class LazyModule:
    """The module ``name``, imported at its first use: collecting the suite imports no
    TensorFlow (3 s in each worker of ``make test``, most of which run no test that needs it).
    A missing module fails the test that uses it (and ``pytest_configure`` first)."""

    def __init__(self, name: str) -> None:  # noqa: D107
        self._name = name

    def __getattr__(self, attr: str):
        if attr.startswith("_"):  # (pytest looks for __test__, _mock_name... as it collects)
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)


def pytest_configure(config: pytest.Config) -> None:
    missing = [
        tool
        for tool in ("nbgrader", "nbclient", "ipykernel", "keras", "distributed")
        if __import__("importlib").util.find_spec(tool) is None
    ]
    if missing:  # fail loudly, never skip
        raise pytest.UsageError(
            f"the test environment lacks {missing}: run `make test` (it installs .venv)."
        )
    from attention_grader import sandbox

    problem = sandbox.problem()
    if problem:  # the sandbox is part of the product: no sandbox, no test run
        raise pytest.UsageError(f"no grading sandbox on this machine: {problem}")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """The longest test files first, so both workers of ``make test`` end together."""
    import suite_order

    suite_order.longest_first(items)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``mistake``: every mistake of the catalog of a notebook's suite class."""
    if "mistake" in metafunc.fixturenames and hasattr(metafunc.cls, "catalog"):
        metafunc.parametrize("mistake", sorted(metafunc.cls.catalog().mistakes))


@pytest.fixture(scope="session")
def course_env() -> dict[str, str]:
    """Environment for nbgrader runs in the throw-away courses (restored afterwards)."""
    saved = dict(os.environ)
    os.environ.pop("COURSE_DB_URL", None)  # default: sqlite file in the course root
    os.environ["COURSE_CELL_TIMEOUT"] = "40"  # the infinite-loop submission costs 40 s, not 120
    yield dict(os.environ)
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def restore_global_state(monkeypatch):
    """setup() changes logging levels, warning filters and the active notebook: put them back."""
    import logging
    import warnings

    from attention_course import notebook

    names = ("tensorflow", "absl", "keras", "h5py", "matplotlib")
    levels = {name: logging.getLogger(name).level for name in names}
    filters = list(warnings.filters)
    monkeypatch.setattr(notebook, "_active", [])
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")  # setup() may set it: undone afterwards
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    warnings.filters[:] = filters
    warnings._filters_mutated()
