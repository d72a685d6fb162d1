"""Trusted checks: the inputs of every hidden test and the verdict on what came back.

Each graded test cell of a notebook has one :class:`Check` in
``attention_grader.judges.nb<notebook>``. The check makes the inputs of its hidden cases
(``cases``), computes what a correct solution returns from them with its own references
(``expected``), and compares what the student's code returned with it (``judge``).

The student's kernel only sees the inputs (``attention_course.probe``); expected values never
leave this process. What comes back is decoded plain data (:mod:`attention_course.wire`):
no method of a student's object is ever called here.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from attention_course import wire
from attention_course.checks import fail

# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, dict[str, Check]] = {}


def judges_module(notebook: str) -> str:
    """``03_reweighing`` -> ``attention_grader.judges.nb03_reweighing``."""
    return f"attention_grader.judges.nb{notebook}"


@functools.cache
def checks_of(notebook: str) -> dict[str, Check]:
    """``{grade_id: Check}`` of a notebook (empty when it has no judges module)."""
    try:
        importlib.import_module(judges_module(notebook))
    except ModuleNotFoundError as error:
        if error.name != judges_module(notebook):
            raise
    return _REGISTRY.get(notebook, {})


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: make ``cls`` the check of ``cls.notebook`` / ``cls.cell``.

    A check is named after its test cell (:func:`check_class_name`), so that the check of a
    cell is found by its name; a wrongly named check is refused when its module is imported.
    (Base classes, which are not registered, start with ``_``.)"""
    expected = check_class_name(cls.cell)
    if cls.__name__ != expected:
        raise TypeError(
            f"the check of {cls.notebook}/{cls.cell} must be named {expected}, "
            f"not {cls.__name__} (a check is named after its test cell)"
        )
    _REGISTRY.setdefault(cls.notebook, {})[cls.cell] = cls()
    return cls


def check_class_name(cell: str) -> str:
    """The class name of the check of test cell ``cell``: the grade id without ``test_``, in
    CamelCase (``test_attention_pooling`` -> ``AttentionPooling``)."""
    if not cell.startswith("test_") or not cell[len("test_") :]:
        raise TypeError(f"{cell!r} is not the grade id of a test cell (test_<name>)")
    return "".join(part.capitalize() for part in cell[len("test_") :].split("_"))


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Case:
    """One hidden case: what it is (shown in feedback) and its inputs. ``stand_ins``:
    ``{function name: prepared calls}`` for the notebook functions that stand in while this
    case runs (see :func:`recorded_calls` and ``attention_course.probe.StandIn``)."""

    label: str
    inputs: dict[str, Any]
    stand_ins: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def case(
    label: str, stand_ins: dict[str, list[dict[str, Any]]] | None = None, **inputs: Any
) -> Case:
    return Case(label, inputs, dict(stand_ins or {}))


def recorded_calls(
    run: Callable[..., Any], **references: Callable[..., Any]
) -> dict[str, list[dict[str, Any]]]:
    """The stand-in tables of one case: ``run(**wrapped)`` is called with each reference
    wrapped so that every call it makes is kept as ``{"args", "kwargs", "result"}``; the
    tables hold values only (what the references returned), never code. Duplicate calls are
    kept once."""
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in references}

    def wrap(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def recording(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            entry = {"args": list(args), "kwargs": dict(kwargs), "result": result}
            if not any(_same_entry(entry, e) for e in tables[name]):
                tables[name].append(copy.deepcopy(entry))
            return result

        return recording

    run(**{name: wrap(name, f) for name, f in references.items()})
    return tables


def any_spelling(
    tables: dict[str, list[dict[str, Any]]], **signatures: Callable[..., Any]
) -> dict[str, list[dict[str, Any]]]:
    """``tables`` with the parameters of each named function added to its entries (``"params"``
    and ``"defaults"``, data only), taken from ``signatures[name]``: a function whose parameters
    are named as in the notebook (plain positional-or-keyword parameters). The stand-in then
    answers a prepared call however the student's code spells its arguments (positionally, by
    keyword, or a default left out)."""
    out = {name: list(entries) for name, entries in tables.items()}
    for name, function in signatures.items():
        parameters = list(inspect.signature(function).parameters.values())
        if any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in parameters):
            raise ValueError(f"{name}: only plain parameters can be matched by name")
        params = [p.name for p in parameters]
        defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
        spelled = []
        for entry in out.get(name, []):
            try:
                inspect.signature(function).bind(*entry["args"], **entry["kwargs"])
            except TypeError as error:
                raise ValueError(
                    f"{name}: a recorded call does not fit {params}: {error}"
                ) from None
            spelled.append({**entry, "params": params, "defaults": dict(defaults)})
        out[name] = spelled
    return out


def sealed(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """``tables`` with every entry that names its parameters (:func:`any_spelling`) sealed
    (``attention_course.probe.seal_entry``): the kernel sees a digest of the arguments (float
    arrays by quantized projections) and an encrypted result, never the arguments or the
    result, so a table cannot be read for answers (learn_bpe's merges are the pairs passed to
    merge_pair, split_normalize_window's statistics show in the parts given to make_windows).
    An entry whose arguments cannot be sealed (an object, NaN) stays as it is."""
    from attention_course.probe import Unsealable, seal_entry

    out: dict[str, list[dict[str, Any]]] = {}
    for name, entries in tables.items():
        out[name] = []
        for entry in entries:
            try:
                out[name].append(seal_entry(entry) if "params" in entry else entry)
            except Unsealable:
                out[name].append(entry)
    return out


def _same_entry(a: dict[str, Any], b: dict[str, Any]) -> bool:
    try:
        return wire.encode([a["args"], a["kwargs"]]) == wire.encode([b["args"], b["kwargs"]])
    except wire.WireError:
        return False


class Check:
    """The trusted half of one graded test cell. Subclasses set ``notebook`` and ``cell``."""

    notebook: ClassVar[str]
    cell: ClassVar[str]

    def cases(self) -> Iterable[Case]:  # pragma: no cover - every check overrides it
        raise NotImplementedError

    def expected(self, inputs: dict[str, Any]) -> Any:
        """What a correct solution returns for ``inputs`` (computed here, never sent)."""
        return None

    def judge(self, case: Case, got: Observed, want: Any) -> None:  # pragma: no cover
        """Raise ``AssertionError`` (a message for the student) unless ``got`` is right."""
        raise NotImplementedError

    def error_hint(self, error: wire.Raised) -> str | None:
        """The likely mistake behind an exception the student's code raised (or None)."""
        return None

    @functools.cached_property
    def all_cases(self) -> list[Case]:
        return list(self.cases())

    @functools.cache  # noqa: B019 - one instance per check for the process' lifetime
    def want(self, index: int) -> Any:
        return self.expected(self.all_cases[index].inputs)


# --------------------------------------------------------------------------- observations

_KINDS = {
    "f": ("fiub", "numbers"),
    "b": ("b", "booleans"),
    "i": ("iub", "integers"),
    None: ("fiubc", "numbers"),
}


class Observed:
    """What the student's code returned for one case (decoded plain data), with accessors
    that fail with a clear message when a value is missing or of the wrong kind."""

    def __init__(self, values: dict[str, Any], label: str, check: Check | None = None) -> None:
        self.values, self.label, self.check = values, label, check

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def raw(self, name: str) -> Any:
        if name not in self.values:
            fail(
                f"{self.label}: the hidden check reported no {name!r} (was the test cell changed?)."
            )
        value = self.values[name]
        if isinstance(value, wire.Raised):
            hint = self.check.error_hint(value) if self.check is not None else None
            fail(f"{self.label}: your code raised {value!r}", hint)
        if isinstance(value, wire.Opaque):
            extra = f" ({value.error})" if value.error else ""
            fail(
                f"{self.label}: {name} is a {value.type_name} object that is not an array or a "
                f"plain value{extra}."
            )
        return value

    def array(self, name: str, kind: str | None = None) -> np.ndarray:
        """A numeric array (NumPy, tensor, nested lists or a scalar); ``kind`` restricts the
        dtype kinds accepted: ``"f"`` floats (ints accepted), ``"b"`` booleans, ``"i"`` ints."""
        value = self.raw(name)
        if isinstance(value, (list, tuple)) or type(value) in (int, float, bool):
            try:
                value = np.asarray(value)
            except ValueError:
                fail(f"{self.label}: {name} is a ragged list, not an array.")
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray) or value.dtype == object or value.dtype.kind in "US":
            fail(
                f"{self.label}: {name} should be a numeric array (NumPy array or tensor), got "
                f"{describe(value)}."
            )
        allowed, wanted = _KINDS[kind]
        if value.dtype.kind not in allowed:
            fail(f"{self.label}: {name} has dtype {value.dtype}, expected {wanted}.")
        return value

    def pair(self, name: str) -> tuple[Any, Any]:
        """A value that must be a tuple/list of two items (``return output, weights``)."""
        value = self.raw(name)
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            fail(f"{self.label}: expected a pair (two values returned), got {describe(value)}.")
        return value[0], value[1]


def describe(value: Any) -> str:
    """A short, safe description of a decoded value for a message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, wire.Opaque):
        return f"a {value.type_name} object"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str = ""


def cases_for(notebook: str) -> dict[str, list[dict[str, Any]]]:
    """The inputs of every hidden check of ``notebook``, for the grading kernel."""
    return {
        cell: [
            {"label": c.label, "inputs": c.inputs, "stand_ins": c.stand_ins}
            for c in check.all_cases
        ]
        for cell, check in checks_of(notebook).items()
    }


def verdict(notebook: str, cell: str, reports: list[dict[str, Any]]) -> Verdict:
    """Judge the decoded reports of one test cell. Every case must be reported exactly
    once and pass; a cell that reported nothing scores 0."""
    check = checks_of(notebook).get(cell)
    if check is None:
        return Verdict(False, f"no trusted check is defined for {cell}: it cannot be graded.")
    by_case: dict[int, Any] = {}
    for item in reports:
        index = item.get("case") if isinstance(item, dict) else None
        if (
            type(index) is not int
            or not 0 <= index < len(check.all_cases)
            or not isinstance(item.get("values"), dict)
        ):
            return Verdict(False, "the test cell reported a malformed result.")
        if index in by_case:
            return Verdict(False, f"hidden case {index} was reported twice.")
        by_case[index] = item["values"]
    for index, case in enumerate(check.all_cases):
        if index not in by_case:
            return Verdict(
                False,
                f"hidden check ({case.label}): no result came back; the test "
                "cell stopped before it (see the error above).",
            )
        try:
            check.judge(case, Observed(by_case[index], case.label, check), check.want(index))
        except AssertionError as error:
            return Verdict(False, f"hidden check failed: {error}")
        except Exception as error:  # noqa: BLE001 - a malformed value must not crash grading
            return Verdict(
                False,
                f"hidden check ({case.label}): the result could not be read "
                f"({type(error).__name__}: {error}).",
            )
    return Verdict(True)


# --------------------------------------------------------------------------- instructor mode


def _active_notebook() -> str:
    from attention_course.notebook import active_notebook

    name = active_notebook()
    if name is None:
        raise RuntimeError("run the notebook's setup cell first (it names the notebook).")
    return name


def cases_of(cell: str) -> list[dict[str, Any]]:
    """Inputs for a hidden check run in the instructor's own kernel."""
    notebook = _active_notebook()
    if cell not in checks_of(notebook):
        raise KeyError(f"{notebook} has no trusted check {cell!r}")
    return cases_for(notebook)[cell]


def judge_now(cell: str, index: int, values: dict[str, Any]) -> None:
    """Judge one report at once (instructor's kernel): raise ``AssertionError`` if wrong."""
    check = checks_of(_active_notebook())[cell]
    case_ = check.all_cases[index]
    check.judge(case_, Observed(values, case_.label, check), check.want(index))


def iter_checks() -> Iterator[tuple[str, str, Check]]:
    """Every registered check (after its notebook's module was imported)."""
    for notebook, checks in _REGISTRY.items():
        for cell, check in checks.items():
            yield notebook, cell, check
