"""Evaluation metrics: the PhysioNet/CinC 2021 challenge score, macro AUROC/AUPRC/F1, thresholds.

Pure NumPy (no TensorFlow, no scikit-learn), so the CLI, notebooks and the firmware checks can
score predictions without importing a deep-learning stack.

The challenge score follows the published definition of the 2021 Challenge's
``evaluate_model.py``:

* a multi-label "modified confusion matrix" ``A`` (rows: true classes, columns: predicted
  classes) where every record adds ``1 / max(1, |labels ∪ outputs|)`` to ``A[i, j]`` for each
  true class ``i`` and predicted class ``j`` of that record;
* ``observed = Σ W ∘ A`` with the official reward matrix ``W`` (``weights.csv``);
* ``correct`` is the observed score of the labels themselves, ``inactive`` that of a classifier
  that outputs only the normal class (sinus rhythm, 426783006) for every record;
* ``score = (observed − inactive) / (correct − inactive)``, and ``0`` when
  ``correct == inactive`` (the official behaviour).

Decisions where our class spaces differ from the official one (documented and tested):

* Classes that are not among the 26 scored classes (an "all codes" label space) are ignored
  by the challenge score, exactly as the official scorer ignores unscored diagnoses.
* The normal class must be among the scored classes kept; the official code raises in that
  case and so do we (:func:`challenge_applicable` tells callers beforehand, so training can
  fall back to macro AUROC for label spaces such as PTB-XL superdiagnostic).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lrh_tflm.data.labels import NORMAL_CLASS, _weights_table, describe

#: Default probability grid for :func:`tune_thresholds`.
DEFAULT_GRID: np.ndarray = np.round(np.arange(0.02, 0.981, 0.02), 4)


# --------------------------------------------------------------------------- challenge score
def _scored_subset(classes: Sequence[str]) -> tuple[list[int], np.ndarray, int | None]:
    """Columns of ``classes`` that the Challenge scores, their reward matrix, the normal column."""
    official, matrix = _weights_table()
    index = {c: i for i, c in enumerate(official)}
    cols = [k for k, c in enumerate(classes) if str(c) in index]
    rows = [index[str(classes[k])] for k in cols]
    weights = matrix[np.ix_(rows, rows)]
    kept = [str(classes[k]) for k in cols]
    normal = kept.index(NORMAL_CLASS) if NORMAL_CLASS in kept else None
    return cols, weights, normal


def challenge_applicable(classes: Sequence[str]) -> bool:
    """Whether :func:`challenge_score` can score ``classes`` (the normal class is among them)."""
    return _scored_subset(classes)[2] is not None


def modified_confusion(labels: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """The Challenge's multi-label confusion matrix (rows: labels, columns: outputs).

    Parameters
    ----------
    labels, outputs
        Boolean arrays of shape (N, C).

    Returns
    -------
    numpy.ndarray
        (C, C) float64; record ``n`` adds ``1 / max(1, |labels_n ∪ outputs_n|)`` to every
        (true class, predicted class) pair of that record.
    """
    labels = np.asarray(labels, dtype=bool)
    outputs = np.asarray(outputs, dtype=bool)
    norm = np.maximum((labels | outputs).sum(axis=1), 1).astype(np.float64)
    return labels.T.astype(np.float64) @ (outputs / norm[:, None])


def _check_pair(labels, outputs, classes) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    outputs = np.asarray(outputs)
    if labels.ndim != 2 or labels.shape != outputs.shape:
        raise ValueError(f"labels {labels.shape} and outputs {outputs.shape} must both be N × C")
    if labels.shape[1] != len(classes):
        raise ValueError(f"{labels.shape[1]} columns but {len(classes)} class names")
    return labels.astype(bool), outputs.astype(bool)


def challenge_score(labels: np.ndarray, outputs: np.ndarray, classes: Sequence[str]) -> float:
    """The PhysioNet/CinC 2021 challenge metric of binary predictions.

    Parameters
    ----------
    labels
        Boolean (N, C) ground truth.
    outputs
        Boolean (N, C) predictions.
    classes
        Class names as in ``weights.csv`` (``"164889003"``, ``"733534002|164909002"``).
        Columns whose class is not scored by the Challenge are ignored.

    Returns
    -------
    float
        1 for perfect predictions, 0 for "always normal", negative for worse than that;
        0 when the labels themselves score the same as "always normal".

    Raises
    ------
    ValueError
        Shape mismatch, or the normal class 426783006 is not among ``classes``.
    """
    labels, outputs = _check_pair(labels, outputs, classes)
    cols, weights, normal = _scored_subset(classes)
    if normal is None:
        raise ValueError(f"the challenge score needs the normal class {NORMAL_CLASS} "
                         "(sinus rhythm) among the scored classes")
    labels, outputs = labels[:, cols], outputs[:, cols]
    observed = float(np.sum(weights * modified_confusion(labels, outputs)))
    correct = float(np.sum(weights * modified_confusion(labels, labels)))
    inactive_outputs = np.zeros_like(labels)
    inactive_outputs[:, normal] = True
    inactive = float(np.sum(weights * modified_confusion(labels, inactive_outputs)))
    if correct == inactive:
        return 0.0
    return (observed - inactive) / (correct - inactive)


# --------------------------------------------------------------------------- ranking metrics
@dataclass(frozen=True)
class MacroResult:
    """A macro-averaged metric and what went into it.

    Attributes
    ----------
    value
        Mean over the classes that could be scored (NaN when none could).
    per_class
        Per-class values, NaN where a class was skipped.
    skipped
        Number of classes skipped (no positives or no negatives).
    """

    value: float
    per_class: np.ndarray
    skipped: int

    def __float__(self) -> float:
        return float(self.value)


def _macro(values: list[float]) -> MacroResult:
    per = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(per)
    value = float(per[ok].mean()) if ok.any() else float("nan")
    return MacroResult(value, per, int((~ok).sum()))


def _scorable(y_col: np.ndarray) -> bool:
    n_pos = int(y_col.sum())
    return 0 < n_pos < y_col.size


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve of one class (Mann–Whitney U with average ranks for ties).

    Returns NaN when ``y`` has no positives or no negatives.
    """
    y = np.asarray(y, dtype=bool).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if not _scorable(y):
        return float("nan")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    ranks = _average_ranks(p)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, ties sharing their average rank."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # Boundaries of runs of equal values in the sorted array.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], x.size]
    avg = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 … ends
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auprc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision–recall curve of one class (average precision).

    Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct score thresholds, highest first; tied scores form one
    step.  Returns NaN when ``y`` has no positives or no negatives.
    """
    y = np.asarray(y, dtype=bool).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if not _scorable(y):
        return float("nan")
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(~ys)
    # Keep the last index of every run of tied scores: one operating point per threshold.
    last = np.r_[ps[1:] != ps[:-1], True]
    tp, fp = tp[last].astype(np.float64), fp[last].astype(np.float64)
    recall = tp / tp[-1]
    precision = tp / (tp + fp)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _per_class(fn, y: np.ndarray, p: np.ndarray) -> MacroResult:
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2:
        raise ValueError(f"y {y.shape} and scores {p.shape} must both be N × C")
    return _macro([fn(y[:, c], p[:, c]) for c in range(y.shape[1])])


def macro_auroc(y: np.ndarray, p: np.ndarray) -> MacroResult:
    """Macro AUROC over classes; classes without positives or negatives are skipped and counted."""
    return _per_class(auroc, y, p)


def macro_auprc(y: np.ndarray, p: np.ndarray) -> MacroResult:
    """Macro AUPRC (average precision); classes without positives or negatives are skipped."""
    return _per_class(auprc, y, p)


def f1(y: np.ndarray, pred: np.ndarray) -> float:
    """F1 of one class; NaN when ``y`` has no positives or no negatives."""
    y = np.asarray(y, dtype=bool).ravel()
    pred = np.asarray(pred, dtype=bool).ravel()
    if not _scorable(y):
        return float("nan")
    tp = np.sum(y & pred)
    return float(2 * tp / (2 * tp + np.sum(~y & pred) + np.sum(y & ~pred)))


def macro_f1(y: np.ndarray, pred: np.ndarray) -> MacroResult:
    """Macro F1 of binary predictions; classes without positives or negatives are skipped."""
    return _per_class(f1, y, np.asarray(pred, dtype=bool))


# --------------------------------------------------------------------------- thresholds
def binarise(probs: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """Predictions ``probs >= thresholds`` (per-class thresholds broadcast over records).

    A record with no class above its threshold stays all-false, as in the Challenge.
    """
    return np.asarray(probs) >= np.asarray(thresholds)


def tune_thresholds(y: np.ndarray, probs: np.ndarray, classes: Sequence[str], *,
                    grid: Sequence[float] | None = None, start: float = 0.5,
                    max_passes: int = 5) -> np.ndarray:
    """Per-class probability thresholds that maximise the challenge score (coordinate ascent).

    Each pass visits the classes in turn and moves that class's threshold to the grid value
    with the best score (the middle of a plateau of equal scores), the others held fixed;
    passes repeat until none improves.  The score
    is updated incrementally (one class column at a time), so 1000 records × 26 classes × 49
    grid values take milliseconds per pass.

    Parameters
    ----------
    y
        Boolean (N, C) validation labels.
    probs
        (N, C) probabilities (sigmoid of the logits).
    classes
        Class names as in ``weights.csv``.  When the challenge score does not apply to them
        (no normal class), thresholds maximise macro F1 per class instead.
    grid
        Candidate thresholds (default :data:`DEFAULT_GRID`, 0.02 … 0.98).
    start
        Initial threshold of every class; kept unless a grid value is strictly better.
    max_passes
        Upper bound on coordinate-ascent passes.

    Returns
    -------
    numpy.ndarray
        float32 (C,) thresholds.
    """
    y, _ = _check_pair(y, probs, classes)
    probs = np.asarray(probs, dtype=np.float64)
    grid = np.asarray(DEFAULT_GRID if grid is None else grid, dtype=np.float64)
    n_classes = y.shape[1]
    thr = np.full(n_classes, float(start))
    if not challenge_applicable(classes):
        return _tune_f1(y, probs, grid, thr).astype(np.float32)

    cols, weights, _ = _scored_subset(classes)
    # Classes the Challenge does not score cannot change its score; keep their start value.
    ys = y[:, cols]
    ps = probs[:, cols]
    t = thr[cols]
    reward = ys.astype(np.float64) @ weights        # (N, K): reward of predicting each class
    out = ps >= t
    num = np.sum(reward * out, axis=1)              # Σ_j∈L Σ_k∈O W[j,k] per record
    union = np.sum(ys | out, axis=1)
    best = np.sum(num / np.maximum(union, 1))
    cand = ps[None, :, :] >= grid[:, None, None]     # (G, N, K) candidate outputs
    for _ in range(max_passes):
        improved = False
        for k in range(len(cols)):
            old = out[:, k]
            num_wo = num - reward[:, k] * old
            union_wo = union - (ys[:, k] | old)
            new = cand[:, :, k]                          # (G, N)
            scores = np.sum((num_wo + reward[:, k] * new)
                            / np.maximum(union_wo + (ys[:, k] | new), 1), axis=1)
            g = _plateau_middle(scores)
            if scores[g] > best + 1e-12:
                best = float(scores[g])
                t[k] = grid[g]
                out[:, k] = new[g]
                num = num_wo + reward[:, k] * new[g]
                union = union_wo + (ys[:, k] | new[g])
                improved = True
        if not improved:
            break
    thr[cols] = t
    return thr.astype(np.float32)


def _plateau_middle(scores: np.ndarray) -> int:
    """Index of the middle grid value among those tying for the best score.

    Any threshold on the plateau is equally good on validation; its middle leaves the most
    margin on both sides for unseen records.
    """
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return int(best[len(best) // 2])


def _tune_f1(y: np.ndarray, probs: np.ndarray, grid: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """Per-class thresholds maximising each class's F1 (classes are independent here)."""
    for c in range(y.shape[1]):
        if not _scorable(y[:, c]):
            continue
        pred = probs[None, :, c] >= grid[:, None]
        tp = np.sum(pred & y[None, :, c], axis=1)
        fp = np.sum(pred & ~y[None, :, c], axis=1)
        fn = np.sum(~pred & y[None, :, c], axis=1)
        scores = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        current = f1(y[:, c], probs[:, c] >= thr[c])
        g = _plateau_middle(scores)
        if scores[g] > current + 1e-12:
            thr[c] = grid[g]
    return thr


# --------------------------------------------------------------------------- reports
def per_class_table(y: np.ndarray, probs: np.ndarray, classes: Sequence[str],
                    thresholds: np.ndarray | float = 0.5,
                    abbreviations: Sequence[str] | None = None) -> list[dict]:
    """One row per class: counts, sensitivity, precision, F1, AUROC, AUPRC, threshold.

    Returns
    -------
    list of dict
        JSON-friendly rows (NaN where a value is undefined for that class).
    """
    y, _ = _check_pair(y, probs, classes)
    probs = np.asarray(probs, dtype=np.float64)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (len(classes),))
    pred = binarise(probs, thresholds)
    rows = []
    for c, name in enumerate(classes):
        yc, pc = y[:, c], pred[:, c]
        tp = int(np.sum(yc & pc))
        fp = int(np.sum(~yc & pc))
        fn = int(np.sum(yc & ~pc))
        rows.append({
            "class": str(name),
            "abbreviation": str(abbreviations[c]) if abbreviations is not None else "",
            "description": describe(str(name)),
            "positives": int(yc.sum()),
            "predicted": int(pc.sum()),
            "tp": tp, "fp": fp, "fn": fn,
            "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "f1": f1(yc, pc),
            "auroc": auroc(yc, probs[:, c]),
            "auprc": auprc(yc, probs[:, c]),
            "threshold": float(thresholds[c]),
        })
    return rows


def evaluate(y: np.ndarray, probs: np.ndarray, classes: Sequence[str],
             thresholds: np.ndarray | float = 0.5,
             abbreviations: Sequence[str] | None = None) -> dict:
    """All headline metrics of probabilities against labels.

    Returns
    -------
    dict
        ``score`` (challenge score, NaN when it does not apply to ``classes``), ``auroc``,
        ``auprc``, ``f1`` (macro), ``skipped`` (classes left out of the macro averages for
        lack of positives or negatives), ``n`` records and ``per_class`` rows.
    """
    y, _ = _check_pair(y, probs, classes)
    pred = binarise(probs, np.broadcast_to(np.asarray(thresholds, dtype=np.float64),
                                           (len(classes),)))
    score = (challenge_score(y, pred, classes) if challenge_applicable(classes)
             else float("nan"))
    roc = macro_auroc(y, probs)
    return {
        "score": score,
        "auroc": roc.value,
        "auprc": macro_auprc(y, probs).value,
        "f1": macro_f1(y, pred).value,
        "skipped": roc.skipped,
        "n": int(y.shape[0]),
        "per_class": per_class_table(y, probs, classes, thresholds, abbreviations),
    }


__all__ = [
    "DEFAULT_GRID", "challenge_applicable", "modified_confusion", "challenge_score",
    "MacroResult", "auroc", "auprc", "macro_auroc", "macro_auprc", "f1", "macro_f1",
    "binarise", "tune_thresholds", "per_class_table", "evaluate",
]
