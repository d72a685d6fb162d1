"""The order in which ``make test`` hands its files to its workers: the longest first.

``--dist loadfile`` gives each worker a whole file at a time, in the order of the collection.
pytest-xdist would reorder the files by their number of tests (``--no-loadscope-reorder`` in
the Makefile turns that off), which started the exchange test, three tests and more than a
minute, last: one worker then ran it alone while the other had finished (20 s of a 7:56 run).
Longest first, the short files fill the end on every worker.

:data:`SECONDS` holds what each file of 20 s or more took in ``make test`` (the sum of its
tests' times, 2 cores and 3 workers, one run in a clone at 12:40 on 2026-12-07, 6:48 in all,
on a slow hour of the machine; the order is what counts); files not listed follow in their usual
order. Refresh it when a file's cost changes much: ``pytest -n 3 --dist loadfile
--durations=0`` prints the times. A listed file that no longer exists fails
``test_suite_config``.
"""

from __future__ import annotations

from pathlib import Path

SECONDS = {
    "test_notebooks_run.py": 98,
    "test_nbgrader_06_custom_dataloader.py": 92,
    "test_zygote.py": 87,
    "test_engine.py": 85,
    "test_browser.py": 73,
    "test_exchange_hub.py": 72,
    "test_nbgrader_05_imdb_attention.py": 71,
    "test_ngshare.py": 52,
    "test_instructor_workflow.py": 44,
    "test_imdb_bench.py": 40,
    "test_nbgrader_04_imdb_preprocessing.py": 36,
    "test_hostile.py": 36,
    "test_nbgrader_03_reweighing.py": 35,
    "test_compat.py": 34,
    "test_sandbox.py": 32,
    "test_demo.py": 27,
    "test_nbgrader_01_tokenization.py": 22,
    "test_hostile_binding.py": 21,
}


def cost(path: str | Path) -> int:
    """The measured seconds of the test file at ``path`` (0: not listed)."""
    return SECONDS.get(Path(path).name, 0)


def longest_first(items: list) -> None:
    """Reorder collected ``items`` in place: files by :func:`cost`, the longest first; the
    order within a file, and of the files not listed, is kept (the sort is stable)."""
    items.sort(key=lambda item: -cost(item.path))
