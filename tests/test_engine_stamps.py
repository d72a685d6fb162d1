"""Grades are never stale: the engine's stamp hashes what decides a grade (both packages'
code, the notebook's judges, nbgrader_config.py and the settings it resolves, the limits),
so that a change of any of them regrades exactly the submissions it affects; a new due date
or late policy recomputes the penalties on the recorded scores without executing anything.
And the local Dask cluster listens on no fixed port (Dask's dashboard default is 8787).

The packages' code is hashed from a copy (``Engine(code=...)``, the seam that
:func:`stamps.package_folders` fills by default): the tests change a byte in the copy, never
in the installed files."""

from __future__ import annotations

import contextlib
import copy
import errno
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from nbgrader.api import Gradebook

from attention_grader import (
    authoring,
    course_config,
    cycle,
    engine,
    executor,
    gradebook,
    stamps,
    submissions,
)
from courses import environment, make_course, release_course, submit

pytestmark = pytest.mark.slow

A1, A2 = "01_tokenization", "02_metrics"
ON = "2026-01-15 09:30:00.000000 UTC"  # every submission's timestamp.txt
LATE_DUE = "2026-01-14T12:00:00+00:00"  # 21.5 h before it: one started day late


def _submit(root: Path, student: str, assignment: str, solved: bool) -> None:
    notebook = f"{assignment}.ipynb"
    release_nb = authoring.read_notebook(root / "release" / assignment / notebook)
    source_nb = authoring.read_notebook(root / "source" / assignment / notebook)
    nb = submissions.solved(release_nb, source_nb) if solved else copy.deepcopy(release_nb)
    submit(root, student, assignment, notebook, nb)
    (root / "submitted" / student / assignment / "timestamp.txt").write_text(ON)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course_env):
    """A course with 01 (ana) and 02 (ana, ben) graded once, its stamps hashing a copy of
    both packages."""
    base = tmp_path_factory.mktemp("stamps")
    root = make_course(base, [A1, A2])
    release_course(root, [A1, A2])
    code = {
        name: Path(shutil.copytree(folder, base / "code" / name, ignore=_pycache))
        for name, folder in stamps.package_folders().items()
    }
    _submit(root, "ana", A1, solved=True)
    _submit(root, "ana", A2, solved=True)
    _submit(root, "ben", A2, solved=False)
    summary = _engine(root, code).grade([A1, A2])
    assert summary.count("graded") == 3, summary.text()
    return root, code


def _pycache(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]


def _engine(root: Path, code: dict[str, Path], **options) -> engine.Engine:
    return engine.Engine(root, sequential=True, progress=False, code=code, **options)


def _planned(root: Path, code: dict[str, Path]) -> set[str]:
    """The submissions the engine would grade now (plan only: nothing executed)."""
    plan = _engine(root, code).planner.plan([A1, A2])
    assert len(plan.todo) + len(plan.unchanged) == 3
    return {s.name for s in plan.todo}


@contextlib.contextmanager
def _changed(path: Path) -> Iterator[None]:
    """One more line at the end of ``path`` while the block runs, then its bytes as before."""
    original = path.read_bytes()
    path.write_bytes(original + b"\n# changed by the test\n")
    try:
        yield
    finally:
        path.write_bytes(original)


ALL = {f"ana/{A1}", f"ana/{A2}", f"ben/{A2}"}


def test_the_installed_packages_code_is_what_is_hashed():
    folders = stamps.package_folders()
    import attention_course
    import attention_grader

    assert folders == {
        "attention_course": Path(attention_course.__file__).parent,
        "attention_grader": Path(attention_grader.__file__).parent,
    }
    hashed = {name for name, _ in stamps.code_files(folders)}
    for module in ("judging", "nbgrader_ext", "executor", "sandbox", "_launch", "engine", "late"):
        assert f"attention_grader/{module}.py" in hashed, module
    for module in ("probe", "wire", "checks", "standins", "notebook", "data", "fixtures"):
        assert f"attention_course/{module}.py" in hashed, module
    assert "attention_grader/judges/__init__.py" in hashed  # shared by every notebook's judges
    assert not [n for n in hashed if "/catalogs/" in n or "/judges/nb" in n], hashed
    assert stamps.judges_file(folders, A2) == folders["attention_grader"] / "judges/nb02_metrics.py"


def test_the_version_is_the_same_in_another_process(graded):
    """`course autograde` (another process, other sys.path) and an in-process run stamp alike:
    otherwise every run after the other kind would regrade everything."""
    root, _ = graded
    ours = stamps.grading_version(root, course_config.load_config(root), A2)
    script = (
        "import sys; from pathlib import Path; from attention_grader import course_config, stamps; "
        "root = Path(sys.argv[1]); "
        "print(stamps.grading_version(root, course_config.load_config(root), sys.argv[2]))"
    )
    theirs = subprocess.run(
        [sys.executable, "-c", script, str(root), A2],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert theirs == ours


def test_nothing_changed_nothing_is_regraded(graded):
    root, code = graded
    assert _planned(root, code) == set()


@pytest.mark.parametrize(
    "rel",
    [
        "attention_grader/judging.py",
        "attention_grader/nbgrader_ext.py",
        "attention_grader/executor.py",
        "attention_grader/sandbox.py",
        "attention_grader/_launch.py",
        "attention_grader/judges/__init__.py",
        "attention_course/probe.py",
        "attention_course/wire.py",
        "attention_course/checks.py",
    ],
)
def test_a_changed_byte_of_either_package_regrades_every_submission(graded, rel):
    root, code = graded
    package, name = rel.split("/", 1)
    with _changed(code[package] / name):
        assert _planned(root, code) == ALL
    assert _planned(root, code) == set()


def test_a_notebooks_judges_regrade_its_assignment_alone_and_catalogs_nothing(graded):
    root, code = graded
    judges = code["attention_grader"] / "judges"
    with _changed(judges / "nb01_tokenization.py"):
        assert _planned(root, code) == {f"ana/{A1}"}
    with _changed(judges / "nb02_metrics.py"):
        assert _planned(root, code) == {f"ana/{A2}", f"ben/{A2}"}
    with _changed(code["attention_grader"] / "catalogs" / "nb02_metrics.py"):  # tests only
        assert _planned(root, code) == set()


def test_the_configuration_and_the_settings_it_resolves_regrade_everything(graded):
    root, code = graded
    with _changed(root / "nbgrader_config.py"):
        assert _planned(root, code) == ALL
    with environment({"COURSE_CELL_TIMEOUT": "41"}):  # c.Execute.timeout and the limits
        assert _planned(root, code) == ALL
    with environment({"COURSE_SANDBOX_MEMORY": "3G"}):
        assert _planned(root, code) == ALL
    with environment({"COURSE_ID": "another-course"}):
        assert _planned(root, code) == ALL
    # where files are exchanged and which uids the sandboxes get decide no grade
    with environment({"COURSE_EXCHANGE": str(root / "elsewhere")}):
        assert _planned(root, code) == set()
    with environment({"COURSE_SANDBOX_UID_BASE": "1100000000"}):
        assert _planned(root, code) == set()
    assert _planned(root, code) == set()


def _penalties(root: Path) -> dict[str, float]:
    with Gradebook(gradebook.db_url(root)) as gb:
        return {
            f"{s.student.id}/{a.name}": float(s.late_submission_penalty or 0.0)
            for a in gb.assignments
            for s in gb.assignment_submissions(a.name)
        }


def test_a_grade_runs_what_the_plan_says_then_a_due_date_and_late_policy_execute_nothing(
    graded, monkeypatch
):
    root, code = graded
    # a changed judges module: its assignment's submissions are executed and recorded again
    with _changed(code["attention_grader"] / "judges" / "nb02_metrics.py"):
        summary = _engine(root, code).grade([A1, A2])
        assert (summary.count("graded"), summary.count("skipped")) == (2, 1), summary.text()
        assert {o.submission.name for o in summary.outcomes if o.status == "graded"} == {
            f"ana/{A2}",
            f"ben/{A2}",
        }
        assert _engine(root, code).grade([A1, A2]).count("graded") == 0  # stamped
    _engine(root, code).grade([A1, A2])  # (the judges as they were: graded again)
    assert _penalties(root) == {f"ana/{A1}": 0.0, f"ana/{A2}": 0.0, f"ben/{A2}": 0.0}
    autograded = gradebook.test_results(root, A2)["ana"]
    score = sum(s for s, _ in autograded.values())
    assert score == 15

    def executed(job):
        raise AssertionError(f"{job.key} was executed")

    monkeypatch.setattr(executor, "execute", executed)
    # the due date of 02 moves before the timestamps (as `course release` writes it)
    (root / "schedule.toml").write_text(f'[due]\n"{A2}" = "{LATE_DUE}"\n')
    cycle.set_due_dates(root, [A1, A2])
    start = time.monotonic()
    summary = _engine(root, code).grade([A1, A2])
    seconds = time.monotonic() - start
    assert summary.count("graded") == summary.count("failed") == 0, summary.text()
    assert summary.count("penalty") == 2 and summary.count("skipped") == 1, summary.text()
    assert {o.submission.name for o in summary.outcomes if o.status == "penalty"} == {
        f"ana/{A2}",
        f"ben/{A2}",
    }
    assert "late penalties recomputed" in summary.text()
    assert _penalties(root) == {f"ana/{A1}": 0.0, f"ana/{A2}": 1.5, f"ben/{A2}": 0.0}
    assert _planned(root, code) == set()
    assert _engine(root, code).grade([A1, A2]).count("penalty") == 0  # stamped
    print(f"due date change: penalties recomputed in {seconds:.1f} s")

    # the late policy: every submission's penalty is computed again, nothing executed
    (root / "schedule.toml").write_text(
        f'[due]\n"{A2}" = "{LATE_DUE}"\n[late]\npercent_per_day = 20\n'
    )
    summary = _engine(root, code).grade([A1, A2])
    assert summary.count("graded") == 0 and summary.count("penalty") == 3, summary.text()
    assert _penalties(root) == {f"ana/{A1}": 0.0, f"ana/{A2}": 3.0, f"ben/{A2}": 0.0}
    assert gradebook.test_results(root, A2)["ana"] == autograded  # the scores stay


# ---------------------------------------------------------------------------- Dask's ports

DASK_PORTS = (8786, 8787)  # Dask's default scheduler and dashboard ports


def _hold(port: int) -> socket.socket | None:
    """A socket listening on 127.0.0.1:``port`` (None: another process holds it already)."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        if error.errno != errno.EADDRINUSE:
            raise
        return None
    sock.listen()
    return sock


def _listening(pid: int) -> set[tuple[str, int]]:
    """The addresses the process ``pid`` and its descendants listen on now."""
    found = set()
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return found
    for proc in tree:
        try:
            connections = proc.net_connections(kind="inet")
        except psutil.Error:
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in connections if c.status == "LISTEN"}
    return found


def test_a_local_cluster_takes_no_port_another_process_holds(tmp_path, course_env):
    root = make_course(tmp_path, [A1])
    release_course(root, [A1])
    _submit(root, "ana", A1, solved=True)
    held = [sock for sock in map(_hold, DASK_PORTS) if sock is not None]
    seen: set[tuple[str, int]] = set()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "attention_grader", "autograde", A1, "--workers", "1"],
            cwd=root,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                seen.update(_listening(proc.pid))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            out, err = proc.communicate(timeout=600)
        finally:
            done.set()
            watcher.join()
    finally:
        for sock in held:
            sock.close()
    assert proc.returncode == 0, out + err
    assert "1 graded, 0 failed" in out + err, out + err
    assert "already in use" not in err, err
    assert seen, "the cluster was never seen listening"
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for ip, port in seen:  # ports the kernel chose (bound to 0), on loopback only
        assert port not in DASK_PORTS and low <= port <= high, (ip, port, seen)
        assert ip in ("127.0.0.1", "::1"), (ip, port, seen)
