"""Fully connected stacks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU,
               "silu": nn.SiLU}


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int | None = None, activation: str = "relu") -> nn.Sequential:
    """Linear -> activation for each hidden width, then an optional linear output layer without activation."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), ACTIVATIONS[activation]()]
        in_dim = width
    if out_dim is not None:
        layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)
