"""Convolutional deep belief networks (Lee et al. 2009): ConvRBMs trained greedily, layer by layer, each on the
pooling-unit probabilities of the one below; `transform` from the top layer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..data import DataInfo, Dataset
from ..errors import DataError
from ..train import StepInfo, check_run_folder
from ..train.checkpoint import checkpoint_finished
from ..train.tblog import check_logger
from .array import ArrayModel
from .convrbm import ConvRBM, image_shape_of
from .dbn import _BudgetShares
from .params import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, TRAINING, Interval, Options, Sizes

# the hyperparameters every layer's ConvRBM takes from the stack as they are
SHARED = ("cd_k", "sparsity_target", "sparsity_cost", "lr", "momentum", "weight_decay", "epochs", "batch_size",
          "device", "verbose", "checkpoint_every")


class ConvDBN(ArrayModel):
    """A greedy stack of ConvRBMs. n_filters, filter_size, pool: one entry per layer, bottom to top. visible:
    the first layer's units ("bernoulli" or "gaussian"); the layers above see probabilities (Bernoulli).
    The other training hyperparameters are every layer's (epochs: per layer). burn_in: Gibbs steps in the
    top layer before `sample` passes down."""

    family = "convdbn"
    capabilities = frozenset({"sample", "transform", "reconstruct", "anomaly", "partial_fit"})
    no_likelihood_why = "no likelihood estimate for a ConvDBN (AIS on its top ConvRBM bounds p(h), not p(x))"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_filters": [Sizes()], "filter_size": [Sizes()], "pool": [Sizes()],
        "visible": [Options("bernoulli", "gaussian")], "cd_k": [POSITIVE_INT],
        "sparsity_target": [Interval(float, 0, 1, closed="neither")], "sparsity_cost": [NON_NEGATIVE],
        "lr": [NON_NEGATIVE], "momentum": [Interval(float, 0, 1, closed="left")], "weight_decay": [NON_NEGATIVE],
        "burn_in": [NON_NEGATIVE_INT], **TRAINING,
    }

    def __init__(self, n_filters: Sequence[int] = (32, 64), filter_size: Sequence[int] = (5, 5),
                 pool: Sequence[int] = (2, 2), visible: str = "bernoulli", cd_k: int = 1, sparsity_target: float = 0.1,
                 sparsity_cost: float = 0.5, lr: float = 0.1, momentum: float = 0.5, weight_decay: float = 1e-4,
                 burn_in: int = 500, epochs: int = 5, batch_size: int = 64, seed: int = 0, device: str = "auto",
                 verbose: int = 1, checkpoint_every: int = 0, sample_every: int = 0):
        self.n_filters = n_filters
        self.filter_size = filter_size
        self.pool = pool
        self.visible = visible
        self.cd_k = cd_k
        self.sparsity_target = sparsity_target
        self.sparsity_cost = sparsity_cost
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.burn_in = burn_in
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every

    @property
    def _needs_unit_interval(self) -> bool:
        return self.visible == "bernoulli"

    @classmethod
    def recommended(cls, info: DataInfo, budget: float | None = None, task: str = "generate") -> dict:
        """One layer on small images (8x8 digits), two on MNIST-sized ones (ConvRBM.recommended per layer)."""
        one = ConvRBM.recommended(info, budget, task)
        if min(image_shape_of(info.row_shape)[1:]) < 16:
            return {"n_filters": (one["n_filters"],), "filter_size": (one["filter_size"],), "pool": (2,),
                    **{k: v for k, v in one.items() if k not in ("n_filters", "filter_size")}}
        return {k: v for k, v in one.items() if k not in ("n_filters", "filter_size")}

    def _validate_params(self) -> None:
        super()._validate_params()
        if not len(self.n_filters) == len(self.filter_size) == len(self.pool):
            raise DataError(f"ConvDBN: n_filters, filter_size and pool need one entry per layer; got "
                            f"{len(self.n_filters)}, {len(self.filter_size)} and {len(self.pool)}")

    def _layer(self, i: int, **override) -> ConvRBM:
        return ConvRBM(n_filters=int(self.n_filters[i]), filter_size=int(self.filter_size[i]), pool=int(self.pool[i]),
                       visible=self.visible if i == 0 else "bernoulli", persistent=False, seed=int(self.seed) + i,
                       burn_in=int(self.burn_in), **{**{k: getattr(self, k) for k in SHARED}, **override})

    # --- fitting -------------------------------------------------------------------------------------------
    def fit(self, X, y=None, *, run_dir: str | Path | None = None, resume: bool = False, overwrite: bool = False,
            time_budget: float | None = None, logger: str | None = None):
        """Greedy layer-wise training on X (y is ignored), each layer's run in run_dir/layer_N. On resume,
        once a layer trains further, the layers above it start over (they saw older features). `time_budget`
        is shared by the layers in order, as in the DBN; `logger="tensorboard"` writes each layer's
        run_dir/layer_N/tb."""
        self._validate_params()
        check_run_folder(None, resume, overwrite)
        check_logger(logger, None if run_dir is None else Path(run_dir))
        return self._fit_layers(self._validate_fit(X, None), run_dir, resume, overwrite, time_budget, logger=logger)

    def partial_fit(self, X, y=None):
        """One more epoch of every layer in turn, bottom up (the first call builds the stack, one epoch each)."""
        self._validate_params()
        if not hasattr(self, "module_"):
            return self._fit_layers(self._validate_fit(X, None), None, False, False, None, epochs=1)
        x = X
        for i, rbm in enumerate(self.layers_):
            rbm._training_step = self._step_of(rbm)
            rbm.partial_fit(x)
            del rbm._training_step
            if i + 1 < len(self.layers_):
                maps = rbm.transform_maps(x)
                x = maps.reshape(len(maps), -1)
        return self

    def _fit_layers(self, data: Dataset, run_dir: str | Path | None, resume: bool, overwrite: bool,
                    time_budget: float | None, logger: str | None = None, **override) -> ConvDBN:
        if run_dir is not None and not resume and not overwrite:
            check_run_folder(Path(run_dir) / "layer_1", False, False)
        shares = _BudgetShares(time_budget, len(self.n_filters))
        x: np.ndarray = data.X
        self.layers_, restart = [], False
        for i in range(len(self.n_filters)):
            rbm = self._layer(i, **override)
            rbm._training_step = self._step_of(rbm)  # every update goes through this model's _training_step
            layer_dir = None if run_dir is None else Path(run_dir) / f"layer_{i + 1}"
            layer_resume = resume and not restart
            continues = layer_resume and not checkpoint_finished(layer_dir)
            if i:  # the maps below, flat with their shape given (so no layout is guessed from it)
                rbm._given_image_shape = x.shape[1:]
            rbm.fit(x.reshape(len(x), -1) if i else x, run_dir=layer_dir, resume=layer_resume,
                    overwrite=overwrite or (resume and not layer_resume), time_budget=shares.next(), logger=logger)
            del rbm._training_step
            restart = restart or continues
            self.layers_.append(rbm)
            if i + 1 < len(self.n_filters):
                x = rbm.transform_maps(x.reshape(len(x), -1) if i else x)
        self.image_shape_ = self.layers_[0].image_shape_
        self.device_ = self.layers_[0].device_
        self.module_ = nn.ModuleList(rbm.module_ for rbm in self.layers_)
        self.history_ = [{**r, "layer": i + 1} for i, rbm in enumerate(self.layers_) for r in rbm.history_]
        self.train_seconds_ = sum(rbm.train_seconds_ for rbm in self.layers_)
        self.budget_exhausted_ = any(rbm.budget_exhausted_ for rbm in self.layers_)
        stops = [f"layer {i + 1}: {rbm.stop_reason_}" for i, rbm in enumerate(self.layers_) if rbm.stop_reason_]
        self.stop_reason_ = "; ".join(stops) or None
        return self

    def _step_of(self, rbm: ConvRBM):
        def step(batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict:
            self._training_layer = rbm
            return self._training_step(batch, info)

        return step

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict:
        """One CD update of the layer being trained (ConvRBM._training_step)."""
        return ConvRBM._training_step(self._training_layer, batch, info)

    def _fitted_info(self) -> dict:
        return {**super()._fitted_info(), "image_shape": list(self.image_shape_)}

    def _restore_fitted(self, fitted: dict) -> None:
        self.image_shape_ = tuple(int(d) for d in fitted["image_shape"])

    def _build(self, data: Dataset | None) -> None:
        """Load time: the layers' shapes follow from the image shape and the hyperparameters."""
        shape, self.layers_ = self.image_shape_, []
        for i in range(len(self.n_filters)):
            rbm = self._layer(i)
            rbm.image_shape_, rbm.data_shape_, rbm.input_shape_ = shape, shape, shape
            rbm.n_features_in_, rbm.classes_ = int(np.prod(shape)), []
            rbm._build(None)
            rbm.device_ = self.device_
            self.layers_.append(rbm)
            shape = (int(self.n_filters[i]), *rbm.module_.pooled_shape)
        self.module_ = nn.ModuleList(rbm.module_ for rbm in self.layers_)

    # --- outputs ---------------------------------------------------------------------------------------------
    def _up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's pooling probabilities in turn, from the (standardised) images x."""
        maps = []
        for net in self.module_:
            x = net.hidden_probs(net.hidden_input(x))[1]
            maps.append(x)
        return maps

    def _down(self, i: int, pooled: torch.Tensor) -> torch.Tensor:
        """E[v | h] of layer i with each pooling unit's probability spread evenly over its block's units."""
        net = self.module_[i]
        p = net.pool
        blocks = pooled.unsqueeze(-1).expand(*pooled.shape, p * p) / (p * p)
        return net.visible_mean(net._unblocks(blocks.contiguous()))

    def _images(self, X) -> torch.Tensor:
        return self.layers_[0]._inputs(X)

    def transform(self, X) -> np.ndarray:
        """The top layer's pooling probabilities, flattened to (N, features)."""
        return self._batched(lambda v: self._up(v)[-1].flatten(1), self._images(X)).cpu().numpy()

    def reconstruct(self, X) -> np.ndarray:
        """Mean-field pass up to the top layer and back down (pooling units spread evenly over their blocks)."""
        def updown(v: torch.Tensor) -> torch.Tensor:
            h = self._up(v)[-1]
            for i in reversed(range(len(self.module_))):
                h = self._down(i, h)
            return h

        return self._as_rows(self.layers_[0]._unstandardize(self._batched(updown, self._images(X))))

    def _sample(self, n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """Gibbs chains in the top layer (burn_in steps, ConvRBM._sample), then one mean-field pass down."""
        top = self.layers_[-1]
        v = top._sample(n, None, generator).reshape(n, *top.image_shape_)
        for i in reversed(range(len(self.module_) - 1)):
            v = self._down(i, v)
        return self.layers_[0]._unstandardize(v).reshape(n, *self.data_shape_)

    def score_samples(self, X) -> np.ndarray:
        """Higher = more normal: -F(v) under the first layer (log p(v) up to its log Z)."""
        return -self._batched(self.module_[0].free_energy, self._images(X)).cpu().numpy()

    def anomaly_score(self, X, part: str | None = None) -> np.ndarray:
        return -np.asarray(self.score_samples(X), dtype=np.float64)

    @property
    def components_(self) -> np.ndarray:
        """The first layer's filters, shaped (n_filters, channels, height, width)."""
        return self.module_[0].weight.detach().cpu().numpy()


__all__ = ["ConvDBN"]
