"""Trusted checks of 02_metrics: confusion matrix, precision/recall/F1, threshold sweep and
choice, ROC curve, AUC, row-normalised confusion matrix. References are written here in NumPy,
independently of the notebook's solutions, and follow scikit-learn's conventions
(``confusion_matrix``, ``precision_score(..., zero_division=z)``, ``precision_recall_curve``,
``roc_curve(..., drop_intermediate=False)``, ``auc``, ``confusion_matrix(normalize="true")``)."""

from __future__ import annotations

from typing import Any

import numpy as np

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

NB = "02_metrics"


# ------------------------------------------------------------------------ references


def ref_confusion(y_true: Any, y_pred: Any, labels: Any = None) -> np.ndarray:
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    classes = np.union1d(t, p) if labels is None else np.asarray(labels)
    true_onehot = (t[:, None] == classes[None, :]).astype(np.int64)  # (n, K)
    pred_onehot = (p[:, None] == classes[None, :]).astype(np.int64)
    return true_onehot.T @ pred_onehot  # [i, j]: true classes[i], predicted classes[j]


def _counts(y_true: Any, y_pred: Any) -> tuple[int, int, int]:
    t = np.asarray(y_true).ravel() != 0
    p = np.asarray(y_pred).ravel() != 0
    return (
        int(np.count_nonzero(t & p)),
        int(np.count_nonzero(p & ~t)),
        int(np.count_nonzero(t & ~p)),
    )


def ref_prf(y_true: Any, y_pred: Any, zero_division: float = 0.0) -> tuple[float, float, float]:
    tp, fp, fn = _counts(y_true, y_pred)

    def safe(num: int, den: int) -> float:
        return num / den if den else float(zero_division)

    return safe(tp, tp + fp), safe(tp, tp + fn), safe(2 * tp, 2 * tp + fp + fn)


def ref_sweep(
    y_true: Any, scores: Any, thresholds: Any, op: Any = np.greater_equal, empty: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).ravel() != 0
    s = np.asarray(scores, dtype=np.float64).ravel()
    th = np.asarray(thresholds, dtype=np.float64).ravel()
    positive = op(s[None, :], th[:, None])  # (n_thresholds, n)
    tp = np.count_nonzero(positive & t[None, :], axis=1)
    n_positive = np.count_nonzero(positive, axis=1)
    precision = np.full(len(th), float(empty))
    has = n_positive > 0
    precision[has] = tp[has] / n_positive[has]
    return precision, tp / np.count_nonzero(t)


def ref_choose(y_true: Any, scores: Any, min_recall: float) -> tuple[float, float, float]:
    candidates = np.unique(np.asarray(scores, dtype=np.float64))
    precision, recall = ref_sweep(y_true, scores, candidates)
    for i in range(len(candidates) - 1, -1, -1):  # largest first
        if recall[i] >= min_recall:
            return float(candidates[i]), float(precision[i]), float(recall[i])
    raise ValueError("no candidate threshold reaches min_recall")  # pragma: no cover


def ref_roc(
    y_true: Any, scores: Any, op: Any = np.greater_equal
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(y_true).ravel() != 0
    s = np.asarray(scores, dtype=np.float64).ravel()
    thresholds = np.concatenate([[np.inf], np.sort(np.unique(s))[::-1]])
    positive = op(s[None, :], thresholds[:, None])
    tpr = np.count_nonzero(positive & t, axis=1) / np.count_nonzero(t)
    fpr = np.count_nonzero(positive & ~t, axis=1) / np.count_nonzero(~t)
    return fpr, tpr, thresholds


def ref_auc(x: Any, y: Any) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(sum((x[i + 1] - x[i]) * (y[i] + y[i + 1]) / 2 for i in range(len(x) - 1)))


def ref_normalize(cm: Any) -> np.ndarray:
    cm = np.asarray(cm, dtype=np.float64)
    out = np.zeros_like(cm)
    for i, row in enumerate(cm):
        if row.sum() > 0:
            out[i] = row / row.sum()
    return out


# ------------------------------------------------------------------------ stand-ins


# The notebook's signatures (parameter names and defaults) of the functions that stand in.
def _prf_params(y_true, y_pred, zero_division=0.0): ...


def _sweep_params(y_true, scores, thresholds): ...


def _sweep_stand_ins(y_true: Any, scores: Any, thresholds: Any) -> dict:
    """What precision_recall_f1 answers while threshold_sweep is graded: one call per
    threshold on the predictions ``scores >= t`` with ``zero_division=1.0``, as a correct
    threshold_sweep makes them (the reference's values only)."""

    def run(precision_recall_f1):
        t = np.asarray(y_true).astype(bool).ravel()
        s = np.asarray(scores, dtype=np.float64).ravel()
        for threshold in np.asarray(thresholds, dtype=np.float64).ravel():
            precision_recall_f1(t, s >= threshold, zero_division=1.0)

    tables = recorded_calls(run, precision_recall_f1=ref_prf)
    return sealed(any_spelling(tables, precision_recall_f1=_prf_params))


def _choose_stand_ins(y_true: Any, scores: Any) -> dict:
    """What threshold_sweep answers while choose_threshold is graded: the sweep over the
    candidates np.unique(scores) (ascending or descending) and each candidate alone."""

    def run(threshold_sweep):
        candidates = np.unique(np.asarray(scores, dtype=np.float64))
        threshold_sweep(y_true, scores, candidates)
        threshold_sweep(y_true, scores, candidates[::-1])
        for threshold in candidates:
            threshold_sweep(y_true, scores, [float(threshold)])

    tables = recorded_calls(run, threshold_sweep=ref_sweep)
    return sealed(any_spelling(tables, threshold_sweep=_sweep_params))


# ------------------------------------------------------------------------ helpers


def _float_array(got: Observed, name: str, value: Any, what: str) -> np.ndarray:
    """``value`` (one item of a returned tuple) as a float array, or a clear failure."""
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value)
        except ValueError:
            fail(f"{got.label}: {what} is a ragged list, not an array.")
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
        fail(f"{got.label}: {what} should be a float array, got {describe(value)}.")
    if value.dtype.kind != "f":
        fail(
            f"{got.label}: {what} has dtype {value.dtype}; the exercise asks for float arrays.",
            "ratios are floats: divide with / (true division) and return the float result.",
        )
    return value


def _items(got: Observed, name: str, count: int, what: str) -> list[Any]:
    value = got.raw(name)
    if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == count:
        return list(value)  # e.g. np.array([precisions, recalls]): still count arrays
    if not isinstance(value, (tuple, list)) or len(value) != count:
        fail(f"{got.label}: expected {what}, got {describe(value)}.")
    return list(value)


def _python_floats(
    got: Observed, name: str, names: tuple[str, ...], what: str, hint: str
) -> np.ndarray:
    value = got.raw(name)
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        fail(f"{got.label}: expected {what}, got {describe(value)}.", hint)
    if not isinstance(value, tuple):
        fail(f"{got.label}: expected {what}, got a list.", hint)
    for item_name, item in zip(names, value, strict=True):
        if type(item) is not float:  # a float (or np.float64) in the kernel; not a 0-d array
            fail(f"{got.label}: {item_name} should be a Python float, got {describe(item)}.", hint)
    return np.array(value, dtype=np.float64)


def _matches(value: np.ndarray, other: np.ndarray) -> bool:
    return value.shape == other.shape and bool(
        np.all(np.isclose(value, other, rtol=0, atol=1e-9, equal_nan=True))
    )


# ------------------------------------------------------------------------ 1 confusion matrix


@register
class ConfusionMatrix(Check):
    notebook, cell = NB, "test_confusion_matrix"

    def cases(self):
        yield case(
            "confusion_matrix([0, 0, 0, 1, 1], [0, 1, 1, 1, 0])",
            y_true=np.array([0, 0, 0, 1, 1]),
            y_pred=np.array([0, 1, 1, 1, 0]),
            options={},
        )
        rng = np.random.default_rng(21)
        for n, k in [(50, 3), (200, 5), (7, 2)]:
            yield case(
                f"confusion_matrix of {n} random labels in {k} classes",
                y_true=rng.integers(0, k, n),
                y_pred=rng.integers(0, k, n),
                options={},
            )
        t, p = np.array([2, 2, 5, 5, 9]), np.array([2, 7, 5, 9, 9])  # 7 is only predicted
        yield case(
            "confusion_matrix([2, 2, 5], [2, 7, 5]) (class 7 only predicted)",
            y_true=np.array([2, 2, 5]),
            y_pred=np.array([2, 7, 5]),
            options={},
        )
        yield case(
            "confusion_matrix([2, 2, 5, 5, 9], [2, 7, 5, 9, 9]) (class 7 only predicted)",
            y_true=t,
            y_pred=p,
            options={},
        )
        yield case(
            "confusion_matrix([2, 2, 5, 5, 9], [2, 7, 5, 9, 9], labels=[9, 5, 2, 7])",
            y_true=t,
            y_pred=p,
            options={"labels": [9, 5, 2, 7]},
        )
        yield case(
            "confusion_matrix([1, 1, 1], [1, 1, 1], labels=[0, 1]) (class 0 never occurs)",
            y_true=np.array([1, 1, 1]),
            y_pred=np.array([1, 1, 1]),
            options={"labels": [0, 1]},
        )
        yield case(
            "confusion_matrix([10, -1, 3, 3], [3, 10, -1, 10]) (negative labels, the "
            "largest first)",
            y_true=np.array([10, -1, 3, 3]),
            y_pred=np.array([3, 10, -1, 10]),
            options={},
        )

    def expected(self, inputs):
        return ref_confusion(inputs["y_true"], inputs["y_pred"], **inputs["options"])

    def judge(self, case, got, want):
        value = got.raw("cm")
        if not isinstance(value, np.ndarray):
            fail(
                f"{case.label} should return a NumPy array, got {describe(value)}.",
                "build the counts in np.zeros((K, K), dtype=int) and return that array.",
            )
        if value.dtype.kind not in "iu":
            fail(
                f"{case.label}: the counts have dtype {value.dtype}; the exercise asks for an "
                "integer array.",
                "np.zeros((K, K)) is float64: pass dtype=int.",
            )
        check_shape(
            value,
            want.shape,
            name=case.label,
            hint="K = the number of labels: `labels` when given, else the distinct "
            "classes of y_true AND y_pred together (a class only predicted counts).",
        )
        if _matches(value, want.T) and not _matches(want, want.T):
            fail(
                f"{case.label}: got the transpose of the confusion matrix.",
                "rows are the TRUE class, columns the PREDICTED class.",
            )
        check_equal(
            value,
            want,
            name=case.label,
            hint="row i / column j belong to labels[i] / labels[j]: follow the order "
            "of `labels`, or the SORTED classes of y_true and y_pred when it is "
            "None (not the order of appearance); labels are any integers, not "
            "indices 0..K-1.",
        )


# ------------------------------------------------------------------------ 2 precision/recall/F1

PRF_TYPE_HINT = "return a tuple (precision, recall, f1) of Python floats, e.g. float(tp / den)."


@register
class PrecisionRecallF1(Check):
    notebook, cell = NB, "test_precision_recall_f1"

    def cases(self):
        yield case(
            "precision_recall_f1 of the example lists (TP 3, FP 5, FN 1)",
            y_true=[1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
            y_pred=[1, 1, 1, 0, 1, 1, 1, 1, 1, 0],
            options={},
        )
        yield case(
            "precision_recall_f1([1, 0], [0, 0]) (no predicted positive, default zero_division)",
            y_true=[1, 0],
            y_pred=[0, 0],
            options={},
        )
        rng = np.random.default_rng(22)
        for n, rate in [(40, 0.5), (300, 0.1), (25, 0.9)]:
            yield case(
                f"precision_recall_f1 of {n} random 0/1 labels (integer arrays)",
                y_true=(rng.random(n) < rate).astype(int),
                y_pred=(rng.random(n) < 0.4).astype(int),
                options={},
            )
        yield case(
            "precision_recall_f1 of boolean arrays",
            y_true=rng.integers(0, 2, 30).astype(bool),
            y_pred=rng.integers(0, 2, 30).astype(bool),
            options={},
        )
        yield case(
            "precision_recall_f1 of Python lists",
            y_true=rng.integers(0, 2, 20).tolist(),
            y_pred=rng.integers(0, 2, 20).tolist(),
            options={},
        )
        edge = [
            ([0, 0, 0], [0, 0, 0], "all negative, nothing predicted"),
            ([1, 1, 0], [0, 0, 0], "no predicted positive"),
            ([0, 0, 0], [1, 0, 0], "no actual positive"),
            ([1, 1, 1], [1, 1, 1], "all positive, all found"),
            ([1, 0, 1], [0, 1, 0], "everything wrong"),
        ]
        for t, p, what in edge:
            for zd in (0.0, 1.0):
                yield case(
                    f"precision_recall_f1({t}, {p}, zero_division={zd}) ({what})",
                    y_true=np.array(t),
                    y_pred=np.array(p),
                    options={"zero_division": zd},
                )
        yield case(
            "precision_recall_f1([0, 0, 0], [0, 0, 0]) (default zero_division)",
            y_true=np.array([0, 0, 0]),
            y_pred=np.array([0, 0, 0]),
            options={},
        )
        yield case(
            "precision_recall_f1([0, 0], [0, 0], zero_division=0.5)",
            y_true=np.array([0, 0]),
            y_pred=np.array([0, 0]),
            options={"zero_division": 0.5},
        )

    def expected(self, inputs):
        return ref_prf(inputs["y_true"], inputs["y_pred"], **inputs["options"])

    def judge(self, case, got, want):
        value = _python_floats(
            got,
            "prf",
            ("precision", "recall", "f1"),
            "a tuple of three floats (precision, recall, f1)",
            PRF_TYPE_HINT,
        )
        if np.any(np.isnan(value)):
            fail(
                f"{case.label}: got nan in {tuple(value.tolist())}.",
                "when a denominator is 0 return zero_division, never nan.",
            )
        tp, fp, fn = _counts(case.inputs["y_true"], case.inputs["y_pred"])
        zd = case.inputs["options"].get("zero_division", 0.0)
        dens = {"precision": tp + fp, "recall": tp + fn, "f1": 2 * tp + fp + fn}
        rules = {
            "precision": "precision = TP / (TP + FP)",
            "recall": "recall = TP / (TP + FN)",
            "f1": "F1 = 2 TP / (2 TP + FP + FN), the harmonic mean of P and R; it is "
            "defined (0 when TP = 0) whenever that denominator is not 0, even if "
            "precision or recall is not",
        }
        for i, name in enumerate(("precision", "recall", "f1")):
            if not np.isclose(value[i], want[i], rtol=0, atol=1e-9):
                hint = (
                    f"its denominator is 0 here (TP {tp}, FP {fp}, FN {fn}): return "
                    f"zero_division = {zd}"
                    if dens[name] == 0
                    else f"{rules[name]} (here TP {tp}, FP {fp}, FN {fn})."
                )
                fail(f"{case.label}: {name} should be {want[i]:.6g}, got {value[i]:.6g}.", hint)


# ------------------------------------------------------------------------ 3 threshold sweep


@register
class ThresholdSweep(Check):
    notebook, cell = NB, "test_threshold_sweep"

    def cases(self):
        for c in self._cases():
            i = c.inputs
            stand_ins = _sweep_stand_ins(i["y_true"], i["scores"], i["thresholds"])
            yield case(c.label, stand_ins=stand_ins, **i)

    def _cases(self):
        yield case(
            "threshold_sweep of the example at thresholds [0.3, 0.4, 0.7, 0.9]",
            y_true=np.array([0, 0, 1, 1, 0, 1]),
            scores=np.array([0.1, 0.4, 0.35, 0.8, 0.6, 0.4]),
            thresholds=[0.3, 0.4, 0.7, 0.9],
        )
        rng = np.random.default_rng(23)
        for n in (30, 200):
            t = (rng.random(n) < 0.3).astype(int)
            t[0] = 1
            s = np.round(rng.random(n), 1)  # many ties
            yield case(
                f"threshold_sweep of {n} scores with ties, thresholds = the distinct scores",
                y_true=t,
                scores=s,
                thresholds=np.unique(s),
            )
        t = (rng.random(60) < 0.4).astype(int)
        t[0] = 1
        s = np.round(rng.random(60), 2)
        yield case(
            "threshold_sweep at the distinct scores in shuffled order",
            y_true=t,
            scores=s,
            thresholds=rng.permutation(np.unique(s)),
        )
        yield case(
            "threshold_sweep([1, 0, 1], [0.2, 0.5, 0.9], [2.0, 0.0, 0.9])",
            y_true=np.array([1, 0, 1]),
            scores=np.array([0.2, 0.5, 0.9]),
            thresholds=[2.0, 0.0, 0.9],
        )
        yield case(
            "threshold_sweep with boolean labels and a tie at the threshold",
            y_true=np.array([True, False, True]),
            scores=np.array([0.3, 0.3, 0.1]),
            thresholds=[0.3],
        )
        yield case(
            "threshold_sweep where no threshold predicts a positive",
            y_true=np.array([0, 1, 1]),
            scores=np.array([0.2, 0.4, 0.6]),
            thresholds=np.array([0.7, 5.0]),
        )

    def expected(self, inputs):
        return ref_sweep(inputs["y_true"], inputs["scores"], inputs["thresholds"])

    def judge(self, case, got, want):
        first, second = _items(got, "sweep", 2, "two arrays (precisions, recalls)")
        n = len(want[0])
        inputs = case.inputs
        for what, value, ref in (("precisions", first, want[0]), ("recalls", second, want[1])):
            value = _float_array(got, "sweep", value, what)
            check_shape(
                value,
                (n,),
                name=f"{what} of {case.label}",
                hint="one value per threshold: shape (len(thresholds),).",
            )
            if _matches(value, ref):
                continue
            k = 0 if what == "precisions" else 1
            wrong = {
                "predict positive when score >= threshold (a score equal to the threshold is "
                "positive), not >": ref_sweep(
                    inputs["y_true"], inputs["scores"], inputs["thresholds"], op=np.greater
                )[k],
                "entry i belongs to thresholds[i]: keep the order of `thresholds` (do not "
                "sort them)": ref_sweep(
                    inputs["y_true"], inputs["scores"], np.sort(np.ravel(inputs["thresholds"]))
                )[k],
            }
            if k == 0:
                wrong["with no predicted positive the precision is 1.0 (not 0.0 or nan)"] = (
                    ref_sweep(inputs["y_true"], inputs["scores"], inputs["thresholds"], empty=0.0)[
                        0
                    ]
                )
            hint = next(
                (h for h, alt in wrong.items() if _matches(value, alt)),
                "precision and recall of the predictions scores >= thresholds[i]; "
                "precision 1.0 when nothing is predicted positive.",
            )
            check_close(value, ref, name=f"{what} of {case.label}", rtol=0, atol=1e-9, hint=hint)


# ------------------------------------------------------------------------ 4 choose a threshold


@register
class ChooseThreshold(Check):
    notebook, cell = NB, "test_choose_threshold"

    def cases(self):
        for c in self._cases():
            stand_ins = _choose_stand_ins(c.inputs["y_true"], c.inputs["scores"])
            yield case(c.label, stand_ins=stand_ins, **c.inputs)

    def _cases(self):
        yield case(
            "choose_threshold of the example, min_recall=0.75",
            y_true=np.array([0, 0, 1, 1, 0, 1, 1]),
            scores=np.array([0.1, 0.5, 0.3, 0.8, 0.6, 0.9, 0.7]),
            min_recall=0.75,
        )
        rng = np.random.default_rng(24)
        for n, target in [(100, 0.95), (100, 0.5), (40, 1.0), (40, 0.0)]:
            t = (rng.random(n) < 0.4).astype(int)
            t[:2] = 1
            yield case(
                f"choose_threshold(..., min_recall={target}) on {n} samples",
                y_true=t,
                scores=np.round(rng.random(n), 2),
                min_recall=target,
            )
        t = (rng.random(50) < 0.5).astype(int)
        t[:2] = 1
        yield case(
            "choose_threshold(..., min_recall=0.8) on 50 unrounded scores",
            y_true=t,
            scores=rng.random(50),
            min_recall=0.8,
        )
        yield case(
            "choose_threshold where precision is higher at a lower threshold (min_recall=0.3)",
            y_true=np.array([0, 1, 1, 1]),
            scores=np.array([0.9, 0.8, 0.7, 0.6]),
            min_recall=0.3,
        )
        yield case(
            "choose_threshold where the recall exactly reaches min_recall=0.5",
            y_true=np.array([1, 1, 0, 1, 1, 0]),
            scores=np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]),
            min_recall=0.5,
        )

    def expected(self, inputs):
        return ref_choose(inputs["y_true"], inputs["scores"], inputs["min_recall"])

    def judge(self, case, got, want):
        value = _python_floats(
            got,
            "choice",
            ("threshold", "precision", "recall"),
            "a tuple (threshold, precision, recall) of three floats",
            "return float(...) of the three values at the chosen threshold.",
        )
        threshold = value[0]
        if not np.isclose(threshold, want[0], rtol=0, atol=1e-12):
            scores = np.asarray(case.inputs["scores"], dtype=np.float64)
            if not np.any(scores == threshold):
                hint = "the candidate thresholds are np.unique(scores), not a grid."
            elif threshold < want[0]:
                hint = (
                    "take the LARGEST candidate whose recall is at least min_recall (>=: a "
                    "recall equal to min_recall is enough); not the smallest one, nor the "
                    "one with the best precision."
                )
            else:
                hint = "the recall at that threshold is below min_recall."
            fail(f"{case.label}: threshold should be {want[0]:.6g}, got {threshold:.6g}.", hint)
        check_close(
            value,
            np.array(want),
            name=case.label,
            rtol=0,
            atol=1e-9,
            hint="return (threshold, precision, recall) at the chosen threshold.",
        )


# ------------------------------------------------------------------------ 5 ROC curve


@register
class RocCurve(Check):
    notebook, cell = NB, "test_roc_curve"

    def cases(self):
        yield case(
            "roc_curve([0, 1, 1, 0], [0.1, 0.5, 0.5, 0.8])",
            y_true=[0, 1, 1, 0],
            scores=[0.1, 0.5, 0.5, 0.8],
        )
        rng = np.random.default_rng(25)
        for n, decimals in [(60, 2), (300, 6), (20, 1)]:
            t = (rng.random(n) < 0.4).astype(int)
            t[:2] = [0, 1]
            yield case(
                f"roc_curve of {n} random scores ({decimals} decimals, ties)",
                y_true=t,
                scores=np.round(rng.random(n), decimals),
            )
        t = (rng.random(40) < 0.5).astype(int)
        t[:2] = [0, 1]
        yield case(
            "roc_curve of unbounded scores (logits)", y_true=t, scores=rng.normal(0.0, 3.0, 40)
        )
        yield case(
            "roc_curve when every score is the same",
            y_true=np.array([0, 1, 0, 1]),
            scores=np.array([0.5, 0.5, 0.5, 0.5]),
        )

    def expected(self, inputs):
        return ref_roc(inputs["y_true"], inputs["scores"])

    def judge(self, case, got, want):
        fpr, tpr, thresholds = (
            _float_array(got, "roc", v, what)
            for v, what in zip(
                _items(got, "roc", 3, "three arrays (fpr, tpr, thresholds)"),
                ("fpr", "tpr", "thresholds"),
                strict=True,
            )
        )
        n = len(want[2])
        check_shape(
            thresholds,
            (n,),
            name=f"thresholds of {case.label}",
            hint="+inf, then every DISTINCT score once, in decreasing order: "
            "n_distinct_scores + 1 values (no duplicates, none dropped).",
        )
        check_equal(
            thresholds,
            want[2],
            name=f"thresholds of {case.label}",
            hint="the first threshold is +inf (np.inf, the point (0, 0)), then the "
            "distinct scores in decreasing order.",
        )
        inputs = case.inputs
        strict = ref_roc(inputs["y_true"], inputs["scores"], op=np.greater)
        for what, value, ref, alt in (
            ("fpr", fpr, want[0], strict[0]),
            ("tpr", tpr, want[1], strict[1]),
        ):
            check_shape(
                value, (n,), name=f"{what} of {case.label}", hint="one point per threshold."
            )
            if _matches(value, alt) and not _matches(value, ref):
                hint = "predict positive when score >= threshold, not >."
            elif what == "fpr":
                hint = (
                    "fpr = FP / (FP + TN) = FP / (number of negatives) of scores >= "
                    "threshold, computed from the scores (not from 0/1 predictions)."
                )
            else:
                hint = (
                    "tpr = TP / (TP + FN) = TP / (number of positives) of scores >= "
                    "threshold, computed from the scores (not from 0/1 predictions)."
                )
            check_close(value, ref, name=f"{what} of {case.label}", rtol=0, atol=1e-12, hint=hint)


# ------------------------------------------------------------------------ 6 AUC


@register
class Auc(Check):
    notebook, cell = NB, "test_auc"

    def cases(self):
        yield case("auc([0.0, 1.0], [0.0, 1.0]) (the diagonal)", x=[0.0, 1.0], y=[0.0, 1.0])
        yield case(
            "auc([0.0, 0.0, 1.0], [0.0, 1.0, 1.0]) (a perfect ROC curve)",
            x=[0.0, 0.0, 1.0],
            y=[0.0, 1.0, 1.0],
        )
        rng = np.random.default_rng(26)
        yield case(
            "auc of 20 random increasing points",
            x=np.sort(rng.random(20)),
            y=np.sort(rng.random(20)),
        )
        t = np.array([0, 1, 0, 1, 1, 0, 0, 1])
        s = np.array([0.2, 0.2, 0.5, 0.5, 0.9, 0.1, 0.7, 0.4])  # ties between the classes
        fpr, tpr, _ = ref_roc(t, s)
        yield case("auc of a ROC curve with tied scores (diagonal segments)", x=fpr, y=tpr)
        yield case(
            "auc of a curve with a vertical step and uneven spacing",
            x=np.array([0.0, 0.2, 0.2, 0.7, 1.0]),
            y=np.array([0.0, 0.1, 0.6, 0.6, 1.0]),
        )

    def expected(self, inputs):
        return ref_auc(inputs["x"], inputs["y"])

    def judge(self, case, got, want):
        value = got.raw("area")
        if type(value) is not float:  # a float (or np.float64) in the kernel; not an array
            fail(
                f"{case.label}: expected a Python float, got {describe(value)}.",
                "return float(total).",
            )
        x, y = np.asarray(case.inputs["x"], float), np.asarray(case.inputs["y"], float)
        wrong = {
            "left rectangles": float(np.sum(np.diff(x) * y[:-1])),
            "right rectangles": float(np.sum(np.diff(x) * y[1:])),
        }
        hint = next(
            (
                f"that is the area of {name}: use trapezoids, (x[i+1] - x[i]) * (y[i] + y[i+1]) / 2"
                for name, area in wrong.items()
                if abs(area - want) > 1e-9 and abs(area - value) < 1e-9
            ),
            "sum (x[i+1] - x[i]) * (y[i] + y[i+1]) / 2 over consecutive points (x and y "
            "may be lists: convert them with np.asarray).",
        )
        # 1-element arrays: check_close cannot describe a mismatch of two scalars
        check_close(
            np.array([value]), np.array([want]), name=case.label, rtol=0, atol=1e-12, hint=hint
        )


# ------------------------------------------------------------------------ 7 normalised matrix


@register
class NormalizeConfusion(Check):
    notebook, cell = NB, "test_normalize_confusion"

    def cases(self):
        yield case("normalize_confusion([[8, 2], [1, 4]])", cm=np.array([[8, 2], [1, 4]]))
        rng = np.random.default_rng(27)
        yield case(
            "normalize_confusion of a random 4-class matrix",
            cm=ref_confusion(rng.integers(0, 4, 80), rng.integers(0, 4, 80)),
        )
        yield case(
            "normalize_confusion with an empty middle row",
            cm=np.array([[3, 1, 0], [0, 0, 0], [2, 0, 6]]),
        )
        cm = ref_confusion(rng.integers(1, 5, 60), rng.integers(0, 5, 60), labels=range(5))
        yield case("normalize_confusion of a 5-class matrix whose first class has no sample", cm=cm)
        yield case("normalize_confusion of an all-zero matrix", cm=np.zeros((3, 3), dtype=int))

    def expected(self, inputs):
        return ref_normalize(inputs["cm"])

    def judge(self, case, got, want):
        value = got.array("normalized", kind="f")
        check_shape(value, want.shape, name=case.label, hint="same (K, K) shape as cm.")
        if value.dtype.kind != "f":
            fail(
                f"{case.label}: dtype {value.dtype}; the exercise asks for a float array.",
                "divide with / (true division), not //.",
            )
        if np.any(np.isnan(value)):
            fail(
                f"{case.label}: the result contains nan.",
                "a row with no samples (all zeros) stays all zeros: avoid 0 / 0.",
            )
        cm = np.asarray(case.inputs["cm"], dtype=np.float64)
        totals = cm.sum(axis=0, keepdims=True)
        by_columns = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
        if _matches(value, by_columns) and not _matches(value, want):
            hint = "normalise each ROW (true class, axis=1), not each column."
        else:
            hint = (
                "divide each row by its own sum (the samples of that true class); a row "
                "with no samples stays all zeros."
            )
        check_close(value, want, name=case.label, rtol=0, atol=1e-12, hint=hint)
