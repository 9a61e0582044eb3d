"""Recommendation metrics: rating error (RMSE, MAE) and top-k ranking quality (precision, recall, NDCG).

Ranking metrics take, per user, the ranked list of recommended items and the set of relevant items (for
MovieLens, the held-out items rated >= 4), and average over users that have at least one relevant item.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape or t.size == 0:
        raise DataError(f"y_true and y_pred need the same non-zero length, got {t.size} and {p.size}")
    return t, p


def rmse(y_true, y_pred) -> float:
    """Root mean squared error of predicted ratings."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error of predicted ratings."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


Ranked = Mapping[Hashable, Sequence[Hashable]]
Relevant = Mapping[Hashable, Iterable[Hashable]]


def _users(recommended: Ranked, relevant: Relevant) -> list[tuple[list, set]]:
    rows = []
    for user, items in relevant.items():
        rel = set(items)
        if rel:
            rows.append((list(recommended.get(user, [])), rel))
    if not rows:
        raise DataError("no user has a relevant item: nothing to rank against")
    return rows


def precision_at_k(recommended: Ranked, relevant: Relevant, k: int = 10) -> float:
    """Mean over users of |top-k ∩ relevant| / k."""
    return float(np.mean([len(set(rec[:k]) & rel) / k for rec, rel in _users(recommended, relevant)]))


def recall_at_k(recommended: Ranked, relevant: Relevant, k: int = 10) -> float:
    """Mean over users of |top-k ∩ relevant| / |relevant|."""
    return float(np.mean([len(set(rec[:k]) & rel) / len(rel) for rec, rel in _users(recommended, relevant)]))


def ndcg_at_k(recommended: Ranked, relevant: Relevant, k: int = 10) -> float:
    """Mean over users of binary-relevance NDCG@k: DCG of the top k over the DCG of an ideal ranking."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    scores = []
    for rec, rel in _users(recommended, relevant):
        dcg = sum(discounts[i] for i, item in enumerate(rec[:k]) if item in rel)
        scores.append(dcg / discounts[: min(len(rel), k)].sum())
    return float(np.mean(scores))


def relevant_items(test: pd.DataFrame, threshold: float = 4.0) -> dict:
    """user -> set of held-out items rated at or above `threshold` (the usual 'liked' cut on a 1-5 scale)."""
    liked = test[test["rating"] >= threshold]
    return {u: set(g["item"]) for u, g in liked.groupby("user", sort=False)}


def ranking_metrics(recommended: Ranked, relevant: Relevant, k: int = 10) -> dict[str, float]:
    return {f"precision@{k}": precision_at_k(recommended, relevant, k),
            f"recall@{k}": recall_at_k(recommended, relevant, k),
            f"ndcg@{k}": ndcg_at_k(recommended, relevant, k)}


__all__ = ["mae", "ndcg_at_k", "precision_at_k", "ranking_metrics", "recall_at_k", "relevant_items", "rmse"]
