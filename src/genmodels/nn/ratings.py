"""The parameters of the ratings RBM (Salakhutdinov, Mnih & Hinton 2007) and its contrastive-divergence
statistics. A row is a vector of rating levels over the visible softmax units: 1..K a known rating, 0 not
rated (the unit is absent), -1 rated with an unknown value (seen only by the conditional weights D)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RatingsRBMNet(nn.Module):
    """The shared parameters: W (units, K, hidden), visible biases b (units, K), hidden biases c, and for the
    conditional model D (units, hidden). CD sets their .grad without autograd; an SGD optimizer steps them."""

    def __init__(self, n_items: int, k: int, n_hidden: int, conditional: bool):
        super().__init__()
        self.n_items, self.k, self.n_hidden = n_items, k, n_hidden
        self.W = nn.Parameter(torch.randn(n_items, k, n_hidden) * 0.01)
        self.b = nn.Parameter(torch.zeros(n_items, k))
        self.c = nn.Parameter(torch.zeros(n_hidden))
        self.D = nn.Parameter(torch.zeros(n_items, n_hidden)) if conditional else None

    def one_hot(self, levels: torch.Tensor) -> torch.Tensor:
        """(B, items) levels (0 missing, -1 unknown) -> (B, items, K) one-hot of the known ratings."""
        return F.one_hot(levels.clamp(min=0).long(), self.k + 1)[..., 1:].to(self.W.dtype)

    def rated(self, levels: torch.Tensor) -> torch.Tensor | None:
        """The "which units were rated" input of the conditional weights D (None without them)."""
        return (levels != 0).to(self.W.dtype) if self.D is not None else None

    def hidden_input(self, v: torch.Tensor, rated: torch.Tensor | None) -> torch.Tensor:
        x = v.flatten(1) @ self.W.view(-1, self.n_hidden) + self.c
        if self.D is not None and rated is not None:
            x = x + rated @ self.D
        return x

    def hidden_means(self, levels: torch.Tensor) -> torch.Tensor:
        """Mean-field p(h = 1 | the row's ratings), (B, hidden)."""
        return torch.sigmoid(self.hidden_input(self.one_hot(levels), self.rated(levels)))

    def visible_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(B, hidden) -> (B, items, K) softmax logits for every item."""
        return (h @ self.W.view(-1, self.n_hidden).T).view(len(h), self.n_items, self.k) + self.b

    def cd_gradients(self, levels: torch.Tensor, steps: int) -> dict[str, torch.Tensor]:
        """Set each parameter's .grad to minus the CD-`steps` estimate of the log-likelihood gradient of the
        batch, <v h>_data - <v h>_model over the rated units, averaged over the rows. Returns the data and the
        final reconstruction (v0, vt: (B, items, K)) and the mask of rated units, for the caller's log."""
        v0 = self.one_hot(levels)
        mask = (levels > 0).to(v0.dtype).unsqueeze(-1)  # only rated items are visible units
        rated = self.rated(levels)
        ph0 = torch.sigmoid(self.hidden_input(v0, rated))
        h = torch.bernoulli(ph0)
        for t in range(steps):
            pv = torch.softmax(self.visible_logits(h), -1) * mask
            last = t == steps - 1
            if last:  # the final reconstruction keeps probabilities: less noise in the gradient
                vt = pv
            else:
                u = torch.rand((*pv.shape[:-1], 1), device=pv.device)
                choice = (pv.cumsum(-1) < u).sum(-1).clamp(max=self.k - 1)
                vt = F.one_hot(choice, self.k).to(pv.dtype) * mask
            pht = torch.sigmoid(self.hidden_input(vt, rated))
            if not last:
                h = torch.bernoulli(pht)
        n = len(levels)
        dh = ph0 - pht
        self.W.grad = -(v0.flatten(1).T @ ph0 - vt.flatten(1).T @ pht).view_as(self.W) / n
        self.b.grad = -(v0 - vt).sum(0) / n
        self.c.grad = -dh.mean(0)
        if self.D is not None:
            self.D.grad = -(rated.T @ dh) / n
        return {"v0": v0, "vt": vt, "mask": mask}


__all__ = ["RatingsRBMNet"]
