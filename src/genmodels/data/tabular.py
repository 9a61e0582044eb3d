"""Mixed-type tables <-> float matrices for the tabular models (readers in tables.py, statistics in mixtures.py).

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

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import DataError
from ..progress import Phase, rate
from .columns import (
    as_frame,
    category_codes,
    dtype_spec,
    fit_continuous,
    fit_discrete,
    is_nan,
    native,
    numbers,
    restore_dtype,
)
from .mixtures import log_density
from .tables import ADULT_COLUMNS, ADULT_DISCRETE, load_adult, read_csv_table


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
        df = as_frame(df, "table")
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
        phase = Phase("preprocessing", total=len(cols), unit="col", verbose=self.verbose)
        spent_delta = 0.0
        for c in cols:
            s = df[c]
            spec: dict[str, Any] = {"name": native(c), "dtype": dtype_spec(s)}
            if c in discrete:
                used_delta = fit_discrete(spec, s, meta.get(c, {}), share, delta_share, rng)
            else:
                used_delta = fit_continuous(spec, s, meta.get(c, {}), share, delta_share, rng, int(self.max_modes),
                                            float(self.weight_threshold), int(self.fit_rows))
            spent_delta += used_delta
            self.columns_.append(spec)
            phase.update(1)
        phase.done(f"{len(cols)} columns ({len(discrete)} discrete) of {len(df)} rows, "
                   f"{rate(len(df), phase.elapsed, 'row')}")
        self.epsilon_spent_ = float(self.epsilon) if dp and readers else 0.0
        self.delta_spent_ = spent_delta
        self._layout()
        return self

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
        df = as_frame(df, "table")
        names = [spec["name"] for spec in self.columns_]
        missing = [c for c in names if c not in df.columns]
        if missing:
            raise DataError(f"table lacks column(s) {missing} the encoder was fitted with")
        return df

    def _codes(self, spec: dict, s: pd.Series) -> np.ndarray:
        cats = spec["categories"]
        missing = s.isna().to_numpy()
        codes = category_codes(cats, s)
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
            x, missing = numbers(s, spec)
            if missing.any() and not spec["has_missing"] and not spec.get("impute"):
                raise DataError(f"column {spec['name']!r} has missing values, but had none in training")
            x = np.clip(x, spec["min"], spec["max"])
            means, stds = np.asarray(spec["means"]), np.asarray(spec["stds"])
            mode = log_density(x, means, stds, np.asarray(spec["weights"])).argmax(1)
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
        return restore_dtype(s, d, categories)

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
        if value is None or is_nan(value) or value is pd.NA:
            if spec["has_missing"]:
                return len(spec["categories"])
        else:
            value = native(value)
            for i, c in enumerate(spec["categories"]):
                if (c == value and type(c) is not bool) or c is value:
                    return i
            for i, c in enumerate(spec["categories"]):  # "1" for 1, "True" for True (command line)
                if str(c) == str(value):
                    return i
        raise DataError(f"column {column!r} has no category {value!r}; known: {spec['categories'][:20]}")


__all__ = ["ADULT_COLUMNS", "ADULT_DISCRETE", "TabularEncoder", "load_adult", "read_csv_table"]
