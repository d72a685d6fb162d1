"""The order in which ``make test`` hands its files to its workers: the longest first.

``--dist loadfile`` gives each worker a whole file at a time, in the order of the collection.
pytest-xdist would reorder the files by their number of tests (``--no-loadscope-reorder`` in
the Makefile turns that off), which started the exchange test, three tests and more than a
minute, last: one worker then ran it alone while the other had finished (20 s of a 7:56 run).
Longest first, the short files fill the end on every worker.

:data:`SECONDS` holds what each file of 20 s or more took in ``make test`` (the sum of its
tests' times, 2 cores and 3 workers, one profiled run at 06:40 on 2026-12-07, 12:32 in all,
when the machine ran about twice as slow as at midnight; the order is what counts: that run put
test_engine.py first, 4th before); files not listed follow in their usual order. Refresh
it when a file's cost changes much: ``pytest -n 3 --dist loadfile --durations=0`` prints the
times. A listed file that no longer exists fails ``test_suite_config``.
"""

from __future__ import annotations

from pathlib import Path

SECONDS = {
    "test_engine.py": 170,
    "test_notebooks_run.py": 156,
    "test_zygote.py": 155,
    "test_nbgrader_06_custom_dataloader.py": 148,
    "test_nbgrader_05_imdb_attention.py": 145,
    "test_hostile.py": 110,
    "test_browser.py": 108,
    "test_exchange_hub.py": 104,
    "test_nbgrader_03_reweighing.py": 99,
    "test_instructor_workflow.py": 90,
    "test_nbgrader_04_imdb_preprocessing.py": 83,
    "test_imdb_bench.py": 71,
    "test_nbgrader_01_tokenization.py": 70,
    "test_ngshare.py": 66,
    "test_demo.py": 63,
    "test_executor_binding.py": 53,
    "test_engine_stamps.py": 46,
    "test_sandbox.py": 43,
    "test_compat.py": 41,
    "test_nbgrader_02_metrics.py": 39,
    "test_hostile_binding.py": 29,
    "test_environment_faults.py": 29,
    "test_hostile_intake.py": 25,
    "test_human_grades.py": 25,
    "test_standins.py": 24,
    "test_notebook_setup.py": 22,
}


def cost(path: str | Path) -> int:
    """The measured seconds of the test file at ``path`` (0: not listed)."""
    return SECONDS.get(Path(path).name, 0)


def longest_first(items: list) -> None:
    """Reorder collected ``items`` in place: files by :func:`cost`, the longest first; the
    order within a file, and of the files not listed, is kept (the sort is stable)."""
    items.sort(key=lambda item: -cost(item.path))
