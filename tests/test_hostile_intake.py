"""Hostile submission folders: what a student hands in besides (or instead of) a notebook.

One engine run (a Dask cluster of one worker, sandboxed) grades notebook 01's honest solution
and blank submissions together with one submission per attack on the intake: notebooks that
are symlinks (to ``source/``, to a classmate's submission, to ``/proc/self/mem``), extra files
that are symlinks (to ``/etc/shadow``, to the gradebook), symlinked student and assignment
folders, a folder or a FIFO where the notebook belongs, 20,000 empty files, a 2 GiB sparse
file, and a student id that is HTML. Each attack must be refused, for that submission alone,
with a reason that names it; honest scores must not move; the batch must complete quickly; and
no file that the student did not hand in as a regular file within the limits may appear in
``autograded/`` or ``feedback/``. A second course checks what stock ``nbgrader autograde``
does with the attacks that do not stop it outright.
"""

from __future__ import annotations

import copy
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attention_grader import authoring, cycle, gradebook, intake, submissions
from courses import GradedCourse, environment, grade_submitted, make_course, release_course, submit

pytestmark = pytest.mark.slow

ASSIGNMENT = NOTEBOOK_ID = "01_tokenization"
NOTEBOOK = f"{NOTEBOOK_ID}.ipynb"
TOTAL = 23
LIMITS = {
    "COURSE_CELL_TIMEOUT": "30",
    "COURSE_NOTEBOOK_TIMEOUT": "240",
    "COURSE_SANDBOX_UID_BASE": "1700000000",  # this battery's sandboxes only (others may run)
}
HTML_ID = "<svg onload=alert(1)>"
SHADOW_TEXT = "root:"  # the first bytes of /etc/shadow
TIMESTAMP = "2026-01-15 09:30:00.000000 UTC"

# student -> (regular expression the refusal must match)
REFUSED = {
    "link-source": r"'01_tokenization\.ipynb': a symbolic link",
    "link-peer": r"'01_tokenization\.ipynb': a symbolic link",
    "link-proc-mem": r"'01_tokenization\.ipynb': a symbolic link",
    "extra-shadow": r"'shadow\.txt': a symbolic link",
    "extra-gradebook": r"'data/gradebook\.db': a symbolic link",
    "dir-notebook": r"01_tokenization\.ipynb: a folder where the notebook belongs",
    "fifo-notebook": r"'01_tokenization\.ipynb': a FIFO",
    "many-files": r"too many files",
    "sparse-file": r"'huge\.bin': the file is too large \(2\.0 GB",
    "link-student": r"the student folder is a symbolic link",
    "link-assignment": r"not a real folder \(a symbolic link",
    "bad-timestamp": r"timestamp\.txt does not hold a time",
    # named like a module the kernel would import instead (a failing setup cell: once
    # reported as a fault of the grading environment, run after run)
    "shadow-numpy": r"'numpy\.py': named like the module numpy that Python would import",
    "shadow-package": r"'sklearn': named like the module sklearn that Python would import",
    HTML_ID: r"student id '\\x3csvg onload=alert\(1\)\\x3e' is not from the safe alphabet",
}


def _folder(root: Path, student: str) -> Path:
    return root / "submitted" / student / ASSIGNMENT


def _prepare(root: Path, solved: dict, blank: dict) -> None:
    """Write every submission of the battery into ``submitted/``."""
    submit(root, "solution", ASSIGNMENT, NOTEBOOK, solved)
    submit(root, "blank", ASSIGNMENT, NOTEBOOK, blank)
    # an honest submission with a data file and nbgrader's receipts: graded, the file kept out
    submit(root, "with-extras", ASSIGNMENT, NOTEBOOK, solved)
    extras = _folder(root, "with-extras")
    (extras / "notes.txt").write_text("my own notes\n")
    (extras / "numpy").mkdir()  # a data folder (no __init__): it hides no module
    (extras / "numpy" / "words.txt").write_text("one two\n")
    (extras / "timestamp.txt").write_text(TIMESTAMP + "\n")
    (extras / "submission_secret.txt").write_text("ab" * 64)
    submit(root, "bad-timestamp", ASSIGNMENT, NOTEBOOK, solved)
    (_folder(root, "bad-timestamp") / "timestamp.txt").write_text("2026-01-01 10:00 /proc/self/mem")

    for student, target in {
        "link-source": root / "source" / ASSIGNMENT / NOTEBOOK,
        "link-peer": _folder(root, "solution") / NOTEBOOK,
        "link-proc-mem": Path("/proc/self/mem"),
    }.items():
        _folder(root, student).mkdir(parents=True)
        (_folder(root, student) / NOTEBOOK).symlink_to(target)
    for student, name, target in [
        ("extra-shadow", "shadow.txt", Path("/etc/shadow")),
        ("extra-gradebook", "data/gradebook.db", root / "gradebook.db"),
    ]:
        submit(root, student, ASSIGNMENT, NOTEBOOK, blank)
        (_folder(root, student) / name).parent.mkdir(parents=True, exist_ok=True)
        (_folder(root, student) / name).symlink_to(target)
    (_folder(root, "dir-notebook") / NOTEBOOK).mkdir(parents=True)
    _folder(root, "fifo-notebook").mkdir(parents=True)
    os.mkfifo(_folder(root, "fifo-notebook") / NOTEBOOK)
    submit(root, "shadow-numpy", ASSIGNMENT, NOTEBOOK, solved)
    (_folder(root, "shadow-numpy") / "numpy.py").write_text("raise SystemExit(7)\n")
    submit(root, "shadow-package", ASSIGNMENT, NOTEBOOK, solved)
    (_folder(root, "shadow-package") / "sklearn").mkdir()
    (_folder(root, "shadow-package") / "sklearn" / "__init__.py").write_text("X = 1\n")
    submit(root, "many-files", ASSIGNMENT, NOTEBOOK, solved)
    for i in range(20_000):
        (_folder(root, "many-files") / f"empty{i:05d}.txt").touch()
    submit(root, "sparse-file", ASSIGNMENT, NOTEBOOK, solved)
    with open(_folder(root, "sparse-file") / "huge.bin", "wb") as handle:
        handle.truncate(2 * 1024**3)
    (root / "submitted" / "link-student").symlink_to(root / "submitted" / "solution")
    (root / "submitted" / "link-assignment").mkdir()
    _folder(root, "link-assignment").symlink_to(_folder(root, "solution"))
    submit(root, HTML_ID, ASSIGNMENT, NOTEBOOK, blank)


@pytest.fixture(scope="module")
def battery(tmp_path_factory, course_env) -> tuple[GradedCourse, float, int]:
    with environment(LIMITS):
        root = make_course(tmp_path_factory.mktemp("intake"), [ASSIGNMENT])
        release_course(root, [ASSIGNMENT])
        release_nb = authoring.read_notebook(root / "release" / ASSIGNMENT / NOTEBOOK)
        source_nb = authoring.read_notebook(root / "source" / ASSIGNMENT / NOTEBOOK)
        _prepare(root, submissions.solved(release_nb, source_nb), copy.deepcopy(release_nb))
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.monotonic()
        graded = grade_submitted(root, ASSIGNMENT, NOTEBOOK, sequential=False, workers=1)
        seconds = time.monotonic() - start
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    return graded, seconds, grown_kib


def _outcome(graded: GradedCourse, student: str):
    found = [o for o in graded.report.outcomes if o.submission.student == student]
    assert len(found) == 1, [o.submission.name for o in graded.report.outcomes]
    return found[0]


def test_honest_submissions_keep_their_scores(battery):
    graded, _, _ = battery
    assert graded.total("solution") == (TOTAL, TOTAL)
    assert graded.total("blank") == (0, TOTAL)
    assert graded.total("with-extras") == (TOTAL, TOTAL)
    for student in ("solution", "blank", "with-extras"):
        outcome = _outcome(graded, student)
        assert outcome.status == "graded" and outcome.reasons == [], outcome.reasons


@pytest.mark.parametrize("student", sorted(REFUSED))
def test_each_attack_is_refused_alone_with_its_reason(battery, student):
    graded, _, _ = battery
    outcome = _outcome(graded, student)
    assert outcome.status == "failed"
    assert re.search(REFUSED[student], " ".join(outcome.reasons)), outcome.reasons
    assert "refused at intake" in outcome.reasons[0]
    assert student not in graded.results  # nothing recorded for it
    assert not (graded.root / "autograded" / student).exists()


def test_the_report_lists_every_refusal_without_printing_html(battery):
    graded, _, _ = battery
    text = graded.report.text()
    for student in REFUSED:
        shown = student if intake.safe_name(student) else intake.shown(student)
        assert f"FAILED {shown}/{ASSIGNMENT}: refused at intake" in text
    assert HTML_ID not in text
    assert graded.report.count("failed") == len(REFUSED)
    assert graded.report.count("graded") == 3


def test_the_batch_completes_quickly_without_reading_the_sparse_file(battery):
    graded, seconds, grown_kib = battery
    submitted = list((graded.root / "submitted").iterdir())
    assert len(graded.report.outcomes) == len(submitted)
    assert not graded.report.interrupted
    assert seconds < 240, f"the batch took {seconds:.0f} s"
    assert grown_kib < 512 * 1024, f"the coordinator's peak memory grew by {grown_kib} KiB"


def test_nbgrader_reads_only_the_staged_notebooks(battery):
    graded, _, _ = battery
    staged = graded.root / ".intake"
    assert oct(staged.stat().st_mode & 0o777) == "0o700"
    for path in staged.rglob("*"):
        assert not path.is_symlink(), path
        assert path.is_dir() or path.is_file(), path
    view = staged / "submitted" / "with-extras" / ASSIGNMENT
    assert sorted(p.name for p in view.iterdir()) == sorted(
        [NOTEBOOK, "submission_secret.txt", "timestamp.txt"]
    )
    files = staged / "files" / "with-extras" / ASSIGNMENT
    assert (files / "notes.txt").read_text() == "my own notes\n"
    for student in REFUSED:  # nothing of a refused submission is kept
        assert not (staged / "files" / student / ASSIGNMENT).exists()
        assert not (staged / "submitted" / student / ASSIGNMENT).exists()


def test_the_late_penalty_reads_the_checked_timestamp(battery):
    graded, _, _ = battery
    assert (
        graded.root / "autograded" / "with-extras" / ASSIGNMENT / "timestamp.txt"
    ).read_text() == TIMESTAMP
    from nbgrader.api import Gradebook

    with Gradebook(gradebook.db_url(graded.root)) as gb:
        submission = gb.find_submission(ASSIGNMENT, "with-extras")
        assert str(submission.timestamp) == "2026-01-15 09:30:00"


def _all_files(top: Path) -> list[Path]:
    return sorted(p for p in top.rglob("*") if not p.is_dir() or p.is_symlink())


def test_no_file_of_a_submission_reaches_autograded_or_feedback(battery):
    graded, _, _ = battery
    root = graded.root
    cycle.feedback(root, ASSIGNMENT)
    autograded = _all_files(root / "autograded")
    feedback = _all_files(root / "feedback")
    assert feedback, "no feedback was generated"
    allowed = {NOTEBOOK, "timestamp.txt", "submission_secret.txt", ".course-grading.json"}
    for path in autograded:
        if path.parent == root / "autograded":
            continue  # the engine's own timings
        assert path.name in allowed and path.is_file() and not path.is_symlink(), path
    for path in feedback:
        assert path.is_file() and not path.is_symlink(), path
        assert path.suffix == ".html" or path.name in ("timestamp.txt", "submission_secret.txt")
    assert {p.parent.parent.name for p in feedback} == {"solution", "blank", "with-extras"}
    for path in autograded + feedback:
        data = path.read_bytes()
        assert b"my own notes" not in data and not data.startswith(SHADOW_TEXT.encode()), path
    receipts = root / "feedback" / "with-extras" / ASSIGNMENT
    assert (receipts / "timestamp.txt").read_text() == TIMESTAMP
    assert (receipts / "submission_secret.txt").read_text() == "ab" * 64


def test_the_sandbox_gets_the_staged_extra_files(battery):
    """notes.txt was handed in as a regular file: the kernel may read it (from the staged
    copy), while it never reaches autograded/."""
    graded, _, _ = battery
    from attention_grader import nbgrader_ext

    files = nbgrader_ext.submission_files(
        graded.root / ".intake" / "files" / "with-extras" / ASSIGNMENT
    )
    assert files == {
        "notes.txt": b"my own notes\n",
        "numpy/words.txt": b"one two\n",
        "submission_secret.txt": b"ab" * 64,
        "timestamp.txt": (TIMESTAMP + "\n").encode(),
    }


# ----------------------------------------------------------------- stock nbgrader autograde


@pytest.fixture(scope="module")
def stock(tmp_path_factory, course_env) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Stock ``nbgrader autograde`` (it reads submitted/ itself) on what it can survive: a
    notebook symlinked to source/, an extra file symlinked to /etc/shadow, an HTML student id,
    next to the honest solution with a data file."""
    with environment(LIMITS):
        root = make_course(tmp_path_factory.mktemp("stock"), [ASSIGNMENT])
        release_course(root, [ASSIGNMENT])
        release_nb = authoring.read_notebook(root / "release" / ASSIGNMENT / NOTEBOOK)
        source_nb = authoring.read_notebook(root / "source" / ASSIGNMENT / NOTEBOOK)
        solved = submissions.solved(release_nb, source_nb)
        submit(root, "solution", ASSIGNMENT, NOTEBOOK, solved)
        (_folder(root, "solution") / "notes.txt").write_text("my own notes\n")
        (_folder(root, "solution") / "timestamp.txt").write_text(TIMESTAMP)
        _folder(root, "link-source").mkdir(parents=True)
        (_folder(root, "link-source") / NOTEBOOK).symlink_to(
            root / "source" / ASSIGNMENT / NOTEBOOK
        )
        submit(root, "extra-shadow", ASSIGNMENT, NOTEBOOK, solved)
        (_folder(root, "extra-shadow") / "shadow.txt").symlink_to("/etc/shadow")
        submit(root, HTML_ID, ASSIGNMENT, NOTEBOOK, release_nb)
        submit(root, "shadow-numpy", ASSIGNMENT, NOTEBOOK, solved)
        (_folder(root, "shadow-numpy") / "numpy.py").write_text("raise SystemExit(7)\n")
        proc = subprocess.run(
            [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT],
            cwd=root,
            env=cycle.environment(),
            text=True,
            capture_output=True,
            timeout=900,
        )
    return root, proc


def test_stock_autograde_refuses_a_symlinked_notebook_and_an_html_id(stock):
    root, proc = stock
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0  # nbgrader reports the failed submissions
    assert "01_tokenization.ipynb' is a symbolic link" in log, log[-3000:]
    assert "is not from the safe alphabet" in log, log[-3000:]
    assert "'numpy.py': named like the module numpy" in log, log[-3000:]
    assert not (root / "autograded" / "shadow-numpy").exists()
    results = gradebook.test_results(root, ASSIGNMENT)
    assert sum(s for s, _ in results["solution"].values()) == TOTAL
    assert "link-source" not in results or sum(s for s, _ in results["link-source"].values()) == 0
    assert not (root / "autograded" / "link-source").exists()
    assert not (root / "autograded" / HTML_ID).exists()


def test_stock_autograde_copies_no_file_of_a_submission(stock):
    root, _ = stock
    for student in ("solution", "extra-shadow"):
        folder = root / "autograded" / student / ASSIGNMENT
        names = sorted(p.name for p in folder.iterdir())
        expected = [NOTEBOOK, "timestamp.txt"] if student == "solution" else [NOTEBOOK]
        assert names == expected, names
    assert (root / "autograded" / "solution" / ASSIGNMENT / "timestamp.txt").read_text() == (
        TIMESTAMP
    )
