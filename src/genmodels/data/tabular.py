"""Mixed-type tables <-> float matrices for the tabular models, and the UCI Adult loader.

`TabularEncoder` turns a pandas DataFrame into a float32 matrix and back (Xu et al. 2019, CTGAN):
- continuous columns (floats, integers with many values, datetimes as int64 nanoseconds) get mode-specific
  normalisation: a 1-D Gaussian mixture per column; each value becomes (its mode as a one-hot, its offset
  from that mode's mean in units of 4 standard deviations, a "tanh" span). The mixture is fitted by a
  vectorised EM (numpy, quantile initialisation, at most `max_modes` components, pruned below
  `weight_threshold`) on a subsample of `fit_rows` values: milliseconds per column where a variational
  Bayesian mixture on every row (rdt/ctgan) takes seconds to minutes on 100k rows. Values are clipped to the
  column's [min, max] when decoded; integers are rounded back.
- discrete columns (object, string, category, bool, integers with few values) become one-hot ("softmax"
  spans); every category seen in training is kept, however rare.
- missing values: a discrete column gets one extra "missing" category; a continuous column an extra
  (present, missing) softmax span. Both are restored as NaN / NaT / None.
`inverse_transform` restores column order, dtypes and category sets.

Privacy (`epsilon` given): the statistics the encoder learns are differentially private, spending
`epsilon` in equal shares over the columns that read the data (sequential composition):
- a discrete column: Laplace noise (scale 1/share) on every category count. Categories named in `metadata`
  are used as given; otherwise the observed categories are kept only when their noisy count passes the
  threshold 1 + ln(1/delta)/share (the "stable histogram", which costs `delta`), and rows of dropped (rare)
  categories are merged into the most frequent kept category.
- a continuous column: with `metadata` ({"type": "continuous", "min": a, "max": b}) no budget is spent and the
  modes are 5 equal-width bins over [a, b]; otherwise 6/7 of the share buys one Laplace-noised histogram of
  256 bins over the envelope [0 or -10^k, 10^k] (10^k >= max |x|: the order of magnitude and the sign are
  taken as public), whose 0.5%, 20%, 40%, 60%, 80% and 99.5% quantiles give the clipping range and 5 modes
  (one between consecutive quantiles); the last 1/7 decides, by a noisy count, whether it has missing values.
Without `epsilon` the encoder stores exact statistics: category sets and counts, min/max and mixture
parameters of each continuous column. It never stores rows; but a category that occurs once IS a training
value and is kept in the category set (use `epsilon` or `metadata` when that matters).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import DataError

ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
                 "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
                 "income"]
ADULT_DISCRETE = ["workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
                  "native-country", "income"]

DP_QUANTILES = (0.005, 0.2, 0.4, 0.6, 0.8, 0.995)
DP_BINS = 256
METADATA_MODES = 5


def load_adult(root: str | os.PathLike | None = None, split: str = "train") -> pd.DataFrame:
    """UCI Adult: split "train" (adult.data, 32,561 rows) or "test" (adult.test, 16,281 rows), columns named as
    in adult.names, "?" read as missing, `income` normalised to "<=50K" / ">50K"."""
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    if root is None:
        from .sources import data_root

        root = data_root() / "adult"
    path = Path(root) / ("adult.data" if split == "train" else "adult.test")
    if not path.is_file():
        raise DataError(f"{path}: file not found (the UCI Adult folder holds adult.data and adult.test)")
    df = pd.read_csv(path, header=None, names=ADULT_COLUMNS, sep=",", skipinitialspace=True, na_values="?",
                     skiprows=1 if split == "test" else 0, comment="|")
    df = df.dropna(how="all").reset_index(drop=True)
    df["income"] = df["income"].astype(str).str.strip().str.rstrip(".")
    return df


def _progress_enabled(verbose: bool | int) -> bool:
    return bool(verbose) and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


def _native(value: Any) -> Any:
    """A category value as a JSON-friendly Python scalar."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _dtype_spec(s: pd.Series) -> dict[str, Any]:
    """Enough to rebuild the column's dtype from JSON."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return {"kind": "category", "ordered": bool(dt.ordered)}
    if isinstance(dt, pd.StringDtype):
        return {"kind": "string", "storage": dt.storage, "na_nan": _is_nan(getattr(dt, "na_value", pd.NA))}
    if ptypes.is_bool_dtype(dt):
        return {"kind": "bool", "dtype": str(dt)}
    if ptypes.is_datetime64_any_dtype(dt):
        return {"kind": "datetime", "dtype": str(dt)}
    if ptypes.is_integer_dtype(dt):
        return {"kind": "int", "dtype": str(dt)}
    if ptypes.is_float_dtype(dt):
        return {"kind": "float", "dtype": str(dt)}
    if ptypes.is_timedelta64_dtype(dt) or ptypes.is_complex_dtype(dt):
        raise DataError(f"column {s.name!r}: dtype {dt} is not supported; convert it to numbers or strings")
    return {"kind": "object"}


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _restore_dtype(values: pd.Series, spec: dict[str, Any], categories: list | None) -> pd.Series:
    kind = spec["kind"]
    if kind == "category":
        return values.astype(pd.CategoricalDtype(categories, ordered=spec["ordered"]))
    if kind == "string":
        try:
            dtype = pd.StringDtype(spec["storage"], na_value=np.nan if spec["na_nan"] else pd.NA)
        except TypeError:  # pandas < 2.3: no na_value argument
            dtype = pd.StringDtype(spec["storage"])
        return values.astype(dtype)
    if kind == "object":
        return values.astype(object)
    if kind in ("bool", "int") and values.isna().any():  # a numpy bool/int column cannot hold missing values
        return values.astype("boolean" if kind == "bool" else "Int64")
    return values.astype(pd.api.types.pandas_dtype(spec["dtype"]))


def _as_frame(df: Any, what: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        try:
            df = pd.DataFrame(df)
        except (ValueError, TypeError) as e:
            raise DataError(f"{what}: expected a pandas DataFrame ({e})") from None
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise DataError(f"{what}: the table is empty ({df.shape[0]} rows, {df.shape[1]} columns)")
    if df.columns.duplicated().any():
        raise DataError(f"{what}: duplicate column names {list(df.columns[df.columns.duplicated()])}")
    return df


# --- 1-D Gaussian mixtures ----------------------------------------------------------------------------------
def _log_density(x: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N, K) log w_k + log N(x | mu_k, sd_k)."""
    z = (x[:, None] - means[None]) / stds[None]
    return np.log(np.maximum(weights, 1e-300))[None] - 0.5 * z * z - np.log(stds)[None]


def _em(z: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray, iters: int,
        tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EM steps until the mean log-likelihood per row gains less than `tol` (as scikit-learn's GaussianMixture)."""
    prev = -np.inf
    for _ in range(iters):
        logp = _log_density(z, means, stds, weights)
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
def _dp_quantiles(x: np.ndarray, qs: Sequence[float], eps: float, rng: np.random.Generator) -> np.ndarray:
    """Quantiles read off one noisy histogram (Laplace, scale 1/eps: adding or removing a row changes one
    count by one, so all bins together cost eps) of DP_BINS equal bins over the envelope [0 or -10^k, 10^k],
    10^k the next power of ten above max |x| (its order of magnitude and the sign of the minimum are taken as
    public). Noisy counts under 5/eps are zeroed, so empty bins rarely fake a tail."""
    bound = 10.0 ** math.ceil(math.log10(max(float(np.abs(x).max()), 1.0) * 1.0001))
    edges = np.linspace(0.0 if x.min() >= 0 else -bound, bound, DP_BINS + 1)
    noisy = _laplace_counts(np.histogram(x, edges)[0].astype(np.float64), eps, rng)
    noisy[noisy < 5.0 / eps] = 0.0
    if noisy.sum() <= 0:
        best = int(np.argmax(noisy))
        return np.linspace(edges[best], edges[best + 1], len(qs))
    cum = np.concatenate([[0.0], np.cumsum(noisy)]) / noisy.sum()
    return np.interp(qs, cum, edges)


def _laplace_counts(counts: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
    return counts + rng.laplace(0.0, 1.0 / eps, size=len(counts))


# --- the encoder ---------------------------------------------------------------------------------------------
class TabularEncoder:
    """Reversible encoder of a mixed-type DataFrame (see the module docstring).

    Fitted attributes: `columns_` (per-column specs, JSON), `output_info_` [(start, width, "tanh"|"softmax")],
    `discrete_columns_`, `output_dim_`, `n_rows_`, `epsilon_spent_`, `delta_spent_`.
    """

    def __init__(self, max_modes: int = 10, weight_threshold: float = 0.005, discrete_threshold: int = 10,
                 fit_rows: int = 10000, epsilon: float | None = None, delta: float | None = None,
                 metadata: dict[str, dict[str, Any]] | None = None, seed: int = 0, verbose: bool | int = False):
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.discrete_threshold = discrete_threshold
        self.fit_rows = fit_rows
        self.epsilon = epsilon
        self.delta = delta
        self.metadata = metadata
        self.seed = seed
        self.verbose = verbose

    # --- fitting ---------------------------------------------------------------------------------------------
    def _discrete(self, df: pd.DataFrame, discrete_columns: Iterable[str] | None) -> list:
        meta = self.metadata or {}
        if discrete_columns is not None:
            named = list(discrete_columns)
            unknown = [c for c in named if c not in df.columns]
            if unknown:
                raise DataError(f"discrete_columns {unknown} are not columns of the table ({list(df.columns)[:10]})")
            named = set(named)
        out = []
        for c in df.columns:
            s, m = df[c], meta.get(c, {})
            if "type" in m:
                is_disc = m["type"] in ("categorical", "discrete", "boolean")
            elif discrete_columns is not None:
                is_disc = c in named or not (ptypes.is_numeric_dtype(s) or ptypes.is_datetime64_any_dtype(s))
            elif ptypes.is_bool_dtype(s) or not (ptypes.is_numeric_dtype(s) or ptypes.is_datetime64_any_dtype(s)):
                is_disc = True
            elif ptypes.is_integer_dtype(s) and self.epsilon is None:  # the count of values is data: not under DP
                is_disc = s.nunique(dropna=True) <= int(self.discrete_threshold)
            else:
                is_disc = False
            if is_disc:
                out.append(c)
        return out

    def fit(self, df: pd.DataFrame, discrete_columns: Iterable[str] | None = None) -> TabularEncoder:
        df = _as_frame(df, "table")
        if self.epsilon is not None and not float(self.epsilon) > 0:
            raise DataError(f"epsilon must be > 0, got {self.epsilon!r}")
        meta = self.metadata or {}
        if not isinstance(meta, dict):
            raise DataError("metadata must be a dict {column: {'type': ..., ...}}")
        unknown = [c for c in meta if c not in df.columns]
        if unknown:
            raise DataError(f"metadata names unknown column(s) {unknown}")
        for c in df.columns:
            if df[c].isna().all():
                raise DataError(f"column {c!r} has no values (all missing); drop it or fill it")
        rng = np.random.default_rng(int(self.seed))
        discrete = self._discrete(df, discrete_columns)
        self.n_rows_ = len(df)
        dp = self.epsilon is not None
        # columns whose statistics read the data under DP: every discrete one (noisy counts), continuous ones
        # without metadata bounds
        readers = [c for c in df.columns if c in discrete or "min" not in meta.get(c, {})]
        share = float(self.epsilon) / max(len(readers), 1) if dp else None
        delta_share = None
        if dp:
            delta = self.delta if self.delta is not None else 1.0 / (10 * len(df))
            delta_share = float(delta) / max(len(readers), 1)
        self.columns_ = []
        cols = list(df.columns)
        bar = None
        if _progress_enabled(self.verbose):
            from tqdm.auto import tqdm

            bar = tqdm(cols, desc="preprocessing", unit="col", leave=False, file=sys.stderr, dynamic_ncols=True)
        spent_delta = 0.0
        for c in bar if bar is not None else cols:
            s = df[c]
            spec: dict[str, Any] = {"name": _native(c), "dtype": _dtype_spec(s)}
            if c in discrete:
                used_delta = self._fit_discrete(spec, s, meta.get(c, {}), share, delta_share, rng)
            else:
                used_delta = self._fit_continuous(spec, s, meta.get(c, {}), share, delta_share, rng)
            spent_delta += used_delta
            self.columns_.append(spec)
        if bar is not None:
            bar.close()
        self.epsilon_spent_ = float(self.epsilon) if dp and readers else 0.0
        self.delta_spent_ = spent_delta
        self._layout()
        return self

    def _fit_discrete(self, spec: dict, s: pd.Series, meta: dict, eps: float | None, delta: float | None,
                      rng: np.random.Generator) -> float:
        spec["kind"] = "discrete"
        missing = s.isna()
        if isinstance(s.dtype, pd.CategoricalDtype) and "categories" not in meta:
            observed = [_native(v) for v in s.cat.categories]
        elif "categories" in meta:
            observed = [_native(v) for v in meta["categories"]]
        else:
            values = s[~missing].unique()
            try:
                values = sorted(values)
            except TypeError:  # mixed types: order by text
                values = sorted(values, key=str)
            observed = [_native(v) for v in values]
        codes = _category_codes(observed, s)
        counts = np.bincount(codes[codes >= 0], minlength=len(observed)).astype(np.float64)
        n_missing = float(missing.sum())
        used_delta = 0.0
        unknown_to = None
        if eps is not None:
            noisy = _laplace_counts(np.append(counts, n_missing), eps, rng)
            counts, n_missing = noisy[:-1], float(noisy[-1])
            if "categories" not in meta and not isinstance(s.dtype, pd.CategoricalDtype):
                threshold = 1.0 + math.log(1.0 / delta) / eps  # stable histogram (unknown category domain)
                keep = counts > threshold
                if not keep.any():
                    keep[np.argmax(counts)] = True
                observed = [v for v, k in zip(observed, keep, strict=True) if k]
                counts = counts[keep]
                used_delta = delta
                has_missing = n_missing > threshold
            else:
                has_missing = bool(meta.get("missing", n_missing > 1.0 / eps * math.log(1.0 / delta)))
            counts = np.maximum(counts, 0.0)
            unknown_to = int(np.argmax(counts))
        else:
            has_missing = bool(missing.any())
            if "categories" in meta:
                unseen = (codes < 0) & ~missing.to_numpy()
                if unseen.any():
                    raise DataError(f"column {spec['name']!r}: value {s[unseen].iloc[0]!r} is not among the "
                                    "categories given in metadata")
        if "missing" in meta:
            has_missing = bool(meta["missing"])
        spec["categories"] = observed
        spec["counts"] = [float(v) for v in counts] + ([max(n_missing, 0.0)] if has_missing else [])
        spec["has_missing"] = has_missing
        spec["missing_none"] = bool(missing.any() and s[missing].map(lambda v: v is None).all())
        spec["unknown_to"] = unknown_to
        return used_delta

    def _fit_continuous(self, spec: dict, s: pd.Series, meta: dict, eps: float | None, delta: float | None,
                        rng: np.random.Generator) -> float:
        spec["kind"] = "continuous"
        x, missing = self._numbers(s, spec)
        x = x[~missing]
        if eps is not None and "min" in meta:
            lo, hi = float(meta["min"]), float(meta["max"])
            if not hi > lo:
                raise DataError(f"metadata for {spec['name']!r}: max must exceed min, got {lo}, {hi}")
            edges = np.linspace(lo, hi, METADATA_MODES + 1)
            has_missing = bool(meta.get("missing", False))
            if missing.any() and not has_missing:
                raise DataError(f"column {spec['name']!r} has missing values: add 'missing': true to its metadata")
        elif eps is not None:
            n_missing = float(_laplace_counts(np.array([missing.sum()], float), eps / 7, rng)[0])
            has_missing = bool(meta.get("missing", n_missing > 1.0 + math.log(1.0 / delta) / (eps / 7)))
            edges = _dp_quantiles(x, DP_QUANTILES, eps * 6 / 7, rng)
            lo, hi = float(edges[0]), float(edges[-1])
        else:
            lo, hi = float(x.min()), float(x.max())
            has_missing = bool(missing.any())
            means, stds, weights = fit_mixture(x, int(self.max_modes), float(self.weight_threshold), rng,
                                               int(self.fit_rows))
        if eps is not None:
            width = max(hi - lo, 1e-9)
            means = (edges[:-1] + edges[1:]) / 2
            stds = np.maximum(np.diff(edges) / 4, width / 1000)
            weights = np.full(len(means), 1.0 / len(means))
        spec.update(min=lo, max=hi, means=[float(v) for v in means], stds=[float(v) for v in stds],
                    weights=[float(v) for v in weights], has_missing=has_missing,
                    missing_none=False, integer=spec["dtype"]["kind"] in ("int", "datetime"),
                    impute=eps is not None)  # under DP, missing values the noisy count missed sit at a mode
        return 0.0

    @staticmethod
    def _numbers(s: pd.Series, spec: dict) -> tuple[np.ndarray, np.ndarray]:
        """(float64 values, missing mask); datetimes as int64 nanoseconds since the epoch (UTC)."""
        missing = s.isna().to_numpy()
        if spec["dtype"]["kind"] == "datetime":
            t = pd.to_datetime(s)
            if getattr(t.dt, "tz", None) is not None:
                t = t.dt.tz_convert("UTC").dt.tz_localize(None)
            x = t.astype("datetime64[ns]").to_numpy().astype(np.int64).astype(np.float64)
        elif spec["dtype"]["kind"] == "bool":
            x = s.astype(float).to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            try:
                x = s.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                raise DataError(f"column {spec['name']!r} is not numeric; list it in discrete_columns") from None
        x = np.where(missing, 0.0, x)
        if not np.isfinite(x).all():
            raise DataError(f"column {spec['name']!r} contains infinite values")
        return x, missing

    def _layout(self) -> None:
        info: list[tuple[int, int, str]] = []
        pos = 0
        for spec in self.columns_:
            spans = []
            if spec["kind"] == "continuous":
                widths = [(1, "tanh"), (len(spec["means"]), "softmax")] + ([(2, "softmax")] if spec["has_missing"]
                                                                              else [])
            else:
                widths = [(len(spec["categories"]) + int(spec["has_missing"]), "softmax")]
            for w, kind in widths:
                spans.append(len(info))
                info.append((pos, w, kind))
                pos += w
            spec["spans"] = spans
        self.output_info_ = info
        self.output_dim_ = pos
        self.discrete_columns_ = [spec["name"] for spec in self.columns_ if spec["kind"] == "discrete"]

    # --- transform -------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "columns_"):
            raise DataError("the encoder is not fitted: call fit(df) first")

    def discrete_codes(self, df: pd.DataFrame) -> np.ndarray:
        """(N, n_discrete) int64 category index of each discrete column (the missing slot last)."""
        self._check_fitted()
        df = self._check_columns(df)
        return np.stack([self._codes(spec, df[spec["name"]]) for spec in self.columns_ if spec["kind"] == "discrete"],
                        1) if self.discrete_columns_ else np.zeros((len(df), 0), np.int64)

    def _check_columns(self, df: pd.DataFrame) -> pd.DataFrame:
        df = _as_frame(df, "table")
        names = [spec["name"] for spec in self.columns_]
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise DataError(f"table lacks column(s) {missing} the encoder was fitted with")
        return df

    def _codes(self, spec: dict, s: pd.Series) -> np.ndarray:
        cats = spec["categories"]
        missing = s.isna().to_numpy()
        codes = _category_codes(cats, s)
        unknown = (codes < 0) & ~missing
        if unknown.any():
            if spec["unknown_to"] is None:
                raise DataError(f"column {spec['name']!r}: unknown category {s[unknown].iloc[0]!r} "
                                f"(known: {cats[:10]}{' ...' if len(cats) > 10 else ''})")
            codes[unknown] = spec["unknown_to"]
        if missing.any():
            if not spec["has_missing"]:
                if spec["unknown_to"] is None:
                    raise DataError(f"column {spec['name']!r} has missing values, but had none in training")
                codes[missing] = spec["unknown_to"]
            else:
                codes[missing] = len(cats)
        return codes

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """(N, output_dim_) float32; modes are assigned by the highest posterior (deterministic)."""
        self._check_fitted()
        df = self._check_columns(df)
        out = np.zeros((len(df), self.output_dim_), np.float32)
        rows = np.arange(len(df))
        for spec in self.columns_:
            s = df[spec["name"]]
            spans = [self.output_info_[i] for i in spec["spans"]]
            if spec["kind"] == "discrete":
                out[rows, spans[0][0] + self._codes(spec, s)] = 1.0
                continue
            x, missing = self._numbers(s, spec)
            if missing.any() and not spec["has_missing"] and not spec.get("impute"):
                raise DataError(f"column {spec['name']!r} has missing values, but had none in training")
            x = np.clip(x, spec["min"], spec["max"])
            means, stds = np.asarray(spec["means"]), np.asarray(spec["stds"])
            mode = _log_density(x, means, stds, np.asarray(spec["weights"])).argmax(1)
            if missing.any():  # a missing value sits at the most common mode's mean
                mode[missing] = int(np.argmax(spec["weights"]))
                x = np.where(missing, means[mode], x)
            out[:, spans[0][0]] = np.clip((x - means[mode]) / (4 * stds[mode]), -0.99, 0.99)
            out[rows, spans[1][0] + mode] = 1.0
            if spec["has_missing"]:
                out[rows, spans[2][0] + missing.astype(np.int64)] = 1.0
        return out

    def inverse_transform(self, data: np.ndarray, sigmas: np.ndarray | None = None,
                          rng: np.random.Generator | None = None) -> pd.DataFrame:
        """Decode a matrix (activated or raw: discrete spans are read by argmax) into a DataFrame with the
        training table's column order, dtypes and category sets. `sigmas` (TVAE): per-output-column noise
        added to the continuous offsets with `rng`."""
        self._check_fitted()
        data = np.asarray(data)
        if data.dtype not in (np.float32, np.float64):
            data = data.astype(np.float32)
        if data.ndim != 2 or data.shape[1] != self.output_dim_:
            raise DataError(f"expected an array of shape (N, {self.output_dim_}), got {data.shape}")
        cols = {}
        for spec in self.columns_:
            spans = [self.output_info_[i] for i in spec["spans"]]
            if spec["kind"] == "discrete":
                start, width, _ = spans[0]
                code = data[:, start: start + width].argmax(1)
                cats = spec["categories"]
                missing = code >= len(cats)
                values = np.empty(len(data), dtype=object)
                lookup = np.empty(len(cats) + 1, dtype=object)
                lookup[: len(cats)] = cats
                lookup[len(cats)] = None if spec["missing_none"] else np.nan
                values[:] = lookup[code]
                s = pd.Series(values, dtype=object)
                if spec["dtype"]["kind"] in ("int", "float", "bool") and not missing.any():
                    s = pd.Series(list(values))
                cols[spec["name"]] = self._restore(s, spec, cats)
                continue
            alpha = data[:, spans[0][0]].astype(np.float64)
            if sigmas is not None:
                alpha = (rng or np.random.default_rng()).normal(alpha, sigmas[spans[0][0]])
            alpha = np.clip(alpha, -1, 1)
            mode = data[:, spans[1][0]: spans[1][0] + spans[1][1]].argmax(1)
            means, stds = np.asarray(spec["means"]), np.asarray(spec["stds"])
            x = np.clip(alpha * 4 * stds[mode] + means[mode], spec["min"], spec["max"])
            if spec["integer"]:
                x = np.round(x)
            s = pd.Series(x)
            if spec["has_missing"]:
                s[data[:, spans[2][0]: spans[2][0] + 2].argmax(1) == 1] = np.nan
            cols[spec["name"]] = self._restore(s, spec, None)
        return pd.DataFrame(cols, columns=[spec["name"] for spec in self.columns_])

    @staticmethod
    def _restore(s: pd.Series, spec: dict, categories: list | None) -> pd.Series:
        d = spec["dtype"]
        if d["kind"] == "datetime":
            missing = s.isna()
            t = pd.to_datetime(s.fillna(0).astype(np.int64), unit="ns")
            t[missing] = pd.NaT
            tz = pd.api.types.pandas_dtype(d["dtype"])
            if getattr(tz, "tz", None) is not None:
                return t.dt.tz_localize("UTC").dt.tz_convert(tz.tz).astype(tz)
            return t.astype(tz)
        return _restore_dtype(s, d, categories)

    # --- persistence ---------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """JSON-serialisable fitted state: statistics only, never rows."""
        self._check_fitted()
        return {"params": {k: getattr(self, k) for k in ("max_modes", "weight_threshold", "discrete_threshold",
                                                         "fit_rows", "epsilon", "delta", "seed")},
                "columns": self.columns_, "n_rows": self.n_rows_, "epsilon_spent": self.epsilon_spent_,
                "delta_spent": self.delta_spent_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TabularEncoder:
        try:
            enc = cls(**state["params"])
            enc.columns_ = state["columns"]
            enc.n_rows_ = int(state["n_rows"])
            enc.epsilon_spent_ = float(state["epsilon_spent"])
            enc.delta_spent_ = float(state["delta_spent"])
            enc._layout()
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"malformed tabular encoder state ({e})") from None
        return enc

    # --- helpers for the models ----------------------------------------------------------------------------
    def discrete_spans(self) -> list[tuple[int, int]]:
        """(start, width) in the output of each discrete column's one-hot, in discrete_columns_ order."""
        return [self.output_info_[spec["spans"][0]][:2] for spec in self.columns_ if spec["kind"] == "discrete"]

    def category_counts(self) -> list[np.ndarray]:
        """Per discrete column the training counts of its categories (noisy under DP), missing slot last."""
        return [np.asarray(spec["counts"], np.float64) for spec in self.columns_ if spec["kind"] == "discrete"]

    def category_index(self, column: Any, value: Any) -> int:
        """Index of `value` among the categories of discrete column `column` (None/NaN: the missing slot)."""
        self._check_fitted()
        spec = next((s for s in self.columns_ if s["name"] == column), None)
        if spec is None:
            raise DataError(f"unknown column {column!r}; columns: {[s['name'] for s in self.columns_]}")
        if spec["kind"] != "discrete":
            raise DataError(f"column {column!r} is continuous; conditions apply to discrete columns "
                            f"({self.discrete_columns_})")
        if value is None or _is_nan(value) or value is pd.NA:
            if spec["has_missing"]:
                return len(spec["categories"])
        else:
            value = _native(value)
            for i, c in enumerate(spec["categories"]):
                if (c == value and type(c) is not bool) or c is value:
                    return i
            for i, c in enumerate(spec["categories"]):  # "1" for 1, "True" for True (command line)
                if str(c) == str(value):
                    return i
        raise DataError(f"column {column!r} has no category {value!r}; known: {spec['categories'][:20]}")


def _category_codes(categories: list, s: pd.Series) -> np.ndarray:
    """Index of each value among `categories`; -1 for missing and unknown values."""
    index = pd.Index(categories, dtype=object)
    return index.get_indexer(s.astype(object).to_numpy()).astype(np.int64)




def read_csv_table(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV file as a DataFrame, or a DataError that says why it is not one (missing, binary, empty, unparsable)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as f:
        head = f.read(8192)
    if b"\x00" in head:
        raise DataError(f"{path}: not a CSV file (binary content)")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the CSV file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{path}: not a readable CSV file ({str(e).splitlines()[0]})") from None
    if df.shape[0] == 0:
        raise DataError(f"{path}: the CSV file has a header but no rows")
    return df


__all__ = ["ADULT_COLUMNS", "ADULT_DISCRETE", "TabularEncoder", "fit_mixture", "load_adult", "read_csv_table"]
