"""What the sentence models share (TextVAE, TextLM): sentences in (a list of str or a `text:FILE` spec), the
vocabulary fitted on the training sentences and saved in config.json, length-bucketed batches, sampling to
strings, scoring in nats per sentence, and the text metrics `evaluate` reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..data import DataInfo, Dataset
from ..data.text import Vocabulary, as_sentences, bucket_order, encode_sentences, lengths_of
from ..errors import DataError
from ..nn.text import SentenceNet
from .base import LikelihoodEstimate, TrainedModel, adam, budget_epochs
from .params import NON_NEGATIVE, POSITIVE, POSITIVE_INT, PRECISION, TRAINING, Interval, NoneValue, Options

SHARED_CONSTRAINTS: dict[str, list] = {
    "embed_dim": [POSITIVE_INT], "hidden_dim": [POSITIVE_INT], "cell": [Options("lstm", "gru")],
    "max_vocab": [Interval(int, 5, None), NoneValue()], "min_count": [POSITIVE_INT],
    "max_len": [POSITIVE_INT], "dropout": [Interval(float, 0, 1, closed="left")], "lr": [POSITIVE],
    "grad_clip": [NON_NEGATIVE], "precision": [PRECISION], **TRAINING,
}


class TextModel(TrainedModel):
    """Base of the sentence families. Subclasses set `latent_dim_` (0: no latent) and the training step."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"text", "sample", "density", "likelihood", "anomaly"})

    @classmethod
    def recommended(cls, info: DataInfo, budget: float | None = None, task: str = "generate") -> dict[str, Any]:
        return budget_epochs(budget)

    def _latent(self) -> int:
        return 0

    # --- data ----------------------------------------------------------------------------------------------
    def fit(self, X, y=None, *, run_dir: str | Path | None = None, resume: bool = False, overwrite: bool = False,
            time_budget: float | None = None, logger: str | None = None):
        """Train on sentences: a list of str (one sentence each, words separated by spaces) or a `text:FILE`
        spec (one a line). The vocabulary is fitted on them (`max_vocab`, `min_count`). `run_dir`, `resume`,
        `overwrite`, `time_budget`, `logger`: as every family's fit."""
        self._validate_params()
        if y is not None:
            raise DataError(f"{type(self).__name__}.fit takes sentences alone; y is not used")
        sentences = as_sentences(X, "X", int(self.max_len))
        self.vocab_ = Vocabulary.fit(sentences, self.max_vocab, int(self.min_count))
        tokens = encode_sentences(self.vocab_, sentences)
        self.lengths_ = lengths_of(torch.from_numpy(tokens))
        self.data_shape_ = self.input_shape_ = (int(self.max_len) + 2,)
        self.n_features_in_ = 1
        self.classes_ = []
        name = X.name if isinstance(X, Dataset) else X if isinstance(X, str) else "sentences"
        self._fit_data(Dataset(tokens, None, name), run_dir, resume, overwrite, time_budget, logger=logger)
        return self

    def _epoch_order(self, epoch: int, n: int, world: int) -> torch.Tensor:
        """Batches of similar length (the Trainer's hook): far less padding to run through the recurrences."""
        return bucket_order(self.lengths_, int(self.batch_size), int(self.seed), epoch, world)

    def tokens_of(self, X, what: str = "X") -> torch.Tensor:
        """Padded word ids (N, longest + 2) of sentences (list of str or text:FILE), with this model's vocabulary."""
        check_is_fitted(self, "module_")
        return torch.from_numpy(encode_sentences(self.vocab_, as_sentences(X, what, int(self.max_len))))

    @staticmethod
    def _trim(tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, : int(lengths_of(tokens).max())]

    def _by_length(self, tokens: torch.Tensor, fn, batch_size: int = 64) -> torch.Tensor:
        """fn over batches of rows sorted by length (little padding), results back in the input order."""
        self.module_.eval()
        order = torch.argsort(lengths_of(tokens), stable=True)
        out = torch.empty(len(tokens), dtype=torch.float64)
        with torch.no_grad():
            for s in range(0, len(tokens), batch_size):
                idx = order[s: s + batch_size]
                out[idx] = fn(self._trim(tokens[idx]).to(self.device_)).double().cpu()
        return out

    # --- the networks --------------------------------------------------------------------------------------
    def _build(self, data: Dataset | None) -> None:
        self.module_ = SentenceNet(len(self.vocab_), int(self.embed_dim), int(self.hidden_dim), self._latent(),
                                   self.cell, float(self.dropout))

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        self.optimizer_ = adam(self.module_.parameters(), self.device_, lr=float(self.lr))
        return [self.optimizer_]

    # --- sampling --------------------------------------------------------------------------------------------
    def _decode_rows(self, ids: torch.Tensor) -> list[str]:
        return [self.vocab_.decode(row.tolist()) for row in ids.cpu()]

    def _latents_for_sampling(self, n: int, g: torch.Generator) -> torch.Tensor | None:
        return None

    def sample(self, n: int, temperature: float = 1.0, *, seed: int | None = None) -> list[str]:
        """n new sentences (str), drawn word by word at `temperature` (0: greedy). `seed`: a repeatable draw."""
        check_is_fitted(self, "module_")
        if not isinstance(n, int | np.integer) or n < 1:
            raise DataError(f"n must be a positive integer, got {n!r}")
        if not (isinstance(temperature, int | float) and temperature >= 0):
            raise DataError(f"temperature must be a number >= 0, got {temperature!r}")
        g = self._generator(seed)
        self.module_.eval()
        z = self._latents_for_sampling(int(n), g)
        ids = self.module_.generate(None if z is None else z.to(self.device_), int(n), int(self.max_len),
                                    float(temperature), g)
        return self._decode_rows(ids)

    def preview_images(self, n: int) -> None:
        return None  # sentences, not pictures: the run report shows them as text

    # --- scores ----------------------------------------------------------------------------------------------
    def score_samples(self, X) -> np.ndarray:
        """log p(sentence) in nats per sentence (the VAE: its IWAE lower bound): higher = more typical."""
        return self._log_p(self.tokens_of(X), None).numpy()

    def anomaly_score(self, X, part: str | None = None) -> np.ndarray:
        """-log p(sentence) in nats: higher = more anomalous."""
        return -self.score_samples(X)

    def _log_p(self, tokens: torch.Tensor, k: int | None) -> torch.Tensor:
        raise NotImplementedError

    def log_likelihood(self, X, k: int | None = None) -> LikelihoodEstimate:
        """Mean log p(sentence) in nats over the sentences of X (see score_samples), with its standard error."""
        tokens = self.tokens_of(X)
        scores = self._log_p(tokens, k)
        mean = float(scores.mean())
        stderr = float(scores.std() / math.sqrt(len(scores))) if len(scores) > 1 else math.nan
        method, runs = self._likelihood_method(k)
        return LikelihoodEstimate(mean, stderr, math.nan, (mean, math.inf) if method == "iwae" else (mean, mean),
                                  method, n_runs=runs)

    def _likelihood_method(self, k: int | None) -> tuple[str, int]:
        return "exact", 0

    def text_metrics(self, X, k: int | None = None) -> dict[str, Any]:
        """NLL per sentence (nats), per-word perplexity (exp of the NLL per predicted token, <eos> included, as
        in Bowman et al. 2016 and the PTB literature), and for a latent model its KL and active units."""
        tokens = self.tokens_of(X)
        ll = self._log_p(tokens, k)
        n_words = float((lengths_of(tokens) - 1).sum())
        nll = -float(ll.mean())
        return {"n_sentences": len(tokens), "nll_per_sentence": nll,
                "nll_stderr": float(ll.std() / math.sqrt(len(ll))) if len(ll) > 1 else math.nan,
                "perplexity": math.exp(-float(ll.sum()) / n_words), "ll_method": self._likelihood_method(k)[0]}

    # --- persistence ---------------------------------------------------------------------------------------
    def _fitted_info(self) -> dict[str, Any]:
        return {**super()._fitted_info(), "vocab": self.vocab_.to_json()}

    def _restore_fitted(self, fitted: dict[str, Any]) -> None:
        self.vocab_ = Vocabulary.from_json(fitted.get("vocab"))


__all__ = ["SHARED_CONSTRAINTS", "TextModel"]
