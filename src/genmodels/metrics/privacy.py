"""Privacy of a synthetic table: distance to closest record (DCR), exact copies, membership inference.

All distances are Euclidean on one encoding fitted on the training rows: continuous columns standardised
(missing -> 0 plus a missing-indicator column), discrete columns one-hot (missing is a category; a value
unseen in training encodes as all zeros). One category mismatch therefore costs sqrt(2), about as much
as 1.4 standard deviations of one continuous column.

- DCR: for each synthetic row, the distance to its nearest training row, beside the same for real rows
  the generator never saw (the hold-out). Synthetic rows that sit much closer to the training rows than
  unseen real rows do (ratio < 1 at the 5th percentile) are memorised rather than generated.
- Exact-copy rate: the share of synthetic rows equal to a training row in every column (hold-out rows give
  the base rate: real tables hold duplicates).
- Membership inference: a distance attack. Score of a candidate row = minus its distance to the nearest
  synthetic row; members = training rows, non-members = hold-out rows. ROC AUC 0.5 = the synthetic data
  does not tell who was in the training set; 1.0 = it gives them away.

Query sets are subsampled to `max_rows` rows each (default 5,000) and reference sets to `max_reference`
rows (default 50,000) with a fixed seed, so a report on a large table stays in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .tabular import as_float, check_frames, discrete_columns_of

__all__ = ["DistanceEncoder", "dcr", "exact_copy_rate", "membership_inference_auc", "privacy_report"]


class DistanceEncoder:
    """Standardised continuous + one-hot discrete columns, fitted on the training frame."""

    def __init__(self, discrete_columns: Sequence[str] | None = None):
        self.discrete_columns = discrete_columns

    def fit(self, frame: pd.DataFrame) -> DistanceEncoder:
        self.columns_ = list(frame.columns)
        self.discrete_ = set(discrete_columns_of(frame, self.discrete_columns))
        self.stats_: dict[str, tuple[float, float, bool]] = {}
        self.categories_: dict[str, pd.Index] = {}
        for c in self.columns_:
            if c in self.discrete_:
                # missing values become the string "<NA>" so that they are one category of their own
                self.categories_[c] = pd.Index(pd.unique(self._keys(frame[c])))
            else:
                x = as_float(frame[c], c)
                finite = x[~np.isnan(x)]
                mean = float(finite.mean()) if len(finite) else 0.0
                std = float(finite.std()) if len(finite) > 1 else 0.0
                self.stats_[c] = (mean, std if std > 0 else 1.0, bool(np.isnan(x).any()))
        return self

    @staticmethod
    def _keys(s: pd.Series) -> np.ndarray:
        obj = s.astype(object)
        return np.where(pd.isna(obj), "<NA>", obj.astype(str)).astype(object)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for c in self.columns_:
            if c in self.discrete_:
                cats = self.categories_[c]
                idx = cats.get_indexer(self._keys(frame[c]))
                onehot = np.zeros((len(frame), len(cats)))
                hit = idx >= 0
                onehot[np.flatnonzero(hit), idx[hit]] = 1.0
                parts.append(onehot)
            else:
                mean, std, has_nan = self.stats_[c]
                x = as_float(frame[c], c)
                missing = np.isnan(x)
                parts.append(np.where(missing, 0.0, (x - mean) / std)[:, None])
                if has_nan or missing.any():
                    parts.append(missing[:, None].astype(np.float64))
        return np.ascontiguousarray(np.hstack(parts))


def _subsample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    return frame if len(frame) <= n else frame.iloc[np.sort(rng.choice(len(frame), n, replace=False))]


def _row_keys(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).view(np.dtype((np.void, x.shape[1] * x.itemsize))).ravel()


def _copies(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Boolean per query row: equal to some reference row in every encoded value."""
    return np.isin(_row_keys(query), _row_keys(reference))


def _nearest(reference: np.ndarray, query: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    dist = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(reference).kneighbors(query)[0][:, 0]
    # brute force computes |a|^2 - 2ab + |b|^2, which leaves ~1e-7 on identical rows: make copies exactly 0
    dist[_copies(query, reference)] = 0.0
    return dist


def _summary(d: np.ndarray) -> dict[str, float]:
    return {"p5": float(np.percentile(d, 5)), "median": float(np.median(d)), "mean": float(d.mean())}


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else (1.0 if a == 0 else float("inf"))


def _prepare(train: pd.DataFrame, synth: pd.DataFrame, holdout: pd.DataFrame | None,
             discrete_columns: Sequence[str] | None) -> DistanceEncoder:
    check_frames(train, synth, ("training", "synthetic"))
    if holdout is not None:
        check_frames(train, holdout, ("training", "hold-out"))
    return DistanceEncoder(discrete_columns).fit(train)


def exact_copy_rate(train: pd.DataFrame, synth: pd.DataFrame, discrete_columns: Sequence[str] | None = None,
                    holdout: pd.DataFrame | None = None) -> dict[str, float]:
    """Share of synthetic (and hold-out) rows equal to a training row in every column; all rows, no
    subsampling (it is a hash lookup)."""
    enc = _prepare(train, synth, holdout, discrete_columns)
    ref = enc.transform(train)
    out = {"synthetic": float(_copies(enc.transform(synth), ref).mean())}
    if holdout is not None:
        out["holdout"] = float(_copies(enc.transform(holdout), ref).mean())
    return out


def dcr(train: pd.DataFrame, synth: pd.DataFrame, discrete_columns: Sequence[str] | None = None,
        holdout: pd.DataFrame | None = None, max_rows: int = 5000, max_reference: int = 50000,
        seed: int = 0) -> dict[str, Any]:
    """Distance to closest training record: 5th percentile, median and mean for synthetic rows, and for
    hold-out rows as the baseline. Without a hold-out the baseline is each training row's distance to its
    nearest *other* training row (leave-one-out), which is what "unseen real rows" look like when no
    rows were held back.

    A generator that piles its rows into the dense regions also gets small distances without copying
    anyone, so with a hold-out the synthetic rows are also measured against the hold-out rows and against
    as many training rows: `overfit_ratio_median` = median distance to those training rows / median
    distance to the hold-out rows is ~1 when the synthetic rows favour no one, well below 1 when they sit
    nearer the rows the generator trained on."""
    enc = _prepare(train, synth, holdout, discrete_columns)
    rng = np.random.default_rng(seed)
    ref_frame = _subsample(train, max_reference, rng)
    ref = enc.transform(ref_frame)
    query = enc.transform(_subsample(synth, max_rows, rng))
    d_synth = _nearest(ref, query)
    extra: dict[str, Any] = {}
    if holdout is not None:
        d_base = _nearest(ref, enc.transform(_subsample(holdout, max_rows, rng)))
        baseline = "holdout_to_train"
        hold_ref = enc.transform(_subsample(holdout, max_reference, rng))
        same_size = ref[np.sort(rng.choice(len(ref), min(len(ref), len(hold_ref)), replace=False))]
        to_train, to_hold = _summary(_nearest(same_size, query)), _summary(_nearest(hold_ref, query))
        extra = {"synthetic_to_train_same_size": to_train, "synthetic_to_holdout": to_hold,
                 "overfit_ratio_median": _ratio(to_train["median"], to_hold["median"])}
    else:
        from sklearn.neighbors import NearestNeighbors

        pick = np.sort(rng.choice(len(ref), min(max_rows, len(ref)), replace=False))
        d_base = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(ref).kneighbors(ref[pick])[0][:, 1]
        d_base[d_base < 1e-6] = 0.0  # duplicated rows: rounding of the brute-force distance, as in _nearest
        baseline = "train_to_train_leave_one_out"
    s, b = _summary(d_synth), _summary(d_base)
    return {"synthetic_to_train": s, baseline: b, "baseline": baseline,
            "ratio_p5": _ratio(s["p5"], b["p5"]), "ratio_median": _ratio(s["median"], b["median"]),
            **extra, "n_query": len(d_synth), "n_reference": len(ref)}


def membership_inference_auc(train: pd.DataFrame, synth: pd.DataFrame, holdout: pd.DataFrame,
                             discrete_columns: Sequence[str] | None = None, max_rows: int = 5000,
                             max_reference: int = 50000, seed: int = 0) -> dict[str, Any]:
    """ROC AUC of the distance attack (members = training rows, non-members = hold-out rows, the same
    number of each, score = -distance to the nearest synthetic row)."""
    from sklearn.metrics import roc_auc_score

    enc = _prepare(train, synth, holdout, discrete_columns)
    rng = np.random.default_rng(seed)
    m = min(len(train), len(holdout), max_rows)
    ref = enc.transform(_subsample(synth, max_reference, rng))
    members = enc.transform(_subsample(train, m, rng))
    others = enc.transform(_subsample(holdout, m, rng))
    score = -_nearest(ref, np.vstack([members, others]))
    label = np.r_[np.ones(len(members)), np.zeros(len(others))]
    return {"auc": float(roc_auc_score(label, score)), "n_members": len(members), "n_non_members": len(others),
            "n_reference": len(ref)}


def privacy_report(train: pd.DataFrame, synth: pd.DataFrame, discrete_columns: Sequence[str] | None = None,
                   holdout: pd.DataFrame | None = None, max_rows: int = 5000, max_reference: int = 50000,
                   seed: int = 0) -> dict[str, Any]:
    """DCR, exact-copy rate and (with a hold-out) membership-inference AUC in one dict."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "dcr": dcr(train, synth, discrete_columns, holdout, max_rows, max_reference, seed),
        "exact_copies": exact_copy_rate(train, synth, discrete_columns, holdout)}
    if holdout is not None:
        out["membership_inference"] = membership_inference_auc(train, synth, holdout, discrete_columns,
                                                               max_rows, max_reference, seed)
    else:
        out["membership_inference"] = {"auc": None, "reason": "needs hold-out rows the generator did not see"}
    out["seconds"] = time.perf_counter() - t0
    return out
