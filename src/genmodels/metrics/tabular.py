"""Fidelity of a synthetic table to the real one: per-column scores, pairwise scores, ML efficacy.

Every score is in [0, 1], 1 = indistinguishable (the SDMetrics conventions, so numbers compare with
published CTGAN/TVAE reports):
- a continuous column: 1 - two-sample Kolmogorov-Smirnov statistic (missing values count as a value
  above every number, so a wrong missing rate lowers the score);
- a discrete column: 1 - total variation distance between the category frequencies (missing = a category);
- a pair of continuous columns: 1 - |Pearson corr(real) - Pearson corr(synthetic)| / 2;
- any other pair: 1 - total variation distance between the two contingency tables, continuous columns
  cut into quantile bins of the real data first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = ["as_float", "check_frames", "column_fidelity", "discrete_columns_of", "fidelity_report", "ml_efficacy", "pair_similarity"]


def check_frames(real: pd.DataFrame, synth: pd.DataFrame, names: tuple[str, str] = ("real", "synthetic")) -> None:
    """DataError unless both are non-empty DataFrames with the same columns in the same order (`names` name
    them in the message)."""
    for frame, name in zip((real, synth), names, strict=True):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"{name} data must be a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) == 0 or frame.shape[1] == 0:
            raise DataError(f"{name} data is empty ({frame.shape[0]} rows, {frame.shape[1]} columns)")
    if list(real.columns) != list(synth.columns):
        missing = [c for c in real.columns if c not in synth.columns]
        extra = [c for c in synth.columns if c not in real.columns]
        detail = f"missing {missing}, extra {extra}" if missing or extra else "same columns, different order"
        raise DataError(f"{names[0]} and {names[1]} data have different columns: {detail}")


def discrete_columns_of(frame: pd.DataFrame, discrete_columns: Sequence[str] | None = None) -> list[str]:
    """The given discrete columns plus every column that is not numeric or datetime (strings, booleans,
    categories): those can only be compared as categories."""
    given = list(discrete_columns or [])
    unknown = [c for c in given if c not in frame.columns]
    if unknown:
        raise DataError(f"discrete column(s) {unknown} not in the data (columns: {list(frame.columns)})")
    auto = [c for c in frame.columns if c not in given and not _is_continuous_dtype(frame[c])]
    return [c for c in frame.columns if c in given or c in auto]


def _is_continuous_dtype(s: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)) or \
        pd.api.types.is_datetime64_any_dtype(s)


def as_float(s: pd.Series, column: str) -> np.ndarray:
    """A continuous column as float64; datetimes as nanoseconds; missing as NaN."""
    if pd.api.types.is_datetime64_any_dtype(s):
        values = s.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
        values[s.isna().to_numpy()] = np.nan
        return values
    try:
        return pd.to_numeric(s, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise DataError(f"column {column!r} is treated as continuous but holds non-numbers; "
                        "list it in discrete_columns") from None


def _codes(real: pd.Series, synth: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Shared integer codes of two discrete columns; missing is a code of its own."""
    both = pd.concat([real.astype(object), synth.astype(object)], ignore_index=True)
    codes, uniques = pd.factorize(both, use_na_sentinel=False)
    return codes[: len(real)], codes[len(real):], len(uniques)


def _ks_complement(a: np.ndarray, b: np.ndarray) -> float:
    # NaN -> +inf: the empirical CDFs then only reach 1 after the missing values, so missing mass counts.
    a = np.sort(np.where(np.isnan(a), np.inf, a))
    b = np.sort(np.where(np.isnan(b), np.inf, b))
    grid = np.concatenate([a, b])
    diff = np.searchsorted(a, grid, side="right") / len(a) - np.searchsorted(b, grid, side="right") / len(b)
    return float(1.0 - np.abs(diff).max())


def _tv_complement(ca: np.ndarray, cb: np.ndarray, k: int) -> float:
    p = np.bincount(ca, minlength=k) / len(ca)
    q = np.bincount(cb, minlength=k) / len(cb)
    return float(1.0 - 0.5 * np.abs(p - q).sum())


def column_fidelity(real: pd.DataFrame, synth: pd.DataFrame,
                    discrete_columns: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """{column: {"metric": "KSComplement"|"TVComplement", "score": float}} in column order."""
    check_frames(real, synth)
    discrete = set(discrete_columns_of(real, discrete_columns))
    out: dict[str, dict[str, Any]] = {}
    for c in real.columns:
        if c in discrete:
            ca, cb, k = _codes(real[c], synth[c])
            out[c] = {"metric": "TVComplement", "score": _tv_complement(ca, cb, k)}
        else:
            out[c] = {"metric": "KSComplement",
                      "score": _ks_complement(as_float(real[c], c), as_float(synth[c], c))}
    return out


def _binned_codes(real: pd.DataFrame, synth: pd.DataFrame, discrete: set[str], bins: int,
                  max_categories: int) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Per column, small integer codes for real and synthetic rows: categories (the `max_categories` most
    frequent in the real data, the rest and unseen synthetic values pooled) or quantile bins of the real
    values; missing gets its own code."""
    codes_r, codes_s, sizes = [], [], []
    for c in real.columns:
        if c in discrete:
            ca, cb, k = _codes(real[c], synth[c])
            counts = np.bincount(ca, minlength=k)
            order = np.argsort(-counts, kind="stable")
            keep = order[: min(max_categories, int((counts > 0).sum()))]
            remap = np.full(k, len(keep), np.int64)  # pooled "other"
            remap[keep] = np.arange(len(keep))
            ca, cb, k = remap[ca], remap[cb], len(keep) + 1
        else:
            a, b = as_float(real[c], c), as_float(synth[c], c)
            finite = a[~np.isnan(a)]
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])) if len(finite) else np.array([])
            nb = len(edges) + 1
            ca = np.where(np.isnan(a), nb, np.searchsorted(edges, a, side="right"))
            cb = np.where(np.isnan(b), nb, np.searchsorted(edges, b, side="right"))
            k = nb + 1
        codes_r.append(ca.astype(np.int64))
        codes_s.append(cb.astype(np.int64))
        sizes.append(k)
    return codes_r, codes_s, sizes


def _all_contingency_tv(codes: list[np.ndarray], codes_s: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """TV distance between the real and synthetic contingency tables of every column pair at once: with
    one-hot matrices O (rows x all categories), O^T O holds every pair's joint counts as a block."""
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def joint(cs: list[np.ndarray]) -> np.ndarray:
        n = len(cs[0])
        onehot = np.zeros((n, int(sum(sizes))), np.float32)
        rows = np.arange(n)
        for off, code in zip(offsets, cs, strict=True):
            onehot[rows, off + code] = 1.0
        return (onehot.T @ onehot).astype(np.float64) / n  # counts <= 2^24: exact in float32

    diff = np.abs(joint(codes) - joint(codes_s))
    blocks = np.add.reduceat(np.add.reduceat(diff, offsets, axis=0), offsets, axis=1)
    return 0.5 * blocks


def _safe_corr(x: np.ndarray) -> np.ndarray:
    """Pearson correlation of the columns of x over rows where both are present (pairwise), 0 where a
    column is constant."""
    frame = pd.DataFrame(x)
    corr = frame.corr(method="pearson", min_periods=2).to_numpy()
    return np.nan_to_num(corr, nan=0.0)


def pair_similarity(real: pd.DataFrame, synth: pd.DataFrame, discrete_columns: Sequence[str] | None = None,
                    bins: int = 10, max_categories: int = 50) -> pd.DataFrame:
    """Symmetric DataFrame (columns x columns) of pair scores in [0, 1]; the diagonal is NaN."""
    check_frames(real, synth)
    discrete = set(discrete_columns_of(real, discrete_columns))
    cols = list(real.columns)
    codes_r, codes_s, sizes = _binned_codes(real, synth, discrete, bins, max_categories)
    score = 1.0 - _all_contingency_tv(codes_r, codes_s, sizes)
    cont = [i for i, c in enumerate(cols) if c not in discrete]
    if len(cont) >= 2:
        xr = np.column_stack([as_float(real[cols[i]], cols[i]) for i in cont])
        xs = np.column_stack([as_float(synth[cols[i]], cols[i]) for i in cont])
        corr_score = 1.0 - np.abs(_safe_corr(xr) - _safe_corr(xs)) / 2.0
        score[np.ix_(cont, cont)] = corr_score
    np.fill_diagonal(score, np.nan)
    return pd.DataFrame(score, index=cols, columns=cols)


def fidelity_report(real: pd.DataFrame, synth: pd.DataFrame,
                    discrete_columns: Sequence[str] | None = None) -> dict[str, Any]:
    """Column and pair scores plus their means; `overall` is the mean of the two means (as SDMetrics'
    quality score)."""
    t0 = time.perf_counter()
    columns = column_fidelity(real, synth, discrete_columns)
    pairs = pair_similarity(real, synth, discrete_columns)
    discrete = set(discrete_columns_of(real, discrete_columns))
    cols = list(real.columns)
    pair_rows = [{"column_1": a, "column_2": b,
                  "metric": "CorrelationSimilarity" if a not in discrete and b not in discrete
                  else "ContingencySimilarity", "score": float(pairs.iloc[i, j])}
                 for i, a in enumerate(cols) for j, b in enumerate(cols) if j > i]
    col_mean = float(np.mean([v["score"] for v in columns.values()]))
    pair_mean = float(np.mean([p["score"] for p in pair_rows])) if pair_rows else float("nan")
    return {"column_scores": columns, "column_fidelity": col_mean,
            "pair_scores": pair_rows, "pair_similarity": pair_mean,
            "overall": float(np.nanmean([col_mean, pair_mean])),
            "discrete_columns": [c for c in cols if c in discrete],
            "n_real": len(real), "n_synthetic": len(synth), "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------------------------- ML efficacy

_CLASSIFIER = ("HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, early_stopping=False, "
               "random_state=0), native categorical support (categories ordinal-coded from the training frame)")


def _features(train: pd.DataFrame, other: list[pd.DataFrame], discrete: set[str]):
    """Numeric matrices for HistGradientBoosting: continuous as float, discrete ordinal-coded by the
    categories of `train` (unseen or missing -> NaN, which the trees route as missing)."""
    cat_mask = []
    mats = [np.empty((len(f), train.shape[1]), np.float64) for f in [train, *other]]
    for j, c in enumerate(train.columns):
        if c in discrete:
            cats = pd.Index(pd.unique(train[c].astype(object).dropna()))
            # HistGradientBoosting handles up to 255 categories natively; larger ones become ordinal numbers
            cat_mask.append(len(cats) <= 255)
            for m, f in zip(mats, [train, *other], strict=True):
                code = cats.get_indexer(f[c].astype(object)).astype(np.float64)
                code[code < 0] = np.nan
                m[:, j] = code
        else:
            cat_mask.append(False)
            for m, f in zip(mats, [train, *other], strict=True):
                m[:, j] = as_float(f[c], c)
    return mats, np.array(cat_mask, bool)


def _fit_score(train: pd.DataFrame, test: pd.DataFrame, target: str, discrete: set[str], classes: np.ndarray,
               positive: Any, random_state: int) -> dict[str, float]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    y_train = train[target].astype(object).to_numpy()
    y_test = test[target].astype(object).to_numpy()
    keep = pd.notna(y_train)
    features = [c for c in train.columns if c != target]
    (x_train, x_test), cat_mask = _features(train[features], [test[features]], discrete)
    x_train, y_train = x_train[keep], y_train[keep]
    present = [c for c in classes if (y_train == c).any()]
    if len(present) < 2:  # a synthetic frame with one class: the best it can teach is that constant
        pred = np.full(len(y_test), present[0] if present else classes[0], dtype=object)
        proba = np.zeros((len(y_test), len(classes)))
        proba[:, list(classes).index(pred[0])] = 1.0
    else:
        clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, early_stopping=False,
                                             categorical_features=cat_mask if cat_mask.any() else None,
                                             random_state=random_state)
        clf.fit(x_train, y_train)
        pred = clf.predict(x_test)
        proba = np.zeros((len(y_test), len(classes)))
        part = clf.predict_proba(x_test)
        for k, c in enumerate(clf.classes_):
            proba[:, list(classes).index(c)] = part[:, k]
    out = {"accuracy": float(accuracy_score(y_test, pred)),
           "f1_macro": float(f1_score(y_test, pred, labels=list(classes), average="macro", zero_division=0))}
    if len(classes) == 2:
        out["f1"] = float(f1_score(y_test, pred, pos_label=positive, average="binary", zero_division=0))
        y_bin = (y_test == positive).astype(int)
        out["roc_auc"] = (float(roc_auc_score(y_bin, proba[:, list(classes).index(positive)]))
                          if 0 < y_bin.sum() < len(y_bin) else float("nan"))
    else:
        seen = np.isin(classes, y_test)
        out["roc_auc"] = (float(roc_auc_score(y_test, proba[:, seen] / proba[:, seen].sum(1, keepdims=True).clip(1e-12),
                                              multi_class="ovr", labels=list(classes[seen])))
                          if seen.sum() > 2 else float("nan"))
    return out


def ml_efficacy(train_df: pd.DataFrame, test_df: pd.DataFrame, target: str, synth_df: pd.DataFrame | None = None,
                discrete_columns: Sequence[str] | None = None, positive: Any = None,
                random_state: int = 0, n_threads: int | None = None) -> dict[str, Any]:
    """Train a classifier for `target` on the real training rows (and on the synthetic rows, when given),
    test both on the real hold-out `test_df`.

    Classifier: scikit-learn HistGradientBoostingClassifier with native categorical support and a fixed
    random_state. Scores: accuracy, macro F1, ROC AUC, and for a binary target the F1 of `positive`
    (default: the rarer class of the real training rows, e.g. ">50K" on Adult, as in the CTGAN paper).
    `n_threads` caps the classifier's OpenMP threads (on a busy machine 1 is often faster than all cores).
    """
    check_frames(train_df, test_df, ("training", "test"))
    if synth_df is not None:
        check_frames(train_df, synth_df, ("training", "synthetic"))
    if target not in train_df.columns:
        raise DataError(f"target column {target!r} not in the data (columns: {list(train_df.columns)})")
    discrete = set(discrete_columns_of(train_df, discrete_columns))
    counts = train_df[target].astype(object).dropna().value_counts()
    if len(counts) < 2:
        raise DataError(f"target column {target!r} needs at least 2 classes in the real training data, "
                        f"found {len(counts)}")
    if len(counts) > 100:
        raise DataError(f"target column {target!r} has {len(counts)} distinct values: ML efficacy needs a "
                        "class label (at most 100 classes)")
    classes = np.array(sorted(counts.index, key=str), dtype=object)
    if positive is None:
        positive = counts.index[-1]
    elif positive not in set(classes):
        raise DataError(f"positive class {positive!r} not among the target's classes {list(classes)}")
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        out: dict[str, Any] = {"classifier": _CLASSIFIER, "target": target, "positive": positive,
                               "n_test": len(test_df),
                               "real": _fit_score(train_df, test_df, target, discrete, classes, positive,
                                                  random_state)}
        if synth_df is not None:
            out["synthetic"] = _fit_score(synth_df, test_df, target, discrete, classes, positive, random_state)
        out["ratio"] = {k: (v / out["real"][k] if out["real"][k] else float("nan"))
                        for k, v in out["synthetic"].items()}
    out["seconds"] = time.perf_counter() - t0
    return out
