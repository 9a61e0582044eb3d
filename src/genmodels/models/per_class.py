"""Class-conditional generation from any unconditional family: one copy of the model per class, each fitted
on that class's rows (how an RBM becomes a "per-class RBM" for augmentation)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..data import as_dataset
from ..errors import DataError
from .array import ArrayModel, row_shape
from .base import CAPABILITIES


class PerClassModel(BaseEstimator):
    """Meta-estimator: `fit(X, y)` fits one `sklearn.base.clone(estimator)` per class on that class's rows.

    sample(n, y): each requested label is drawn from its own class model, so the labels are exact; without y
        the labels are drawn with the training class frequencies.
    transform(X): the class models' features side by side, (N, n_classes * features per model).
    score_samples(X): the best class's score per row (max over classes). The class models' scores are not
        normalised against each other (an RBM's partition function differs per class), so this is a proxy.
    reconstruct(X): each row reconstructed by the class model that scores it highest.
    seed: class i's model gets seed + i (when the estimator has a `seed` parameter), so classes do not share
        random streams. save/load are not provided: keep the per-class models with `estimators_[i].save`.
    """

    family = "per_class"
    capabilities = frozenset({"sample", "conditional", "transform", "reconstruct", "anomaly"})

    def __init__(self, estimator: Any = None, seed: int = 0):
        self.estimator = estimator
        self.seed = seed

    def fit(self, X, y=None, **fit_params):
        if self.estimator is None:
            raise DataError("PerClassModel needs an estimator, e.g. PerClassModel(RBM(n_hidden=128))")
        if y is None:
            raise DataError("PerClassModel fits one model per class: call fit(X, y) with labels")
        data = as_dataset(X, y, what="X")
        raw_shape = row_shape(X)  # so each class model's samples come back shaped like X's rows
        rows = data.X.reshape(len(data), *raw_shape) if math.prod(raw_shape) == data.n_features else data.X
        self.classes_ = list(data.classes)
        counts = np.bincount(data.y, minlength=len(self.classes_))
        self.class_prior_ = counts / counts.sum()
        started = time.perf_counter()
        self.estimators_ = []
        for i in range(len(self.classes_)):
            model = clone(self.estimator)
            if "seed" in model.get_params(deep=False):
                model.set_params(seed=int(self.seed) + i)
            model._progress_label = f"{type(model).__name__} class {self.classes_[i]}"  # its progress bar's name
            self.estimators_.append(model.fit(rows[data.y == i], **fit_params))
        self.train_seconds_ = time.perf_counter() - started
        first = self.estimators_[0]
        for name in ("input_shape_", "data_shape_", "n_features_in_"):
            if hasattr(first, name):
                setattr(self, name, getattr(first, name))
        self.device_ = getattr(first, "device_", torch.device("cpu"))
        return self

    # --- what the apps ask of a conditional generative model ---------------------------------------------------
    @property
    def n_classes_(self) -> int:
        return len(getattr(self, "classes_", []))

    def supports(self, capability: str) -> bool:
        """What the wrapped family can do, given per class (always conditional)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}; known: {sorted(CAPABILITIES)}")
        inner = self.estimator.supports(capability) if hasattr(self.estimator, "supports") else True
        return capability in self.capabilities and (capability == "conditional" or inner)

    def is_conditional(self) -> bool:
        return True

    def validate_X(self, X, what: str = "X"):
        check_is_fitted(self, "estimators_")
        return self.estimators_[0].validate_X(X, what)

    def rows_of(self, X, what: str = "X") -> np.ndarray:
        check_is_fitted(self, "estimators_")
        return self.estimators_[0].rows_of(X, what)

    def _label_codes(self, y, n: int, rng: np.random.Generator) -> np.ndarray:
        if y is None:
            return rng.choice(self.n_classes_, size=n, p=self.class_prior_)
        return ArrayModel.label_codes(self, y, n)  # the same checks and messages as every conditional family

    def sample(self, n: int, y=None, *, seed: int | None = None) -> np.ndarray:
        """n samples; row i comes from the model of class y[i] (one label or n labels). `seed=` gives a
        repeatable draw (class i's model draws with seed + i)."""
        check_is_fitted(self, "estimators_")
        if not isinstance(n, int | np.integer) or n < 1:
            raise DataError(f"n must be a positive integer, got {n!r}")
        rng = np.random.default_rng(None if seed is None else int(seed))
        codes = self._label_codes(y, int(n), rng)
        out = None
        for c in np.unique(codes):
            rows = np.flatnonzero(codes == c)
            part = self.estimators_[c].sample(len(rows), seed=None if seed is None else int(seed) + int(c))
            if out is None:
                out = np.empty((int(n), *part.shape[1:]), dtype=part.dtype)
            out[rows] = part
        return out

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        return np.concatenate([np.asarray(m.transform(X)).reshape(len(X), -1) for m in self.estimators_], 1)

    def _class_scores(self, X) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        return np.stack([np.asarray(m.score_samples(X)) for m in self.estimators_], 1)

    def score_samples(self, X) -> np.ndarray:
        return self._class_scores(X).max(1)

    def score(self, X, y=None) -> float:
        return float(np.mean(self.score_samples(X)))

    def anomaly_score(self, X, part: str | None = None) -> np.ndarray:
        """The lowest class model's anomaly score per row (a row is normal when some class explains it)."""
        check_is_fitted(self, "estimators_")
        return np.stack([np.asarray(m.anomaly_score(X, part)) for m in self.estimators_], 1).min(1)

    def reconstruct(self, X) -> np.ndarray:
        best = self._class_scores(X).argmax(1)
        out = None
        for c in np.unique(best):
            rows = np.flatnonzero(best == c)
            part = np.asarray(self.estimators_[c].reconstruct(np.asarray(X)[rows]))
            if out is None:
                out = np.empty((len(best), *part.shape[1:]), dtype=part.dtype)
            out[rows] = part
        return out
