"""Recommendation: train a ratings RBM into a run folder, and evaluate a recommender on held-out ratings
(rating error and top-k ranking quality)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.ratings import load_ratings
from ..errors import DataError
from ..metrics.recsys import mae, ranking_metrics, relevant_items, rmse
from ..models import RatingsRBM, TrainedModel
from ..train import check_run_folder
from ..train.tblog import check_logger
from .train import make_model, saved_params


def train_recommender_run(ratings_spec: str | Path, out: str | Path, *, fold: int | None = None,
                          params: Mapping[str, Any] | None = None, config: Mapping[str, Any] | None = None,
                          epochs: int | None = None, seed: int | None = None, resume: bool = False,
                          overwrite: bool = False, quiet: bool = False, log: str | None = None) -> RatingsRBM:
    """Train a RatingsRBM on a ratings spec (`movielens:DIR`: all of u.data, or u<fold>.base with `fold`;
    `csv:FILE`) and write its run folder `out` (config, checkpoint, metrics.jsonl, the saved model).

    Hyperparameters: `config` (e.g. a config file's mapping), then `params` over it, then `epochs`/`seed`;
    `quiet` sets verbose=0. A folder that already holds a run is refused unless `resume` (continue it from its
    checkpoint) or `overwrite` (replace it). `log="tensorboard"`: live curves in out/tb/. Returns the fitted
    model."""
    check_run_folder(out, resume, overwrite)
    check_logger(log, Path(out))
    saved = saved_params(Path(out), RatingsRBM, "drop --resume to start a new run") if resume else None
    model = make_model(RatingsRBM, saved=saved, config=dict(config or {}), quiet=quiet, params=dict(params or {}),
                       named={"epochs": epochs, "seed": seed})
    # any finite rating here: fit checks the hyperparameters first, then the ratings against rating_scale
    table = load_ratings(ratings_spec, "all" if fold is None else "train", fold=fold or 1, scale=None)
    model.fit(table, run_dir=out, resume=resume, overwrite=overwrite, logger=log)
    model.save(out)
    return model


def evaluate_recommender(model: TrainedModel, test: pd.DataFrame, k: int = 10,
                         like_threshold: float = 4.0) -> dict[str, Any]:
    """RMSE and MAE of the predicted ratings of `test`, and precision/recall/NDCG@k of each known user's top-k
    list (seen items excluded) against the test items the user rated >= like_threshold."""
    if not model.supports("recommend"):
        raise DataError(f"a {type(model).__name__} is not a recommender; train one with `genmodels recommend train`")
    test = model.validate_ratings(test, "test ratings")
    pred = model.predict(test["user"].to_numpy(), test["item"].to_numpy())
    truth = test["rating"].to_numpy()
    known_user = model.user_index(test["user"].to_numpy()) >= 0
    known_item = model.item_index(test["item"].to_numpy()) >= 0
    out: dict[str, Any] = {"rmse": rmse(truth, pred), "mae": mae(truth, pred), "n_ratings": len(test),
                           "cold_start_ratings": int((~(known_user & known_item)).sum())}
    relevant = {u: items for u, items in relevant_items(test, like_threshold).items()
                if model.user_index([u])[0] >= 0}
    if relevant:
        users = list(relevant)
        scores = model.predict_all(users)
        rows = model.user_index(users)
        scores[model.train_matrix_[rows] > 0] = -np.inf  # rank only items the user has not rated
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        recommended = {u: list(model.items_[t]) for u, t in zip(users, top, strict=True)}
        out.update(ranking_metrics(recommended, relevant, k))
        out["ranked_users"] = len(users)
    return out


__all__ = ["evaluate_recommender", "train_recommender_run"]
