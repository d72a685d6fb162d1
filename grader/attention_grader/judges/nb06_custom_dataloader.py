"""Trusted checks of 06_custom_dataloader: label segments, window counts, windows inside
segments, the split by time with training statistics, padding with a mask, the PyDataset
loader and the model's shapes. References are written here, independently of the notebook's
solutions; every input is made here."""

from __future__ import annotations

from typing import Any

import numpy as np

from attention_course import wire
from attention_course.checks import check_close, check_equal, check_shape, fail

from ..judging import (
    Check,
    Observed,
    any_spelling,
    case,
    describe,
    recorded_calls,
    register,
    sealed,
)

NB = "06_custom_dataloader"


# ------------------------------------------------------------------------ references


def ref_segments(labels: Any) -> list[tuple[int, int, int]]:
    values = [int(v) for v in np.asarray(labels).ravel()]
    out, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            out.append((start, i, values[start]))
            start = i
    return out


def ref_count(length: int, window: int, stride: int) -> int:
    return 0 if length < window else (length - window) // stride + 1


def ref_starts(y: Any, window: int, stride: int) -> np.ndarray:
    return np.array(
        [s for a, b, _ in ref_segments(y) for s in range(a, b - window + 1, stride)], dtype=np.int64
    )


def ref_windows(
    x: Any, y: Any, window: int, stride: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windows as float64 values of X, labels, starts): dtypes are judged separately."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    starts = ref_starts(y, window, stride)
    windows = np.zeros((len(starts), window, x.shape[1]))
    for i, s in enumerate(starts):
        windows[i] = x[s : s + window]
    return windows, y[starts].astype(np.int64), starts


def ref_statistics(part: np.ndarray, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    mean = part.mean(axis=0)
    std = part.std(axis=0, ddof=ddof)
    return mean, np.where(std == 0, 1.0, std)


def ref_split(x: Any, y: Any, fraction: float, window: int, stride: int) -> dict[str, Any]:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y)
    cut = int(fraction * len(x))
    mean, std = ref_statistics(x[:cut])
    train = ref_windows((x[:cut] - mean) / std, y[:cut], window, stride)
    test = ref_windows((x[cut:] - mean) / std, y[cut:], window, stride)
    return {"cut": cut, "mean": mean, "std": std, "train": train, "test": test}


# ------------------------------------------------------------------------ stand-ins


# The notebook's signatures (parameter names) of the functions that stand in.
def _segments_params(labels): ...


def _count_params(length, window, stride): ...


def _windows_params(X, y, window, stride): ...


def _notebook_windows(
    X: Any, y: Any, window: int, stride: int, find_segments: Any = None, count_windows: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What make_windows returns in the notebook's types (float32 windows, int64 labels and
    starts), asking ``find_segments`` for the segments and ``count_windows`` for each one's
    count, as a correct make_windows may."""
    find_segments, count_windows = find_segments or ref_segments, count_windows or ref_count
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    starts = []
    for a, b, _ in find_segments(y):
        count_windows(b - a, window, stride)
        starts += range(a, b - window + 1, stride)
    starts = np.array(starts, dtype=np.int64)
    windows = np.zeros((len(starts), window, X.shape[1]), np.float32)
    for i, s in enumerate(starts):
        windows[i] = X[s : s + window]
    return windows, y[starts].astype(np.int64), starts


def _helper_tables(parts: list[tuple[Any, Any]], window: int, stride: int) -> dict:
    """find_segments and count_windows of a correct make_windows over each ``(X, y)``."""

    def run(find_segments, count_windows):
        for x, y in parts:
            _notebook_windows(x, y, window, stride, find_segments, count_windows)

    tables = recorded_calls(run, find_segments=ref_segments, count_windows=ref_count)
    return sealed(any_spelling(tables, find_segments=_segments_params, count_windows=_count_params))


def _make_windows_stand_ins(x: Any, y: Any, window: int, stride: int) -> dict:
    """What find_segments and count_windows answer while make_windows is graded."""
    return _helper_tables([(x, y)], window, stride)


def _split_stand_ins(x: Any, y: Any, fraction: float, window: int, stride: int) -> dict:
    """What make_windows (and the helpers, for a split that windows by itself) answer while
    split_normalize_window is graded: the windows of the normalised training and test parts,
    computed in float32 as the notebook does and in float64 (as a correct solution may)."""
    y = np.asarray(y)
    cut = int(fraction * len(y))
    parts = []
    for dtype in (np.float32, np.float64):
        data = np.asarray(x, dtype=dtype)
        mean, std = data[:cut].mean(axis=0), data[:cut].std(axis=0)
        std = np.where(std == 0, 1, std).astype(dtype)
        parts += [((data[:cut] - mean) / std, y[:cut]), ((data[cut:] - mean) / std, y[cut:])]

    def run(make_windows):
        for part_x, part_y in parts:
            make_windows(part_x, part_y, window, stride)

    tables = sealed(
        any_spelling(
            recorded_calls(run, make_windows=_notebook_windows), make_windows=_windows_params
        )
    )
    return {**tables, **_helper_tables(parts[:2], window, stride)}


# ------------------------------------------------------------------------ helpers


def _labels(rng: np.random.Generator, runs: int, low: int, high: int) -> np.ndarray:
    """Label runs 0/1 that alternate, of random lengths in [low, high)."""
    values = (np.arange(runs) + rng.integers(0, 2)) % 2
    return np.repeat(values, rng.integers(low, high, runs)).astype(np.int64)


def _result(got: Observed, name: str, n: int, what: str) -> tuple:
    value = got.raw(name)
    if not isinstance(value, (tuple, list)) or len(value) != n:
        fail(f"{got.label}: expected {n} values returned ({what}), got {describe(value)}.")
    for item in value:
        if isinstance(item, wire.Raised):
            fail(f"{got.label}: your code raised {item!r}")
    return tuple(value)


def _ndarray(value: Any, name: str, kinds: str, wanted: str) -> np.ndarray:
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        fail(
            f"{name} should be a NumPy array, got {describe(value)}.",
            "return arrays (np.asarray(...)), not lists.",
        )
    if value.dtype.kind not in kinds:
        fail(f"{name} has dtype {value.dtype}, expected {wanted}.")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _is_int(value: Any) -> bool:
    return (type(value) is int or isinstance(value, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


# ------------------------------------------------------------------------ level 1: segments


@register
class FindSegments(Check):
    notebook, cell = NB, "test_find_segments"

    def cases(self):
        yield case("find_segments([0, 0, 1, 1, 1, 0]) (a list)", labels=[0, 0, 1, 1, 1, 0])
        yield case("find_segments of an empty array", labels=np.array([], dtype=np.int64))
        yield case("find_segments(np.array([1]))", labels=np.array([1]))
        yield case("find_segments(np.array([1, 1, 0]))", labels=np.array([1, 1, 0]))
        yield case("find_segments(np.array([1, 1, 1, 1]))", labels=np.array([1, 1, 1, 1]))
        yield case(
            "find_segments(np.array([0, 1, 0, 1])) (runs of length 1)",
            labels=np.array([0, 1, 0, 1]),
        )
        rng = np.random.default_rng(61)
        yield case(
            "find_segments of random label runs (lengths 1 to 8)",
            labels=np.repeat(rng.integers(0, 2, 40), rng.integers(1, 9, 40)),
        )
        yield case(
            "find_segments of long runs (like the recording), int32 labels",
            labels=_labels(rng, 9, 30, 200).astype(np.int32),
        )
        yield case(
            "find_segments of labels 0 to 3",
            labels=np.repeat(rng.integers(0, 4, 25), rng.integers(1, 5, 25)),
        )

    def expected(self, inputs):
        return ref_segments(inputs["labels"])

    def judge(self, case, got, want):
        value = got.raw("segments")
        if not isinstance(value, list):
            fail(f"{case.label} should return a list, got {describe(value)}.")
        shaped = all(isinstance(s, (tuple, list)) and len(s) == 3 for s in value)
        if not shaped:
            fail(
                f"{case.label}: every segment should be a tuple (start, end, label); got "
                f"{value[:3]!r:.160}."
            )
        plain = [tuple(int(v) if _is_int(v) else v for v in s) for s in value]
        check_equal(
            plain,
            want,
            name=case.label,
            hint="segments are maximal runs of equal labels, (start, end exclusive, "
            "label) in time order; the last run is a segment too; [] when empty.",
        )
        for segment in value:
            if not isinstance(segment, tuple):
                fail(
                    f"{case.label}: segments should be tuples, got a {type(segment).__name__} "
                    f"{segment!r:.60}.",
                    "return (start, end, label) tuples.",
                )
            for v in segment:
                if type(v) is not int:
                    fail(
                        f"{case.label}: the segment {segment!r:.80} holds a "
                        f"{type(v).__name__}, expected Python ints.",
                        "convert with int(...): NumPy scalars are not Python ints.",
                    )


# ------------------------------------------------------------------------ level 2: windows


@register
class CountWindows(Check):
    notebook, cell = NB, "test_count_windows"
    args = [
        (10, 4, 3),
        (3, 4, 1),
        (4, 4, 1),
        (4, 4, 7),
        (100, 64, 16),
        (64, 64, 16),
        (65, 64, 1),
        (1, 1, 1),
        (17, 5, 4),
        (16, 5, 4),
        (0, 3, 1),
        (2, 6, 3),
        (5, 6, 2),
        (391, 64, 16),
        (74, 64, 16),
        (80, 64, 16),
        (1000, 1, 3),
        (12, 3, 20),
    ]

    def cases(self):
        for length, window, stride in self.args:
            yield case(
                f"count_windows({length}, {window}, {stride})",
                length=length,
                window=window,
                stride=stride,
            )

    def expected(self, inputs):
        return ref_count(inputs["length"], inputs["window"], inputs["stride"])

    def judge(self, case, got, want):
        value = got.raw("count")  # decoded: a plain int, whatever object the code returned
        if not _is_int(value):
            fail(
                f"{case.label} should return an integer, got {describe(value)}.",
                "use integer division (//), not / or np.floor (which give floats).",
            )
        check_equal(
            int(value),
            want,
            name=case.label,
            hint="(length - window) // stride + 1 when the segment holds at least one "
            "window, 0 when it is shorter than one window; the last window may end "
            "exactly at the segment's end.",
        )


def _window_hint(y: np.ndarray, starts: np.ndarray, window: int, stride: int) -> str:
    crossing = [int(s) for s in starts if 0 <= s and len(set(y[s : s + window].tolist())) > 1]
    if crossing:
        return (
            f"the windows starting at {crossing[:4]} cross a label change: cut windows "
            "inside each segment only."
        )
    if len(starts) and all(int(s) % stride == 0 for s in starts):
        return (
            "every start is a multiple of stride: start counting at each segment's start "
            "(start, start + stride, ...), not on one grid over the whole recording."
        )
    return (
        "windows start at each segment's start and move by stride inside the segment, as "
        "long as the whole window fits (also the one ending exactly at the segment's end)."
    )


@register
class MakeWindows(Check):
    notebook, cell = NB, "test_make_windows"

    def cases(self):
        for c in self._cases():
            i = c.inputs
            stand_ins = _make_windows_stand_ins(i["X"], i["y"], i["window"], i["stride"])
            yield case(c.label, stand_ins=stand_ins, **i)

    def _cases(self):
        yield case(
            "make_windows(toy X (10, 2), y 5 x 0 then 5 x 1, window=3, stride=2)",
            X=np.arange(20, dtype=np.float32).reshape(10, 2),
            y=np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]),
            window=3,
            stride=2,
        )
        yield case(
            "make_windows(the toy X as float64, window=3, stride=2)",
            X=np.arange(20, dtype=np.float64).reshape(10, 2),
            y=np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]),
            window=3,
            stride=2,
        )
        rng = np.random.default_rng(62)
        y = np.repeat(rng.integers(0, 2, 30), rng.integers(1, 40, 30))
        x = rng.normal(size=(len(y), 5)).astype(np.float32)
        for window, stride in [(16, 4), (8, 8), (1, 1), (30, 7)]:
            yield case(
                f"make_windows of random label runs (T={len(y)}, C=5), window {window}, "
                f"stride {stride}",
                X=x,
                y=y,
                window=window,
                stride=stride,
            )
        y = _labels(rng, 8, 5, 30)
        yield case(
            f"make_windows of a float64 recording (T={len(y)}, C=3), window 5, stride 3",
            X=rng.normal(size=(len(y), 3)) * 100,
            y=y,
            window=5,
            stride=3,
        )
        y = _labels(rng, 6, 3, 20)
        yield case(
            f"make_windows of an int64 recording (T={len(y)}, C=2), window 4, stride 2",
            X=rng.integers(-4000, 4000, size=(len(y), 2)),
            y=y,
            window=4,
            stride=2,
        )
        yield case(
            "make_windows of a recording that is one segment (T=23), window 6, stride 5",
            X=rng.normal(size=(23, 4)).astype(np.float32),
            y=np.ones(23, np.int64),
            window=6,
            stride=5,
        )
        yield case(
            "make_windows when no segment is long enough (y = [0, 1, 0, 1, 0], window 2)",
            X=rng.normal(size=(5, 5)).astype(np.float32),
            y=np.array([0, 1, 0, 1, 0]),
            window=2,
            stride=1,
        )

    def expected(self, inputs):
        return ref_windows(inputs["X"], inputs["y"], inputs["window"], inputs["stride"])

    def judge(self, case, got, want):
        windows, labels, starts = _result(got, "result", 3, "windows, labels, starts")
        want_windows, want_labels, want_starts = want
        x, y = case.inputs["X"], case.inputs["y"]
        window, stride = case.inputs["window"], case.inputs["stride"]
        label = case.label
        windows = _ndarray(windows, f"windows of {label}", "fiub", "numbers")
        starts = _ndarray(starts, f"starts of {label}", "iu", "integers")
        labels = _ndarray(labels, f"labels of {label}", "iu", "integers")
        hint = _window_hint(np.asarray(y), starts.ravel(), window, stride)
        check_shape(
            windows,
            want_windows.shape,
            name=f"windows of {label}",
            hint=f"N = the sum over segments of count_windows(...); with no window at "
            f"all the shape is (0, window, C). {hint}",
        )
        check_shape(starts, want_starts.shape, name=f"starts of {label}", hint=hint)
        check_equal(starts, want_starts, name=f"starts of {label}", hint=hint)
        check_shape(labels, want_labels.shape, name=f"labels of {label}")
        check_equal(
            labels,
            want_labels,
            name=f"labels of {label}",
            hint="each window has the label of its segment.",
        )
        check_close(
            windows,
            want_windows,
            name=f"window contents of {label}",
            rtol=1e-6,
            atol=1e-6,
            hint="window i is X[s : s + window] for its start s.",
        )
        if windows.dtype != np.float32:
            fail(
                f"windows of {label} have dtype {windows.dtype} (the recording is "
                f"{np.asarray(x).dtype}), expected float32.",
                "convert the recording first: np.asarray(X, dtype=np.float32), also for an "
                "empty result.",
            )


# ------------------------------------------------------------------------ no leakage


def _split_data(rng: np.random.Generator, y: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """Drifting channels (so whole-recording statistics differ from the training part's), a
    constant channel and a channel that is constant in the first half."""
    t = len(y)
    x = rng.normal(size=(t, 4)) + np.linspace(0, 20, t)[:, None] * [1, -2, 0, 0] + offset
    x = x + 3.0 * y[:, None] * [1, 0, 0, 1]
    x[:, 2] = 7.0
    x[: t // 2, 3] = -3.0
    return x


@register
class SplitNormalizeWindow(Check):
    notebook, cell = NB, "test_split_normalize_window"

    def cases(self):
        for c in self._cases():
            i = c.inputs
            stand_ins = _split_stand_ins(
                i["X"], i["y"], i["train_fraction"], i["window"], i["stride"]
            )
            yield case(c.label, stand_ins=stand_ins, **i)

    def _cases(self):
        toy_x = np.array([[0], [1], [2], [3], [4], [5], [10], [10], [10], [10]], np.float32)
        yield case(
            "split_normalize_window(toy X (10, 1), all labels 0, 0.6, window 2, stride 2)",
            X=toy_x,
            y=np.zeros(10, np.int64),
            train_fraction=0.6,
            window=2,
            stride=2,
        )
        rng = np.random.default_rng(63)
        y = np.repeat(rng.integers(0, 2, 12), 40)[:400].astype(np.int64)
        x = _split_data(rng, y).astype(np.float32)
        for fraction, window, stride in [(0.7, 16, 8), (0.5, 10, 3)]:
            yield case(
                f"split_normalize_window(T=400, train_fraction={fraction}, window "
                f"{window}, stride {stride})",
                X=x,
                y=y,
                train_fraction=fraction,
                window=window,
                stride=stride,
            )
        # 0.7 * 401 = 280.7: int() gives 280, round() 281; the segment [250, 340) spans the cut
        # and its windows (from 250 in steps of 8) straddle it.
        y = np.concatenate([np.zeros(120), np.ones(130), np.zeros(90), np.ones(61)])
        y = y.astype(np.int64)
        yield case(
            "split_normalize_window(T=401, train_fraction=0.7 (cut 280.7), window 16, "
            "stride 8), a segment spans the cut",
            X=_split_data(rng, y, 50.0).astype(np.float32),
            y=y,
            train_fraction=0.7,
            window=16,
            stride=8,
        )
        # 0.45 * 333 = 149.85: the segment [130, 190) spans the cut at 149
        y = np.concatenate([np.ones(40), np.zeros(90), np.ones(60), np.zeros(143)])
        y = y.astype(np.int64)
        yield case(
            "split_normalize_window(float64 X, T=333, train_fraction=0.45 (cut "
            "149.85), window 10, stride 4), a segment spans the cut",
            X=_split_data(rng, y),
            y=y,
            train_fraction=0.45,
            window=10,
            stride=4,
        )

    def expected(self, inputs):
        x = np.asarray(inputs["X"], dtype=np.float64)
        fraction = inputs["train_fraction"]
        want = ref_split(x, inputs["y"], fraction, inputs["window"], inputs["stride"])
        rounded = round(fraction * len(x))
        want["clues"] = {
            "the mean of the whole recording": ref_statistics(x)[0],
            f"the mean of the first round(train_fraction * T) = {rounded} steps": ref_statistics(
                x[:rounded]
            )[0],
        }
        want["std_clues"] = {
            "the std of the whole recording": ref_statistics(x)[1],
            "the std with ddof=1": ref_statistics(x[: want["cut"]], ddof=1)[1],
            "the std without replacing 0 by 1": x[: want["cut"]].std(axis=0),
        }
        return want

    def judge(self, case, got, want):
        parts = _result(
            got, "result", 6, "train_windows, train_labels, test_windows, test_labels, mean, std"
        )
        label = case.label
        names = ["train_windows", "train_labels", "test_windows", "test_labels", "mean", "std"]
        arrays = {}
        for name, value in zip(names, parts, strict=True):
            arrays[name] = _ndarray(value, f"{name} of {label}", "fiub", "numbers")
        cut = want["cut"]
        for name, clues in (("mean", want["clues"]), ("std", want["std_clues"])):
            value = arrays[name]
            check_shape(
                value,
                want[name].shape,
                name=f"{name} of {label}",
                hint="one value per channel: shape (C,).",
            )
            if np.allclose(value, want[name], rtol=1e-4, atol=1e-4):
                continue
            hint = next(
                (
                    f"it matches {what}."
                    for what, other in clues.items()
                    if other.shape == value.shape
                    and not np.allclose(other, want[name])
                    and np.allclose(value, other, rtol=1e-4, atol=1e-4)
                ),
                None,
            )
            check_close(
                value,
                want[name],
                name=f"{name} of {label}",
                rtol=1e-4,
                atol=1e-4,
                hint=(hint + " " if hint else "")
                + f"statistics of the training part only, steps [0, cut) with cut = "
                f"int(train_fraction * T) = {cut} (truncated); population std "
                "(ddof=0); a channel whose std is 0 gets std 1.",
            )
        for part in ("train", "test"):
            w, lab, _ = want[part]
            split_hint = (
                "split the recording at cut = int(train_fraction * T) first and cut "
                "windows in each part separately: no window holds steps of both "
                "parts, and the test part's windows start at the cut (not on the grid "
                "of windows of the whole recording); never split windows at random."
            )
            check_shape(
                arrays[f"{part}_windows"],
                w.shape,
                name=f"{part}_windows of {label}",
                hint=split_hint,
            )
            check_close(
                arrays[f"{part}_windows"],
                w,
                name=f"{part}_windows of {label}",
                rtol=1e-4,
                atol=1e-4,
                hint="normalise both parts as (X - mean) / std with the training "
                "statistics; " + split_hint,
            )
            check_equal(
                arrays[f"{part}_labels"].ravel(),
                lab,
                name=f"{part}_labels of {label}",
                hint="the labels make_windows returns for that part.",
            )


# ------------------------------------------------------------------------ level 3: padding


@register
class PadSequences(Check):
    notebook, cell = NB, "test_pad_sequences"

    def cases(self):
        yield case(
            "pad_sequences of float64 sequences of lengths 2, 5, 4, max_len=4, pad_value=-1.0",
            sequences=[np.ones((2, 3)), np.full((5, 3), 2.0), np.full((4, 3), 3.0)],
            max_len=4,
            options={"pad_value": -1.0},
        )
        rng = np.random.default_rng(64)
        seqs = [rng.normal(size=(n, 2)).astype(np.float32) for n in (7, 1, 12, 3)]
        seqs[0][2:4] = 0.0  # real steps equal to the padding value
        yield case(
            "pad_sequences(lengths 7, 1, 12, 3; max_len=9) with real steps equal to "
            "0.0 (the default pad_value)",
            sequences=seqs,
            max_len=9,
            options={},
        )
        yield case(
            "pad_sequences([ones (2, 1)], max_len=3, pad_value=-5.0)",
            sequences=[np.ones((2, 1))],
            max_len=3,
            options={"pad_value": -5.0},
        )
        seqs = [rng.integers(-3, 4, size=(n, 3)) for n in (4, 6, 2)]
        seqs[1][0] = 2
        yield case(
            "pad_sequences of int64 sequences (lengths 4, 6, 2), max_len=5, pad_value=2.0",
            sequences=seqs,
            max_len=5,
            options={"pad_value": 2.0},
        )
        seqs = [rng.normal(size=(n, 4)) for n in (6, 6, 8)]
        yield case(
            "pad_sequences of float64 sequences as long as max_len or longer (6, 6, 8), max_len=6",
            sequences=seqs,
            max_len=6,
            options={},
        )

    def expected(self, inputs):
        max_len, pad_value = inputs["max_len"], inputs["options"].get("pad_value", 0.0)
        seqs = [np.asarray(s, dtype=np.float64) for s in inputs["sequences"]]
        padded = np.full((len(seqs), max_len, seqs[0].shape[1]), pad_value, dtype=np.float64)
        mask = np.zeros((len(seqs), max_len), dtype=bool)
        for i, s in enumerate(seqs):
            n = min(len(s), max_len)
            padded[i, :n] = s[:n]
            mask[i, :n] = True
        return padded, mask

    def judge(self, case, got, want):
        padded, mask = _result(got, "result", 2, "padded, mask")
        want_padded, want_mask = want
        label = case.label
        padded = _ndarray(padded, f"padded of {label}", "fiub", "numbers")
        mask = _ndarray(mask, f"mask of {label}", "fiub", "booleans")
        check_shape(
            padded,
            want_padded.shape,
            name=f"padded of {label}",
            hint="(N, max_len, C): longer sequences are truncated to max_len.",
        )
        check_shape(mask, want_mask.shape, name=f"mask of {label}", hint="(N, max_len).")
        check_equal(
            mask.astype(bool) if mask.dtype.kind in "iufb" else mask,
            want_mask,
            name=f"mask of {label}",
            hint="True exactly on the first min(L_i, max_len) steps of each row: build "
            "it from the lengths, not by comparing values with pad_value (a real "
            "step can equal it).",
        )
        check_close(
            padded,
            want_padded,
            name=f"padded of {label}",
            rtol=1e-6,
            atol=1e-6,
            hint="each sequence's FIRST min(L_i, max_len) steps at the start of its row, "
            "pad_value after them (padding at the end).",
        )
        if padded.dtype != np.float32:
            fail(
                f"padded of {label} has dtype {padded.dtype}, expected float32 (whatever the "
                "dtype of the sequences).",
                "allocate it with np.full(..., pad_value, dtype=np.float32).",
            )
        if mask.dtype != np.bool_:
            fail(
                f"mask of {label} has dtype {mask.dtype}, expected bool.",
                "a mask of True/False: np.zeros(..., dtype=bool), not 0/1 numbers.",
            )


# ------------------------------------------------------------------------ level 4: batches


def _loader_data(n: int, window: int = 4, channels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Sample i holds i + 0.01 * step + 0.001 * channel; its label is 3 i + 1."""
    steps = 0.01 * np.arange(window)[:, None] + 0.001 * np.arange(channels)[None, :]
    x = (np.arange(n)[:, None, None] + steps[None]).astype(np.float32)
    return x, 3 * np.arange(n, dtype=np.int64) + 1


@register
class WindowLoader(Check):
    notebook, cell = NB, "test_window_loader"

    def cases(self):
        def loader_case(label, n, loaders, epochs=2, same=(), different=()):
            x, y = _loader_data(n)
            return case(
                label,
                x=x,
                y=y,
                loaders=loaders,
                epochs=epochs,
                same=list(same),
                different=list(different),
            )

        yield loader_case("WindowLoader(50 samples, batch_size=8)", 50, [{"batch_size": 8}])
        for n, batch_size in [(48, 16), (7, 7), (9, 4)]:
            yield loader_case(
                f"WindowLoader({n} samples, batch_size={batch_size})",
                n,
                [{"batch_size": batch_size, "shuffle": False}],
            )
        yield loader_case(
            "WindowLoader(50 samples, batch_size=8, shuffle=True, seed=3), three epochs",
            50,
            [{"batch_size": 8, "shuffle": True, "seed": 3}],
            epochs=3,
        )
        yield loader_case(
            "three shuffled loaders of 50 samples, batch_size=8, seeds 1, 1 and 2, read in turn",
            50,
            [{"batch_size": 8, "shuffle": True, "seed": s} for s in (1, 1, 2)],
            same=[(0, 1)],
            different=[(0, 2)],
        )
        yield loader_case(
            "two shuffled loaders of 20 samples, batch_size=5, default seed",
            20,
            [{"batch_size": 5, "shuffle": True}] * 2,
            same=[(0, 1)],
        )

    def error_hint(self, error):
        if error.type_name == "IndexError":
            return "batch k holds rows order[k * batch_size : (k + 1) * batch_size]."
        return None

    def judge(self, case, got, want):
        seen = got.raw("seen")
        specs = case.inputs["loaders"]
        if (
            not isinstance(seen, dict)
            or not isinstance(seen.get("sizes"), list)
            or not isinstance(seen.get("epochs"), list)
        ):
            fail(f"{case.label}: the hidden check reported a malformed result.")
        orders = [self._orders(case, i, spec, seen) for i, spec in enumerate(specs)]
        for i, j in case.inputs["same"]:
            if any(not np.array_equal(a, b) for a, b in zip(orders[i], orders[j], strict=True)):
                fail(
                    f"{case.label}: loaders {i} and {j} have the same seed "
                    f"({specs[i].get('seed', 0)}) but their orders differ.",
                    "make one generator per loader, np.random.default_rng(seed), and shuffle "
                    "only with it (not with np.random.shuffle or an unseeded generator).",
                )
        for i, j in case.inputs["different"]:
            if np.array_equal(orders[i][0], orders[j][0]):
                fail(
                    f"{case.label}: loaders with seeds {specs[i].get('seed', 0)} and "
                    f"{specs[j].get('seed', 0)} give the same order.",
                    "the seed argument must choose the shuffle: np.random.default_rng(seed).",
                )

    def _orders(self, case, index, spec, seen) -> list[np.ndarray]:
        x_all, y_all = case.inputs["x"], case.inputs["y"]
        n, batch_size = len(x_all), spec["batch_size"]
        shuffle = spec.get("shuffle", False)
        what = f"{case.label}, loader {index}" if len(case.inputs["loaders"]) > 1 else case.label
        size = seen["sizes"][index]
        check_equal(
            size,
            n // batch_size,
            name=f"len(loader) of {what}",
            hint="N // batch_size: the last incomplete batch is dropped.",
        )
        orders = []
        for epoch, per_loader in enumerate(seen["epochs"]):
            reads = per_loader[index]
            ids_of_reads = []
            for read in reads:
                ids = []
                for k, batch in enumerate(read):
                    where = f"batch {k} of epoch {epoch + 1} of {what}"
                    if isinstance(batch, wire.Raised):
                        fail(f"{where}: your code raised {batch!r}", self.error_hint(batch))
                    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                        fail(f"{where}: expected a pair (x_batch, y_batch), got {describe(batch)}.")
                    xb = _ndarray(batch[0], f"x of {where}", "fiu", "numbers")
                    yb = _ndarray(batch[1], f"y of {where}", "fiub", "numbers")
                    check_shape(
                        xb,
                        (batch_size, *x_all.shape[1:]),
                        name=f"x of {where}",
                        hint="every batch has exactly batch_size samples.",
                    )
                    check_shape(
                        yb,
                        (batch_size,),
                        name=f"y of {where}",
                        hint="every batch has exactly batch_size labels.",
                    )
                    rows = np.rint(xb[:, 0, 0]).astype(np.int64)
                    if (
                        rows.min() < 0
                        or rows.max() >= n
                        or not np.allclose(xb, x_all[rows], atol=1e-6)
                    ):
                        fail(
                            f"x of {where} holds rows that are not samples of x.",
                            "x_batch = x[rows] for a set of row indices.",
                        )
                    if not np.array_equal(yb, y_all[rows]):
                        fail(
                            f"{where}: y does not belong to x (y_batch should be y[rows] "
                            "for the same rows as x_batch).",
                            "index x and y with the same rows.",
                        )
                    ids.extend(rows.tolist())
                ids_of_reads.append(np.array(ids, dtype=np.int64))
            order = ids_of_reads[0]
            if len(set(order.tolist())) != len(order):
                fail(
                    f"epoch {epoch + 1} of {what}: some samples come twice in one epoch.",
                    "shuffle a permutation of the indices once per epoch; do not draw random "
                    "indices for every batch.",
                )
            if not np.array_equal(ids_of_reads[1], order):
                fail(
                    f"epoch {epoch + 1} of {what}: reading the epoch's batches a second time "
                    "gave other samples.",
                    "within an epoch loader[i] must return the same batch every time: "
                    "reshuffle only in on_epoch_end.",
                )
            if not shuffle:
                check_equal(
                    order,
                    np.arange(len(order)),
                    name=f"samples of epoch {epoch + 1} of {what} (shuffle=False)",
                    hint="without shuffling batch k holds samples k * batch_size ... "
                    "(k + 1) * batch_size - 1, in every epoch.",
                )
            elif epoch == 0 and np.array_equal(order, np.arange(len(order))):
                fail(
                    f"the first epoch of {what} is not shuffled.",
                    "with shuffle=True shuffle the order already in __init__.",
                )
            elif epoch > 0 and np.array_equal(order, orders[-1]):
                fail(
                    f"epoch {epoch + 1} of {what} repeats the order of epoch {epoch}.",
                    "reshuffle in on_epoch_end when shuffle=True.",
                )
            orders.append(order)
        return orders


# ------------------------------------------------------------------------ shapes


@register
class ModelShapes(Check):
    notebook, cell = NB, "test_model_shapes"
    shapes = {
        "inputs": (None, 64, 14),
        "gru": (None, 64, 32),
        "scores": (None, 64, 1),
        "weights": (None, 64, 1),
        "pooled": (None, 32),
        "outputs": (None, 1),
    }

    def cases(self):
        yield case("MODEL_SHAPES")

    def judge(self, case, got, want):
        value = got.raw("shapes")
        if not isinstance(value, dict):
            fail(f"MODEL_SHAPES should be a dict, got {describe(value)}.")
        for key, shape in self.shapes.items():
            predicted = value.get(key)
            if not isinstance(predicted, (tuple, list)) or not all(
                d is None or _is_number(d) for d in predicted
            ):
                fail(
                    f"MODEL_SHAPES[{key!r}] should be a shape (a tuple of ints, None for the "
                    f"batch), got {describe(predicted)}."
                )
            check_equal(
                tuple(predicted),
                shape,
                name=f"MODEL_SHAPES[{key!r}]",
                hint="(batch, time, features) with None for the batch: "
                "return_sequences=True keeps the time axis; Dense acts on the last "
                "axis; pooling sums over time.",
            )


# ------------------------------------------------------------------------ convolutions


def _conv_lengths(window: int, kernel_size: int, pool_size: int) -> tuple[int, int]:
    """Steps after Conv1D (no padding) and after MaxPooling1D (stride = pool size)."""
    conv = window - kernel_size + 1
    return conv, conv // pool_size


@register
class ConvShapes(Check):
    """CONV_SHAPES and CONV_PARAMS for window 64, 14 channels, Conv1D(16, 7), pool 4."""

    notebook, cell = NB, "test_conv_shapes"
    sizes = {"window": 64, "n_channels": 14, "filters": 16, "kernel_size": 7, "pool_size": 4}

    def cases(self):
        yield case("CONV_SHAPES and CONV_PARAMS", **self.sizes)

    def expected(self, inputs):
        f, k, c = inputs["filters"], inputs["kernel_size"], inputs["n_channels"]
        conv, pooled = _conv_lengths(inputs["window"], k, inputs["pool_size"])
        shapes = {
            "conv": (None, conv, f),
            "pool": (None, pooled, f),
            "flatten": (None, pooled * f),
            "global_pool": (None, f),
            "output": (None, 1),
        }
        params = {
            "conv": k * c * f + f,
            "flatten_dense": pooled * f + 1,
            "global_pool_dense": f + 1,
        }
        return {"shapes": shapes, "params": params}

    def _clues(self, inputs) -> dict[tuple[str, Any], str]:
        """Wrong values a typical mistake gives, and what they mean."""
        f, k, c, w, p = (
            inputs[n] for n in ("filters", "kernel_size", "n_channels", "window", "pool_size")
        )
        conv = w - k + 1
        up = -(-conv // p)
        return {
            ("conv", (None, w, f)): "that is the length with padding='same'; without padding "
            "the kernel fits window - kernel_size + 1 times.",
            ("conv", (None, w - k, f)): "the kernel fits window - kernel_size + 1 times (the "
            "last position ends exactly at the last step).",
            ("conv", (None, conv, c)): "Conv1D outputs one value per filter: the last axis is "
            "filters, not the input channels.",
            ("pool", (None, up, f)): "MaxPooling1D drops the leftover steps: floor((window - "
            "kernel_size + 1) / pool_size), not rounded up.",
            ("pool", (None, conv - p + 1, f)): "MaxPooling1D(pool_size) moves by pool_size "
            "steps (strides defaults to pool_size), not by 1.",
            ("global_pool", (None, conv // p)): "pooling over time averages each filter over "
            "the steps: the time axis goes, the filters stay.",
            ("params", ("conv", k * c * f)): "every filter has a bias too: + filters.",
            ("params", ("conv", k * f + f)): "each filter's kernel spans all input channels: "
            "kernel_size x n_channels weights per filter.",
        }

    def judge(self, case, got, want):
        shapes, params = got.raw("shapes"), got.raw("params")
        clues = self._clues(case.inputs)
        for name, value, expected in (
            ("CONV_SHAPES", shapes, want["shapes"]),
            ("CONV_PARAMS", params, want["params"]),
        ):
            if not isinstance(value, dict):
                fail(f"{name} should be a dict, got {describe(value)}.")
            missing = [key for key in expected if key not in value]
            if missing:
                fail(
                    f"{name} has no key {missing[0]!r}.", f"keep exactly the keys {list(expected)}."
                )
        for key, shape in want["shapes"].items():
            predicted = shapes[key]
            name = f"CONV_SHAPES[{key!r}]"
            if not isinstance(predicted, (tuple, list)) or not all(
                d is None or _is_int(d) for d in predicted
            ):
                fail(
                    f"{name} should be a shape (a tuple of ints, None for the batch), got "
                    f"{describe(predicted)}."
                )
            predicted = tuple(None if d is None else int(d) for d in predicted)
            check_equal(
                predicted,
                shape,
                name=name,
                hint=clues.get((key, predicted))
                or "use the table above the exercise: (batch, steps, filters) after Conv1D and "
                "MaxPooling1D, (batch, features) after Flatten and the pooling over time.",
            )
        for key, count in want["params"].items():
            value = params[key]
            name = f"CONV_PARAMS[{key!r}]"
            if not _is_int(value):
                fail(f"{name} should be an int, got {describe(value)}.")
            check_equal(
                int(value),
                count,
                name=name,
                hint=clues.get(("params", (key, int(value))))
                or "Conv1D: kernel_size x n_channels x filters weights + filters biases; Dense(1): "
                "one weight per input feature + 1 bias.",
            )


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def ref_conv_features(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, pool: int) -> np.ndarray:
    """relu(Conv1D without padding), then MaxPooling1D(pool): (B, T, C) -> (B, T', filters)."""
    x = np.asarray(x, dtype=np.float64)
    k = kernel.shape[0]
    steps = x.shape[1] - k + 1
    conv = np.stack(
        [np.einsum("bkc,kcf->bf", x[:, t : t + k], kernel) for t in range(steps)], axis=1
    )
    conv = _relu(conv + bias)
    pooled = steps // pool
    return conv[:, : pooled * pool].reshape(len(x), pooled, pool, -1).max(axis=2)


def ref_conv_models(inputs: dict) -> dict[str, list[np.ndarray]]:
    pool = inputs["pool_size"]
    kernel, bias, dense, dense_bias = (np.asarray(w, np.float64) for w in inputs["flat_weights"])
    flat = [
        _sigmoid(ref_conv_features(x, kernel, bias, pool).reshape(len(x), -1) @ dense + dense_bias)
        for x in inputs["flat_inputs"]
    ]
    kernel, bias, dense, dense_bias = (np.asarray(w, np.float64) for w in inputs["pooled_weights"])
    pooled = [
        _sigmoid(ref_conv_features(x, kernel, bias, pool).mean(axis=1) @ dense + dense_bias)
        for x in inputs["pooled_inputs"]
    ]
    return {"flat": flat, "pooled": pooled}


def _collapse(shapes: list) -> list:
    """Consecutive equal shapes once (an Activation or Dropout layer keeps its input's shape)."""
    out: list = []
    for shape in shapes:
        if not out or out[-1] != shape:
            out.append(shape)
    return out


def _conv_weights(rng, kernel_size: int, channels: int, filters: int, features: int) -> list:
    """Conv1D kernel and bias, Dense kernel and bias (the order of model.set_weights)."""
    return [
        rng.normal(scale=0.5, size=(kernel_size, channels, filters)).astype("float32"),
        rng.normal(scale=0.3, size=(filters,)).astype("float32"),
        rng.normal(scale=0.5, size=(features, 1)).astype("float32"),
        rng.normal(scale=0.3, size=(1,)).astype("float32"),
    ]


@register
class ConvModels(Check):
    notebook, cell = NB, "test_conv_models"
    sizes = [  # window, n_channels, filters, kernel_size, pool_size
        (64, 14, 16, 7, 4),
        (30, 3, 5, 4, 3),
        (50, 2, 4, 5, 4),
        (20, 6, 3, 3, 5),
    ]

    def cases(self):
        rng = np.random.default_rng(66)
        for window, channels, filters, kernel_size, pool_size in self.sizes:
            _, pooled = _conv_lengths(window, kernel_size, pool_size)

            shortest = kernel_size + pool_size - 1  # one pooled step
            lengths = [window, window + 2 * pool_size + 1, shortest, 3 * window + 1]
            yield case(
                f"build_conv_models(window={window}, n_channels={channels}, filters={filters}, "
                f"kernel_size={kernel_size}, pool_size={pool_size})",
                window=window,
                n_channels=channels,
                filters=filters,
                kernel_size=kernel_size,
                pool_size=pool_size,
                flat_weights=_conv_weights(rng, kernel_size, channels, filters, pooled * filters),
                pooled_weights=_conv_weights(rng, kernel_size, channels, filters, filters),
                flat_inputs=[rng.normal(size=(3, window, channels)).astype("float32")],
                pooled_inputs=[
                    rng.normal(size=(2, n, channels)).astype("float32") for n in lengths
                ],
            )

    def expected(self, inputs):
        return ref_conv_models(inputs)

    def error_hint(self, error):
        if "NotImplementedError" in error.type_name:
            return "replace `raise NotImplementedError()` in build_conv_models."
        if "incompatible with the layer" in error.message:
            return (
                "pooled_model must read windows of any length: keras.Input(shape=(None, "
                "n_channels)), and pooling over time (not Flatten) before the Dense layer."
            )
        if "multiple inbound nodes" in error.message or "inbound" in error.message:
            return "build each model from its own new layers."
        return None

    def judge(self, case, got, want):
        out = got.raw("out")
        if not isinstance(out, dict) or set(out) != {"flat", "pooled"}:
            fail(
                f"{case.label}: expected two models (flat_model, pooled_model), got "
                f"{describe(out)}."
            )
        i = case.inputs
        f, c = i["filters"], i["n_channels"]
        conv, pooled = _conv_lengths(i["window"], i["kernel_size"], i["pool_size"])
        conv_params = i["kernel_size"] * c * f + f
        specs = {
            "flat": (
                (None, i["window"], c),
                [(None, conv, f), (None, pooled, f), (None, pooled * f), (None, 1)],
                [conv_params, pooled * f + 1],
                "keras.Input(shape=(window, n_channels)), Conv1D(filters, kernel_size, "
                "activation='relu') without padding, MaxPooling1D(pool_size), Flatten(), "
                "Dense(1, activation='sigmoid')",
            ),
            "pooled": (
                (None, None, c),
                [(None, None, f), (None, f), (None, 1)],
                [conv_params, f + 1],
                "keras.Input(shape=(None, n_channels)), Conv1D(filters, kernel_size, "
                "activation='relu') without padding, MaxPooling1D(pool_size), "
                "GlobalAveragePooling1D(), Dense(1, activation='sigmoid')",
            ),
        }
        for name, (input_shape, shapes, params, layers) in specs.items():
            self._judge_model(
                case,
                got,
                f"{name}_model",
                out[name],
                want[name],
                input_shape,
                shapes,
                params,
                layers,
            )

    def _judge_model(self, case, got, name, seen, want, input_shape, shapes, params, layers):
        where = f"{name} of {case.label}"
        if isinstance(seen, wire.Raised):
            fail(f"{where}: your code raised {seen!r}", self.error_hint(seen))
        if not isinstance(seen, dict):
            fail(f"{where}: the hidden check reported a malformed result.")
        hint = f"{name}: {layers}."
        reported = Observed(seen, where, self)
        got_input = reported.raw("input")
        if not isinstance(got_input, (tuple, list)):
            fail(f"{where}: its input shape is {describe(got_input)}, not a shape.", hint)
        got_input = tuple(None if d is None else int(d) for d in got_input)
        if name == "pooled_model" and len(got_input) == 3 and got_input[1] is not None:
            fail(
                f"{where}: its input has shape {got_input}: it reads windows of "
                f"{got_input[1]} steps only, not windows of any length.",
                "keras.Input(shape=(None, n_channels)) leaves the length open; pooling over "
                "time (GlobalAveragePooling1D) gives filters values whatever the length.",
            )
        check_equal(got_input, input_shape, name=f"input shape of {where}", hint=hint)
        got_shapes = []
        for k, shape in enumerate(reported.raw("shapes")):
            if isinstance(shape, wire.Raised):
                fail(
                    f"{where}: the output shape of its layer {k} cannot be read ({shape!r}).",
                    "build each model from its own new layers (a layer used in two models "
                    "has two outputs).",
                )
            got_shapes.append(tuple(None if d is None else int(d) for d in shape))
        check_equal(
            _collapse(got_shapes),
            _collapse(shapes),
            name=f"output shapes of the layers of {where}",
            hint=f"{hint} Without padding Conv1D keeps window - kernel_size + 1 steps; "
            "MaxPooling1D(pool_size) moves by pool_size and drops the leftover steps. A layer "
            "used by both models reports the shapes of its first model: build each model from "
            "its own new layers.",
        )
        counts = [int(n) for n in reported.raw("params") if _is_int(n) and int(n) > 0]
        check_equal(counts, params, name=f"parameters per layer of {where}", hint=hint)
        reported.raw("set_weights")  # fails with the error if the weights do not fit
        outputs = reported.raw("outputs")
        inputs = case.inputs[name.replace("_model", "_inputs")]
        for x, value, expected in zip(inputs, outputs, want, strict=True):
            what = f"{where} on windows of shape {x.shape}"
            if isinstance(value, wire.Raised):
                fail(f"{what}: your code raised {value!r}", self.error_hint(value) or hint)
            check_close(
                _ndarray(value, what, "f", "floats"),
                expected,
                name=what,
                rtol=1e-4,
                atol=1e-5,
                hint=f"{hint} With the test's weights (loaded in the order Conv1D kernel, "
                "Conv1D bias, Dense kernel, Dense bias) the outputs differ: check the relu, "
                "the pooling and the sigmoid.",
            )
