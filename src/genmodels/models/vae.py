"""Variational autoencoder (Kingma & Welling 2014): encoder q(z|x), decoder p(x|z), ELBO training,
IWAE bound (Burda et al. 2016) for likelihoods and anomaly scores; optional beta weight and class
conditioning (CVAE, Sohn et al. 2015): both the encoder q(z|x,y) and the decoder p(x|z,y) see the label."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import DataInfo, Dataset
from ..errors import DataError
from ..nn import ConvDecoder, ConvEncoder, mlp, n_downsamples
from ..train import StepInfo
from .array import ArrayModel
from .base import LikelihoodEstimate, adam, budget_epochs, epochs_for
from .params import NON_NEGATIVE, POSITIVE, POSITIVE_INT, PRECISION, TRAINING, Boolean, Options, Sizes

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per row, in nats."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


class VAENet(nn.Module):
    """Encoder and decoder for flat vectors (MLP) or images (conv); `forward` returns the training loss."""

    def __init__(self, data_shape: Sequence[int], latent_dim: int, hidden_dims: Sequence[int], arch: str,
                 likelihood: str, n_classes: int):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.likelihood = likelihood
        self.n_classes = n_classes
        self.arch = arch
        d = math.prod(data_shape)
        h = hidden_dims[-1]
        if arch == "conv":
            channels = [32, 64, 128][: n_downsamples(*data_shape[1:])]
            conv = ConvEncoder(data_shape, channels, h)
            if n_classes:  # one-hot y joins the flattened conv features ahead of the encoder's linear layer: a
                # spatially constant label gives the convs nothing to look at, and there it costs n_classes inputs
                conv.out = nn.Linear(conv.out.in_features + n_classes, h)
            self.encoder = nn.Sequential(conv, nn.ReLU())
            self.decoder = nn.Sequential(nn.Linear(latent_dim + n_classes, h), nn.ReLU(),
                                         ConvDecoder(h, channels, data_shape))
        else:
            self.encoder = nn.Sequential(nn.Flatten(), mlp(d + n_classes, hidden_dims))  # input: [x, one-hot y]
            self.decoder = mlp(latent_dim + n_classes, list(hidden_dims)[::-1], d)
        self.mean = nn.Linear(h, latent_dim)
        self.logvar = nn.Linear(h, latent_dim)
        if likelihood == "gaussian":  # learned per-feature noise scale of p(x|z)
            self.log_sigma = nn.Parameter(torch.zeros(d))

    def encode(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x) (q(z|x,y) for a conditional net, which needs y: class codes)."""
        if not self.n_classes:
            hidden = self.encoder(x)
        else:
            onehot = F.one_hot(y, self.n_classes).to(x.dtype)
            if self.arch == "conv":
                conv, act = self.encoder
                hidden = act(conv.out(torch.cat([conv.convs(x).flatten(1), onehot], 1)))
            else:
                hidden = self.encoder(torch.cat([x.flatten(1), onehot], 1))
        return self.mean(hidden), self.logvar(hidden).clamp(-12, 8)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Flat decoder output: Bernoulli logits or Gaussian means, shaped (N, D)."""
        if self.n_classes:
            z = torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], 1)
        return self.decoder(z).flatten(1)

    def mean_of(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def log_px(self, x_flat: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per row, summed over features."""
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x_flat, reduction="none").sum(1)
        log_sigma = self.log_sigma.clamp(min=-6.0)
        return -(0.5 * ((x_flat - out) / log_sigma.exp()) ** 2 + log_sigma + 0.5 * LOG_2PI).sum(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None, beta: float) -> tuple[torch.Tensor, ...]:
        mean, logvar = self.encode(x, y)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        recon = -self.log_px(x.flatten(1), self.decode(z, y)).mean()
        kl = gaussian_kl(mean, logvar).mean()
        return recon + beta * kl, recon, kl


class VAE(ArrayModel):
    """Variational autoencoder with the scikit-learn estimator contract.

    arch: "auto" (conv for images of at least 16x16, else MLP), "mlp" or "conv".
    likelihood: "bernoulli" (X in [0, 1]) or "gaussian" (any real X; learned per-feature variance).
    beta: weight of the KL term (beta-VAE). conditional: encoder and decoder conditioned on the labels y (CVAE:
    q(z|x,y), p(x|z,y)); `class_prior_` holds the training class frequencies p(y).
    dynamic_binarization: resample binary X ~ Bernoulli(X) at every step (the standard MNIST protocol).
    iwae_k: importance samples for `score_samples`. precision: "fp32", "bf16" or "fp16" (autocast).
    """

    family = "vae"
    capabilities = frozenset({"sample", "conditional", "transform", "reconstruct", "density", "likelihood",
                              "anomaly", "partial_fit"})
    anomaly_part_names = ("bound", "rate")
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "latent_dim": [POSITIVE_INT], "hidden_dims": [Sizes()], "arch": [Options("auto", "mlp", "conv")],
        "likelihood": [Options("bernoulli", "gaussian")], "beta": [NON_NEGATIVE], "conditional": [Boolean()],
        "dynamic_binarization": [Boolean()], "lr": [POSITIVE], "weight_decay": [NON_NEGATIVE],
        "iwae_k": [POSITIVE_INT], "precision": [PRECISION], **TRAINING,
    }

    def __init__(self, latent_dim: int = 16, hidden_dims: Sequence[int] = (512, 256), arch: str = "auto",
                 likelihood: str = "bernoulli", beta: float = 1.0, conditional: bool = False,
                 dynamic_binarization: bool = False, epochs: int = 30, batch_size: int = 128, lr: float = 1e-3,
                 weight_decay: float = 0.0, iwae_k: int = 50, precision: str = "fp32", seed: int = 0,
                 device: str = "auto", verbose: int = 1, checkpoint_every: int = 0, sample_every: int = 10):
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.arch = arch
        self.likelihood = likelihood
        self.beta = beta
        self.conditional = conditional
        self.dynamic_binarization = dynamic_binarization
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.iwae_k = iwae_k
        self.precision = precision
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every

    @property
    def _needs_unit_interval(self) -> bool:
        return self.likelihood == "bernoulli"

    @classmethod
    def recommended(cls, info: DataInfo, budget: float | None = None, task: str = "generate") -> dict:
        """compare: MLP nets sized by the image (small for 8x8 digits), Bernoulli on [0, 1] data; anomaly:
        small nets and a Gaussian likelihood for feature vectors, about 3000 steps; augment: a CVAE with MLP
        nets, about 2000 steps (benchmarks/compare_mnist.py, anomaly_adbench.py, augment_mnist.py)."""
        small, d, n = info.n_features <= 256, info.n_features, max(1, info.n_samples)
        if task == "compare":
            return {"latent_dim": 8 if small else 16, "hidden_dims": (256, 128) if small else (512, 256),
                    "arch": "mlp", "likelihood": "bernoulli" if info.unit_interval else "gaussian", "iwae_k": 20,
                    "batch_size": 32 if small else 128, **budget_epochs(budget)}
        if task == "anomaly":
            images = info.is_image and info.unit_interval
            return {"likelihood": "bernoulli" if images else "gaussian",
                    "hidden_dims": (256, 128) if images else (64, 32),
                    "latent_dim": 16 if images else max(2, min(8, d // 2)), "iwae_k": 20, "batch_size": 128,
                    "epochs": epochs_for(3000, 128, n, 5, 100)}
        if task == "augment":
            batch = max(1, min(64, n))
            return {"conditional": True, "arch": "mlp", "hidden_dims": (256, 128), "latent_dim": 16,
                    "batch_size": batch, "epochs": epochs_for(2000, batch, n, 5, 500)}
        return {}

    def anomaly_parts(self, ensemble: bool = False) -> tuple[str, ...]:
        """The parts an anomaly detector averages by default: the bound alone, or for a Gaussian VAE inside an
        ensemble the bound and the rate (see genmodels.apps.anomaly)."""
        return ("bound", "rate") if self.likelihood == "gaussian" and ensemble else ("bound",)

    def anomaly_score(self, X, part: str | None = None) -> np.ndarray:
        """Higher = more anomalous: "bound" (default) the negative IWAE bound on log p(x), "rate" KL(q(z|x)||p(z))."""
        if part not in (None, "bound", "rate"):
            raise DataError(f"a VAE's anomaly score part is 'bound' or 'rate', got {part!r}")
        return self.rate(X) if part == "rate" else -self.score_samples(X)

    def _validate_fit(self, X, y) -> Dataset:
        data = super()._validate_fit(X, y)
        if self.arch == "conv" and data.image_shape is None:
            raise DataError(f"arch='conv' needs images (N, C, H, W) or (N, H, W), got rows of shape {self.input_shape_}")
        if self.conditional:
            self.class_prior_ = np.bincount(data.y, minlength=self.n_classes_) / len(data.y)
        return data

    def _resolved_arch(self) -> str:
        if self.arch != "auto":
            return self.arch
        return "conv" if len(self.data_shape_) == 3 and min(self.data_shape_[1:]) >= 16 else "mlp"

    def _build(self, data: Dataset | None) -> None:
        n_classes = self.n_classes_ if self.conditional else 0
        self.module_ = VAENet(self.data_shape_, int(self.latent_dim), [int(h) for h in self.hidden_dims],
                              self._resolved_arch(), self.likelihood, n_classes)

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        self.optimizer_ = adam(self.module_.parameters(), self.device_, lr=self.lr, weight_decay=self.weight_decay)
        return [self.optimizer_]

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, torch.Tensor]:
        x = batch[0]
        y = batch[1] if self.is_conditional() else None
        if self.dynamic_binarization:
            x = torch.bernoulli(x)
        loss, recon, kl = self.module_(x, y, float(self.beta))
        self._update(self.optimizer_, loss)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    def _sample(self, n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        self.module_.eval()
        z = torch.randn(n, int(self.latent_dim), generator=generator).to(self.device_)
        return self.module_.mean_of(self.module_.decode(z, y))

    # --- scikit-learn surface ----------------------------------------------------------------------------
    def transform(self, X, y=None) -> np.ndarray:
        """Posterior means E[z|x], shaped (N, latent_dim): the learned representation. A conditional model
        gives E[z|x,y]; without y it takes, per row, the likeliest class (see `reconstruct`)."""
        x = self.validate_X(X)
        return self._batched(lambda xb, yb: self.module_.encode(xb, self._labels_or_likeliest(xb, yb))[0],
                             x, self._row_labels(y, len(x))).cpu().numpy()

    def reconstruct(self, X, y=None) -> np.ndarray:
        """Decode the posterior mean: denoises corrupted inputs. A conditional model without y uses, per
        row, the likeliest class: the highest log p(y) + ELBO(x|y), its reconstruction term taken at the
        posterior mean (a deterministic, one-pass stand-in for argmax_y p(y|x))."""
        x = self.validate_X(X)

        def recon(xb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
            yb = self._labels_or_likeliest(xb, yb)
            return self.module_.mean_of(self.module_.decode(self.module_.encode(xb, yb)[0], yb))

        return self._as_rows(self._batched(recon, x, self._row_labels(y, len(x))))

    def score_samples(self, X, y=None) -> np.ndarray:
        """IWAE lower bound on log p(x) in nats per row, with `iwae_k` samples: higher = more normal.
        A conditional model scores log p(x|y) with y, and without y the marginal
        log p(x) = logsumexp_y [log p(x|y) + log p(y)], p(y) the training class frequencies (`class_prior_`)."""
        x = self.validate_X(X)
        return self._iwae(x, self._row_labels(y, len(x)), int(self.iwae_k)).cpu().numpy()

    def rate(self, X, y=None) -> np.ndarray:
        """KL(q(z|x) || p(z)) per row in nats: the information the encoder spends to place the row in the latent
        space (the "rate" of Alemi et al. 2018). Rows unlike the training data need posteriors far from the
        prior, which makes it an anomaly score; on tabular data with a Gaussian likelihood it separates better
        than the bound, whose reconstruction term the best-fitted features dominate. A conditional model
        without y uses, per row, the likeliest class (see `reconstruct`)."""
        x = self.validate_X(X)
        return self._batched(lambda xb, yb: gaussian_kl(*self.module_.encode(xb, self._labels_or_likeliest(xb, yb))),
                             x, self._row_labels(y, len(x))).cpu().numpy()

    def log_likelihood(self, X, k: int = 1000) -> LikelihoodEstimate:
        """Mean IWAE bound on log p(x) over X, in nats (k=1000 is the standard for reported NLL); the
        marginal over the classes for a conditional model. A lower bound: `interval` is (mean, inf)."""
        bound = self._iwae(self.validate_X(X), None, int(k)).double()
        mean = float(bound.mean())
        stderr = float(bound.std() / math.sqrt(len(bound))) if len(bound) > 1 else 0.0
        return LikelihoodEstimate(mean, stderr, math.nan, (mean, math.inf), "iwae", n_runs=int(k))

    def _log_class_prior(self) -> torch.Tensor:
        prior = getattr(self, "class_prior_", None)  # uniform for a model saved without one
        prior = np.full(self.n_classes_, 1.0 / self.n_classes_) if prior is None else np.asarray(prior)
        return torch.log(torch.as_tensor(prior, dtype=torch.float32, device=self.device_))

    def _class_codes(self, n: int, device: torch.device) -> list[torch.Tensor]:
        return [torch.full((n,), c, dtype=torch.long, device=device) for c in range(self.n_classes_)]

    def _labels_or_likeliest(self, xb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor | None:
        """yb, or for a conditional model without labels the per-row argmax over y of
        log p(y) + log p(x | z=E[z|x,y], y) - KL(q(z|x,y) || p(z))."""
        if yb is not None or not self.is_conditional():
            return yb
        net, scores = self.module_, []
        for yc, log_py in zip(self._class_codes(len(xb), xb.device), self._log_class_prior(), strict=True):
            mean, logvar = net.encode(xb, yc)
            scores.append(net.log_px(xb.flatten(1), net.decode(mean, yc)) - gaussian_kl(mean, logvar) + log_py)
        return torch.stack(scores, 1).argmax(1)

    def _fitted_info(self) -> dict:
        info = super()._fitted_info()
        if hasattr(self, "class_prior_"):
            info["class_prior"] = [float(p) for p in self.class_prior_]
        return info

    def _restore_fitted(self, fitted: dict) -> None:
        if fitted.get("class_prior") is not None:
            self.class_prior_ = np.asarray(fitted["class_prior"], dtype=np.float64)

    @classmethod
    def _from_config(cls, config: dict, folder):
        try:
            return super()._from_config(config, folder)
        except DataError as e:
            if "has shape" in str(e) and (config.get("params") or {}).get("conditional"):
                raise DataError(f"{e}: a conditional VAE saved before its encoder took the label (q(z|x,y)) "
                                "cannot be loaded; retrain it") from None
            raise

    def _row_labels(self, y, n: int) -> torch.Tensor | None:
        if y is None or not self.is_conditional():
            return None
        return self._encode_labels(y, n, torch.Generator())

    def _iwae(self, x: torch.Tensor, labels: torch.Tensor | None, k: int) -> torch.Tensor:
        if k < 1:
            raise DataError(f"k (importance samples) must be >= 1, got {k}")
        net = self.module_
        chunk = max(1, min(k, 2_000_000 // max(1, net.mean.out_features * 64)))
        marginal = self.is_conditional() and labels is None

        def bound(xb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
            x_flat = xb.flatten(1)
            classes = self._class_codes(len(xb), xb.device) if marginal else [yb]
            posteriors = [net.encode(xb, yc) for yc in classes]
            log_w: list[list[torch.Tensor]] = [[] for _ in classes]
            for start in range(0, k, chunk):
                m = min(chunk, k - start)
                # one draw of eps serves every class, so the marginal is exactly the logsumexp of the per-class
                # bounds that score_samples(X, y=c) gives
                eps = torch.randn(m, len(xb), net.mean.out_features, device=xb.device)
                for (mean, logvar), yc, log_wc in zip(posteriors, classes, log_w, strict=True):
                    z = mean + eps * (0.5 * logvar).exp()  # (m, B, L)
                    out = net.decode(z.flatten(0, 1), None if yc is None else yc.repeat(m))
                    log_px = net.log_px(x_flat.repeat(m, 1), out).view(m, -1)
                    log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
                    log_qz = -0.5 * (eps.pow(2) + LOG_2PI).sum(-1) - (0.5 * logvar).sum(-1)
                    log_wc.append(log_px + log_pz - log_qz)
            per_class = [torch.logsumexp(torch.cat(log_wc), 0) - math.log(k) for log_wc in log_w]
            if not marginal:
                return per_class[0]
            return torch.logsumexp(torch.stack(per_class) + self._log_class_prior()[:, None], 0)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))  # the same data always gets the same score
            return self._batched(bound, x, labels, batch_size=max(1, 32768 // min(k, chunk)))

