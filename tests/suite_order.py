"""The order in which ``make test`` hands its files to its workers: the longest first.

``--dist loadfile`` gives each worker a whole file at a time, in the order of the collection.
pytest-xdist would reorder the files by their number of tests (``--no-loadscope-reorder`` in
the Makefile turns that off), which started the exchange test, three tests and more than a
minute, last: one worker then ran it alone while the other had finished (20 s of a 7:56 run).
Longest first, the short files fill the end on every worker.

:data:`SECONDS` holds what each file of 10 s or more took (the sum of its tests' times,
``pytest -n 2 --dist loadfile`` on 2 cores, 6:33 in all, 2026-12-08; the order is what
counts); files not listed follow in their usual order. Refresh it when a file's cost changes
much: ``--durations=0`` or ``--junitxml`` gives the times. A listed file that no longer
exists fails ``test_suite_config``.
"""

from __future__ import annotations

from pathlib import Path

SECONDS = {
    "test_zygote.py": 64,
    "test_nbgrader_06_custom_dataloader.py": 60,
    "test_notebooks_run.py": 60,
    "test_engine.py": 53,
    "test_browser.py": 45,
    "test_nbgrader_05_imdb_attention.py": 43,
    "test_exchange_hub.py": 33,
    "test_nbgrader_03_reweighing.py": 32,
    "test_imdb_bench.py": 31,
    "test_sandbox.py": 29,
    "test_hostile.py": 27,
    "test_nbgrader_01_tokenization.py": 27,
    "test_nbgrader_04_imdb_preprocessing.py": 26,
    "test_instructor_workflow.py": 25,
    "test_ngshare.py": 22,
    "test_compat.py": 18,
    "test_demo.py": 17,
    "test_executor_binding.py": 15,
    "test_engine_stamps.py": 14,
    "test_hostile_binding.py": 12,
    "test_human_grades.py": 11,
    "test_nbgrader_02_metrics.py": 10,
}


def cost(path: str | Path) -> int:
    """The measured seconds of the test file at ``path`` (0: not listed)."""
    return SECONDS.get(Path(path).name, 0)


def longest_first(items: list) -> None:
    """Reorder collected ``items`` in place: files by :func:`cost`, the longest first; the
    order within a file, and of the files not listed, is kept (the sort is stable)."""
    items.sort(key=lambda item: -cost(item.path))
