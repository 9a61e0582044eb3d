"""Convolutional RBMs (Lee, Grosse, Ranganath & Ng 2009; Norouzi, Ranjbar & Mori 2009): filters shared across
positions, probabilistic max-pooling, a sparsity penalty on the pooling units, trained by CD-k or PCD-k with
updates written with conv2d and its transpose (no autograd), on the shared training loop. The network math
is in nn/conv_rbm.py; log Z in convrbm_partition.py."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch

from ..data import DataInfo, Dataset
from ..errors import DataError
from ..nn.conv_rbm import ConvRBMNet
from ..train import StepInfo, Trainer
from .array import ArrayModel
from .base import LikelihoodEstimate, budget_epochs
from .convrbm_partition import MAX_EXACT_STATES, ais_log_partition, exact_log_partition
from .params import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, TRAINING, Boolean, Interval, Options

MONITOR_ROWS = 500  # training rows whose reconstruction error and sparsity are logged at each epoch end


def image_shape_of(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) of one row: images as they are; a flat row of s*s values as an s x s grey image, any other
    flat row as a 1 x D signal."""
    if len(shape) == 3:
        return tuple(int(d) for d in shape)
    d = int(np.prod(shape))
    s = math.isqrt(d)
    return (1, s, s) if s * s == d and d >= 4 else (1, 1, d)


class ConvRBM(ArrayModel):
    """Convolutional RBM with probabilistic max-pooling (Lee et al. 2009) and scikit-learn's transformer
    surface: fit, partial_fit, transform (pooled hidden probabilities, flattened), sample, reconstruct,
    free_energy, score_samples, components_ (the filters) and an AIS log-likelihood.

    Images as (n, h, w) or (n, c, h, w) (colour works); flat rows of s*s values are s x s grey images.
    n_filters: filters (hidden feature maps). filter_size: their height and width (clipped to the image).
    pool: probabilistic max-pooling block size (1 = no pooling). visible: "bernoulli" (X in [0, 1]) or
    "gaussian" (real X, standardised per channel inside the model when `standardize`; unit variance).
    cd_k: Gibbs steps of the negative phase; persistent: PCD, one persistent chain per batch row.
    sparsity_target, sparsity_cost: the hidden biases are pulled towards making each filter's pooling units
    on for a fraction `sparsity_target` of blocks (Lee, Ekanadham & Ng 2008); cost 0 = no penalty.
    lr: learning rate of the gradient averaged over the batch and the detection positions.
    momentum, weight_decay (on the filters): classic CD extras. burn_in: Gibbs steps before `sample` returns.
    ais_runs, ais_betas: AIS defaults for `log_likelihood`.
    Defaults: the best setting of benchmarks/convrbm_mnist.py on MNIST.
    """

    family = "convrbm"
    capabilities = frozenset({"sample", "transform", "reconstruct", "likelihood", "anomaly", "partial_fit"})
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_filters": [POSITIVE_INT], "filter_size": [POSITIVE_INT], "pool": [POSITIVE_INT],
        "visible": [Options("bernoulli", "gaussian")], "cd_k": [POSITIVE_INT], "persistent": [Boolean()],
        "sparsity_target": [Interval(float, 0, 1, closed="neither")], "sparsity_cost": [NON_NEGATIVE],
        "lr": [NON_NEGATIVE], "momentum": [Interval(float, 0, 1, closed="left")], "weight_decay": [NON_NEGATIVE],
        "standardize": [Boolean()], "burn_in": [NON_NEGATIVE_INT], "ais_runs": [POSITIVE_INT],
        "ais_betas": [POSITIVE_INT], **TRAINING,
    }

    def __init__(self, n_filters: int = 32, filter_size: int = 5, pool: int = 2, visible: str = "bernoulli",
                 cd_k: int = 1, persistent: bool = False, sparsity_target: float = 0.1, sparsity_cost: float = 0.5,
                 lr: float = 0.1, momentum: float = 0.5, weight_decay: float = 1e-4, standardize: bool = True,
                 burn_in: int = 500, ais_runs: int = 100, ais_betas: int = 5000, epochs: int = 5,
                 batch_size: int = 64, seed: int = 0, device: str = "auto", verbose: int = 1,
                 checkpoint_every: int = 0, sample_every: int = 0):
        self.n_filters = n_filters
        self.filter_size = filter_size
        self.pool = pool
        self.visible = visible
        self.cd_k = cd_k
        self.persistent = persistent
        self.sparsity_target = sparsity_target
        self.sparsity_cost = sparsity_cost
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.standardize = standardize
        self.burn_in = burn_in
        self.ais_runs = ais_runs
        self.ais_betas = ais_betas
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

    @property
    def _gaussian(self) -> bool:
        return self.visible == "gaussian"

    @classmethod
    def recommended(cls, info: DataInfo, budget: float | None = None, task: str = "generate") -> dict:
        """Filters about a fifth of the image side (5 on MNIST, 3 on 8x8 digits), Gaussian visibles for data
        outside [0, 1]; with a budget the epoch count is only a bound (benchmarks/convrbm_mnist.py)."""
        _, h, w = image_shape_of(info.row_shape)
        side = min(h, w) if min(h, w) > 1 else max(h, w)
        small = side < 16
        return {"filter_size": max(1, min(5, side // 3 if small else 5)), "n_filters": 16 if small else 32,
                "visible": "bernoulli" if info.unit_interval else "gaussian",
                **({"batch_size": 32} if small else {}), **budget_epochs(budget)}

    # --- fitting -------------------------------------------------------------------------------------------
    def _validate_fit(self, X, y) -> Dataset:
        data = super()._validate_fit(X, y)
        given = getattr(self, "_given_image_shape", None)  # a ConvDBN's upper layers: flat maps of known shape
        self.image_shape_ = tuple(given) if given is not None else image_shape_of(self.data_shape_)
        x = data.X.reshape(len(data), *self.image_shape_)
        self._fit_stats = None
        if self._gaussian:  # per-channel standardisation, once, here; the model keeps the statistics
            xd = x.astype(np.float64)
            shift = xd.mean((0, 2, 3)) if self.standardize else np.zeros(x.shape[1])
            scale = np.maximum(xd.std((0, 2, 3)), 1e-6) if self.standardize else np.ones(x.shape[1])
            self._fit_stats = (torch.tensor(shift, dtype=torch.float32), torch.tensor(scale, dtype=torch.float32))
            x = ((xd - shift[None, :, None, None]) / scale[None, :, None, None]).astype(np.float32)
        return Dataset(np.ascontiguousarray(x), data.y, data.name, data.classes)

    def _fitted_info(self) -> dict:
        return {**super()._fitted_info(), "image_shape": list(self.image_shape_)}

    def _restore_fitted(self, fitted: dict) -> None:
        self.image_shape_ = tuple(int(d) for d in fitted["image_shape"])

    def _filter_shape(self) -> tuple[int, int]:
        _, h, w = self.image_shape_
        f = int(self.filter_size)
        return min(f, h), min(f, w)

    def _build(self, data: Dataset | None) -> None:
        n_chains = int(self.batch_size) if self.persistent else 0
        net = ConvRBMNet(self.image_shape_, int(self.n_filters), self._filter_shape(), int(self.pool), self.visible,
                         n_chains, bool(self.momentum))
        net.weight.normal_(0.0, 0.01)
        # hidden biases where each filter's pooling units are on for sparsity_target of the blocks at W = 0
        units = min(int(self.pool), net.detection_shape[0]) * min(int(self.pool), net.detection_shape[1])
        t = float(self.sparsity_target)
        net.hidden_bias.fill_(math.log(t / (units * (1 - t))))
        self._monitor = None
        if data is not None:
            x = torch.as_tensor(data.X)
            if self._gaussian:
                net.shift.copy_(self._fit_stats[0])
                net.scale.copy_(self._fit_stats[1])
            else:  # visible biases at the log-odds of each channel's mean (Hinton's guide, section 8.1)
                p = x.mean((0, 2, 3)).clamp(1e-3, 1 - 1e-3)
                net.visible_bias.copy_(torch.log(p / (1 - p)))
            if n_chains:  # the chains start from data-like noise (fixed by the seed, so resume is exact)
                net.chains.copy_(net.sample_visible(torch.zeros(n_chains, net.weight.shape[0], *net.detection_shape)))
            self._monitor = x[:MONITOR_ROWS].clone()
        self.module_ = net

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        return []  # CD updates the parameters itself

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, torch.Tensor]:
        """One CD-k / PCD-k update: statistics of the data and of the negative phase by conv2d's weight
        gradient, averaged over the batch and the detection positions, plus the sparsity pull on the hidden
        biases; momentum and weight decay as in the RBM."""
        net = self.module_
        v0 = batch[0]
        h0, pooled0 = net.hidden_probs(net.hidden_input(v0))
        if self.persistent:
            v = net.chains
            for _ in range(int(self.cd_k)):
                v = net.sample_visible(net.sample_hidden(net.hidden_input(v)))
            net.chains.copy_(v)
        else:
            h = net.sample_from(h0)
            for i in range(int(self.cd_k)):
                v = net.sample_visible(h)
                if i + 1 < int(self.cd_k):
                    h = net.sample_hidden(net.hidden_input(v))
        hk, _ = net.hidden_probs(net.hidden_input(v))
        positions = math.prod(net.detection_shape)
        pos, neg = net.statistics(v0, h0), net.statistics(v, hk)
        grads = {name: p.div_(len(v0) * positions).sub_(n, alpha=1.0 / (len(v) * positions))
                 for name, p, n in zip(("weight", "visible_bias", "hidden_bias"), pos, neg, strict=True)}
        if self.sparsity_cost:
            grads["hidden_bias"].add_(float(self.sparsity_target) - pooled0.mean((0, 2, 3)),
                                      alpha=float(self.sparsity_cost))
        if info.world_size > 1:
            self._average_ranks(list(grads.values()))
        self._apply_update(grads, float(self.lr))
        return {}

    def _apply_update(self, grads: dict[str, torch.Tensor], lr: float) -> None:
        net = self.module_
        if self.weight_decay:
            grads["weight"].sub_(net.weight, alpha=float(self.weight_decay))
        m = float(self.momentum)
        for name, step in grads.items():
            if m:
                step = getattr(net, f"velocity_{name}").mul_(m).add_(step)
            getattr(net, name).add_(step, alpha=lr)

    def _on_epoch_end(self, epoch: int) -> dict[str, float]:
        if self._monitor is None:
            return {}
        x = self._monitor.to(self.device_)
        net = self.module_
        with torch.no_grad():
            h, pooled = net.hidden_probs(net.hidden_input(x))
            recon = net.visible_mean(h)
            return {"recon_error": float((recon - x).pow(2).mean()), "sparsity": float(pooled.mean())}

    # --- inputs and outputs ------------------------------------------------------------------------------
    def _inputs(self, X, what: str = "X") -> torch.Tensor:
        """Validated (N, C, H, W) images, standardised like the training data for Gaussian visibles."""
        x = self.validate_X(X, what).reshape(-1, *self.image_shape_)
        if self._gaussian:
            x = (x - self.module_.shift.view(1, -1, 1, 1)) / self.module_.scale.view(1, -1, 1, 1)
        return x

    def _unstandardize(self, v: torch.Tensor) -> torch.Tensor:
        net = self.module_
        return v * net.scale.view(1, -1, 1, 1) + net.shift.view(1, -1, 1, 1) if self._gaussian else v

    def partial_fit(self, X, y=None):
        """One more epoch over X (the first call builds the model), keeping the persistent chains."""
        if not hasattr(self, "module_"):
            return super().partial_fit(X, y)
        self._validate_params()
        Trainer(self, continue_training=True).run(Dataset(self._inputs(X).cpu().numpy()))
        return self

    def _sample(self, n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """Gibbs chains from noise, `burn_in` steps; returns E[v | h] of the last step."""
        net = self.module_
        h = net.sample_hidden(torch.zeros(n, net.weight.shape[0], *net.detection_shape, device=self.device_),
                              generator)
        for _ in range(max(0, int(self.burn_in))):
            v = net.sample_visible(h, generator)
            h = net.sample_hidden(net.hidden_input(v), generator)
        return self._unstandardize(net.visible_mean(h)).reshape(n, *self.data_shape_)

    def transform(self, X) -> np.ndarray:
        """Pooling-unit probabilities P(block on | v), flattened to (N, n_filters * pooled height * width)."""
        net = self.module_
        out = self._batched(lambda v: net.hidden_probs(net.hidden_input(v))[1].flatten(1), self._inputs(X))
        return out.cpu().numpy()

    def transform_maps(self, X) -> np.ndarray:
        """The same probabilities as (N, n_filters, pooled height, width) maps (what a ConvDBN stacks on)."""
        net = self.module_
        return self._batched(lambda v: net.hidden_probs(net.hidden_input(v))[1], self._inputs(X)).cpu().numpy()

    def reconstruct(self, X) -> np.ndarray:
        """Mean-field reconstruction E[v | h = P(h | v)], shaped like X's rows."""
        net = self.module_
        out = self._batched(lambda v: net.visible_mean(net.hidden_probs(net.hidden_input(v))[0]), self._inputs(X))
        return self._as_rows(self._unstandardize(out))

    def free_energy(self, X) -> np.ndarray:
        """F(v) per row (of the standardised data for Gaussian visibles): log p(v) = -F(v) - log Z."""
        return self._batched(self.module_.free_energy, self._inputs(X)).cpu().numpy()

    def score_samples(self, X) -> np.ndarray:
        """Higher = more normal: -F(v), log p(v) up to the constant log Z (log_likelihood estimates log Z)."""
        return -self.free_energy(X)

    def anomaly_score(self, X, part: str | None = None) -> np.ndarray:
        """Higher = more anomalous: the free energy F(v)."""
        return self.free_energy(X).astype(np.float64)

    @property
    def components_(self) -> np.ndarray:
        """The filters, shaped (n_filters, channels, filter height, filter width)."""
        return self.module_.weight.detach().cpu().numpy()

    def log_likelihood(self, X, n_runs: int | None = None, n_betas: int | None = None,
                       exact: bool | None = None) -> LikelihoodEstimate:
        """Mean log p(x) per row in nats: log Z exactly by enumerating the hidden configurations (`exact=True`,
        or by default when there are at most 2^16), otherwise by AIS with `n_runs` chains and `n_betas`
        temperatures (defaults: ais_runs, ais_betas). Gaussian visibles: density of the standardised data."""
        from .convrbm_partition import log_hidden_configurations

        x = self._inputs(X)
        net = self.module_
        if exact is None:
            exact = (log_hidden_configurations(net) <= 16 * math.log(2)
                     and not any(d % net.pool for d in net.detection_shape))
        if exact and log_hidden_configurations(net) > math.log(MAX_EXACT_STATES):
            raise DataError("exact=True: too many hidden configurations to enumerate; use AIS (exact=False)")
        with torch.no_grad():
            neg_f = -self._batched(net.free_energy, x).double()
            if exact:
                log_z, lo, hi, runs, betas = exact_log_partition(net), None, None, 0, 0
            else:
                runs, betas = int(n_runs or self.ais_runs), int(n_betas or self.ais_betas)
                log_z, lo, hi = ais_log_partition(net, runs, betas, seed=int(self.seed),
                                                  base_data=None if self._gaussian else x)
        mean = float(neg_f.mean()) - log_z
        stderr = float(neg_f.std() / math.sqrt(len(neg_f))) if len(neg_f) > 1 else 0.0
        interval = (mean, mean) if lo is None else (float(neg_f.mean()) - hi, float(neg_f.mean()) - lo)
        return LikelihoodEstimate(mean, stderr, log_z, interval, "exact" if exact else "ais", runs, betas)


__all__ = ["ConvRBM", "image_shape_of"]
