"""Partition functions of convolutional RBMs (with or without probabilistic max-pooling): exactly by enumerating
the hidden configurations of a small model, or by annealed importance sampling (Salakhutdinov & Murray 2008)
with the RBM's temperature schedule and estimate (rbm_partition), the intermediate models scaling the joint
energy of the pooled units by beta, as the RBM's do."""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from ..errors import DataError
from ..nn.conv_rbm import LOG_2PI, ConvRBMNet
from .rbm_partition import ais_betas, ais_estimate

MAX_EXACT_STATES = 2 ** 22


def _units_per_block(net: ConvRBMNet) -> torch.Tensor:
    """How many detection units each block of one filter holds (edge blocks may hold fewer)."""
    ones = torch.ones(1, 1, *net.detection_shape, dtype=torch.float64)
    return net._blocks(ones, 0.0).sum(-1).flatten()


def log_hidden_configurations(net: ConvRBMNet) -> float:
    """log of the number of hidden configurations: each block is off or has exactly one of its units on."""
    return net.weight.shape[0] * float(torch.log1p(_units_per_block(net)).sum())


def _log_marginal_hidden(net: ConvRBMNet, h: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """log sum_v exp(-E_beta(v, h)) per row (Gaussian: without the constant D/2 log 2 pi)."""
    c, b = net.hidden_bias.double(), net.visible_bias.double().view(1, -1, 1, 1)
    m = F.conv_transpose2d(h, net.weight.double())
    hidden = beta * (h.sum((2, 3)) @ c)
    if net.gaussian:  # integral of exp(-(v - b)^2 / 2 + beta v m) = sqrt(2 pi) exp(beta b m + beta^2 m^2 / 2)
        return hidden + (beta * b * m + 0.5 * beta ** 2 * m.pow(2)).sum((1, 2, 3))
    return hidden + F.softplus(b + beta * m).sum((1, 2, 3))


def exact_log_partition(net: ConvRBMNet, chunk: int = 4096) -> float:
    """log Z by summing out the visibles analytically over every hidden configuration (small models only)."""
    k = net.weight.shape[0]
    if any(d % net.pool for d in net.detection_shape):
        raise DataError(f"exact log Z needs detection maps {net.detection_shape} divisible by pool={net.pool}")
    sizes = [int(n) for n in _units_per_block(net)] * k  # blocks of filter 0, then filter 1, ...
    total = math.prod(n + 1 for n in sizes)
    if total > MAX_EXACT_STATES:
        raise DataError(f"exact log Z enumerates {total} hidden configurations; too many (use AIS)")
    hb, wb = net.pooled_shape
    p = net.pool
    radices = torch.tensor([n + 1 for n in sizes], dtype=torch.long)
    place = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.long), radices[:-1]]), 0)
    terms = []
    for start in range(0, total, chunk):
        codes = torch.arange(start, min(start + chunk, total))
        digits = (codes[:, None] // place) % radices  # the state of each block: unit 0..p*p-1 on, or p*p = off
        onehot = F.one_hot(digits, p * p + 1)[..., : p * p].double()
        blocks = onehot.view(len(codes), k, hb, wb, p * p)
        terms.append(_log_marginal_hidden(net, net._unblocks(blocks)))
    log_z = torch.logsumexp(torch.cat(terms), 0)
    if net.gaussian:
        log_z = log_z + 0.5 * LOG_2PI * math.prod(net.image_shape)
    return float(log_z)


def ais_log_partition(net: ConvRBMNet, n_runs: int = 100, n_betas: int = 14500, seed: int = 0,
                      base_data: torch.Tensor | None = None) -> tuple[float, float, float]:
    """AIS estimate of log Z: (log Z, log(Z - 3 sd), log(Z + 3 sd)), as rbm_partition.ais_log_partition.

    Bernoulli visibles: runs over v from the base-rate model (visible biases at the smoothed log-odds of
    `base_data`'s pixel marginals, every hidden configuration equally likely). Gaussian visibles: runs over h
    with v summed out, from the base model W = 0, c = 0."""
    if n_runs < 2 or n_betas < 2:
        raise DataError(f"AIS needs n_runs >= 2 and n_betas >= 2, got {n_runs} and {n_betas}")
    g = torch.Generator().manual_seed(seed)
    dev = net.weight.device
    betas = ais_betas(n_betas).tolist()
    log_w = torch.zeros(n_runs, dtype=torch.float64, device=dev)
    shape = (n_runs, *net.image_shape)
    b = net.visible_bias.view(1, -1, 1, 1)
    zero_input = torch.zeros(n_runs, net.weight.shape[0], *net.detection_shape, device=dev)
    if net.gaussian:
        log_z_a = 0.5 * LOG_2PI * math.prod(net.image_shape) + log_hidden_configurations(net)
        h = net.sample_hidden(zero_input, g)  # uniform over the configurations
        for prev, beta in itertools.pairwise(betas):
            hd = h.double()
            log_w += _log_marginal_hidden(net, hd, beta) - _log_marginal_hidden(net, hd, prev)
            v = b + beta * F.conv_transpose2d(h, net.weight) + torch.randn(shape, generator=g).to(dev)
            h = net.sample_hidden(beta * net.hidden_input(v), g)
        return ais_estimate(log_w, log_z_a)
    if base_data is None:
        raise DataError("AIS for Bernoulli visibles needs data for its base-rate model")
    n = len(base_data)
    p = (base_data.sum(0).double() + 0.05 * n) / (1.1 * n)  # smoothed pixel marginals (the 2008 code's choice)
    b_a = torch.log(p / (1 - p)).float().to(dev)[None]
    log_z_a = float(F.softplus(b_a.double()).sum()) + log_hidden_configurations(net)
    v = (torch.rand(shape, generator=g).to(dev) < torch.sigmoid(b_a)).float()
    for prev, beta in itertools.pairwise(betas):
        inputs = net.hidden_input(v)
        visible = ((v * (b - b_a)).sum((1, 2, 3))).double()
        log_w += (beta - prev) * visible + (net.log_pooled(inputs, beta) - net.log_pooled(inputs, prev)).double()
        h = net.sample_hidden(beta * inputs, g)
        logit = (1 - beta) * b_a + beta * (F.conv_transpose2d(h, net.weight) + b)
        v = (torch.rand(shape, generator=g).to(dev) < torch.sigmoid(logit)).float()
    return ais_estimate(log_w, log_z_a)
