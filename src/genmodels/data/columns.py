"""One column of a table at a time, for TabularEncoder: its dtype (kept as JSON, restored on decode), the
statistics a discrete or continuous column is encoded with (exact, or differentially private with a budget
share `eps`), and its values as numbers. Each `fit_*` fills the column's spec and returns the delta it spent."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import DataError
from .mixtures import dp_quantiles, fit_mixture, laplace_counts

DP_QUANTILES = (0.005, 0.2, 0.4, 0.6, 0.8, 0.995)  # clipping range and 5 modes of a DP continuous column
METADATA_MODES = 5  # equal-width modes over a column whose range the metadata gives


def native(value: Any) -> Any:
    """A category value as a JSON-friendly Python scalar."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def dtype_spec(s: pd.Series) -> dict[str, Any]:
    """Enough to rebuild the column's dtype from JSON."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return {"kind": "category", "ordered": bool(dt.ordered)}
    if isinstance(dt, pd.StringDtype):
        return {"kind": "string", "storage": dt.storage, "na_nan": is_nan(getattr(dt, "na_value", pd.NA))}
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


def is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def restore_dtype(values: pd.Series, spec: dict[str, Any], categories: list | None) -> pd.Series:
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


def as_frame(df: Any, what: str) -> pd.DataFrame:
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


def category_codes(categories: list, s: pd.Series) -> np.ndarray:
    """Index of each value among `categories`; -1 for missing and unknown values."""
    index = pd.Index(categories, dtype=object)
    return index.get_indexer(s.astype(object).to_numpy()).astype(np.int64)


def fit_discrete(spec: dict, s: pd.Series, meta: dict, eps: float | None, delta: float | None,
                 rng: np.random.Generator) -> float:
    spec["kind"] = "discrete"
    missing = s.isna()
    if isinstance(s.dtype, pd.CategoricalDtype) and "categories" not in meta:
        observed = [native(v) for v in s.cat.categories]
    elif "categories" in meta:
        observed = [native(v) for v in meta["categories"]]
    else:
        values = s[~missing].unique()
        try:
            values = sorted(values)
        except TypeError:  # mixed types: order by text
            values = sorted(values, key=str)
        observed = [native(v) for v in values]
    codes = category_codes(observed, s)
    counts = np.bincount(codes[codes >= 0], minlength=len(observed)).astype(np.float64)
    n_missing = float(missing.sum())
    used_delta = 0.0
    unknown_to = None
    if eps is not None:
        noisy = laplace_counts(np.append(counts, n_missing), eps, rng)
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


def fit_continuous(spec: dict, s: pd.Series, meta: dict, eps: float | None, delta: float | None,
                   rng: np.random.Generator, max_modes: int, weight_threshold: float, fit_rows: int) -> float:
    spec["kind"] = "continuous"
    x, missing = numbers(s, spec)
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
        n_missing = float(laplace_counts(np.array([missing.sum()], float), eps / 7, rng)[0])
        has_missing = bool(meta.get("missing", n_missing > 1.0 + math.log(1.0 / delta) / (eps / 7)))
        edges = dp_quantiles(x, DP_QUANTILES, eps * 6 / 7, rng)
        lo, hi = float(edges[0]), float(edges[-1])
    else:
        lo, hi = float(x.min()), float(x.max())
        has_missing = bool(missing.any())
        means, stds, weights = fit_mixture(x, max_modes, weight_threshold, rng,
                                           fit_rows)
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


def numbers(s: pd.Series, spec: dict) -> tuple[np.ndarray, np.ndarray]:
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
