"""``make autograde`` without ``A=``: every released assignment with submissions is graded;
one that is not released yet is named and skipped, not a reason to grade nothing."""

from __future__ import annotations

import pytest

from attention_grader import authoring, cli, gradebook
from courses import make_course, release_course, submit

pytestmark = pytest.mark.slow

RELEASED, WAITING = "01_tokenization", "02_metrics"


def test_autograde_grades_released_assignments_and_names_the_others(tmp_path, course_env, capsys):
    root = make_course(tmp_path, [RELEASED, WAITING])
    release_course(root, [RELEASED])  # the course released week 1 only
    nb = authoring.read_notebook(root / "release" / RELEASED / f"{RELEASED}.ipynb")
    submit(root, "ana", RELEASED, f"{RELEASED}.ipynb", nb)
    # a student handed in next week's notebook early (e.g. copied from a public repository)
    waiting = authoring.read_notebook(root / "source" / WAITING / f"{WAITING}.ipynb")
    submit(root, "ana", WAITING, f"{WAITING}.ipynb", waiting)
    capsys.readouterr()
    status = cli.main(
        ["--root", str(root), "autograde", "--sequential", "--no-progress", "--workers", "1"]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{WAITING}: has submissions but is not released yet" in out
    assert "1 graded, 0 failed" in out
    assert set(gradebook.test_results(root, RELEASED)) == {"ana"}
    assert gradebook.released_assignments(root) == [RELEASED]
    # naming the unreleased assignment explicitly is still an error that says what to do
    assert cli.main(["--root", str(root), "autograde", WAITING, "--sequential"]) != 0
    captured = capsys.readouterr()
    assert "is not in the gradebook: run `make release` first" in captured.out + captured.err
