"""`ArrayModel`: the layer of the contract for families that take X in and give rows out (VAE, GAN, RBM, DBN):
validation of X at the edge, sampling shaped like X's rows, the scikit-learn tags, anomaly scores."""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..data import Dataset, as_dataset
from ..errors import DataError
from ..train import Trainer
from .base import TrainedModel


class ArrayModel(TrainedModel):
    """X in, rows out: fit on arrays, tensors, DataFrames of numbers or Datasets; samples, reconstructions and
    scores shaped like X's rows. Each family implements the methods its `capabilities` name."""

    _needs_unit_interval: ClassVar[bool] = False  # Bernoulli visible units

    def __sklearn_tags__(self):
        """scikit-learn's tags from the capabilities: a family with `transform` is a transformer (Pipeline)."""
        from sklearn.utils import TransformerTags

        tags = super().__sklearn_tags__()
        if "transform" in self.capabilities and tags.transformer_tags is None:
            tags.transformer_tags = TransformerTags()
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float32"]  # the networks compute in float32
        return tags

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """fit(X, y) then transform(X), for families with `transform` (scikit-learn's Pipeline shortcut)."""
        if not self.supports("transform"):
            raise DataError(f"{type(self).__name__} has no transform")
        return self.fit(X, y, **fit_params).transform(X)

    # --- fitting ---------------------------------------------------------------------------------------------
    def fit(self, X, y=None, *, run_dir: str | Path | None = None, resume: bool = False, overwrite: bool = False,
            time_budget: float | None = None, logger: str | None = None):
        """Train on X (array, tensor, DataFrame, genmodels or torch Dataset). With `run_dir`, the run folder
        (config, checkpoints, metrics.jsonl, sample grids) is written there; `resume=True` continues it, and a
        folder that already holds a run is refused unless `overwrite=True`. `time_budget` (seconds): stop
        cleanly once it is spent (see Trainer; `budget_exhausted_` tells). `logger="tensorboard"`: live
        curves and sample grids in run_dir/tb/ too (needs the tensorboard package)."""
        self._validate_params()
        data = self._validate_fit(X, y)
        self._fit_data(data, run_dir, resume, overwrite, time_budget, logger=logger)
        return self

    def partial_fit(self, X, y=None):
        """One epoch over X, keeping weights and optimizer state between calls (the first call builds)."""
        if not self.supports("partial_fit"):
            raise DataError(f"{type(self).__name__} has no partial_fit; call fit")
        self._validate_params()
        if not hasattr(self, "module_"):
            Trainer(self, epochs=1).run(self._validate_fit(X, y))
            self.n_partial_fits_ = 1
            return self
        x = self.validate_X(X)
        data = as_dataset(X, y, what="X")
        Trainer(self, continue_training=True).run(Dataset(x.cpu().numpy(), data.y, data.name, data.classes))
        return self

    def _validate_fit(self, X, y) -> Dataset:
        raw_shape = row_shape(X)
        data = as_dataset(X, y, what="X")
        if len(data) < 2:
            raise DataError(f"X has {len(data)} sample; training needs at least 2 (batches, scaling)")
        if getattr(self, "conditional", False) and data.y is None:
            raise DataError("conditional=True needs class labels: call fit(X, y)")
        self._check_values(data.X, "X")
        self.data_shape_ = tuple(int(d) for d in data.X.shape[1:])
        self.input_shape_ = raw_shape if math.prod(raw_shape) == math.prod(self.data_shape_) else self.data_shape_
        self.n_features_in_ = int(np.prod(self.data_shape_))
        self.classes_ = list(data.classes) if data.y is not None else []
        return data

    def _check_values(self, X: np.ndarray, what: str) -> None:
        if self._needs_unit_interval:
            from ..data import check_unit_interval

            check_unit_interval(X, what)

    def _sample(self, n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    # --- shared public surface -------------------------------------------------------------------------------
    @property
    def n_classes_(self) -> int:
        return len(getattr(self, "classes_", []))

    def is_conditional(self) -> bool:
        """Whether this fitted model samples per class (`sample(n, y=...)`)."""
        return bool(getattr(self, "conditional", False)) and self.n_classes_ > 0

    def sample(self, n: int, y=None, *, seed: int | None = None) -> np.ndarray:
        """n new samples shaped like X's rows. `y`: class labels (one, or n) for conditional models.
        Each call draws fresh samples from the model's own generator (seeded by `seed` of the model), so the
        same seed gives the same sequence of samples; `seed=` here gives a fixed, repeatable draw."""
        check_is_fitted(self, "module_")
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise DataError(f"n must be a positive integer, got {n!r}")
        g = self._generator(seed)
        labels = self._encode_labels(y, int(n), g)
        with torch.no_grad():
            out = self._sample(int(n), labels, g)
        return self._as_rows(out)

    def score(self, X, y=None) -> float:
        """Mean of `score_samples` (higher = better), so GridSearchCV can select hyperparameters."""
        return float(np.mean(self.score_samples(X)))

    def _encode_labels(self, y, n: int, g: torch.Generator) -> torch.Tensor | None:
        if not self.is_conditional():
            if y is not None:
                raise DataError(f"{type(self).__name__} was not trained as a conditional model; y is not accepted")
            return None
        if y is None:  # uniform over the classes seen in training
            return torch.randint(self.n_classes_, (n,), generator=g).to(self.device_)
        return torch.tensor(self.label_codes(y, n), dtype=torch.long, device=self.device_)

    def label_codes(self, y, n: int) -> np.ndarray:
        """Class labels (one, or n) as indices into `classes_`; DataError for an unknown label."""
        values = np.atleast_1d(np.asarray(y, dtype=object))
        if len(values) == 1:
            values = np.repeat(values, n)
        if len(values) != n:
            raise DataError(f"y: expected 1 or {n} labels, got {len(values)}")
        index = {c: i for i, c in enumerate(self.classes_)}
        try:
            return np.asarray([index[v.item() if hasattr(v, "item") else v] for v in values], dtype=np.int64)
        except KeyError as e:
            raise DataError(f"y: unknown class {e.args[0]!r}; the model knows {self.classes_}") from None

    def _as_rows(self, out: torch.Tensor) -> np.ndarray:
        return out.detach().cpu().numpy().reshape(len(out), *self.input_shape_)

    def validate_X(self, X, what: str = "X") -> torch.Tensor:
        """Validate data handed to a fitted model; returns a float tensor shaped (N, *data_shape_) on its device."""
        check_is_fitted(self, "module_")
        data = as_dataset(X, what=what)
        if data.n_features != self.n_features_in_:
            raise DataError(f"{what} has {data.n_features} features, but {type(self).__name__} is expecting "
                            f"{self.n_features_in_} features as input (rows shaped {self.input_shape_})")
        self._check_values(data.X, what)
        return torch.as_tensor(data.X.reshape(len(data), *self.data_shape_), device=self.device_)

    def rows_of(self, X, what: str = "X") -> np.ndarray:
        """X validated as this model's input, as a float32 array shaped like the training rows (input_shape_)."""
        return self.validate_X(X, what).cpu().numpy().reshape(-1, *self.input_shape_)

    def preview_images(self, n: int) -> np.ndarray | None:
        """A fixed draw of samples as (n, C, H, W) in [0, 1] for sample grids (one class per row band for a
        conditional model); None for non-image data or a model that cannot sample."""
        if len(self.data_shape_) != 3 or not self.supports("sample"):
            return None
        labels = None
        if self.is_conditional():
            labels = [self.classes_[i * self.n_classes_ // n] for i in range(n)]  # classes in reading order
        x = self.sample(n, y=labels, seed=int(self.seed)).reshape(n, *self.data_shape_)
        lo, hi = float(x.min()), float(x.max())
        return x if lo >= 0 and hi <= 1 else (x - lo) / max(hi - lo, 1e-8)

    anomaly_part_names: ClassVar[tuple[str, ...]] = ()  # named alternatives of anomaly_score(X, part=...)

    def anomaly_parts(self, ensemble: bool = False) -> tuple[str | None, ...]:
        """The parts of `anomaly_score` a detector averages by default (alone, or inside an ensemble)."""
        return (None,)

    def anomaly_score(self, X, part: str | None = None) -> np.ndarray:
        """Higher = more anomalous, per row. The default is -score_samples; families whose best anomaly
        evidence differs from their density score override it (see each family)."""
        return -np.asarray(self.score_samples(X), dtype=np.float64)


def row_shape(X) -> tuple[int, ...]:
    """The shape of one row as the user gave it (so samples come back shaped like X's rows)."""
    if isinstance(X, Dataset):
        return tuple(X.X.shape[1:])
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 2:
        return tuple(int(d) for d in shape[1:])
    try:
        first = X[0]
        return tuple(np.shape(first[0] if isinstance(first, tuple | list) else first))
    except (TypeError, IndexError, KeyError):
        return ()
