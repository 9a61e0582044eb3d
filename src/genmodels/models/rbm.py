"""Restricted Boltzmann machines: Bernoulli-Bernoulli and Gaussian-Bernoulli, trained by contrastive
divergence (CD-k, Hinton 2002) or persistent CD (PCD, Tieleman 2008) with updates written directly in torch
(no autograd), on the shared training loop. Log-likelihoods by annealed importance sampling (Salakhutdinov &
Murray 2008), or exactly by enumeration for small models.

Energy (Bernoulli visibles):  E(v, h) = -b.v - c.h - v W^T h
Energy (Gaussian visibles, Cho et al. 2011):  E(v, h) = sum_i (v_i - b_i)^2 / (2 s_i^2) - c.h - (v / s^2) W^T h
W is stored (n_hidden, n_visible), like scikit-learn's `components_`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin
from torch import nn

from ..data import Dataset
from ..errors import DataError
from ..train import Trainer
from ..train.distributed import all_reduce_mean, is_distributed
from .base import GenerativeModel

LOG_2PI = math.log(2 * math.pi)
MONITOR_ROWS = 1000  # training rows whose reconstruction error is logged at each epoch end


class RBMNet(nn.Module):
    """Weights, biases, (Gaussian) log-variances and standardisation, the persistent chains and momentum
    buffers: everything a checkpoint needs. Parameters never need gradients: CD updates them in place."""

    def __init__(self, n_visible: int, n_hidden: int, visible: str = "bernoulli", n_chains: int = 0,
                 momentum: bool = False):
        super().__init__()
        self.gaussian = visible == "gaussian"

        def param(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.zeros(*shape), requires_grad=False)

        self.weight = param(n_hidden, n_visible)
        self.visible_bias = param(n_visible)
        self.hidden_bias = param(n_hidden)
        if self.gaussian:
            self.log_var = param(n_visible)  # log s_i^2, learned when learn_variance=True
            self.register_buffer("shift", torch.zeros(n_visible))  # standardisation of the data
            self.register_buffer("scale", torch.ones(n_visible))
        if n_chains:  # hidden states of the persistent (PCD) chains, one chain per batch row
            self.register_buffer("chains", torch.zeros(n_chains, n_hidden))
        if momentum:
            for name in ("weight", "visible_bias", "hidden_bias") + (("log_var",) if self.gaussian else ()):
                self.register_buffer(f"velocity_{name}", torch.zeros_like(getattr(self, name)))

    @property
    def n_hidden(self) -> int:
        return self.weight.shape[0]

    def precision(self) -> torch.Tensor:
        return torch.exp(-self.log_var)

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """c + W v (Bernoulli) or c + W (v / s^2) (Gaussian): the hidden units' total input."""
        if self.gaussian:
            v = v * self.precision()
        return torch.addmm(self.hidden_bias, v, self.weight.t())

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        return self.hidden_input(v).sigmoid_()

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """E[v | h]: sigmoid(b + W^T h) or b + W^T h."""
        out = torch.addmm(self.visible_bias, h, self.weight)
        return out if self.gaussian else out.sigmoid_()

    def sample_visible(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mean = self.visible_mean(h)
        if self.gaussian:
            noise = torch.randn(mean.shape, generator=generator).to(mean.device) if generator else torch.randn_like(mean)
            return mean.add_(noise * (0.5 * self.log_var).exp())
        return _bernoulli(mean, generator)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)), per row (log p(v) = -F(v) - log Z)."""
        softplus = F.softplus(self.hidden_input(v)).sum(1)
        if self.gaussian:
            return (0.5 * (v - self.visible_bias).pow(2) * self.precision()).sum(1) - softplus
        return -(v @ self.visible_bias) - softplus


def _bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 floats with P(1) = p; without a generator from the global RNG (uniform < p is 3x faster on CPU
    than torch.bernoulli)."""
    if generator is None:
        return torch.rand_like(p).lt_(p)
    return (torch.rand(p.shape, generator=generator).to(p.device) < p).to(p.dtype)


@dataclass(frozen=True)
class LikelihoodEstimate:
    """Mean log-likelihood per row in nats. `stderr` is the standard error of that mean over the rows;
    `interval` brackets it by log Z +- 3 standard deviations of the AIS estimate of Z (Salakhutdinov &
    Murray 2008); its upper end is inf when the AIS weights are too uneven for Z - 3 sd > 0 (then trust the
    estimate less: AIS tends to underestimate log Z, which overestimates the likelihood). float(estimate)
    is the mean."""

    mean: float
    stderr: float
    log_z: float
    interval: tuple[float, float]
    method: str  # "exact" or "ais"
    n_runs: int = 0
    n_betas: int = 0

    def __float__(self) -> float:
        return self.mean


class RBM(TransformerMixin, GenerativeModel):
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

    # --- fitting -------------------------------------------------------------------------------------------
    def _validate_fit(self, X, y) -> Dataset:
        if self.visible not in ("bernoulli", "gaussian"):
            raise DataError(f"visible must be 'bernoulli' or 'gaussian', got {self.visible!r}")
        for name in ("n_hidden", "cd_k", "batch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise DataError(f"{name} must be a positive integer, got {value!r}")
        if self.lr_schedule not in ("constant", "linear"):
            raise DataError(f"lr_schedule must be 'constant' or 'linear', got {self.lr_schedule!r}")
        if not 0.0 <= float(self.momentum) < 1.0:
            raise DataError(f"momentum must lie in [0, 1), got {self.momentum!r}")
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
        self._distributed = is_distributed()
        self._total_steps = 0  # for the linear lr schedule
        if data is not None:
            world = torch.distributed.get_world_size() if self._distributed else 1
            self._total_steps = max(1, math.ceil(len(data) // world / int(self.batch_size))) * int(self.epochs)

    def _lr(self, step: int) -> float:
        if self.lr_schedule == "linear" and self._total_steps:  # a function of the step: resume stays exact
            return float(self.lr) * max(0.0, 1.0 - step / self._total_steps)
        return float(self.lr)

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        return []  # CD updates the parameters itself

    def _training_step(self, batch: tuple[torch.Tensor, ...], step: int) -> dict[str, torch.Tensor]:
        """One CD-k / PCD-k update in a handful of fused in-place torch ops: at small batches the per-op
        overhead, not the FLOPs, is the cost, so both phases share one matmul where they can (PCD) and one
        rank-2B update moves W (the Trainer's NaN guard checks the weights; nothing is logged per step)."""
        net = self.module_
        v0 = batch[0].flatten(1)
        vv, hh = self._phases(net, v0)  # rows: the data, then the negative phase
        n_pos, n_neg = len(v0), len(vv) - len(v0)
        lr = self._lr(step)
        if self.momentum or self._distributed or self._gaussian:
            self._apply_update(self._gradients(vv[:n_pos], hh[:n_pos], vv[n_pos:], hh[n_pos:], 1.0 / n_pos,
                                               1.0 / n_neg), lr)
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
                h = _bernoulli(net.hidden_probs(net.sample_visible(h)))
            vv = torch.cat([v0, net.sample_visible(h)])
            hh = net.hidden_probs(vv)  # one matmul for both phases
            net.chains.uniform_().lt_(hh[len(v0):])  # the chains move on: h ~ p(h | v_k)
            return vv, hh
        h0 = net.hidden_probs(v0)
        h = _bernoulli(h0)
        for i in range(k):
            vk = net.sample_visible(h)
            hk = net.hidden_probs(vk)
            if i + 1 < k:
                h = _bernoulli(hk)
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

    def _apply_update(self, grads: dict[str, torch.Tensor], lr: float) -> None:
        """Average over DDP ranks, then SGD with momentum and weight decay (on W only)."""
        net = self.module_
        names = list(grads)
        if self._distributed:
            all_reduce_mean([grads[k] for k in names])
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
            v = _bernoulli(torch.sigmoid(net.visible_bias).expand(n, -1), generator)
        for _ in range(max(0, int(self.burn_in))):
            v = net.sample_visible(_bernoulli(net.hidden_probs(v), generator), generator)
        mean = net.visible_mean(_bernoulli(net.hidden_probs(v), generator))
        return self._unstandardize(mean).view(n, *self.data_shape_)

    def _unstandardize(self, v: torch.Tensor) -> torch.Tensor:
        return v * self.module_.scale + self.module_.shift if self._gaussian else v

    # --- the scikit-learn BernoulliRBM surface -------------------------------------------------------------
    def _inputs(self, X, what: str = "X") -> torch.Tensor:
        """Validated flat (N, n_features) rows, standardised like the training data for Gaussian visibles."""
        x = self._validate_X(X, what).reshape(-1, self.n_features_in_)
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
            out = net.sample_visible(_bernoulli(net.hidden_probs(x), g), g)
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
                                                  base_data=None if self._gaussian else x)
        mean = float(neg_f.mean()) - log_z
        stderr = float(neg_f.std() / math.sqrt(len(neg_f))) if len(neg_f) > 1 else 0.0
        interval = (mean, mean) if lo is None else (float(neg_f.mean()) - hi, float(neg_f.mean()) - lo)
        return LikelihoodEstimate(mean, stderr, log_z, interval, "exact" if exact else "ais", runs, betas)


# --- partition functions ----------------------------------------------------------------------------------------
def exact_log_partition(net: RBMNet, chunk: int = 4096) -> float:
    """log Z by summing out the visibles analytically and enumerating every hidden state (2^n_hidden)."""
    n_hidden = net.n_hidden
    if n_hidden > 24:
        raise DataError(f"exact log Z enumerates 2^n_hidden states; n_hidden={n_hidden} is too many (use AIS)")
    W, b, c = net.weight.double(), net.visible_bias.double(), net.hidden_bias.double()
    bits = 2 ** torch.arange(n_hidden, device=W.device)
    terms = []
    for start in range(0, 2 ** n_hidden, chunk):
        codes = torch.arange(start, min(start + chunk, 2 ** n_hidden), device=W.device)
        h = ((codes[:, None] & bits) > 0).double()
        terms.append(_log_marginal_hidden(net, h, 1.0, W, b, c))
    log_z = torch.logsumexp(torch.cat(terms), 0)
    if net.gaussian:
        log_z = log_z + 0.5 * (LOG_2PI + net.log_var.double()).sum()
    return float(log_z)


def _log_marginal_hidden(net: RBMNet, h: torch.Tensor, beta: float, W: torch.Tensor, b: torch.Tensor,
                         c: torch.Tensor) -> torch.Tensor:
    """log sum_v exp(-E_beta(v, h)) up to the Gaussian normaliser, where E_beta scales the W and c terms by
    beta (the base model of the Gaussian AIS has W = 0 and c = 0)."""
    m = h @ W  # (N, V)
    if net.gaussian:
        var_inv = torch.exp(-net.log_var.double())
        return beta * (h @ c) + (0.5 * ((b + beta * m).pow(2) - b.pow(2)) * var_inv).sum(1)
    return beta * (h @ c) + F.softplus(b + beta * m).sum(1)


def ais_betas(n_betas: int) -> torch.Tensor:
    """Salakhutdinov & Murray's schedule, scaled to n_betas: 500 steps up to 0.5, 4000 to 0.9, 10000 to 1."""
    n1, n2 = max(1, round(n_betas * 500 / 14500)), max(1, round(n_betas * 4000 / 14500))
    n3 = max(1, n_betas - n1 - n2)
    return torch.cat([torch.linspace(0, 0.5, n1 + 1)[:-1], torch.linspace(0.5, 0.9, n2 + 1)[:-1],
                      torch.linspace(0.9, 1.0, n3 + 1)]).double()


def ais_log_partition(net: RBMNet, n_runs: int = 100, n_betas: int = 14500, seed: int = 0,
                      base_data: torch.Tensor | None = None) -> tuple[float, float, float]:
    """AIS estimate of log Z: (log Z, log(Z - 3 sd), log(Z + 3 sd)) with sd the standard error of Z.

    Bernoulli visibles: runs over v from the base-rate model p_A(v) with visible biases at the (smoothed)
    log-odds of `base_data`'s marginals (Salakhutdinov & Murray 2008), intermediate models
    p_k(v) ∝ exp((1-b_k) b_A.v) * p*_B(v)^b_k. Gaussian visibles: runs over h with v summed out, from the
    base model W = 0, c = 0 (independent Gaussians with the model's b and s, fair-coin hiddens)."""
    if n_runs < 2 or n_betas < 2:
        raise DataError(f"AIS needs n_runs >= 2 and n_betas >= 2, got {n_runs} and {n_betas}")
    g = torch.Generator().manual_seed(seed)
    dev = net.weight.device
    W, b, c = net.weight, net.visible_bias, net.hidden_bias
    betas = ais_betas(n_betas).tolist()
    log_w = torch.zeros(n_runs, dtype=torch.float64, device=dev)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g).to(dev)

    if net.gaussian:
        Wd, bd, cd = W.double(), b.double(), c.double()
        std = (0.5 * net.log_var).exp()
        precision = net.precision()
        h = (rand(n_runs, net.n_hidden) < 0.5).float()
        log_z_a = net.n_hidden * math.log(2) + float(0.5 * (LOG_2PI + net.log_var.double()).sum())
        for prev, beta in itertools.pairwise(betas):
            hd = h.double()
            log_w += _log_marginal_hidden(net, hd, beta, Wd, bd, cd) - _log_marginal_hidden(net, hd, prev, Wd, bd, cd)
            v = b + beta * (h @ W) + std * torch.randn(n_runs, W.shape[1], generator=g).to(dev)  # p_beta(v | h)
            h = (rand(n_runs, net.n_hidden) < torch.sigmoid(beta * torch.addmm(c, v * precision, W.t()))).float()
    else:
        if base_data is None:
            raise DataError("AIS for Bernoulli visibles needs data for its base-rate model")
        n = len(base_data)
        p = (base_data.sum(0).double() + 0.05 * n) / (1.1 * n)  # smoothed data marginals (the 2008 code's choice)
        b_a = torch.log(p / (1 - p)).float().to(dev)
        log_z_a = float(F.softplus(b_a.double()).sum()) + net.n_hidden * math.log(2)  # hiddens at beta = 0
        v = (rand(n_runs, W.shape[1]) < torch.sigmoid(b_a)).float()
        for prev, beta in itertools.pairwise(betas):
            wx = torch.addmm(c, v, W.t())
            vb_a, vb_b = (v @ b_a).double(), (v @ b).double()
            log_w += ((beta - prev) * (vb_b - vb_a) +
                      (F.softplus(beta * wx) - F.softplus(prev * wx)).double().sum(1))
            h = (rand(n_runs, net.n_hidden) < torch.sigmoid(beta * wx)).float()
            v_logit = (1 - beta) * b_a + beta * torch.addmm(b, h, W)
            v = (rand(n_runs, W.shape[1]) < torch.sigmoid(v_logit)).float()
    log_mean_w = torch.logsumexp(log_w, 0) - math.log(n_runs)
    # sd of the mean weight, relative to the mean, computed in log space to avoid overflow
    rel = torch.exp(log_w - torch.logsumexp(log_w, 0)) * n_runs  # w / mean(w)
    rel_sd = float(rel.std() / math.sqrt(n_runs))
    log_z = log_z_a + float(log_mean_w)
    # Z - 3 sd <= 0 means a few runs carry the estimate: the interval is then open (more betas or runs help)
    low = log_z + math.log1p(-3 * rel_sd) if 3 * rel_sd < 1 else -math.inf
    return log_z, low, log_z + math.log1p(3 * rel_sd)
