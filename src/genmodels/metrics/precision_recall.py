"""Improved precision and recall (Kynkäänniemi et al. 2019): each set of features spans a manifold made of
balls around its points, each ball reaching the point's k-th nearest neighbour. Precision is the share of
generated points inside the real manifold (fidelity), recall the share of real points inside the generated
one (diversity: a collapsed generator has high precision and low recall)."""

from __future__ import annotations

import numpy as np
import torch

CHUNK = 1024  # rows of a distance matrix computed at once (keeps memory flat for 10k+ points)


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, np.float32).reshape(len(x), -1))


def knn_radii(features: np.ndarray | torch.Tensor, k: int = 3) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded)."""
    x = _as_tensor(features)
    if len(x) <= k:
        raise ValueError(f"need more than k={k} points for k-NN radii, got {len(x)}")
    radii = [torch.cdist(x[i: i + CHUNK], x).kthvalue(k + 1, dim=1).values for i in range(0, len(x), CHUNK)]
    return torch.cat(radii)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point: does it lie in at least one ball (centre, radius)?"""
    return torch.cat([(torch.cdist(points[i: i + CHUNK], centres) <= radii).any(1)
                      for i in range(0, len(points), CHUNK)])


def precision_recall(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of generated features `fake` against real features `real`, k-NN manifolds."""
    r, f = _as_tensor(real), _as_tensor(fake)
    precision = _inside(f, r, knn_radii(r, k)).float().mean()
    recall = _inside(r, f, knn_radii(f, k)).float().mean()
    return float(precision), float(recall)
