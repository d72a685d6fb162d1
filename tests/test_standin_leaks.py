"""A blank exercise cannot read its answer out of another function's stand-in (notebook 03).

While a later exercise of 03_reweighing is graded, earlier functions are answered from tables
the grader computed (``case.stand_ins``): softmax while scaled_dot_product_attention is graded,
split_heads, merge_heads and scaled_dot_product_attention while multi_head_attention is. Each
test below is a hostile student: the graded exercise is blank except for code that reads the
stand-in tables (``_calls``, ``gc.get_objects()``) for the answer of the case that is running.
On readable tables (``{"args", "kwargs", "result"}``, as they were before sealing; rebuilt here
by turning sealing off) every cheat scores full marks, which proves the cheat works; on the
tables the grader sends now (sealed entries) it scores nothing.

The hidden regions run as the grading kernel runs them: the real source notebook's hidden
code, cases and tables through the wire, verdicts by the real checks. No TensorFlow.
"""

from __future__ import annotations

import collections
import functools

import numpy as np
import pytest

from attention_course import probe, wire
from attention_grader import cells, judging
from attention_grader.authoring import project_root, read_notebook
from attention_grader.judges import nb03_reweighing as nb03
from attention_grader.submissions import solution_code

NB = "03_reweighing"


@functools.cache
def _solution_and_hidden() -> tuple[dict[str, str], dict[str, str]]:
    nb = read_notebook(project_root() / "source" / NB / f"{NB}.ipynb")
    hidden = {}
    for cell in nb["cells"]:
        text = cells.source(cell)
        if "### BEGIN HIDDEN TESTS" in text:
            start = text.index("### BEGIN HIDDEN TESTS")
            hidden[cells.grade_id(cell)] = text[start : text.index("### END HIDDEN TESTS")]
    return solution_code(nb), hidden


def _score(cell: str, replaced: dict[str, str]) -> tuple[int, int]:
    """(cases passed, cases) of ``cell``'s hidden region run over the solution with the cells
    in ``replaced`` swapped for the given code, cases and tables through the wire."""
    solution, hidden = _solution_and_hidden()
    code = {**solution, **replaced}
    check = judging.checks_of(NB)[cell]
    sent = wire.decode(
        wire.encode(
            [
                {"label": c.label, "inputs": c.inputs, "stand_ins": c.stand_ins}
                for c in check.all_cases
            ]
        )
    )
    namespace = {"np": np, "collections": collections, "__name__": "__main__"}
    for grade_id, text in code.items():
        if grade_id in hidden or "def " not in text or "keras" in text or "tensorflow" in text:
            continue
        exec(text, namespace)  # noqa: S102 - the solution's cells and the cheat under test
    reports = []
    namespace.update(
        call=probe.call,
        hidden_cases=lambda name: [
            probe.Case(name, i, c["label"], c["inputs"], c["stand_ins"]) for i, c in enumerate(sent)
        ],
        report=lambda case, **values: reports.append(
            (case.index, wire.decode(wire.encode(values)))
        ),
        standing_in=probe.standing_in,
    )
    region = hidden[cell].replace(
        "from attention_course.probe import call, hidden_cases, report, standing_in", ""
    )
    exec(region, namespace)  # noqa: S102
    passed = 0
    for index, values in reports:
        case = check.all_cases[index]
        try:
            check.judge(case, judging.Observed(values, case.label, check), check.want(index))
            passed += 1
        except AssertionError:
            pass
    return passed, len(check.all_cases)


@pytest.fixture
def readable(monkeypatch):
    """The tables as they were before sealing: ``{"args", "kwargs", "result"}`` in the clear."""
    monkeypatch.setattr(nb03, "sealed", lambda tables: tables)
    for check in judging.checks_of(NB).values():
        check.__dict__.pop("all_cases", None)  # rebuilt from readable tables
    yield
    for check in judging.checks_of(NB).values():
        check.__dict__.pop("all_cases", None)


# The weights of the case that runs are softmax's recorded result: weights @ v is the output.
ATTENTION_FROM_SOFTMAX_TABLE = """
def scaled_dot_product_attention(q, k, v, mask=None):
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    shape = q.shape[:-1] + (k.shape[-2],)
    for entry in getattr(globals()["softmax"], "_calls", []):
        if "result" not in entry:
            continue
        blocked = bool(np.any(np.asarray(entry["args"][0]) <= -1e8))
        weights = np.asarray(entry["result"], dtype=np.float64)
        if weights.shape == shape and blocked == (mask is not None):
            if mask is not None:
                weights = np.where(np.broadcast_to(np.asarray(mask) != 0, shape), weights, 0.0)
            return weights @ v, weights
    raise NotImplementedError()
"""

# The same through the garbage collector: any stand-in object's table, whatever its name.
ATTENTION_FROM_GC = """
import gc

def scaled_dot_product_attention(q, k, v, mask=None):
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    shape = q.shape[:-1] + (k.shape[-2],)
    for thing in gc.get_objects():
        if type(thing).__name__ != "StandIn":
            continue
        for entry in vars(thing).get("_calls", []):
            weights = np.asarray(entry.get("result", 0.0), dtype=np.float64)
            if weights.shape == shape and mask is None:
                return weights @ v, weights
    raise NotImplementedError()
"""

# merge_heads' recorded result times the output weights; the weights are attention's.
MHA_FROM_TABLES = """
def multi_head_attention(query, value, key, params, num_heads, mask=None):
    merged = [e["result"] for e in merge_heads._calls if "result" in e]
    attended = [e["result"] for e in scaled_dot_product_attention._calls if "result" in e]
    if not merged or not attended:
        raise NotImplementedError()
    output = np.asarray(merged[0]) @ np.asarray(params["Wo"]) + np.asarray(params["bo"])
    return output, np.asarray(attended[0][1])
"""

CHEATS = [
    ("test_attention_shapes", "attention", ATTENTION_FROM_SOFTMAX_TABLE),
    ("test_attention_values", "attention", ATTENTION_FROM_SOFTMAX_TABLE),
    ("test_attention_values", "attention", ATTENTION_FROM_GC),
    ("test_mha_against_keras", "multi_head_attention", MHA_FROM_TABLES),
    ("test_mha_mask", "multi_head_attention", MHA_FROM_TABLES),
]


def _cell_of(function: str) -> str:
    solution, _ = _solution_and_hidden()
    names = [g for g, text in solution.items() if f"def {function}" in text]
    assert len(names) == 1, names
    return names[0]


@pytest.mark.parametrize(("cell", "function", "cheat"), CHEATS)
def test_the_cheat_scores_on_readable_tables(cell, function, cheat, readable):
    """Proof that each cheat works: on tables in the clear it gets every case."""
    target = _cell_of("scaled_dot_product_attention" if function == "attention" else function)
    passed, total = _score(cell, {target: cheat})
    assert passed == total, (passed, total)


@pytest.mark.parametrize(("cell", "function", "cheat"), CHEATS)
def test_a_blank_exercise_cannot_read_its_answer_from_the_stand_ins(cell, function, cheat):
    target = _cell_of("scaled_dot_product_attention" if function == "attention" else function)
    passed, total = _score(cell, {target: cheat})
    assert passed == 0, f"the cheat got {passed}/{total} cases of {cell}"
    for case in judging.checks_of(NB)[cell].all_cases:
        for table in case.stand_ins.values():
            assert all("args" not in e and "result" not in e and "digest" in e for e in table)


@pytest.mark.parametrize(
    "cell",
    ["test_attention_shapes", "test_attention_values", "test_mha_against_keras", "test_mha_mask"],
)
def test_the_solution_keeps_its_points_with_its_helpers_blank(cell):
    """Sealed tables still answer every call a correct solution makes: the helpers it calls
    are blank (they raise), the graded exercise gets every case."""
    blank = {
        _cell_of(name): f"def {name}(*args, **kwargs):\n    raise NotImplementedError()\n"
        for name in (["softmax"] if "attention_" in cell else ["split_heads", "merge_heads"])
    }
    if "mha" in cell:
        blank[_cell_of("scaled_dot_product_attention")] = (
            "def scaled_dot_product_attention(*args, **kwargs):\n    raise NotImplementedError()\n"
        )
    passed, total = _score(cell, blank)
    assert passed == total, (passed, total)


ATTENTION_VARIANTS = {
    # float32 throughout, einsum, and three ways of blocking a score
    "float32_einsum_inf": """
def scaled_dot_product_attention(q, k, v, mask=None):
    q, k, v = (np.asarray(t, dtype=np.float32) for t in (q, k, v))
    scores = np.einsum("...qd,...kd->...qk", q, k) / np.float32(np.sqrt(q.shape[-1]))
    if mask is not None:
        allowed = np.broadcast_to(np.asarray(mask).astype(bool), scores.shape)
        scores = np.where(allowed, scores, -np.inf)
    weights = np.asarray(softmax(scores, axis=-1))
    if mask is not None:
        weights = np.where(allowed, weights, 0.0)
    return weights @ v, weights
""",
    "minus_1e30_keyword_free": """
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) / np.sqrt(np.shape(q)[-1])
    if mask is not None:
        allowed = np.broadcast_to(np.asarray(mask) != 0, scores.shape)
        scores = np.where(allowed, scores, -1e30)
    weights = softmax(scores)
    if mask is not None:
        weights = np.where(allowed, weights, 0.0)
    return np.matmul(weights, v), weights
""",
    "additive_mask": """
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        blocked = 1.0 - np.asarray(mask, dtype=np.float64)
        scores = scores + blocked * -1e9
    weights = softmax(scores, axis=-1)
    if mask is not None:
        weights = weights * np.asarray(mask, dtype=np.float64)
    return weights @ v, weights
""",
}


@pytest.mark.parametrize("variant", sorted(ATTENTION_VARIANTS))
@pytest.mark.parametrize("cell", ["test_attention_values", "test_attention_mask"])
def test_other_correct_attentions_open_the_sealed_softmax(variant, cell):
    """A correct attention computing in float32, with einsum, blocking with -inf, -1e30 or an
    additive -1e9 gets every answer from the sealed softmax table, never from the student's
    own softmax (blank here)."""
    code = {
        _cell_of("scaled_dot_product_attention"): ATTENTION_VARIANTS[variant],
        _cell_of("softmax"): "def softmax(*args, **kwargs):\n    raise NotImplementedError()\n",
    }
    passed, total = _score(cell, code)
    assert passed == total, (passed, total)


def test_a_masked_softmax_entry_opens_only_for_its_allowed_scores():
    """Blocked scores are held by where they are: -1e9, -1e30 and -inf alike; the allowed ones
    by their values, on a grid as fine as for an unmasked array (before, the grid followed the
    sum of all values, -1e9 included, and any scores with the right blocked places opened the
    entry: softmax(np.where(mask, 0, -1e9)) gave the true weights without computing a score)."""
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(2, 3, 4))
    allowed = rng.random((2, 3, 4)) < 0.6
    allowed[..., 0] = True
    masked = np.where(allowed, scores, -1e9)
    weights = nb03.ref_softmax(masked)
    tables = judging.any_spelling(
        {"softmax": [{"args": [masked], "kwargs": {"axis": -1}, "result": weights}]},
        softmax=nb03.ref_softmax,
    )
    entry = judging.sealed(tables)["softmax"][0]
    assert entry["floats"]["x"]["blocked"] is True
    softmax = probe.StandIn("softmax", [entry], lambda *a, **k: "own")
    for blocked in (-1e9, -1e30, -np.inf, np.finfo(np.float32).min):
        np.testing.assert_allclose(softmax(np.where(allowed, scores, blocked)), weights)
        np.testing.assert_allclose(
            softmax(np.where(allowed, scores, blocked).astype(np.float32), axis=-1), weights
        )
    assert softmax(np.where(allowed, 0.0, -1e9)) == "own"
    assert softmax(np.where(allowed, scores + 1e-3, -1e9)) == "own"
    assert softmax(np.where(allowed & (np.arange(4) != 1), scores, -1e9)) == "own"
    assert softmax(scores) == "own"


def test_every_stand_in_entry_of_03_is_sealed():
    """No table of 03 holds an argument or an answer in the clear (the grading cases file,
    which the kernel can read, holds the tables of every cell at once)."""
    tables = 0
    for check in judging.checks_of(NB).values():
        for case in check.all_cases:
            for name, table in case.stand_ins.items():
                tables += 1
                assert table, (check.cell, name)
                for entry in table:
                    assert set(entry) <= {"params", "defaults", "digest", "box", "floats"}, (
                        check.cell,
                        name,
                        sorted(entry),
                    )
    assert tables >= 20
