"""Deep belief networks (Hinton, Osindero & Teh 2006): a stack of RBMs trained greedily, layer by layer, each
on the hidden probabilities of the one below; sampled by Gibbs sampling in the top RBM and one pass down;
fine-tuned with labels as an MLP classifier initialised from the RBM weights (Hinton & Salakhutdinov 2006)."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import type_of_target
from torch import nn

from ..data import DataInfo, Dataset
from ..errors import DataError
from ..nn.rbm import RBMNet, bernoulli
from ..train import StepInfo, Trainer, check_run_folder
from ..train.checkpoint import checkpoint_finished
from ..train.tblog import check_logger
from ..train.trainer import is_positive_number
from .array import ArrayModel
from .base import budget_epochs
from .params import (
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    PRECISION,
    TRAINING,
    Boolean,
    Interval,
    Sizes,
)
from .rbm import RBM


class DBNNet(nn.Module):
    """The RBM stack plus (when trained with labels) a softmax layer on top of the last hidden layer."""

    def __init__(self, n_visible: int, layers: Sequence[int], n_classes: int):
        super().__init__()
        sizes = [n_visible, *layers]
        self.rbms = nn.ModuleList(RBMNet(a, b) for a, b in itertools.pairwise(sizes))
        self.head = nn.Linear(sizes[-1], n_classes) if n_classes else None

    def up(self, x: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        """Hidden probabilities of every layer in turn; returns the top layer's."""
        for rbm in self.rbms:
            x = torch.sigmoid(torch.addmm(rbm.hidden_bias, x, rbm.weight.t()))
            if dropout and self.training:
                x = F.dropout(x, dropout)
        return x

    def forward(self, x: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        return self.head(self.up(x, dropout))


class _BudgetShares:
    """Splits a time budget over `phases` run one after another: each gets an equal share of what is left."""

    def __init__(self, budget: float | None, phases: int):
        if budget is not None and not is_positive_number(budget):
            raise DataError(f"time_budget must be a positive number of seconds (or None), got {budget!r}")
        self.deadline = None if budget is None else time.perf_counter() + float(budget)
        self.left = max(1, phases)

    def next(self) -> float | None:
        if self.deadline is None:
            return None
        share = (self.deadline - time.perf_counter()) / self.left
        self.left = max(1, self.left - 1)
        return max(share, 1e-3)  # a spent budget still lets the phase take its one step


class DBN(ClassifierMixin, ArrayModel):
    """Deep belief network with the scikit-learn estimator (and classifier) contract.

    layers: hidden layer sizes, bottom to top. pretrain: greedy RBM pretraining (False = the same network
    from a random initialisation, the baseline pretraining has to beat).
    pretrain_epochs, pretrain_lr, cd_k, persistent, momentum, weight_decay: each layer's RBM.
    epochs, lr, dropout: supervised fine-tuning (Adam, cosine-decayed lr), run when fit gets labels y.
    burn_in: Gibbs steps in the top RBM before `sample` returns.
    """

    family = "dbn"
    capabilities = frozenset({"sample", "transform", "reconstruct", "anomaly", "classify", "partial_fit"})
    no_likelihood_why = "no likelihood estimate for a DBN (AIS on its top RBM bounds p(h), not p(x))"
    _needs_unit_interval = True
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "layers": [Sizes()], "pretrain": [Boolean()], "pretrain_epochs": [POSITIVE_INT], "pretrain_lr": [POSITIVE],
        "cd_k": [POSITIVE_INT], "persistent": [Boolean()], "momentum": [Interval(float, 0, 1, closed="left")],
        "weight_decay": [NON_NEGATIVE], "epochs": [NON_NEGATIVE_INT], "lr": [POSITIVE],
        "dropout": [Interval(float, 0, 1, closed="left")], "burn_in": [NON_NEGATIVE_INT], "precision": [PRECISION],
        **{k: v for k, v in TRAINING.items() if k != "epochs"},
    }

    def __init__(self, layers: Sequence[int] = (500, 500, 2000), pretrain: bool = True, pretrain_epochs: int = 10,
                 pretrain_lr: float = 0.1, cd_k: int = 1, persistent: bool = False, momentum: float = 0.5,
                 weight_decay: float = 2e-4, epochs: int = 30, lr: float = 1e-3, dropout: float = 0.0,
                 burn_in: int = 1000, batch_size: int = 100, precision: str = "fp32", seed: int = 0,
                 device: str = "auto", verbose: int = 1, checkpoint_every: int = 0, sample_every: int = 0):
        self.layers = layers
        self.pretrain = pretrain
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.cd_k = cd_k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.lr = lr
        self.dropout = dropout
        self.burn_in = burn_in
        self.batch_size = batch_size
        self.precision = precision
        self.seed = seed
        self.device = device
        self.verbose = verbose
        self.checkpoint_every = checkpoint_every
        self.sample_every = sample_every

    @classmethod
    def recommended(cls, info: DataInfo, budget: float | None = None, task: str = "generate") -> dict:
        """compare: a two-layer stack, unsupervised greedy pretraining only (fine-tuning would turn its
        recognition weights into a classifier and spoil sampling), CD-1 with momentum
        (benchmarks/compare_mnist.py)."""
        if task == "compare":
            small = info.n_features <= 256
            return {"layers": (128, 64) if small else (500, 500), "pretrain_lr": 0.05, "cd_k": 1, "persistent": False,
                    "momentum": 0.5, "burn_in": 200, "batch_size": 32 if small else 100,
                    **budget_epochs(budget, "pretrain_epochs")}
        return {}

    # --- fitting -------------------------------------------------------------------------------------------
    def fit(self, X, y=None, *, run_dir: str | Path | None = None, resume: bool = False, overwrite: bool = False,
            time_budget: float | None = None, logger: str | None = None):
        """Greedy layer-wise pretraining on every row of X (each layer's run in run_dir/layer_N), then, with
        labels y, supervised fine-tuning of the whole stack plus a softmax layer. Rows labelled -1 are
        unlabelled (scikit-learn's semi-supervised convention): they take part in pretraining only.
        `time_budget` (seconds) is shared by the phases in order: each pretrained layer and the fine-tuning
        get an equal share of what is left when they start (time a phase leaves unused goes to the later
        ones); `budget_exhausted_` is True when any phase stopped on its share. `logger="tensorboard"`: each
        phase's live log in its own run folder's tb/ (run_dir/layer_N/tb, run_dir/tb for the fine-tuning)."""
        self._validate_params()
        check_run_folder(None, resume, overwrite)
        check_logger(logger, None if run_dir is None else Path(run_dir))
        everything = self._validate_fit(X, None)
        data = everything
        if y is not None:
            y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
            if type_of_target(y_arr) in ("continuous", "continuous-multioutput"):
                raise DataError("y: Unknown label type: continuous values; a DBN classifier needs class labels")
            labelled = ~np.isin(y_arr, [-1]) if y_arr.ndim == 1 and len(y_arr) == len(everything) else None
            if labelled is not None and not labelled.any():
                raise DataError("y: every row is -1 (unlabelled); give some labels or call fit(X) alone")
            if labelled is not None and not labelled.all():
                data = self._validate_fit(everything.X[labelled], y_arr[labelled])
            else:
                data = self._validate_fit(everything.X, y_arr)
            if self.n_classes_ < 2:
                raise DataError(f"y has {self.n_classes_} class; a classifier needs at least two")
        fine_tune = data.y is not None and int(self.epochs) > 0
        shares = _BudgetShares(time_budget, len(self.layers) * bool(self.pretrain) + fine_tune)
        self._pretrained = (self._pretrain_layers(everything, run_dir, resume, overwrite, shares, logger)
                            if self.pretrain else None)
        history = [rec for rbm in self._pretrained or [] for rec in rbm.history_]
        seconds = sum(rbm.train_seconds_ for rbm in self._pretrained or [])
        exhausted = any(rbm.budget_exhausted_ for rbm in self._pretrained or [])
        stops = [f"layer {i + 1}: {rbm.stop_reason_}" for i, rbm in enumerate(self._pretrained or []) if rbm.stop_reason_]
        if fine_tune:
            restart = resume and getattr(self, "_restart_above", False)  # the stack under it changed: start over
            self._progress_label = f"{type(self).__name__} fine-tuning" if self.pretrain else None
            Trainer(self, run_dir, resume and not restart, time_budget=shares.next(),
                    overwrite=overwrite or restart, logger=logger).run(data)
            self.history_, self.train_seconds_ = history + self.history_, seconds + self.train_seconds_
            self.budget_exhausted_ = exhausted or self.budget_exhausted_
            stops += [f"fine-tuning: {self.stop_reason_}"] if self.stop_reason_ else []
        else:  # unsupervised: the pretrained stack is the model
            from ..train import resolve_device

            self.device_ = resolve_device(self.device)
            self._build(data)
            self.module_.to(self.device_).eval()
            self.history_, self.train_seconds_ = history, seconds
            self.budget_exhausted_ = exhausted
        self.stop_reason_ = "; ".join(stops) or None
        self._pretrained = None
        return self

    def partial_fit(self, X, y=None, classes=None):
        """One more epoch of supervised fine-tuning (the first call builds an unpretrained network). `classes`
        is accepted for scikit-learn's partial_fit convention; the classes are those of the first call's y."""
        if y is None:
            raise DataError("DBN.partial_fit fine-tunes the classifier: call partial_fit(X, y) with labels")
        return super().partial_fit(X, y)

    def _pretrain_layers(self, data: Dataset, run_dir: str | Path | None, resume: bool, overwrite: bool,
                         shares: _BudgetShares, logger: str | None = None) -> list[RBM]:
        """Each layer's RBM in run_dir/layer_N. On resume, once a layer trains further (its run had not
        finished), the layers above it restart from scratch: their runs saw the lower layer's older features."""
        rbms = []
        x = data.X.reshape(len(data), -1)
        self._restart_above = False
        for i, size in enumerate(self.layers):
            rbm = RBM(n_hidden=int(size), cd_k=self.cd_k, persistent=self.persistent, lr=self.pretrain_lr,
                      momentum=self.momentum, weight_decay=self.weight_decay, epochs=int(self.pretrain_epochs),
                      batch_size=self.batch_size, seed=int(self.seed) + i, device=self.device, verbose=self.verbose,
                      checkpoint_every=self.checkpoint_every)
            rbm._progress_label = f"{type(self).__name__} layer {i + 1}/{len(self.layers)}"
            layer_dir = None if run_dir is None else Path(run_dir) / f"layer_{i + 1}"
            layer_resume = resume and not self._restart_above
            continues = layer_resume and not checkpoint_finished(layer_dir)
            rbm.fit(x, run_dir=layer_dir, resume=layer_resume, overwrite=overwrite or (resume and not layer_resume),
                    time_budget=shares.next(), logger=logger)
            self._restart_above = self._restart_above or continues
            rbms.append(rbm)
            if i + 1 < len(self.layers):
                x = rbm.transform(x)  # the next layer learns the hidden probabilities of this one
        return rbms

    def _build(self, data: Dataset | None) -> None:
        n_classes = self.n_classes_ if data is None or data.y is not None else 0
        net = DBNNet(self.n_features_in_, [int(n) for n in self.layers], n_classes)
        pretrained = getattr(self, "_pretrained", None)
        for i, rbm in enumerate(net.rbms):
            if pretrained:
                rbm.load_state_dict({k: v for k, v in pretrained[i].module_.state_dict().items()
                                     if not k.startswith(("chains", "velocity"))})
            else:  # the same network without pretraining: PyTorch's default Linear initialisation
                bound = 1.0 / math.sqrt(rbm.weight.shape[1])
                rbm.weight.uniform_(-bound, bound)
                rbm.hidden_bias.uniform_(-bound, bound)
            rbm.weight.requires_grad_(True)  # fine-tuning trains the recognition weights by backprop
            rbm.hidden_bias.requires_grad_(True)
        self.module_ = net

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        params = [p for p in self.module_.parameters() if p.requires_grad]
        self.optimizer_ = torch.optim.Adam(params, lr=float(self.lr))
        return [self.optimizer_]

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, torch.Tensor]:
        x, y = batch
        for group in self.optimizer_.param_groups:  # cosine decay: a function of the step, so resume is exact
            group["lr"] = float(self.lr) * 0.5 * (1.0 + math.cos(math.pi * info.progress))
        logits = self.module_(x.flatten(1), float(self.dropout))
        loss = F.cross_entropy(logits.float(), y)
        self._update(self.optimizer_, loss)
        return {"loss": loss.detach(), "accuracy": (logits.detach().argmax(1) == y).float().mean()}

    # --- generative side ---------------------------------------------------------------------------------------
    def _sample(self, n: int, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """Gibbs chains in the top RBM (burn_in steps), then one stochastic pass down to the data layer."""
        rbms = list(self.module_.rbms)
        top = rbms[-1]
        v = bernoulli(torch.full((n, top.weight.shape[1]), 0.5, device=self.device_), generator)
        for _ in range(max(0, int(self.burn_in))):
            v = top.sample_visible(bernoulli(top.hidden_probs(v), generator), generator)
        for rbm in reversed(rbms[:-1]):
            mean = rbm.visible_mean(v)
            v = bernoulli(mean, generator) if rbm is not rbms[0] else mean
        if len(rbms) == 1:
            v = top.visible_mean(bernoulli(top.hidden_probs(v), generator))
        return v.view(n, *self.data_shape_)

    def _flat(self, X, what: str = "X") -> torch.Tensor:
        return self.validate_X(X, what).reshape(-1, self.n_features_in_)

    def transform(self, X) -> np.ndarray:
        """Top-layer hidden probabilities (one deterministic pass up), shaped (N, layers[-1])."""
        return self._batched(self.module_.up, self._flat(X)).cpu().numpy()

    def reconstruct(self, X) -> np.ndarray:
        """Mean-field pass up to the top layer and back down."""
        rbms = list(self.module_.rbms)

        def updown(x: torch.Tensor) -> torch.Tensor:
            h = self.module_.up(x)
            for rbm in reversed(rbms):
                h = rbm.visible_mean(h)
            return h

        return self._as_rows(self._batched(updown, self._flat(X)))

    def score_samples(self, X) -> np.ndarray:
        """Higher = more normal: negative free energy of the data under the first RBM (a proxy for log p(x);
        fine-tuning changes these weights discriminatively, so use it on unsupervised DBNs)."""
        return -self._batched(self.module_.rbms[0].free_energy, self._flat(X)).cpu().numpy()

    def anomaly_score(self, X, part: str | None = None) -> np.ndarray:
        """Higher = more anomalous: the free energy of the data under the first RBM (-score_samples)."""
        return -np.asarray(self.score_samples(X), dtype=np.float64)

    @property
    def components_(self) -> np.ndarray:
        """The first layer's weights W, shaped (layers[0], n_features) as in scikit-learn's RBM."""
        return self.module_.rbms[0].weight.detach().cpu().numpy()

    # --- classifier side -------------------------------------------------------------------------------------
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shaped (N, n_classes), columns in the order of `classes_`."""
        x = self._flat(X)  # checks that the model is fitted first
        if self.module_.head is None:
            raise DataError("this DBN was trained without labels; fit(X, y) to fine-tune a classifier")
        return self._batched(lambda xb: torch.softmax(self.module_(xb), 1), x).cpu().numpy()

    def predict(self, X) -> np.ndarray:
        best = self.predict_proba(X).argmax(1)
        return np.asarray(self.classes_)[best]
