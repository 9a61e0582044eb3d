"""Sample quality on features of a network the library trains itself.

Inception weights cannot be downloaded here and do not suit 28x28 digits, so, as MNIST-scale papers do, the
features come from a small classifier (a CNN for images, an MLP for vectors) trained on the labelled data.
It is trained once per data set and cached under the user cache dir (`$GENMODELS_CACHE`, else
~/.cache/genmodels) keyed by a hash of the data, so every model is measured with the same network.
On its penultimate-layer features: the Fréchet distance (FID, Heusel et al. 2017), precision/recall (see
precision_recall.py) and, from its predictions, the accuracy on class-conditional samples and the entropy
of the predicted class histogram (mode coverage).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset
from ..errors import DataError
from ..io import load_state_dict_checked, load_tensors_with_metadata, save_tensors
from ..progress import Phase, rate
from .precision_recall import precision_recall

VERSION = 3  # part of the cache key: bump when the network or its training changes
FEATURE_DIM = 128
IMAGES_SEEN = 60_000  # training budget: 2 epochs of MNIST at least, up to 40 passes over small sets


def cache_dir() -> Path:
    return Path(os.environ.get("GENMODELS_CACHE") or Path.home() / ".cache" / "genmodels")


class FeatureNet(nn.Module):
    """A small classifier (CNN for images of at least 16x16, else MLP); `features` is its penultimate layer."""

    def __init__(self, input_shape: Sequence[int], n_classes: int):
        super().__init__()
        if len(input_shape) == 3 and min(input_shape[1:]) >= 16:  # smaller images do better flattened
            c = input_shape[0]
            layers: list[nn.Module] = []
            h, w = input_shape[1:]
            for width in (32, 64):  # 28 -> 14 -> 7
                layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
                c, h, w = width, h // 2, w // 2
            layers += [nn.Flatten(), nn.Linear(c * h * w, FEATURE_DIM), nn.ReLU()]
        else:
            layers = [nn.Flatten(), nn.Linear(math.prod(input_shape), 256), nn.ReLU(),
                      nn.Linear(256, FEATURE_DIM), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(FEATURE_DIM, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))


class FeatureNetwork:
    """A trained feature network: `features(X)`, `predict(X)`, and its held-out `accuracy`."""

    def __init__(self, net: FeatureNet, input_shape: Sequence[int], classes: list, accuracy: float, key: str):
        self.net = net.eval()
        self.input_shape = tuple(input_shape)
        self.classes = list(classes)
        self.accuracy = accuracy
        self.key = key

    def _run(self, X, fn) -> torch.Tensor:
        x = np.asarray(X, np.float32)
        if x.size // max(len(x), 1) != math.prod(self.input_shape):
            raise DataError(f"rows have {x.size // max(len(x), 1)} features; the feature network expects "
                            f"{math.prod(self.input_shape)} (shape {self.input_shape})")
        x = torch.as_tensor(x.reshape(len(x), *self.input_shape))
        with torch.no_grad():
            return torch.cat([fn(x[i: i + 1024]) for i in range(0, len(x), 1024)])

    def features(self, X) -> np.ndarray:
        return self._run(X, self.net.body).numpy().astype(np.float64)

    def predict_codes(self, X) -> np.ndarray:
        """Predicted class indices (positions in `classes`)."""
        return self._run(X, self.net).argmax(1).numpy()

    def predict(self, X) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[self.predict_codes(X)]


def data_key(data: Dataset, seed: int = 0) -> str:
    """Hash of the data set's content (pixels, labels, shape), the network version and the seed."""
    h = hashlib.sha256()
    h.update(json.dumps({"v": VERSION, "shape": list(data.X.shape), "seed": seed, "classes": [str(c) for c in
                         data.classes]}).encode())
    h.update(np.ascontiguousarray(data.X, np.float32).tobytes())
    h.update(np.ascontiguousarray(data.y, np.int64).tobytes())
    return h.hexdigest()[:24]


def feature_network(data: Dataset, *, seed: int = 0, verbose: bool = False) -> FeatureNetwork:
    """The feature network for labelled `data` (usually the training split): loaded from the cache, or
    trained (90% of the rows; accuracy measured on the other 10%) and cached."""
    if data.y is None or len(np.unique(data.y)) < 2:
        raise DataError(f"{data.name}: the feature network needs class labels (at least two classes)")
    input_shape = tuple(data.X.shape[1:])
    classes = list(data.classes) or sorted(np.unique(data.y).tolist())
    key = data_key(data, seed)
    path = cache_dir() / "feature_nets" / f"{key}.safetensors"
    with torch.random.fork_rng(devices=[]):  # the initial weights come from `seed`, not the caller's RNG state
        torch.manual_seed(seed)
        net = FeatureNet(input_shape, len(classes))
    if path.exists():
        tensors, meta = load_tensors_with_metadata(path)
        load_state_dict_checked(net, tensors, str(path))
        return FeatureNetwork(net, input_shape, classes, float(meta["accuracy"]), key)
    accuracy = _train(net, data, seed, verbose, f"cached in {path}")
    save_tensors(path, net.state_dict(), metadata={"accuracy": str(accuracy), "data": data.name})
    return FeatureNetwork(net, input_shape, classes, accuracy, key)


def _train(net: FeatureNet, data: Dataset, seed: int, verbose: bool | int = False, note: str = "") -> float:
    with torch.random.fork_rng(devices=[]):  # never disturbs the caller's RNG
        torch.manual_seed(seed)
        X, y = torch.as_tensor(data.X), torch.as_tensor(data.y)
        order = torch.randperm(len(X))
        n_val = max(1, len(X) // 10)
        val, fit = order[:n_val], order[n_val:]
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        epochs = max(2, min(40, math.ceil(IMAGES_SEEN / len(fit))))
        phase = Phase(f"feature network (FID) on {data.name}", total=epochs * len(fit), unit="img", verbose=verbose)
        net.train()
        for _ in range(epochs):
            for idx in fit[torch.randperm(len(fit))].split(128):
                phase.update(len(idx))
                loss = F.cross_entropy(net(X[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            accuracy = float((net(X[val]).argmax(1) == y[val]).float().mean())
        phase.done(f"{epochs} epochs on {len(fit)} images ({rate(epochs * len(fit), phase.elapsed, 'img')}), "
                   f"held-out accuracy {accuracy:.3f}; {note}")
        return accuracy


# --- the metrics -----------------------------------------------------------------------------------------------
def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)): the Fréchet (2-Wasserstein) distance between two
    Gaussians. tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric
    S1^(1/2) S2 S1^(1/2), which is stable where a general matrix square root is not."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ s2 @ root1
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


def class_coverage(codes: np.ndarray, n_classes: int) -> dict[str, float]:
    """Mode coverage from predicted class indices: the entropy (nats) of the class histogram (log K when
    all K classes are equally frequent, 0 for a collapse onto one class) and the number of classes that
    get at least a tenth of their uniform share."""
    counts = np.bincount(np.asarray(codes, np.int64), minlength=n_classes).astype(np.float64)
    p = counts / max(counts.sum(), 1.0)
    entropy = max(0.0, float(-(p[p > 0] * np.log(p[p > 0])).sum()))
    covered = int((counts >= 0.1 * counts.sum() / n_classes).sum())
    return {"class_entropy": entropy, "class_entropy_max": math.log(n_classes), "classes_covered": covered}


def sample_quality(network: FeatureNetwork, real: np.ndarray, fake: np.ndarray, fake_labels=None,
                   k: int = 3) -> dict[str, Any]:
    """FID, precision, recall and mode coverage of `fake` rows against `real` rows; with `fake_labels`
    (the classes the samples were asked for), the feature network's accuracy on them."""
    real_f, fake_f = network.features(real), network.features(fake)
    precision, recall = precision_recall(real_f, fake_f, k=k)
    codes = network.predict_codes(fake)
    out: dict[str, Any] = {"fid": fid(real_f, fake_f), "precision": precision, "recall": recall,
                           **class_coverage(codes, len(network.classes)), "n_samples": len(fake),
                           "feature_net_accuracy": network.accuracy}
    if fake_labels is not None:
        index = {c: i for i, c in enumerate(network.classes)}
        wanted = np.array([index[c.item() if hasattr(c, "item") else c] for c in np.asarray(fake_labels)])
        out["conditional_accuracy"] = float((codes == wanted).mean())
    return out
