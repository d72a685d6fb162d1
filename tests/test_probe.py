"""attention_course.probe: what a hidden test cell does in the kernel."""

from __future__ import annotations

import json

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
