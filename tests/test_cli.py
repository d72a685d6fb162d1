"""``course`` (attention_grader.cli): each command reaches what it names, with its options, and
an error of the course cycle is a message and exit status 2, not a traceback. (``autograde``,
``feedback``, ``demo`` and ``bench`` have their own tests: test_cli_autograde,
test_human_grades, test_instructor_workflow, test_demo, test_imdb_bench.)"""

from __future__ import annotations

import re
import shutil

import pytest

from attention_grader import authoring, cli
from conftest import ROOT
from courses import make_course

pytestmark = pytest.mark.slow  # nbgrader and kernels

A = "01_tokenization"


def test_release_then_grades_and_an_unknown_assignment(tmp_path, course_env, capsys):
    root = make_course(tmp_path, [A])
    assert cli.main(["--root", str(root), "release"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"released release/{A}/{A}.ipynb"]
    assert (root / "release" / A / f"{A}.ipynb").is_file()

    assert cli.main(["--root", str(root), "release", "no_such_assignment"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: ") and "Traceback" not in err

    assert cli.main(["--root", str(root), "grades", "--csv", "out.csv"]) == 0
    out = capsys.readouterr().out
    assert "Scores (also in out.csv" in out
    assert (root / "out.csv").is_file() and (root / "reports" / "class_report.html").is_file()


def test_sync_notebooks_strips_what_was_run_and_names_it(tmp_path, capsys):
    root = make_course(tmp_path, [A])
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")  # the repository settings
    path = root / "source" / A / f"{A}.ipynb"
    nb = authoring.read_notebook(path)
    code = next(cell for cell in nb["cells"] if cell["cell_type"] == "code")
    code["execution_count"] = 3
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
    authoring.write_notebook(nb, path)

    assert cli.main(["--root", str(root), "sync-notebooks"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"updated source/{A}/{A}.ipynb",
        "1 notebook(s) changed",
    ]
    code = next(c for c in authoring.read_notebook(path)["cells"] if c["cell_type"] == "code")
    assert code["execution_count"] is None and code["outputs"] == []
    assert cli.main(["--root", str(root), "sync-notebooks"]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 notebook(s) changed"]


def test_bench_sandbox_prints_one_line_for_its_runs(capsys):
    assert cli.main(["bench-sandbox", "--runs", "1"]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(
        r"runs=1 sandboxed_s=\d+\.\d\d plain_s=\d+\.\d\d overhead_s=-?\d+\.\d\d", line
    )


def test_bench_memory_of_a_class_counts_the_templates_a_run_had_and_each_kernel():
    """`make bench-grading`'s memory line: with the template, the most templates one run had
    (the workers of a local cluster share one; each run's own pids) plus every concurrent
    kernel's own memory; without it, every kernel's resident memory."""
    mib = 1024**2
    shared, separate = cli._KernelMemory(), cli._KernelMemory()
    shared.templates = {11: 600 * mib}
    separate.templates = {12: 634 * mib, 13: 620 * mib}
    for run in (shared, separate):
        run.children = {21: 100 * mib, 22: 160 * mib}
    memory = cli._KernelMemory()
    memory.merge(shared)
    text = memory.class_text(concurrent=16)
    assert "class_of_16_notebooks_mb=3160 fits_8_gib=yes" in text, text  # 1x600 + 16x160
    assert "1 template(s) x 600 MB" in text, text
    memory.merge(separate)  # a run whose workers had one each: the larger figure counts
    text = memory.class_text(concurrent=16)
    assert "class_of_16_notebooks_mb=3828 fits_8_gib=yes" in text, text  # 2x634 + 16x160
    fresh = cli._KernelMemory()
    fresh.fresh = {31: 700 * mib, 32: 715 * mib}
    assert "class_of_16_notebooks_mb=11440 fits_8_gib=NO" in fresh.class_text(16)
    assert "no kernel was sampled" in cli._KernelMemory().class_text(16)
