"""The networks of the tabular synthesizers (CTGAN and TVAE, Xu et al. 2019): the fused span activation and
its cross-entropy, CTGAN's residual generator and PacGAN discriminator, TVAE's encoder/decoder.

Where the speed comes from (the networks are the same size as ctgan's): all softmax/gumbel-softmax spans are
activated together, their sums two thin matmuls; the VAE's span cross-entropy has its gradient written out;
the generator looks its conditional vector up instead of multiplying it in; Adam is the fused kernel and the
encoder fits its mixtures by a vectorised EM on a subsample (data/tabular.py). What is left is mostly the
matmuls of the networks (benchmarks/tabular_adult.py --part floor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


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
    """Every network of a tabular synthesizer: `g` + `d` (GAN) or `vae`, and the span activation. The module
    names are those of saved runs (model.g.*, model.d.*, model.vae.*): kept so old runs load."""

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


__all__ = ["Dropout", "Generator", "PacDiscriminator", "Spans", "TabularNet", "VAENet"]
