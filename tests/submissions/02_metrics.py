"""Typical mistakes in 02_metrics, and a different but correct solution.

Each mistake is a small edit of the instructor solution and names the test cells it must
fail; every other test must keep its points. The threshold tests run with a reference
precision_recall_f1 / threshold_sweep standing in for the student's, so a mistake costs
the points of its own exercise only. The written answer (ethics_answer) is graded by hand
and is never part of a mistake.
"""

from attention_grader.submissions import Mistake

MISTAKES = {
    # --- exercise 1: confusion matrix ------------------------------------------------
    "confusion_transposed": Mistake(
        why="rows = predicted class, columns = true class (the transpose)",
        breaks=frozenset({"test_confusion_matrix"}),
        edits={"confusion_matrix": [("matrix[index[t], index[p]] += 1",
                                     "matrix[index[p], index[t]] += 1")]},
    ),
    "confusion_labels_from_true_only": Mistake(
        why="labels=None takes the classes of y_true only: a class only predicted is lost",
        breaks=frozenset({"test_confusion_matrix"}),
        edits={"confusion_matrix": [("np.unique(np.concatenate([y_true, y_pred]))",
                                     "np.unique(y_true)")]},
    ),
    # --- exercise 2: precision, recall, F1 --------------------------------------------
    "precision_recall_swapped": Mistake(
        why="precision = TP / (TP + FN) and recall = TP / (TP + FP): swapped",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={"precision_recall_f1": [(
            "return ratio(tp, tp + fp), ratio(tp, tp + fn),",
            "return ratio(tp, tp + fn), ratio(tp, tp + fp),")]},
    ),
    "f1_arithmetic_mean": Mistake(
        why="F1 as the arithmetic mean of precision and recall",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={"precision_recall_f1": [(
            "    return ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)",
            "    p, r = ratio(tp, tp + fp), ratio(tp, tp + fn)\n    return p, r, (p + r) / 2")]},
    ),
    "zero_division_nan": Mistake(
        why="0/0 computed with NumPy: nan instead of the zero_division value",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={"precision_recall_f1": [(
            "return float(num / den) if den > 0 else float(zero_division)",
            "return float(np.float64(num) / den)")]},
    ),
    "zero_division_ignored": Mistake(
        why="an undefined ratio is always 0.0, whatever zero_division says",
        breaks=frozenset({"test_precision_recall_f1"}),
        edits={"precision_recall_f1": [("else float(zero_division)", "else 0.0")]},
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
    # --- exercise 4: choose a threshold -----------------------------------------------
    "choose_smallest_threshold": Mistake(
        why="the smallest threshold reaching the recall (everything positive)",
        breaks=frozenset({"test_choose_threshold"}),
        edits={"choose_threshold": [("best = ok.max()", "best = ok.min()")]},
    ),
    # --- exercise 5: ROC curve ----------------------------------------------------------
    "roc_from_hard_labels": Mistake(
        why="ROC computed from predictions thresholded at 0.5, not from the scores",
        breaks=frozenset({"test_roc_curve"}),
        edits={"roc_curve": [(
            "scores = np.asarray(scores, dtype=np.float64).ravel()\n",
            "scores = np.asarray(scores, dtype=np.float64).ravel()\n"
            "    scores = (scores >= 0.5).astype(np.float64)\n")]},
    ),
    "roc_thresholds_increasing": Mistake(
        why="thresholds in increasing order: the curve runs from (1, 1) back to (0, 0)",
        breaks=frozenset({"test_roc_curve"}),
        edits={"roc_curve": [("np.unique(scores)[::-1]", "np.unique(scores)")]},
    ),
    # --- exercise 6: AUC -------------------------------------------------------------------
    "auc_left_rectangles": Mistake(
        why="left rectangles instead of trapezoids",
        breaks=frozenset({"test_auc"}),
        edits={"auc": [("(y[1:] + y[:-1]) / 2", "y[:-1]")]},
    ),
    # --- exercise 7: normalized confusion matrix -------------------------------------------
    "normalize_over_columns": Mistake(
        why="normalised by the predicted class (columns) instead of the true class (rows)",
        breaks=frozenset({"test_normalize_confusion"}),
        edits={"normalize_confusion": [("cm.sum(axis=1, keepdims=True)",
                                        "cm.sum(axis=0, keepdims=True)")]},
    ),
    "normalize_nan_on_empty_row": Mistake(
        why="plain division: an empty row becomes 0/0 = nan",
        breaks=frozenset({"test_normalize_confusion"}),
        edits={"normalize_confusion": [(
            "np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)", "cm / totals")]},
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
    "confusion_matrix": '''
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
''',
    "precision_recall_f1": '''
def precision_recall_f1(y_true, y_pred, zero_division=0.0):
    pairs = [(bool(t), bool(p)) for t, p in zip(np.ravel(y_true), np.ravel(y_pred))]
    tp = sum(t and p for t, p in pairs)
    fp = sum((not t) and p for t, p in pairs)
    fn = sum(t and (not p) for t, p in pairs)
    precision = tp / (tp + fp) if tp + fp else zero_division
    recall = tp / (tp + fn) if tp + fn else zero_division
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else zero_division
    return np.float64(precision), np.float64(recall), np.float64(f1)
''',
    "threshold_sweep": '''
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
''',
    "choose_threshold": '''
def choose_threshold(y_true, scores, min_recall):
    best = None
    for t in sorted(set(np.asarray(scores).tolist()), reverse=True):
        p, r = threshold_sweep(y_true, scores, [t])
        if r[0] >= min_recall:
            best = (t, p[0], r[0])
            break
    return best
''',
    "roc_curve": '''
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
''',
    "auc": '''
def auc(x, y):
    area = 0.0
    for i in range(len(x) - 1):
        area += (x[i + 1] - x[i]) * (y[i] + y[i + 1]) / 2
    return area
''',
    "normalize_confusion": '''
def normalize_confusion(cm):
    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1)[:, None]
    safe = np.where(totals == 0, 1.0, totals)
    return cm / safe
''',
}
