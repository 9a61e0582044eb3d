"""A plain LSTM (or GRU) language model: the baseline a sentence VAE is measured against (Bowman et al. 2016
compare theirs with one of the same size). Its log p(sentence) is exact: the sum of the next-word log
probabilities, <eos> included."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..train import StepInfo
from .text_base import SHARED_CONSTRAINTS, TextModel


class TextLM(TextModel):
    """LSTM language model on sentences, with the scikit-learn contract.

    embed_dim, hidden_dim: word embedding and recurrent state sizes; cell: "lstm" or "gru". max_vocab: the
    vocabulary's size (the most frequent words of the training sentences, <pad> <unk> <bos> <eos> included;
    None: every word seen min_count times); max_len: the longest sentence (words) accepted. dropout: on the
    embeddings and the recurrent outputs. lr, grad_clip (total gradient norm; 0: none): Adam.
    """

    family = "textlm"
    _parameter_constraints: ClassVar[dict[str, list]] = dict(SHARED_CONSTRAINTS)

    def __init__(self, embed_dim: int = 256, hidden_dim: int = 256, cell: str = "lstm", max_vocab: int | None = 10000,
                 min_count: int = 1, max_len: int = 100, dropout: float = 0.0, lr: float = 2e-3,
                 grad_clip: float = 5.0, precision: str = "fp32", epochs: int = 10, batch_size: int = 64,
                 seed: int = 0, device: str = "auto", verbose: int = 1, checkpoint_every: int = 0,
                 sample_every: int = 0):
        self.embed_dim = embed_dim
        self.hidden_dim = hidden_dim
        self.cell = cell
        self.max_vocab = max_vocab
        self.min_count = min_count
        self.max_len = max_len
        self.dropout = dropout
        self.lr = lr
        self.grad_clip = grad_clip
        self.precision = precision
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        tokens = self._trim(batch[0])
        nll = self.module_.sentence_nll(tokens, None).mean()
        per_token = (tokens[:, 1:] != 0).sum() / len(tokens)  # the loss per word: gradient clipping's scale
        self._update(self.optimizer_, nll / per_token, float(self.grad_clip))
        return {"nll": nll.detach()}

    def _log_p(self, tokens: torch.Tensor, k: int | None) -> torch.Tensor:
        return self._by_length(tokens, lambda t: -self.module_.sentence_nll(t, None))


__all__ = ["TextLM"]
