"""Restricted Boltzmann machines for collaborative filtering (Salakhutdinov, Mnih & Hinton, ICML 2007).

Each user is one RBM whose visible layer holds a K-way softmax unit for every item the user rated (missing items
are simply absent); all users share the weights W (items x K x hidden), the visible biases and the hidden biases.
Training is contrastive divergence CD-T with T growing over training (1, then 3, then 5 ...), momentum and weight
decay. The conditional variant adds a weight D from "which items did the user rate" (including items whose rating
is unknown, e.g. the items a user will be asked about) to the hidden units.

Predictions are mean-field: p̂_j = sigmoid(c_j + sum_i W_{i r_i j}) from the user's ratings, then
p(r_q = k) = softmax_k(b_qk + sum_j p̂_j W_qkj) and the expected rating sum_k p_k k.

Data layout: one training row per user, a vector over items holding the rating level (1..K), 0 for "not rated"
and -1 for "rated, value unknown" (conditional only). The one-hot (users x items x K) tensor is only ever built
for one batch of users.

orientation="item" swaps the roles (as Sedhain et al. 2015, AutoRec, compare user- and item-based models): each
item is one RBM whose visible softmax units are the users who rated it. On MovieLens 100K it is clearly the better
of the two (benchmarks/cf_movielens.py): there, 1682 item rows train 0.94M weights against 943 user rows for 1.68M.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..data import Dataset
from ..data.ratings import check_ratings
from ..errors import DataError
from ..train import StepInfo, Trainer
from .base import TrainedModel

# Pseudo-ratings pulling a cold-start item mean toward the global mean, so that an item seen once with a 5
# does not top every new user's list.
MEAN_SHRINKAGE = 5.0


class RatingsRBMNet(nn.Module):
    """The shared parameters: W (items, K, hidden), visible biases b (items, K), hidden biases c, and for the
    conditional model D (items, hidden)."""

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

    def hidden_input(self, v: torch.Tensor, rated: torch.Tensor | None) -> torch.Tensor:
        x = v.flatten(1) @ self.W.view(-1, self.n_hidden) + self.c
        if self.D is not None and rated is not None:
            x = x + rated @ self.D
        return x

    def visible_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(B, hidden) -> (B, items, K) softmax logits for every item."""
        return (h @ self.W.view(-1, self.n_hidden).T).view(len(h), self.n_items, self.k) + self.b


class RatingsRBM(TrainedModel):
    """RBM collaborative filtering on a ratings table (user, item, rating), with the scikit-learn contract.

    n_hidden: hidden units. rating_scale, rating_step: the rating grid, e.g. (1, 5) and 1 -> K = 5 softmax levels.
    cd_k: CD steps T, an int or a sequence used in equal stages of training (the default (1, 3, 5) is the
    paper's "T grows as learning goes on"). lr, momentum, weight_decay (L2 on W and D): SGD on the CD
    gradient averaged over the users of a batch. conditional: add the "which items were rated" weights D.
    orientation: "user" (one RBM per user over the items, the paper's) or "item" (one RBM per item over the users).
    average_last: the final weights are the running mean of the weights at the ends of this last fraction of
    the epochs (Polyak averaging; 0 keeps the last weights): it smooths the noise of the CD updates.
    baseline_weight: the prediction blends the RBM's expected rating with the regularised baseline
    mu + b_user + b_item (Koren 2008, fitted in closed form by alternating least squares) with this weight;
    0 is the pure RBM. The two models err differently, so a blend beats both.

    Predictions are expected ratings in [low, high]. Cold start: a user unknown to the model gets the item's
    mean rating (shrunk toward the global mean by 5 pseudo-ratings); an unknown item gets the user's mean
    rating, or the global mean when the user is unknown too. `score` is minus the RMSE (higher is better).
    """

    family = "rbm_cf"

    def __init__(self, n_hidden: int = 100, rating_scale: tuple[float, float] = (1, 5), rating_step: float = 1.0,
                 cd_k: int | tuple[int, ...] = (1, 3, 5), lr: float = 0.01, momentum: float = 0.9,
                 weight_decay: float = 0.01, conditional: bool = False, average_last: float = 0.5,
                 baseline_weight: float = 0.0, orientation: str = "user", epochs: int = 40, batch_size: int = 32, seed: int = 0,
                 device: str = "auto", verbose: int = 1, checkpoint_every: int = 0, sample_every: int = 0):
        self.n_hidden = n_hidden
        self.rating_scale = rating_scale
        self.rating_step = rating_step
        self.cd_k = cd_k
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.conditional = conditional
        self.average_last = average_last
        self.baseline_weight = baseline_weight
        self.orientation = orientation
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every

    # --- data ----------------------------------------------------------------------------------------------
    def _levels(self) -> np.ndarray:
        lo, hi = (float(v) for v in self.rating_scale)
        step = float(self.rating_step)
        if not (hi > lo and step > 0):
            raise DataError(f"rating_scale must be (low, high) with low < high and rating_step > 0, "
                            f"got {self.rating_scale!r}, {self.rating_step!r}")
        n = round((hi - lo) / step) + 1
        if n < 2 or abs(lo + (n - 1) * step - hi) > 1e-6:
            raise DataError(f"rating_scale {self.rating_scale!r} is not a whole number of rating_step {step:g}")
        return lo + step * np.arange(n)

    def _to_level(self, rating: np.ndarray, what: str) -> np.ndarray:
        lo, step = float(self.rating_scale[0]), float(self.rating_step)
        pos = (rating - lo) / step
        level = np.rint(pos)
        off = np.abs(pos - level) > 1e-6
        if off.any():
            raise DataError(f"{what}: rating {rating[off][0]:g} is not on the rating grid {self._levels().tolist()}; "
                            "set rating_step (e.g. 0.5 for half stars)")
        return level.astype(np.int64) + 1  # 1..K; 0 means "not rated"

    def _check(self, ratings, what: str) -> pd.DataFrame:
        levels = self._levels()
        return check_ratings(ratings, scale=(float(levels[0]), float(levels[-1])), what=what)

    def fit(self, X, y=None, *, implicit=None, run_dir: str | Path | None = None, resume: bool = False,
            time_budget: float | None = None):
        """Train on a ratings table X (DataFrame with columns user, item, rating). `implicit`: optional table of
        (user, item) pairs known to be rated whose ratings are unknown; the conditional model uses them.
        `time_budget`: seconds, see GenerativeModel.fit."""
        data = self._validate_fit(X, y, implicit)
        Trainer(self, run_dir, resume, time_budget=time_budget).run(data)
        return self

    def partial_fit(self, X, y=None):
        raise NotImplementedError("RatingsRBM has no partial_fit: the user and item sets are fixed at fit; refit")

    def _validate_fit(self, X, y=None, implicit=None) -> Dataset:
        if y is not None:
            raise DataError("RatingsRBM.fit takes the ratings table alone (user, item, rating); y is not used")
        if isinstance(X, Dataset):  # e.g. `genmodels train rbm_cf --data ...`: feature rows, not ratings
            raise DataError("RatingsRBM trains on a ratings table (user, item, rating): use "
                            "`genmodels recommend train --ratings FILE|movielens:DIR`")
        ratings = self._check(X, "ratings")
        self._levels()
        if isinstance(self.cd_k, int | np.integer):
            schedule = [int(self.cd_k)]
        else:
            schedule = [int(t) for t in self.cd_k]
        if not schedule or min(schedule) < 1:
            raise DataError(f"cd_k must be a positive int or a sequence of them, got {self.cd_k!r}")
        if self.orientation not in ("user", "item"):
            raise DataError(f"orientation must be 'user' or 'item', got {self.orientation!r}")
        for name in ("average_last", "baseline_weight"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise DataError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")
        extra = None
        if implicit is not None:
            if not self.conditional:
                raise DataError("implicit= is only used by the conditional model; set conditional=True")
            if not isinstance(implicit, pd.DataFrame) or not {"user", "item"} <= set(implicit.columns):
                raise DataError("implicit: expected a DataFrame with columns user, item")
            extra = implicit[["user", "item"]].drop_duplicates()
        self.users_ = pd.unique(pd.concat([ratings["user"], extra["user"]]) if extra is not None else ratings["user"])
        self.items_ = pd.unique(pd.concat([ratings["item"], extra["item"]]) if extra is not None else ratings["item"])
        self.users_ = np.asarray(sorted(self.users_, key=_sort_key))
        self.items_ = np.asarray(sorted(self.items_, key=_sort_key))
        u = self._user_index(ratings["user"].to_numpy())
        i = self._item_index(ratings["item"].to_numpy())
        level = self._to_level(ratings["rating"].to_numpy(), "ratings")
        if extra is not None:  # pairs already rated keep their rating
            eu, ei = self._user_index(extra["user"].to_numpy()), self._item_index(extra["item"].to_numpy())
            known = set(zip(u.tolist(), i.tolist(), strict=True))
            keep = np.array([(a, b) not in known for a, b in zip(eu.tolist(), ei.tolist(), strict=True)], bool)
            u, i = np.concatenate([u, eu[keep]]), np.concatenate([i, ei[keep]])
            level = np.concatenate([level, -np.ones(int(keep.sum()), np.int64)])
        self._set_train_matrix(u, i, level)
        rows = self._rows_matrix()
        self.data_shape_ = self.input_shape_ = (rows.shape[1],)  # the visible softmax units
        self.n_features_in_ = 3
        self.classes_ = []
        return Dataset(rows, None, "ratings")

    def _set_train_matrix(self, u: np.ndarray, i: np.ndarray, level: np.ndarray) -> None:
        """Rating levels per user (rows) and item (columns), plus the statistics the cold-start fallbacks use."""
        matrix = np.zeros((len(self.users_), len(self.items_)), np.float32)
        matrix[u, i] = level
        self.train_matrix_ = matrix
        known = level > 0
        values = self._levels()[level[known] - 1]
        uk, ik = u[known], i[known]
        self.global_mean_ = float(values.mean())
        n_user = np.bincount(uk, minlength=len(self.users_))
        n_item = np.bincount(ik, minlength=len(self.items_))
        self.user_mean_ = np.where(n_user > 0, np.bincount(uk, values, len(self.users_)) / np.maximum(n_user, 1),
                                   self.global_mean_)
        self.item_mean_ = ((np.bincount(ik, values, len(self.items_)) + MEAN_SHRINKAGE * self.global_mean_)
                           / (n_item + MEAN_SHRINKAGE))
        # baseline mu + b_u + b_i with L2 penalties (10 on items, 15 on users, as surprise's BaselineOnly):
        # alternating closed-form least squares, which converges in a few sweeps
        residual = values - self.global_mean_
        self.user_bias_, self.item_bias_ = np.zeros(len(self.users_)), np.zeros(len(self.items_))
        for _ in range(10):
            self.item_bias_ = np.bincount(ik, residual - self.user_bias_[uk], len(self.items_)) / (n_item + 10.0)
            self.user_bias_ = np.bincount(uk, residual - self.item_bias_[ik], len(self.users_)) / (n_user + 15.0)

    def _rows_matrix(self) -> np.ndarray:
        """The training rows the RBM sees: users x items, or items x users when item-based."""
        if self.orientation == "user":
            return self.train_matrix_
        cached = getattr(self, "_item_rows", None)
        if cached is None or cached.shape[::-1] != self.train_matrix_.shape:
            cached = self._item_rows = np.ascontiguousarray(self.train_matrix_.T)
        return cached

    def _user_index(self, users) -> np.ndarray:
        return _positions(self.users_, users)

    def _item_index(self, items) -> np.ndarray:
        return _positions(self.items_, items)

    # --- the model and its training step -------------------------------------------------------------------
    def _build(self, data: Dataset | None) -> None:
        k = len(self._levels())
        self.module_ = RatingsRBMNet(self.data_shape_[0], k, int(self.n_hidden), bool(self.conditional))
        if data is not None:  # visible biases start at the log of each item's rating frequencies
            one_hot = np.stack([(lv == data.X).sum(0) for lv in range(1, k + 1)], 1).astype(np.float32)
            freq = (one_hot + 1.0) / (one_hot.sum(1, keepdims=True) + k)
            with torch.no_grad():
                self.module_.b.copy_(torch.from_numpy(np.log(freq)))
            self._steps_per_epoch = max(1, math.ceil(len(data) / int(self.batch_size)))

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        net = self.module_
        decayed = [net.W] + ([net.D] if net.D is not None else [])
        groups = [{"params": decayed, "weight_decay": float(self.weight_decay)},
                  {"params": [net.b, net.c], "weight_decay": 0.0}]
        self.optimizer_ = torch.optim.SGD(groups, lr=float(self.lr), momentum=float(self.momentum))
        return [self.optimizer_]

    def _on_epoch_end(self, epoch: int) -> dict[str, float]:
        """Polyak averaging over the last `average_last` of the epochs; the mean replaces the weights at the end."""
        epochs = int(self.epochs)
        first = epochs - max(1, round(float(self.average_last) * epochs)) if float(self.average_last) > 0 else epochs
        if epoch < first:
            return {}
        params = dict(self.module_.named_parameters())
        if epoch == first or getattr(self, "_average", None) is None:
            self._average = {k: v.detach().clone() for k, v in params.items()}
            self._n_averaged = 1
        else:
            self._n_averaged += 1
            for k, v in params.items():
                self._average[k] += (v.detach() - self._average[k]) / self._n_averaged
        if epoch == epochs - 1:
            with torch.no_grad():
                for k, v in params.items():
                    v.copy_(self._average[k])
            self._average = None
        return {}

    def _cd_steps(self, step: int) -> int:
        schedule = [int(self.cd_k)] if isinstance(self.cd_k, int | np.integer) else [int(t) for t in self.cd_k]
        epoch = step // self._steps_per_epoch
        return schedule[min(len(schedule) - 1, epoch * len(schedule) // max(1, int(self.epochs)))]

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        """One CD-T update without autograd: the gradient is <v h>_data - <v h>_model over the rated items."""
        net, step = self.module_, info.step
        levels = batch[0]
        with torch.no_grad():
            v0 = net.one_hot(levels)
            mask = (levels > 0).to(v0.dtype).unsqueeze(-1)  # only rated items are visible units
            rated = (levels != 0).to(v0.dtype) if net.D is not None else None
            ph0 = torch.sigmoid(net.hidden_input(v0, rated))
            h = torch.bernoulli(ph0)
            for t in range(self._cd_steps(step)):
                pv = torch.softmax(net.visible_logits(h), -1) * mask
                last = t == self._cd_steps(step) - 1
                if last:  # the final reconstruction keeps probabilities: less noise in the gradient
                    vt = pv
                else:
                    u = torch.rand((*pv.shape[:-1], 1), device=pv.device)
                    choice = (pv.cumsum(-1) < u).sum(-1).clamp(max=net.k - 1)
                    vt = F.one_hot(choice, net.k).to(pv.dtype) * mask
                pht = torch.sigmoid(net.hidden_input(vt, rated))
                if not last:
                    h = torch.bernoulli(pht)
            n = len(levels)
            dh = ph0 - pht
            net.W.grad = -(v0.flatten(1).T @ ph0 - vt.flatten(1).T @ pht).view_as(net.W) / n
            net.b.grad = -(v0 - vt).sum(0) / n
            net.c.grad = -dh.mean(0)
            if net.D is not None:
                net.D.grad = -(rated.T @ dh) / n
            grads = [p.grad for p in net.parameters() if p.grad is not None]
            self._average_ranks(grads)
            self.optimizer_.step()
            values = torch.as_tensor(self._levels(), dtype=v0.dtype, device=v0.device)
            n_rated = mask.sum().clamp(min=1)
            err = (((v0 - vt) * values).sum(-1) ** 2).sum() / n_rated  # squared rating error of the reconstruction
        return {"recon_mse": err, "cd_k": float(self._cd_steps(step))}

    def _sample(self, n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError("RatingsRBM does not sample users; use predict or recommend")

    def sample(self, n: int, y=None, *, seed: int | None = None) -> np.ndarray:
        """Not offered: a rating RBM models ratings given which items a user rated, not whole users."""
        raise NotImplementedError("RatingsRBM does not sample users; use predict(user, item) or recommend(user)")

    # --- prediction ----------------------------------------------------------------------------------------
    def _hidden_means(self, rows: np.ndarray) -> torch.Tensor:
        """Mean-field hidden probabilities p̂ for the given training rows (users, or items when item-based)."""
        net = self.module_
        matrix = self._rows_matrix()
        out = []
        with torch.no_grad():
            for s in range(0, len(rows), 256):
                levels = torch.as_tensor(matrix[rows[s: s + 256]], device=self.device_)
                rated = (levels != 0).to(net.W.dtype) if net.D is not None else None
                out.append(torch.sigmoid(net.hidden_input(net.one_hot(levels), rated)))
        return torch.cat(out) if out else torch.zeros(0, net.n_hidden, device=self.device_)

    def _rbm_predict(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Expected ratings for known (user row, item column) pairs."""
        net = self.module_
        net.eval()
        values = torch.as_tensor(self._levels(), dtype=net.W.dtype, device=self.device_)
        rows, units = (u, i) if self.orientation == "user" else (i, u)
        unique_rows, inverse = np.unique(rows, return_inverse=True)
        hidden = self._hidden_means(unique_rows)
        out = []
        with torch.no_grad():
            for s in range(0, len(rows), 4096):
                h = hidden[torch.as_tensor(inverse[s: s + 4096], device=self.device_)]
                unit = torch.as_tensor(units[s: s + 4096], device=self.device_)
                logits = torch.einsum("nh,nkh->nk", h, net.W[unit]) + net.b[unit]
                out.append(torch.softmax(logits, -1) @ values)
        return torch.cat(out).cpu().numpy().astype(np.float64)

    def predict(self, user, item=None) -> np.ndarray | float:
        """Expected rating of `item` by `user`: scalars give a float, arrays an array. A DataFrame with user and
        item columns may be passed alone. Unknown users/items fall back to means (see the class docstring)."""
        check_is_fitted(self, "module_")
        if item is None:
            if not isinstance(user, pd.DataFrame) or not {"user", "item"} <= set(user.columns):
                raise DataError("predict(user, item), or predict(table) with a DataFrame of user and item columns")
            user, item = user["user"].to_numpy(), user["item"].to_numpy()
        scalar = np.ndim(user) == 0 and np.ndim(item) == 0
        users, items = np.atleast_1d(np.asarray(user, dtype=object)), np.atleast_1d(np.asarray(item, dtype=object))
        if len(users) == 1 and len(items) > 1:
            users = np.repeat(users, len(items))
        if len(users) != len(items):
            raise DataError(f"predict: {len(users)} users and {len(items)} items; give one user or equal lengths")
        u = self._user_index(users)
        i = self._item_index(items)
        pred = np.full(len(u), self.global_mean_)
        both = (u >= 0) & (i >= 0)
        if both.any():
            w = float(self.baseline_weight)
            baseline = self.global_mean_ + self.user_bias_[u[both]] + self.item_bias_[i[both]]
            pred[both] = (1 - w) * self._rbm_predict(u[both], i[both]) + w * baseline
        cold_user = (u < 0) & (i >= 0)
        pred[cold_user] = self.item_mean_[i[cold_user]]
        cold_item = (u >= 0) & (i < 0)
        pred[cold_item] = self.user_mean_[u[cold_item]]
        levels = self._levels()
        pred = np.clip(pred, levels[0], levels[-1])
        return float(pred[0]) if scalar else pred

    def predict_all(self, users) -> np.ndarray:
        """Expected ratings of every item (columns in the order of `items_`) for known `users`, (n_users, items)."""
        check_is_fitted(self, "module_")
        rows = self._user_index(users)
        if (rows < 0).any():
            raise DataError(f"predict_all: unknown user(s) {list(np.atleast_1d(users)[rows < 0][:5])}")
        net = self.module_
        net.eval()
        values = torch.as_tensor(self._levels(), dtype=net.W.dtype, device=self.device_)
        out = []
        with torch.no_grad():
            if self.orientation == "item":  # every item's hidden code, read out at each user's softmax unit
                hidden = self._hidden_means(np.arange(len(self.items_)))
            for s in range(0, len(rows), 128):  # (128, items, K) at a time
                if self.orientation == "user":
                    logits = net.visible_logits(self._hidden_means(rows[s: s + 128]))
                else:
                    unit = torch.as_tensor(rows[s: s + 128], device=self.device_)
                    logits = torch.einsum("ih,ukh->uik", hidden, net.W[unit]) + net.b[unit][:, None]
                out.append(torch.softmax(logits, -1) @ values)
        w = float(self.baseline_weight)
        baseline = self.global_mean_ + self.user_bias_[rows][:, None] + self.item_bias_[None, :]
        rbm = torch.cat(out).cpu().numpy().astype(np.float64)
        return np.clip((1 - w) * rbm + w * baseline, self._levels()[0], self._levels()[-1])

    def recommend(self, user, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The n items with the highest expected rating for `user` (columns item, score), best first. Items the
        user rated in training are left out unless exclude_seen=False. An unknown user gets the items with
        the highest (shrunk) mean ratings."""
        check_is_fitted(self, "module_")
        if not isinstance(n, int | np.integer) or n < 1:
            raise DataError(f"n must be a positive integer, got {n!r}")
        row = int(self._user_index([user])[0])
        if row < 0:
            scores = self.item_mean_.copy()
        else:
            scores = self.predict_all([user])[0]
            if exclude_seen:
                scores[self.train_matrix_[row] > 0] = -np.inf
        order = np.argsort(-scores, kind="stable")[:n]
        order = order[np.isfinite(scores[order])]
        return pd.DataFrame({"item": self.items_[order], "score": scores[order]})

    def score(self, X, y=None) -> float:
        """Minus the RMSE of the predicted ratings on a ratings table (higher is better, as scikit-learn expects)."""
        ratings = self._check(X, "ratings")
        pred = self.predict(ratings["user"].to_numpy(), ratings["item"].to_numpy())
        return -float(np.sqrt(np.mean((pred - ratings["rating"].to_numpy()) ** 2)))

    # --- persistence: id maps in the config, the training ratings as tensors ------------------------------
    def _fitted_info(self) -> dict[str, Any]:
        return {**super()._fitted_info(), "users": _json_ids(self.users_), "items": _json_ids(self.items_)}

    def _extra_state(self) -> dict[str, torch.Tensor]:
        u, i = np.nonzero(self.train_matrix_)
        average = getattr(self, "_average", None)  # mid-training only: a resumed run continues the same mean
        if average is not None:
            return {**{f"average.{k}": v for k, v in average.items()},
                    "average_count": torch.tensor(self._n_averaged), **self._ratings_state(u, i)}
        return self._ratings_state(u, i)

    def _ratings_state(self, u: np.ndarray, i: np.ndarray) -> dict[str, torch.Tensor]:
        return {"train_users": torch.from_numpy(u.astype(np.int64)),
                "train_items": torch.from_numpy(i.astype(np.int64)),
                "train_levels": torch.from_numpy(self.train_matrix_[u, i].astype(np.int64))}

    def _load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        average = {k[8:]: v for k, v in tensors.items() if k.startswith("average.")}
        if average:
            self._average, self._n_averaged = average, int(tensors["average_count"])
        if getattr(self, "train_matrix_", None) is None:  # loading (not resuming a fit): rebuilt in _from_config
            self._saved_ratings = tensors

    @classmethod
    def _from_config(cls, config: dict[str, Any], folder: Path):
        fitted = config.get("fitted") or {}
        if not isinstance(fitted.get("users"), list) or not isinstance(fitted.get("items"), list):
            raise DataError(f"{folder}: config.json lacks the user/item ids of a RatingsRBM")
        model = super()._from_config(config, folder)
        model.users_, model.items_ = np.asarray(fitted["users"]), np.asarray(fitted["items"])
        tensors = model.__dict__.pop("_saved_ratings", {})
        try:
            u, i, level = (tensors[k].numpy() for k in ("train_users", "train_items", "train_levels"))
            model._set_train_matrix(u, i, level)
        except (KeyError, IndexError, ValueError) as e:
            raise DataError(f"{folder}: saved RatingsRBM is missing or has corrupt training ratings ({e})") from None
        return model


def _sort_key(value) -> tuple:
    """Ids sort numerically when they are numbers, else as text."""
    return (0, float(value), "") if isinstance(value, int | float | np.integer | np.floating) else (1, 0.0, str(value))


def _positions(known: np.ndarray, ids) -> np.ndarray:
    """Row/column of each id in `known`, -1 for an unknown id. Numeric ids match numerically (so "196" from
    the command line finds user 196); text ids match as text."""
    ids = pd.Series(np.atleast_1d(np.asarray(ids, dtype=object)))
    if known.dtype.kind in "iuf":
        return pd.Index(known.astype(np.float64)).get_indexer(pd.to_numeric(ids, errors="coerce").to_numpy(float))
    return pd.Index(known.astype(str)).get_indexer(ids.astype(str).to_numpy())


def _json_ids(ids: np.ndarray) -> list:
    return [v.item() if hasattr(v, "item") else v for v in ids]


__all__ = ["RatingsRBM", "RatingsRBMNet"]
