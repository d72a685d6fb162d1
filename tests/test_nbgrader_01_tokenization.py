"""01_tokenization through nbgrader itself: generate_assignment, submit, autograde, gradebook.

One autograde batch grades every submission below (one fresh kernel each):
the instructor solution, the untouched release, a different correct solution, one
submission per typical mistake, and the nbgrader pitfalls of NBGRADER_NOTES.md
(stderr, skip-execution tags, deleted test cells, an infinite loop, a dying kernel,
tampering with the checks). Each pitfall test states the outcome an honest grader gives.
"""

from __future__ import annotations

import json

import pytest
from conftest import (
    Catalog,
    assert_release_current,
    grade_course,
    make_course,
)

from attention_course import grading, notebooks, submissions

pytestmark = pytest.mark.slow

ASSIGNMENT = "01_tokenization"
NOTEBOOK = "01_tokenization.ipynb"
CATALOG_INFO = Catalog.load(ASSIGNMENT)
CATALOG = CATALOG_INFO.module
GROUPS = CATALOG_INFO.groups
GROUP_OF = {name: CATALOG_INFO.student_of(name) for name in CATALOG.MISTAKES}
TEST_CELLS = CATALOG_INFO.test_cells()


def _cell(nb: dict, gid: str) -> dict:
    return next(c for c in nb["cells"] if submissions.grade_id(c) == gid)


def _pitfall_submissions(release_nb: dict, source_nb: dict) -> dict[str, dict]:
    out = {}
    solution = submissions.solved(release_nb, source_nb)
    code = submissions.solution_code(source_nb)

    # A correct answer whose functions write to stderr and warn while the tests run.
    noisy = dict(code)
    noisy["encode_decode"] = (
        "import sys as _sys\nimport warnings as _warnings\n" + code["encode_decode"].replace(
            '    """Token list -> id list (length unchanged); unknown tokens -> UNK_ID."""',
            '    """Token list -> id list (length unchanged); unknown tokens -> UNK_ID."""\n'
            '    print("debug: encoding", len(tokens), "tokens", file=_sys.stderr)\n'
            '    _warnings.warn("this tokenizer is deprecated", DeprecationWarning)\n'
            '    _warnings.warn("plain user warning")',
        )
    )
    out["pitfall-stderr"] = submissions.fill(release_nb, noisy)

    # A wrong answer whose test cells carry the tags that make executors skip them.
    tagged = submissions.apply_mistake(release_nb, source_nb,
                                       CATALOG.MISTAKES["neighbours_include_self"])
    for cell in tagged["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            cell["metadata"]["tags"] = ["skip-execution", "raises-exception", "skip"]
    out["pitfall-skip-tag"] = tagged

    # A wrong answer whose test cells were deleted.
    deleted = submissions.apply_mistake(release_nb, source_nb,
                                        CATALOG.MISTAKES["cosine_without_norm"])
    deleted["cells"] = [c for c in deleted["cells"] if submissions.grade_id(c) not in
                        {"test_cosine_similarity", "test_nearest_neighbours"}]
    out["pitfall-deleted-tests"] = deleted

    # A solution cell that never finishes: the cell times out, grading goes on.
    looping = dict(code)
    looping["cosine_similarity"] = "while True:\n    pass\n\n" + code["cosine_similarity"]
    out["pitfall-infinite-loop"] = submissions.fill(release_nb, looping)

    # The kernel dies (os._exit) in the middle of the notebook.
    dying = dict(code)
    dying["one_hot"] = "import os\nos._exit(1)\n" + code["one_hot"]
    out["pitfall-kernel-death"] = submissions.fill(release_nb, dying)

    # Wrong answers + rebinding numpy/builtins/the check helpers + edited locked cells.
    tamper = submissions.apply_mistake(release_nb, source_nb,
                                       CATALOG.MISTAKES["cosine_without_norm"])
    _cell(tamper, "build_vocab")["source"] = CATALOG.TAMPER_SETUP + "\n" + code["build_vocab"]
    old, new = CATALOG.MISTAKES["neighbours_include_self"].edits["nearest_neighbours"][0]
    _cell(tamper, "nearest_neighbours")["source"] = code["nearest_neighbours"].replace(old, new)
    _cell(tamper, "test_one_hot")["source"] = "pass  # tests removed by the student"
    _cell(tamper, "setup")["source"] += "\ncheck_close = lambda *args, **kwargs: None"
    out["pitfall-tamper"] = tamper
    assert solution  # the solved notebook is built from the same pieces
    return out


@pytest.fixture(scope="session")  # once per run: make test keeps a file on one worker
def graded(tmp_path_factory, course_env):
    root = make_course(tmp_path_factory.mktemp("nb01"), [ASSIGNMENT])
    grading.release(root, [ASSIGNMENT])
    release_nb = notebooks.read_notebook(root / "release" / ASSIGNMENT / NOTEBOOK)
    source_nb = notebooks.read_notebook(root / "source" / ASSIGNMENT / NOTEBOOK)
    students = CATALOG_INFO.students(release_nb, source_nb)
    students.update(_pitfall_submissions(release_nb, source_nb))
    return grade_course(root, ASSIGNMENT, students, NOTEBOOK)


def test_solution_scores_full_marks(graded):
    score, max_score = graded.total("solution")
    assert graded.lost("solution") == set(), graded.lost("solution")
    assert score == max_score > 0


def test_points_match_the_documented_total(graded):
    # README and the notebook's exercise headings promise 23 points for notebook 1.
    assert graded.total("solution")[1] == 23
    assert set(graded.results["solution"]) == TEST_CELLS


def test_untouched_release_scores_zero(graded):
    assert graded.total("blank")[0] == 0
    assert graded.lost("blank") == TEST_CELLS


def test_different_correct_solution_keeps_full_marks(graded):
    assert graded.lost("alternative") == set()


@pytest.mark.parametrize("name", sorted(CATALOG.MISTAKES))
def test_each_mistake_loses_exactly_its_behaviour(graded, name):
    CATALOG_INFO.check_mistake(graded, name)


def test_every_test_cell_catches_some_mistake():
    caught = set().union(*(m.breaks for m in CATALOG.MISTAKES.values()))
    assert caught == TEST_CELLS, f"no mistake exercises {sorted(TEST_CELLS - caught)}"


def test_stderr_output_does_not_cost_points(graded):
    assert graded.lost("pitfall-stderr") == set()
    out = (graded.root / "autograded" / "pitfall-stderr" / ASSIGNMENT / NOTEBOOK).read_text()
    assert "[stderr] debug: encoding" in out  # the output is kept, marked, not hidden


def test_skip_execution_tag_does_not_skip_tests(graded):
    assert graded.lost("pitfall-skip-tag") == {"test_nearest_neighbours"}


def test_deleted_test_cells_are_restored_and_graded(graded):
    assert graded.lost("pitfall-deleted-tests") == {"test_cosine_similarity"}
    assert graded.total("pitfall-deleted-tests")[1] == graded.total("solution")[1]


def test_infinite_loop_times_out_and_grading_goes_on(graded):
    # cosine_similarity is never defined; nearest_neighbours' visible check needs it.
    assert graded.lost("pitfall-infinite-loop") == {"test_cosine_similarity",
                                                    "test_nearest_neighbours"}
    out = json.loads((graded.root / "autograded" / "pitfall-infinite-loop" / ASSIGNMENT /
                      NOTEBOOK).read_text())
    errors = [o.get("ename") for c in out["cells"] for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert "CellTimeoutError" in errors


def test_kernel_death_is_reported_and_does_not_stop_the_batch(graded):
    assert graded.report.failed == ["pitfall-kernel-death"]
    assert graded.report.returncode != 0
    assert "pitfall-kernel-death" in graded.report.summary()
    # every other submission was graded in the same batch
    assert len(graded.report.graded) == len(graded.results) - 1
    assert sum(s for s, _ in graded.results["pitfall-kernel-death"].values()) == 0


def test_tampering_cannot_change_a_verdict_and_is_flagged(graded):
    assert graded.lost("pitfall-tamper") == {"test_cosine_similarity", "test_nearest_neighbours"}
    reasons = " ".join(graded.report.flagged.get("pitfall-tamper", []))
    for needle in ("numpy.allclose", "numpy.testing.assert_allclose", "check_equal",
                   "builtins.AssertionError"):
        assert needle in reasons
    honest = [s for s in graded.report.flagged if not s.startswith("pitfall-tamper")]
    assert honest == [], f"honest submissions flagged: {honest}"


def test_feedback_does_not_reveal_hidden_tests(graded):
    grading.feedback(graded.root, ASSIGNMENT)
    html = (graded.root / "feedback" / GROUP_OF["learn_bpe_tie_by_first_seen"] / ASSIGNMENT /
            "01_tokenization.html").read_text()
    assert "_ref_learn" in json.dumps(graded.source_nb)  # the hidden helper exists in source
    assert "_ref_learn" not in html and "BEGIN HIDDEN TESTS" not in html
    assert "learn_bpe on random corpus" in html or "learn_bpe(" in html  # the message stays


def test_committed_release_is_current(graded):
    assert_release_current(graded, NOTEBOOK)
