"""Hostile submissions: nothing a student's code does may turn a failed check into a pass,
reach the course's files, or outlive grading.

One engine run (a Dask cluster of two workers, sandboxed) grades the honest solution and
blank submissions of notebook 01 together with one submission per attack. Each hostile
submission must get what its honest content deserves, the honest ones must not move, the
batch must complete, nothing under the course root may change except what grading writes,
no process may be left behind, and the report must name each case's real reason.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

import psutil
import pytest

from attention_grader import authoring, cells, cycle, sandbox, submissions
from conftest import ROOT
from courses import GradedCourse, environment, grade_submitted, make_course, release_course, submit

pytestmark = pytest.mark.slow

ASSIGNMENT = NOTEBOOK_ID = "01_tokenization"
NOTEBOOK = f"{NOTEBOOK_ID}.ipynb"
TOTAL = 23
LIMITS = {  # small limits, so that each flood trips them quickly
    "COURSE_CELL_TIMEOUT": "8",  # (the infinite loop burns a core this long)
    "COURSE_NOTEBOOK_TIMEOUT": "240",
    "COURSE_SANDBOX_MEMORY": "1.5G",
    # each of the fork bomb's forks copies the page tables of a kernel forked from the
    # template (TensorFlow's ~300 MB): 10-30 ms, so 256 forks could outlast the cell's 8 s
    # on a loaded machine (and the report would rightly say "timed out"); ~50 cannot
    "COURSE_SANDBOX_PROCESSES": "64",
    "COURSE_SANDBOX_DISK": "64M",
    "COURSE_SANDBOX_OUTPUT": "2M",
    "COURSE_SANDBOX_UID_BASE": "500000000",  # this battery's sandboxes only (others may run)
}
GRADER_WRITES = ("autograded/", "gradebook.db", ".autograde.lock", "backups/", ".intake/")
# Test cells in notebook order (checked against the gradebook's order below).
ORDER = [
    cells.grade_id(c)
    for c in authoring.read_notebook(ROOT / "source" / ASSIGNMENT / NOTEBOOK)["cells"]
    if cells.is_grade(c)
]


def _prepend(code: dict[str, str], cell: str, text: str) -> dict[str, str]:
    out = dict(code)
    out[cell] = text + "\n" + out[cell]
    return out


# Code a hostile student puts into a solution cell (the cell's answer stays below it).
NEUTER_INPUT = """
def _neuter(lines):
    text = "".join(lines)
    return ["pass\\n"] if ("attention_course" in text or "hidden_cases" in text) else lines
get_ipython().input_transformers_cleanup.append(_neuter)
"""
NEUTER_AST = """
import ast as _ast
class _Gut(_ast.NodeTransformer):
    def visit_Call(self, node):
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name.startswith("check_") or name in ("report", "hidden_cases", "fail"):
            return _ast.copy_location(_ast.Constant(None), node)
        return self.generic_visit(node)
get_ipython().ast_transformers.append(_Gut())
"""
FAKE_MODULES = """
import sys, types
_fake = types.ModuleType("attention_course.checks")
for _n in ("check_equal", "check_close", "check_shape", "check_true", "check_raises", "fail"):
    setattr(_fake, _n, lambda *a, **k: None)
sys.modules["attention_course.checks"] = _fake
_probe = types.ModuleType("attention_course.probe")
_probe.hidden_cases = lambda check: []
_probe.report = lambda *a, **k: None
_probe.call = lambda f, *a, **k: None
_probe.standing_in = __import__("contextlib").nullcontext
sys.modules["attention_course.probe"] = _probe
"""
VARS_REBINDING = """
import attention_course.checks as _c, attention_course.probe as _p
for _n in list(vars(_c)):
    if _n.startswith("check_"):
        vars(_c)[_n] = lambda *a, **k: None
vars(_p)["hidden_cases"] = lambda check: []
"""
FORGED_REPORTS = """
from IPython.display import display as _display
def _forge(lines):
    text = "".join(lines)
    if "hidden_cases(" not in text:
        return lines
    check = text.split('hidden_cases("')[1].split('"')[0]
    fake = "".join(
        f"_display({{'application/vnd.attention-course.report+json': "
        f"{{'check': {check!r}, 'case': {i}, 'values': {{}}}}}}, raw=True)\\n" for i in range(40))
    return [fake, "23\\n"]
get_ipython().input_transformers_cleanup.append(_forge)
"""
READ_AND_RUN = """
import glob, os, json, socket
_found = []
for _pattern in ["../../../source/*/*.ipynb", "{root}/source/*/*.ipynb", "../../../gradebook.db",
                 "{root}/gradebook.db", "{root}/submitted/*/*/*.ipynb", "/tmp/**/*.ipynb",
                 "/work/main/source/*/*.ipynb", "/work/main/grader/*/*.py", "/root/*"]:
    _found += glob.glob(_pattern, recursive=True)
print("FOUND", sorted(set(_found)))
for _path in _found:
    try:
        for _cell in json.load(open(_path))["cells"]:
            if _cell["cell_type"] == "code":
                get_ipython().run_cell("".join(_cell["source"]))
    except Exception as _e:
        print("could not use", _path, _e)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    print("NETWORK OPEN")
except OSError as _e:
    print("network:", _e)
"""
WRITE_COURSE = """
import os, shutil, sqlite3
for _target in ["{root}/gradebook.db", "../../../gradebook.db"]:
    try:
        _db = sqlite3.connect(_target)
        _db.execute("UPDATE grade SET manual_score = 99")
        _db.commit()
        print("WROTE GRADEBOOK", _target)
    except Exception as _e:
        print("gradebook:", _e)
for _action in [lambda: shutil.rmtree("{root}/release"),
                lambda: open("{root}/source/planted.py", "w").write("x = 1"),
                lambda: open("{root}/feedback_big.bin", "wb").write(b"0" * 2**30)]:
    try:
        _action()
        print("WROTE COURSE")
    except Exception as _e:
        print("course:", type(_e).__name__)
"""
DETACHED = """
import subprocess, sys
subprocess.Popen(["sleep", "600"], start_new_session=True)
_daemon = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(600)"
subprocess.Popen([sys.executable, "-c", _daemon], start_new_session=True)
"""
# A message the kernel signs and sends as if it were an output (the student's code has the
# kernel's session): JSON nested 100,000 deep, which the grader's client cannot decode.
FORGED_MESSAGE = """
_k = get_ipython().kernel
_k.session.send(_k.iopub_socket, "display_data", content={content!r},
                parent=_k.get_parent("shell"), ident=b"display_data")
"""
# The kernel escapes its own JSON, then prints a lone surrogate (no file can hold one).
SURROGATE_OUTPUT = """
import json as _json
from ipykernel.kernelapp import IPKernelApp as _App
_App.instance().session.pack = lambda o: _json.dumps(o, default=str, ensure_ascii=True).encode()
print("odd text: \\ud800")
"""
# A code cell above the setup cell that would make the setup cell's import fail.
ABOVE_SETUP = (
    "from pathlib import Path\n"
    "Path('attention_course.py').write_text(\"raise ImportError('no course package')\\n\")\n"
)
DEEP_CONTENT = b'{"data": {"application/json": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"

MEMORY_BOMB = """
import numpy as _np
_hog = _np.ones(int(3 * 2**30 / 8))  # 3 GiB, every page touched
"""
FORK_BOMB = """
import os, time
for _ in range(5000):
    if os.fork() == 0:
        time.sleep(300)
        os._exit(0)
"""
DISK_FLOOD = """
with open("big.bin", "wb") as _f:
    for _ in range(10_000):
        _f.write(b"0" * 2**20)
"""
OUTPUT_FLOOD = """
for _ in range(400):
    print("x" * 50_000)
"""
EXFILTRATE = """
def _leak(lines):
    print("".join(lines))
    return lines
get_ipython().input_transformers_cleanup.append(_leak)
"""
LIAR = """
class _Liar(list):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
"""


def _hostile_submissions(release_nb: dict, source_nb: dict, root: Path) -> dict[str, dict]:
    code = submissions.solution_code(source_nb)
    blank = {
        cells.grade_id(c): cells.source(c) for c in release_nb["cells"] if cells.grade_id(c) in code
    }
    fill = submissions.fill
    r = str(root)
    out = {
        "input-transformer": fill(release_nb, _prepend(blank, "build_vocab", NEUTER_INPUT)),
        "ast-transformer": fill(release_nb, _prepend(blank, "build_vocab", NEUTER_AST)),
        "fake-modules": fill(release_nb, _prepend(blank, "build_vocab", FAKE_MODULES)),
        "vars-rebinding": fill(release_nb, _prepend(blank, "build_vocab", VARS_REBINDING)),
        "forged-reports": fill(release_nb, _prepend(blank, "build_vocab", FORGED_REPORTS)),
        "read-and-run": fill(
            release_nb, _prepend(blank, "build_vocab", READ_AND_RUN.replace("{root}", r))
        ),
        "write-course": fill(
            release_nb, _prepend(blank, "build_vocab", WRITE_COURSE.replace("{root}", r))
        ),
        "exfiltrate-hidden": fill(release_nb, _prepend(blank, "build_vocab", EXFILTRATE)),
        "detached-processes": fill(release_nb, _prepend(code, "build_vocab", DETACHED)),
        "memory-bomb": fill(release_nb, _prepend(code, "cosine_similarity", MEMORY_BOMB)),
        "fork-bomb": fill(release_nb, _prepend(code, "one_hot", FORK_BOMB)),
        "disk-flood": fill(release_nb, _prepend(code, "one_hot", DISK_FLOOD)),
        "output-flood": fill(release_nb, _prepend(code, "build_vocab", OUTPUT_FLOOD)),
        "infinite-loop": fill(
            release_nb, _prepend(code, "cosine_similarity", "while True:\n    pass\n")
        ),
        "kernel-exit": fill(release_nb, _prepend(code, "one_hot", "import os\nos._exit(3)\n")),
        "forged-deep-message": fill(
            release_nb, _prepend(code, "one_hot", FORGED_MESSAGE.format(content=DEEP_CONTENT))
        ),
    }
    liar = dict(code)
    liar["encode_decode"] = LIAR + code["encode_decode"].replace(
        "return [vocab.get(tok, UNK_ID) for tok in tokens]", "return _Liar([42])"
    )
    out["eq-override"] = fill(release_nb, liar)
    rebound = dict(code)
    rebound["cosine_similarity"] = (
        "np.allclose = np.array_equal = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        + code["cosine_similarity"].replace("return A @ B.T", "return (A @ B.T) * 0.5")
    )
    out["numpy-rebinding"] = fill(release_nb, rebound)

    deep = fill(release_nb, code)  # an added cell Python's parser gives up on (RecursionError)
    deep["cells"].append(
        {
            "cell_type": "code",
            "id": "deep-expression",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "x = " + "+".join(["1"] * 100_000),
        }
    )
    out["deep-expression"] = deep
    above = fill(release_nb, code)
    above["cells"].insert(0, {**deep["cells"][-1], "id": "above-setup", "source": ABOVE_SETUP})
    out["code-above-setup"] = above
    out["surrogate-output"] = fill(release_nb, _prepend(code, "build_vocab", SURROGATE_OUTPUT))
    out["storemagic-file"] = fill(release_nb, code)  # + storemagic.py (the battery writes it)

    deleted = fill(release_nb, code)
    deleted["cells"] = [c for c in deleted["cells"] if cells.grade_id(c) != "setup"]
    out["deleted-setup"] = deleted
    moved = fill(release_nb, code)
    tests = [c for c in moved["cells"] if (cells.grade_id(c) or "").startswith("test_")]
    moved["cells"] = tests + [c for c in moved["cells"] if c not in tests]
    out["reordered"] = moved
    edited = fill(release_nb, code)
    for cell in edited["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") == "test_one_hot":
            meta["points"] = 100
        elif meta.get("grade_id") == "one_hot":
            meta.update(grade=True, points=50)
        elif cell.get("id") == "constants":
            cell["metadata"]["nbgrader"] = "garbage"
    out["edited-metadata"] = edited
    tagged = submissions.fill(release_nb, _mistake(code))
    for cell in tagged["cells"]:
        if (cells.grade_id(cell) or "").startswith("test_"):
            cell["metadata"]["tags"] = ["skip-execution", "skip", "raises-exception"]
    out["skip-tags"] = tagged
    noisy = _prepend(
        code,
        "encode_decode",
        "import sys, warnings\nprint('debug', file=sys.stderr)\n"
        "warnings.warn('deprecated', DeprecationWarning)\n",
    )
    out["stderr-noise"] = fill(release_nb, noisy)
    return out


def _mistake(code: dict[str, str]) -> dict[str, str]:
    """The solution with one wrong exercise: cosine similarity without the norms."""
    out = dict(code)
    out["cosine_similarity"] = (
        "def cosine_similarity(A, B):\n    return np.asarray(A) @ np.asarray(B).T\n"
    )
    return out


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(GRADER_WRITES):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _sandbox_processes() -> list[str]:
    """Processes this battery's sandboxes could have left (their uids, their sleepers)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "uids"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        uid = proc.info["uids"].real if proc.info["uids"] else 0
        base = int(LIMITS["COURSE_SANDBOX_UID_BASE"])
        # a sandbox's uid is base + pid * 64 + serial % 64: this battery's range only (the
        # other batteries, graded at the same time, have bases 300,000,000 apart, more than
        # the span of a machine whose pid_max is 4,194,304, Linux's largest: 268,435,456)
        if "sleep 600" in cmd or base <= uid < base + sandbox.uid_span():
            found.append(f"{proc.info['pid']} uid={uid} {cmd[:120]}")
    return found


@pytest.fixture(scope="module")
def battery(tmp_path_factory, course_env) -> tuple[GradedCourse, dict, dict]:
    with environment(LIMITS):
        root = make_course(tmp_path_factory.mktemp("hostile"), [ASSIGNMENT])
        release_course(root, [ASSIGNMENT])
        release_nb = authoring.read_notebook(root / "release" / ASSIGNMENT / NOTEBOOK)
        source_nb = authoring.read_notebook(root / "source" / ASSIGNMENT / NOTEBOOK)
        students = {
            "solution": submissions.solved(release_nb, source_nb),
            "blank": copy.deepcopy(release_nb),
        }
        students.update(_hostile_submissions(release_nb, source_nb, root))
        for student, nb in students.items():
            submit(root, student, ASSIGNMENT, NOTEBOOK, nb)
        for student, text in {
            "invalid-json": "{ this is not json",
            "surrogate-grade-id": json.dumps(release_nb)[:-1] + ', "x": "\\ud800"}',
            # the released notebook plus a field of 100,000 nested lists (245 KB)
            "nested-json": json.dumps(release_nb)[:-1]
            + ', "x": '
            + "[" * 100_000
            + "]" * 100_000
            + "}",
            "nbformat3": json.dumps(
                {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}
            ),
        }.items():
            target = root / "submitted" / student / ASSIGNMENT / NOTEBOOK
            target.parent.mkdir(parents=True)
            target.write_text(text)
        # IPython imports its storemagic extension from the working folder first if it can:
        # this one would kill the kernel before the sandbox is sealed
        (root / "submitted" / "storemagic-file" / ASSIGNMENT / "storemagic.py").write_text(
            "import os\nos._exit(3)\n"
        )
        before = _snapshot(root)
        graded = grade_submitted(root, ASSIGNMENT, NOTEBOOK, sequential=False, workers=2)
        after = _snapshot(root)
    return graded, before, after


def _outcome(graded: GradedCourse, student: str):
    return next(o for o in graded.report.outcomes if o.submission.student == student)


def _score(graded: GradedCourse, student: str) -> float:
    return graded.total(student)[0] if student in graded.results else 0.0


def _points_before(graded: GradedCourse, test: str) -> float:
    """Points of the test cells before ``test`` (cells that ran before a fatal cell)."""
    per = graded.results["solution"]
    return sum(per[t][1] for t in ORDER[: ORDER.index(test)])


BLANK_ATTACKS = [
    "input-transformer",
    "ast-transformer",
    "fake-modules",
    "vars-rebinding",
    "forged-reports",
    "read-and-run",
    "write-course",
    "exfiltrate-hidden",
]


def test_honest_submissions_keep_their_scores(battery):
    graded, _, _ = battery
    assert list(graded.results["solution"]) == ORDER
    assert _score(graded, "solution") == TOTAL and graded.lost("solution") == set()
    assert _score(graded, "blank") == 0


@pytest.mark.parametrize("student", BLANK_ATTACKS)
def test_a_blank_notebook_with_an_attack_scores_zero(battery, student):
    graded, _, _ = battery
    assert _score(graded, student) == 0, graded.results.get(student)


@pytest.mark.parametrize(
    ("student", "lost"),
    [
        ("eq-override", {"test_encode_decode"}),
        ("numpy-rebinding", {"test_cosine_similarity"}),
        ("skip-tags", {"test_cosine_similarity"}),
        ("infinite-loop", {"test_cosine_similarity"}),
        ("fork-bomb", {"test_one_hot"}),
        ("disk-flood", {"test_one_hot"}),
        ("stderr-noise", set()),
        ("output-flood", set()),
        ("detached-processes", set()),
        ("deleted-setup", set()),
        ("reordered", set()),
        ("deep-expression", set()),
        ("code-above-setup", set()),  # moved after the setup cell: the file comes too late
        ("surrogate-output", set()),
        ("storemagic-file", set()),  # never imported: the kernel starts without it on sys.path
        ("edited-metadata", set()),
    ],
)
def test_a_hostile_submission_gets_what_its_honest_content_deserves(battery, student, lost):
    graded, _, _ = battery
    assert graded.lost(student) == lost, graded.results[student]
    assert graded.total(student)[1] == TOTAL  # no points invented by edited metadata


@pytest.mark.parametrize(
    ("student", "fatal_test"),
    [
        ("memory-bomb", "test_cosine_similarity"),
        ("kernel-exit", "test_one_hot"),
        ("forged-deep-message", "test_one_hot"),
    ],
)
def test_a_killed_kernel_keeps_the_points_earned_before(battery, student, fatal_test):
    graded, _, _ = battery
    assert _score(graded, student) == _points_before(graded, fatal_test)


@pytest.mark.parametrize(
    ("student", "reason"),
    [
        ("memory-bomb", r"memory, over the limit of 1\.5 GiB"),
        ("kernel-exit", r"kernel died in cell \d+ \(exit status 3\)"),
        (  # recorded as the student's, never as a fault of the grading environment
            "forged-deep-message",
            r"01_tokenization: the kernel sent a message in cell \d+ that the grader could not "
            r"process \(RecursionError: .*\); it was stopped \(cells that did not run scored 0\)",
        ),
        ("invalid-json", r"not a notebook \(the file is not valid JSON"),
        ("nested-json", r"not a notebook \(its JSON is nested too deeply to be read\)"),
        ("surrogate-grade-id", r"not a notebook \(it holds text that is not Unicode"),
        ("nbformat3", r"old notebook format \(nbformat 3\)"),
    ],
)
def test_the_report_names_the_real_reason_of_a_failure(battery, student, reason):
    graded, _, _ = battery
    outcome = _outcome(graded, student)
    assert outcome.status == "failed"
    assert re.search(reason, " ".join(outcome.reasons)), outcome.reasons
    assert re.search(reason, graded.report.text())


@pytest.mark.parametrize(
    ("student", "note"),
    [
        ("infinite-loop", r"timed out after 8 s"),
        ("fork-bomb", r"process limit \(64\)"),
        ("disk-flood", r"(disk space|size limit).*64 MiB"),
        ("output-flood", r"more than the output limit"),
        ("deleted-setup", r"locked cell setup was deleted; it was put back"),
        ("reordered", r"cells of the assignment were moved"),
        ("edited-metadata", r"nbgrader metadata that is not the assignment's was removed"),
        ("numpy-rebinding", r"assigns np\.allclose"),
        ("deep-expression", r"cell deep-expression: code nested too deeply to be screened"),
        ("code-above-setup", r"code cells above the setup cell setup were moved after it"),
        ("surrogate-output", r"the kernel sent text that is not Unicode"),
    ],
)
def test_the_report_names_what_happened(battery, student, note):
    graded, _, _ = battery
    outcome = _outcome(graded, student)
    assert re.search(note, " ".join(outcome.notes)), outcome.notes
    assert f"REVIEW {student}/{ASSIGNMENT}" in graded.report.text()


def test_the_batch_completes_and_honest_submissions_are_not_flagged(battery):
    graded, _, _ = battery
    submitted = list((graded.root / "submitted").iterdir())
    assert len(graded.report.outcomes) == len(submitted) == len(graded.results)
    for student in ("solution", "blank"):
        outcome = _outcome(graded, student)
        assert outcome.status == "graded" and outcome.notes == []


def test_nothing_under_the_course_root_changes_but_what_grading_writes(battery):
    _, before, after = battery
    assert after == before


def _printed(graded: GradedCourse, student: str) -> str:
    nb = json.loads((graded.root / "autograded" / student / ASSIGNMENT / NOTEBOOK).read_text())
    return "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )


def test_no_student_reads_solutions_peers_or_the_gradebook(battery):
    graded, _, _ = battery
    text = _printed(graded, "read-and-run")
    assert "FOUND []" in text  # nothing of the course was visible
    assert "NETWORK OPEN" not in text and "network:" in text
    writer = _printed(graded, "write-course")
    assert "WROTE" not in writer and writer.count("course:") == 3


def test_feedback_of_a_student_who_prints_hidden_tests_hides_them(battery):
    graded, _, _ = battery
    cycle.feedback(graded.root, ASSIGNMENT, students=["exfiltrate-hidden"])  # (her page only)
    page = (
        graded.root / "feedback" / "exfiltrate-hidden" / ASSIGNMENT / f"{NOTEBOOK_ID}.html"
    ).read_text()
    assert "output removed: it showed hidden test code" in page
    assert "hidden_cases(" not in page and "case.stand_ins" not in page


def test_no_process_outlives_grading(battery):
    assert _sandbox_processes() == []
