"""Regression scores: errors in the target's units and rank / linear agreement."""

from __future__ import annotations

from typing import Any

import numpy as np


def regression_scores(predictions: Any, targets: Any) -> dict[str, float]:
    """MSE, RMSE, MAE, Pearson and Spearman correlation. The correlations are 0 when either side is constant
    (they are undefined there; a constant predictor has no linear or rank agreement to report)."""
    from scipy.stats import pearsonr, spearmanr

    pred = np.asarray(predictions, dtype=np.float64).reshape(-1)
    true = np.asarray(targets, dtype=np.float64).reshape(-1)
    error = pred - true
    mse = float(np.mean(error ** 2))
    varying = len(pred) > 1 and np.ptp(pred) > 0 and np.ptp(true) > 0
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(error))),
            "pearson": float(pearsonr(pred, true)[0]) if varying else 0.0,
            "spearman": float(spearmanr(pred, true)[0]) if varying else 0.0}
