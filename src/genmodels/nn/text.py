"""Recurrent networks for sentences: an LSTM/GRU decoder (a language model, optionally conditioned on a latent z,
fed to its initial state and concatenated to every input as in Bowman et al. 2016) and an LSTM/GRU encoder
that maps a sentence to the mean and log-variance of a Gaussian posterior.

Rows are `<bos> w1 .. wn <eos> <pad> ...`. The networks are unidirectional and padding comes last, so the
output at a real position never depends on the padding after it: no packing is needed, and the loss masks the
padded targets.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..data.text import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def _rnn(cell: str, n_in: int, hidden: int) -> nn.Module:
    return (nn.LSTM if cell == "lstm" else nn.GRU)(n_in, hidden, batch_first=True)


class SentenceNet(nn.Module):
    """latent_dim = 0: a plain language model (no encoder). Otherwise the VAE's encoder and decoder."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int, latent_dim: int, cell: str,
                 dropout: float = 0.0):
        super().__init__()
        self.cell, self.latent_dim, self.hidden_dim = cell, latent_dim, hidden_dim
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.drop = nn.Dropout(dropout)
        if latent_dim:
            self.encoder = _rnn(cell, embed_dim, hidden_dim)
            self.posterior = nn.Linear(hidden_dim, 2 * latent_dim)
            self.init_state = nn.Linear(latent_dim, hidden_dim * (2 if cell == "lstm" else 1))
        self.decoder = _rnn(cell, embed_dim + latent_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, vocab_size)

    # --- encoder ---------------------------------------------------------------------------------------------
    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance (B, L) of padded rows: the encoder's output at each row's <eos>."""
        lengths = (tokens != PAD_ID).sum(1)
        out, _ = self.encoder(self.embed(tokens[:, 1:]))  # the words and <eos>
        last = out[torch.arange(len(tokens), device=tokens.device), lengths - 2]
        mean, logvar = self.posterior(last).chunk(2, -1)
        return mean, logvar.clamp(-12.0, 8.0)

    # --- decoder ---------------------------------------------------------------------------------------------
    def _state(self, z: torch.Tensor | None, batch: int, device: torch.device):
        if z is None:
            return None
        h = torch.tanh(self.init_state(z))
        if self.cell == "lstm":
            h, c = h.chunk(2, -1)
            return h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()
        return h.unsqueeze(0).contiguous()

    def _inputs(self, tokens: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        x = self.drop(self.embed(tokens))
        if z is not None:
            x = torch.cat([x, z.unsqueeze(1).expand(-1, tokens.shape[1], -1)], -1)
        return x

    def logits(self, inputs: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """Next-word logits (B, T, V) for decoder inputs (B, T) (<bos> w1 .. wn)."""
        out, _ = self.decoder(self._inputs(inputs, z), self._state(z, len(inputs), inputs.device))
        return self.out(self.drop(out))

    def sentence_nll(self, tokens: torch.Tensor, z: torch.Tensor | None, word_dropout: float = 0.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """-log p(sentence | z) in nats per row (B,): the sum over its words and <eos>, padding masked out.
        `word_dropout`: each input word (not <bos>) is replaced by <unk> with this probability (training)."""
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        if word_dropout > 0:
            drop = torch.rand(inputs.shape, device=inputs.device, generator=generator) < word_dropout
            drop &= (inputs != BOS_ID) & (inputs != PAD_ID)
            inputs = inputs.masked_fill(drop, UNK_ID)
        logits = self.logits(inputs, z)
        nll = F.cross_entropy(logits.transpose(1, 2).float(), targets, ignore_index=PAD_ID, reduction="none")
        return nll.sum(1)

    @torch.no_grad()
    def generate(self, z: torch.Tensor | None, n: int, max_len: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None, greedy: bool = False) -> torch.Tensor:
        """(n, <= max_len + 1) word ids: ancestral sampling (or greedy argmax) until every row has its <eos>."""
        device = self.out.weight.device
        state = self._state(z, n, device)
        token = torch.full((n, 1), BOS_ID, dtype=torch.long, device=device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        rows = []
        for _ in range(max_len + 1):
            out, state = self.decoder(self._inputs(token, z), state)
            logits = self.out(out[:, -1]).float()
            logits[:, PAD_ID] = logits[:, BOS_ID] = -torch.inf  # never emitted
            if greedy or temperature == 0:
                token = logits.argmax(-1, keepdim=True)
            else:
                probs = torch.softmax(logits / temperature, -1)
                token = torch.multinomial(probs.cpu(), 1, generator=generator).to(device)
            token = token.masked_fill(done.unsqueeze(1), PAD_ID)
            rows.append(token)
            done |= token.squeeze(1) == EOS_ID
            if done.all():
                break
        return torch.cat(rows, 1)


__all__ = ["SentenceNet"]
