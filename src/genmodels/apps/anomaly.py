"""Anomaly detection with generative models: train on (mostly) normal data; rows the model finds improbable
are anomalies. The PyOD / scikit-learn detector surface, with the VAE, RBM or GAN as the density model, or
an ensemble of the three.

Scores, higher = more anomalous:
  vae: `vae_score="bound"`: the negative IWAE bound on log p(x); `"rate"`: KL(q(z|x) || p(z)), how far the
       encoder must move the row's posterior from the prior (Alemi et al. 2018); `"both"`: the two, each
       standardised by its median/MAD on the training rows, averaged. "auto" (the default) is "both" for a
       Gaussian VAE (vectors) inside the ensemble, else "bound". The two see different anomalies: the bound's
       reconstruction term, rows off the manifold the decoder learned; the rate, rows on it but far from where
       the training rows sit (where IForest is strong). Alone, the rate is erratic (ADBench mean ROC AUC 0.89
       against the bound's 0.86, but 0.64 against 0.96 on one-class sklearn digits and 0.58 against 0.89 on
       one-class MNIST, where a digit with fewer strokes needs less information to encode whatever it looks
       like), so a lone VAE keeps the bound; inside the ensemble it adds the one kind of evidence the other
       families lack (see benchmarks/results/README.md).
  rbm: free energy (Gaussian visible units for real-valued features, Bernoulli for [0, 1] images),
  gan: reconstruction error |x - G(E(x))|^2 through the encoder trained with the GAN (EGBAD-style; the
       discriminator logit is left out: on ADBench's thyroid it pulled ROC AUC from 0.86 down to 0.55),
  ensemble: each family's score standardised by the median and MAD of its training scores, averaged. Robust
       statistics matter here: a family whose scores have a heavy tail (the Gaussian VAE's bound on rows far
       outside the data) otherwise sets the mean and sd and drowns the other families (ADBench cardio: 0.78
       with mean/sd, 0.92 with median/MAD).

Training data is assumed to be *mostly* normal. With `trim` > 0 (the default) each family is fitted twice:
once on all rows, then again on the rows its first fit scores below the top `trim` quantile, with the feature
scaling refitted on those rows too. The anomalies the first fit absorbed are then out of the second fit's
data, so they stand out instead of being modelled (on the 8 ADBench sets: mean ROC AUC of the RBM 0.863 ->
0.900, GAN 0.846 -> 0.890, ensemble 0.883 -> 0.903, seed 0; see benchmarks/results/README.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from ..data import DataInfo, Dataset, as_dataset
from ..errors import DataError
from ..models import FAMILIES as REGISTRY

FAMILIES = ("vae", "rbm", "gan")
VAE_SCORES = ("auto", "bound", "rate", "both")


def saved_model_score(model, X, vae_score: str = "auto") -> np.ndarray:
    """Scores from a model trained outside a detector (`genmodels detect RUN`). No training scores were kept, so
    a model scoring several parts ("both") standardises each by the scored rows' own median/MAD."""
    if not model.supports("anomaly"):
        raise DataError(f"a {type(model).__name__} model has no anomaly score; use a model that declares one "
                        "(VAE, RBM, GAN with its encoder, DBN)")
    return model_anomaly_score(model, X, vae_score)[0]


def anomaly_parts(model, vae_score: str, ensemble: bool = False) -> tuple[str | None, ...]:
    """The named parts of `model.anomaly_score` to average for `vae_score` (the option applies to families
    with named parts, the VAE's bound and rate); (None,) for a family's one score."""
    names = getattr(model, "anomaly_part_names", ())
    if not names:
        return (None,)
    if vae_score == "auto":
        return model.anomaly_parts(ensemble)
    return names if vae_score == "both" else (vae_score,)


def model_anomaly_score(model, X, vae_score: str = "auto", ensemble: bool = False,
                        stats: dict[str, tuple[float, float]] | None = None) -> tuple[np.ndarray, dict]:
    """A fitted model's anomaly score per row for `vae_score`, and the (median, MAD) per part it was standardised
    with. Several parts ("both") are each standardised by `stats` (None: by the scored rows themselves) and
    averaged; "auto" is the model's own choice (`anomaly_parts`, see the module doc)."""
    parts = anomaly_parts(model, vae_score, ensemble)
    if len(parts) == 1:
        return np.asarray(model.anomaly_score(X, parts[0]), np.float64), {}
    scores = {p: np.asarray(model.anomaly_score(X, p), np.float64) for p in parts}
    stats = stats or {p: robust_stats(v) for p, v in scores.items()}
    return combine_scores(scores, stats), stats


class AnomalyDetector(OutlierMixin, BaseEstimator):
    """model: "vae", "rbm", "gan" or "ensemble". contamination: expected fraction of anomalies, sets
    `threshold_` (PyOD's convention). trim: fraction of the highest-scoring training rows left out of a
    second fit (0 = fit once; use 0 when the training data is known to be clean, e.g. one-class protocols).
    vae_score: "auto", "bound", "rate" or "both" (see the module doc). neighbours: k of a k-nearest-neighbour
    distance on the standardised inputs, a fourth ensemble member for local anomalies (rows inside the data's
    range but far from their neighbours, which a density model smooths over); 0 = the three families only;
    used by model="ensemble" only.
    epochs: None picks about 3000 training steps, capped to [5, 100]. model_params: per-family
    hyperparameter overrides, e.g. {"vae": {"latent_dim": 4}}.

    Vectors are standardised with statistics of each family's final training rows (clipped to +-10 sd);
    images in [0, 1] are used as they are."""

    def __init__(self, model: str = "vae", contamination: float = 0.1, trim: float = 0.2, vae_score: str = "auto",
                 neighbours: int = 0, epochs: int | None = None, model_params: dict[str, dict[str, Any]] | None = None, seed: int = 0,
                 device: str = "auto", verbose: int = 0):
        self.model = model
        self.contamination = contamination
        self.trim = trim
        self.vae_score = vae_score
        self.neighbours = neighbours
        self.epochs = epochs
        self.model_params = model_params
        self.seed = seed
        self.device = device
        self.verbose = verbose

    # --- fitting -------------------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit on X (labels, if given, are ignored: the detector is unsupervised)."""
        if self.model not in (*FAMILIES, "ensemble"):
            raise DataError(f"model must be one of {', '.join(FAMILIES)} or 'ensemble', got {self.model!r}")
        if not 0 < self.contamination < 0.5:
            raise DataError(f"contamination must be in (0, 0.5), got {self.contamination!r}")
        if not 0 <= self.trim < 0.5:
            raise DataError(f"trim must be in [0, 0.5), got {self.trim!r}")
        if self.vae_score not in VAE_SCORES:
            raise DataError(f"vae_score must be one of {', '.join(VAE_SCORES)}, got {self.vae_score!r}")
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, (int, np.integer)) \
                or self.neighbours < 0:
            raise DataError(f"neighbours must be an integer >= 0, got {self.neighbours!r}")
        x = as_dataset(X, what="X").X
        self.n_features_in_ = int(np.prod(x.shape[1:]))
        self.row_shape_ = tuple(x.shape[1:])
        self.images_ = x.ndim == 4 and float(x.min()) >= 0 and float(x.max()) <= 1
        if not self.images_:
            x = x.reshape(len(x), -1)
        self.families_ = list(FAMILIES) if self.model == "ensemble" else [self.model]
        self.models_, self.scalers_, train_scores = {}, {}, {}
        for name in self.families_:
            scores = self._fit_family(name, x)
            if self.trim:
                scores = self._fit_family(name, x, keep=scores <= np.quantile(scores, 1 - self.trim))
            train_scores[name] = scores
        if self.model == "ensemble" and self.neighbours:
            train_scores["knn"] = self._fit_knn(x)
        self.score_stats_ = {n: robust_stats(s) for n, s in train_scores.items()}
        self.decision_scores_ = self._combine(train_scores)
        self.threshold_ = float(np.quantile(self.decision_scores_, 1 - self.contamination))
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _fit_family(self, name: str, x: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        """Fit one family (on the rows in `keep`, all when None) with its own scaling; its scores on all rows."""
        rows = x if keep is None else x[keep]
        if not self.images_:
            scale = rows.std(0)
            self.scalers_[name] = (rows.mean(0), np.where(scale > 1e-8, scale, 1.0))
        scaled = self._scaled(rows, name)
        self.models_[name] = self._make(name, scaled).fit(scaled)
        return self._family_score(name, self._scaled(x, name), fit_stats=True)

    def _fit_knn(self, x: np.ndarray) -> np.ndarray:
        """The k-NN member: scaled like the vectors the families see (images flattened as they are); a training
        row's distance to its k nearest *other* training rows (scikit-learn leaves the row itself out)."""
        rows = x.reshape(len(x), -1)
        scale = rows.std(0)
        self.scalers_["knn"] = (rows.mean(0), np.where(scale > 1e-8, scale, 1.0))
        scaled = self._knn_scaled(rows)
        k = min(int(self.neighbours), len(rows) - 1)
        self.knn_ = NearestNeighbors(n_neighbors=k).fit(scaled)
        return self.knn_.kneighbors()[0].mean(1)

    def _knn_scaled(self, x: np.ndarray) -> np.ndarray:
        rows = x.reshape(len(x), -1)
        if self.images_:
            return rows.astype(np.float32)
        mean, scale = self.scalers_["knn"]
        return np.clip((rows - mean) / scale, -10, 10).astype(np.float32)

    def _make(self, name: str, rows: np.ndarray):
        """The family's own anomaly recipe for data like `rows` (`recommended(..., task="anomaly")`), under the
        detector's epochs, seed and device and the user's `model_params`."""
        cls = REGISTRY[name]
        info = DataInfo.of(Dataset(rows))
        if not self.images_:  # the scaled vectors leave [0, 1]; what counts is that they are not images
            info = DataInfo(info.n_samples, info.row_shape, 0, False, False)
        params = {**cls.recommended(info, task="anomaly"), "seed": self.seed, "device": self.device,
                  "verbose": self.verbose}
        if self.epochs:
            params["epochs"] = self.epochs
        return cls(**{**params, **dict((self.model_params or {}).get(name, {}))})

    def _scaled(self, x: np.ndarray, name: str) -> np.ndarray:
        if self.images_:
            return x
        mean, scale = self.scalers_[name]
        return np.clip((x.reshape(len(x), -1) - mean) / scale, -10, 10).astype(np.float32)

    def _family_score(self, name: str, x: np.ndarray, fit_stats: bool = False) -> np.ndarray:
        """The family's score; one scoring several parts (a VAE's "both") averages them, each standardised by its
        median/MAD on the training rows (taken when `fit_stats`)."""
        part_stats = self.__dict__.setdefault("part_stats_", {})
        score, stats = model_anomaly_score(self.models_[name], x, self.vae_score, ensemble=self.model == "ensemble",
                                           stats=None if fit_stats else part_stats.get(name))
        if fit_stats:
            part_stats[name] = stats
        return score

    def _combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        if len(scores) == 1:
            return next(iter(scores.values()))
        return combine_scores(scores, self.score_stats_)

    # --- the detector surface ------------------------------------------------------------------------------
    def decision_function(self, X) -> np.ndarray:
        """Anomaly score per row: higher = more anomalous."""
        check_is_fitted(self, "models_")
        x = as_dataset(X, what="X").X
        if int(np.prod(x.shape[1:])) != self.n_features_in_:
            raise DataError(f"X has {int(np.prod(x.shape[1:]))} features per row, but the detector was fitted "
                            f"with {self.n_features_in_}")
        x = x.reshape(len(x), *self.row_shape_) if self.images_ else x.reshape(len(x), -1)
        scores = {n: self._family_score(n, self._scaled(x, n)) for n in self.families_}
        if "knn" in self.score_stats_:
            scores["knn"] = self.knn_.kneighbors(self._knn_scaled(x))[0].mean(1)
        return self._combine(scores)

    def predict(self, X) -> np.ndarray:
        """1 for anomalies (score above threshold_), 0 for normal rows (PyOD's convention)."""
        return (self.decision_function(X) > self.threshold_).astype(int)

    def predict_proba(self, X) -> np.ndarray:
        """(N, 2) [P(normal), P(anomaly)]: scores min-max scaled by the training scores (PyOD's 'linear')."""
        scores = self.decision_function(X)
        lo, hi = float(self.decision_scores_.min()), float(self.decision_scores_.max())
        p = np.clip((scores - lo) / max(hi - lo, 1e-12), 0, 1)
        return np.column_stack([1 - p, p])

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_

    def score_samples(self, X) -> np.ndarray:
        """scikit-learn's convention for outlier detectors: higher = more normal."""
        return -self.decision_function(X)


def robust_stats(scores: np.ndarray) -> tuple[float, float]:
    """Median and MAD (scaled to the sd of a normal) of a family's training scores, for the ensemble."""
    s = np.asarray(scores, np.float64)
    s = s[np.isfinite(s)]
    median = float(np.median(s))
    mad = 1.4826 * float(np.median(np.abs(s - median)))
    return median, mad if mad > 0 else (float(s.std()) or 1.0)


def combine_scores(scores: dict[str, np.ndarray], stats: dict[str, tuple[float, float]]) -> np.ndarray:
    """The ensemble score: each family's scores standardised by its (median, MAD) from `robust_stats`, averaged."""
    # float64: a family's extreme scores (1e12 and more) would swamp float32 differences between the rest
    return np.mean([(np.asarray(s, np.float64) - stats[n][0]) / stats[n][1] for n, s in scores.items()], axis=0)


def binary_labels(data) -> np.ndarray | None:
    """The data set's labels as 0 = normal / 1 = anomaly, None when it has none; other labels are an error."""
    if data.y is None:
        return None
    if [str(c) for c in data.classes] not in (["0", "1"], ["False", "True"], ["0.0", "1.0"]):
        raise DataError(f"anomaly labels must be 0 (normal) and 1 (anomaly), got classes {data.classes[:5]}")
    return data.y
