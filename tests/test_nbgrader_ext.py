"""attention_grader.nbgrader_ext: the preprocessors, on notebook 01 of a released course
(no kernel is started: outputs are made by hand)."""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbgrader.coursedir import CourseDirectory

from attention_course import wire
from attention_grader import (
    authoring,
    cells,
    course_config,
    engine,
    nbgrader_ext,
    submissions,
)
from courses import make_course, release_course

pytestmark = pytest.mark.slow  # runs nbgrader's generate_assignment once

A = "01_tokenization"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("ext"), [A])
    release_course(root, [A])
    config = course_config.load_config(root)
    release = nbformat.read(str(root / "release" / A / f"{A}.ipynb"), as_version=4)
    source = nbformat.read(str(root / "source" / A / f"{A}.ipynb"), as_version=4)
    return root, config, release, source


def _restore(course, nb):
    root, config, _, _ = course
    resources = {
        "nbgrader": {
            "student": "s",
            "assignment": A,
            "notebook": A,
            "db_url": CourseDirectory(config=config).db_url,
        }
    }
    return nbgrader_ext.RestoreLayout(config=config).preprocess(copy.deepcopy(nb), resources)


def _ids(nb) -> list[str]:
    return [cells.grade_id(c) or c.get("id") for c in nb.cells]


def test_an_untouched_submission_keeps_its_layout_and_gets_its_hidden_tests(course):
    _, _, release, source = course
    restored, resources = _restore(course, release)
    assert _ids(restored) == _ids(release) and resources[nbgrader_ext.NOTES_KEY] == []
    test = next(c for c in restored.cells if cells.grade_id(c) == "test_one_hot")
    original = next(c for c in source.cells if cells.grade_id(c) == "test_one_hot")
    assert test.source == original.source and "BEGIN HIDDEN TESTS" in test.source


def test_deleted_moved_and_edited_locked_cells_are_put_back(course):
    _, _, release, _ = course
    nb = copy.deepcopy(release)
    setup = next(c for c in nb.cells if cells.grade_id(c) == "setup")
    test = next(c for c in nb.cells if cells.grade_id(c) == "test_one_hot")
    test.source = "pass  # the student's own 'test'"
    mine = nbformat.v4.new_code_cell("helper = 1")
    answer_at = next(i for i, c in enumerate(nb.cells) if cells.grade_id(c) == "one_hot")
    nb.cells.insert(answer_at + 1, mine)  # the student's own cell after their answer
    nb.cells.remove(setup)
    nb.cells.remove(test)
    nb.cells.insert(0, test)  # moved to the top
    restored, resources = _restore(course, nb)
    notes = " ".join(resources[nbgrader_ext.NOTES_KEY])
    assert (
        "locked cell setup was deleted" in notes
        and "locked cell test_one_hot was edited" in notes
        and "moved" in notes
    )
    ids = _ids(restored)
    assert (
        ids.index("setup") < ids.index("one_hot") < ids.index(mine.id) < ids.index("test_one_hot")
    )
    assert "hidden_cases" in restored.cells[ids.index("test_one_hot")].source


def test_invented_grading_metadata_is_dropped(course):
    _, _, release, _ = course
    nb = copy.deepcopy(release)
    answer = next(c for c in nb.cells if cells.grade_id(c) == "one_hot")
    answer.metadata.nbgrader.update(grade=True, points=50)
    extra = nbformat.v4.new_code_cell("x = 1")
    extra.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "test_mine",
        "points": 100,
        "locked": True,
        "solution": False,
    }
    nb.cells.append(extra)
    restored, resources = _restore(course, nb)
    answer = next(c for c in restored.cells if cells.grade_id(c) == "one_hot")
    assert not answer.metadata.nbgrader.get("grade") and "points" not in answer.metadata.nbgrader
    assert "nbgrader" not in restored.cells[_ids(restored).index(extra.id)].metadata
    assert any("test_mine" in note for note in resources[nbgrader_ext.NOTES_KEY])


def test_demo_cells_are_skipped_only_while_all_of_them_are_unchanged(course):
    _, _, release, _ = course
    restored, _ = _restore(course, release)
    skipped = [c.id for c in restored.cells if c.metadata.get(nbgrader_ext.SKIP_KEY)]
    demos = [c.id for c in release.cells if "demo" in c.metadata.get("tags", [])]
    assert skipped == demos and demos
    nb = copy.deepcopy(release)
    next(c for c in nb.cells if c.id == demos[-1]).source += "\nprint('mine')"
    restored, _ = _restore(course, nb)
    assert not [c for c in restored.cells if c.metadata.get(nbgrader_ext.SKIP_KEY)]
    nb = copy.deepcopy(release)
    nb.cells[0].metadata[nbgrader_ext.SKIP_KEY] = True  # a student cannot skip a cell
    restored, _ = _restore(course, nb)
    assert not restored.cells[0].metadata.get(nbgrader_ext.SKIP_KEY)


def _skipped_with(course, *answers: tuple[str, str]) -> bool:
    """Whether the release's demonstrations are still skipped once each ``(grade id, source)``
    replaces that cell's source (every demonstration unchanged)."""
    _, _, release, _ = course
    nb = copy.deepcopy(release)
    for gid, text in answers:
        next(c for c in nb.cells if cells.grade_id(c) == gid).source = text
    restored, _ = _restore(course, nb)
    demos = [c for c in restored.cells if "demo" in c.metadata.get("tags", [])]
    skipped = [c for c in demos if c.metadata.get(nbgrader_ext.SKIP_KEY)]
    assert len(demos) == 4 and skipped in ([], demos), "all demonstrations or none"
    return bool(skipped)


COSINE = "def cosine_similarity(a, b):\n    {}\n    return float(np.dot(a, b))\n"


@pytest.mark.parametrize(
    "reads",
    [
        "keras.ops.norm(a)",  # 01's Keras demonstration imports keras; the setup cell does not
        "a = a[:vocab_size]",  # a value that demonstration sets
        "c = [x for x in a if x < vocab_size]",  # read in a comprehension
        "scale = (lambda: big_vocab)()",  # in a lambda
        "class Norm:\n        limit = dim",  # in a class body
    ],
)
def test_demonstrations_run_when_an_answer_reads_a_name_only_they_assign(course, reads):
    """06's exercises 7 and 8 show `WINDOW`, which only a demonstration sets: an answer that
    uses it must find it while grading, as it did in the student's kernel (the catalog's
    ALTERNATIVE of 06 uses it: full marks only with this). Here on 01, whose Keras
    demonstration defines ``keras``, ``vocab_size``, ``big_vocab`` and ``dim``."""
    assert _skipped_with(course, ("cosine_similarity", COSINE.format("pass")))
    assert not _skipped_with(course, ("cosine_similarity", COSINE.format(reads)))
    top_level = ("cosine_similarity", COSINE.format("pass") + "print(vocab_size)\n")
    assert not _skipped_with(course, top_level)


@pytest.mark.parametrize(
    "answer",
    [
        "W = np.eye(3)\nprint(W)",  # the answer binds it first
        "def f():\n    ids = [1]\n    return ids",  # a local variable of its own
        "print([ids for ids in range(3)])",  # a comprehension's own variable
        "print(np.ids if hasattr(np, 'ids') else dict(ids=1))",  # an attribute, a keyword
        "print('keras.ops.norm(vocab_size)')  # keras, in a string and a comment",
        "import keras\nprint(keras.__version__)",  # imported by the answer itself
        "dim = 3\nprint([dim * i for i in range(3)])",  # a comprehension runs at once
        "def norm(a):\n    return np.linalg.norm(a)",  # reads only what the setup cell binds
    ],
)
def test_demonstrations_stay_skipped_when_no_answer_needs_them(course, answer):
    assert _skipped_with(course, ("cosine_similarity", COSINE.format("pass") + answer + "\n"))


def test_a_name_bound_only_after_the_cell_that_reads_it_runs_the_demonstrations(course):
    reads = ("cosine_similarity", COSINE.format("pass") + "print(big_vocab)\n")
    binds = ("nearest_neighbours", "big_vocab = 1\n")  # a later cell: too late for the read
    assert not _skipped_with(course, reads, binds)
    earlier = ("cosine_similarity", COSINE.format("pass") + "big_vocab = 1\n")
    later = ("nearest_neighbours", "print(big_vocab)\n")
    assert _skipped_with(course, earlier, later)  # bound by the student before it is read


def test_a_value_a_demonstration_rebinds_runs_the_demonstrations(course):
    """01's Keras demonstration (after exercise 6, before exercise 7) sets ``vocab_size``: an
    answer above it that binds ``vocab_size`` too, read by an answer below it, read the
    demonstration's value in the student's kernel, so grading must run it as well."""
    before = ("one_hot", "vocab_size = 3\n")
    after = ("cosine_similarity", COSINE.format("pass") + "print(vocab_size)\n")
    assert not _skipped_with(course, before, after)
    rebound = ("cosine_similarity", COSINE.format("pass") + "vocab_size = 4\nprint(vocab_size)\n")
    assert _skipped_with(course, before, rebound)  # the answer's own value: no need


@pytest.mark.parametrize(
    "after",
    [
        "vocab_size = int(vocab_size)",  # read, then bound, by one statement
        "vocab_size += 0",
        "print(vocab_size)\nvocab_size = 3",  # read before the cell binds it
        "del vocab_size",
        "class C:\n    vocab_size = vocab_size",  # a class body reads the global first
        "vocab_size: int\nprint(vocab_size)",  # an annotation binds nothing
        "try:\n    vocab_size\nexcept NameError:\n    vocab_size = 32",  # a binding that may
        "for vocab_size in []:\n    pass\nprint(vocab_size)",  # not happen binds nothing
    ],
)
def test_a_cell_that_reads_a_demonstrations_value_before_binding_it_runs_them(course, after):
    """(The reads and bindings of a cell, statement by statement, not the cell as a whole.)"""
    answer = ("cosine_similarity", COSINE.format("pass") + after + "\n")
    assert not _skipped_with(course, answer)


def test_a_function_defined_before_a_demonstration_reads_when_it_is_called(course):
    """A function defined in exercise 6's cell, above 01's Keras demonstration, that reads
    ``vocab_size`` may be called below it, where the demonstration's value is the one it
    reads: the demonstrations run. Defined below it, after the student bound the name, it
    cannot see the demonstration's value."""
    helper = ("one_hot", "def size():\n    return vocab_size\n")
    called = ("cosine_similarity", COSINE.format("pass") + "print(size())\n")
    assert not _skipped_with(course, helper, called)
    assert not _skipped_with(course, helper)  # (called or not: it may be)
    later = ("nearest_neighbours", "vocab_size = 5\ndef size():\n    return vocab_size\n")
    assert _skipped_with(course, later)


@pytest.mark.parametrize(
    "answer",
    [
        "def cosine_similarity(a, b)\n    return 1.0\n",  # not Python: nobody can tell
        "x = " + "-" * 40_000 + "1\n",  # deeper than Python's parser goes
        "x = a" + ".b" * 9_000 + "\n",
        "x = 1\n" * 4_000,  # longer than the grader reads (24,000 characters)
        "%time x = vocab_size\n",  # IPython's own lines run what is in a string
        "!echo {vocab_size}\n",
        's = 1\nt = """\n%{vocab_size}\n"""\n',  # (in a string: read as such a line too)
        "y = 5 \x0c% vocab_size\n",  # (a form feed: Python's line, two for str.splitlines)
        "from math import *\n",  # binds whatever the module has
        "f = [" + "lambda: 0, " * 120 + "]\n",  # more scopes than the grader reads
    ],
)
def test_an_answer_that_cannot_be_read_runs_the_demonstrations(course, answer):
    """The grader reads the answer with Python's parser and symbol table and runs nothing of
    it; what it cannot read costs the demonstrations' time, never a name the answer needed."""
    assert nbgrader_ext.cell_names(answer) is None
    assert not _skipped_with(course, ("cosine_similarity", answer))


def test_a_notebook_too_long_to_read_runs_the_demonstrations(course):
    """Twenty answers of 15,000 characters each are read one by one, but not all together
    (the symbol table's CPU and memory are the coordinator's): the demonstrations run."""
    _, _, release, _ = course
    nb = copy.deepcopy(release)
    answer = "x = '" + "a" * 14_990 + "'\n"
    assert nbgrader_ext.cell_names(answer) is not None
    for _ in range(20):
        nb.cells.append(nbformat.v4.new_code_cell(answer))
    demos = {c.get("id") for c in nb.cells if "demo" in c.metadata.get("tags", [])}
    assert nbgrader_ext.reads_demo_names(nb, demos) is None
    restored, _ = _restore(course, nb)
    assert not any(c.metadata.get(nbgrader_ext.SKIP_KEY) for c in restored.cells)
    assert nbgrader_ext.reads_demo_names(release, demos) == set()


def test_reading_a_hostile_cell_costs_little():
    """A cell of many names and as many lambdas as the grader reads (the symbol table's
    lookups grow with both) is read in a small part of a second (the coordinator's CPU)."""
    import time

    names = ", ".join(f"n{i}" for i in range(1_500))
    lambdas = "lambda: 0, " * (nbgrader_ext.READ_SCOPES - 1)
    cell = f"x = [{names}, {lambdas}]\n"
    assert len(cell) < nbgrader_ext.READ_CELL_CHARS
    many = "a\n" * nbgrader_ext.READ_STATEMENTS  # (a symbol table per statement)
    start = time.process_time()
    assert nbgrader_ext.cell_names.__wrapped__(cell) is not None
    assert nbgrader_ext.cell_names.__wrapped__(many) is not None
    assert time.process_time() - start < 0.25  # (about 0.03 s on this course's 2-core VM)


def _read(*cells: tuple[str, bool]) -> set[str] | None:
    """reads_demo_names of a notebook of these ``(source, is a demonstration)`` code cells."""
    nb = nbformat.v4.new_notebook()
    demos = set()
    for index, (text, demo) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(text)
        cell.id = f"cell-{index}"
        nb.cells.append(cell)
        if demo:
            demos.add(cell.id)
    return nbgrader_ext.reads_demo_names(nb, demos)


def test_too_many_statements_are_not_read():
    """A cell of more statements than the grader reads, or a notebook of more statements in
    all, cannot be told (the demonstrations run): reading costs the coordinator's CPU per
    statement. The course's cells have at most 40."""
    limit = nbgrader_ext.READ_STATEMENTS
    assert nbgrader_ext.cell_names("a = 1\n" * limit) is not None
    assert nbgrader_ext.cell_names("a = 1\n" * (limit + 1)) is None
    per_cell = limit - 1
    cells = [(f"v{i} = 1\n" * per_cell, False) for i in range(6)]  # 6 x 299 > 1,500
    assert per_cell * 6 > nbgrader_ext.READ_NOTEBOOK_STATEMENTS
    assert _read(*cells) is None
    assert _read(*cells[:5]) == set()


def test_a_submodule_a_demonstration_imports_counts_as_changing_its_package():
    """``import matplotlib.pyplot as plt`` in 02's first demonstration adds ``pyplot`` to the
    ``matplotlib`` module: a later ``import matplotlib; matplotlib.pyplot.figure()`` works
    after it and fails without it."""
    for demo in ("import matplotlib.pyplot as plt", "from matplotlib.colors import LogNorm"):
        later = ("import matplotlib\nmatplotlib.pyplot.figure()", False)
        assert _read((demo, True), later) == {"matplotlib"}
    assert (
        _read(("import matplotlib", True), ("import matplotlib\nprint(matplotlib)", False)) == set()
    )


def test_a_demonstration_importing_what_a_name_already_holds_changes_nothing():
    """01's catalog ALTERNATIVE imports ``keras`` in exercise 6's answer, whose function reads
    it whenever it is called, and 01's Keras demonstration below imports it again: the same
    module, so the demonstrations need not run. Another module under that name does."""
    answer = ("import keras\ndef lookup(w, i):\n    return keras.ops.take(w, i)", False)
    called = ("print(lookup([1.0], [0]))", False)
    assert _read(answer, ("import keras", True), called) == set()
    assert _read(answer, ("import numpy as keras", True), called) == {"keras"}
    assert _read(answer, ("import keras.ops", True), called) == {"keras"}  # (a submodule)
    from_import = ("from numpy import ones\ndef f():\n    return ones(2)", False)
    assert _read(from_import, ("from numpy import ones", True), ("f()", False)) == set()
    assert _read(from_import, ("from numpy import zeros as ones", True), ("f()", False)) == {"ones"}
    assert _read(("import keras", True), ("print(keras)", False)) == {"keras"}  # (only there)


def test_an_item_or_attribute_a_demonstration_assigns_counts_as_its_value():
    """05's transformer demonstration adds ``histories["transformer"]`` to a dict an earlier
    cell made: a later cell that reads ``histories`` may read that item."""
    made = ("histories = {'gru': 1}", False)
    assert _read(made, ("histories['transformer'] = 2", True), ("print(histories)", False)) == {
        "histories"
    }
    assert _read(made, ("model.layer.units = 3", True), ("print(model)", False)) == {"model"}
    assert _read(made, ("print(histories['gru'])", True), ("print(histories)", False)) == set()
    assert _read(made, ("histories = {}", False), ("print(histories)", False)) == set()
    in_function = ("def add():\n    histories['t'] = 2\nadd()", True)  # (its own function)
    assert _read(made, in_function, ("print(histories)", False)) == {"histories"}


def test_cell_names_are_what_python_binds_and_reads():
    statements = nbgrader_ext.cell_names(
        "import numpy as np, os.path\n"
        "from os import path as p\n"
        "@DECORATOR\n"
        "def f(a, b=DEFAULT):\n"
        "    c = a + IN_F\n"
        "    def g():\n"
        "        return c + IN_G\n"
        "    return [x * IN_COMP for x in range(3)]\n"
        "class K(BASE):\n"
        "    z = IN_CLASS\n"
        "    def m(self):\n"
        "        return self.attribute + IN_METHOD\n"
        "TOP = [f(keyword=1) for _ in NOW]; TOP2 = TOP\n"
        "for LOOP in range(2):\n"
        "    pass\n"
    )
    assert statements is not None and len(statements) == 6
    imports, froms, function, klass, top, loop = statements
    assert imports.binds == {"np", "os"} and froms.binds == {"p"}
    assert function.binds == {"f"} and function.reads == {"DECORATOR", "DEFAULT"}
    assert function.reads_later == {"IN_F", "IN_G", "IN_COMP", "range"}
    assert klass.binds == {"K"} and klass.reads == {"BASE", "IN_CLASS"}
    assert klass.reads_later == {"IN_METHOD"}
    assert top.binds == set() and top.may_bind >= {"TOP", "TOP2"}  # (one line: not told apart)
    assert top.reads >= {"f", "NOW", "TOP"}
    assert loop.binds == set() and "LOOP" in loop.may_bind and loop.reads == {"range"}


def _report(cell: str, case: int, **values) -> dict:
    return nbformat.v4.new_output(
        "display_data",
        data={wire.MIME: {"check": cell, "case": case, "values": wire.encode(values)}},
    )


def _verdict(outputs: list, cell_id: str = "test_one_hot"):
    cell = nbformat.v4.new_code_cell("...")
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": cell_id,
        "locked": True,
        "solution": False,
        "points": 2,
    }
    cell.outputs = outputs
    resources = {"nbgrader": {"notebook": A}}
    return nbgrader_ext.TrustedVerdicts().preprocess_cell(cell, resources, 0)[0]


def _right_reports() -> list:
    from attention_grader import judging

    check = judging.checks_of(A)["test_one_hot"]
    out = []
    for index, case in enumerate(check.all_cases):
        ids, size = case.inputs["ids"], case.inputs["vocab_size"]
        out.append(
            _report(
                "test_one_hot", index, encoded=(ids[..., None] == range(size)).astype("float32")
            )
        )
    return out


def test_right_reports_pass_and_leave_no_trace_in_the_outputs():
    cell = _verdict(_right_reports())
    assert cell.outputs == []


def test_a_value_at_the_end_or_an_error_in_the_kernel_cannot_score():
    partial = nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
    cell = _verdict([partial])
    assert [o.output_type for o in cell.outputs] == ["error"]
    assert "no result came back" in cell.outputs[0].evalue
    error = nbformat.v4.new_output(
        "error", ename="NameError", evalue="name 'one_hot' is not defined", traceback=[]
    )
    cell = _verdict([error])
    assert cell.outputs[0].output_type == "stream" and "NameError" in cell.outputs[0].text
    assert "Your code raised NameError" in cell.outputs[-1].evalue
    timeout = nbformat.v4.new_output(
        "error", ename="CellTimeoutError", evalue="too long", traceback=[]
    )
    assert "did not finish" in _verdict([*_right_reports(), timeout]).outputs[-1].evalue


def test_reports_for_another_cell_or_malformed_ones_do_not_count():
    foreign = [_report("test_embedding_lookup", i, encoded=1) for i in range(5)]
    assert _verdict(foreign).outputs[-1].output_type == "error"
    bad = _right_reports()
    bad[0]["data"][wire.MIME]["values"] = {
        "encoded": {"__ndarray__": "!!", "dtype": "int8", "shape": [1]}
    }
    assert "malformed" in _verdict(bad).outputs[-1].evalue


def test_stderr_of_a_test_cell_is_kept_as_marked_stdout():
    noise = nbformat.v4.new_output("stream", name="stderr", text="DeprecationWarning: x\n")
    cell = _verdict([noise, *_right_reports()])
    assert [(o.output_type, o.name, o.text) for o in cell.outputs] == [
        ("stream", "stdout", "[stderr] DeprecationWarning: x\n")
    ]


def test_feedback_hides_hidden_tests_rubrics_and_outputs_that_quote_them(course):
    _, _, _, source = course
    nb = copy.deepcopy(source)
    test = next(c for c in nb.cells if cells.grade_id(c) == "test_learn_bpe")
    hidden_line = next(
        line.strip()
        for line in test.source.splitlines()
        if "standing_in(globals(), **case.stand_ins)" in line
    )
    test.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=test.source),
        nbformat.v4.new_output(
            "error",
            ename="AssertionError",
            evalue="wrong",
            traceback=["line 1", "line 2", "AssertionError"],
        ),
    ]
    rubric = nbformat.v4.new_markdown_cell(
        "### BEGIN MARK SCHEME\nsecret rubric\n### END MARK SCHEME"
    )
    nb.cells.append(rubric)
    scrubbed, _ = nbgrader_ext.ScrubHiddenTests().preprocess(nb, {})
    text = nbformat.writes(scrubbed)
    assert "BEGIN HIDDEN TESTS" not in text and hidden_line not in text
    assert "secret rubric" not in text
    assert nbgrader_ext.REDACTED.strip() in text
    error = next(o for o in test.outputs if o.output_type == "error")
    assert error.traceback == ["AssertionError: wrong"]


def test_the_solved_notebook_is_prepared_like_nbgrader_prepares_it(course, tmp_path):
    root, _, release, source = course
    solved = submissions.solved(release, source)
    target = root / "submitted" / "ana" / A / f"{A}.ipynb"
    target.parent.mkdir(parents=True)
    authoring.write_notebook(solved, target)
    grader = engine.Engine(root, sequential=True, progress=False)
    (sub,) = grader.planner.plan([A]).todo
    prepared = grader.preparer.prepare(sub, grader.planner.notebooks(A))
    jobs = prepared.jobs
    assert prepared.refused == {} and prepared.notes == [] and len(jobs) == 1
    assert "hidden_cases" in nbformat.writes(nbformat.from_dict(jobs[0].notebook))
    assert jobs[0].cases and set(wire.decode(jobs[0].cases)) >= {"test_one_hot"}


def test_an_error_under_a_full_marks_cell_says_it_cost_nothing(course):
    """A wrong merge_pair makes learn_bpe's visible test fail in the student's notebook, while
    learn_bpe itself, graded with reference helpers standing in, keeps its points: the feedback
    says why the error under a full-marks cell cost nothing; the cell that lost points does not."""
    from attention_grader.catalogs import nb01_tokenization as catalog

    root, _, release, source = course
    wrong = submissions.apply_mistake(release, source, catalog.MISTAKES["merge_pair_no_skip"])
    target = root / "submitted" / "ana" / A / f"{A}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    authoring.write_notebook(wrong, target)
    assert engine.Engine(root, sequential=True, progress=False).grade([A], ["ana"]).ok
    graded = nbformat.read(str(root / "autograded" / "ana" / A / f"{A}.ipynb"), as_version=4)
    by_id = {cells.grade_id(c): c for c in graded.cells if cells.grade_id(c)}

    def text(gid):
        return "".join(o.get("text", "") for o in by_id[gid].outputs)

    learn = by_id["test_learn_bpe"].outputs
    assert "[in the notebook]" in text("test_learn_bpe")  # the visible test failed...
    assert not any(o.output_type == "error" for o in learn)  # ...and cost nothing
    assert "the error above cost nothing" in text("test_learn_bpe")
    assert "standing in" in text("test_learn_bpe")
    assert any(o.output_type == "error" for o in by_id["test_merge_pair"].outputs)
    assert "cost nothing" not in text("test_merge_pair")


def test_a_release_notebook_changed_on_disk_is_read_again(course):
    """RestoreLayout reads each released notebook once per version of its file: a release
    made again (here: its demonstrations no longer tagged) is what the next restore uses."""
    root, _, release, _ = course
    path = root / "release" / A / f"{A}.ipynb"
    original = path.read_bytes()
    restored, _ = _restore(course, release)
    assert any(c.metadata.get(nbgrader_ext.SKIP_KEY) for c in restored.cells)
    again = copy.deepcopy(release)
    for cell in again.cells:
        cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "demo"]
    try:
        nbformat.write(again, str(path))
        restored, _ = _restore(course, release)
        assert not any(c.metadata.get(nbgrader_ext.SKIP_KEY) for c in restored.cells)
    finally:
        path.write_bytes(original)
    restored, _ = _restore(course, release)
    assert any(c.metadata.get(nbgrader_ext.SKIP_KEY) for c in restored.cells)


def test_a_kernel_gets_no_file_whose_name_starts_with_a_dot(tmp_path):
    """As intake refuses them: in the kernel's home folder a dot folder is configuration read
    as the kernel starts (IPython's startup code runs before the sandbox is sealed)."""
    files = {
        "notes.txt": b"mine",
        "data/words.txt": b"one two",
        "ipython_config.py": b"",  # (not a dot name: IPython never reads it from here)
        ".ipython/profile_default/startup/00.py": b"import os",
        ".config/matplotlib/matplotlibrc": b"backend: module://mine",
        "data/.hidden": b"",
        "__pycache__/mine.cpython-311.pyc": b"",
        "solved.ipynb": b"{}",
    }
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    assert nbgrader_ext.submission_files(tmp_path) == {
        "notes.txt": b"mine",
        "data/words.txt": b"one two",
        "ipython_config.py": b"",
    }


@pytest.mark.parametrize(
    "assignment",
    [
        "01_tokenization",
        "02_metrics",
        "03_reweighing",
        "04_imdb_preprocessing",
        "05_imdb_attention",
        "06_custom_dataloader",
    ],
)
def test_the_catalogs_submissions_run_the_demonstrations_only_where_they_need_them(assignment):
    """Of every catalog's submissions (solution, blank, different correct solution, each group
    of mistakes), only 06's different solution reads a demonstration's name (``WINDOW``, as
    its exercises write it): the others are graded without the demonstrations, as before."""
    import json

    from conftest import ROOT
    from notebook_suite import Catalog

    release = authoring.read_notebook(ROOT / "release" / assignment / f"{assignment}.ipynb")
    source = authoring.read_notebook(ROOT / "source" / assignment / f"{assignment}.ipynb")
    needed = {}
    for student, notebook in Catalog.load(assignment).students(release, source).items():
        nb = nbformat.reads(json.dumps(notebook), as_version=4)
        demos = {c.get("id") for c in nb.cells if "demo" in c.metadata.get("tags", [])}
        names = nbgrader_ext.reads_demo_names(nb, demos)
        if names != set():
            needed[student] = names
    expected = {"alternative": {"WINDOW"}} if assignment == "06_custom_dataloader" else {}
    assert needed == expected


def test_stock_autograde_asks_for_tensorflow_in_the_template_only_when_a_cell_imports_it(
    course, monkeypatch, tmp_path
):
    """``nbgrader autograde`` without the engine (one notebook at a time): 01's notebook, whose
    Keras demonstration is skipped, gets a template without TensorFlow; once the demonstration
    runs (a student changed it) or an answer imports Keras, one with it."""
    from attention_grader import executor

    root, config, release, _ = course
    asked: list[bool] = []

    def execute(job):
        asked.append(job.template_tensorflow)
        return executor.Result(key=job.key, notebook=job.notebook)

    monkeypatch.setattr(executor, "execute", execute)
    (tmp_path / f"{A}.ipynb").write_text("{}")

    def ask(nb) -> bool:
        restored, resources = _restore(course, nb)
        resources["metadata"] = {"path": str(tmp_path)}
        nbgrader_ext.GradingExecute(config=config).preprocess(restored, resources)
        return asked[-1]

    assert ask(release) is False
    demo = copy.deepcopy(release)
    keras_demo = next(
        c
        for c in demo.cells
        if "demo" in c.metadata.get("tags", []) and "keras" in "".join(c.source)
    )
    keras_demo.source += "\nprint('mine')"
    assert ask(demo) is True
    answer = copy.deepcopy(release)
    cell = next(c for c in answer.cells if cells.is_solution(c))
    cell.source = "import keras\n" + "".join(cell.source)
    assert ask(answer) is True
