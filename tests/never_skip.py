"""A pytest plugin (``conftest`` loads it): in this suite a skipped test is a failed one.

A test that cannot run here, because a tool is missing, a module does not import, or someone
wrote ``pytest.skip``/``importorskip``/``skipif``, would otherwise show as one more ``s`` in a
green run. ``make test`` promises the opposite: everything it needs is installed by the
project, and what is missing fails loudly. Expected failures (``xfail``) fail the same way."""

from __future__ import annotations

import pytest

MESSAGE = "this suite never skips (tests/never_skip.py): a skipped test fails, because"


def _failed(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = report.longrepr
    if isinstance(reason, tuple) and len(reason) == 3:  # (file, line, "Skipped: why")
        reason = f"{reason[2]} ({reason[0]}:{reason[1]})"
    elif hasattr(report, "wasxfail"):
        reason = f"it is marked xfail ({report.wasxfail or 'no reason given'}):\n{reason or ''}"
    report.outcome = "failed"
    report.longrepr = f"{MESSAGE} {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if report.skipped or hasattr(report, "wasxfail"):
        _failed(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> object:
    outcome = yield
    report = outcome.get_result()
    if report.skipped:  # (a whole module skipped as it was imported)
        _failed(report)
