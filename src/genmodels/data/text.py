"""Text data: sentences (one a line in a `text:FILE`), the vocabulary fitted on the training split, sentences as
padded integer tensors, and the length-bucketed batch order of an epoch.

Tokens are whitespace-separated words (the Penn Treebank in its language-modelling form is already tokenized and
lower-cased, with its own `<unk>`). A sentence is held as `<bos> w1 ... wn <eos>` followed by `<pad>` (id 0) up
to the longest sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import Dataset

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
MAX_TOKENS = 200  # the longest line (in words) a text file may hold; PTB's longest is 82


class Vocabulary:
    """Word <-> id. Ids 0-3 are <pad>, <unk>, <bos>, <eos>; then the words by falling count (ties by spelling)."""

    def __init__(self, tokens: Sequence[str]):
        if tuple(tokens[:4]) != SPECIALS:
            raise DataError(f"vocabulary: must start with {list(SPECIALS)}, got {list(tokens[:4])}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise DataError("vocabulary: a word appears twice")

    @classmethod
    def fit(cls, sentences: Sequence[str], max_size: int | None = None, min_count: int = 1) -> Vocabulary:
        """The words seen at least `min_count` times, the `max_size` most frequent (specials included)."""
        counts = Counter(w for s in sentences for w in s.split() if w not in SPECIALS)
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max(0, int(max_size) - len(SPECIALS))]
        return cls([*SPECIALS, *words])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, sentence: str) -> list[int]:
        """Word ids of one sentence (no <bos>/<eos>); unknown words are <unk>."""
        return [self.index.get(w, UNK_ID) for w in sentence.split()]

    def decode(self, ids) -> str:
        """The words of ids up to the first <eos>, leaving out <bos> and <pad>."""
        words = []
        for i in (int(v) for v in ids):
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                words.append(self.tokens[i] if 0 <= i < len(self.tokens) else UNK)
        return " ".join(words)

    def to_json(self) -> list[str]:
        return list(self.tokens)

    @classmethod
    def from_json(cls, tokens) -> Vocabulary:
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DataError("vocabulary: expected a list of words in the saved config")
        return cls(tokens)


def read_text_file(path: str | Path, max_tokens: int = MAX_TOKENS) -> list[str]:
    """The non-blank lines of a UTF-8 text file, one sentence each; one-line DataError for a missing, empty or
    binary file, or a line of more than `max_tokens` words."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: text file not found")
    raw = path.read_bytes()
    if b"\x00" in raw[:1_000_000]:
        raise DataError(f"{path}: a binary file, not text (it holds NUL bytes); give one sentence a line, UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); give one sentence a line, UTF-8") from None
    return check_sentences(text.splitlines(), str(path), max_tokens)


def check_sentences(lines: Sequence[str], what: str, max_tokens: int = MAX_TOKENS) -> list[str]:
    """Non-blank sentences with at most `max_tokens` words each; one-line DataError otherwise."""
    sentences = []
    for number, line in enumerate(lines, 1):
        if not isinstance(line, str):
            raise DataError(f"{what}: item {number} is a {type(line).__name__}, not a sentence (str)")
        words = line.split()
        if len(words) > max_tokens:
            raise DataError(f"{what}: line {number} has {len(words)} words, more than the maximum {max_tokens} "
                            "(split the line; a model's max_len sets its own limit)")
        if words:
            sentences.append(" ".join(words))
    if not sentences:
        raise DataError(f"{what}: no sentences (the text is empty)")
    return sentences


def load_text(path: str, max_tokens: int = MAX_TOKENS) -> Dataset:
    """A `text:FILE` spec as a Dataset of sentences (X: an object array of str). The whole file is one split:
    give the training and test sentences as separate files (as the Penn Treebank comes)."""
    sentences = read_text_file(path, max_tokens)
    return Dataset(np.asarray(sentences, dtype=object), None, f"text:{path}")


def as_sentences(X, what: str = "X", max_tokens: int = MAX_TOKENS) -> list[str]:
    """Sentences from a list/array of str, a Dataset of sentences, or a `text:FILE` spec."""
    if isinstance(X, Dataset):
        if X.X.dtype != object:
            raise DataError(f"{what}: a text model trains on sentences (a list of str or text:FILE), "
                            f"not numeric rows of shape {X.X.shape}")
        X = list(X.X)
    if isinstance(X, str):
        if not X.startswith("text:"):
            raise DataError(f"{what}: give a list of sentences or a 'text:FILE' spec, got the string {X[:40]!r}")
        return read_text_file(X[5:], max_tokens)
    if isinstance(X, np.ndarray):
        if X.dtype.kind not in "OUS":
            raise DataError(f"{what}: a text model trains on sentences (a list of str or text:FILE), "
                            f"not numeric rows of shape {X.shape}")
        X = X.reshape(-1).tolist()
    if not isinstance(X, list | tuple):
        raise DataError(f"{what}: give a list of sentences (str) or a 'text:FILE' spec, got {type(X).__name__}")
    return check_sentences(X, what, max_tokens)


def encode_sentences(vocab: Vocabulary, sentences: Sequence[str]) -> np.ndarray:
    """(N, longest + 2) int64: <bos> ids <eos> then <pad>."""
    encoded = [vocab.encode(s) for s in sentences]
    width = max(len(e) for e in encoded) + 2
    out = np.full((len(encoded), width), PAD_ID, np.int64)
    for row, ids in enumerate(encoded):
        out[row, 0] = BOS_ID
        out[row, 1: len(ids) + 1] = ids
        out[row, len(ids) + 1] = EOS_ID
    return out


def lengths_of(tokens: torch.Tensor) -> torch.Tensor:
    """Tokens per padded row, <bos> and <eos> included."""
    return (tokens != PAD_ID).sum(-1)


def bucket_order(lengths: torch.Tensor, batch_size: int, seed: int, epoch: int, world: int = 1,
                 pool: int = 50) -> torch.Tensor:
    """The epoch's row order with batches of similar length: a random permutation (a pure function of seed and
    epoch, so resume stays exact), sorted by length within pools of `pool` batches, cut into batches of
    batch_size x world rows (the Trainer deals each rank every world-th row), the batches shuffled."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
    n = len(lengths)
    perm = torch.randperm(n, generator=g)
    step = batch_size * world
    chunks = []
    for start in range(0, n, step * pool):
        part = perm[start: start + step * pool]
        chunks.append(part[torch.argsort(lengths[part], stable=True)])
    ordered = torch.cat(chunks)
    batches = list(torch.split(ordered, step))
    last = batches.pop() if len(batches) > 1 and len(batches[-1]) < step else None
    shuffled = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
    return torch.cat(shuffled + ([last] if last is not None else []))


__all__ = ["BOS", "EOS", "MAX_TOKENS", "PAD", "UNK", "Vocabulary", "as_sentences", "bucket_order",
           "encode_sentences", "lengths_of", "load_text", "read_text_file"]
