"""The parameters and conditionals of a convolutional RBM with probabilistic max-pooling (Lee, Grosse,
Ranganath & Ng 2009), written with conv2d and conv_transpose2d; no autograd anywhere.

Visibles v: (N, C, H, W). Filters W: (K, C, f_h, f_w), shared across positions. Detection units h: (N, K, H', W')
with H' = H - f_h + 1 ("valid" convolution), total input I = W * v + c. Probabilistic max-pooling groups the
detection units of each filter into pool x pool blocks B; at most one unit of a block is on, and the block's
pooling unit is on when one is:

    P(h_ij = 1 | v) = exp(I_ij) / (1 + sum_{kl in B} exp(I_kl)),  P(block off | v) = 1 / (1 + sum_B exp(I)).

pool = 1 is the ordinary convolutional RBM (every block is one unit, the formula is the sigmoid). Blocks at the
right and bottom edges that stick out of the detection map hold fewer units (the missing ones are never on).

Energy (Bernoulli visibles): E(v, h) = -sum_k h_k . (W_k * v) - sum_k c_k sum h_k - sum_c b_c sum v_c
Energy (Gaussian visibles, unit variance on standardised data): 0.5 sum (v - b)^2 replaces the last term.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)


class ConvRBMNet(nn.Module):
    """Filters, biases, standardisation (Gaussian), persistent chains and momentum buffers: everything a
    checkpoint needs. Parameters never need gradients: CD updates them in place."""

    def __init__(self, image_shape: tuple[int, int, int], n_filters: int, filter_size: tuple[int, int], pool: int,
                 visible: str = "bernoulli", n_chains: int = 0, momentum: bool = False):
        super().__init__()
        c, h, w = image_shape
        self.image_shape = (int(c), int(h), int(w))
        self.pool = int(pool)
        self.gaussian = visible == "gaussian"
        fh, fw = filter_size

        def param(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.zeros(*shape), requires_grad=False)

        self.weight = param(n_filters, c, fh, fw)
        self.visible_bias = param(c)  # one per channel: the visible units share it across positions
        self.hidden_bias = param(n_filters)  # one per filter
        if self.gaussian:  # per-channel standardisation of the data (keeps the model translation invariant)
            self.register_buffer("shift", torch.zeros(c))
            self.register_buffer("scale", torch.ones(c))
        if n_chains:  # visible states of the persistent (PCD) chains
            self.register_buffer("chains", torch.zeros(n_chains, c, h, w))
        if momentum:
            for name in ("weight", "visible_bias", "hidden_bias"):
                self.register_buffer(f"velocity_{name}", torch.zeros_like(getattr(self, name)))

    # --- shapes -------------------------------------------------------------------------------------------
    @property
    def detection_shape(self) -> tuple[int, int]:
        _, h, w = self.image_shape
        return h - self.weight.shape[2] + 1, w - self.weight.shape[3] + 1

    @property
    def pooled_shape(self) -> tuple[int, int]:
        h, w = self.detection_shape
        return math.ceil(h / self.pool), math.ceil(w / self.pool)

    def _blocks(self, x: torch.Tensor, fill: float) -> torch.Tensor:
        """(N, K, H', W') -> (N, K, Hb, Wb, pool * pool), the edge blocks padded with `fill`."""
        p = self.pool
        n, k, h, w = x.shape
        hb, wb = math.ceil(h / p), math.ceil(w / p)
        if hb * p != h or wb * p != w:
            x = F.pad(x, (0, wb * p - w, 0, hb * p - h), value=fill)
        return x.view(n, k, hb, p, wb, p).permute(0, 1, 2, 4, 3, 5).reshape(n, k, hb, wb, p * p)

    def _unblocks(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of _blocks: (N, K, Hb, Wb, pool * pool) -> (N, K, H', W'), the padding cropped."""
        p = self.pool
        n, k, hb, wb, _ = x.shape
        h, w = self.detection_shape
        return x.view(n, k, hb, wb, p, p).permute(0, 1, 2, 4, 3, 5).reshape(n, k, hb * p, wb * p)[:, :, :h, :w]

    # --- conditionals -------------------------------------------------------------------------------------
    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """I = W * v + c, shaped (N, K, H', W')."""
        return F.conv2d(v, self.weight, self.hidden_bias)

    def _grid(self, x: torch.Tensor, fill: float) -> torch.Tensor:
        """(N, K, H', W') -> a (N, K, Hb, pool, Wb, pool) view (no copy when pool divides the maps)."""
        p = self.pool
        n, k, h, w = x.shape
        hb, wb = math.ceil(h / p), math.ceil(w / p)
        if hb * p != h or wb * p != w:
            x = F.pad(x, (0, wb * p - w, 0, hb * p - h), value=fill)
        return x.view(n, k, hb, p, wb, p)

    def _ungrid(self, x: torch.Tensor) -> torch.Tensor:
        n, k, hb, p, wb, _ = x.shape
        h, w = self.detection_shape
        out = x.reshape(n, k, hb * p, wb * p)
        return out if (hb * p, wb * p) == (h, w) else out[:, :, :h, :w]

    def hidden_probs(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(P(h = 1 | v) per detection unit, P(pooling unit on | v) per block) from the total input."""
        if self.pool == 1:
            probs = torch.sigmoid(inputs)
            return probs, probs
        grid = self._grid(inputs, -math.inf)
        top = grid.amax((3, 5), keepdim=True).clamp_min_(0.0)  # the 'off' state has input 0
        e = (grid - top).exp_()
        off = top.neg_().exp_()
        denom = e.sum((3, 5), keepdim=True).add_(off)
        probs = e.div_(denom)
        return self._ungrid(probs), off.div_(denom).neg_().add_(1.0).view(off.shape[0], off.shape[1], off.shape[2],
                                                                         off.shape[4])

    def sample_hidden(self, inputs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """h ~ p(h | v): independent Bernoullis (pool 1), else one draw per block over its units and 'off'."""
        return self.sample_from(self.hidden_probs(inputs)[0], generator)

    def sample_from(self, probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """h ~ p(h | v) given the detection probabilities P(h = 1 | v) (see sample_hidden)."""
        if self.pool == 1:
            return bernoulli(probs, generator)
        grid = self._grid(probs, 0.0)
        n, k, hb, _, wb, _ = grid.shape
        u = _uniform((n, k, hb, 1, wb, 1), generator, grid)
        rows = grid.sum(5, keepdim=True)
        incl = grid.cumsum(5).add_(rows.cumsum(3).sub_(rows))  # cumulative probability in reading order
        # unit j is on when u falls in [cum_{j-1}, cum_j); none when u is past them all ('off')
        onehot = (incl > u).logical_and_(incl.sub(grid) <= u).to(grid.dtype)
        return self._ungrid(onehot)

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """E[v | h]: sigmoid(W^T * h + b), or W^T * h + b for Gaussian visibles."""
        out = F.conv_transpose2d(h, self.weight).add_(self.visible_bias.view(1, -1, 1, 1))
        return out if self.gaussian else out.sigmoid_()

    def sample_visible(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mean = self.visible_mean(h)
        if self.gaussian:
            return mean.add_(_normal(mean.shape, generator, mean))
        return bernoulli(mean, generator)

    # --- energies -----------------------------------------------------------------------------------------
    def log_pooled(self, inputs: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        """sum over blocks of log(1 + sum_B exp(beta I)) per row: the hidden units summed out."""
        if self.pool == 1:
            return F.softplus(beta * inputs).sum((1, 2, 3))
        grid = self._grid(beta * inputs, -math.inf)
        top = grid.amax((3, 5), keepdim=True).clamp_min(0.0)
        total = (grid - top).exp().sum((3, 5), keepdim=True).add_((-top).exp())
        return (total.log_().add_(top)).sum((1, 2, 3, 4, 5))

    def visible_term(self, v: torch.Tensor) -> torch.Tensor:
        """The energy's visible-only part per row: -b.v (Bernoulli) or 0.5 |v - b|^2 (Gaussian)."""
        b = self.visible_bias.view(1, -1, 1, 1)
        if self.gaussian:
            return 0.5 * (v - b).pow(2).sum((1, 2, 3))
        return -(v * b).sum((1, 2, 3))

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)), per row (log p(v) = -F(v) - log Z)."""
        return self.visible_term(v) - self.log_pooled(self.hidden_input(v))

    # --- CD statistics ------------------------------------------------------------------------------------
    def statistics(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sums over the batch and positions of -dE/dtheta at (v, h) for the filters, visible and hidden biases:
        the filter statistic is the correlation of v with h (conv2d's weight gradient)."""
        dw = torch.nn.grad.conv2d_weight(v, self.weight.shape, h)
        dv = (v - self.visible_bias.view(1, -1, 1, 1)).sum((0, 2, 3)) if self.gaussian else v.sum((0, 2, 3))
        return dw, dv, h.sum((0, 2, 3))

    def as_dense(self):
        """The same model as a fully connected RBMNet (pool 1 only): the convolution written out as a
        (K H' W', C H W) matrix, the shared biases repeated per position. For checks on small models."""
        from .rbm import RBMNet

        if self.pool != 1:
            raise ValueError("as_dense needs pool=1: pooled blocks are not independent hidden units")
        c, h, w = self.image_shape
        eye = torch.eye(c * h * w, dtype=self.weight.dtype, device=self.weight.device).view(-1, c, h, w)
        dense = F.conv2d(eye, self.weight).flatten(1).t()  # column j: the hidden inputs of pixel j alone
        net = RBMNet(c * h * w, dense.shape[0], "gaussian" if self.gaussian else "bernoulli")
        hh, ww = self.detection_shape
        with torch.no_grad():
            net.weight.copy_(dense)
            net.visible_bias.copy_(self.visible_bias.repeat_interleave(h * w))
            net.hidden_bias.copy_(self.hidden_bias.repeat_interleave(hh * ww))
        return net


def bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 floats with P(1) = p (uniform < p: 3x faster on CPU than torch.bernoulli)."""
    return _uniform(p.shape, generator, p).lt_(p).to(p.dtype)


def _uniform(shape, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    if generator is None:
        return torch.rand(shape, dtype=like.dtype, device=like.device)
    return torch.rand(shape, generator=generator, dtype=like.dtype).to(like.device)


def _normal(shape, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    if generator is None:
        return torch.randn(shape, dtype=like.dtype, device=like.device)
    return torch.randn(shape, generator=generator, dtype=like.dtype).to(like.device)


def pooled_probability(inputs: torch.Tensor, pool: int) -> torch.Tensor:
    """P(pooling unit on | v) = sigmoid(logsumexp of the block's inputs), differentiable (the CNN's layer)."""
    if pool == 1:
        return torch.sigmoid(inputs)
    n, k, h, w = inputs.shape
    hb, wb = math.ceil(h / pool), math.ceil(w / pool)
    x = F.pad(inputs, (0, wb * pool - w, 0, hb * pool - h), value=-math.inf)
    return torch.sigmoid(torch.logsumexp(x.view(n, k, hb, pool, wb, pool), (3, 5)))


class ConvRBMClassifier(nn.Module):
    """A CNN whose layers compute what a ConvRBM stack's `transform` does (convolution, then the pooled
    probability of probabilistic max-pooling), a dropout and a softmax layer on top. `from_nets` copies a
    fitted stack's filters and hidden biases (the pretrained start); otherwise PyTorch's default
    initialisation (the random start)."""

    def __init__(self, image_shape: tuple[int, int, int], n_filters, filter_sizes, pools, n_classes: int,
                 dropout: float = 0.5):
        super().__init__()
        c, h, w = image_shape
        self.convs = nn.ModuleList()
        self.pools = [int(p) for p in pools]
        for k, f, p in zip(n_filters, filter_sizes, self.pools, strict=True):
            fh, fw = min(int(f), h), min(int(f), w)
            self.convs.append(nn.Conv2d(c, int(k), (fh, fw)))
            c, h, w = int(k), math.ceil((h - fh + 1) / p), math.ceil((w - fw + 1) / p)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c * h * w, n_classes)

    def load_nets(self, nets) -> ConvRBMClassifier:
        with torch.no_grad():
            for conv, net in zip(self.convs, nets, strict=True):
                conv.weight.copy_(net.weight)
                conv.bias.copy_(net.hidden_bias)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, p in zip(self.convs, self.pools, strict=True):
            x = pooled_probability(conv(x), p)
        return self.head(self.dropout(x.flatten(1)))
