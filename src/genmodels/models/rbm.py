"""Restricted Boltzmann machines: Bernoulli-Bernoulli and Gaussian-Bernoulli, trained by contrastive
divergence (CD-k, Hinton 2002) or persistent CD (PCD, Tieleman 2008) with updates written directly in torch
(no autograd), on the shared training loop. Log-likelihoods by annealed importance sampling (Salakhutdinov &
Murray 2008), or exactly by enumeration for small models.

Energy (Bernoulli visibles):  E(v, h) = -b.v - c.h - v W^T h
Energy (Gaussian visibles, Cho et al. 2011):  E(v, h) = sum_i (v_i - b_i)^2 / (2 s_i^2) - c.h - (v / s^2) W^T h
W is stored (n_hidden, n_visible), like scikit-learn's `components_`.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..data import DataInfo, Dataset
from ..nn.rbm import RBMNet, bernoulli
from ..train import StepInfo, Trainer
from .array import ArrayModel
from .base import LikelihoodEstimate, budget_epochs, epochs_for
from .params import (
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    TRAINING,
    Boolean,
    Interval,
    Options,
)
from .rbm_partition import ais_log_partition, exact_log_partition

LOG_2PI = math.log(2 * math.pi)
MONITOR_ROWS = 1000  # training rows whose reconstruction error is logged at each epoch end


class RBM(ArrayModel):
    """Restricted Boltzmann machine with scikit-learn's BernoulliRBM surface (fit, partial_fit, transform,
    score_samples, gibbs) plus sample, reconstruct, free_energy and an AIS log-likelihood.

    visible: "bernoulli" (X in [0, 1]; grey values are taken as probabilities, as scikit-learn does) or
        "gaussian" (real X, standardised per feature inside the model when `standardize`).
    cd_k: Gibbs steps of the negative phase. persistent: PCD, one persistent chain per batch row (what
        scikit-learn's BernoulliRBM does, with cd_k=1).
    lr: learning rate of the mean gradient over a batch (scikit-learn's learning_rate). lr_schedule:
        "constant", or "linear" decay to zero over the run (what PCD needs for an accurate final model).
    momentum, weight_decay: classic CD extras (Hinton 2010, "A practical guide to training RBMs").
    learn_variance: Gaussian visibles learn their log-variance (else unit variance).
    burn_in: Gibbs steps before `sample` returns. ais_runs, ais_betas: AIS defaults for `log_likelihood`.
    """

    family = "rbm"
    capabilities = frozenset({"sample", "transform", "reconstruct", "density", "likelihood", "anomaly",
                              "partial_fit"})
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_hidden": [POSITIVE_INT], "visible": [Options("bernoulli", "gaussian")], "cd_k": [POSITIVE_INT],
        "persistent": [Boolean()], "lr": [NON_NEGATIVE], "lr_schedule": [Options("constant", "linear")],
        "momentum": [Interval(float, 0, 1, closed="left")], "weight_decay": [NON_NEGATIVE],
        "learn_variance": [Boolean()], "standardize": [Boolean()], "burn_in": [NON_NEGATIVE_INT],
        "ais_runs": [POSITIVE_INT], "ais_betas": [POSITIVE_INT], **TRAINING,
    }

    def __init__(self, n_hidden: int = 256, visible: str = "bernoulli", cd_k: int = 1, persistent: bool = False,
                 lr: float = 0.1, lr_schedule: str = "constant", momentum: float = 0.0, weight_decay: float = 0.0,
                 learn_variance: bool = False, standardize: bool = True, burn_in: int = 1000, ais_runs: int = 100,
                 ais_betas: int = 14500, epochs: int = 10, batch_size: int = 10, seed: int = 0, device: str = "auto", verbose: int = 1,
                 checkpoint_every: int = 0, sample_every: int = 0):
        self.n_hidden = n_hidden
        self.visible = visible
        self.cd_k = cd_k
        self.persistent = persistent
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.learn_variance = learn_variance
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
        """compare: CD-1 with momentum, Bernoulli on [0, 1] data (on digits CD-1's samples beat PCD-1's at the
        same budget, FID 20 vs 285); compare-per-class: the same with fewer hidden units; anomaly: Gaussian visibles for feature vectors, about 3000 steps;
        augment: a small RBM (one per class, PerClassModel) (benchmarks/compare_mnist.py, anomaly_adbench.py,
        augment_mnist.py)."""
        small, d, n = info.n_features <= 256, info.n_features, max(1, info.n_samples)
        bernoulli = info.unit_interval
        if task in ("compare", "compare-per-class"):  # per class: the smaller RBM each class gets in compare's
            # PerClassModel sampler (on a quarter of the budget); AIS settings: compare's NLL estimate
            return {"n_hidden": (128 if small else 500) if task == "compare" else (32 if small else 100),
                    "visible": "bernoulli" if bernoulli else "gaussian", "cd_k": 1, "persistent": False,
                    "lr": 0.05 if bernoulli else 0.01, "momentum": 0.5, "burn_in": 200, "ais_runs": 100,
                    "ais_betas": 2000, "batch_size": 32 if small else 100, **budget_epochs(budget)}
        if task == "anomaly":
            images = info.is_image and bernoulli
            return {"visible": "bernoulli" if images else "gaussian", "n_hidden": 128 if images else max(16, 2 * d),
                    "lr": 0.05 if images else 0.01, "cd_k": 1, "persistent": False, "batch_size": 64,
                    "epochs": epochs_for(3000, 64, n, 5, 100)}
        if task == "augment":  # n: the rows of one class
            return {"n_hidden": 64, "lr": 0.05, "batch_size": 10, "burn_in": 500,
                    "epochs": epochs_for(2000, 10, n, 5, 500)}
        return {}

    def anomaly_score(self, X, part: str | None = None) -> np.ndarray:
        """Higher = more anomalous: the free energy F(v) (of the standardised row for Gaussian visibles)."""
        return self.free_energy(X).astype(np.float64)

    # --- fitting -------------------------------------------------------------------------------------------
    def _validate_fit(self, X, y) -> Dataset:
        data = super()._validate_fit(X, y)
        self._fit_stats = None
        if self._gaussian:  # standardise once, here; the model keeps the statistics for later calls
            flat = data.X.reshape(len(data), -1).astype(np.float64)
            shift = flat.mean(0) if self.standardize else np.zeros(flat.shape[1])
            scale = np.maximum(flat.std(0), 1e-6) if self.standardize else np.ones(flat.shape[1])
            self._fit_stats = (torch.tensor(shift, dtype=torch.float32), torch.tensor(scale, dtype=torch.float32))
            X_std = ((flat - shift) / scale).astype(np.float32).reshape(data.X.shape)
            data = Dataset(X_std, data.y, data.name, data.classes)
        return data

    def _build(self, data: Dataset | None) -> None:
        n_visible = self.n_features_in_
        n_chains = int(self.batch_size) if self.persistent else 0
        net = RBMNet(n_visible, int(self.n_hidden), self.visible, n_chains, bool(self.momentum))
        net.weight.normal_(0.0, 0.01)  # Hinton's guide; scikit-learn uses the same scale
        self._monitor = None
        if data is not None:
            x = torch.as_tensor(data.X.reshape(len(data), -1))
            if self._gaussian:
                net.shift.copy_(self._fit_stats[0])
                net.scale.copy_(self._fit_stats[1])
            else:  # visible biases at the log-odds of the data marginals (Hinton's guide, section 8.1)
                p = x.mean(0).clamp(1e-3, 1 - 1e-3)
                net.visible_bias.copy_(torch.log(p / (1 - p)))
            self._monitor = x[:MONITOR_ROWS].clone()
        self.module_ = net

    def _lr(self, info: StepInfo) -> float:
        if self.lr_schedule == "linear":  # a function of the step: resume stays exact
            return float(self.lr) * max(0.0, 1.0 - info.progress)
        return float(self.lr)

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        return []  # CD updates the parameters itself

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, torch.Tensor]:
        """One CD-k / PCD-k update in a handful of fused in-place torch ops: at small batches the per-op
        overhead, not the FLOPs, is the cost, so both phases share one matmul where they can (PCD) and one
        rank-2B update moves W (the Trainer's NaN guard checks the weights; nothing is logged per step)."""
        net = self.module_
        v0 = batch[0].flatten(1)
        vv, hh = self._phases(net, v0)  # rows: the data, then the negative phase
        n_pos, n_neg = len(v0), len(vv) - len(v0)
        lr = self._lr(info)
        if self.momentum or info.world_size > 1 or self._gaussian:
            self._apply_update(self._gradients(vv[:n_pos], hh[:n_pos], vv[n_pos:], hh[n_pos:], 1.0 / n_pos,
                                               1.0 / n_neg), lr, info.world_size > 1)
            return {}
        hh[n_pos:].mul_(-n_pos / n_neg)  # negative rows weighted so that each phase enters as a mean
        if self.weight_decay:
            net.weight.mul_(1.0 - lr * float(self.weight_decay))
        net.weight.addmm_(hh.t(), vv, alpha=lr / n_pos)
        net.hidden_bias.add_(hh.sum(0), alpha=lr / n_pos)
        net.visible_bias.add_(vv[:n_pos].sum(0).sub_(vv[n_pos:].sum(0), alpha=n_pos / n_neg), alpha=lr / n_pos)
        return {}

    def _phases(self, net: RBMNet, v0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Visible states and hidden probabilities of the positive phase (the data) stacked over those of
        the negative phase (after cd_k Gibbs steps from the data, or from the persistent chains)."""
        k = int(self.cd_k)
        if self.persistent:
            h = net.chains
            for _ in range(k - 1):
                h = bernoulli(net.hidden_probs(net.sample_visible(h)))
            vv = torch.cat([v0, net.sample_visible(h)])
            hh = net.hidden_probs(vv)  # one matmul for both phases
            net.chains.uniform_().lt_(hh[len(v0):])  # the chains move on: h ~ p(h | v_k)
            return vv, hh
        h0 = net.hidden_probs(v0)
        h = bernoulli(h0)
        for i in range(k):
            vk = net.sample_visible(h)
            hk = net.hidden_probs(vk)
            if i + 1 < k:
                h = bernoulli(hk)
        return torch.cat([v0, vk]), torch.cat([h0, hk])

    def _gradients(self, v0: torch.Tensor, h0: torch.Tensor, vk: torch.Tensor, hk: torch.Tensor, pos: float,
                   neg: float) -> dict[str, torch.Tensor]:
        """CD estimates of d log p / d theta = E_data[-dE/dtheta] - E_model[-dE/dtheta]."""
        net = self.module_
        if self._gaussian:  # the weights see v / s^2
            precision = net.precision()
            v0s, vks = v0 * precision, vk * precision
        else:
            v0s, vks = v0, vk
        grads = {
            "weight": torch.mm(h0.t(), v0s).mul_(pos).addmm_(hk.t(), vks, alpha=-neg),
            "visible_bias": v0s.sum(0).mul_(pos).sub_(vks.sum(0), alpha=neg) if self._gaussian else
            (v0.sum(0) * pos).sub_(vk.sum(0), alpha=neg),
            "hidden_bias": (h0.sum(0) * pos).sub_(hk.sum(0), alpha=neg),
        }
        # (Gaussian: the visible-bias gradient is (v - b) / s^2; the -b / s^2 parts cancel, as above)
        if self._gaussian and self.learn_variance:  # d(-E)/d log s^2 = (v - b)^2 / (2 s^2) - v W^T h / s^2
            def term(v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
                return ((0.5 * (v - net.visible_bias).pow(2) - v * (h @ net.weight)) * precision).sum(0)

            grads["log_var"] = term(v0, h0).mul_(pos).sub_(term(vk, hk), alpha=neg)
        return grads

    def _apply_update(self, grads: dict[str, torch.Tensor], lr: float, distributed: bool) -> None:
        """Average over torchrun ranks, then SGD with momentum and weight decay (on W only)."""
        net = self.module_
        names = list(grads)
        if distributed:
            self._average_ranks([grads[k] for k in names])
        m = float(self.momentum)
        if self.weight_decay:
            grads["weight"].sub_(net.weight, alpha=float(self.weight_decay))
        for name in names:
            step = grads[name]
            if m:
                step = getattr(net, f"velocity_{name}").mul_(m).add_(step)
            getattr(net, name).add_(step, alpha=lr)
        if self._gaussian and self.learn_variance:
            net.log_var.clamp_(math.log(1e-2), math.log(1e2))  # keep the variances sane (unstable otherwise)

    def _on_epoch_end(self, epoch: int) -> dict[str, float]:
        if self._monitor is None:
            return {}
        x = self._monitor.to(self.device_)
        with torch.no_grad():
            recon = self.module_.visible_mean(self.module_.hidden_probs(x))
            return {"recon_error": float((recon - x).pow(2).mean())}

    # --- sampling --------------------------------------------------------------------------------------------
    def _sample(self, n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """Gibbs chains started from the visible biases' marginals (Bernoulli) or the data mean (Gaussian),
        run for `burn_in` steps; returns E[v | h] of the last step (grey-level images for Bernoulli units)."""
        net = self.module_
        if self._gaussian:
            v = torch.randn(n, self.n_features_in_, generator=generator).to(self.device_)
        else:
            v = bernoulli(torch.sigmoid(net.visible_bias).expand(n, -1), generator)
        for _ in range(max(0, int(self.burn_in))):
            v = net.sample_visible(bernoulli(net.hidden_probs(v), generator), generator)
        mean = net.visible_mean(bernoulli(net.hidden_probs(v), generator))
        return self._unstandardize(mean).view(n, *self.data_shape_)

    def _unstandardize(self, v: torch.Tensor) -> torch.Tensor:
        return v * self.module_.scale + self.module_.shift if self._gaussian else v

    # --- the scikit-learn BernoulliRBM surface -------------------------------------------------------------
    def _inputs(self, X, what: str = "X") -> torch.Tensor:
        """Validated flat (N, n_features) rows, standardised like the training data for Gaussian visibles."""
        x = self.validate_X(X, what).reshape(-1, self.n_features_in_)
        if self._gaussian:
            x = (x - self.module_.shift) / self.module_.scale
        return x

    def partial_fit(self, X, y=None):
        """One more epoch over X (the first call builds the model), keeping the persistent chains."""
        if not hasattr(self, "module_"):
            return super().partial_fit(X, y)
        Trainer(self, continue_training=True).run(Dataset(self._inputs(X).cpu().numpy()))
        return self

    def transform(self, X) -> np.ndarray:
        """Hidden unit probabilities p(h_j = 1 | v), shaped (N, n_hidden): the learned features."""
        return self._batched(self.module_.hidden_probs, self._inputs(X)).cpu().numpy()

    def reconstruct(self, X) -> np.ndarray:
        """Mean-field reconstruction E[v | h = p(h | v)], shaped like X's rows."""
        net = self.module_
        x = self._inputs(X)
        return self._as_rows(self._unstandardize(self._batched(lambda v: net.visible_mean(net.hidden_probs(v)), x)))

    def free_energy(self, X) -> np.ndarray:
        """F(v) per row (of the standardised data for Gaussian visibles): log p(v) = -F(v) - log Z."""
        return self._batched(self.module_.free_energy, self._inputs(X)).cpu().numpy()

    def score_samples(self, X) -> np.ndarray:
        """Higher = more normal. Bernoulli: the pseudo-likelihood as scikit-learn computes it (n_features x
        log sigmoid(F(v~) - F(v)) with one random feature flipped per row, fixed by `seed`). Gaussian: -F(v)."""
        x = self._inputs(X)
        net = self.module_
        if self._gaussian:
            return -self._batched(net.free_energy, x).cpu().numpy()
        g = torch.Generator().manual_seed(int(self.seed))
        flip = torch.randint(x.shape[1], (len(x),), generator=g).to(x.device)

        def pseudo(v: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
            v_flipped = v.clone()
            rows = torch.arange(len(v), device=v.device)
            v_flipped[rows, j] = 1.0 - v_flipped[rows, j]
            return -v.shape[1] * F.softplus(net.free_energy(v) - net.free_energy(v_flipped))

        return self._batched(pseudo, x, flip).cpu().numpy()

    def gibbs(self, v) -> np.ndarray:
        """One Gibbs step v -> h ~ p(h|v) -> v' ~ p(v|h), with the model's own generator; returns v'."""
        x = self._inputs(v, "v")
        g = self._generator(None)
        net = self.module_
        with torch.no_grad():
            out = net.sample_visible(bernoulli(net.hidden_probs(x), g), g)
        return self._as_rows(self._unstandardize(out))

    @property
    def components_(self) -> np.ndarray:
        """W, shaped (n_hidden, n_features) as in scikit-learn."""
        return self.module_.weight.detach().cpu().numpy()

    @property
    def intercept_hidden_(self) -> np.ndarray:
        return self.module_.hidden_bias.detach().cpu().numpy()

    @property
    def intercept_visible_(self) -> np.ndarray:
        return self.module_.visible_bias.detach().cpu().numpy()

    # --- likelihoods -----------------------------------------------------------------------------------------
    def log_likelihood(self, X, n_runs: int | None = None, n_betas: int | None = None,
                       exact: bool | None = None) -> LikelihoodEstimate:
        """Mean log p(x) per row in nats. Exact (log Z by enumerating 2^n_hidden hidden states) when
        `exact=True`, or by default when n_hidden <= 20; otherwise AIS with `n_runs` chains and `n_betas`
        intermediate temperatures (defaults: ais_runs, ais_betas). Gaussian visibles: log-density of the
        standardised data."""
        x = self._inputs(X)
        if exact is None:
            exact = self.module_.n_hidden <= 20
        with torch.no_grad():
            neg_f = -self._batched(self.module_.free_energy, x).double()
            if exact:
                log_z, lo, hi, runs, betas = exact_log_partition(self.module_), None, None, 0, 0
            else:
                runs = int(n_runs or self.ais_runs)
                betas = int(n_betas or self.ais_betas)
                log_z, lo, hi = ais_log_partition(self.module_, runs, betas, seed=int(self.seed),
                                                  base_data=None if self._gaussian else x, verbose=self.verbose)
        mean = float(neg_f.mean()) - log_z
        stderr = float(neg_f.std() / math.sqrt(len(neg_f))) if len(neg_f) > 1 else 0.0
        interval = (mean, mean) if lo is None else (float(neg_f.mean()) - hi, float(neg_f.mean()) - lo)
        return LikelihoodEstimate(mean, stderr, log_z, interval, "exact" if exact else "ais", runs, betas)
