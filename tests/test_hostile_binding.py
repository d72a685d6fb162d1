"""Hostile submissions against the binding of reports to their cell and the kernel's limits.

One engine run (a Dask cluster of two workers, sandboxed) grades notebook 01's honest solution
and blank submissions with:

- ``display-id-rewrite``: the solution with three exercises left blank (pair_counts,
  merge_pair, cosine_similarity: honestly 17 of 23 points). Her blank functions, when the
  hidden loop of their own test cell calls them, show placeholder reports with a display id
  and stop the loop with a ``BaseException`` (which ``probe.call`` lets through); later, while
  a hidden test lets the grader's helpers stand in for those functions, her learn_bpe and
  nearest_neighbours compute the hidden cases' answers with them and rewrite the placeholders
  with ``update_display`` (and, a second way, with a new ``display`` under the same id).
- ``misplaced-reports``: the solution, plus a loop in a solution cell that shows report
  outputs (a forged one for every test, many times): none may count, and all of them count
  against the output limit.
- ``tmpfs-hog``: the solution, plus a cell that fills ``/dev/shm``, ``/tmp`` and the home
  folder (tmpfs: memory that is nobody's resident set) beyond the memory limit.
- ``stdout-flood``: the solution, plus a subprocess that writes 200 MiB straight to file
  descriptor 1 (the kernel's own stdout, not a cell output).
- ``host-folder-flood``: the solution, plus 100 MiB files written into the one host folder
  the sandbox sees (its sockets' folder) and appended to its connection file.

Honest scores must not move (23 and 0), no attack may gain a point, the batch completes.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import json
import os
import re
import tempfile
import threading
from pathlib import Path

import psutil
import pytest

from attention_grader import authoring, cells, sandbox, submissions
from courses import GradedCourse, environment, grade_submitted, make_course, release_course, submit

pytestmark = pytest.mark.slow

ASSIGNMENT = NOTEBOOK_ID = "01_tokenization"
NOTEBOOK = f"{NOTEBOOK_ID}.ipynb"
TOTAL = 23
LIMITS = {
    "COURSE_CELL_TIMEOUT": "60",
    "COURSE_NOTEBOOK_TIMEOUT": "240",
    "COURSE_SANDBOX_MEMORY": "1G",
    "COURSE_SANDBOX_PROCESSES": "256",
    "COURSE_SANDBOX_DISK": "512M",  # three tmpfs of 512 MiB each: 1.5 GiB, over the 1 GiB
    "COURSE_SANDBOX_OUTPUT": "2M",
    "COURSE_SANDBOX_UID_BASE": "1400000000",  # this battery's sandboxes only
}
# The exercises the rewrite attack leaves blank, and their test cells' points.
BLANK_EXERCISES = ("pair_counts", "merge_pair", "cosine_similarity")

# Code a hostile student puts at the top of her first solution cell.
REWRITE_MACHINERY = '''
import attention_course.probe as _probe
import attention_course.wire as _wire
from IPython.display import display as _show, update_display as _rewrite


class _Halt(BaseException):
    """Not an Exception: probe.call lets it through, and the hidden loop stops."""


_SLOTS = {}  # check -> its hidden cases, shown as placeholders
_DONE = set()


def _placeholders(check, key):
    """Show a placeholder report with a display id for every hidden case, then stop."""
    if check in _SLOTS:
        raise NotImplementedError()
    _SLOTS[check] = cases = _probe.hidden_cases(check)
    for case in cases:
        payload = {"check": check, "case": case.index, "values": _wire.encode({key: None})}
        _show({_wire.MIME: payload}, raw=True, display_id=f"{check}/{case.index}")
    raise _Halt()


def _fill(check, answer):
    """Rewrite the placeholders of ``check`` with what ``answer`` computes."""
    if check in _DONE or check not in _SLOTS:
        return
    rewritten = []
    for case in _SLOTS[check]:
        try:
            payload = {"check": check, "case": case.index, "values": _wire.encode(answer(case))}
        except Exception:
            return  # the helper is not there yet: try again at the next call
        rewritten.append(({_wire.MIME: payload}, f"{check}/{case.index}"))
    for data, display_id in rewritten:
        _rewrite(data, raw=True, display_id=display_id)  # update_display_data
        _show(data, raw=True, display_id=display_id)  # a new display under the same id
    _DONE.add(check)


def _merged(case):
    word_freqs = dict(case["word_freqs"])
    merged = merge_pair(word_freqs, case["pair"])
    return {"merged": merged, "input_after": word_freqs, "returned_input": merged is word_freqs}
'''
REWRITE_STUBS = {
    "pair_counts": (
        "def pair_counts(word_freqs):\n    _placeholders('test_pair_counts', 'counts')\n"
    ),
    "merge_pair": (
        "def merge_pair(word_freqs, pair):\n    _placeholders('test_merge_pair', 'merged')\n"
    ),
    "cosine_similarity": (
        "def cosine_similarity(A, B):\n    _placeholders('test_cosine_similarity', 'similarity')\n"
    ),
}
HARVEST_BPE = """
    _fill("test_pair_counts", lambda c: {"counts": pair_counts(c["word_freqs"])})
    _fill("test_merge_pair", _merged)
"""
HARVEST_COS = """
    _fill("test_cosine_similarity", lambda c: {"similarity": cosine_similarity(c["a"], c["b"])})
"""
MISPLACED_REPORTS = """
from IPython.display import display as _show
_MIME = "application/vnd.attention-course.report+json"
for _round in range(20):
    for _check in {checks!r}:
        for _case in range(12):
            _show({{_MIME: {{"check": _check, "case": _case, "values": {{"pad": "x" * 2000}}}}}},
                  raw=True)
    print({{_MIME: "x" * 2000}})
"""
TMPFS_HOG = """
import os as _os
_block = b"\\1" * 2**20
for _folder in ("/dev/shm", "/tmp", _os.path.expanduser("~")):
    try:
        with open(_os.path.join(_folder, "hog.bin"), "wb") as _f:
            for _ in range(500):
                _f.write(_block)
    except OSError as _e:
        print("stopped:", _folder, _e)
"""
STDOUT_FLOOD = """
import subprocess as _sp, sys as _sys
_code = "\\n".join([
    "import os",
    "block = b'y' * 2**20",
    "for _ in range(200):",
    "    os.write(1, block)",
    "os.write(1, b'LAST-LINE-OF-THE-FLOOD\\\\n')",
])
_real = getattr(_sys.stdout, "_original_stdstream_copy", None) or 1  # the kernel's own stdout
_sp.run([_sys.executable, "-c", _code], stdout=_real, stderr=_real)
_sp.run([_sys.executable, "-c", _code])  # fd 1 as the kernel has it: the cell's output
"""


HOST_FOLDER_FLOOD = """
import os as _os
from ipykernel.connect import get_connection_file as _connection
for _i in range(3):  # the host folder of the sandbox: its sockets and connection file
    for _path in (f"{_os.path.dirname(_connection())}/flood{_i}.bin", _connection()):
        try:
            with open(_path, "ab") as _f:
                _f.write(b"0" * 100 * 2**20)
            print("WROTE", _path)
        except OSError as _e:
            print("refused:", type(_e).__name__)
"""


def _insert_before_return(text: str, function: str, code: str) -> str:
    """``code`` (indented) as the first statement of ``function``'s body in ``text``."""
    match = re.search(rf"def {function}\(.*?\).*?:\n(\s+\"\"\".*?\"\"\"\n)?", text, re.S)
    assert match, f"no def {function} in the solution"
    return text[: match.end()] + code.lstrip("\n") + text[match.end() :]


def rewrite_attack(code: dict[str, str]) -> dict[str, str]:
    out = dict(code)
    out["build_vocab"] = REWRITE_MACHINERY + "\n" + out["build_vocab"]
    out.update(REWRITE_STUBS)
    out["learn_bpe"] = _insert_before_return(out["learn_bpe"], "learn_bpe", HARVEST_BPE)
    out["nearest_neighbours"] = _insert_before_return(
        out["nearest_neighbours"], "nearest_neighbours", HARVEST_COS
    )
    return out


def honest_partial(code: dict[str, str]) -> dict[str, str]:
    """The same student without the attack: the three exercises simply left blank."""
    out = dict(code)
    for name, stub in REWRITE_STUBS.items():
        out[name] = stub.splitlines()[0] + "\n    raise NotImplementedError()\n"
    return out


def _students(release_nb: dict, source_nb: dict) -> dict[str, dict]:
    code = submissions.solution_code(source_nb)
    fill = submissions.fill
    tests = [cells.grade_id(c) for c in source_nb["cells"] if cells.is_grade(c)]
    flood = dict(code)
    flood["build_vocab"] = MISPLACED_REPORTS.format(checks=tests) + "\n" + code["build_vocab"]
    hog = dict(code)
    hog["one_hot"] = TMPFS_HOG + "\n" + code["one_hot"]
    host = dict(code)
    host["one_hot"] = HOST_FOLDER_FLOOD + "\n" + code["one_hot"]
    shout = dict(code)
    shout["one_hot"] = STDOUT_FLOOD + "\n" + code["one_hot"]
    return {
        "solution": submissions.solved(release_nb, source_nb),
        "blank": copy.deepcopy(release_nb),
        "partial": fill(release_nb, honest_partial(code)),
        "display-id-rewrite": fill(release_nb, rewrite_attack(code)),
        "misplaced-reports": fill(release_nb, flood),
        "tmpfs-hog": fill(release_nb, hog),
        "stdout-flood": fill(release_nb, shout),
        "host-folder-flood": fill(release_nb, host),
    }


def largest_sandbox_file() -> int:
    """The size of the largest file in the host folder of any sandbox this process or one of
    its descendants (the cluster's workers) made now, but ``stage/`` (the grader's copy of a
    submission's files, read-only inside). Another test's sandbox folders are not this
    battery's: test_sandbox makes one with a 20 MB owner file, a suite beside this one makes
    its own floods."""
    here = psutil.Process()
    makers = {here.pid, *(child.pid for child in here.children(recursive=True))}
    biggest = 0
    for top in glob.glob(os.path.join(tempfile.gettempdir(), sandbox.FOLDER_PREFIX + "*")):
        try:  # (the grader's own check: a small regular file, never a FIFO or a link)
            maker = int(sandbox._owner_line(Path(top) / sandbox.OWNER_FILE).split()[0])
        except (OSError, UnicodeDecodeError, ValueError, IndexError):
            continue  # (not made yet, or not a grader's)
        if maker not in makers:
            continue
        for folder, subfolders, names in os.walk(top):  # vanishing folders are skipped
            if folder == top and "stage" in subfolders:
                subfolders.remove("stage")
            for name in names:
                with contextlib.suppress(OSError):
                    biggest = max(biggest, os.lstat(os.path.join(folder, name)).st_size)
    return biggest


def _watch_host_files(biggest: list[int], done: threading.Event) -> None:
    """The largest file in any sandbox's host folder while grading runs."""
    while not done.wait(0.2):
        biggest[0] = max(biggest[0], largest_sandbox_file())


@pytest.fixture(scope="module")
def battery(tmp_path_factory, course_env) -> GradedCourse:
    with environment(LIMITS):
        root = make_course(tmp_path_factory.mktemp("binding"), [ASSIGNMENT])
        release_course(root, [ASSIGNMENT])
        release_nb = authoring.read_notebook(root / "release" / ASSIGNMENT / NOTEBOOK)
        source_nb = authoring.read_notebook(root / "source" / ASSIGNMENT / NOTEBOOK)
        for student, nb in _students(release_nb, source_nb).items():
            submit(root, student, ASSIGNMENT, NOTEBOOK, nb)
        biggest, done = [0], threading.Event()
        watcher = threading.Thread(target=_watch_host_files, args=(biggest, done), daemon=True)
        watcher.start()
        try:
            graded = grade_submitted(root, ASSIGNMENT, NOTEBOOK, sequential=False, workers=2)
        finally:
            done.set()
            watcher.join()
        graded.biggest_host_file = biggest[0]  # type: ignore[attr-defined]
    print(graded.report.text())
    for student in graded.results:
        print(student, graded.total(student), sorted(graded.lost(student)))
    return graded


def _score(graded: GradedCourse, student: str) -> float:
    return graded.total(student)[0] if student in graded.results else 0.0


def _outcome(graded: GradedCourse, student: str):
    return next(o for o in graded.report.outcomes if o.submission.student == student)


def _autograded(graded: GradedCourse, student: str) -> Path:
    return graded.root / "autograded" / student / ASSIGNMENT / NOTEBOOK


def test_honest_submissions_keep_their_scores(battery):
    assert _score(battery, "solution") == TOTAL and battery.lost("solution") == set()
    assert _score(battery, "blank") == 0
    assert battery.lost("partial") == {f"test_{name}" for name in BLANK_EXERCISES}
    assert _score(battery, "partial") == TOTAL - 6


def test_rewriting_placeholder_reports_gains_nothing(battery):
    assert _score(battery, "display-id-rewrite") == _score(battery, "partial")
    assert battery.lost("display-id-rewrite") == battery.lost("partial")


def test_reports_from_other_cells_count_for_nothing_and_against_the_output_limit(battery):
    assert _score(battery, "misplaced-reports") == TOTAL
    outcome = _outcome(battery, "misplaced-reports")
    assert re.search(r"more than the output limit", " ".join(outcome.notes)), outcome.notes
    assert _autograded(battery, "misplaced-reports").stat().st_size < 4 * 2**20
    nb = json.loads(_autograded(battery, "misplaced-reports").read_text())
    shown = [o for c in nb["cells"] for o in c.get("outputs", []) if "data" in o]
    assert not any(any("report+json" in key for key in o["data"]) for o in shown)


def test_memory_held_in_tmpfs_is_stopped(battery):
    outcome = _outcome(battery, "tmpfs-hog")
    assert outcome.status == "failed"
    assert re.search(r"memory, over the limit of 1\.0 GiB", " ".join(outcome.reasons))
    order = [cells.grade_id(c) for c in battery.source_nb["cells"] if cells.is_grade(c)]
    before = order[: order.index("test_one_hot")]
    assert _score(battery, "tmpfs-hog") == sum(battery.results["solution"][t][1] for t in before)


def test_a_stdout_flood_writes_no_host_file_and_the_log_keeps_its_end(battery):
    assert _score(battery, "stdout-flood") == TOTAL
    assert battery.biggest_host_file < 2**20, battery.biggest_host_file
    outcome = _outcome(battery, "stdout-flood")
    assert re.search(r"output: more than the output limit", " ".join(outcome.notes))
    assert _autograded(battery, "stdout-flood").stat().st_size < 4 * 2**20


def test_no_file_reaches_the_host_folder(battery):
    assert _score(battery, "host-folder-flood") == TOTAL
    nb = json.loads(_autograded(battery, "host-folder-flood").read_text())
    # what the cells printed, joined: the kernel may send one print in two stream messages
    # (its output is flushed on a timer, here once between "refused:" and the error's name)
    printed = "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    assert "WROTE" not in printed and printed.count("refused: PermissionError") == 6
    assert battery.biggest_host_file < 2**20, battery.biggest_host_file


def test_the_batch_completes(battery):
    submitted = list((battery.root / "submitted").iterdir())
    assert len(battery.report.outcomes) == len(submitted) == len(battery.results)
    for student in ("solution", "blank", "partial"):
        outcome = _outcome(battery, student)
        assert outcome.status == "graded" and outcome.notes == [], outcome.notes
    assert re.search(r"memory limit: cgroup v[12] ", battery.report.text())  # said once
