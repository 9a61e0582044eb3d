"""Recommendation: evaluate a fitted RatingsRBM on held-out ratings (rating error and top-k ranking quality)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..metrics.recsys import mae, ranking_metrics, relevant_items, rmse
from ..models.rbm_cf import RatingsRBM


def evaluate_recommender(model: RatingsRBM, test: pd.DataFrame, k: int = 10,
                         like_threshold: float = 4.0) -> dict[str, Any]:
    """RMSE and MAE of the predicted ratings of `test`, and precision/recall/NDCG@k of each known user's top-k
    list (seen items excluded) against the test items the user rated >= like_threshold."""
    test = model._check(test, "test ratings")
    pred = model.predict(test["user"].to_numpy(), test["item"].to_numpy())
    truth = test["rating"].to_numpy()
    known_user = model._user_index(test["user"].to_numpy()) >= 0
    known_item = model._item_index(test["item"].to_numpy()) >= 0
    out: dict[str, Any] = {"rmse": rmse(truth, pred), "mae": mae(truth, pred), "n_ratings": len(test),
                           "cold_start_ratings": int((~(known_user & known_item)).sum())}
    relevant = {u: items for u, items in relevant_items(test, like_threshold).items()
                if model._user_index([u])[0] >= 0}
    if relevant:
        users = list(relevant)
        scores = model.predict_all(users)
        rows = model._user_index(users)
        scores[model.train_matrix_[rows] > 0] = -np.inf  # rank only items the user has not rated
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        recommended = {u: list(model.items_[t]) for u, t in zip(users, top, strict=True)}
        out.update(ranking_metrics(recommended, relevant, k))
        out["ranked_users"] = len(users)
    return out


__all__ = ["evaluate_recommender"]
