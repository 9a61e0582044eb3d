"""TVAE (Xu et al. 2019) as `TabularVAE`: MLP encoder/decoder, Gaussian likelihood with a learned per-column
sigma on the continuous offsets, cross-entropy on the one-hot spans (its gradient written out, see
nn/tabular.py). Trained on the Trainer's batches (sharded across torchrun processes, the gradients averaged
in `_update`). Under DP the encoder and decoder are privatised and sigma is fixed at its initial 0.1 (opacus
has no per-sample gradient for a bare parameter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ..data import Dataset
from ..nn.tabular import TabularNet
from ..train import StepInfo
from .base import adam
from .params import POSITIVE, Sizes
from .tabular_base import SHARED, TabularBase


class VAEObjective:
    """TVAE's networks, optimizer, training step and sampling, for a TabularBase with the VAE's
    hyperparameters (TabularVAE, or TabularSynthesizer with model="vae"; the learning rate is `self.lr`)."""

    _vae_constraints: ClassVar[dict[str, list]] = {
        "compress_dims": [Sizes(min_len=0)], "decompress_dims": [Sizes(min_len=0)], "lr": [POSITIVE],
        "loss_factor": [POSITIVE],
    }

    def _vae_build(self, data: Dataset | None) -> None:
        enc = self.encoder_
        self.module_ = TabularNet("vae", enc.output_info_, 0, int(self.embedding_dim), [], [],
                                  [int(d) for d in self.compress_dims], [int(d) for d in self.decompress_dims],
                                  1)
        self._sampler = None
        if data is not None:
            self._train_X = None
            self._n_train = len(data)
            if self._private():
                self.module_.vae.sigma.requires_grad_(False)  # opacus has no per-sample gradient for it

    def _vae_optimizers(self) -> list[torch.optim.Optimizer]:
        vae = self.module_.vae
        params = [p for p in vae.parameters() if p.requires_grad]
        opt = adam(params, self.device_, lr=self.lr, weight_decay=1e-5)
        return [self._make_private(vae, opt) if self._private() else opt]

    def _vae_training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        x = batch[0]
        net, (opt,) = self.module_, self.optimizers_
        vae = net.vae
        recon, mu, logvar = (self._dp_module if self._dp_module is not None else vae)(x)
        sigma = vae.sigma
        t = net.spans.tanh_idx
        diff = x[:, t] - torch.tanh(recon[:, t])
        rec = (diff.pow(2) / (2 * sigma[t].pow(2))).sum(1) + torch.log(sigma[t]).sum() + net.spans.nll(recon, x)
        kld = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        per_row = float(self.loss_factor) * rec + kld
        if self._private():  # per-row clipping and noise: opacus' optimizer, outside the one update path
            self._backward(per_row, opt)
            opt.step()
            self._dp_steps += 1
        else:
            self._update(opt, per_row.mean())
        with torch.no_grad():
            sigma.clamp_(0.01, 1.0)
        return {"loss": per_row.detach().mean(), "rec": rec.detach().mean(), "kld": kld.detach().mean()}

    def _vae_sample_encoded(self, n: int, cond: tuple[int, int] | None, generator: torch.Generator) -> torch.Tensor:
        """n decoded rows; the VAE has no conditional input (`cond` rows are found by filtering). Categories
        are drawn from the decoder's softmax (gumbel-max), not its argmax."""
        net = self.module_.eval()
        device = self.device_
        z = torch.randn(n, int(self.embedding_dim), generator=generator).to(device)
        out = net.spans(net.vae.dec(z), tau=1.0, generator=generator)
        t = net.spans.tanh_idx
        noise = torch.randn(n, len(t), generator=generator).to(device)
        out[:, t] = out[:, t] + noise * net.vae.sigma[t]
        return out


class TabularVAE(VAEObjective, TabularBase):
    """TVAE on the shared Trainer, optionally differentially private (see the module docstring and
    TabularBase). Defaults follow ctgan's TVAE: batch 500, embedding 128, (128, 128) encoder and decoder,
    Adam 1e-3, loss_factor 2, 300 epochs."""

    family: ClassVar[str] = "tabular_vae"
    _parameter_constraints: ClassVar[dict[str, list]] = {**VAEObjective._vae_constraints, **SHARED}

    def __init__(self, epochs: int = 300, batch_size: int = 500, embedding_dim: int = 128,
                 compress_dims: Sequence[int] = (128, 128), decompress_dims: Sequence[int] = (128, 128),
                 lr: float = 1e-3, loss_factor: float = 2.0, max_modes: int = 10, epsilon: float | None = None,
                 delta: float | None = None, max_grad_norm: float = 1.0, encoder_epsilon_fraction: float = 0.2,
                 metadata: dict | None = None, seed: int = 0, device: str = "auto", verbose: int = 1,
                 checkpoint_every: int = 0, sample_every: int = 0):
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.lr = lr
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

    def _build(self, data: Dataset | None) -> None:
        self._vae_build(data)

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        return self._vae_optimizers()

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        return self._vae_training_step(batch, info)

    def _sample_encoded(self, n: int, cond: tuple[int, int] | None, generator: torch.Generator) -> torch.Tensor:
        return self._vae_sample_encoded(n, cond, generator)


__all__ = ["TabularVAE", "VAEObjective"]
