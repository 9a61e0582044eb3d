"""What the tabular encoder learns of a continuous column: a 1-D Gaussian mixture by a vectorised EM
(quantile initialisation, pruning of light modes), and the differentially private statistics used instead of
it under `epsilon` (noisy-histogram quantiles, Laplace counts)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DP_BINS = 256  # bins of the noisy histogram whose quantiles stand in for a column's distribution


def log_density(x: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, K) log w_k + log N(x | mu_k, sd_k)."""
    z = (x[:, None] - means[None]) / stds[None]
    return np.log(np.maximum(weights, 1e-300))[None] - 0.5 * z * z - np.log(stds)[None]


def _em(z: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray, iters: int,
        tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EM steps until the mean log-likelihood per row gains less than `tol` (as scikit-learn's GaussianMixture)."""
    prev = -np.inf
    for _ in range(iters):
        logp = log_density(z, means, stds, weights)
        top = logp.max(1, keepdims=True)
        resp = np.exp(logp - top)
        total = resp.sum(1, keepdims=True)
        resp /= total
        nk = resp.sum(0) + 1e-10
        means = (resp * z[:, None]).sum(0) / nk
        var = (resp * (z[:, None] - means[None]) ** 2).sum(0) / nk
        stds = np.sqrt(np.maximum(var, 1e-6))  # a floor of 1e-3 standard deviations: spikes stay finite
        weights = nk / nk.sum()
        loglik = float(np.mean(np.log(total) + top))
        if loglik - prev < tol:
            break
        prev = loglik
    return means, stds, weights


def _prune(means: np.ndarray, stds: np.ndarray, weights: np.ndarray,
           weight_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop components below `weight_threshold` and merge duplicates (means within 1e-6)."""
    order = np.argsort(means)
    means, stds, weights = means[order], stds[order], weights[order]
    keep = weights >= weight_threshold
    keep[1:] &= np.abs(np.diff(means)) > 1e-6
    if not keep.any():
        keep[np.argmax(weights)] = True
    return means[keep], stds[keep], weights[keep] / weights[keep].sum()


def fit_mixture(x: np.ndarray, max_modes: int, weight_threshold: float, rng: np.random.Generator,
                fit_rows: int, iters: int = 40, tol: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised EM for a 1-D Gaussian mixture on (a subsample of) x; returns means, stds, weights.
    Initialised at quantiles of the distinct values (spreads modes over spikes and tails alike); EM to
    convergence, small and duplicated components pruned, EM again, pruned again."""
    if len(x) > fit_rows:
        x = x[rng.choice(len(x), fit_rows, replace=False)]
    center, scale = float(np.mean(x)), float(np.std(x))
    if scale == 0.0:
        return np.array([center]), np.array([max(abs(center) * 1e-3, 1e-3)]), np.ones(1)
    z = (x - center) / scale
    uniq = np.unique(z)
    k = min(max_modes, len(uniq))
    params = np.quantile(uniq, (np.arange(k) + 0.5) / k), np.full(k, 1.0 / k), np.full(k, 1.0 / k)
    for _ in range(2):
        params = _prune(*_em(z, *params, iters // 2, tol), weight_threshold)
    means, stds, weights = params
    return means * scale + center, stds * scale, weights


# --- differential privacy helpers -----------------------------------------------------------------------------


def dp_quantiles(x: np.ndarray, qs: Sequence[float], eps: float, rng: np.random.Generator) -> np.ndarray:
    """Quantiles read off one noisy histogram (Laplace, scale 1/eps: adding or removing a row changes one
    count by one, so all bins together cost eps) of DP_BINS equal bins over the envelope [0 or -10^k, 10^k],
    10^k the next power of ten above max |x| (its order of magnitude and the sign of the minimum are taken as
    public). Noisy counts under 5/eps are zeroed, so empty bins rarely fake a tail."""
    bound = 10.0 ** math.ceil(math.log10(max(float(np.abs(x).max()), 1.0) * 1.0001))
    edges = np.linspace(0.0 if x.min() >= 0 else -bound, bound, DP_BINS + 1)
    noisy = laplace_counts(np.histogram(x, edges)[0].astype(np.float64), eps, rng)
    noisy[noisy < 5.0 / eps] = 0.0
    if noisy.sum() <= 0:
        best = int(np.argmax(noisy))
        return np.linspace(edges[best], edges[best + 1], len(qs))
    cum = np.concatenate([[0.0], np.cumsum(noisy)]) / noisy.sum()
    return np.interp(qs, cum, edges)


def laplace_counts(counts: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
    return counts + rng.laplace(0.0, 1.0 / eps, size=len(counts))


# --- the encoder ---------------------------------------------------------------------------------------------
