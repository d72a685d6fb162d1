"""attention_course.probe: what a hidden test cell does in the kernel."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attention_course import notebook, probe, wire


@pytest.fixture
def cases_file(tmp_path, monkeypatch):
    path = tmp_path / "cases.json"
    cases = {
        "test_x": [
            {"label": "first", "inputs": {"x": [1, 2]}},
            {"label": "second", "inputs": {"x": [3]}},
        ]
    }
    path.write_text(json.dumps(wire.encode(cases)))
    monkeypatch.setenv(probe.CASES_ENV, str(path))
    monkeypatch.setattr(probe, "_loaded", {})
    return path


def test_grading_mode_reads_the_inputs_the_grader_wrote(cases_file):
    cases = probe.hidden_cases("test_x")
    assert [(c.index, c.label, c["x"]) for c in cases] == [(0, "first", [1, 2]), (1, "second", [3])]
    assert probe.hidden_cases("unknown") == []


def test_grading_mode_report_only_displays_the_values(cases_file, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda data, raw: shown.append(data))
    case = probe.hidden_cases("test_x")[1]
    probe.report(case, y=[9, 9], name="n")
    (data,) = shown
    payload = data[wire.MIME]
    assert payload["check"] == "test_x" and payload["case"] == 1
    assert wire.decode(payload["values"]) == {"y": [9, 9], "name": "n"}


def test_instructor_mode_judges_on_the_spot(monkeypatch):
    monkeypatch.delenv(probe.CASES_ENV, raising=False)
    notebook.setup(seed=0, notebook="01_tokenization")
    cases = probe.hidden_cases("test_one_hot")
    assert cases and all("ids" in c for c in cases)
    first = cases[0]
    import numpy as np

    right = np.asarray(first["ids"])[..., None] == np.arange(first["vocab_size"])
    probe.report(first, encoded=right.astype("float32"))  # passes silently
    with pytest.raises(AssertionError, match="one_hot"):
        probe.report(first, encoded=right.astype("float32") * 2)


def test_call_turns_an_exception_into_a_reported_value():
    assert probe.call(lambda a, b=1: a + b, 1, b=2) == 3
    raised = probe.call(lambda: 1 / 0)
    assert isinstance(raised, wire.Raised) and raised.type_name == "ZeroDivisionError"


def test_standing_in_swaps_and_restores_the_notebook_functions():
    namespace = {"softmax": "mine"}
    with probe.standing_in(namespace, softmax="reference", split="reference too"):
        assert namespace == {"softmax": "reference", "split": "reference too"}
    assert namespace == {"softmax": "mine"}
    with pytest.raises(RuntimeError), probe.standing_in(namespace, softmax="ref"):
        raise RuntimeError
    assert namespace == {"softmax": "mine"}


# --------------------------------------------------------------------------- stand-ins


def _stand_in(calls, fallback=None, name="merge"):
    """A stand-in as the kernel builds it: from tables that crossed the wire."""
    return probe.StandIn(name, wire.decode(wire.encode(calls)), fallback)


def test_a_stand_in_answers_a_prepared_call_with_a_fresh_copy_of_its_value():
    merge = _stand_in(
        [{"args": [{("a", "b"): 2}, ("a", "b")], "kwargs": {}, "result": {("ab",): 2}}]
    )
    first = merge({("a", "b"): 2}, ("a", "b"))
    assert first == {("ab",): 2}
    first[("ab",)] = 99  # the student's code may change what it got
    assert merge({("a", "b"): 2}, ("a", "b")) == {("ab",): 2}


def test_a_list_matches_a_tuple_and_dict_keys_must_be_the_same():
    merge = _stand_in([{"args": [{("a", "b"): 2}, ("a", "b")], "kwargs": {}, "result": "hit"}])
    assert merge({("a", "b"): 2}, ["a", "b"]) == "hit"
    with pytest.raises(LookupError):
        merge({("a", "c"): 2}, ("a", "b"))  # another key
    with pytest.raises(LookupError):
        merge({("a", "b"): 2, ("c",): 1}, ("a", "b"))  # one key more
    with pytest.raises(LookupError):
        merge({("a", "b"): 3}, ("a", "b"))  # another value
    with pytest.raises(LookupError):
        merge("ab", ("a", "b"))  # a string is not a dict
    with pytest.raises(LookupError):
        merge({("a", "b"): 2}, "ab")  # nor a sequence of symbols


def test_arrays_match_within_a_tolerance_and_by_value_whatever_their_dtype():
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    cos = _stand_in([{"args": [x, x], "kwargs": {}, "result": np.eye(2)}], name="cos")
    assert np.array_equal(cos(x.astype(np.float32), x + 1e-9), np.eye(2))  # float32 copy
    assert np.array_equal(cos(x.tolist(), x), np.eye(2))  # nested lists
    with pytest.raises(LookupError):
        cos(x + 1e-3, x)  # beyond the tolerance
    with pytest.raises(LookupError):
        cos(x.T, x)  # another shape
    prf = _stand_in(
        [
            {
                "args": [np.array([True, False]), np.array([1, 1])],
                "kwargs": {},
                "result": (0.5, 1.0, 0.6),
            }
        ],
        name="prf",
    )
    assert prf(np.array([1, 0]), np.array([True, True])) == (0.5, 1.0, 0.6)  # 0/1 vs booleans
    with pytest.raises(LookupError):
        prf(np.array([0, 1]), np.array([1, 1]))


def test_numbers_and_flags_match_by_value_not_by_truthiness():
    count = _stand_in([{"args": [10, 4, 3], "kwargs": {}, "result": 3}], name="count")
    assert count(10, 4, 3) == 3 and count(np.int64(10), 4, 3) == 3
    for wrong in [(10.5, 4, 3), (True, 4, 3), (10, 4), (10, 4, 3, 0)]:
        with pytest.raises(LookupError):
            count(*wrong)
    flag = _stand_in([{"args": [False], "kwargs": {}, "result": "no"}], name="flag")
    assert flag(np.bool_(False)) == "no"
    with pytest.raises(LookupError):
        flag(0)


def test_keywords_match_only_as_prepared_unless_the_parameters_are_named():
    entry = {"args": [[1, 0], [1, 1]], "kwargs": {"zero_division": 1.0}, "result": (0.5, 1.0, 0.6)}
    plain = _stand_in([entry], name="prf")
    assert plain([1, 0], [1, 1], zero_division=1.0) == (0.5, 1.0, 0.6)
    with pytest.raises(LookupError):
        plain([1, 0], [1, 1], 1.0)  # the same call, spelled positionally
    named = _stand_in(
        [
            {
                **entry,
                "params": ["y_true", "y_pred", "zero_division"],
                "defaults": {"zero_division": 0.0},
            }
        ],
        name="prf",
    )
    for args, kwargs in [
        (([1, 0], [1, 1], 1.0), {}),
        (([1, 0],), {"y_pred": [1, 1], "zero_division": 1.0}),
        ((), {"zero_division": 1.0, "y_true": [1, 0], "y_pred": [1, 1]}),
    ]:
        assert named(*args, **kwargs) == (0.5, 1.0, 0.6)
    for args, kwargs in [
        (([1, 0], [1, 1]), {}),  # the default 0.0 is another call
        (([1, 0], [1, 1], 1.0), {"zero_division": 1.0}),  # given twice: Python would refuse
        (([1, 0], [1, 1]), {"zero_divison": 1.0}),  # no such parameter
        (([1, 0], [1, 1], 1.0, 2), {}),  # too many arguments
    ]:
        with pytest.raises(LookupError):
            named(*args, **kwargs)


def test_another_call_goes_to_the_notebook_function_and_without_one_raises_lookup_error():
    seen = []

    def own(*args, **kwargs):
        seen.append((args, kwargs))
        return "own"

    count = _stand_in([{"args": [10, 4, 3], "kwargs": {}, "result": 3}], own, name="count")
    assert count(10, 4, 3) == 3 and seen == []
    assert count(9, 4, 3) == "own" and seen == [((9, 4, 3), {})]
    with pytest.raises(LookupError, match="count is not defined"):
        _stand_in([{"args": [10, 4, 3], "kwargs": {}, "result": 3}], name="count")(9, 4, 3)


def test_standing_in_builds_stand_ins_from_tables_and_puts_the_notebook_back():
    def own(length, window, stride):
        return "own"

    namespace = {"count_windows": own}
    table = [{"args": [10, 4, 3], "kwargs": {}, "result": 3}]
    with probe.standing_in(namespace, count_windows=table, find_segments=[]):
        stand_in = namespace["count_windows"]
        assert isinstance(stand_in, probe.StandIn)
        assert stand_in(10, 4, 3) == 3 and stand_in(1, 1, 1) == "own"
        with pytest.raises(LookupError):  # not in the notebook: nothing to fall back to
            namespace["find_segments"]([0, 1])
    assert namespace == {"count_windows": own}


def test_a_stand_in_carries_values_only(cases_file, monkeypatch):
    tables = {
        "merge": [{"args": [{("a", "b"): 1}, ("a", "b")], "kwargs": {}, "result": {("ab",): 1}}]
    }
    cases = {"test_x": [{"label": "one", "inputs": {"x": 1}, "stand_ins": tables}]}
    cases_file.write_text(json.dumps(wire.encode(cases)))
    monkeypatch.setattr(probe, "_loaded", {})
    (case,) = probe.hidden_cases("test_x")
    assert case.stand_ins == tables
    stand_in = probe.StandIn("merge", case.stand_ins["merge"])
    # nothing in it can run: its state is plain data, and its repr says no more than a count
    assert repr(stand_in) == "<stand-in for merge: 1 prepared answers>"
    assert wire.decode(wire.encode(stand_in._calls)) == tables["merge"]
    # a function put into a table by mistake arrives as an inert marker, never as code
    sent = wire.decode(wire.encode([{"args": [], "kwargs": {}, "result": len}]))
    assert isinstance(sent[0]["result"], wire.Opaque) and not callable(sent[0]["result"])


def _sealed(entry):
    return wire.decode(wire.encode(probe.seal_entry(entry)))


def test_a_sealed_entry_opens_only_for_its_arguments_however_they_are_held():
    entry = {
        "args": [{("l", "o", "w"): 5}, ("l", "o")],
        "kwargs": {},
        "result": {("lo", "w"): 5},
        "params": ["word_freqs", "pair"],
        "defaults": {},
    }
    sealed = _sealed(entry)
    assert sealed.keys() == {"params", "defaults", "digest", "box"}
    # neither the arguments nor the result can be read from it
    text = json.dumps(wire.encode(sealed))
    assert not any(f'"{symbol}"' in text for symbol in ("l", "o", "w", "lo"))
    merge = probe.StandIn("merge_pair", [sealed], lambda *a, **k: "own")
    assert merge({("l", "o", "w"): 5}, ("l", "o")) == {("lo", "w"): 5}
    assert merge({("l", "o", "w"): np.int64(5)}, ["l", "o"]) == {("lo", "w"): 5}
    assert merge(pair=("l", "o"), word_freqs={("l", "o", "w"): 5.0}) == {("lo", "w"): 5}
    assert merge({("l", "o", "w"): 5}, ("o", "w")) == "own"
    assert merge({("l", "o", "w"): 4}, ("l", "o")) == "own"
    assert merge({("l", "o", "w"): 5, ("x",): 1}, ("l", "o")) == "own"
    assert merge({("l", "o", "w"): 5}, ("l", "o"), "extra") == "own"


def test_sealed_arrays_match_by_value_whatever_their_dtype():
    entry = {
        "args": [np.array([1, 0, 1]), np.array([True, False, False])],
        "kwargs": {"zero_division": 1.0},
        "result": (1.0, 0.5, 2 / 3),
        "params": ["y_true", "y_pred", "zero_division"],
        "defaults": {"zero_division": 0.0},
    }
    prf = probe.StandIn("prf", [_sealed(entry)])
    assert prf([True, False, True], np.array([1, 0, 0]), 1) == (1.0, 0.5, 2 / 3)
    assert prf(np.array([1.0, 0.0, 1.0]), [1, 0, 0], zero_division=1.0) == (1.0, 0.5, 2 / 3)
    for args in [([1, 0, 1], [1, 0, 0]), ([1, 0, 1], [1, 0, 1], 1.0), ([1, 0], [1, 0], 1.0)]:
        with pytest.raises(LookupError):
            prf(*args)


def test_sealed_float_arrays_match_within_a_tolerance_and_are_not_shown():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)) * 5 + 70
    part = (x[:30] - x[:30].mean(0)) / x[:30].std(0)  # normalised as a float64 solution does
    entry = {
        "args": [part, np.zeros(30, int), 4, 2],
        "kwargs": {},
        "result": "windows",
        "params": ["X", "y", "window", "stride"],
        "defaults": {},
    }
    sealed = _sealed(entry)
    text = json.dumps(wire.encode(sealed))
    assert f"{part[0, 0]:.6f}"[:8] not in text and "windows" not in text
    windows = probe.StandIn("make_windows", [sealed], lambda *a, **k: "own")
    x32 = x.astype(np.float32)
    part32 = (x32[:30] - x32[:30].mean(0)) / x32[:30].std(0)  # float32 all the way
    assert np.abs(part32 - part).max() > 1e-7  # not the same numbers...
    assert windows(part32, np.zeros(30), 4, 2) == "windows"  # ...but the same call
    assert windows(part.tolist(), [0] * 30, window=4, stride=2) == "windows"
    ddof1 = (x[:30] - x[:30].mean(0)) / x[:30].std(0, ddof=1)  # another call
    for args in [
        (ddof1, np.zeros(30), 4, 2),
        (part + 1e-4, np.zeros(30), 4, 2),
        (part[:, :2], np.zeros(30), 4, 2),
        (part, np.ones(30), 4, 2),
    ]:
        assert windows(*args) == "own"
    with pytest.raises(probe.Unsealable):
        probe.seal_entry({**entry, "args": [np.array([np.nan]), np.array([1]), 4, 2]})


def test_instructor_mode_cases_carry_their_stand_ins_too(monkeypatch):
    monkeypatch.delenv(probe.CASES_ENV, raising=False)
    notebook.setup(seed=0, notebook="01_tokenization")
    cases = probe.hidden_cases("test_learn_bpe")
    assert cases and all(set(c.stand_ins) == {"pair_counts", "merge_pair"} for c in cases)
    first = cases[0]
    word_freqs = {tuple(w) + ("</w>",): n for w, n in first["word_counts"].items()}
    with probe.standing_in(globals(), **first.stand_ins):
        counts = globals()["pair_counts"](word_freqs)  # answered from the grader's values
    assert counts[("e", "s")] == 9 and "pair_counts" not in globals()


# ------------------------------------------------------------------ canonical arguments


class _Tensor:
    """Holds an array the way a TensorFlow tensor does: only through ``__array__``."""

    def __init__(self, array):
        self.array = array

    def __array__(self, dtype=None, copy=None):
        if isinstance(self.array, Exception):
            raise self.array
        return self.array


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("ab", b"ab"),  # TensorFlow holds strings as UTF-8 bytes
        ([True, np.bool_(False)], (1, 0)),
        ([np.int64(3), 4.0, np.float32(-2.0)], [3, 4, -2]),
        (np.array([[1, 2], [3, 4]], dtype="int8"), [[1.0, 2.0], (3, 4)]),
        (np.array(["a", "b"]), ["a", b"b"]),
        ({"b": 1, "a": [2]}, {"a": (2,), "b": True}),
        (_Tensor(np.array([5, 6])), [5, 6]),
        (None, None),
    ],
)
def test_canonical_forms_are_equal_for_equal_arguments_however_held(one, other):
    assert probe._canonical(one) == probe._canonical(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [("1", 1), (None, 0), ([1, 2], [2, 1]), ({"a": 1}, [["a", 1]]), ([1], 1), (b"ab", "ba")],
)
def test_canonical_forms_differ_for_different_arguments(one, other):
    assert probe._canonical(one) != probe._canonical(other)


def _nested(depth):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (1.5, "not an integer"),
        (float("nan"), "not an integer"),
        (np.float32("inf"), "not an integer"),
        (b"\xff", "not UTF-8"),
        (np.array([1 + 2j]), "an array of dtype complex128"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "an array of dtype datetime64"),
        (np.array([1.5]), "not an integer"),
        (np.array([object()], dtype=object), "a object"),
        ({"k": 0.5}, "not an integer"),
        (_nested(40), "nested too deep"),
        (_Tensor(ValueError("no array")), "a _Tensor"),
        (_Tensor(np.array([1j])), "a _Tensor"),
        (object(), "a object"),
        ({1, 2}, "a set"),
    ],
)
def test_arguments_without_an_exact_canonical_form_are_refused(value, words):
    with pytest.raises(probe.Unsealable, match=words):
        probe._canonical(value)


def test_canonical_depth_limit_is_32_levels():
    assert probe._canonical(_nested(32)) == _nested(32)
    with pytest.raises(probe.Unsealable, match="nested too deep"):
        probe._canonical(_nested(33))
