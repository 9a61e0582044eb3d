"""CTGAN (Xu et al. 2019) as `TabularGAN`: a conditional generator (residual MLP with batch norm) fed noise
and a conditional vector (one category of one discrete column, chosen by training-by-sampling: column
uniform, category by log-frequency, then a real row of that category), a PacGAN discriminator (`pac` rows
judged together) trained with WGAN-GP, gumbel-softmax on the discrete spans and a cross-entropy loss that
makes the generator honour the condition.

Where the speed comes from: the conditional vector, the category and the matching real row are drawn for the
whole batch with a few tensor ops (per-category row indices are precomputed once as one sorted index tensor;
ctgan draws each row with a Python loop and np.random.choice); the conditional cross-entropy is one gather
(ctgan loops over the spans); Adam is the fused kernel (see also nn/tabular.py).

Under torchrun each process draws real rows only from its shard of the table (rows rank::world_size) and
the gradients are averaged in `_update`, so the ranks end with the same weights.

Under DP only the discriminator is privatised (the generator only sees the discriminator and the noisy
category counts). It reads real rows in the Trainer's uniformly shuffled batches (training-by-sampling would
sample rare rows far more often than the accountant assumes), conditions the discriminator on categories of
those rows and the generator on the noisy log-frequencies, and uses the non-saturating loss (the gradient
penalty's double backward has no per-sample gradients in opacus).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..data import Dataset
from ..errors import DataError
from ..nn.tabular import TabularNet
from ..train import StepInfo
from ..train.distributed import init_distributed
from .base import adam
from .params import NON_NEGATIVE, POSITIVE, POSITIVE_INT, Sizes
from .tabular_base import SHARED, TabularBase


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

    def forget_rows(self) -> None:
        """Drop the row index (data) once training ends; the category statistics stay."""
        self.rows = self.row_start = self.row_count = None

    def real_rows(self, col: torch.Tensor, opt: torch.Tensor) -> torch.Tensor:
        count = self.row_count[col, opt]
        pick = (torch.rand(len(col), device=self.device) * count).long().clamp_max(count - 1)
        return self.rows[self.row_start[col, opt] + pick]


class GANObjective:
    """CTGAN's networks, optimizers, training step and sampling, for a TabularBase with the GAN's
    hyperparameters (TabularGAN, or TabularSynthesizer with model="gan")."""

    _gan_constraints: ClassVar[dict[str, list]] = {
        "generator_dim": [Sizes(min_len=0)], "discriminator_dim": [Sizes(min_len=0)], "pac": [POSITIVE_INT],
        "d_steps": [POSITIVE_INT], "gp_weight": [NON_NEGATIVE], "gp_every": [POSITIVE_INT], "lr_g": [POSITIVE],
        "lr_d": [POSITIVE],
    }

    def _gan_check(self) -> None:
        if int(self.batch_size) < int(self.pac) or int(self.batch_size) % int(self.pac):
            raise DataError(f"batch_size ({self.batch_size}) must be a multiple of pac ({self.pac})")

    def _gan_net(self) -> TabularNet:
        enc = self.encoder_
        cond_dim = sum(w for _, w in enc.discrete_spans())
        return TabularNet("gan", enc.output_info_, cond_dim, int(self.embedding_dim),
                          [int(d) for d in self.generator_dim], [int(d) for d in self.discriminator_dim],
                          [], [], int(self.pac))

    def _gan_build(self, data: Dataset | None) -> None:
        enc = self.encoder_
        spans = enc.discrete_spans()
        self.module_ = self._gan_net()
        device = getattr(self, "device_", torch.device("cpu"))
        self._sampler = None
        self._shard = None
        codes = None if data is None or self._private() else self._codes
        if data is not None and not self._private():
            rank, world = init_distributed(device)
            if world > 1:  # this process's rows of the table: what training-by-sampling may draw from
                self._shard = np.arange(len(data))[rank::world]
                codes = codes[self._shard]
        if spans:
            self._sampler = CondSampler(enc.category_counts(), spans, codes, device)
        if data is not None:
            X = data.X if self._shard is None else data.X[self._shard]
            self._train_X = torch.as_tensor(X, device=device)
            self._n_train = len(data)

    def _gan_optimizers(self) -> list[torch.optim.Optimizer]:
        net, device = self.module_, self.device_
        opts = [adam(net.g.parameters(), device, lr=self.lr_g, betas=(0.5, 0.9), weight_decay=1e-6),
                adam(net.d.parameters(), device, lr=self.lr_d, betas=(0.5, 0.9), weight_decay=1e-6)]
        if self._private():  # the samples of a DP step are pac groups, real and fake
            opts[1] = self._make_private(net.d, opts[1], int(self.batch_size) // int(self.pac) * 2)
        return opts

    def _gan_training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        if self._private():
            return self._dp_gan_step(batch[0])
        return self._gan_step(int(self.batch_size), info.step)

    def _gan_release_data(self) -> None:
        self._shard = None
        if getattr(self, "_sampler", None) is not None:
            self._sampler.forget_rows()

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
            self._update(opt_d, d_loss)
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
        self._update(opt_g, g_adv + ce)
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

    def _gan_sample_encoded(self, n: int, cond: tuple[int, int] | None, generator: torch.Generator) -> torch.Tensor:
        """n activated rows; `cond` (discrete column, category) is the conditional vector of every row, else
        conditions are drawn by training frequency."""
        net = self.module_.eval()
        emb, device = int(self.embedding_dim), self.device_
        z = torch.randn(n, emb, generator=generator).to(device)
        col = opt = None
        if self._sampler is not None:
            if cond is None:
                col, opt = self._sampler.sample(n, log_frequency=False, generator=generator)
            else:
                col = torch.full((n,), cond[0], dtype=torch.long, device=device)
                opt = torch.full((n,), cond[1], dtype=torch.long, device=device)
        return net.spans(self._generate(z, col, opt), generator=generator)


class TabularGAN(GANObjective, TabularBase):
    """CTGAN on the shared Trainer, optionally differentially private (see the module docstring and
    TabularBase). Defaults follow ctgan: batch 500, embedding 128, Adam 2e-4 with betas (0.5, 0.9), 300 epochs.
    gp_every: apply the gradient penalty every k-th discriminator step, k times stronger (lazy
    regularisation; 1 = every step, as CTGAN)."""

    family: ClassVar[str] = "tabular_gan"
    _parameter_constraints: ClassVar[dict[str, list]] = {**GANObjective._gan_constraints, **SHARED}

    def __init__(self, epochs: int = 300, batch_size: int = 500, embedding_dim: int = 128,
                 generator_dim: Sequence[int] = (256, 256), discriminator_dim: Sequence[int] = (256, 256),
                 pac: int = 10, d_steps: int = 1, gp_weight: float = 10.0, gp_every: int = 1, lr_g: float = 2e-4,
                 lr_d: float = 2e-4, max_modes: int = 10, epsilon: float | None = None, delta: float | None = None,
                 max_grad_norm: float = 1.0, encoder_epsilon_fraction: float = 0.2, metadata: dict | None = None,
                 seed: int = 0, device: str = "auto", verbose: int = 1, checkpoint_every: int = 0,
                 sample_every: int = 0):
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.generator_dim = generator_dim
        self.discriminator_dim = discriminator_dim
        self.pac = pac
        self.d_steps = d_steps
        self.gp_weight = gp_weight
        self.gp_every = gp_every
        self.lr_g = lr_g
        self.lr_d = lr_d
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

    def _check_combination(self) -> None:
        self._gan_check()

    def _build(self, data: Dataset | None) -> None:
        self._gan_build(data)

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        return self._gan_optimizers()

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        return self._gan_training_step(batch, info)

    def _sample_encoded(self, n: int, cond: tuple[int, int] | None, generator: torch.Generator) -> torch.Tensor:
        return self._gan_sample_encoded(n, cond, generator)

    def _release_data(self) -> None:
        TabularBase._release_data(self)
        self._gan_release_data()


__all__ = ["CondSampler", "GANObjective", "TabularGAN"]
