"""Likelihood helpers: baselines that every density model should beat."""

from __future__ import annotations

import numpy as np


def independent_bernoulli_log_likelihood(train: np.ndarray, test: np.ndarray, smoothing: float = 1.0) -> float:
    """Mean test log-likelihood (nats per row) of independent per-feature Bernoullis fitted on `train`
    with Laplace smoothing: the floor any model of binary(-ish) data must beat."""
    train = np.asarray(train, np.float64).reshape(len(train), -1)
    test = np.asarray(test, np.float64).reshape(len(test), -1)
    p = (train.sum(0) + smoothing) / (len(train) + 2 * smoothing)
    return float((test * np.log(p) + (1 - test) * np.log1p(-p)).sum(1).mean())
