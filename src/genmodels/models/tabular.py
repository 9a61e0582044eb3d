"""Synthetic tabular data, one front for both objectives: `TabularSynthesizer(model="gan")` is CTGAN
(TabularGAN, ctgan.py), `model="vae"` is TVAE (TabularVAE, tvae.py), both on TabularBase (tabular_base.py:
encoding, fit, sample with conditions, DP-SGD and its accounting, persistence) with the networks in
nn/tabular.py. Saved runs of family "tabular" load as a TabularSynthesizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ..data import Dataset
from ..train import StepInfo
from .ctgan import GANObjective
from .params import POSITIVE, Options
from .tabular_base import SHARED, TabularBase
from .tvae import VAEObjective

MODELS = ("gan", "vae")


class TabularSynthesizer(GANObjective, VAEObjective, TabularBase):
    """Synthetic tables: CTGAN (`model="gan"`) or TVAE (`model="vae"`), optionally differentially private.

    fit(df, discrete_columns=None) -> self; sample(n, conditions=None, seed=None) -> DataFrame of exactly n rows,
    `conditions={"col": value, ...}` on discrete columns. Takes the hyperparameters of both objectives (those
    of the other one are ignored): see TabularGAN and TabularVAE (whose `lr` is `lr_vae` here). Defaults
    follow ctgan (batch 500, embedding 128, Adam 2e-4 with betas (0.5, 0.9) for the GAN, 1e-3 for the VAE);
    `epochs` defaults to 300 as in ctgan. epsilon/delta: privacy budget (delta defaults to 1/(10 n));
    `metadata` gives public column facts so the encoder need not spend budget on them. `privacy_spent_`
    reports what was used.
    """

    family: ClassVar[str] = "tabular"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "model": [Options(*MODELS)], **GANObjective._gan_constraints,
        **{k: v for k, v in VAEObjective._vae_constraints.items() if k != "lr"}, "lr_vae": [POSITIVE], **SHARED,
    }

    def __init__(self, model: str = "gan", epochs: int = 300, batch_size: int = 500, embedding_dim: int = 128,
                 generator_dim: Sequence[int] = (256, 256), discriminator_dim: Sequence[int] = (256, 256),
                 compress_dims: Sequence[int] = (128, 128), decompress_dims: Sequence[int] = (128, 128),
                 pac: int = 10, d_steps: int = 1, gp_weight: float = 10.0, gp_every: int = 1, lr_g: float = 2e-4,
                 lr_d: float = 2e-4, lr_vae: float = 1e-3, loss_factor: float = 2.0, max_modes: int = 10,
                 epsilon: float | None = None, delta: float | None = None, max_grad_norm: float = 1.0,
                 encoder_epsilon_fraction: float = 0.2, metadata: dict | None = None, seed: int = 0,
                 device: str = "auto", verbose: int = 1, checkpoint_every: int = 0, sample_every: int = 0):
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.generator_dim = generator_dim
        self.discriminator_dim = discriminator_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.pac = pac
        self.d_steps = d_steps
        self.gp_weight = gp_weight
        self.gp_every = gp_every
        self.lr_g = lr_g
        self.lr_d = lr_d
        self.lr_vae = lr_vae
        self.loss_factor = loss_factor
        self.max_modes = max_modes
        self.epsilon = epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm
        self.encoder_epsilon_fraction = encoder_epsilon_fraction
        self.metadata = metadata
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every

    @property
    def lr(self) -> float:
        """The VAE objective's learning rate (`lr_vae`; not a hyperparameter of its own)."""
        return self.lr_vae

    def _gan(self) -> bool:
        return self.model == "gan"

    # --- the objective model= picks ------------------------------------------------------------------------
    def _check_combination(self) -> None:
        if self._gan():
            self._gan_check()

    def _build(self, data: Dataset | None) -> None:
        (self._gan_build if self._gan() else self._vae_build)(data)

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        return self._gan_optimizers() if self._gan() else self._vae_optimizers()

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        return (self._gan_training_step if self._gan() else self._vae_training_step)(batch, info)

    def _sample_encoded(self, n: int, cond: tuple[int, int] | None, generator: torch.Generator) -> torch.Tensor:
        return (self._gan_sample_encoded if self._gan() else self._vae_sample_encoded)(n, cond, generator)

    def _release_data(self) -> None:
        TabularBase._release_data(self)
        if self._gan():
            self._gan_release_data()


__all__ = ["MODELS", "TabularSynthesizer"]
