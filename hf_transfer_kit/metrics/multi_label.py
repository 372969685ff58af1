"""Multi-label scores from sigmoid probabilities, and the validation-split threshold search.

Plain numpy (true / false positives per label) rather than ``evaluate`` modules: the threshold search scores
19 candidate thresholds per label, and the counts make that one vectorised pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Candidate thresholds: 0.05, 0.10, ..., 0.95.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def sigmoid(logits: Any) -> np.ndarray:
    if isinstance(logits, tuple):
        logits = logits[0]
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def _counts(predicted: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives, false negatives per label (last axis)."""
    truth = labels > 0.5
    return ((predicted & truth).sum(-2), (predicted & ~truth).sum(-2), (~predicted & truth).sum(-2))


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros(np.shape(tp), dtype=float), where=denominator > 0)


def multi_label_scores(probs: np.ndarray, labels: np.ndarray, thresholds: Any) -> dict[str, float]:
    """Micro / macro F1, micro precision and recall, subset accuracy (exact set match), label accuracy."""
    predicted = probs >= np.asarray(thresholds)
    truth = labels > 0.5
    tp, fp, fn = _counts(predicted, labels)
    micro_p = tp.sum() / max(tp.sum() + fp.sum(), 1)
    micro_r = tp.sum() / max(tp.sum() + fn.sum(), 1)
    return {"micro_f1": float(_f1(tp.sum(), fp.sum(), fn.sum())), "macro_f1": float(_f1(tp, fp, fn).mean()),
            "micro_precision": float(micro_p), "micro_recall": float(micro_r),
            "subset_accuracy": float(np.mean(np.all(predicted == truth, axis=-1))),
            "label_accuracy": float(np.mean(predicted == truth))}


def per_label_scores(probs: np.ndarray, labels: np.ndarray, thresholds: Any,
                     names: Sequence[str]) -> dict[str, dict[str, float]]:
    """F1, precision, recall and support of each label."""
    tp, fp, fn = _counts(probs >= np.asarray(thresholds), labels)
    f1 = _f1(tp, fp, fn)
    return {name: {"f1": float(f1[i]), "precision": float(tp[i] / max(tp[i] + fp[i], 1)),
                   "recall": float(tp[i] / max(tp[i] + fn[i], 1)), "support": int(tp[i] + fn[i])}
            for i, name in enumerate(names)}


def _best(scores: np.ndarray, prefer: float) -> float:
    """The grid threshold with the highest score; ties go to the one closest to ``prefer``."""
    top = np.flatnonzero(np.isclose(scores, scores.max()))
    return float(THRESHOLD_GRID[top[np.argmin(np.abs(THRESHOLD_GRID[top] - prefer))]])


def tune_thresholds(probs: np.ndarray, labels: np.ndarray, per_label: bool = False,
                    default: float = 0.5) -> np.ndarray:
    """Thresholds (one per label) that maximise F1 on held-out data.

    Global: the one threshold with the best micro F1. Per label: each label's own best F1, starting from the
    global choice; a label with no positive example keeps the global threshold (its F1 cannot be measured).
    """
    predicted = probs[None] >= THRESHOLD_GRID[:, None, None]  # (grid, examples, labels)
    tp, fp, fn = _counts(predicted, labels[None])
    overall = _best(_f1(tp.sum(-1), fp.sum(-1), fn.sum(-1)), default)
    thresholds = np.full(labels.shape[-1], overall)
    if per_label:
        f1 = _f1(tp, fp, fn)
        for j in np.flatnonzero(labels.sum(0) > 0):
            thresholds[j] = _best(f1[:, j], overall)
    return thresholds
