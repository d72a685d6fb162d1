"""An instructor's week with the stock nbgrader commands: JupyterHub exchange (release,
fetch, submit, collect, autograde), due dates and the late policy, quiet logs, feedback
while an assignment has no submissions yet."""

from __future__ import annotations

import csv
import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attention_grader import authoring, cli, cycle, gradebook, submissions
from attention_grader import exchange as exchange_module
from courses import make_course, release_course, submit

pytestmark = pytest.mark.slow

A = "01_tokenization"
NB = f"{A}.ipynb"
COURSE = "lesson5-attention"


def _nbgrader(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        env={**cycle.environment(), **(env or {})},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_release_fetch_submit_collect_autograde_through_the_exchange(tmp_path, course_env):
    root = make_course(tmp_path / "instructor", [A])
    exchange = tmp_path / "exchange"
    env = {"COURSE_EXCHANGE": str(exchange)}
    _nbgrader(root, "generate_assignment", A, env=env)
    _nbgrader(root, "release_assignment", A, env=env)
    assert (exchange / COURSE / "outbound" / A / NB).exists()

    student_home = tmp_path / "student"  # a student's JupyterHub home: no course config
    student_home.mkdir()
    student_env = {"JUPYTER_CONFIG_DIR": str(tmp_path / "student-config")}
    flags = [f"--Exchange.root={exchange}", f"--course={COURSE}"]
    _nbgrader(student_home, "fetch_assignment", A, *flags, env=student_env)
    fetched = student_home / A / NB
    source_nb = authoring.read_notebook(root / "source" / A / NB)
    authoring.write_notebook(
        submissions.solved(authoring.read_notebook(fetched), source_nb), fetched
    )
    _nbgrader(student_home, "submit", A, *flags, env=student_env)

    _nbgrader(root, "collect", A, env=env)
    (student,) = [p.name for p in (root / "submitted").iterdir()]
    assert (root / "submitted" / student / A / "timestamp.txt").exists()
    graded = _nbgrader(root, "autograde", A, env=env)  # stock nbgrader, same engine
    log = graded.stdout + graded.stderr
    assert "not recognized" not in log  # no removed options in the config
    assert "has changed" not in log  # restoring hidden tests is not reported as tampering
    results = gradebook.test_results(root, A)
    assert sum(score for score, _ in results[student].values()) == 23


def test_a_late_submission_loses_what_the_policy_says(tmp_path, course_env):
    root = make_course(tmp_path, [A])
    (root / "schedule.toml").write_text(
        f'[due]\n"{A}" = "2026-03-01T12:00:00+00:00"\n\n'
        "[late]\npercent_per_day = 10\nmax_percent = 100\n"
    )
    release_course(root, [A])
    release_nb = authoring.read_notebook(root / "release" / A / NB)
    solved = submissions.solved(release_nb, authoring.read_notebook(root / "source" / A / NB))
    stamps = {
        "on-time": "2026-03-01 11:59:00.000000 UTC",
        "hour-late": "2026-03-01 13:00:00.000000 UTC",
        "two-days-late": "2026-03-03 11:00:00.000000 UTC",
        "very-late": "2026-04-01 12:00:00.000000 UTC",
    }
    for student, stamp in stamps.items():
        submit(root, student, A, NB, solved)
        (root / "submitted" / student / A / "timestamp.txt").write_text(stamp)
    _nbgrader(root, "autograde", A)
    got = {r.student: (r.score, r.late_penalty) for r in gradebook.scores(root)}
    assert got == {
        "on-time": (23, 0),
        "hour-late": (20.7, 2.3),
        "two-days-late": (18.4, 4.6),
        "very-late": (0, 23),
    }
    rows = {r["student_id"]: r for r in csv.DictReader(cycle.export(root, root / "g.csv").open())}
    assert float(rows["two-days-late"]["raw_score"]) == 23
    assert float(rows["two-days-late"]["score"]) == pytest.approx(18.4)
    assert float(rows["on-time"]["score"]) == 23


def test_due_dates_come_from_the_schedule_and_can_be_removed(tmp_path, course_env):
    from nbgrader.api import Gradebook

    root = make_course(tmp_path, [A])
    (root / "schedule.toml").write_text(f'[due]\n"{A}" = "2027-01-15T23:59:00+01:00"\n')
    release_course(root, [A])
    with Gradebook(gradebook.db_url(root)) as gb:
        assert gb.find_assignment(A).duedate.isoformat() == "2027-01-15T22:59:00"
    (root / "schedule.toml").write_text("[due]\n")
    cycle.set_due_dates(root, [A])
    with Gradebook(gradebook.db_url(root)) as gb:
        assert gb.find_assignment(A).duedate is None


def test_feedback_skips_an_assignment_without_submissions(tmp_path, course_env, capsys):
    root = make_course(tmp_path, [A, "02_metrics"])
    release_course(root, [A, "02_metrics"])
    release_nb = authoring.read_notebook(root / "release" / A / NB)
    submit(root, "ana", A, NB, release_nb)
    os.environ["COURSE_WORKERS"] = "1"
    try:
        assert cli.main(["--root", str(root), "autograde", A, "--sequential", "--no-progress"]) == 0
    finally:
        del os.environ["COURSE_WORKERS"]
    capsys.readouterr()
    assert cli.main(["--root", str(root), "feedback"]) == 0
    out = capsys.readouterr().out
    assert "02_metrics: no graded submission yet" in out
    assert (root / "feedback" / "ana" / A / f"{A}.html").exists()
    assert json.loads((root / "autograded" / "ana" / A / ".course-grading.json").read_text())


def test_collect_refuses_a_folder_it_may_list_but_not_enter_and_collects_the_others(
    tmp_path, course_env
):
    """A student may leave a folder in inbound/ readable but not searchable (mode 744). A
    collector that is not root (a hub's instructor account; root here drops the rights that
    let it ignore file modes) can list it and not examine its files: that folder alone is
    refused, with its reason, and every other student is collected."""
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to collect as a user without root's rights")
    root = make_course(tmp_path / "instructor", [A])
    exchange = tmp_path / "exchange"
    env = {"COURSE_EXCHANGE": str(exchange)}
    _nbgrader(root, "generate_assignment", A, env=env)
    _nbgrader(root, "release_assignment", A, env=env)
    inbound = exchange / COURSE / "inbound"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    released = (exchange / COURSE / "outbound" / A / NB).read_bytes()
    for student, suffix in (("ana", "a1b2"), ("nobody", "c3d4")):
        folder = inbound / f"{student}+{A}+{now}+{suffix}"
        folder.mkdir()
        (folder / NB).write_bytes(released)
        (folder / "timestamp.txt").write_text(now)
    hostile = inbound / f"nobody+{A}+{now}+c3d4"
    for path in (hostile, *hostile.iterdir()):
        os.chown(path, 65534, 65534)  # the student's own (nobody stands in for a student)
    hostile.chmod(0o744)  # listable, not searchable
    command = [sys.executable, "-m", "nbgrader", "collect", A]
    if os.geteuid() == 0:
        command = [
            "setpriv",
            "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search",
            "--",
            *command,
        ]
    proc = subprocess.run(
        command, cwd=root, text=True, capture_output=True, env={**cycle.environment(), **env}
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in (root / "submitted").iterdir()) == ["ana"]
    assert (root / "submitted" / "ana" / A / NB).read_bytes() == released
    (refusal,) = exchange_module.refusals(root, A)
    assert refusal["claimed_student"] == "nobody"
    assert refusal["reason"] == f"{NB} cannot be examined (Permission denied)"
