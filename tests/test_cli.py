"""``course`` (attention_grader.cli): each command reaches what it names, with its options, and
an error of the course cycle is a message and exit status 2, not a traceback. (``autograde``,
``feedback``, ``demo`` and ``bench`` have their own tests: test_cli_autograde,
test_human_grades, test_instructor_workflow, test_demo, test_imdb_bench.)"""

from __future__ import annotations

import re
import shutil
import time
from types import SimpleNamespace

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


def test_bench_grading_alternates_the_order_of_its_runs_round_by_round():
    """A machine that drifts during the benchmark must not favour one worker count: every
    second round runs the counts backwards."""
    assert cli.run_order([1, 2], 3) == [1, 2, 2, 1, 1, 2]
    assert cli.run_order([1, 2], 1) == [1, 2]
    assert cli.run_order([2], 2) == [2, 2]


def test_bench_grading_speedup_is_the_ratio_of_medians_then_each_rounds_pair():
    walls = {1: [80.0, 60.0, 90.0], 2: [40.0, 50.0, 45.0]}
    # medians 80 and 45; the rounds: 80/40, 60/50, 90/45
    assert cli.speedup_lines(walls) == [
        "speedup workers=2 over 1: 1.78x (each round's pair of runs: 2.00x, 1.20x, 2.00x)"
    ]
    assert cli.speedup_lines({2: [40.0]}) == []  # no 1-worker run: nothing to compare


def _cpu_times(stat_line: str) -> SimpleNamespace:
    """What psutil.cpu_times() gives for this ``cpu`` line of /proc/stat (100 ticks a
    second; only the fields the line has)."""
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest")
    ticks = stat_line.split()[1:]
    return SimpleNamespace(**{n: int(t) / 100 for n, t in zip(names, ticks, strict=False)})


def test_bench_grading_reads_the_machines_cpu_from_proc_stat():
    """Busy is user + nice + system + irq + softirq; idle and iowait are not busy; steal is
    apart; guest time (already inside user and nice) is not counted twice."""
    before = cli.machine_cpu(_cpu_times("cpu  1000 50 300 9000 100 10 40 20 500 0"))
    after = cli.machine_cpu(_cpu_times("cpu  9000 50 1300 9500 120 10 140 70 4000 0"))
    assert before == {"busy": 14.0, "steal": 0.2, "all": 105.2}
    # 35 s of a run: busy 8000 + 1000 + 100 ticks = 91 core-seconds; steal 50 ticks
    text = cli.machine_text(before, after, 35.0)
    assert text.startswith("machine_cores_busy=2.60 machine_cpu_s=91.0 steal_s=0.5 "), text
    # an older kernel's line without steal still reads
    assert cli.machine_cpu(_cpu_times("cpu 100 0 100 800 0 0 0"))["busy"] == 2.0


def test_bench_grading_reads_this_machines_proc_stat():
    now = cli._machine_cpu_now()
    assert now is not None, "no /proc/stat: the benchmark could not say what the cores did"
    time.sleep(0.05)
    later = cli._machine_cpu_now()
    assert 0 < now["all"] <= later["all"] and now["busy"] <= later["busy"] < later["all"]
