"""The grading engine on a small class of notebook 01: Dask and sequential grading agree,
runs are incremental, an interrupted run leaves a consistent gradebook that a rerun
completes, and one student's submissions of two assignments never collide."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from nbgrader.api import Gradebook

from attention_grader import authoring, engine, gradebook, sandbox, stamps, submissions
from courses import make_course, release_course, submit

pytestmark = pytest.mark.slow

A = "01_tokenization"
NB = f"{A}.ipynb"


def _class(release_nb: dict, source_nb: dict) -> dict[str, dict]:
    code = submissions.solution_code(source_nb)
    wrong_cos = dict(code)
    wrong_cos["cosine_similarity"] = "def cosine_similarity(A, B):\n    return A @ B.T\n"
    wrong_bpe = dict(code)
    wrong_bpe["learn_bpe"] = code["learn_bpe"].replace("best = min(", "best = max(")
    return {
        "solution": submissions.solved(release_nb, source_nb),
        "blank": copy.deepcopy(release_nb),
        "cosine-wrong": submissions.fill(release_nb, wrong_cos),
        "bpe-wrong": submissions.fill(release_nb, wrong_bpe),
    }


def _course(base: Path, assignments: tuple[str, ...] = (A,)) -> tuple[Path, dict, dict]:
    root = make_course(base, [A])
    for extra in assignments[1:]:  # another assignment holding the same notebook
        shutil.copytree(root / "source" / A, root / "source" / extra)
    release_course(root, list(assignments))
    release_nb = authoring.read_notebook(root / "release" / A / NB)
    source_nb = authoring.read_notebook(root / "source" / A / NB)
    return root, release_nb, source_nb


def _grade(root: Path, assignments: list[str] | None = None, **options) -> engine.Summary:
    options = {"progress": False, **options}
    return engine.Engine(root, **options).grade(assignments or [A])


@pytest.fixture(scope="module")
def parallel(tmp_path_factory, course_env):
    root, release_nb, source_nb = _course(tmp_path_factory.mktemp("parallel"))
    for student, nb in _class(release_nb, source_nb).items():
        submit(root, student, A, NB, nb)
    summary = _grade(root, workers=2)
    return root, summary, release_nb, source_nb


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, course_env):
    """The same class graded without Dask, uninterrupted: the reference."""
    root, release_nb, source_nb = _course(tmp_path_factory.mktemp("sequential"))
    for student, nb in _class(release_nb, source_nb).items():
        submit(root, student, A, NB, nb)
    summary = _grade(root, sequential=True)
    assert summary.count("graded") == 4
    return gradebook.test_results(root, A)


def test_a_local_dask_cluster_grades_like_sequential_grading(parallel, sequential):
    root, summary, _, _ = parallel
    assert summary.workers == "2 workers" and summary.count("graded") == 4
    got = gradebook.test_results(root, A)
    assert got == sequential
    assert sum(s for s, _ in got["solution"].values()) == 23
    assert sum(s for s, _ in got["blank"].values()) == 0
    assert {t for t, (s, m) in got["cosine-wrong"].items() if s < m} == {"test_cosine_similarity"}
    assert {t for t, (s, m) in got["bpe-wrong"].items() if s < m} == {"test_learn_bpe"}


def _complete_or_absent(root: Path) -> dict[str, bool]:
    """Per student in the gradebook: is every autograded test scored?"""
    out = {}
    with Gradebook(gradebook.db_url(root)) as gb:
        for submission in gb.assignment_submissions(A):
            grades = [
                g for nb in submission.notebooks for g in nb.grades if g.cell.cell_type == "code"
            ]
            out[submission.student.id] = bool(grades) and all(
                g.auto_score is not None for g in grades
            )
    return out


def test_an_interrupted_run_then_a_rerun_equals_an_uninterrupted_run(
    parallel, sequential, tmp_path
):
    _, _, release_nb, source_nb = parallel
    root, _, _ = _course(tmp_path)
    students = _class(release_nb, source_nb)
    for i in range(3):  # a bigger class, so that the signal arrives mid-run
        students[f"copy-{i}"] = students["solution"]
    for student, nb in students.items():
        submit(root, student, A, NB, nb)
    env = {**os.environ, "COURSE_SANDBOX_UID_BASE": "800000000"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "attention_grader",
            "autograde",
            A,
            "--workers",
            "2",
            "--no-progress",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tree: set[int] = set()
    deadline = time.monotonic() + 300
    while not list((root / "autograded").glob(f"*/{A}/{stamps.STAMP}")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        try:
            tree |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        except psutil.Error:
            pass
        time.sleep(0.2)
    tree |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output
    assert "INTERRUPTED" in output
    time.sleep(1)
    alive = [
        pid
        for pid in tree
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert alive == [], "processes outlived the interrupted run"
    # (a zombie has ended: an orphan's, which only this machine's init reaps)
    assert not [
        p
        for p in psutil.process_iter(["uids", "status"])
        if p.info["uids"]
        and 800_000_000 <= p.info["uids"].real < 800_000_000 + sandbox.uid_span()
        and p.info["status"] != psutil.STATUS_ZOMBIE
    ]
    state = _complete_or_absent(root)
    assert state and all(state.values()), state  # recorded submissions are whole
    assert len(state) < len(students)  # the run really was cut short

    rerun = _grade(root, workers=2)
    assert rerun.count("graded") == len(students) - len(state)
    assert rerun.count("skipped") == len(state)
    results = gradebook.test_results(root, A)
    for student in students:
        assert results[student] == sequential.get(student, sequential["solution"]), student


def test_two_assignments_of_one_student_never_collide(tmp_path, course_env):
    root, release_nb, source_nb = _course(tmp_path, (A, "99_retake"))
    submit(root, "ana", A, NB, submissions.solved(release_nb, source_nb))
    submit(root, "ana", "99_retake", NB, copy.deepcopy(release_nb))
    summary = _grade(root, [A, "99_retake"], workers=2)
    assert summary.count("graded") == 2
    first = gradebook.test_results(root, A)["ana"]
    retake = gradebook.test_results(root, "99_retake")["ana"]
    assert sum(s for s, _ in first.values()) == 23
    assert sum(s for s, _ in retake.values()) == 0


def test_a_second_run_grades_nothing_and_a_changed_submission_alone(parallel):
    root, _, release_nb, source_nb = parallel
    before = gradebook.test_results(root, A)
    again = _grade(root, workers=2)
    assert again.count("graded") == 0 and again.count("skipped") == 4
    assert gradebook.test_results(root, A) == before

    submit(root, "cosine-wrong", A, NB, submissions.solved(release_nb, source_nb))  # fixed
    changed = _grade(root, sequential=True)
    assert [o.submission.student for o in changed.outcomes if o.status == "graded"] == [
        "cosine-wrong"
    ]
    after = gradebook.test_results(root, A)
    assert sum(s for s, _ in after["cosine-wrong"].values()) == 23
    assert {k: v for k, v in after.items() if k != "cosine-wrong"} == {
        k: v for k, v in before.items() if k != "cosine-wrong"
    }


def test_an_unforeseen_error_fails_one_submission_and_the_next_run_grades_it(parallel):
    """If preparing or recording one submission raises what no check foresaw, that submission
    alone fails with the error named, the others are graded, and the next run grades again
    what the failed recording may have half written (its stamp is gone)."""
    root, _, _, _ = parallel
    before = gradebook.test_results(root, A)
    run = engine.Engine(root, sequential=True, force=True, progress=False)
    real_prepare, real_stamp = run.preparer.prepare, run.planner.write_stamp

    def prepare(sub, notebooks):
        if sub.student == "blank":
            raise RecursionError("unforeseen, in preparing")
        return real_prepare(sub, notebooks)

    def write_stamp(sub):  # the last step of recording, after the gradebook was written
        if sub.student == "bpe-wrong":
            raise OSError(28, "No space left on device")
        real_stamp(sub)

    run.preparer.prepare, run.planner.write_stamp = prepare, write_stamp
    summary = run.grade([A])
    status = {o.submission.student: o for o in summary.outcomes}
    assert {s: o.status for s, o in status.items()} == {
        "solution": "graded",
        "cosine-wrong": "graded",
        "blank": "failed",
        "bpe-wrong": "failed",
    }
    assert "could not be prepared (RecursionError: unforeseen, in preparing)" in " ".join(
        status["blank"].reasons
    )
    assert "could not be recorded (OSError" in " ".join(status["bpe-wrong"].reasons)
    assert "FAILED bpe-wrong/01_tokenization: it could not be recorded" in summary.text()
    assert gradebook.test_results(root, A) == before

    again = _grade(root, sequential=True)  # no fault now, not forced
    regraded = {o.submission.student: o.status for o in again.outcomes}
    assert regraded == {
        "bpe-wrong": "graded",  # its recording did not complete: graded again
        "blank": "skipped",  # preparing wrote nothing: its earlier grades and stamp stand
        "solution": "skipped",
        "cosine-wrong": "skipped",
    }
    assert gradebook.test_results(root, A) == before


def test_force_and_the_student_filter(parallel):
    root, _, _, _ = parallel
    only = _grade(root, sequential=True, force=True)
    assert only.count("graded") == 4
    one = engine.Engine(root, sequential=True, force=True, progress=False).grade(
        [A], students=["blank"]
    )
    assert [o.submission.student for o in one.outcomes] == ["blank"]


def test_grading_on_an_existing_dask_scheduler(tmp_path, course_env, sequential):
    root, release_nb, source_nb = _course(tmp_path / "course")
    for student, nb in _class(release_nb, source_nb).items():
        submit(root, student, A, NB, nb)
    scheduler_file = tmp_path / "scheduler.json"
    bin_dir = Path(sys.executable).parent
    procs = [
        subprocess.Popen(
            [
                str(bin_dir / "dask"),
                "scheduler",
                "--scheduler-file",
                str(scheduler_file),
                "--no-dashboard",
                "--port",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        address = None
        while address is None:  # dask writes the file in place: it may be read half written
            assert time.monotonic() < deadline, "the scheduler did not start"
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
                address = json.loads(scheduler_file.read_text())["address"]
            time.sleep(0.2)
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "dask"),
                    "worker",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        summary = _grade(root, scheduler=address)
        assert summary.workers == f"scheduler {address}" and summary.count("graded") == 4
        assert gradebook.test_results(root, A) == sequential
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def test_quiet_dask_settings_hold_inside_and_leave_dask_whole():
    """In a fresh interpreter (distributed not yet imported), as on a first grading run: the
    quiet settings apply inside the block, and afterwards distributed's own defaults are all
    there, so a second local cluster in the same process can start."""
    code = (
        "import dask\n"
        "from attention_grader import workers\n"
        "with workers.quiet_dask():\n"
        "    inside = {k: dask.config.get(k) for k in workers.QUIET_DASK}\n"
        "assert inside == workers.QUIET_DASK, inside\n"
        "assert dask.config.get('distributed.comm.require-encryption') in (None, False)\n"
        "assert dask.config.get('distributed.worker.profile.enabled') is True\n"
        "with workers.quiet_dask():\n"
        "    assert dask.config.get('distributed.scheduler.work-stealing') is False\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_local_clusters_workers_keep_quiet_about_a_heartbeat_that_finds_no_scheduler(
    tmp_path, capfd
):
    """As a run ends, a worker whose heartbeat found the scheduler already closed logged an
    ERROR and a traceback (one run in four of ``make bench-grading``): after a run that went
    well. Each worker's own heartbeat is made to find a closed connection here; nothing of it
    is printed, while a heartbeat that timed out, and another error of the same logger, still
    are."""
    from attention_grader import workers

    async def heartbeat_finds_no_scheduler(dask_worker) -> None:
        import logging

        from distributed.comm.core import CommClosedError

        async def closed(**kwargs):
            raise CommClosedError("in <TCP (closed) ConnectionPool.heartbeat_worker>: closed")

        async def timed_out(**kwargs):
            raise TimeoutError("the heartbeat waited too long")

        for failing in (closed, timed_out):
            dask_worker.scheduler.heartbeat_worker = failing
            try:
                await dask_worker.heartbeat()
            finally:
                del dask_worker.scheduler.heartbeat_worker
        logging.getLogger("distributed.worker").error("another error of %s", "a worker")

    capfd.readouterr()
    with workers.Pool(tmp_path, 2, None, False, isolated=False) as pool:
        ran = pool.client.run(heartbeat_finds_no_scheduler)
    assert len(ran) == 2
    said = capfd.readouterr().err
    assert said.count("another error of a worker") == 2, said  # (their logs reach us)
    assert said.count("TimeoutError: the heartbeat waited too long") == 2, said
    assert "closed) ConnectionPool.heartbeat_worker" not in said, said


def test_a_grading_worker_started_by_the_command_line_imports_no_nbgrader():
    """A local cluster's workers are spawned: each runs the script that started the
    coordinator again as ``__mp_main__`` (``course``, multiprocessing's own way: runpy), then
    imports what running a job needs. Neither may import nbgrader, nbconvert or SQLAlchemy
    (about 0.6 s of a core per worker, at every run's start); the command line still works."""
    script = Path(sys.executable).with_name("course")
    heavy = ("nbgrader", "nbconvert", "sqlalchemy")
    worker = (
        "import json, runpy, sys\n"
        f"runpy.run_path({str(script)!r}, run_name='__mp_main__')\n"
        "import attention_grader.workers\n"
        f"print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", worker], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
    # (the coordinator's side does import them: the check above sees what it is meant to)
    coordinator = worker.replace("attention_grader.workers", "attention_grader.cli")
    out = subprocess.run([sys.executable, "-c", coordinator], capture_output=True, text=True)
    assert json.loads(out.stdout) == sorted(heavy)
    help_text = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "autograde" in help_text.stdout


def test_the_summary_prints_no_terminal_control_sequence_from_a_kernel(tmp_path):
    """A failed notebook's summary shows the last lines of its kernel's own output, which the
    student controls: an escape sequence there could erase or forge the lines above it on the
    instructor's terminal (or set its title)."""
    from attention_grader.engine import Summary
    from attention_grader.recording import Outcome
    from attention_grader.staging import Submission

    forged = "\x1b[2K\x1b[1A  graded student/a: 10/10\x1b]0;pwned\x07"
    outcome = Outcome(
        Submission("mallory", "01_tokenization", tmp_path),
        "failed",
        reasons=[f"the setup cell failed: {forged}"],
        log=f"first line\n{forged}\n",
    )
    text = Summary([outcome], seconds=1.0, workers="1").text()
    assert "FAILED mallory/01_tokenization" in text and "graded student/a: 10/10" in text
    assert not any(ord(ch) < 32 and ch != "\n" or ord(ch) == 127 for ch in text), repr(text)
