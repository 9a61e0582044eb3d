"""Ratings data for collaborative filtering: MovieLens folders and CSV files of user,item,rating[,timestamp].

A ratings table is a pandas DataFrame with columns `user`, `item`, `rating` (and `timestamp` when the file has
one). Specs: `movielens:DIR` (the ml-100k folder: u.data, and the u1..u5 base/test splits for `fold=`),
`csv:FILE` or a bare path (comma, tab, `::` or whitespace separated, with or without a header line).
Every table is checked once, here: the columns exist, the ids and ratings are finite numbers, ratings lie in the
scale, and no user rated the same item twice. Also here: the rating grid (levels 1..K), the id maps and the
encoding of a table as (user row, item column, level) triples, and its means and biases, which RatingsRBM
uses for cold start and its baseline blend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError

RATING_COLUMNS = ("user", "item", "rating")
MOVIELENS_FOLDS = (1, 2, 3, 4, 5)


def check_ratings(df, *, scale: tuple[float, float] | None = (1, 5), what: str = "ratings") -> pd.DataFrame:
    """Validate a ratings table and return a clean copy (columns user, item, rating[, timestamp]).

    Ids may be ints or strings; ratings must be finite numbers inside `scale` (None: any finite number)."""
    if not isinstance(df, pd.DataFrame):
        if isinstance(df, np.ndarray) and df.ndim == 2 and df.shape[1] in (3, 4):
            df = pd.DataFrame(df, columns=[*RATING_COLUMNS, "timestamp"][: df.shape[1]])
        else:
            raise DataError(f"{what}: expected a DataFrame with columns user, item, rating, got {type(df).__name__}")
    missing = [c for c in RATING_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {missing}; a ratings table needs user, item, rating "
                        f"(found {list(df.columns)[:8]})")
    if df.empty:
        raise DataError(f"{what}: no ratings (the table is empty)")
    keep = [*RATING_COLUMNS, *(["timestamp"] if "timestamp" in df.columns else [])]
    out = df[keep].reset_index(drop=True).copy()
    for col in ("user", "item"):
        if out[col].isna().any():
            raise DataError(f"{what}: column {col!r} has {int(out[col].isna().sum())} missing id(s)")
    rating = pd.to_numeric(out["rating"], errors="coerce")
    bad = ~np.isfinite(rating.to_numpy(dtype=np.float64, na_value=np.nan))
    if bad.any():
        first = out["rating"][bad].iloc[0]
        raise DataError(f"{what}: {int(bad.sum())} rating(s) are not finite numbers (e.g. {first!r})")
    out["rating"] = rating.astype(np.float64)
    if scale is not None:
        lo, hi = scale
        outside = (out["rating"] < lo) | (out["rating"] > hi)
        if outside.any():
            row = out[outside].iloc[0]
            raise DataError(f"{what}: {int(outside.sum())} rating(s) outside the scale [{lo:g}, {hi:g}] "
                            f"(e.g. user {row['user']!r}, item {row['item']!r}, rating {row['rating']:g}); "
                            "fix the data or pass the right rating_scale")
    dup = out.duplicated(["user", "item"])
    if dup.any():
        row = out[dup].iloc[0]
        raise DataError(f"{what}: {int(dup.sum())} duplicate user/item pair(s) (e.g. user {row['user']!r}, "
                        f"item {row['item']!r}); keep one rating per pair (e.g. the latest)")
    return out


def _read_delimited(path: Path, what: str) -> pd.DataFrame:
    """A user,item,rating[,timestamp] file: the separator and a header line are detected from the first line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError as e:
        raise DataError(f"{what}: cannot read ({e})") from None
    if not first.strip():
        raise DataError(f"{what}: the file is empty")
    sep = "::" if "::" in first else "\t" if "\t" in first else "," if "," in first else r"\s+"
    fields = [f.strip().strip('"').lower() for f in (first.split(sep) if sep != r"\s+" else first.split())]
    has_header = any(not _is_number(f) for f in fields)
    try:
        df = pd.read_csv(path, sep=sep, header=0 if has_header else None,
                         engine="python" if sep in ("::", r"\s+") else "c")
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"{what}: cannot read as a ratings table ({str(e).splitlines()[0]})") from None
    if has_header:
        df.columns = [str(c).strip().lower() for c in df.columns]
        aliases = {"user_id": "user", "userid": "user", "item_id": "item", "itemid": "item", "movie_id": "item",
                   "movieid": "item", "movie": "item", "score": "rating"}
        df = df.rename(columns={c: aliases[c] for c in df.columns if c in aliases})
    else:
        if df.shape[1] not in (3, 4):
            raise DataError(f"{what}: expected 3 or 4 columns (user, item, rating[, timestamp]), found {df.shape[1]}")
        df.columns = [*RATING_COLUMNS, "timestamp"][: df.shape[1]]
    return df


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_ratings(spec: str | Path, split: str = "all", *, fold: int = 1,
                 scale: tuple[float, float] | None = (1, 5)) -> pd.DataFrame:
    """Load a ratings spec: `movielens:DIR` or `csv:FILE` (or a bare file path; a bare folder holding u.data is
    read as MovieLens). For MovieLens, `split` 'all' reads u.data, 'train'/'test' read u{fold}.base/.test."""
    if split not in ("all", "train", "test"):
        raise DataError(f"split must be 'all', 'train' or 'test', got {split!r}")
    spec = str(spec)
    kind, sep, path = spec.partition(":")
    if not sep or kind not in ("movielens", "csv"):
        kind, path = ("movielens" if (Path(spec) / "u.data").is_file() else "csv"), spec
    if not path:
        raise DataError(f"ratings spec {spec!r}: missing the path after '{kind}:'")
    if kind == "movielens":
        return load_movielens(path, split, fold=fold)
    if split != "all":
        raise DataError(f"{spec}: a CSV file has no built-in train/test split; give the test file separately")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{spec}: file not found")
    return check_ratings(_read_delimited(p, spec), scale=scale, what=spec)


def load_movielens(folder: str | Path, split: str = "all", *, fold: int = 1) -> pd.DataFrame:
    """The MovieLens 100K folder: u.data ('all') or the standard 80/20 split u{fold}.base / u{fold}.test."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"movielens:{folder}: folder not found")
    if split == "all":
        name = "u.data"
    else:
        if fold not in MOVIELENS_FOLDS:
            raise DataError(f"fold must be one of {MOVIELENS_FOLDS}, got {fold!r}")
        name = f"u{fold}.{'base' if split == 'train' else 'test'}"
    path = folder / name
    if not path.is_file():
        raise DataError(f"movielens:{folder}: no {name} (is this the ml-100k folder?)")
    return check_ratings(_read_delimited(path, f"movielens:{path}"), scale=(1, 5), what=f"movielens:{path}")


def movielens_folds(folder: str | Path) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """The five standard (train, test) splits u1..u5 of MovieLens 100K, with disjoint test sets."""
    return [(load_movielens(folder, "train", fold=k), load_movielens(folder, "test", fold=k)) for k in MOVIELENS_FOLDS]


def rating_grid(scale: tuple[float, float], step: float) -> np.ndarray:
    """The rating values low, low + step, ..., high; DataError when high - low is not a whole number of steps."""
    lo, hi = (float(v) for v in scale)
    step = float(step)
    n = round((hi - lo) / step) + 1
    if n < 2 or abs(lo + (n - 1) * step - hi) > 1e-6:
        raise DataError(f"rating_scale {scale!r} is not a whole number of rating_step {step:g}")
    return lo + step * np.arange(n)


def rating_levels(rating: np.ndarray, scale: tuple[float, float], step: float, what: str) -> np.ndarray:
    """Ratings as levels 1..K of `rating_grid(scale, step)` (0 is kept for "not rated"); DataError for a
    rating off the grid."""
    lo, step = float(scale[0]), float(step)
    pos = (rating - lo) / step
    level = np.rint(pos)
    off = np.abs(pos - level) > 1e-6
    if off.any():
        raise DataError(f"{what}: rating {rating[off][0]:g} is not on the rating grid {rating_grid(scale, step).tolist()}; "
                        "set rating_step (e.g. 0.5 for half stars)")
    return level.astype(np.int64) + 1


def rating_statistics(u: np.ndarray, i: np.ndarray, values: np.ndarray, shape: tuple[int, int],
                      shrinkage: float) -> dict[str, Any]:
    """Means and biases of the known ratings `values` at (user row u, item column i) of a `shape` table:
    global_mean, user_mean (the global mean for a user without ratings), item_mean (shrunk toward the global
    mean by `shrinkage` pseudo-ratings) and the regularised baseline mu + user_bias + item_bias."""
    n_users, n_items = shape
    global_mean = float(values.mean())
    n_user = np.bincount(u, minlength=n_users)
    n_item = np.bincount(i, minlength=n_items)
    user_mean = np.where(n_user > 0, np.bincount(u, values, n_users) / np.maximum(n_user, 1), global_mean)
    item_mean = (np.bincount(i, values, n_items) + shrinkage * global_mean) / (n_item + shrinkage)
    # baseline mu + b_u + b_i with L2 penalties (10 on items, 15 on users, as surprise's BaselineOnly):
    # alternating closed-form least squares, which converges in a few sweeps
    residual = values - global_mean
    user_bias, item_bias = np.zeros(n_users), np.zeros(n_items)
    for _ in range(10):
        item_bias = np.bincount(i, residual - user_bias[u], n_items) / (n_item + 10.0)
        user_bias = np.bincount(u, residual - item_bias[i], n_users) / (n_user + 15.0)
    return {"global_mean": global_mean, "user_mean": user_mean, "item_mean": item_mean, "user_bias": user_bias,
            "item_bias": item_bias}


def encode_ratings(ratings: pd.DataFrame, implicit: pd.DataFrame | None, scale: tuple[float, float],
                   step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A checked ratings table, and optional (user, item) pairs known to be rated with unknown values, as
    (users, items, u, i, level): the sorted distinct ids and one (user row, item column, level) triple per
    rating, level 1..K on the grid, -1 for an implicit pair (a pair that was rated keeps its rating)."""
    extra = None
    if implicit is not None:
        if not isinstance(implicit, pd.DataFrame) or not {"user", "item"} <= set(implicit.columns):
            raise DataError("implicit: expected a DataFrame with columns user, item")
        extra = implicit[["user", "item"]].drop_duplicates()
    users = sorted_ids(pd.concat([ratings["user"], extra["user"]]) if extra is not None else ratings["user"])
    items = sorted_ids(pd.concat([ratings["item"], extra["item"]]) if extra is not None else ratings["item"])
    u = id_positions(users, ratings["user"].to_numpy())
    i = id_positions(items, ratings["item"].to_numpy())
    level = rating_levels(ratings["rating"].to_numpy(), scale, step, "ratings")
    if extra is not None:
        eu, ei = id_positions(users, extra["user"].to_numpy()), id_positions(items, extra["item"].to_numpy())
        known = set(zip(u.tolist(), i.tolist(), strict=True))
        keep = np.array([(a, b) not in known for a, b in zip(eu.tolist(), ei.tolist(), strict=True)], bool)
        u, i = np.concatenate([u, eu[keep]]), np.concatenate([i, ei[keep]])
        level = np.concatenate([level, -np.ones(int(keep.sum()), np.int64)])
    return users, items, u, i, level


def sorted_ids(ids) -> np.ndarray:
    """The distinct ids, numbers in numeric order, then text ids as text."""
    return np.asarray(sorted(pd.unique(ids), key=_id_key))


def _id_key(value) -> tuple:
    return (0, float(value), "") if isinstance(value, int | float | np.integer | np.floating) else (1, 0.0, str(value))


def id_positions(known: np.ndarray, ids) -> np.ndarray:
    """Row/column of each id in `known`, -1 for an unknown id. Numeric ids match numerically (so "196" from
    the command line finds user 196); text ids match as text."""
    ids = pd.Series(np.atleast_1d(np.asarray(ids, dtype=object)))
    if known.dtype.kind in "iuf":
        return pd.Index(known.astype(np.float64)).get_indexer(pd.to_numeric(ids, errors="coerce").to_numpy(float))
    return pd.Index(known.astype(str)).get_indexer(ids.astype(str).to_numpy())


def json_ids(ids: np.ndarray) -> list:
    """Ids as JSON values (numpy scalars to Python numbers)."""
    return [v.item() if hasattr(v, "item") else v for v in ids]


__all__ = ["check_ratings", "encode_ratings", "id_positions", "json_ids", "load_movielens", "load_ratings", "movielens_folds",
           "rating_grid", "rating_levels", "rating_statistics", "sorted_ids"]
