"""The order in which ``make test`` hands its files to its workers: the longest first.

``--dist loadfile`` gives each worker a whole file at a time, in the order of the collection.
pytest-xdist would reorder the files by their number of tests (``--no-loadscope-reorder`` in
the Makefile turns that off), which started the exchange test, three tests and more than a
minute, last: one worker then ran it alone while the other had finished (20 s of a 7:56 run).
Longest first, the short files fill the end on every worker.

:data:`SECONDS` holds what each long file took in ``make test`` (the sum of its tests'
times, 2 cores and 2 workers, the mean of two profiled runs of 2026-12-06; the exchange
test's from a run with 3 workers, after ``make test`` began to build its students'
environment before the tests; their order is what counts, and it held with 3 workers); files
not listed follow in their usual order. Refresh it when a file's cost changes much:
``pytest -n 2 --dist loadfile --durations=0`` prints the times. A listed file that no longer
exists fails ``test_suite_config``.
"""

from __future__ import annotations

from pathlib import Path

SECONDS = {
    "test_notebooks_run.py": 63,
    "test_nbgrader_06_custom_dataloader.py": 60,  # (88 before its comparison took a sample)
    "test_browser.py": 54,
    "test_engine.py": 52,
    "test_zygote.py": 46,
    "test_hostile.py": 45,
    "test_nbgrader_03_reweighing.py": 36,
    "test_nbgrader_05_imdb_attention.py": 35,
    "test_nbgrader_04_imdb_preprocessing.py": 34,
    "test_instructor_workflow.py": 30,
    "test_nbgrader_01_tokenization.py": 29,  # (43 before its comparison took a sample)
    "test_exchange_hub.py": 28,  # (its students' environment is built before the tests)
    "test_sandbox.py": 27,
    "test_executor_binding.py": 25,
    "test_engine_stamps.py": 20,
    "test_ngshare.py": 20,
    "test_demo.py": 20,
    "test_imdb_bench.py": 17,
    "test_environment_faults.py": 16,
    "test_compat.py": 16,
    "test_hostile_intake.py": 15,
    "test_human_grades.py": 13,
    "test_nbgrader_02_metrics.py": 13,
    "test_hostile_binding.py": 11,
}


def cost(path: str | Path) -> int:
    """The measured seconds of the test file at ``path`` (0: not listed)."""
    return SECONDS.get(Path(path).name, 0)


def longest_first(items: list) -> None:
    """Reorder collected ``items`` in place: files by :func:`cost`, the longest first; the
    order within a file, and of the files not listed, is kept (the sort is stable)."""
    items.sort(key=lambda item: -cost(item.path))
