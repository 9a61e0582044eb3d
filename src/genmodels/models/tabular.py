"""Synthetic tabular data: CTGAN and TVAE (Xu et al. 2019) on the shared Trainer, with optional DP-SGD.

`TabularSynthesizer(model="gan")` is CTGAN: a conditional generator (residual MLP with batch norm) fed noise and
a conditional vector (one category of one discrete column, chosen by training-by-sampling: column uniform,
category by log-frequency, then a real row of that category), a PacGAN discriminator (`pac` rows judged
together) trained with WGAN-GP, gumbel-softmax on the discrete spans and a cross-entropy loss that makes the
generator honour the condition. `model="vae"` is TVAE: MLP encoder/decoder, Gaussian likelihood with a learned
per-column sigma on the continuous offsets, cross-entropy on the one-hot spans.

Where the speed comes from (the networks are the same size as ctgan's): the conditional vector, the category
and the matching real row are drawn for the whole batch with a few tensor ops (per-category row indices are
precomputed once as one sorted index tensor; ctgan draws each row with a Python loop and np.random.choice);
all softmax/gumbel-softmax spans are activated together, their sums two thin matmuls, the VAE's span
cross-entropy has its gradient written out, and the conditional cross-entropy is one gather (ctgan loops over
the spans); the generator looks its conditional vector up instead of multiplying it in; Adam is the fused
kernel; the encoder fits its mixtures by a vectorised EM on a subsample. What is left is mostly the matmuls
of the networks (benchmarks/tabular_adult.py --part floor).

With `epsilon`, a part (`encoder_epsilon_fraction`) of the budget pays for the encoder's statistics (see
genmodels.data.tabular) and the rest for DP-SGD through opacus (per-sample clipping to `max_grad_norm` plus
Gaussian noise, the noise multiplier chosen by the RDP accountant for the number of steps). Only the networks
that see real rows are privatised: the GAN's discriminator (the generator only sees the discriminator and the
noisy category counts), the VAE's encoder and decoder. Under DP the GAN reads real rows in the Trainer's
uniformly shuffled batches (training-by-sampling would sample rare rows far more often than the accountant
assumes), conditions the discriminator on categories of those rows and the generator on the noisy
log-frequencies, and uses the non-saturating loss (the gradient penalty's double backward has no per-sample
gradients in opacus). The VAE's sigma is fixed at its initial 0.1 under DP. The accountant assumes Poisson
sampling while batches are shuffled fixed-size ones, as opacus does with poisson_sampling=False.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset
from ..data.tabular import TabularEncoder
from ..errors import DataError
from ..train import StepInfo, Trainer
from .base import TrainedModel, adam

MODELS = ("gan", "vae")
DECODE_ROWS = 65536  # rows decoded to a DataFrame at a time
MAX_CONDITION_DRAWS = 200  # conditional sampling gives up after this many times n rows drawn


class Spans(nn.Module):
    """Activation of a generator/decoder output by span kind, fused: tanh on the "tanh" columns, one softmax
    (gumbel-softmax) per "softmax" span, all spans at once without padding them to a common width: each
    column's exp is divided by its span's sum, taken as two thin matmuls with the (columns x spans) ones
    matrix. (A padded (B, n_spans, max_width) layout is 4x wider on UCI Adult, where one span has 42
    categories and most fewer than 10, and its gathers cost more than all the rest.) Index buffers only."""

    def __init__(self, output_info: Sequence[tuple[int, int, str]]):
        super().__init__()
        d = sum(w for _, w, _ in output_info)
        soft = [(s, w) for s, w, k in output_info if k == "softmax"]
        width = max((w for _, w in soft), default=1)
        pad = torch.full((len(soft), width), d, dtype=torch.long)  # column d: a -inf column appended
        span_ones = torch.zeros(d, len(soft))
        is_tanh = torch.ones(d, dtype=torch.bool)
        for i, (s, w) in enumerate(soft):
            pad[i, :w] = torch.arange(s, s + w)
            span_ones[s:s + w, i] = 1
            is_tanh[s:s + w] = False
        self.padded_shape = (len(soft), width)
        self.register_buffer("pad_idx", pad.flatten(), persistent=False)
        self.register_buffer("span_ones", span_ones, persistent=False)
        self.register_buffer("span_ones_t", span_ones.t().contiguous(), persistent=False)
        self.register_buffer("span_mean", span_ones / span_ones.sum(0).clamp_min(1), persistent=False)
        self.register_buffer("is_tanh", is_tanh, persistent=False)
        self.register_buffer("soft_mask", (~is_tanh).float(), persistent=False)
        self.register_buffer("tanh_idx", is_tanh.nonzero().squeeze(1), persistent=False)

    def _span_max(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_spans) max logit of each span, through the padded layout."""
        padded = F.pad(x, (0, 1), value=float("-inf")).index_select(1, self.pad_idx)
        return padded.view(len(x), *self.padded_shape).amax(-1)

    def _centered(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x minus its span's shift on softmax columns, 0 on tanh columns; the (B, n_spans) shift). Any shift
        keeps the softmax; it only has to keep exp finite and each span's sum >= 1. The span mean (two thin
        matmuls) does unless a logit lies over 80 above it; then the span max (a gather, 8x dearer). Clamped at
        -80: exp(-80) is 1e-35 beside a sum >= 1, and below -87 float32 exp takes a slow path (30x)."""
        with torch.no_grad():
            shift = x @ self.span_mean
        z = torch.addmm(x * self.soft_mask, shift, self.span_ones_t, alpha=-1)
        if float(z.detach().amax()) > 80.0:
            with torch.no_grad():
                shift = self._span_max(x)
            z = torch.addmm(x * self.soft_mask, shift, self.span_ones_t, alpha=-1)
        return z.clamp_min(-80.0), shift

    def _softmax(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(e divided by its span's sum, 0 on tanh columns; the (B, n_spans) sums)."""
        sums = e @ self.span_ones
        return e * (sums.reciprocal() @ self.span_ones_t), sums

    def forward(self, x: torch.Tensor, tau: float = 0.2, gumbel: bool = True,
                generator: torch.Generator | None = None) -> torch.Tensor:
        logits = x
        if gumbel:
            u = torch.rand(x.shape, generator=generator).to(x.device) if generator is not None else \
                torch.rand_like(x)
            logits = (x - torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))) / tau
        soft, _ = self._softmax(torch.exp(self._centered(logits)[0]))
        return torch.where(self.is_tanh, torch.tanh(x), soft)

    def nll(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-row sum over softmax spans of -log p(the one-hot category of `target`): each span's logsumexp
        minus the logit `target` marks."""
        return _SpanNLL.apply(logits, target, self)


class _SpanNLL(torch.autograd.Function):
    """Spans.nll with its gradient written out, softmax minus target on the softmax columns (0 on tanh
    columns): one saved tensor and one multiply in backward, where autograd would replay a dozen elementwise
    ops on the (batch x columns) matrix; after the matmuls these were the tabular VAE's largest cost."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor, spans: Spans) -> torch.Tensor:
        z, shift = spans._centered(logits)
        p, sums = spans._softmax(torch.exp(z))
        target = target * spans.soft_mask
        ctx.save_for_backward(p - target)
        return (torch.log(sums) + shift).sum(1) - (logits * target).sum(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (softmax_minus_target,) = ctx.saved_tensors
        return grad[:, None] * softmax_minus_target, None, None


class Generator(nn.Module):
    """CTGAN's generator: residual layers (linear, batch norm, relu, the layer's input concatenated to its
    output), then a linear layer to the logits; input the noise and the one-hot conditional vector. That
    vector reaches every layer through the concatenations, and a one-hot times a weight matrix is one row of
    it: its part of all the layers' weights is one embedding, looked up by category index instead of
    multiplied in (a quarter of the generator's multiply-adds on UCI Adult, the same function and
    initialisation as the concatenated form)."""

    def __init__(self, noise_dim: int, cond_dim: int, dims: Sequence[int], out_dim: int):
        super().__init__()
        self.fcs, self.bns = nn.ModuleList(), nn.ModuleList()
        width = noise_dim
        for d in dims:
            self.fcs.append(nn.Linear(width, d))
            self.bns.append(nn.BatchNorm1d(d))
            width += d
        self.out = nn.Linear(width, out_dim)
        self.widths = [*dims, out_dim]
        self.cond = nn.Embedding(cond_dim, sum(self.widths)) if cond_dim else None
        if self.cond is not None:  # nn.Linear's init for the full (noise + cond + ...) fan-in
            cols = []
            for fc in [*self.fcs, self.out]:
                bound = 1.0 / math.sqrt(fc.in_features + cond_dim)
                for t in (fc.weight, fc.bias):
                    nn.init.uniform_(t, -bound, bound)
                cols.append(torch.empty(cond_dim, fc.out_features).uniform_(-bound, bound))
            with torch.no_grad():
                self.cond.weight.copy_(torch.cat(cols, 1))

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z: (B, noise_dim); cond: (B,) index of each row's one-hot in the conditional vector."""
        parts = self.cond(cond).split(self.widths, 1) if cond is not None else [None] * len(self.widths)
        x = z
        for fc, bn, c in zip(self.fcs, self.bns, parts[:-1], strict=True):
            h = fc(x) if c is None else fc(x) + c
            x = torch.cat([F.relu(bn(h)), x], 1)
        return self.out(x) if parts[-1] is None else self.out(x) + parts[-1]


class Dropout(nn.Dropout):
    """nn.Dropout with its mask drawn as uniform < keep: the same distribution, 2.7x faster on CPU, where
    bernoulli_ draws element by element (it was 4% of a GAN step, six dropouts a step)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        return x * (torch.rand_like(x) < keep) / keep


def _mlp(in_dim: int, dims: Sequence[int], out_dim: int | None, act: type[nn.Module], dropout: float = 0.0):
    layers: list[nn.Module] = []
    for d in dims:
        layers += [nn.Linear(in_dim, d), act()] + ([Dropout(dropout)] if dropout else [])
        in_dim = d
    if out_dim is not None:
        layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class PacDiscriminator(nn.Module):
    def __init__(self, in_dim: int, dims: Sequence[int], pac: int):
        super().__init__()
        self.pac = pac
        self.net = _mlp(in_dim * pac, dims, 1, lambda: nn.LeakyReLU(0.2), dropout=0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, x.shape[1] * self.pac))


class VAENet(nn.Module):
    def __init__(self, data_dim: int, embedding_dim: int, compress: Sequence[int], decompress: Sequence[int]):
        super().__init__()
        self.enc = _mlp(data_dim, compress, None, nn.ReLU)
        last = list(compress)[-1] if compress else data_dim
        self.mu = nn.Linear(last, embedding_dim)
        self.logvar = nn.Linear(last, embedding_dim)
        self.dec = _mlp(embedding_dim, decompress, data_dim, nn.ReLU)
        self.sigma = nn.Parameter(torch.full((data_dim,), 0.1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec(z), mu, logvar


class TabularNet(nn.Module):
    """Every network of a TabularSynthesizer: `g` + `d` (GAN) or `vae`, and the span activation."""

    def __init__(self, model: str, output_info, cond_dim: int, embedding_dim: int, generator_dim, discriminator_dim,
                 compress_dims, decompress_dims, pac: int):
        super().__init__()
        data_dim = sum(w for _, w, _ in output_info)
        self.spans = Spans(output_info)
        if model == "gan":
            self.g = Generator(embedding_dim, cond_dim, generator_dim, data_dim)
            self.d = PacDiscriminator(data_dim + cond_dim, discriminator_dim, pac)
        else:
            self.vae = VAENet(data_dim, embedding_dim, compress_dims, decompress_dims)


class CondSampler:
    """Conditional vectors and training-by-sampling, vectorised: a discrete column uniformly, a category by
    log-frequency (or frequency), then a real row of that category through one sorted row index. Lives
    only while training: the row index is data, never saved."""

    def __init__(self, counts: list[np.ndarray], spans: list[tuple[int, int]], codes: np.ndarray | None,
                 device: torch.device):
        self.n_cols = len(counts)
        self.device = device
        width = max((len(c) for c in counts), default=1)
        self.widths = torch.tensor([len(c) for c in counts], dtype=torch.long, device=device)
        self.offsets = torch.tensor(np.cumsum([0] + [len(c) for c in counts])[:-1], dtype=torch.long, device=device)
        self.cond_dim = int(sum(len(c) for c in counts))
        logf = np.zeros((self.n_cols, width))
        freq = np.zeros((self.n_cols, width))
        for j, c in enumerate(counts):
            c = np.maximum(c, 0.0)
            logf[j, : len(c)] = np.log1p(c) / max(np.log1p(c).sum(), 1e-12)
            freq[j, : len(c)] = c / max(c.sum(), 1e-12)
        self.cdf_log = torch.tensor(np.cumsum(logf, 1), dtype=torch.float32, device=device)
        self.cdf_freq = torch.tensor(np.cumsum(freq, 1), dtype=torch.float32, device=device)
        self.span_start = torch.tensor([s for s, _ in spans], dtype=torch.long, device=device)
        if codes is not None:  # rows sorted by category, per column: rows of (j, k) = sorted[j][start:start+count]
            n = len(codes)
            starts = np.zeros((self.n_cols, width), np.int64)
            cnt = np.zeros((self.n_cols, width), np.int64)
            rows = []
            for j in range(self.n_cols):
                rows.append(np.argsort(codes[:, j], kind="stable"))
                k = np.bincount(codes[:, j], minlength=len(counts[j]))
                cnt[j, : len(k)] = k
                starts[j, : len(k)] = j * n + np.concatenate([[0], np.cumsum(k)[:-1]])
            self.rows = torch.tensor(np.concatenate(rows), dtype=torch.long, device=device)
            self.row_start = torch.tensor(starts, device=device)
            self.row_count = torch.tensor(cnt, device=device)
            # log-frequency over the categories present in the training rows (never an empty category)
            present = [np.where(cnt[j, : len(counts[j])] > 0, cnt[j, : len(counts[j])], 0) for j in range(self.n_cols)]
            logp = np.zeros((self.n_cols, width))
            for j, c in enumerate(present):
                logp[j, : len(c)] = np.log1p(c) / max(np.log1p(c).sum(), 1e-12)
            self.cdf_log = torch.tensor(np.cumsum(logp, 1), dtype=torch.float32, device=device)

    def sample(self, n: int, log_frequency: bool = True, generator: torch.Generator | None = None):
        """(column, category) pairs, each an (n,) long tensor."""
        if generator is not None:
            col = torch.randint(self.n_cols, (n,), generator=generator).to(self.device)
            u = torch.rand(n, 1, generator=generator).to(self.device)
        else:
            col = torch.randint(self.n_cols, (n,), device=self.device)
            u = torch.rand(n, 1, device=self.device)
        cdf = (self.cdf_log if log_frequency else self.cdf_freq)[col]
        opt = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(1)
        return col, torch.minimum(opt, self.widths[col] - 1)

    def onehot(self, col: torch.Tensor, opt: torch.Tensor) -> torch.Tensor:
        c = torch.zeros(len(col), self.cond_dim, device=self.device)
        c[torch.arange(len(col), device=self.device), self.offsets[col] + opt] = 1.0
        return c

    def real_rows(self, col: torch.Tensor, opt: torch.Tensor) -> torch.Tensor:
        count = self.row_count[col, opt]
        pick = (torch.rand(len(col), device=self.device) * count).long().clamp_max(count - 1)
        return self.rows[self.row_start[col, opt] + pick]


class TabularSynthesizer(TrainedModel):
    """Synthetic tables: CTGAN (`model="gan"`) or TVAE (`model="vae"`), optionally differentially private.

    fit(df, discrete_columns=None) -> self; sample(n, conditions=None, seed=None) -> DataFrame of exactly n rows,
    `conditions={"col": value, ...}` on discrete columns. Defaults follow ctgan (batch 500, embedding 128, Adam
    2e-4 with betas (0.5, 0.9) for the GAN, 1e-3 for the VAE); `epochs` defaults to 300 as in ctgan.
    gp_every: apply the gradient penalty every k-th discriminator step, k times stronger (lazy regularisation;
        1 = every step, as CTGAN).
    epsilon/delta: privacy budget (delta defaults to 1/(10 n)); `metadata` gives public column facts so the
    encoder need not spend budget on them. `privacy_spent_` reports what was used.
    """

    family: ClassVar[str] = "tabular"

    def __init__(self, model: str = "gan", epochs: int = 300, batch_size: int = 500, embedding_dim: int = 128,
                 generator_dim: Sequence[int] = (256, 256), discriminator_dim: Sequence[int] = (256, 256),
                 compress_dims: Sequence[int] = (128, 128), decompress_dims: Sequence[int] = (128, 128),
                 pac: int = 10, d_steps: int = 1, gp_weight: float = 10.0, gp_every: int = 1, lr_g: float = 2e-4, lr_d: float = 2e-4,
                 lr_vae: float = 1e-3, loss_factor: float = 2.0, max_modes: int = 10, epsilon: float | None = None,
                 delta: float | None = None, max_grad_norm: float = 1.0, encoder_epsilon_fraction: float = 0.2,
                 metadata: dict | None = None, seed: int = 0, device: str = "auto", verbose: int = 1,
                 checkpoint_every: int = 0, sample_every: int = 0):
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.generator_dim = generator_dim
        self.discriminator_dim = discriminator_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.pac = pac
        self.d_steps = d_steps
        self.gp_weight = gp_weight
        self.gp_every = gp_every
        self.lr_g = lr_g
        self.lr_d = lr_d
        self.lr_vae = lr_vae
        self.loss_factor = loss_factor
        self.max_modes = max_modes
        self.epsilon = epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm
        self.encoder_epsilon_fraction = encoder_epsilon_fraction
        self.metadata = metadata
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every

    # --- fitting -------------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.model not in MODELS:
            raise DataError(f"model must be 'gan' or 'vae', got {self.model!r}")
        if int(self.batch_size) < int(self.pac) or int(self.batch_size) % int(self.pac):
            raise DataError(f"batch_size ({self.batch_size}) must be a multiple of pac ({self.pac})")
        if self.epsilon is not None and not (float(self.epsilon) > 0 and math.isfinite(float(self.epsilon))):
            raise DataError(f"epsilon must be a positive number, got {self.epsilon!r}")
        if self.delta is not None and not 0 < float(self.delta) < 1:
            raise DataError(f"delta must lie in (0, 1), got {self.delta!r}")
        if not 0 < float(self.encoder_epsilon_fraction) < 1:
            raise DataError(f"encoder_epsilon_fraction must lie in (0, 1), got {self.encoder_epsilon_fraction!r}")

    def _private(self) -> bool:
        return self.epsilon is not None

    def _delta_total(self, n: int) -> float:
        return float(self.delta) if self.delta is not None else 1.0 / (10 * n)

    def fit(self, X: pd.DataFrame, discrete_columns: Sequence[str] | None = None, *, run_dir=None,
            resume: bool = False, time_budget: float | None = None):
        """Encode the table (statistics only; noisy under DP) and train on the shared Trainer (`time_budget`
        seconds: stop early at a step boundary; under DP the spent epsilon counts the steps taken)."""
        self._check_params()
        if hasattr(self, "privacy_spent_"):
            del self.privacy_spent_
        if not isinstance(X, pd.DataFrame):
            raise DataError(f"TabularSynthesizer.fit expects a pandas DataFrame, got {type(X).__name__}")
        if len(X) == 0 or X.shape[1] == 0:
            raise DataError(f"the table is empty ({X.shape[0]} rows, {X.shape[1]} columns)")
        if len(X) < 2:
            raise DataError(f"the table has {len(X)} row; at least 2 are needed")
        eps = float(self.epsilon) if self._private() else None
        n = len(X)
        enc_eps = eps * float(self.encoder_epsilon_fraction) if eps is not None else None
        enc = TabularEncoder(max_modes=int(self.max_modes), epsilon=enc_eps,
                             delta=0.1 * self._delta_total(n) if eps is not None else None,
                             metadata=self.metadata, seed=int(self.seed), verbose=self.verbose)
        enc.fit(X, discrete_columns)
        self.encoder_ = enc
        data = Dataset(enc.transform(X), name=f"table {n}x{X.shape[1]}")
        self._codes = enc.discrete_codes(X)
        self.columns_ = list(X.columns)
        self.discrete_columns_ = list(enc.discrete_columns_)
        self.data_shape_ = self.input_shape_ = (enc.output_dim_,)
        self.n_features_in_ = X.shape[1]
        self.classes_ = []
        self._dp_steps = 0
        self._dp_module = None
        try:
            Trainer(self, run_dir, resume, time_budget=time_budget).run(data)
        finally:  # the row index and the training matrix are data: dropped, never kept or saved
            self._codes = self._train_X = None
            if getattr(self, "_sampler", None) is not None:
                self._sampler.rows = self._sampler.row_start = self._sampler.row_count = None
            if self._dp_module is not None:
                self._dp_module._close()
                self._dp_module = None
        if eps is not None:
            self.privacy_spent_ = self._privacy_spent(n)
        self._sampling_rng = None
        return self

    def partial_fit(self, X, y=None):
        raise DataError("TabularSynthesizer does not support partial_fit; call fit(df) with more epochs")

    def _steps_per_epoch(self, n: int) -> int:
        return max(1, math.ceil(n / int(self.batch_size)))

    def _build(self, data: Dataset | None) -> None:
        enc = self.encoder_
        spans = enc.discrete_spans()
        cond_dim = sum(w for _, w in spans) if self.model == "gan" else 0
        self.module_ = TabularNet(self.model, enc.output_info_, cond_dim, int(self.embedding_dim),
                                  [int(d) for d in self.generator_dim], [int(d) for d in self.discriminator_dim],
                                  [int(d) for d in self.compress_dims], [int(d) for d in self.decompress_dims],
                                  int(self.pac))
        device = getattr(self, "device_", torch.device("cpu"))
        self._sampler = None
        if self.model == "gan" and spans:
            codes = None if data is None or self._private() else self._codes
            self._sampler = CondSampler(enc.category_counts(), spans, codes, device)
        if data is not None:
            self._train_X = torch.as_tensor(data.X, device=device) if self.model == "gan" else None
            self._n_train = len(data)
        if data is not None and self.model == "vae" and self._private():
            self.module_.vae.sigma.requires_grad_(False)  # opacus has no per-sample gradient for a bare parameter

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        net = self.module_
        device = self.device_
        if self.model == "gan":
            opts = [adam(net.g.parameters(), device, lr=self.lr_g, betas=(0.5, 0.9), weight_decay=1e-6),
                    adam(net.d.parameters(), device, lr=self.lr_d, betas=(0.5, 0.9), weight_decay=1e-6)]
        else:
            params = [p for p in net.vae.parameters() if p.requires_grad]
            opts = [adam(params, device, lr=self.lr_vae, weight_decay=1e-5)]
        if self._private():
            opts[-1] = self._make_private(net.d if self.model == "gan" else net.vae, opts[-1])
        return opts

    # --- differential privacy ------------------------------------------------------------------------------
    def _sgd_budget(self, n: int) -> tuple[float, float]:
        eps = float(self.epsilon) * (1 - float(self.encoder_epsilon_fraction))
        return eps, 0.9 * self._delta_total(n)

    def _make_private(self, module: nn.Module, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        from opacus.accountants.utils import get_noise_multiplier
        from opacus.grad_sample import GradSampleModuleFastGradientClipping
        from opacus.optimizers import DPOptimizerFastGradientClipping

        n = self._n_train
        eps, delta = self._sgd_budget(n)
        self._sample_rate = min(1.0, int(self.batch_size) / n)
        steps = int(self.epochs) * self._steps_per_epoch(n)
        with warnings.catch_warnings():  # "optimal order is the largest alpha" on short runs: a looser bound
            warnings.simplefilter("ignore", UserWarning)
            self._noise_multiplier = get_noise_multiplier(target_epsilon=eps, target_delta=delta,
                                                          sample_rate=self._sample_rate, steps=steps,
                                                          accountant="rdp")
        clip = float(self.max_grad_norm)
        self._dp_module = GradSampleModuleFastGradientClipping(module, max_grad_norm=clip, use_ghost_clipping=True)
        groups = int(self.batch_size) // int(self.pac) * 2 if self.model == "gan" else int(self.batch_size)
        return DPOptimizerFastGradientClipping(optimizer, noise_multiplier=self._noise_multiplier, max_grad_norm=clip,
                                               expected_batch_size=groups)

    def _backward(self, per_sample: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        """Gradients of the mean of `per_sample` (one loss per row, or per pac group). Under DP, ghost clipping
        (opacus' fast gradient clipping, Li et al. 2022): a first backward takes each sample's gradient norm
        from its layers' inputs and output gradients without forming per-sample gradients, a second one the
        loss reweighted by min(1, max_grad_norm / norm), which sums the clipped gradients; the optimizer adds
        the noise. The same clipping as per-sample gradients; DP fits on Adult 4.6x (GAN) to 9x (VAE) faster."""
        opt.zero_grad(set_to_none=True)
        if self._dp_module is None:
            per_sample.mean().backward()
            return
        from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

        with warnings.catch_warnings():  # opacus' hooks warn that the input rows need no gradient: they don't
            warnings.simplefilter("ignore", UserWarning)
            DPTensorFastGradientClipping(self._dp_module, opt, per_sample, "mean").backward()

    def _privacy_spent(self, n: int) -> dict[str, float]:
        from opacus.accountants import RDPAccountant

        acc = RDPAccountant()
        acc.history = [(self._noise_multiplier, self._sample_rate, self._dp_steps)] if self._dp_steps else []
        _, sgd_delta = self._sgd_budget(n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sgd_eps = float(acc.get_epsilon(sgd_delta)) if self._dp_steps else 0.0
        enc = self.encoder_
        return {"epsilon": enc.epsilon_spent_ + sgd_eps, "delta": enc.delta_spent_ + sgd_delta,
                "encoder_epsilon": enc.epsilon_spent_, "sgd_epsilon": sgd_eps,
                "noise_multiplier": float(self._noise_multiplier), "steps": int(self._dp_steps)}

    # --- training steps ------------------------------------------------------------------------------------
    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        if self.model == "vae":
            return self._vae_step(batch[0])
        if self._private():
            return self._dp_gan_step(batch[0])
        return self._gan_step(int(self.batch_size), info.step)

    def _cond(self, n: int, device) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        if self._sampler is None:
            return None, None, None
        col, opt = self._sampler.sample(n)
        return self._sampler.onehot(col, opt), col, opt

    def _generate(self, z: torch.Tensor, col: torch.Tensor | None, opt: torch.Tensor | None) -> torch.Tensor:
        """Generator logits for noise z, conditioned on category `opt` of discrete column `col` (per row)."""
        return self.module_.g(z, None if col is None else self._sampler.offsets[col] + opt)

    @staticmethod
    def _with(x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return x if c is None else torch.cat([x, c], 1)

    def _cond_loss(self, raw: torch.Tensor, col: torch.Tensor | None, opt: torch.Tensor | None) -> torch.Tensor:
        """Cross-entropy of the generated logits of each row's conditioned column against its condition."""
        if col is None:
            return raw.new_zeros(())
        s = self._sampler
        width = int(s.widths.max())
        idx = s.span_start[col, None] + torch.arange(width, device=raw.device)
        valid = torch.arange(width, device=raw.device) < s.widths[col, None]
        logits = raw.gather(1, idx.clamp_max(raw.shape[1] - 1)).masked_fill(~valid, float("-inf"))
        return F.cross_entropy(logits, opt)

    def _gan_step(self, n: int, step: int = 0) -> dict[str, Any]:
        """CTGAN's step; the last discriminator step's fakes (with their graph) also feed the generator step,
        so the generator runs forward once per step, not twice."""
        net, opt_d = self.module_, self.optimizers_[1]
        n = max(int(self.pac), n - n % int(self.pac))
        emb, device = int(self.embedding_dim), self._train_X.device
        d_steps = int(self.d_steps)
        for i in range(d_steps):
            c1, col, opt = self._cond(n, device)
            if c1 is None:
                real = self._train_X[torch.randint(len(self._train_X), (n,), device=device)]
                c2 = None
            else:
                perm = torch.randperm(n, device=device)
                real = self._train_X[self._sampler.real_rows(col[perm], opt[perm])]
                c2 = c1[perm]
            with torch.set_grad_enabled(i == d_steps - 1):
                raw = self._generate(torch.randn(n, emb, device=device), col, opt)
                fake = net.spans(raw)
            real_in, fake_in = self._with(real, c2), self._with(fake.detach(), c1)
            scores = net.d(torch.cat([real_in, fake_in]))
            k = len(scores) // 2
            d_loss = scores[k:].mean() - scores[:k].mean()
            every = max(1, int(self.gp_every))
            if (step * d_steps + i) % every == 0:  # lazy regularisation (Karras et al. 2020) when gp_every > 1
                d_loss = d_loss + float(self.gp_weight) * every * self._gradient_penalty(real_in, fake_in)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        return {"d_loss": d_loss.detach(), **self._generator_step(raw, fake, c1, col, opt, wasserstein=True)}

    def _generator_step(self, raw: torch.Tensor, fake: torch.Tensor, c: torch.Tensor | None,
                        col: torch.Tensor | None, opt: torch.Tensor | None, wasserstein: bool) -> dict[str, Any]:
        """Adversarial loss (Wasserstein or non-saturating) plus the conditional cross-entropy; D's weight
        gradients are not needed here, so they are switched off."""
        net, opt_g = self.module_, self.optimizers_[0]
        d_params = list(net.d.parameters())
        for p in d_params:
            p.requires_grad_(False)
        scores = net.d(self._with(fake, c))
        g_adv = -scores.mean() if wasserstein else F.softplus(-scores).mean()
        ce = self._cond_loss(raw, col, opt)
        opt_g.zero_grad(set_to_none=True)
        (g_adv + ce).backward()
        opt_g.step()
        for p in d_params:
            p.requires_grad_(True)
        return {"g_loss": g_adv.detach(), "cond_ce": ce.detach()}

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """WGAN-GP on pac groups: one mixing weight per group, the gradient norm over the whole group."""
        pac = int(self.pac)
        alpha = torch.rand(len(real) // pac, 1, 1, device=real.device)
        mixed = (alpha * real.view(-1, pac, real.shape[1]) + (1 - alpha) * fake.view(-1, pac, real.shape[1]))
        mixed = mixed.view_as(real).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.module_.d(mixed).sum(), mixed, create_graph=True)
        return (grad.reshape(-1, pac * real.shape[1]).norm(dim=1) - 1).pow(2).mean()

    def _dp_gan_step(self, real: torch.Tensor) -> dict[str, Any]:
        """Discriminator by DP-SGD on the Trainer's uniform batch, conditioned on categories of its own rows;
        generator on noisy-frequency conditions (no real row reaches it except through D)."""
        net, opt_d = self.module_, self.optimizers_[1]
        pac, emb, device = int(self.pac), int(self.embedding_dim), real.device
        n = len(real) - len(real) % pac
        if n == 0:
            return {}
        real = real[:n]
        c_real = col = opt = None
        if self._sampler is not None:
            col = torch.randint(self._sampler.n_cols, (n,), device=device)
            codes = real.gather(1, (self._sampler.span_start[col, None] + torch.arange(
                int(self._sampler.widths.max()), device=device)).clamp_max(real.shape[1] - 1))
            valid = torch.arange(codes.shape[1], device=device) < self._sampler.widths[col, None]
            opt = codes.masked_fill(~valid, -1.0).argmax(1)
            c_real = self._sampler.onehot(col, opt)
        with torch.no_grad():
            fake = net.spans(self._generate(torch.randn(n, emb, device=device), col, opt))
        scores = self._dp_module(torch.cat([self._with(real, c_real), self._with(fake, c_real)]))
        k = len(scores) // 2
        per_group = torch.cat([F.softplus(-scores[:k]), F.softplus(scores[k:])]).flatten()
        self._backward(per_group, opt_d)
        opt_d.step()
        self._dp_steps += 1
        self._dp_module.disable_hooks()
        c1, col, opt = self._cond(n, device)
        raw = self._generate(torch.randn(n, emb, device=device), col, opt)
        stats = self._generator_step(raw, net.spans(raw), c1, col, opt, wasserstein=False)
        self._dp_module.enable_hooks()
        return {"d_loss": per_group.detach().mean(), **stats}

    def _vae_step(self, x: torch.Tensor) -> dict[str, Any]:
        net, (opt,) = self.module_, self.optimizers_
        vae = net.vae
        recon, mu, logvar = (self._dp_module if self._dp_module is not None else vae)(x)
        sigma = vae.sigma
        t = net.spans.tanh_idx
        diff = x[:, t] - torch.tanh(recon[:, t])
        rec = (diff.pow(2) / (2 * sigma[t].pow(2))).sum(1) + torch.log(sigma[t]).sum() + net.spans.nll(recon, x)
        kld = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        per_row = float(self.loss_factor) * rec + kld
        self._backward(per_row, opt)
        opt.step()
        if self._private():
            self._dp_steps += 1
        with torch.no_grad():
            sigma.clamp_(0.01, 1.0)
        return {"loss": per_row.detach().mean(), "rec": rec.detach().mean(), "kld": kld.detach().mean()}

    # --- sampling ------------------------------------------------------------------------------------------
    def _sample(self, n: int, cond: tuple[int, int] | None, generator: torch.Generator) -> torch.Tensor:
        """n encoded rows (activated; discrete spans as probabilities/one-hots). `cond`: (discrete column,
        category) for the GAN's conditional vector; otherwise conditions are drawn by training frequency."""
        net = self.module_.eval()
        emb, device = int(self.embedding_dim), self.device_
        z = torch.randn(n, emb, generator=generator).to(device)
        if self.model == "vae":  # categories drawn from the decoder's softmax (gumbel-max), not its argmax
            out = net.spans(net.vae.dec(z), tau=1.0, generator=generator)
            t = net.spans.tanh_idx
            noise = torch.randn(n, len(t), generator=generator).to(device)
            out[:, t] = out[:, t] + noise * net.vae.sigma[t]
            return out
        col = opt = None
        if self._sampler is not None:
            if cond is None:
                col, opt = self._sampler.sample(n, log_frequency=False, generator=generator)
            else:
                col = torch.full((n,), cond[0], dtype=torch.long, device=device)
                opt = torch.full((n,), cond[1], dtype=torch.long, device=device)
        return net.spans(self._generate(z, col, opt), generator=generator)

    def sample(self, n: int, conditions: dict | None = None, seed: int | None = None) -> pd.DataFrame:
        """Exactly n synthetic rows as a DataFrame (the training table's columns, dtypes and categories).
        `conditions`: {discrete column: value, ...}; every row returned matches all of them. The GAN feeds the
        rarest asked category as its conditional vector; rows are then kept when they match every condition,
        drawing more until n are found (DataError after MAX_CONDITION_DRAWS * n draws without success)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "module_")
        if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
            raise DataError(f"n must be a positive integer, got {n!r}")
        n = int(n)
        g = self._generator(seed)
        want = self._parse_conditions(conditions)
        frames = []
        with torch.no_grad():  # decoded in chunks: memory grows with the output frame, not the encoded matrix
            for i in range(0, n, DECODE_ROWS):
                m = min(DECODE_ROWS, n - i)
                rows = self._sample_matching(m, want, g, conditions) if want else torch.cat(
                    [self._sample(min(4096, m - j), None, g) for j in range(0, m, 4096)])
                frames.append(self.encoder_.inverse_transform(rows.cpu().numpy()))
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def _parse_conditions(self, conditions: dict | None) -> list[tuple[int, int]]:
        """[(index among discrete columns, category index)] for the asked conditions."""
        if not conditions:
            return []
        if not isinstance(conditions, dict):
            raise DataError(f"conditions must be a dict {{column: value}}, got {type(conditions).__name__}")
        enc = self.encoder_
        out = []
        for col, value in conditions.items():
            k = enc.category_index(col, value)  # DataError for unknown or continuous columns and unknown values
            out.append((enc.discrete_columns_.index(col), k))
        return out

    def _sample_matching(self, n: int, want: list[tuple[int, int]], g: torch.Generator,
                         conditions: dict) -> torch.Tensor:
        spans = self.encoder_.discrete_spans()
        counts = self.encoder_.category_counts()
        rarest = min(want, key=lambda jk: counts[jk[0]][jk[1]] / max(counts[jk[0]].sum(), 1e-12))
        cond = rarest if self._sampler is not None else None
        found, total, batch = [], 0, max(256, n)
        while sum(len(f) for f in found) < n:
            if total >= MAX_CONDITION_DRAWS * n + 10000:
                got = sum(len(f) for f in found)
                raise DataError(f"only {got} of {n} rows matching {conditions} came out of {total} draws: the "
                                "model rarely generates this combination; ask for fewer conditions or train longer")
            out = self._sample(batch, cond, g)
            keep = torch.ones(len(out), dtype=torch.bool, device=out.device)
            for j, k in want:
                s, w = spans[j]
                keep &= out[:, s: s + w].argmax(1) == k
            found.append(out[keep])
            total += batch
            rate = max(sum(len(f) for f in found) / total, 1.0 / (MAX_CONDITION_DRAWS * 2))
            batch = int(min(max(256, (n - sum(len(f) for f in found)) / rate * 1.2), 65536))
        return torch.cat(found)[:n]

    # --- persistence ---------------------------------------------------------------------------------------
    def _fitted_info(self) -> dict[str, Any]:
        info = {**super()._fitted_info(), "encoder": self.encoder_.get_state(), "columns": self.columns_,
                "discrete_columns": self.discrete_columns_}
        if hasattr(self, "privacy_spent_"):
            info["privacy_spent"] = self.privacy_spent_
        return info

    def _restore_fitted(self, fitted: dict[str, Any]) -> None:
        self.encoder_ = TabularEncoder.from_state(fitted["encoder"])
        self.columns_ = list(fitted["columns"])
        self.discrete_columns_ = list(fitted["discrete_columns"])
        self.n_features_in_ = len(self.columns_)
        if "privacy_spent" in fitted:
            self.privacy_spent_ = dict(fitted["privacy_spent"])

    def _config(self, data: Dataset | None = None) -> dict[str, Any]:
        config = super()._config(data)
        config["data"] = None  # the table's name and size only: nothing that identifies rows
        return config


__all__ = ["TabularSynthesizer"]
