"""A sentence VAE (Bowman et al. 2016, "Generating Sentences from a Continuous Space"): an LSTM encoder maps a
sentence to a Gaussian posterior q(z|x); an LSTM decoder, given z (in its initial state and beside every input
word), is a language model p(x|z). Posterior collapse (the decoder ignoring z, KL -> 0) is fought with the KL
weight annealed from 0 (linearly, or cyclically as Fu et al. 2019), word dropout (inputs replaced by <unk>), and
free bits (Kingma et al. 2016: each latent dimension's KL below `free_bits` nats costs nothing).

score_samples is the IWAE bound (Burda et al. 2016) on log p(sentence) with `iwae_k` importance samples.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..errors import DataError
from ..train import StepInfo
from .params import NON_NEGATIVE, POSITIVE_INT, UNIT, Interval, Options
from .text_base import SHARED_CONSTRAINTS, TextModel

LOG_2PI = math.log(2 * math.pi)


def kl_weight(schedule: str, step: int, period: int) -> float:
    """The KL weight beta at a training step: "linear" rises 0 -> 1 over `period` steps and stays at 1;
    "cyclical" repeats that rise over the first half of every `period` steps, then holds 1 (Fu et al. 2019,
    R = 0.5); "none" is 1 throughout. A function of the step alone, so a resumed run continues it exactly."""
    if schedule == "none" or period <= 0:
        return 1.0
    if schedule == "linear":
        return min(1.0, step / period)
    return min(1.0, (step % period) / (0.5 * period))


class TextVAE(TextModel):
    """Sentence VAE with the scikit-learn contract.

    latent_dim: Gaussian latent size. embed_dim, hidden_dim, cell ("lstm" or "gru"), max_vocab, min_count,
    max_len, dropout, lr, grad_clip: as TextLM. kl_anneal: "linear", "cyclical" or "none"; kl_steps: its
    period in training steps (a step count, so the schedule is the same whatever the epochs or time budget).
    word_dropout: the probability each decoder input word is replaced by <unk> in training. free_bits: nats of
    KL per latent dimension (batch mean) that cost nothing (0: off). iwae_k: importance samples of score_samples.
    """

    family = "textvae"
    capabilities: ClassVar[frozenset[str]] = TextModel.capabilities | {"transform", "reconstruct"}
    _parameter_constraints: ClassVar[dict[str, list]] = {
        **SHARED_CONSTRAINTS, "latent_dim": [POSITIVE_INT], "kl_anneal": [Options("linear", "cyclical", "none")],
        "kl_steps": [Interval(int, 0, None)], "word_dropout": [UNIT], "free_bits": [NON_NEGATIVE],
        "iwae_k": [POSITIVE_INT],
    }

    def __init__(self, latent_dim: int = 32, embed_dim: int = 256, hidden_dim: int = 256, cell: str = "lstm",
                 max_vocab: int | None = 10000, min_count: int = 1, max_len: int = 100, dropout: float = 0.0,
                 kl_anneal: str = "linear", kl_steps: int = 200, word_dropout: float = 0.0, free_bits: float = 0.1,
                 lr: float = 2e-3, grad_clip: float = 5.0, iwae_k: int = 100, precision: str = "fp32",
                 epochs: int = 10, batch_size: int = 64, seed: int = 0, device: str = "auto", verbose: int = 1,
                 checkpoint_every: int = 0, sample_every: int = 0):
        self.latent_dim = latent_dim
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.cell = cell
        self.max_vocab = max_vocab
        self.min_count = min_count
        self.max_len = max_len
        self.dropout = dropout
        self.kl_anneal = kl_anneal
        self.kl_steps = kl_steps
        self.word_dropout = word_dropout
        self.free_bits = free_bits
        self.lr = lr
        self.grad_clip = grad_clip
        self.iwae_k = iwae_k
        self.precision = precision
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every

    def _latent(self) -> int:
        return int(self.latent_dim)

    # --- training ------------------------------------------------------------------------------------------
    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        net, tokens = self.module_, self._trim(batch[0])
        mean, logvar = net.encode(tokens)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        nll = net.sentence_nll(tokens, z, float(self.word_dropout)).mean()
        kl_dims = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)  # (B, L)
        kl = kl_dims.sum(1).mean()
        kl_cost = kl_dims.mean(0).clamp(min=float(self.free_bits)).sum() if self.free_bits else kl
        beta = kl_weight(self.kl_anneal, info.step, int(self.kl_steps))
        per_token = (tokens[:, 1:] != 0).sum() / len(tokens)  # the loss per word: gradient clipping's scale
        self._update(self.optimizer_, (nll + beta * kl_cost) / per_token, float(self.grad_clip))
        return {"nll": nll.detach(), "kl": kl.detach(), "beta": beta}

    # --- the latent space ------------------------------------------------------------------------------------
    def _latents_for_sampling(self, n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, int(self.latent_dim), generator=g)

    def _posterior(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.module_.eval()
        means, logvars = [], []
        with torch.no_grad():
            for s in range(0, len(tokens), 256):
                m, lv = self.module_.encode(self._trim(tokens[s: s + 256]).to(self.device_))
                means.append(m.cpu())
                logvars.append(lv.cpu())
        return torch.cat(means), torch.cat(logvars)

    def transform(self, X) -> np.ndarray:
        """Posterior means E[z | sentence], (n, latent_dim)."""
        return self._posterior(self.tokens_of(X))[0].numpy()

    def decode(self, Z, temperature: float = 0.0, *, seed: int | None = None) -> list[str]:
        """Sentences decoded from latent codes Z (n, latent_dim): greedy at temperature 0, else sampled."""
        check_is_fitted(self, "module_")
        z = torch.as_tensor(np.asarray(Z, np.float32))
        if z.ndim != 2 or z.shape[1] != int(self.latent_dim):
            raise DataError(f"Z: expected shape (n, {self.latent_dim}), got {tuple(z.shape)}")
        self.module_.eval()
        ids = self.module_.generate(z.to(self.device_), len(z), int(self.max_len), float(temperature),
                                    self._generator(seed), greedy=temperature == 0)
        return self._decode_rows(ids)

    def reconstruct(self, X) -> list[str]:
        """Greedy decoding of each sentence's posterior mean."""
        return self.decode(self.transform(X))

    def interpolate(self, a: str, b: str, steps: int = 5) -> list[str]:
        """Greedy decodings of `steps` points evenly spaced on the line between the posterior means of a and b
        (both ends included)."""
        if not isinstance(steps, int | np.integer) or steps < 2:
            raise DataError(f"steps must be an integer >= 2, got {steps!r}")
        za, zb = self.transform([a, b])
        t = np.linspace(0.0, 1.0, int(steps), dtype=np.float32)[:, None]
        return self.decode((1 - t) * za + t * zb)

    # --- likelihood ------------------------------------------------------------------------------------------
    def _log_weights(self, tokens: torch.Tensor, k: int) -> torch.Tensor:
        """log p(x, z_i) - log q(z_i | x) for k posterior draws z_i, (k, B), on one trimmed batch."""
        net = self.module_
        mean, logvar = net.encode(tokens)
        chunk = max(1, min(k, 8192 // tokens.numel()))  # <= 8192 tokens at a time: logits are rows x T x V
        out = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            eps = torch.randn(m, *mean.shape, device=mean.device)
            z = mean + eps * (0.5 * logvar).exp()
            log_px = -net.sentence_nll(tokens.repeat(m, 1), z.flatten(0, 1)).view(m, -1)
            log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
            log_qz = -0.5 * (eps.pow(2) + LOG_2PI).sum(-1) - (0.5 * logvar).sum(-1)
            out.append(log_px + log_pz - log_qz)
        return torch.cat(out)

    def _scored(self, tokens: torch.Tensor, k: int, reduce) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))  # the same sentences always get the same score
            return self._by_length(tokens, lambda t: reduce(self._log_weights(t, k)), batch_size=32)

    def _log_p(self, tokens: torch.Tensor, k: int | None) -> torch.Tensor:
        k = int(k or self.iwae_k)
        if k < 1:
            raise DataError(f"k (importance samples) must be >= 1, got {k}")
        return self._scored(tokens, k, lambda w: torch.logsumexp(w, 0) - math.log(w.shape[0]))

    def elbo(self, X, k: int = 1) -> np.ndarray:
        """The ELBO per sentence, estimated with k posterior draws (the same draws score_samples uses)."""
        return self._scored(self.tokens_of(X), int(k), lambda w: w.mean(0)).numpy()

    def _likelihood_method(self, k: int | None) -> tuple[str, int]:
        return "iwae", int(k or self.iwae_k)

    def text_metrics(self, X, k: int | None = None) -> dict[str, Any]:
        """TextModel's metrics plus the mean KL(q(z|x) || p(z)) per sentence and the active units (Burda et
        al. 2016: latent dimensions whose posterior mean varies across sentences, Cov_x E[z_j|x] > 0.01)."""
        metrics = super().text_metrics(X, k)
        mean, logvar = self._posterior(self.tokens_of(X))
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
        variance = mean.double().var(0) if len(mean) > 1 else torch.zeros(mean.shape[1])
        return {**metrics, "kl_per_sentence": float(kl.mean()), "active_units": int((variance > 0.01).sum()),
                "latent_dim": int(self.latent_dim)}


__all__ = ["TextVAE", "kl_weight"]
