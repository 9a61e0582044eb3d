"""The parameters of a restricted Boltzmann machine and its conditionals (Bernoulli or Gaussian visibles)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
        return bernoulli(mean, generator)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)), per row (log p(v) = -F(v) - log Z)."""
        softplus = F.softplus(self.hidden_input(v)).sum(1)
        if self.gaussian:
            return (0.5 * (v - self.visible_bias).pow(2) * self.precision()).sum(1) - softplus
        return -(v @ self.visible_bias) - softplus


def bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 floats with P(1) = p; without a generator from the global RNG (uniform < p is 3x faster on CPU
    than torch.bernoulli)."""
    if generator is None:
        return torch.rand_like(p).lt_(p)
    return (torch.rand(p.shape, generator=generator).to(p.device) < p).to(p.dtype)
