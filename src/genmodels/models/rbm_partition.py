"""Partition functions of RBMs: exactly by enumerating the hidden states (small models), or by annealed importance
sampling (Salakhutdinov & Murray 2008). Used by `RBM.log_likelihood` (and any RBM-like family)."""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from ..errors import DataError
from ..nn.rbm import RBMNet
from ..progress import Phase

LOG_2PI = math.log(2 * math.pi)


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
                      base_data: torch.Tensor | None = None, verbose: bool | int = 0) -> tuple[float, float, float]:
    """AIS estimate of log Z: (log Z, log(Z - 3 sd), log(Z + 3 sd)) with sd the standard error of Z.

    Bernoulli visibles: runs over v from the base-rate model p_A(v) with visible biases at the (smoothed)
    log-odds of `base_data`'s marginals (Salakhutdinov & Murray 2008), intermediate models
    p_k(v) ∝ exp((1-b_k) b_A.v) * p*_B(v)^b_k. Gaussian visibles: runs over h with v summed out, from the
    base model W = 0, c = 0 (independent Gaussians with the model's b and s, fair-coin hiddens). `verbose`: a
    bar over the temperatures (the summary line is logged either way, see genmodels.progress)."""
    if n_runs < 2 or n_betas < 2:
        raise DataError(f"AIS needs n_runs >= 2 and n_betas >= 2, got {n_runs} and {n_betas}")
    g = torch.Generator().manual_seed(seed)
    dev = net.weight.device
    W, b, c = net.weight, net.visible_bias, net.hidden_bias
    betas = ais_betas(n_betas).tolist()
    log_w = torch.zeros(n_runs, dtype=torch.float64, device=dev)
    phase = Phase("AIS", total=n_betas - 1, unit="temperature", verbose=verbose)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g).to(dev)

    if net.gaussian:
        Wd, bd, cd = W.double(), b.double(), c.double()
        std = (0.5 * net.log_var).exp()
        precision = net.precision()
        h = (rand(n_runs, net.n_hidden) < 0.5).float()
        log_z_a = net.n_hidden * math.log(2) + float(0.5 * (LOG_2PI + net.log_var.double()).sum())
        for prev, beta in itertools.pairwise(betas):
            phase.update(1)
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
            phase.update(1)
            wx = torch.addmm(c, v, W.t())
            vb_a, vb_b = (v @ b_a).double(), (v @ b).double()
            log_w += ((beta - prev) * (vb_b - vb_a) +
                      (F.softplus(beta * wx) - F.softplus(prev * wx)).double().sum(1))
            h = (rand(n_runs, net.n_hidden) < torch.sigmoid(beta * wx)).float()
            v_logit = (1 - beta) * b_a + beta * torch.addmm(b, h, W)
            v = (rand(n_runs, W.shape[1]) < torch.sigmoid(v_logit)).float()
    estimate = ais_estimate(log_w, log_z_a)
    phase.done(f"log Z {estimate[0]:.4g} from {n_runs} chains x {n_betas} temperatures")
    return estimate


def ais_estimate(log_w: torch.Tensor, log_z_a: float) -> tuple[float, float, float]:
    """(log Z, log(Z - 3 sd), log(Z + 3 sd)) from the AIS log-weights of the runs and the base model's log Z."""
    n_runs = len(log_w)
    log_mean_w = torch.logsumexp(log_w, 0) - math.log(n_runs)
    # sd of the mean weight, relative to the mean, computed in log space to avoid overflow
    rel = torch.exp(log_w - torch.logsumexp(log_w, 0)) * n_runs  # w / mean(w)
    rel_sd = float(rel.std() / math.sqrt(n_runs))
    log_z = log_z_a + float(log_mean_w)
    # Z - 3 sd <= 0 means a few runs carry the estimate: the interval is then open (more betas or runs help)
    low = log_z + math.log1p(-3 * rel_sd) if 3 * rel_sd < 1 else -math.inf
    return log_z, low, log_z + math.log1p(3 * rel_sd)
