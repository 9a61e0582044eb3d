"""The contract every family satisfies, in two layers:

- `TrainedModel`: every family. Hyperparameters only in `__init__`, checked declaratively at `fit`
  (`_parameter_constraints`, see params.py); what the class can do in `capabilities` (apps and the CLI ask
  `supports(...)`, never a family's name); its own settings for a data size and budget in `recommended`; the
  Trainer hooks (`_build`, `_optimizers`, `_training_step(batch, info)`); the one update path (`_update`:
  zero-grad, backward, the cross-rank gradient average, the step; `_average_ranks` for CD statistics); seeding;
  save/load as safetensors + JSON.
- `ArrayModel(TrainedModel)` (array.py): X in, rows out (VAE, GAN, RBM, DBN): validation of X at the edge, `sample`,
  `transform`, `reconstruct`, `score_samples`, `anomaly_score`, `log_likelihood` where the family has them.

TabularSynthesizer and RatingsRBM derive from TrainedModel and add their own surface.
"""

from __future__ import annotations

import contextlib
import math
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .. import __version__
from ..data import DataInfo, Dataset
from ..errors import DataError
from ..io import load_state_dict_checked, load_tensors, read_json, save_tensors, write_json
from ..train import StepInfo, Trainer, all_reduce_mean, is_distributed
from .params import check_params

CONFIG = "config.json"
WEIGHTS = "model.safetensors"

# what a family may declare in `capabilities`
CAPABILITIES = frozenset({
    "sample",       # sample(n, ...) draws new rows
    "conditional",  # can be trained on labels and sample(n, y=...) for a class
    "transform",    # transform(X): features / representation
    "reconstruct",  # reconstruct(X): denoising, inpainting
    "density",      # score_samples(X) is log p(x) or a bound on it
    "likelihood",   # log_likelihood(X) -> LikelihoodEstimate
    "anomaly",      # anomaly_score(X): higher = more anomalous
    "classify",     # predict / predict_proba after fit(X, y)
    "partial_fit",  # partial_fit(X): one more epoch
    "recommend",    # predict(user, item) / recommend(user)
    "table",        # fit(DataFrame) / sample -> DataFrame
    "text",         # fit(sentences or text:FILE) / sample -> list of str; text_metrics(sentences)
})


@dataclass(frozen=True)
class LikelihoodEstimate:
    """Mean log-likelihood per row in nats, the one result type of every density family's `log_likelihood`.
    `stderr`: standard error of that mean over the rows. `interval`: what the method can promise about the
    true mean (AIS: log Z +- 3 standard deviations of its estimate of Z, Salakhutdinov & Murray 2008, the upper
    end inf when the weights are too uneven; IWAE: the bound is a lower bound, so (mean, inf); exact: the
    point). `log_z`: the log partition function (nan where the model has none). float(estimate) and
    np.asarray(estimate) are the mean."""

    mean: float
    stderr: float
    log_z: float
    interval: tuple[float, float]
    method: str  # "exact", "ais" or "iwae"
    n_runs: int = 0  # AIS chains, or IWAE importance samples
    n_betas: int = 0

    def __float__(self) -> float:
        return self.mean

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(self.mean, dtype=dtype)


class TrainedModel(BaseEstimator):
    """Base of every family. A family supplies `_build`, `_optimizers` and `_training_step(batch, info)`;
    hyperparameters live only in its `__init__`, each with an entry in `_parameter_constraints`.

    Every family's `__init__` has the training hyperparameters the Trainer reads: `epochs`, `batch_size`,
    `seed`, `device`, `verbose`, `checkpoint_every` (steps; 0 = at epoch ends only), `sample_every` (epochs);
    autograd families also `precision` ("fp32", "bf16" or "fp16": autocast in the update path).
    """

    family: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    _parameter_constraints: ClassVar[dict[str, list]] = {}
    # why a family without "likelihood" has no log-likelihood estimate, in words reports can quote ("" = none given)
    no_likelihood_why: ClassVar[str] = ""

    # --- what the family is and recommends -----------------------------------------------------------------
    def supports(self, capability: str) -> bool:
        """Whether this model can do `capability` (one of CAPABILITIES). Families whose abilities depend on a
        hyperparameter (a GAN without its encoder cannot reconstruct) override this."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}; known: {sorted(CAPABILITIES)}")
        return capability in type(self).capabilities

    @classmethod
    def recommended(cls, info: DataInfo, budget: float | None = None, task: str = "generate") -> dict[str, Any]:
        """The family's own hyperparameters for data like `info` (its size and kind) and a time budget in
        seconds (None: no budget), for `task` ("generate", "compare", "anomaly", "augment"): what compare,
        detect and augment build their models with. Only parameters that differ from the defaults."""
        return {}

    def _validate_params(self) -> None:
        check_params(self)

    # --- hooks a family implements ---------------------------------------------------------------------------
    def _build(self, data: Dataset | None) -> None:
        """Create self.module_ (one nn.Module holding every network). `data` is None when loading."""
        raise NotImplementedError

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        raise NotImplementedError

    def _training_step(self, batch: tuple[torch.Tensor, ...], info: StepInfo) -> dict[str, Any]:
        """One update on `batch`; `info` is the loop position (step, epoch, steps per epoch, total steps,
        world size). Returns the values to log (tensors or floats)."""
        raise NotImplementedError

    def _on_epoch_end(self, epoch: int) -> dict[str, float]:
        return {}

    def _extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors outside module_ that a checkpoint must hold (e.g. persistent chains)."""
        return {}

    def _load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        pass

    def _counters(self) -> dict[str, float]:
        """Numbers a result depends on that the loop must carry across a resume (e.g. DP-SGD steps taken):
        saved in every checkpoint, handed back to `_restore_counters` on resume."""
        return {}

    def _restore_counters(self, counters: dict[str, float]) -> None:
        pass

    def _restore_fitted(self, fitted: dict[str, Any]) -> None:
        """Load time, before `_build(None)`: fitted state a family keeps in config.json's "fitted" section."""

    def _fit_data(self, data: Dataset, run_dir: str | Path | None, resume: bool, overwrite: bool,
                  time_budget: float | None, logger: str | None = None) -> None:
        """Train on validated data through the one Trainer."""
        Trainer(self, run_dir, resume, time_budget=time_budget, overwrite=overwrite, logger=logger).run(data)

    # --- the one update path ---------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager | None:
        """Autocast for the forward passes of a training step when `precision` asks for it (the Trainer enters
        it around `_training_step`); None in fp32, so a step pays for no context at all."""
        precision = getattr(self, "precision", "fp32")
        if precision == "fp32":
            return None
        device = getattr(self, "device_", torch.device("cpu"))
        if precision == "fp16" and device.type != "cuda":
            raise DataError("precision='fp16' needs a CUDA device (its gradient scaler is CUDA's); use 'bf16' on CPU")
        return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)

    def _update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip_norm: float | None = None) -> None:
        """The one update path: zero-grad, backward (scaled for fp16), the gradient average across torchrun
        ranks, optionally clipping the gradients' total norm to `clip_norm` (recurrent nets), the optimizer
        step. The gradients are those of the optimizer's parameters."""
        optimizer.zero_grad(set_to_none=True)
        scaler = self._grad_scaler()
        with torch.autocast(self.device_.type, enabled=False):  # backward runs in the forward's dtypes anyway
            (scaler.scale(loss) if scaler is not None else loss).backward()
        if is_distributed():
            all_reduce_mean([p.grad for group in optimizer.param_groups for p in group["params"]
                             if p.grad is not None])
        if clip_norm:
            if scaler is not None:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]],
                                           float(clip_norm))
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    def _grad_scaler(self) -> torch.amp.GradScaler | None:
        if getattr(self, "precision", "fp32") != "fp16":
            return None
        cached = getattr(self, "_scaler", None)
        if cached is None:
            cached = self._scaler = torch.amp.GradScaler("cuda")
        return cached

    @staticmethod
    def _average_ranks(tensors: list[torch.Tensor]) -> None:
        """In-place mean across torchrun ranks of update statistics computed without autograd (CD families)."""
        all_reduce_mean(tensors)

    # --- seeding ---------------------------------------------------------------------------------------------
    def _generator(self, seed: int | None) -> torch.Generator:
        """The sampling generator: a fresh one for `seed=`, else the model's own stream (seeded by `seed`)."""
        if seed is not None:
            return torch.Generator().manual_seed(int(seed))
        if getattr(self, "_sampling_rng", None) is None:
            self._sampling_rng = torch.Generator().manual_seed(int(self.seed) + 7919)
        return self._sampling_rng

    def _batched(self, fn: Callable[..., torch.Tensor], X: torch.Tensor, *extra: torch.Tensor | None,
                 batch_size: int = 1024) -> torch.Tensor:
        """Run fn over X in batches without gradients (and over matching slices of the extra tensors)."""
        self.module_.eval()
        outs = []
        with torch.no_grad():
            for i in range(0, len(X), batch_size):
                sl = slice(i, i + batch_size)
                outs.append(fn(X[sl], *(e[sl] if e is not None else None for e in extra)))
        return torch.cat(outs)

    # --- persistence -----------------------------------------------------------------------------------------
    def _fitted_info(self) -> dict[str, Any]:
        return {"input_shape": list(self.input_shape_), "data_shape": list(self.data_shape_),
                "classes": list(self.classes_)}

    def _config(self, data: Dataset | None = None) -> dict[str, Any]:
        return {
            "family": self.family,
            "params": self.get_params(deep=False),
            "fitted": self._fitted_info(),
            "data": None if data is None else {"name": data.name, "n_samples": len(data)},
            "versions": {"genmodels": __version__, "torch": torch.__version__, "numpy": np.__version__,
                         "python": platform.python_version()},
        }

    def _write_config(self, run_dir: Path, data: Dataset | None = None) -> None:
        write_json(Path(run_dir) / CONFIG, self._config(data))

    def save(self, path: str | Path) -> Path:
        """Write config.json and model.safetensors into the folder `path` (atomically; other files kept)."""
        check_is_fitted(self, "module_")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        old = read_json(path / CONFIG) if (path / CONFIG).exists() else {}
        config = self._config()
        config["data"] = old.get("data") if old.get("family") == self.family else None
        tensors = {f"model.{k}": v for k, v in self.module_.state_dict().items()}
        tensors.update({f"extra.{k}": v for k, v in self._extra_state().items()})
        save_tensors(path / WEIGHTS, tensors, metadata={"family": self.family})
        write_json(path / CONFIG, config)
        return path

    @classmethod
    def _from_config(cls, config: dict[str, Any], folder: Path):
        source = str(folder / CONFIG)
        params, fitted = config.get("params"), config.get("fitted")
        if not isinstance(params, dict) or not isinstance(fitted, dict):
            raise DataError(f"{source}: missing 'params' or 'fitted' section")
        try:
            model = cls(**coerce_params(cls, params, source))
            model._validate_params()
            model.input_shape_ = tuple(int(d) for d in fitted["input_shape"])
            model.data_shape_ = tuple(int(d) for d in fitted["data_shape"])
            model.classes_ = list(fitted.get("classes", []))
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{source}: malformed config ({e})") from None
        model.n_features_in_ = math.prod(model.data_shape_)
        from ..train import resolve_device

        model.device_ = resolve_device("cpu" if params.get("device", "auto") == "auto" and not
                                       torch.cuda.is_available() else params.get("device", "auto"))
        try:
            model._restore_fitted(fitted)
            with torch.random.fork_rng(devices=[]):  # initial weights are overwritten; keep the caller's RNG
                model._build(None)
        except (TypeError, ValueError, RuntimeError) as e:
            raise DataError(f"{source}: cannot rebuild the model from its config ({e})") from None
        model.module_.to(model.device_).eval()
        tensors = load_tensors(folder / WEIGHTS)
        load_state_dict_checked(model.module_, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
                                str(folder / WEIGHTS))
        model._load_extra_state({k[6:]: v for k, v in tensors.items() if k.startswith("extra.")})
        return model


def estimate_log_likelihood(model: TrainedModel, X, **options: Any) -> LikelihoodEstimate:
    """`model.log_likelihood(X, ...)` with the size options its estimator knows (IWAE: k; AIS: n_runs,
    n_betas); the others are left out, so one call serves every density family."""
    import inspect

    accepted = inspect.signature(model.log_likelihood).parameters
    return model.log_likelihood(X, **{k: v for k, v in options.items() if k in accepted})


def adam(params, device: torch.device, **kwargs) -> torch.optim.Adam:
    """Adam with the fused kernel where torch has one (CPU, CUDA): one pass over each parameter instead of a
    dozen elementwise ops (16% more VAE samples/s on CPU at batch 128; Adam was 10% of a tabular GAN step)."""
    return torch.optim.Adam(params, fused=device.type in ("cpu", "cuda"), **kwargs)


BUDGET_EPOCHS = 100_000  # the epoch count of a run that a time budget stops (in practice the budget ends it)


def budget_epochs(budget: float | None, name: str = "epochs") -> dict[str, int]:
    """For a recipe: with a time budget, the epoch count `name` is only an upper bound (the budget stops
    training); without one, the family's default stands."""
    return {} if budget is None else {name: BUDGET_EPOCHS}


def epochs_for(steps: int, batch: int, n: int, low: int, high: int) -> int:
    """Epochs that give about `steps` updates of `batch` rows on n rows, clipped to [low, high] (recipes that
    fix the number of updates whatever the data size)."""
    return int(np.clip(math.ceil(steps * batch / max(1, n)), low, high))


def coerce_params(cls: type[TrainedModel], params: dict[str, Any], source: str) -> dict[str, Any]:
    """Check hyperparameter names against cls and turn JSON/YAML lists back into tuples where the default
    is a tuple (so a loaded model's get_params equals the saved one's)."""
    defaults = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise DataError(f"{source}: unknown {cls.__name__} hyperparameter(s) {unknown}; "
                        f"valid: {', '.join(sorted(defaults))}")
    return {k: tuple(v) if isinstance(defaults[k], tuple) and isinstance(v, list) else v
            for k, v in params.items()}
