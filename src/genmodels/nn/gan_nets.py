"""Generator and discriminator networks: DCGAN (Radford et al. 2016) for images, MLPs for vectors.

The DCGAN pair follows PyTorch's DCGAN example exactly when the image is 64x64 (ngf = ndf = 64): a
transposed conv from the 1x1 latent to the smallest feature map, stride-2 transposed convs (BN + ReLU) up
to the image, tanh; the discriminator mirrors it with stride-2 convs (BN + LeakyReLU, none after the first)
and a final conv covering the whole last feature map. Other sizes get as many stride-2 stages as fit
(28x28 -> 7x7 -> 14 -> 28). Class conditioning: one-hot labels appended to z in the generator, a projection
head (Miyato & Koyama 2018) in the discriminator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from .conv import downsampled_sizes, n_downsamples


def dcgan_stages(h: int, w: int) -> int:
    """Stride-2 stages for an image: halve while the map stays >= 4 (64 -> 4 stages, 28 -> 2, 8 -> 1)."""
    return n_downsamples(h, w, max_layers=4, min_size=4)


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN initialisation: conv/linear weights N(0, 0.02), BN weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _one_hot(y: torch.Tensor | None, n_classes: int, like: torch.Tensor) -> torch.Tensor | None:
    return None if y is None or not n_classes else F.one_hot(y, n_classes).to(like.dtype)


class DCGANGenerator(nn.Module):
    """(N, latent_dim) noise [+ labels] -> (N, C, H, W) images in [-1, 1]."""

    def __init__(self, latent_dim: int, image_shape: Sequence[int], base_channels: int = 64, n_classes: int = 0):
        super().__init__()
        c, h, w = image_shape
        n = dcgan_stages(h, w)
        self.n_classes = n_classes
        self.sizes = downsampled_sizes(h, w, n)[::-1]  # smallest first; exact sizes even for odd maps
        widths = [base_channels * 2 ** (n - 1 - i) for i in range(n)]
        self.first = nn.Sequential(
            nn.ConvTranspose2d(latent_dim + n_classes, widths[0], self.sizes[0], 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(True))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in zip(widths, [*widths[1:], c],
                                                                                                    strict=True))
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        dcgan_init(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        labels = _one_hot(y, self.n_classes, z)
        x = self.first((z if labels is None else torch.cat([z, labels], 1))[:, :, None, None])
        for i, up in enumerate(self.ups):
            x = up(x, output_size=self.sizes[i + 1])
            x = F.relu(self.norms[i](x), True) if i < len(self.norms) else torch.tanh(x)
        return x


class DCGANDiscriminator(nn.Module):
    """(N, C, H, W) [+ labels] -> (N,) logits. `features` gives the last feature map, flattened.

    norm: "batch" (DCGAN), "spectral" (Miyato et al. 2018, every layer) or "none" (WGAN-GP critics: batch
    norm would couple the samples whose per-sample gradient the penalty constrains)."""

    def __init__(self, image_shape: Sequence[int], base_channels: int = 64, n_classes: int = 0,
                 norm: str = "batch"):
        super().__init__()
        c, h, w = image_shape
        n = dcgan_stages(h, w)
        widths = [base_channels * 2 ** i for i in range(n)]
        sn = _spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = []
        for i, width in enumerate(widths):
            layers.append(sn(nn.Conv2d(c, width, 4, 2, 1, bias=False)))
            if i > 0 and norm == "batch":
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, True))
            c = width
        self.trunk = nn.Sequential(*layers)
        fh, fw = downsampled_sizes(h, w, n)[-1]
        self.feature_dim = c * fh * fw
        self.head = sn(nn.Conv2d(c, 1, (fh, fw), 1, 0, bias=False))  # a linear map of the whole last map
        self.n_classes = n_classes
        if n_classes:
            self.embed = sn(nn.Embedding(n_classes, self.feature_dim))
        dcgan_init(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.trunk(x)
        out = self.head(h).flatten()
        if self.n_classes and y is not None:  # projection: <embed(y), phi(x)>
            out = out + (self.embed(y) * h.flatten(1)).sum(1)
        return out


class MLPGenerator(nn.Module):
    """(N, latent_dim) noise [+ labels] -> (N, D) standardised vectors (linear output)."""

    def __init__(self, latent_dim: int, out_dim: int, hidden_dims: Sequence[int], n_classes: int = 0,
                 out_activation: str = "none"):
        super().__init__()
        self.n_classes = n_classes
        layers: list[nn.Module] = []
        d = latent_dim + n_classes
        for width in hidden_dims:
            layers += [nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU(True)]
            d = width
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_activation = out_activation

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        labels = _one_hot(y, self.n_classes, z)
        out = self.net(z if labels is None else torch.cat([z, labels], 1))
        return torch.tanh(out) if self.out_activation == "tanh" else out


class MLPDiscriminator(nn.Module):
    """(N, D) [+ labels] -> (N,) logits; LeakyReLU hidden layers, optional spectral norm, projection head."""

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], n_classes: int = 0, norm: str = "none"):
        super().__init__()
        sn = _spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = []
        d = in_dim
        for width in hidden_dims:
            layers += [sn(nn.Linear(d, width)), nn.LeakyReLU(0.2, True)]
            d = width
        self.trunk = nn.Sequential(*layers)
        self.feature_dim = d
        self.head = sn(nn.Linear(d, 1))
        self.n_classes = n_classes
        if n_classes:
            self.embed = sn(nn.Embedding(n_classes, d))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x.flatten(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.head(h).flatten()
        if self.n_classes and y is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out
