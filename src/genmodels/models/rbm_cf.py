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

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted

from ..data import Dataset
from ..data.ratings import (
    check_ratings,
    encode_ratings,
    id_positions,
    json_ids,
    rating_grid,
    rating_statistics,
)
from ..errors import DataError
from ..nn.ratings import RatingsRBMNet
from ..train import StepInfo
from .base import TrainedModel
from .params import (
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    TRAINING,
    UNIT,
    Boolean,
    Interval,
    Options,
    Pair,
    Sizes,
)

# Pseudo-ratings pulling a cold-start item mean toward the global mean, so that an item seen once with a 5
# does not top every new user's list.
MEAN_SHRINKAGE = 5.0


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
    Under torchrun each process trains on its share of the rows and the CD updates are the processes' mean.
    """

    family = "rbm_cf"
    capabilities = frozenset({"recommend"})
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_hidden": [POSITIVE_INT],
        "rating_scale": [Pair(Interval(float, None, None))],
        "rating_step": [POSITIVE],
        "cd_k": [POSITIVE_INT, Sizes(min_len=1, low=1)],
        "lr": [POSITIVE],
        "momentum": [Interval(float, 0, 1, closed="left")],
        "weight_decay": [NON_NEGATIVE],
        "conditional": [Boolean()],
        "average_last": [UNIT],
        "baseline_weight": [UNIT],
        "orientation": [Options("user", "item")],
        **TRAINING,
    }

    def __init__(self, n_hidden: int = 100, rating_scale: tuple[float, float] = (1, 5), rating_step: float = 1.0,
                 cd_k: int | tuple[int, ...] = (1, 3, 5), lr: float = 0.01, momentum: float = 0.9,
                 weight_decay: float = 0.01, conditional: bool = False, average_last: float = 0.5,
                 baseline_weight: float = 0.0, orientation: str = "user", epochs: int = 40, batch_size: int = 32,
                 seed: int = 0, device: str = "auto", verbose: int = 1, checkpoint_every: int = 0,
                 sample_every: int = 0):
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

    def _validate_params(self) -> None:
        super()._validate_params()
        self._levels()  # the scale must be a whole number of steps: a check on two parameters together

    # --- data ----------------------------------------------------------------------------------------------
    def _levels(self) -> np.ndarray:
        return rating_grid(self.rating_scale, self.rating_step)

    def validate_ratings(self, ratings, what: str = "ratings") -> pd.DataFrame:
        """A clean copy of a ratings table (user, item, rating) with every rating inside this model's scale."""
        levels = self._levels()
        return check_ratings(ratings, scale=(float(levels[0]), float(levels[-1])), what=what)

    def fit(self, X, y=None, *, implicit=None, run_dir: str | Path | None = None, resume: bool = False,
            overwrite: bool = False, time_budget: float | None = None, logger: str | None = None):
        """Train on a ratings table X (DataFrame with columns user, item, rating). `implicit`: optional table of
        (user, item) pairs known to be rated whose ratings are unknown; the conditional model uses them.
        `run_dir`, `resume`, `overwrite`, `time_budget`, `logger`: as ArrayModel.fit (a folder holding a run is refused
        unless resume or overwrite)."""
        self._validate_params()
        data = self._validate_fit(X, y, implicit)
        self._fit_data(data, run_dir, resume, overwrite, time_budget, logger=logger)
        return self

    def _validate_fit(self, X, y=None, implicit=None) -> Dataset:
        if y is not None:
            raise DataError("RatingsRBM.fit takes the ratings table alone (user, item, rating); y is not used")
        if isinstance(X, Dataset):  # e.g. `genmodels train rbm_cf --data ...`: feature rows, not ratings
            raise DataError("RatingsRBM trains on a ratings table (user, item, rating): use "
                            "`genmodels recommend train --ratings FILE|movielens:DIR`")
        ratings = self.validate_ratings(X, "ratings")
        if implicit is not None and not self.conditional:
            raise DataError("implicit= is only used by the conditional model; set conditional=True")
        self.users_, self.items_, u, i, level = encode_ratings(ratings, implicit, self.rating_scale,
                                                               self.rating_step)
        self._set_train_matrix(u, i, level)
        rows = self._rows_matrix()
        self.data_shape_ = self.input_shape_ = (rows.shape[1],)  # the visible softmax units
        self.n_features_in_ = 3
        self.classes_ = []
        return Dataset(rows, None, "ratings")

    def _set_train_matrix(self, u: np.ndarray, i: np.ndarray, level: np.ndarray) -> None:
        """Rating levels per user (rows) and item (columns), plus the statistics the cold-start fallbacks and
        the baseline use (global_mean_, user_mean_, item_mean_, user_bias_, item_bias_)."""
        matrix = np.zeros((len(self.users_), len(self.items_)), np.float32)
        matrix[u, i] = level
        self.train_matrix_ = matrix
        known = level > 0
        stats = rating_statistics(u[known], i[known], self._levels()[level[known] - 1], matrix.shape,
                                  MEAN_SHRINKAGE)
        for name, value in stats.items():
            setattr(self, f"{name}_", value)

    def _rows_matrix(self) -> np.ndarray:
        """The training rows the RBM sees: users x items, or items x users when item-based."""
        if self.orientation == "user":
            return self.train_matrix_
        cached = getattr(self, "_item_rows", None)
        if cached is None or cached.shape[::-1] != self.train_matrix_.shape:
            cached = self._item_rows = np.ascontiguousarray(self.train_matrix_.T)
        return cached

    def user_index(self, users) -> np.ndarray:
        """Row of each user id in `train_matrix_` (-1: unknown to the model)."""
        return id_positions(self.users_, users)

    def item_index(self, items) -> np.ndarray:
        """Column of each item id in `train_matrix_` (-1: unknown to the model)."""
        return id_positions(self.items_, items)

    # --- the model and its training step -------------------------------------------------------------------
    def _build(self, data: Dataset | None) -> None:
        k = len(self._levels())
        self.module_ = RatingsRBMNet(self.data_shape_[0], k, int(self.n_hidden), bool(self.conditional))
        if data is not None:  # visible biases start at the log of each item's rating frequencies
            one_hot = np.stack([(lv == data.X).sum(0) for lv in range(1, k + 1)], 1).astype(np.float32)
            freq = (one_hot + 1.0) / (one_hot.sum(1, keepdims=True) + k)
            with torch.no_grad():
                self.module_.b.copy_(torch.from_numpy(np.log(freq)))

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        net = self.module_
        decayed = [net.W] + ([net.D] if net.D is not None else [])
        groups = [{"params": decayed, "weight_decay": float(self.weight_decay)},
                  {"params": [net.b, net.c], "weight_decay": 0.0}]
        self.optimizer_ = torch.optim.SGD(groups, lr=float(self.lr), momentum=float(self.momentum))
        return [self.optimizer_]

    def _on_epoch_end(self, epoch: int) -> dict[str, float]:
        """Polyak averaging over the last `average_last` of the epochs; the mean replaces the weights at the end.
        It counts epochs, not steps, so it is the same under torchrun (each rank's epoch is its share of rows)."""
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

    def _cd_steps(self, info: StepInfo) -> int:
        """T of CD-T: the schedule `cd_k` in equal stages of the epochs (the loop's own count)."""
        schedule = [int(self.cd_k)] if isinstance(self.cd_k, int | np.integer) else [int(t) for t in self.cd_k]
        epochs = max(1, info.total_steps // max(1, info.steps_per_epoch))
        return schedule[min(len(schedule) - 1, info.epoch * len(schedule) // epochs)]

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        """One CD-T update without autograd: the network sets the gradients, the ranks average them, SGD steps."""
        net, levels = self.module_, batch[0]
        steps = self._cd_steps(info)
        with torch.no_grad():
            out = net.cd_gradients(levels, steps)
            self._average_ranks([p.grad for p in net.parameters() if p.grad is not None])
            self.optimizer_.step()
            v0, vt, mask = out["v0"], out["vt"], out["mask"]
            values = torch.as_tensor(self._levels(), dtype=v0.dtype, device=v0.device)
            n_rated = mask.sum().clamp(min=1)
            err = (((v0 - vt) * values).sum(-1) ** 2).sum() / n_rated  # squared rating error of the reconstruction
        return {"recon_mse": err, "cd_k": float(steps)}

    # --- prediction ----------------------------------------------------------------------------------------
    def _hidden_means(self, rows: np.ndarray) -> torch.Tensor:
        """Mean-field hidden probabilities p̂ for the given training rows (users, or items when item-based)."""
        net = self.module_
        matrix = self._rows_matrix()
        out = []
        with torch.no_grad():
            for s in range(0, len(rows), 256):
                out.append(net.hidden_means(torch.as_tensor(matrix[rows[s: s + 256]], device=self.device_)))
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
        u = self.user_index(users)
        i = self.item_index(items)
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
        rows = self.user_index(users)
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
        row = int(self.user_index([user])[0])
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
        ratings = self.validate_ratings(X, "ratings")
        pred = self.predict(ratings["user"].to_numpy(), ratings["item"].to_numpy())
        return -float(np.sqrt(np.mean((pred - ratings["rating"].to_numpy()) ** 2)))

    # --- persistence: id maps in the config, the training ratings as tensors ------------------------------
    def _fitted_info(self) -> dict[str, Any]:
        return {**super()._fitted_info(), "users": json_ids(self.users_), "items": json_ids(self.items_)}

    def _extra_state(self) -> dict[str, torch.Tensor]:
        u, i = np.nonzero(self.train_matrix_)
        state = {"train_users": torch.from_numpy(u.astype(np.int64)),
                 "train_items": torch.from_numpy(i.astype(np.int64)),
                 "train_levels": torch.from_numpy(self.train_matrix_[u, i].astype(np.int64))}
        average = getattr(self, "_average", None)  # mid-training only: a resumed run continues the same mean
        if average is not None:
            state.update({f"average.{k}": v for k, v in average.items()}, average_count=torch.tensor(self._n_averaged))
        return state

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


__all__ = ["RatingsRBM"]
