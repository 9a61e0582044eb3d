"""Anomaly-detection metrics: ROC AUC and average precision (labels: 1 = anomaly, scores: higher = more anomalous)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from ..errors import DataError


def anomaly_metrics(y_true, scores) -> dict[str, float]:
    y = np.asarray(y_true).astype(int).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if len(y) != len(s):
        raise DataError(f"{len(y)} labels but {len(s)} scores")
    if set(np.unique(y)) != {0, 1}:
        raise DataError("anomaly labels must contain both 0 (normal) and 1 (anomaly)")
    return {"roc_auc": float(roc_auc_score(y, s)), "average_precision": float(average_precision_score(y, s)),
            "n": len(y), "anomaly_rate": float(y.mean())}


def roc_points(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    fpr, tpr, _ = roc_curve(np.asarray(y_true).astype(int), np.asarray(scores, dtype=np.float64))
    return fpr, tpr
