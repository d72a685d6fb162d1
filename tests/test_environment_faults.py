"""Faults of the grading environment are never recorded as a student's zeros.

- The instructor's solution is graded first (:mod:`attention_grader.solutions`): when it does
  not score full marks here (the issue's case: a setup cell that cannot import a package), the
  assignment is held, nothing of it is recorded, the summary says why and the run fails.
- A passed check is remembered under what decides grades and the solution's source: it is not
  executed again until one of them changes.
- A Dask worker built from another environment, a lost worker and a failed setup cell leave the
  submission unrecorded (its earlier grades kept, no stamp: the next run grades it).
- A notebook that nbgrader prepares differently from the one a worker executed is executed
  again, and the run says so (the worker's result is not used).

Real components: bubblewrap sandboxes, nbgrader, a Dask ``LocalCluster``.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import dask
import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry

from attention_grader import (
    authoring,
    cells,
    engine,
    executor,
    solutions,
    stamps,
    submissions,
    workers,
)
from courses import make_course, release_course, submit

pytestmark = pytest.mark.slow

A = "01_tokenization"
NB = f"{A}.ipynb"
BROKEN_IMPORT = "import attention_course_not_installed  # an environment without a package\n"


def _course(base: Path, break_setup: bool = False) -> tuple[Path, dict, dict]:
    root = make_course(base, [A])
    if break_setup:  # the case: the sandbox cannot import what the setup cell needs
        source = authoring.read_notebook(root / "source" / A / NB)
        setup = next(
            c
            for c in source["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade_id") == "setup"
        )
        text = "".join(setup["source"]) if isinstance(setup["source"], list) else setup["source"]
        setup["source"] = BROKEN_IMPORT + text
        authoring.write_notebook(source, root / "source" / A / NB)
    release_course(root, [A])
    release_nb = authoring.read_notebook(root / "release" / A / NB)
    source_nb = authoring.read_notebook(root / "source" / A / NB)
    return root, release_nb, source_nb


def _grades(root: Path, student: str) -> dict[str, float] | None:
    """``{test cell: score}`` recorded for ``student`` (None: no submission recorded)."""
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        try:
            sub = gb.find_submission_notebook(A, A, student)
        except MissingEntry:
            return None
        return {g.name: g.score for g in sub.grades if g.auto_score is not None}


def _stamped(root: Path, student: str) -> bool:
    return (root / "autograded" / student / A / stamps.STAMP).exists()


def test_a_solution_that_fails_here_holds_the_assignment(tmp_path):
    root, release_nb, source_nb = _course(tmp_path, break_setup=True)
    submit(root, "ana", A, NB, submissions.solved(release_nb, source_nb))
    summary = engine.Engine(root, sequential=True, progress=False).grade([A])
    assert not summary.ok and summary.count("held") == 1 and summary.count("graded") == 0
    reason = summary.held[A]
    assert "instructor's solution" in reason and "attention_course_not_installed" in reason
    assert f"HELD {A}" in summary.text() and "nothing recorded" in summary.text()
    assert _grades(root, "ana") is None and not _stamped(root, "ana")
    assert not (root / "autograded" / solutions.SOLUTIONS).exists()  # a failure is not kept


def test_a_passed_check_is_kept_until_what_grades_changes(tmp_path):
    root, release_nb, source_nb = _course(tmp_path)
    submit(root, "ana", A, NB, submissions.solved(release_nb, source_nb))
    first = engine.Engine(root, sequential=True, progress=False).grade([A])
    assert first.ok and first.count("graded") == 1 and not first.held
    kept = json.loads((root / "autograded" / solutions.SOLUTIONS).read_text())
    assert set(kept) == {A}
    staged = root / ".intake" / "solutions" / A / NB
    before = staged.stat().st_mtime_ns
    time.sleep(0.05)
    submit(root, "ben", A, NB, submissions.solved(release_nb, source_nb))
    second = engine.Engine(root, sequential=True, progress=False).grade([A])
    assert second.ok and second.count("graded") == 1
    assert staged.stat().st_mtime_ns == before  # the solution was not executed again
    # a change of the solution's source is checked again (a comment in a solution cell)
    source = authoring.read_notebook(root / "source" / A / NB)
    answer = next(c for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))
    answer["source"] = "# checked again\n" + "".join(answer["source"])
    authoring.write_notebook(source, root / "source" / A / NB)
    submit(root, "cleo", A, NB, submissions.solved(release_nb, source_nb))
    third = engine.Engine(root, sequential=True, progress=False).grade([A])
    assert third.ok and staged.stat().st_mtime_ns != before
    assert json.loads((root / "autograded" / solutions.SOLUTIONS).read_text())[A] != kept[A]


def test_a_setup_cell_that_fails_for_one_submission_records_nothing(tmp_path, monkeypatch):
    root, release_nb, source_nb = _course(tmp_path)
    submit(root, "ana", A, NB, submissions.solved(release_nb, source_nb))
    assert engine.Engine(root, sequential=True, progress=False).grade([A]).ok
    graded = _grades(root, "ana")
    assert graded and all(score > 0 for score in graded.values())
    # the same student hands in again (a new file), and this time the worker's environment
    # breaks the setup cell's imports (a library that cannot be loaded, on that worker, then)
    folder = root / "submitted" / "ana" / A
    (folder / "notes.txt").write_text("my notes\n")
    real_execute = executor.execute

    def broken_environment(job):
        result = real_execute(job)
        setup = next(c for c in result.notebook.cells if cells.grade_id(c) == "setup")
        setup.outputs = [
            nbformat.v4.new_output(
                "error", ename="ImportError", evalue="libgomp.so.1: cannot open", traceback=[]
            )
        ]
        return result

    monkeypatch.setattr(executor, "execute", broken_environment)
    summary = engine.Engine(root, sequential=True, progress=False).grade([A])
    (outcome,) = [o for o in summary.outcomes if o.submission.student == "ana"]
    assert outcome.status == "failed" and not summary.ok
    assert (
        "the setup cell failed" in outcome.reasons[0]
        and "nothing was recorded" in outcome.reasons[0]
    )
    assert _grades(root, "ana") == graded  # the earlier grades stand, no row of zeros
    stamp = json.loads((root / "autograded" / "ana" / A / stamps.STAMP).read_text())
    assert stamp["submission"] != outcome.submission.digest  # graded again by the next run


def _cluster(**options):
    """A local Dask cluster of one worker process (the test's own: it can reach the worker)."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        **options,
    )


def _another_environment(folder: Path) -> Path:
    """A worker preload script that puts one more distribution on the worker's path: the
    worker then has another environment than the coordinator (as a worker built from another
    requirements file would)."""
    info = folder / "site" / "not_the_coordinators-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: not-the-coordinators\nVersion: 1.0\n"
    )
    script = folder / "another_environment.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(folder / 'site')!r})\n")
    return script


def test_workers_from_another_environment_grade_nothing(tmp_path):
    root, release_nb, source_nb = _course(tmp_path)
    submit(root, "ana", A, NB, submissions.solved(release_nb, source_nb))
    with (
        workers.quiet_dask(),
        _cluster(preload=[str(_another_environment(tmp_path))]) as cluster,
    ):
        summary = engine.Engine(root, scheduler=cluster.scheduler_address, progress=False).grade(
            [A]
        )
    assert summary.held and "another environment than the coordinator" in summary.held[A]
    assert _grades(root, "ana") is None and not _stamped(root, "ana")


def _kill_the_worker_that_runs(cluster, prefix: str, killed: list[int], stop: threading.Event):
    """SIGKILL the worker process that runs a task whose key starts with ``prefix``."""
    while not stop.wait(0.2):
        for task in list(cluster.scheduler.tasks.values()):
            if not str(task.key).startswith(prefix) or task.state != "processing":
                continue
            address = task.processing_on.address
            for nanny in cluster.workers.values():
                if nanny.worker_address == address and nanny.process is not None:
                    pid = nanny.process.process.pid
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return


def test_a_lost_worker_records_nothing(tmp_path):
    root, release_nb, source_nb = _course(tmp_path)
    code = submissions.solution_code(source_nb)
    first = next(iter(code))
    code[first] = "import time\ntime.sleep(25)\n" + code[first]  # long enough to be killed in
    submit(root, "ana", A, NB, submissions.fill(release_nb, code))
    # the solution check passes first (grading another student), with workers nobody kills
    submit(root, "ben", A, NB, submissions.solved(release_nb, source_nb))
    assert engine.Engine(root, sequential=True, progress=False).grade([A], ["ben"]).ok
    killed: list[int] = []
    stop = threading.Event()
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        workers.quiet_dask(),
        _cluster() as cluster,
    ):
        killer = threading.Thread(
            target=_kill_the_worker_that_runs, args=(cluster, "run_job", killed, stop)
        )
        killer.start()
        try:
            summary = engine.Engine(
                root, scheduler=cluster.scheduler_address, progress=False
            ).grade([A])
        finally:
            stop.set()
            killer.join()
    assert killed, "the test did not get to kill the worker"
    (outcome,) = [o for o in summary.outcomes if o.submission.student == "ana"]
    assert outcome.status == "failed" and "the grading worker failed" in outcome.reasons[0]
    assert "nothing was recorded" in outcome.reasons[0]
    assert _grades(root, "ana") is None and not _stamped(root, "ana")


def test_a_notebook_prepared_differently_is_executed_again(tmp_path):
    root, release_nb, source_nb = _course(tmp_path)
    submit(root, "ana", A, NB, submissions.solved(release_nb, source_nb))
    grader = engine.Engine(root, sequential=True, progress=False)
    (sub,) = grader.planner.plan([A]).todo
    prepared = grader.preparer.prepare(sub, grader.planner.notebooks(A))
    (job,) = prepared.jobs
    result = workers.run_job(job, None)
    # a worker's result for another notebook than the one nbgrader prepares: its test cells
    # reported nothing (every one would fail), and its digest is not nbgrader's notebook's
    for cell in result.notebook["cells"]:
        cell["outputs"] = [] if cell["cell_type"] == "code" else cell.get("outputs")
    result.input_digest = "0" * 64
    outcome = grader.recorder.record(prepared, [result])
    assert outcome.status == "graded", outcome.reasons
    assert any("executed again" in note for note in outcome.notes)
    graded = _grades(root, "ana")
    assert graded and all(score > 0 for score in graded.values())  # from the new execution
