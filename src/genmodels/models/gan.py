"""Generative adversarial networks (Goodfellow et al. 2014): DCGAN nets for images, MLPs for vectors;
non-saturating, hinge and WGAN-GP losses; spectral norm; class conditioning (projection discriminator);
an exponential moving average of the generator for sampling; separate (TTUR) learning rates; and an
encoder trained to invert the generator, which gives `reconstruct` and, with the discriminator, anomaly
scores."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import DataInfo, Dataset
from ..errors import DataError
from ..nn import ConvEncoder, mlp
from ..nn.gan_nets import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    dcgan_init,
    dcgan_stages,
)
from ..train import StepInfo
from .array import ArrayModel
from .base import budget_epochs, epochs_for
from .params import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    PRECISION,
    TRAINING,
    Boolean,
    Interval,
    NoneValue,
    Numbers,
    Options,
    Sizes,
)

LOSSES = ("non-saturating", "hinge", "wgan-gp")
SCORE_ROWS = 2048  # training rows that calibrate the anomaly score's two parts


class GANNet(nn.Module):
    """Every network and buffer of a GAN: generator `g`, its moving average `g_ema` (what samples come
    from), discriminator `d`, optional encoder `e` (x -> z), the data scaling and the score calibration."""

    def __init__(self, data_shape: Sequence[int], latent_dim: int, arch: str, g_channels: int, d_channels: int,
                 hidden_dims: Sequence[int], n_classes: int, d_norm: str, encoder: bool):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.is_image = len(self.data_shape) == 3
        if arch == "dcgan":
            self.g = DCGANGenerator(latent_dim, data_shape, g_channels, n_classes)
            self.d = DCGANDiscriminator(data_shape, d_channels, n_classes, d_norm)
        else:
            d = math.prod(data_shape)
            self.g = MLPGenerator(latent_dim, d, hidden_dims, n_classes, "tanh" if self.is_image else "none")
            self.d = MLPDiscriminator(d, list(hidden_dims)[::-1], n_classes, "none" if d_norm == "batch" else d_norm)
        self.g_ema = copy.deepcopy(self.g).requires_grad_(False)
        self.e = None
        if encoder:
            if arch == "dcgan":
                stages = dcgan_stages(*data_shape[1:])
                self.e = ConvEncoder(data_shape, [d_channels * 2 ** i for i in range(stages)], latent_dim)
                dcgan_init(self.e)
            else:
                self.e = nn.Sequential(nn.Flatten(), mlp(math.prod(data_shape), list(hidden_dims)[::-1], latent_dim,
                                                         "leaky_relu"))
        # x_model = (x - center) / half_range: images to [-1, 1] (tanh output), vectors standardised per feature
        scale_shape = (1, 1, 1) if self.is_image else (math.prod(data_shape),)
        self.register_buffer("center", torch.zeros(scale_shape))
        self.register_buffer("half_range", torch.ones(scale_shape))
        # mean and std of discriminator logit and reconstruction error on training rows (score_samples)
        self.register_buffer("score_stats", torch.tensor([0.0, 1.0, 0.0, 1.0]))

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        return ((x if self.is_image else x.flatten(1)) - self.center) / self.half_range

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.half_range + self.center).reshape(len(x), *self.data_shape)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None, ema: bool = True) -> torch.Tensor:
        """Images (N, C, H, W) or vectors (N, D) in model space."""
        out = (self.g_ema if ema else self.g)(z, y)
        return out.view(len(z), *self.data_shape) if self.is_image else out


class GAN(ArrayModel):
    """Generative adversarial network with the scikit-learn estimator contract.

    arch: "auto" (DCGAN for images of at least 16x16, else MLP), "dcgan" or "mlp".
    loss: "non-saturating" (Goodfellow et al. 2014), "hinge" (Lim & Ye 2017; Miyato et al. 2018) or
        "wgan-gp" (Gulrajani et al. 2017, penalty weight `gp_weight`).
    spectral_norm: spectral normalisation of every discriminator layer (instead of batch norm).
    d_steps: discriminator updates per generator update (None: 5 for wgan-gp, else 1).
    lr_g, lr_d: separate learning rates (two time-scale update rule, Heusel et al. 2017); Adam with `betas`.
    ema_decay: the generator used for sampling is an exponential moving average of the trained one.
    conditional: condition on the labels y: `sample(n, y=...)`.
    encoder: also train an encoder to invert the generator (z ~ E(G(z))), for `reconstruct`,
        `score_samples` and `anomaly_score`. precision: "fp32", "bf16" or "fp16" (autocast).
    """

    family = "gan"
    capabilities = frozenset({"sample", "conditional", "transform", "reconstruct", "anomaly", "partial_fit"})
    no_likelihood_why = "a GAN defines no density"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "latent_dim": [POSITIVE_INT], "arch": [Options("auto", "dcgan", "mlp")], "g_channels": [POSITIVE_INT],
        "d_channels": [POSITIVE_INT], "hidden_dims": [Sizes()], "loss": [Options(*LOSSES)],
        "spectral_norm": [Boolean()], "gp_weight": [NON_NEGATIVE], "d_steps": [POSITIVE_INT, NoneValue()],
        "conditional": [Boolean()], "ema_decay": [Interval(float, 0, 1, closed="left")], "lr_g": [POSITIVE],
        "lr_d": [POSITIVE], "betas": [Numbers(2, Interval(float, 0, 1, closed="left"))],
        "encoder": [Boolean()], "precision": [PRECISION], **TRAINING,
    }

    def __init__(self, latent_dim: int = 64, arch: str = "auto", g_channels: int = 64, d_channels: int = 64,
                 hidden_dims: Sequence[int] = (256, 512), loss: str = "non-saturating", spectral_norm: bool = False,
                 gp_weight: float = 10.0, d_steps: int | None = None, conditional: bool = False,
                 ema_decay: float = 0.999, lr_g: float = 2e-4, lr_d: float = 2e-4,
                 betas: Sequence[float] = (0.5, 0.999), encoder: bool = True, epochs: int = 30,
                 batch_size: int = 64, precision: str = "fp32", seed: int = 0, device: str = "auto",
                 verbose: int = 1, checkpoint_every: int = 0, sample_every: int = 5):
        self.latent_dim = latent_dim
        self.arch = arch
        self.g_channels = g_channels
        self.d_channels = d_channels
        self.hidden_dims = hidden_dims
        self.loss = loss
        self.spectral_norm = spectral_norm
        self.gp_weight = gp_weight
        self.d_steps = d_steps
        self.conditional = conditional
        self.ema_decay = ema_decay
        self.lr_g = lr_g
        self.lr_d = lr_d
        self.betas = betas
        self.encoder = encoder
        self.epochs = epochs
        self.batch_size = batch_size
        self.precision = precision
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every

    @classmethod
    def recommended(cls, info: DataInfo, budget: float | None = None, task: str = "generate") -> dict:
        """compare: a conditional MLP GAN with its encoder, sized by the image; anomaly: small MLPs for feature
        vectors, about 1500 steps (each a D and a G update); augment: a conditional MLP GAN without encoder,
        about 2000 steps (benchmarks/compare_mnist.py, anomaly_adbench.py, augment_mnist.py)."""
        small, d, n = info.n_features <= 256, info.n_features, max(1, info.n_samples)
        if task == "compare":
            return {"latent_dim": 32 if small else 64, "hidden_dims": (128, 256) if small else (256, 512),
                    "arch": "mlp", "conditional": info.n_classes >= 2, "encoder": True, "batch_size": 64,
                    **budget_epochs(budget)}
        if task == "anomaly":
            images = info.is_image and info.unit_interval
            return {"latent_dim": 32 if images else max(4, d // 2),
                    "hidden_dims": (256, 512) if images else (64, 64), "batch_size": 128,
                    "epochs": epochs_for(1500, 128, n, 5, 30)}
        if task == "augment":
            batch = max(1, min(64, n))
            return {"conditional": True, "arch": "mlp", "hidden_dims": (256, 256), "latent_dim": 32,
                    "encoder": False, "batch_size": batch, "epochs": epochs_for(2000, batch, n, 5, 500)}
        return {}

    def supports(self, capability: str) -> bool:
        """reconstruct and anomaly need the encoder (encoder=True)."""
        if capability in ("reconstruct", "anomaly") and not self.encoder:
            return False
        return super().supports(capability)

    # --- fitting -------------------------------------------------------------------------------------------
    def _fit_data(self, data: Dataset, run_dir, resume: bool, overwrite: bool, time_budget,
                  logger: str | None = None) -> None:
        """Train; afterwards the score's two parts are calibrated on (up to 2048) training rows."""
        super()._fit_data(data, run_dir, resume, overwrite, time_budget, logger=logger)
        self._calibrate_scores(data.X)

    def partial_fit(self, X, y=None):
        super().partial_fit(X, y)
        self._calibrate_scores(self.validate_X(X))
        return self

    def _validate_fit(self, X, y) -> Dataset:
        data = super()._validate_fit(X, y)
        if self.arch == "dcgan" and data.image_shape is None:
            raise DataError(f"arch='dcgan' needs images (N, C, H, W) or (N, H, W), got rows of shape {self.input_shape_}")
        return data

    def _resolved_arch(self) -> str:
        if self.arch != "auto":
            return self.arch
        return "dcgan" if len(self.data_shape_) == 3 and min(self.data_shape_[1:]) >= 16 else "mlp"

    def _d_norm(self) -> str:
        if self.spectral_norm:
            return "spectral"
        return "none" if self.loss == "wgan-gp" else "batch"

    def _n_d_steps(self) -> int:
        return int(self.d_steps) if self.d_steps is not None else (5 if self.loss == "wgan-gp" else 1)

    def _build(self, data: Dataset | None) -> None:
        n_classes = self.n_classes_ if self.conditional else 0
        net = GANNet(self.data_shape_, int(self.latent_dim), self._resolved_arch(), int(self.g_channels),
                     int(self.d_channels), [int(h) for h in self.hidden_dims], n_classes, self._d_norm(),
                     bool(self.encoder))
        if data is not None:
            X = torch.as_tensor(data.X)
            if net.is_image:
                lo, hi = float(X.min()), float(X.max())
                net.center.fill_((hi + lo) / 2)
                net.half_range.fill_(max((hi - lo) / 2, 1e-6))
            else:
                flat = X.flatten(1).double()
                net.center.copy_(flat.mean(0))
                net.half_range.copy_(flat.std(0).clamp(min=1e-6) if len(flat) > 1 else torch.ones(flat.shape[1]))
        # batch norm in D sees real and fake batches separately (as in DCGAN); without it one call is faster
        self._d_has_batchnorm = any(isinstance(m, nn.BatchNorm2d) for m in net.d.modules())
        self.module_ = net

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        betas = tuple(float(b) for b in self.betas)
        net = self.module_
        opts = [torch.optim.Adam(net.g.parameters(), lr=self.lr_g, betas=betas),
                torch.optim.Adam(net.d.parameters(), lr=self.lr_d, betas=betas)]
        if net.e is not None:
            opts.append(torch.optim.Adam(net.e.parameters(), lr=self.lr_d, betas=betas))
        return opts

    def _d_logits(self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None):
        d = self.module_.d
        if self._d_has_batchnorm:
            return d(real, y), d(fake, y)
        out = d(torch.cat([real, fake]), None if y is None else torch.cat([y, y]))
        return out[: len(real)], out[len(real):]

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """(||grad_x D(x)|| - 1)^2 at random points between real and fake rows (Gulrajani et al. 2017)."""
        alpha = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.module_.d(mixed, y).sum(), mixed, create_graph=True)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        net, opts = self.module_, self.optimizers_
        net.train()  # sample grids between epochs switch to eval mode; batch norm must see batches again
        real = net.to_model(batch[0])
        y = batch[1] if self.is_conditional() else None  # fakes get the batch's labels: same class mix
        n, d_steps, step = len(real), self._n_d_steps(), info.step
        update_g = (step + 1) % d_steps == 0
        z = torch.randn(n, int(self.latent_dim), device=real.device)
        # one generator pass feeds both steps (as in the DCGAN loop); keep its graph only when G updates
        with torch.set_grad_enabled(update_g):
            fake = net.generate(z, y, ema=False)

        d_real, d_fake = self._d_logits(real, fake.detach(), y)
        if self.loss == "non-saturating":
            d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
        elif self.loss == "hinge":
            d_loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        else:
            d_loss = d_fake.mean() - d_real.mean() + float(self.gp_weight) * self._gradient_penalty(
                real, fake.detach(), y)
        self._update(opts[1], d_loss)
        stats = {"d_loss": d_loss.detach(), "d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}
        if not update_g:
            return stats

        d_params = list(net.d.parameters())
        for p in d_params:  # D's weight gradients are not needed for G's step: skip computing them
            p.requires_grad_(False)
        scores = net.d(fake, y)
        g_loss = F.softplus(-scores).mean() if self.loss == "non-saturating" else -scores.mean()
        self._update(opts[0], g_loss)
        for p in d_params:
            p.requires_grad_(True)
        self._update_ema(step // d_steps)
        stats["g_loss"] = g_loss.detach() * d_steps  # logged means then average over the G steps alone
        if net.e is not None:  # learn to invert the generator on the fakes just made
            e_loss = F.mse_loss(net.e(fake.detach()), z)
            self._update(opts[2], e_loss)
            stats["e_loss"] = e_loss.detach() * d_steps
        return stats

    @torch.no_grad()
    def _update_ema(self, g_step: int) -> None:
        # the warm-up keeps the average from lagging far behind early in training and on small data
        decay = min(float(self.ema_decay), (1 + g_step) / (10 + g_step))
        net = self.module_
        ema_params, params = list(net.g_ema.parameters()), list(net.g.parameters())
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        for be, b in zip(net.g_ema.buffers(), net.g.buffers(), strict=True):
            be.copy_(b)

    def _sample(self, n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        net = self.module_.eval()
        z = torch.randn(n, int(self.latent_dim), generator=generator).to(self.device_)
        out = [net.from_model(net.generate(z[i: i + 1024], None if y is None else y[i: i + 1024]))
               for i in range(0, n, 1024)]
        return torch.cat(out)

    # --- scikit-learn surface ------------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """Discriminator features (the last hidden layer; conv maps averaged over space), shaped (N, F)."""
        x = self.validate_X(X)
        net = self.module_

        def features(xb: torch.Tensor) -> torch.Tensor:
            h = net.d.features(net.to_model(xb))
            return h.mean((2, 3)) if h.dim() == 4 else h

        return self._batched(features, x).cpu().numpy()

    def reconstruct(self, X, y=None) -> np.ndarray:
        """G(E(x)): the generator's nearest version of each row (the encoder inverts the generator). A
        conditional model without y uses, per row, the class that reconstructs it best."""
        self._require_encoder("reconstruct")
        x = self.validate_X(X)
        labels = self._row_labels(y, len(x))
        return self._as_rows(self._batched(lambda xb, yb: self._reconstruct(xb, yb)[0], x, labels))

    def score_samples(self, X, y=None) -> np.ndarray:
        """Higher = more normal: the mean of the discriminator's logit and the negative reconstruction
        error, each standardised by its mean and std on training rows (so neither dominates)."""
        self._require_encoder("score_samples")
        x = self.validate_X(X)
        return self._batched(self._score, x, self._row_labels(y, len(x))).cpu().numpy()

    def anomaly_score(self, X, part: str | None = None) -> np.ndarray:
        """Higher = more anomalous: the mean squared reconstruction error |x - G(E(x))|^2 through the encoder
        (EGBAD-style). The discriminator logit is left out: on ADBench's thyroid it pulled ROC AUC from 0.86
        down to 0.55."""
        self._require_encoder("anomaly_score")
        x = self.rows_of(X)
        return ((self.reconstruct(x) - x) ** 2).reshape(len(x), -1).mean(1).astype(np.float64)

    def _require_encoder(self, what: str) -> None:
        if not self.encoder:
            raise DataError(f"{what} needs the encoder: fit with encoder=True")

    def _row_labels(self, y, n: int) -> torch.Tensor | None:
        if y is None or not self.is_conditional():
            return None
        return self._encode_labels(y, n, torch.Generator())

    def _reconstruct(self, xb: torch.Tensor, yb: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstructions in data space, mean squared error per feature in model space)."""
        net = self.module_
        xm = net.to_model(xb)
        z = net.e(xm)
        classes = [yb] if yb is not None or not self.is_conditional() else [
            torch.full((len(xb),), c, device=xb.device) for c in range(self.n_classes_)]
        outs = torch.stack([net.generate(z, c) for c in classes], 1)  # (N, classes, ...)
        errors = (outs - xm.unsqueeze(1)).pow(2).flatten(2).mean(2)
        best = errors.argmin(1)
        rows = torch.arange(len(xb), device=xb.device)
        return net.from_model(outs[rows, best]), errors[rows, best]

    def _discriminator_logit(self, xb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
        net = self.module_
        xm = net.to_model(xb)
        if yb is not None or not self.is_conditional():
            return net.d(xm, yb)
        return torch.stack([net.d(xm, torch.full((len(xb),), c, device=xb.device))
                            for c in range(self.n_classes_)], 1).amax(1)  # the class it looks most real as

    def _score(self, xb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
        d_mean, d_std, r_mean, r_std = self.module_.score_stats.tolist()
        d = (self._discriminator_logit(xb, yb) - d_mean) / d_std
        r = (self._reconstruct(xb, yb)[1] - r_mean) / r_std
        return 0.5 * d - 0.5 * r

    def _calibrate_scores(self, X: np.ndarray | torch.Tensor) -> None:
        if self.module_.e is None:
            return
        index = np.linspace(0, len(X) - 1, min(len(X), SCORE_ROWS)).round().astype(np.int64)
        rows = torch.as_tensor(X[index], device=self.device_)
        d = self._batched(lambda xb: self._discriminator_logit(xb, None), rows)
        r = self._batched(lambda xb: self._reconstruct(xb, None)[1], rows)
        stats = [float(d.mean()), float(d.std()) if len(d) > 1 else 1.0,
                 float(r.mean()), float(r.std()) if len(r) > 1 else 1.0]
        stats[1], stats[3] = max(stats[1], 1e-6), max(stats[3], 1e-6)
        self.module_.score_stats.copy_(torch.tensor(stats))

