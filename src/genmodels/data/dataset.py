"""The in-memory data set every model trains on, and conversion of user input into it (validated once, here)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DataError


@dataclass
class Dataset:
    """Float32 rows `X` shaped (N, D) for vectors or (N, C, H, W) for images; optional int labels `y`."""

    X: np.ndarray
    y: np.ndarray | None = None
    name: str = "array"
    classes: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.X)

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        return tuple(self.X.shape[1:]) if self.X.ndim == 4 else None

    @property
    def n_features(self) -> int:
        return int(np.prod(self.X.shape[1:]))

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(self.X[index], None if self.y is None else self.y[index], self.name, self.classes)

    def binarize(self, method: str | None, seed: int = 0) -> Dataset:
        """'threshold' (x > 0.5) or 'stochastic' (x ~ Bernoulli(x), fixed by `seed`); None leaves X as it is."""
        if method in (None, "", "none"):
            return self
        check_unit_interval(self.X, f"{self.name} (binarize={method!r})")
        if method == "threshold":
            X = (self.X > 0.5).astype(np.float32)
        elif method == "stochastic":
            X = (np.random.default_rng(seed).random(self.X.shape, dtype=np.float32) < self.X).astype(np.float32)
        else:
            raise DataError(f"binarize must be 'threshold', 'stochastic' or None, got {method!r}")
        return Dataset(X, self.y, self.name, self.classes)


@dataclass(frozen=True)
class DataInfo:
    """What a family's `recommended(info, budget, task)` settings depend on: the data's size and kind."""

    n_samples: int
    row_shape: tuple[int, ...]
    n_classes: int = 0
    unit_interval: bool = False  # every value in [0, 1]: Bernoulli units apply
    binary: bool = False  # every value 0 or 1

    @property
    def n_features(self) -> int:
        return int(np.prod(self.row_shape))

    @property
    def is_image(self) -> bool:
        return len(self.row_shape) == 3

    @classmethod
    def of(cls, data: Dataset) -> DataInfo:
        lo, hi = float(data.X.min()), float(data.X.max())
        unit = lo >= 0.0 and hi <= 1.0
        sample = data.X.reshape(-1)[:1_000_000]
        binary = unit and bool(np.isin(sample, (0.0, 1.0)).all())
        n_classes = len(np.unique(data.y)) if data.y is not None else 0
        return cls(len(data), tuple(int(d) for d in data.X.shape[1:]), n_classes, unit, binary)


def check_finite(X: np.ndarray, what: str) -> None:
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).sum())
        raise DataError(f"{what}: contains {bad} NaN or infinite value(s); impute or drop them first")


def check_unit_interval(X: np.ndarray, what: str) -> None:
    lo, hi = float(X.min()), float(X.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(
            f"{what}: values must lie in [0, 1] for Bernoulli units, found range [{lo:g}, {hi:g}]; "
            "scale the data (e.g. divide images by 255) or use a Gaussian likelihood"
        )


def _to_numpy(X, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays, tensors, DataFrames, lists, our Dataset and map-style torch Datasets of (x,) or (x, y)."""
    if isinstance(X, Dataset):
        return X.X, X.y
    if isinstance(X, torch.Tensor):
        return X.detach().cpu().numpy(), None
    if hasattr(X, "select_dtypes") and hasattr(X, "columns"):  # pandas DataFrame
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        non_numeric = [c for c in X.columns if not (is_numeric_dtype(X[c]) or is_bool_dtype(X[c]))]
        if non_numeric:
            raise DataError(
                f"{what}: column(s) {non_numeric[:5]} are not numeric; encode them, or use "
                "TabularSynthesizer for mixed-type tables"
            )
        return X.to_numpy(dtype=np.float32), None
    if isinstance(X, torch.utils.data.Dataset) and hasattr(X, "__len__"):
        items = [X[i] for i in range(len(X))]
        if not items:
            raise DataError(f"{what}: the data set is empty")
        if isinstance(items[0], tuple | list):
            xs = np.stack([np.asarray(t[0]) for t in items])
            ys = np.asarray([int(t[1]) for t in items]) if len(items[0]) > 1 else None
            return xs, ys
        return np.stack([np.asarray(t) for t in items]), None
    try:
        return np.asarray(X), None
    except (ValueError, TypeError) as e:
        raise DataError(f"{what}: cannot be read as an array ({e})") from None


def as_dataset(X, y=None, *, what: str = "X") -> Dataset:
    """Validate user input once, at the edge: shape, dtype, emptiness, finiteness, labels."""
    if X is None:
        raise DataError(f"{what}: no data given")
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise DataError(f"{what}: sparse input is not supported; convert it with X.toarray() (the models are dense)")
    arr, y_from_x = _to_numpy(X, what)
    if arr.dtype == object:  # e.g. numbers held in an object array: use them when they convert
        with contextlib.suppress(TypeError, ValueError):
            arr = arr.astype(np.float64)
    if np.iscomplexobj(arr):
        raise DataError(f"{what}: Complex data not supported; give the real part or split it into features")
    if y is None:
        y = y_from_x
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataError(f"{what}: expected numbers, got dtype {arr.dtype}")
    if arr.ndim == 0 or arr.shape[0] == 0 or arr.size == 0:
        raise DataError(f"{what}: the data set is empty (shape {arr.shape}: 0 sample(s) or 0 feature(s))")
    if arr.ndim == 1:
        raise DataError(f"{what}: expected a 2-D array (n_samples, n_features), got a 1-D array of shape {arr.shape}. "
                        "Reshape your data: X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample")
    if arr.ndim > 4:
        raise DataError(f"{what}: expected rank 2 (vectors), 3 (N, H, W) or 4 (N, C, H, W), got shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    check_finite(arr, what)
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[1] not in (1, 3, 4) and arr.shape[3] in (1, 3, 4):
        arr = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))  # NHWC -> NCHW
    labels, classes = None, []
    if y is not None:
        y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        if y_arr.ndim != 1 or len(y_arr) != len(arr):
            raise DataError(f"y: expected {len(arr)} labels in a 1-D array, got shape {y_arr.shape}")
        if y_arr.dtype.kind == "f" and not np.isfinite(y_arr).all():
            raise DataError("y: labels contain NaN or inf")
        classes_arr, labels = np.unique(y_arr, return_inverse=True)
        classes = classes_arr.tolist()
        if isinstance(X, Dataset) and y is X.y and X.classes:  # keep the loader's class names
            classes = [X.classes[int(i)] for i in classes]
        labels = labels.astype(np.int64)
    name = X.name if isinstance(X, Dataset) else "array"
    return Dataset(np.ascontiguousarray(arr), labels, name, classes)
