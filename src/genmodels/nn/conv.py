"""Convolutional encoder/decoder pairs for (C, H, W) images of any size (stride-2 convs, exact output size)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def downsampled_sizes(h: int, w: int, n: int) -> list[tuple[int, int]]:
    """Spatial sizes after each stride-2, kernel-4, padding-1 conv: floor(x / 2)."""
    sizes = [(h, w)]
    for _ in range(n):
        h, w = h // 2, w // 2
        sizes.append((h, w))
    return sizes


def n_downsamples(h: int, w: int, max_layers: int = 3, min_size: int = 4) -> int:
    n = 0
    while n < max_layers and min(h, w) // 2 >= min_size:
        h, w, n = h // 2, w // 2, n + 1
    return max(n, 1)


class ConvEncoder(nn.Module):
    """(N, C, H, W) -> (N, out_dim): stride-2 convs, then a linear layer."""

    def __init__(self, image_shape: Sequence[int], channels: Sequence[int], out_dim: int):
        super().__init__()
        c, h, w = image_shape
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2)]
            c = width
        self.convs = nn.Sequential(*layers)
        fh, fw = downsampled_sizes(h, w, len(channels))[-1]
        self.out = nn.Linear(c * fh * fw, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.convs(x).flatten(1))


class ConvDecoder(nn.Module):
    """(N, in_dim) -> (N, C, H, W) logits: a linear layer, then stride-2 transposed convs hitting the exact size."""

    def __init__(self, in_dim: int, channels: Sequence[int], image_shape: Sequence[int]):
        super().__init__()
        c, h, w = image_shape
        self.sizes = downsampled_sizes(h, w, len(channels))[::-1]  # smallest first
        widths = list(channels)[::-1]
        self.first_shape = (widths[0], *self.sizes[0])
        self.inp = nn.Sequential(nn.Linear(in_dim, widths[0] * self.sizes[0][0] * self.sizes[0][1]), nn.ReLU())
        outs = [*widths[1:], c]
        self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 4, 2, 1) for a, b in zip(widths, outs, strict=True))
        self.act = nn.ReLU()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.inp(z).view(-1, *self.first_shape)
        for i, up in enumerate(self.ups):
            x = up(x, output_size=self.sizes[i + 1])
            if i < len(self.ups) - 1:
                x = self.act(x)
        return x
