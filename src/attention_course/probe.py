"""What a hidden test cell uses to hand the student's results to the grader.

A hidden check never decides a grade inside the student's kernel, where the student's own
code could rewrite it. It asks for its inputs and reports what the student's functions
returned (``call`` turns an exception into a reported value)::

    for case in hidden_cases("test_softmax"):
        report(case, y=call(softmax, case["x"], axis=case["axis"]))

While grading (``COURSE_GRADING_CASES`` names the inputs file the grader put into the
sandbox) ``report`` only emits the values as output of type :data:`wire.MIME`; the grader
compares them, outside the kernel, with references it computes itself. A case that is never
reported scores 0.

In the instructor's own kernel (a source notebook run top to bottom, ``nbgrader validate``)
there is no inputs file: the cases come from the instructor's grading package and every
report is judged on the spot, so a failing hidden check raises ``AssertionError`` there.
Students never run hidden tests (the release notebooks have none), and nothing here knows
an expected value.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from . import wire

CASES_ENV = "COURSE_GRADING_CASES"


class Case(Mapping[str, Any]):
    """The inputs of one hidden case: ``case["x"]``; ``case.label`` says what it is."""

    def __init__(self, check: str, index: int, label: str, inputs: dict[str, Any]) -> None:
        self.check, self.index, self.label = check, index, label
        self._inputs = inputs

    def __getitem__(self, key: str) -> Any:
        return self._inputs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inputs)

    def __len__(self) -> int:
        return len(self._inputs)

    def __repr__(self) -> str:
        return f"<hidden case {self.index} of {self.check}: {self.label}>"


_loaded: dict[str, Any] = {}


def _grading_cases(path: str) -> dict[str, list[dict[str, Any]]]:
    if path not in _loaded:
        with open(path, encoding="utf-8") as handle:
            _loaded[path] = wire.decode(json.load(handle))
    return _loaded[path]


def _instructor_checks() -> Any:
    try:
        from attention_grader import judging
    except ImportError:
        raise RuntimeError(
            "hidden tests run only while grading (the grader provides their inputs) or in the "
            "instructor's environment (`make setup` installs the grading package)."
        ) from None
    return judging


def hidden_cases(check: str) -> list[Case]:
    """The inputs of the hidden check ``check`` (the test cell's grade_id), in order."""
    path = os.environ.get(CASES_ENV)
    raw = _grading_cases(path).get(check, []) if path else _instructor_checks().cases_of(check)
    return [
        Case(check, i, str(c.get("label", f"case {i}")), dict(c.get("inputs", {})))
        for i, c in enumerate(raw)
    ]


def report(case: Case, **observed: Any) -> None:
    """Hand what the student's code returned for ``case`` to the grader."""
    payload = {"check": case.check, "case": case.index, "values": wire.encode(observed)}
    if os.environ.get(CASES_ENV):
        from IPython.display import display

        display({wire.MIME: payload}, raw=True)
        return
    _instructor_checks().judge_now(case.check, case.index, wire.decode(payload["values"]))


def call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, or, if it raises, a record of the exception, so that one
    failing case does not stop the others and the grader can say what went wrong."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - reported to the grader, which decides
        return wire.Raised(type(error).__name__, str(error))


@contextlib.contextmanager
def standing_in(namespace: dict[str, Any], **replacements: Any) -> Iterator[None]:
    """Let ``replacements`` stand in for the notebook's functions of the same names while
    one exercise is graded, so that a mistake in another exercise does not cost it points.
    The notebook's own functions are put back afterwards."""
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value
