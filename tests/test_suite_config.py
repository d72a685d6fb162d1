"""The test command itself: `make test` must build each graded course once, not once per worker.

Every nbgrader test module grades a whole class of submissions in a session-scoped fixture
(one to four minutes each). That is only cheap if all of a module's tests run on the same
xdist worker. pytest-xdist's `--dist loadgroup` silently stopped grouping under pytest 9
(the group suffix is written to an attribute pytest no longer reads), which doubled the suite;
this test runs the Makefile's own pytest options on tiny modules and counts fixture builds, and
checks that the longest file (``suite_order``) is handed out first.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections import Counter

import suite_order
from conftest import ROOT

MODULE = """
import os
import pytest

@pytest.fixture(scope="session")
def built():
    with open({log!r}, "a", encoding="utf-8") as fh:
        fh.write("{name} " + os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")
    return True

@pytest.mark.parametrize("i", range({tests}))
def test_uses_the_fixture(built, i):
    assert built
"""


def _make_variable(name: str) -> str:
    """``$(name)`` as the project's Makefile sets it by default (not as ``make test NAME=...``
    or the environment overrides it)."""
    extra = f"print-variable:\n\t@echo $({name})\n"
    overrides = {"MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL", name}
    run = subprocess.run(
        ["make", "-s", "-f", "Makefile", "-f", "-", "print-variable"],
        cwd=ROOT,
        env={key: value for key, value in os.environ.items() if key not in overrides},
        input=extra,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def _make_test_options() -> list[str]:
    """The options of the Makefile's ``pytest`` line in ``test:``, make's variables expanded."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^test:.*\n\t(.+)$", makefile, flags=re.MULTILINE)
    assert match, "Makefile has no `test:` target with a recipe line"
    line = re.sub(r"\$\((\w+)\)", lambda m: _make_variable(m.group(1)), match.group(1))
    words = shlex.split(line)
    assert "pytest" in words, f"the test recipe does not run pytest: {match.group(1)}"
    return [w for w in words[words.index("pytest") + 1 :] if not w.startswith("--durations")]


def test_make_test_runs_one_worker_more_than_the_cores():
    """A worker often waits (a kernel starting, a browser, a timeout being proven): a third
    worker on 2 cores uses those pauses (README, For maintainers). At most 8 (memory)."""
    options = _make_test_options()
    workers = int(options[options.index("-n") + 1])
    assert workers == min(len(os.sched_getaffinity(0)), 7) + 1, options


PROBE_CONFTEST = """
import sys
sys.path.insert(0, {tests!r})
import suite_order

suite_order.SECONDS["test_zeta.py"] = 100  # one test, and the longest file


def pytest_collection_modifyitems(config, items):
    suite_order.longest_first(items)
"""


def test_make_test_builds_each_module_fixture_once_and_the_longest_file_first(tmp_path):
    """Each file's fixtures built once, and the longest file (by ``suite_order``) started
    first: xdist's own order (the most tests first) or the alphabetical one start it last."""
    options = _make_test_options()
    assert "-n" in options, "make test should run on every core (pytest -n)"
    # (two workers on the four probe files: with as many workers as files, any order passes)
    options[options.index("-n") + 1] = "2"
    log = tmp_path / "builds.log"
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (suite / "conftest.py").write_text(
        PROBE_CONFTEST.format(tests=str(ROOT / "tests")), encoding="utf-8"
    )
    for name, tests in (("alpha", 8), ("beta", 8), ("gamma", 8), ("zeta", 1)):
        (suite / f"test_{name}.py").write_text(
            MODULE.format(log=str(log), name=name, tests=tests), encoding="utf-8"
        )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *options, "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=suite,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"the probe suite failed:\n{run.stdout}\n{run.stderr}"
    lines = log.read_text(encoding="utf-8").splitlines()
    builds = Counter(line.split()[0] for line in lines)
    assert builds == {"alpha": 1, "beta": 1, "gamma": 1, "zeta": 1}, (
        f"session fixtures built {dict(builds)} times with `pytest {' '.join(options)}`: "
        "a module's tests were spread over several workers, so every graded course would be "
        "autograded more than once (use --dist loadfile)"
    )
    # the files each worker ran, in order: the longest file is the first its worker got
    # (not the first two built on the machine: a worker slow to start, on a busy machine,
    # builds its first file after the other worker's first two)
    ran: dict[str, list[str]] = {}
    for line in lines:
        name, worker = line.split()
        ran.setdefault(worker, []).append(name)
    assert any(names[0] == "zeta" for names in ran.values()), (
        f"each worker's files in order: {ran} with `pytest {' '.join(options)}`: the longest "
        "file should start first (suite_order, and --no-loadscope-reorder)"
    )


def test_every_file_the_order_lists_exists():
    listed = set(suite_order.SECONDS)
    present = {path.name for path in (ROOT / "tests").glob("test_*.py")}
    assert listed <= present, f"suite_order.SECONDS lists missing files: {listed - present}"
    assert suite_order.cost(ROOT / "tests" / "test_exchange_hub.py") > 0


def test_a_release_made_once_is_the_release_nbgrader_makes(tmp_path):
    """``courses.release_course`` copies an earlier release of the same content: the copy
    must be what ``nbgrader generate_assignment`` makes for that course (the release notebooks
    and the gradebook's assignment, notebooks and grade cells), and a changed source must be
    released again, not copied."""
    import json

    from attention_grader import cycle
    from courses import make_course, release_course, release_made

    name = "02_metrics"

    direct = make_course(tmp_path / "direct", [name])
    cycle.release(direct, [name])
    copies = []
    for n in range(2):
        root = make_course(tmp_path / f"copy{n}", [name])
        release_course(root, [name])
        copies.append(root)
    expected = release_made(direct)
    assert expected[0] and expected[1]  # (a release with notebooks and graded cells)
    assert release_made(copies[0]) == release_made(copies[1]) == expected
    changed = make_course(tmp_path / "changed", [name])
    source = changed / "source" / name / f"{name}.ipynb"
    nb = json.loads(source.read_text())
    nb["cells"].insert(
        0, {"cell_type": "markdown", "id": "a-new-note", "metadata": {}, "source": "A new note."}
    )
    source.write_text(json.dumps(nb))
    release_course(changed, [name])
    released = (changed / "release" / name / f"{name}.ipynb").read_text()
    assert "A new note." in released


def test_the_fresh_kernel_sample_has_a_mistake_of_every_family_and_the_unseeded_loader():
    """``make test`` compares only a sample of 01's and 06's catalogs with fresh kernels
    (``notebook_suite.compared_sample``): it must hold a mistake in every family of cells that
    has one (the cells a difference of the template would show in), and 06's mistake whose
    reports change from run to run (the comparison's rule for those must run)."""
    import test_nbgrader_01_tokenization as t01
    import test_nbgrader_06_custom_dataloader as t06
    from notebook_suite import compared_sample, family_of

    assert "loader_unseeded_generator" in t06.TestCustomDataloader.compared_mistakes
    for suite in (t01.TestTokenization, t06.TestCustomDataloader):
        catalog = suite.catalog()
        sample = compared_sample(catalog, suite.compared_mistakes)
        assert {"solution", "blank", "alternative"} <= sample
        assert len(sample) < 3 + len(catalog.groups), "not a sample: the whole catalog"

        sampled = [n for n in catalog.mistakes if catalog.student_of(n) in sample]
        every = {family_of(catalog.module, n) for n in catalog.mistakes}
        assert {family_of(catalog.module, n) for n in sampled} == every, suite
        assert {catalog.student_of(n) for n in suite.compared_mistakes} <= sample


SKIPPING = {
    "test_skips.py": """
import pytest

def test_passes():
    assert True

def test_calls_skip():
    pytest.skip("no GPU here")

def test_imports_a_missing_module():
    pytest.importorskip("a_module_nobody_installed")

@pytest.mark.skipif(True, reason="not on this machine")
def test_marked_skipif():
    pass

@pytest.mark.xfail(reason="known")
def test_expected_to_fail():
    assert False
""",
    "test_module_skip.py": """
import pytest

pytest.importorskip("another_module_nobody_installed")

def test_never_collected():
    pass
""",
}


def test_a_skipped_test_fails_the_run(tmp_path):
    """`tests/never_skip.py` (loaded by conftest): every way a test can be skipped fails the
    run with its reason, and a module skipped as it is imported stops the run; a passing test
    still passes. Without the plugin the same files pass with skips, which is what the suite
    must never do silently."""
    for name, text in SKIPPING.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")

    def run(path: str, *plugin: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pytest", *plugin, "-rA", "-p", "no:cacheprovider", path],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT / "tests")},
            capture_output=True,
            text=True,
            timeout=120,
        )

    plain = run(".")
    assert plain.returncode == 0, plain.stdout
    assert "1 passed, 4 skipped, 1 xfailed" in plain.stdout, plain.stdout  # (+ the module)
    assert "SKIPPED [1] test_module_skip.py" in plain.stdout, plain.stdout
    guarded = run("test_skips.py", "-p", "never_skip")
    assert guarded.returncode == 1, guarded.stdout
    summary = guarded.stdout.strip().splitlines()[-1]
    # (skipif is decided in the test's setup: pytest says ERROR for a failed setup)
    assert "3 failed, 1 passed, 1 error" in summary and "skip" not in summary, summary
    assert "xfail" not in summary, summary
    failed = set(re.findall(r"^(?:FAILED|ERROR) (\S+)", guarded.stdout, flags=re.MULTILINE))
    assert failed == {
        "test_skips.py::test_calls_skip",
        "test_skips.py::test_imports_a_missing_module",
        "test_skips.py::test_marked_skipif",
        "test_skips.py::test_expected_to_fail",
    }, guarded.stdout
    for reason in ("no GPU here", "a_module_nobody_installed", "not on this machine", "known"):
        assert reason in guarded.stdout, (reason, guarded.stdout)
    assert guarded.stdout.count("this suite never skips") >= 4, guarded.stdout
    module = run("test_module_skip.py", "-p", "never_skip")
    assert module.returncode != 0 and "1 error" in module.stdout, module.stdout
    assert "this suite never skips" in module.stdout, module.stdout
    assert "another_module_nobody_installed" in module.stdout, module.stdout
