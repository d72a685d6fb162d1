"""Typical mistakes in 02_metrics, and a different but correct solution.

Each mistake is a small edit of the instructor solution and names the test cells it must
fail; every other test must keep its points. The threshold tests run with a reference
precision_recall_f1 / threshold_sweep standing in for the student's, so a mistake costs
the points of its own exercise only. The written answer (ethics_answer) is graded by hand
and is never part of a mistake.
"""

from ..submissions import Mistake

MISTAKES = {
    # --- exercise 1: confusion matrix ------------------------------------------------
    "confusion_transposed": Mistake(
        why="rows = predicted class, columns = true class (the transpose)",
        breaks=frozenset({"test_confusion_matrix"}),
        edits={
            "confusion_matrix": [
                ("matrix[index[t], index[p]] += 1", "matrix[index[p], index[t]] += 1")
            ]
        },
    ),
    "confusion_labels_from_true_only": Mistake(
        why="labels=None takes the classes of y_true only: a class only predicted is lost",
        breaks=frozenset({"test_confusion_matrix"}),
        edits={
            "confusion_matrix": [
                ("np.unique(np.concatenate([y_true, y_pred]))", "np.unique(y_true)")
            ]
        },
    ),
    "confusion_float_counts": Mistake(
        why="counts in np.zeros((K, K)) without dtype: a float matrix instead of integers",
        breaks=frozenset({"test_confusion_matrix"}),
        edits={
            "confusion_matrix": [
                (
                    "np.zeros((len(index), len(index)), dtype=np.int64)",
                    "np.zeros((len(index), len(index)))",
                )
            ]
        },
    ),
    "confusion_returns_lists": Mistake(
        why="returns a list of lists instead of a NumPy array",
        breaks=frozenset({"test_confusion_matrix"}),
        edits={"confusion_matrix": [("    return matrix\n", "    return matrix.tolist()\n")]},
    ),
    "confusion_labels_first_seen": Mistake(
        why="labels=None keeps the classes in order of first appearance, not sorted",
        breaks=frozenset({"test_confusion_matrix"}),
        edits={
            "confusion_matrix": [
                (
                    "np.unique(np.concatenate([y_true, y_pred]))",
                    "list(dict.fromkeys(np.concatenate([y_true, y_pred]).tolist()))",
                )
            ]
        },
    ),
    "confusion_ignores_labels": Mistake(
        why="the labels argument is ignored: always the classes found in the data",
        breaks=frozenset({"test_confusion_matrix"}),
        edits={
            "confusion_matrix": [
                (
                    "    if labels is None:\n        labels = np.unique(np.concatenate([y_true, y_pred]))",
                    "    labels = np.unique(np.concatenate([y_true, y_pred]))",
                )
            ]
        },
    ),
    "confusion_labels_as_indices": Mistake(
        why="labels used directly as row/column indices (only works for labels 0..K-1)",
        breaks=frozenset({"test_confusion_matrix"}),
        replace={
            "confusion_matrix": """
def confusion_matrix(y_true, y_pred, labels=None):
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    k = len(np.unique(np.concatenate([y_true, y_pred]))) if labels is None else len(labels)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix
"""
        },
    ),
    # --- exercise 2: precision, recall, F1 --------------------------------------------
    "precision_recall_swapped": Mistake(
        why="precision = TP / (TP + FN) and recall = TP / (TP + FP): swapped",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={
            "precision_recall_f1": [
                (
                    "return ratio(tp, tp + fp), ratio(tp, tp + fn),",
                    "return ratio(tp, tp + fn), ratio(tp, tp + fp),",
                )
            ]
        },
    ),
    "f1_arithmetic_mean": Mistake(
        why="F1 as the arithmetic mean of precision and recall",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={
            "precision_recall_f1": [
                (
                    "    return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)",
                    "    p, r = ratio(tp, tp + fp), ratio(tp, tp + fn)\n    return p, r, (p + r) / 2",
                )
            ]
        },
    ),
    "zero_division_nan": Mistake(
        why="0/0 computed with NumPy: nan instead of the zero_division value",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={
            "precision_recall_f1": [
                (
                    "return float(num / den) if den > 0 else float(zero_division)",
                    "return float(np.float64(num) / den)",
                )
            ]
        },
    ),
    "zero_division_ignored": Mistake(
        why="an undefined ratio is always 0.0, whatever zero_division says",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={"precision_recall_f1": [("else float(zero_division)", "else 0.0")]},
    ),
    "f1_harmonic_mean_of_undefined": Mistake(
        why="F1 = 2PR / (P + R) from precision and recall that may be zero_division: wrong when "
        "both are 0 (zero_division instead of 0)",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={
            "precision_recall_f1": [
                (
                    "    return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)",
                    "    p, r = ratio(tp, tp + fp), ratio(tp, tp + fn)\n"
                    "    return p, r, (2 * p * r / (p + r) if p + r > 0 else float(zero_division))",
                )
            ]
        },
    ),
    "f1_undefined_when_precision_or_recall_is": Mistake(
        why="F1 is zero_division as soon as precision or recall is undefined (it is 0 there)",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={
            "precision_recall_f1": [
                (
                    "    return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)",
                    "    f1 = ratio(2 * tp, 2 * tp + fp + fn) if tp + fp > 0 and tp + fn > 0 "
                    "else float(zero_division)\n"
                    "    return ratio(tp, tp + fp), ratio(tp, tp + fn), f1",
                )
            ]
        },
    ),
    "prf_lists_not_converted": Mistake(
        why="y == 1 on a Python list is one False: lists are not converted to arrays",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={
            "precision_recall_f1": [
                (
                    "y_true = np.asarray(y_true).astype(bool).ravel()",
                    "y_true = np.asarray(y_true == 1)",
                ),
                (
                    "y_pred = np.asarray(y_pred).astype(bool).ravel()",
                    "y_pred = np.asarray(y_pred == 1)",
                ),
            ]
        },
    ),
    "prf_boolean_subtract": Mistake(
        why="FP and FN found as y_pred - y_true == 1: NumPy cannot subtract boolean arrays "
        "(boolean labels crash)",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={
            "precision_recall_f1": [
                (
                    "y_true = np.asarray(y_true).astype(bool).ravel()",
                    "y_true = np.asarray(y_true).ravel()",
                ),
                (
                    "y_pred = np.asarray(y_pred).astype(bool).ravel()",
                    "y_pred = np.asarray(y_pred).ravel()",
                ),
                ("tp = int(np.sum(y_true & y_pred))", "tp = int(np.sum(y_true * y_pred))"),
                ("fp = int(np.sum(~y_true & y_pred))", "fp = int(np.sum(y_pred - y_true == 1))"),
                ("fn = int(np.sum(y_true & ~y_pred))", "fn = int(np.sum(y_true - y_pred == 1))"),
            ]
        },
    ),
    "prf_returns_array": Mistake(
        why="returns a NumPy array instead of a tuple of three Python floats",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={
            "precision_recall_f1": [
                (
                    "    return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)",
                    "    return np.array([ratio(tp, tp + fp), ratio(tp, tp + fn), "
                    "ratio(2 * tp, 2 * tp + fp + fn)])",
                )
            ]
        },
    ),
    # --- exercise 3: threshold sweep --------------------------------------------------
    "sweep_strictly_greater": Mistake(
        why="positive when score > threshold: ties at the threshold are lost",
        breaks=frozenset({"test_threshold_sweep"}),
        edits={"threshold_sweep": [("predicted = scores >= t", "predicted = scores > t")]},
    ),
    "sweep_empty_precision_zero": Mistake(
        why="precision 0.0 (not 1.0) when nothing is predicted positive",
        breaks=frozenset({"test_threshold_sweep"}),
        edits={"threshold_sweep": [("zero_division=1.0", "zero_division=0.0")]},
    ),
    "sweep_sorts_thresholds": Mistake(
        why="the thresholds are sorted first: entry i no longer belongs to thresholds[i]",
        breaks=frozenset({"test_threshold_sweep"}),
        edits={
            "threshold_sweep": [
                (
                    "for t in np.asarray(thresholds, dtype=np.float64).ravel():",
                    "for t in np.sort(np.asarray(thresholds, dtype=np.float64).ravel()):",
                )
            ]
        },
    ),
    # --- exercise 4: choose a threshold -----------------------------------------------
    "choose_smallest_threshold": Mistake(
        why="the smallest threshold reaching the recall (everything positive)",
        breaks=frozenset({"test_choose_threshold"}),
        edits={"choose_threshold": [("best = ok.max()", "best = ok.min()")]},
    ),
    "choose_recall_strictly_greater": Mistake(
        why="recall > min_recall instead of >= (a recall equal to the target is enough)",
        breaks=frozenset({"test_choose_threshold"}),
        edits={
            "choose_threshold": [
                ("np.asarray(recalls) >= min_recall", "np.asarray(recalls) > min_recall")
            ]
        },
    ),
    "choose_best_precision": Mistake(
        why="among the thresholds reaching the recall, the one with the best precision (not the "
        "largest)",
        breaks=frozenset({"test_choose_threshold"}),
        edits={
            "choose_threshold": [
                ("best = ok.max()", "best = ok[np.argmax(np.asarray(precisions)[ok])]")
            ]
        },
    ),
    "choose_grid_candidates": Mistake(
        why="candidates from a grid np.linspace(0, 1, 101) instead of np.unique(scores)",
        breaks=frozenset({"test_choose_threshold"}),
        edits={
            "choose_threshold": [
                (
                    "candidates = np.unique(np.asarray(scores, dtype=np.float64))",
                    "candidates = np.linspace(0.0, 1.0, 101)",
                )
            ]
        },
    ),
    # --- exercise 5: ROC curve ----------------------------------------------------------
    "roc_from_hard_labels": Mistake(
        why="ROC computed from predictions thresholded at 0.5, not from the scores",
        breaks=frozenset({"test_roc_curve"}),
        edits={
            "roc_curve": [
                (
                    "scores = np.asarray(scores, dtype=np.float64).ravel()\n",
                    "scores = np.asarray(scores, dtype=np.float64).ravel()\n"
                    "    scores = (scores >= 0.5).astype(np.float64)\n",
                )
            ]
        },
    ),
    "roc_thresholds_increasing": Mistake(
        why="thresholds in increasing order: the curve runs from (1, 1) back to (0, 0)",
        breaks=frozenset({"test_roc_curve"}),
        edits={"roc_curve": [("np.unique(scores)[::-1]", "np.unique(scores)")]},
    ),
    "roc_first_threshold_max_plus_one": Mistake(
        why="first threshold max(scores) + 1 (old scikit-learn) instead of +inf",
        breaks=frozenset({"test_roc_curve"}),
        edits={
            "roc_curve": [
                (
                    "[[np.inf], np.unique(scores)[::-1]]",
                    "[[scores.max() + 1], np.unique(scores)[::-1]]",
                )
            ]
        },
    ),
    "roc_without_infinity_point": Mistake(
        why="no threshold +inf: the curve misses its first point (0, 0)",
        breaks=frozenset({"test_roc_curve"}),
        edits={
            "roc_curve": [
                (
                    "thresholds = np.concatenate([[np.inf], np.unique(scores)[::-1]])",
                    "thresholds = np.unique(scores)[::-1]",
                )
            ]
        },
    ),
    "roc_thresholds_not_distinct": Mistake(
        why="every score is a threshold, tied scores repeated (not the distinct scores)",
        breaks=frozenset({"test_roc_curve"}),
        edits={
            "roc_curve": [
                ("[[np.inf], np.unique(scores)[::-1]]", "[[np.inf], np.sort(scores)[::-1]]")
            ]
        },
    ),
    "roc_strictly_greater": Mistake(
        why="positive when score > threshold instead of >=",
        breaks=frozenset({"test_roc_curve"}),
        edits={
            "roc_curve": [
                ("scores[None, :] >= thresholds[:, None]", "scores[None, :] > thresholds[:, None]")
            ]
        },
    ),
    "roc_fpr_over_all_samples": Mistake(
        why="fpr = FP / (number of samples) instead of FP / (number of negatives)",
        breaks=frozenset({"test_roc_curve"}),
        edits={"roc_curve": [("/ (~y_true).sum()", "/ len(y_true)")]},
    ),
    "roc_sklearn_default_drops_points": Mistake(
        why="scikit-learn's roc_curve with its default drop_intermediate=True: points missing",
        breaks=frozenset({"test_roc_curve"}),
        replace={
            "roc_curve": """
def roc_curve(y_true, scores):
    from sklearn import metrics
    return metrics.roc_curve(y_true, scores)
"""
        },
    ),
    # --- exercise 6: AUC -------------------------------------------------------------------
    "auc_left_rectangles": Mistake(
        why="left rectangles instead of trapezoids",
        breaks=frozenset({"test_auc"}),
        edits={"auc": [("(y[1:] + y[:-1]) / 2", "y[:-1]")]},
    ),
    "auc_right_rectangles": Mistake(
        why="right rectangles instead of trapezoids",
        breaks=frozenset({"test_auc"}),
        edits={"auc": [("(y[1:] + y[:-1]) / 2", "y[1:]")]},
    ),
    "auc_lists_not_converted": Mistake(
        why="x and y not converted to arrays: for lists, y[1:] + y[:-1] concatenates",
        breaks=frozenset({"test_auc"}),
        edits={
            "auc": [
                (
                    "    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)\n",
                    "",
                )
            ]
        },
    ),
    # --- exercise 7: normalized confusion matrix -------------------------------------------
    "normalize_over_columns": Mistake(
        why="normalised by the predicted class (columns) instead of the true class (rows)",
        breaks=frozenset({"test_normalize_confusion"}),
        edits={
            "normalize_confusion": [
                ("cm.sum(axis=1, keepdims=True)", "cm.sum(axis=0, keepdims=True)")
            ]
        },
    ),
    "normalize_nan_on_empty_row": Mistake(
        why="plain division: an empty row becomes 0/0 = nan",
        breaks=frozenset({"test_normalize_confusion"}),
        edits={
            "normalize_confusion": [
                ("np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)", "cm / totals")
            ]
        },
    ),
    "normalize_over_total": Mistake(
        why="divided by the total count instead of each row's total",
        breaks=frozenset({"test_normalize_confusion"}),
        edits={"normalize_confusion": [("cm.sum(axis=1, keepdims=True)", "cm.sum()")]},
    ),
    "normalize_empty_row_uniform": Mistake(
        why="a row with no samples becomes uniform 1/K instead of staying all zeros",
        breaks=frozenset({"test_normalize_confusion"}),
        edits={
            "normalize_confusion": [
                ("out=np.zeros_like(cm)", "out=np.full_like(cm, 1.0 / len(cm))")
            ]
        },
    ),
    "normalize_keeps_integer_dtype": Mistake(
        why="the counts stay integers: dividing into an integer array fails",
        breaks=frozenset({"test_normalize_confusion"}),
        edits={
            "normalize_confusion": [
                ("cm = np.asarray(cm, dtype=np.float64)", "cm = np.asarray(cm)")
            ]
        },
    ),
}

DEMO_MISTAKE = "precision_recall_swapped"

# The threshold tests swap in reference functions, so every solution cell is its own family.
FAMILIES = [
    {"confusion_matrix"},
    {"precision_recall_f1"},
    {"threshold_sweep"},
    {"choose_threshold"},
    {"roc_curve"},
    {"auc"},
    {"normalize_confusion"},
]

# Correct in a different style: pure Python counting, sorting + cumulative sums for the
# ROC curve, loops, lists and NumPy scalars as return values.
ALTERNATIVE = {
    "confusion_matrix": """
def confusion_matrix(y_true, y_pred, labels=None):
    y_true, y_pred = list(np.asarray(y_true).ravel()), list(np.asarray(y_pred).ravel())
    if labels is None:
        labels = sorted(set(y_true) | set(y_pred))
    labels = list(labels)
    out = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(y_true, y_pred):
        if t in labels and p in labels:
            np.add.at(out, (labels.index(t), labels.index(p)), 1)
    return out
""",
    "precision_recall_f1": """
def precision_recall_f1(y_true, y_pred, zero_division=0.0):
    pairs = [(bool(t), bool(p)) for t, p in zip(np.ravel(y_true), np.ravel(y_pred))]
    tp = sum(t and p for t, p in pairs)
    fp = sum((not t) and p for t, p in pairs)
    fn = sum(t and (not p) for t, p in pairs)
    precision = tp / (tp + fp) if tp + fp else zero_division
    recall = tp / (tp + fn) if tp + fn else zero_division
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else zero_division
    return np.float64(precision), np.float64(recall), np.float64(f1)
""",
    "threshold_sweep": """
def threshold_sweep(y_true, scores, thresholds):
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=float)
    th = np.asarray(thresholds, dtype=float)
    predicted = s[np.newaxis, :] >= th[:, np.newaxis]
    tp = (predicted & y).sum(axis=1)
    n_predicted = predicted.sum(axis=1)
    precision = np.ones(len(th))
    np.divide(tp, n_predicted, out=precision, where=n_predicted > 0)
    return list(precision), list(tp / y.sum())
""",
    "choose_threshold": """
def choose_threshold(y_true, scores, min_recall):
    best = None
    for t in sorted(set(np.asarray(scores).tolist()), reverse=True):
        p, r = threshold_sweep(y_true, scores, [t])
        if r[0] >= min_recall:
            best = (t, p[0], r[0])
            break
    return best
""",
    "roc_curve": """
def roc_curve(y_true, scores):
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # end of each run of ties
    tps = np.cumsum(y)[last_of_each]
    fps = (last_of_each + 1) - tps
    tpr = np.r_[0, tps] / y.sum()
    fpr = np.r_[0, fps] / (len(y) - y.sum())
    return fpr, tpr, np.r_[np.inf, s[last_of_each]]
""",
    "auc": """
def auc(x, y):
    area = 0.0
    for i in range(len(x) - 1):
        area += (x[i + 1] - x[i]) * (y[i] + y[i + 1]) / 2
    return area
""",
    "normalize_confusion": """
def normalize_confusion(cm):
    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1)[:, None]
    safe = np.where(totals == 0, 1.0, totals)
    return cm / safe
""",
}
