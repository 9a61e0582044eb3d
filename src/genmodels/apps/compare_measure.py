"""The measurements of `genmodels compare`: one trained model (and its class-conditional sampler) measured on
everything it can do. What a model can do is asked of the model (`supports(...)`, `is_conditional()`, its own
`log_likelihood` and `anomaly_score`), never read off its family's name; a measurement it cannot take is n/a
with the reason, and one that fails is n/a with the error (the comparison goes on)."""

from __future__ import annotations

import inspect
import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import DataError
from ..models.base import estimate_log_likelihood
from ..report import save_curves, save_image_grid
from ..report.plots import PANEL_PAD, panel_rows, panel_scale


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    better: str  # "higher", "lower", or "" for numbers shown without a winner
    about: str


METRICS: tuple[Metric, ...] = (
    Metric("fid", "FID", "lower", "Fréchet distance of samples to test images on the feature network"),
    Metric("precision", "precision", "higher", "share of samples on the test images' feature manifold (fidelity)"),
    Metric("recall", "recall", "higher", "share of test images on the samples' feature manifold (diversity)"),
    Metric("nll_nats", "test NLL (nats/image)", "lower",
           "the model's own log_likelihood: an IWAE bound (an upper bound on the NLL) or an AIS estimate; "
           "none for a family that defines no tractable density"),
    Metric("anomaly_auroc", "anomaly ROC AUC", "higher", "test images vs. the same images mirrored left-right"),
    Metric("denoise_psnr_db", "denoised PSNR (dB)", "higher", "Gaussian noise (sd 0.3) removed by reconstruct"),
    Metric("denoise_ssim", "denoised SSIM", "higher", "same images as the PSNR row"),
    Metric("linear_probe_acc", "linear-probe accuracy", "higher", "logistic regression on the model's features"),
    Metric("augment_gain", "augmentation gain", "higher",
           "classifier accuracy with synthetic labelled images minus without (small real set)"),
    Metric("train_seconds", "training time (s)", "", "wall time of fit (the budget is the same for all)"),
    Metric("train_steps", "training steps", "", "steps of the main model in the budget (all its training phases)"),
)
METRIC_KEYS = tuple(m.key for m in METRICS)


@dataclass(frozen=True)
class Settings:
    """How much data each measurement uses: small sets use all of it, MNIST-sized ones a fixed subset."""

    small: bool  # few features (the bundled 8x8 digits): cheaper estimates
    quality_n: int
    nll_rows: int
    iwae_k: int
    ais_runs: int
    ais_betas: int
    eval_rows: int  # test rows for anomaly, denoising and the probe
    probe_train: int
    augment_per_class: int
    sampling_burn_in: int

    @classmethod
    def for_data(cls, n_features: int) -> Settings:
        if n_features <= 256:
            return cls(True, 2000, 360, 100, 100, 2000, 1000, 2000, 10, 200)
        return cls(False, 2000, 500, 100, 100, 5000, 1000, 5000, 20, 200)

    def likelihood_options(self) -> dict[str, int]:
        """The size of each kind of estimate: IWAE importance samples (k), AIS chains and temperatures."""
        return {"k": self.iwae_k, "n_runs": self.ais_runs, "n_betas": self.ais_betas}


@dataclass(frozen=True)
class Context:
    """What every family is measured against: the same data, settings, feature network and seed."""

    train: Dataset
    test: Dataset
    settings: Settings
    labelled: bool
    network: Any  # the feature network for FID/PR, None without labels
    binarized: bool  # the models see binary images (densities are then probabilities, comparable in nats)
    seed: int

    def rows(self, data: Dataset, n: int) -> np.ndarray:
        """The first n rows of a fixed random order (a stratified-enough draw, the same for every family)."""
        return np.sort(np.random.default_rng(self.seed).permutation(len(data))[:n])


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _finite_or_none(v: float) -> float | None:
    return float(v) if is_number(v) else None


class Measured:
    """One family's outcome: `values` (metric -> number or None), `reasons` (why a metric is None),
    `details` (supporting numbers) and `figures` (PNG paths with captions)."""

    def __init__(self):
        self.values: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
        self.reasons: dict[str, str] = {}
        self.details: dict[str, Any] = {}
        self.figures: list[tuple[str, str]] = []
        self.panel: tuple[str, str] | None = None  # the side-by-side figure's image of this family, caption

    def na(self, keys: Sequence[str], reason: str) -> None:
        for k in keys:
            self.values[k], self.reasons[k] = None, reason

    def measure(self, keys: str | Sequence[str], fn: Callable[[], dict[str, Any] | None]) -> None:
        """Run one measurement; a string value is n/a with that reason; any failure is n/a for these keys."""
        keys = [keys] if isinstance(keys, str) else list(keys)
        try:
            got = fn() or {}
        except Exception as e:  # a failing measurement must not stop the comparison
            reason = f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")
            if not isinstance(e, DataError):
                self.details.setdefault("tracebacks", []).append(traceback.format_exc(limit=3))
            got = dict.fromkeys(keys, reason)
        for k in keys:
            v = got.get(k)
            if isinstance(v, str):
                self.values[k], self.reasons[k] = None, v
            elif v is not None:
                self.values[k] = float(v)


class Measurements:
    """Measures `model` (the main model) and `sampler` (the class-conditional model for augmentation, or None
    with `no_sampler_why`) into `out`; pictures go to `run_dir`, captions start with `title`."""

    def __init__(self, title: str, model, sampler, no_sampler_why: str, history: list[dict[str, Any]],
                 run_dir: Path, ctx: Context, out: Measured):
        self.title, self.model, self.sampler, self.no_sampler_why = title, model, sampler, no_sampler_why
        self.history, self.run_dir, self.ctx, self.out = history, run_dir, ctx, out

    def run(self) -> None:
        m = self.out
        m.measure([], self.pictures)
        m.measure(["fid", "precision", "recall"], self.quality)
        m.measure("nll_nats", self.nll)
        m.measure("anomaly_auroc", self.anomaly)
        m.measure(["denoise_psnr_db", "denoise_ssim"], self.denoising)
        m.measure("linear_probe_acc", self.probe)
        m.measure("augment_gain", self.augmentation)

    def _figure(self, path: Path | str, caption: str) -> None:
        self.out.figures.append((str(path), f"{self.title} {caption}"))

    def _is_image(self) -> bool:
        return len(self.model.data_shape_) == 3

    def _cannot(self, keys: Sequence[str], capability: str) -> dict[str, str] | None:
        if self.model.supports(capability):
            return None
        return dict.fromkeys(keys, f"n/a: {type(self.model).__name__} cannot {capability}")

    # --- the measurements --------------------------------------------------------------------------------------
    def pictures(self) -> None:
        model, seed = self.model, self.ctx.seed
        if self._is_image() and model.supports("sample"):
            labels = None
            if model.is_conditional():
                classes = list(model.classes_)
                images = model.sample(10 * len(classes), y=np.repeat(np.asarray(classes, dtype=object), 10),
                                      seed=seed)
                labels, caption = np.repeat(np.arange(len(classes)), 10), "samples, one row per class"
            else:
                images, caption = model.sample(100, seed=seed), "samples"
            images = np.asarray(images).reshape(len(images), *model.data_shape_)
            path = save_image_grid(self.run_dir / "samples.png", images, ncol=10)
            self._figure(path, caption)
            panel = panel_rows(images, labels)
            path = save_image_grid(self.run_dir / "panel.png", panel, ncol=5, scale=panel_scale(panel),
                                   pad_value=PANEL_PAD)
            self.out.panel = (str(path), f"{self.title}: " + ("a row per class" if labels is not None
                                                              else "unconditional samples"))
        series = loss_series(self.history)
        if series:
            # a run of several phases (a DBN's layers, each restarting its count) is drawn phase after phase
            phased = len(phase_ends(self.history)) > 1
            path = save_curves(self.run_dir / "loss_curve.png", series,
                               xlabel="epoch (phase 1, then phase 2, ...)" if phased else "epoch",
                               title=f"{self.title} training losses")
            self._figure(path, "training losses per epoch")

    def quality(self) -> dict[str, Any]:
        keys = ("fid", "precision", "recall")
        if self.ctx.network is None:
            return dict.fromkeys(keys, "n/a: the data has no class labels for the feature network")
        if (cannot := self._cannot(keys, "sample")) is not None:
            return cannot
        from ..metrics import sample_quality

        ctx, model = self.ctx, self.model
        idx = ctx.rows(ctx.test, ctx.settings.quality_n)
        real = ctx.test.X[idx]
        labels = None
        if model.is_conditional():  # conditional models are asked for every class in turn
            labels = np.asarray(model.classes_, dtype=object)[np.arange(len(idx)) % model.n_classes_]
        fake = model.sample(len(idx), y=labels, seed=ctx.seed + 1)
        q = sample_quality(ctx.network, real, fake.reshape(len(fake), *real.shape[1:]), labels)
        self.out.details["sample_quality"] = {k: v for k, v in q.items() if k not in keys}
        return q

    def nll(self) -> dict[str, Any]:
        model, ctx = self.model, self.ctx
        if not model.supports("likelihood"):
            why = type(model).no_likelihood_why or (
                f"{type(model).__name__} defines no density" if not model.supports("density")
                else f"{type(model).__name__} has no likelihood estimate")
            return {"nll_nats": f"n/a: {why}"}
        if not ctx.binarized:  # continuous densities depend on each model's scaling of the data
            return {"nll_nats": "n/a: the data is not binary, so densities (per unit of each model's scale) are "
                                "not comparable across families"}
        X = ctx.test.X[ctx.rows(ctx.test, ctx.settings.nll_rows)]
        est = estimate_log_likelihood(model, X, **ctx.settings.likelihood_options())
        lo, hi = est.interval
        self.out.details["nll"] = {"method": est.method, "rows": len(X), "n_runs": est.n_runs,
                                   "n_betas": est.n_betas, "log_z": _finite_or_none(est.log_z),
                                   "nll_interval": [_finite_or_none(-hi), _finite_or_none(-lo)]}
        return {"nll_nats": -est.mean}

    def anomaly(self) -> dict[str, Any]:
        if not self._is_image():
            return {"anomaly_auroc": "n/a: the mirrored-image protocol needs images"}
        if (cannot := self._cannot(["anomaly_auroc"], "anomaly")) is not None:
            return cannot
        from ..metrics import anomaly_metrics

        inliers = self.ctx.test.X[self.ctx.rows(self.ctx.test, self.ctx.settings.eval_rows)]
        outliers = inliers[..., ::-1].copy()  # 0, 1 and 8 barely change: a protocol no family aces
        X = np.concatenate([inliers, outliers])
        y = np.r_[np.zeros(len(inliers)), np.ones(len(outliers))]
        m = anomaly_metrics(y, self.model.anomaly_score(X))
        doc = inspect.getdoc(type(self.model).anomaly_score) or ""
        self.out.details["anomaly"] = {"protocol": "test images (normal) vs. the same images mirrored left-right",
                                       "score": doc.split("\n\n")[0].replace("\n", " "),
                                       "average_precision": m["average_precision"], "n": m["n"]}
        return {"anomaly_auroc": m["roc_auc"]}

    def denoising(self) -> dict[str, Any]:
        if (cannot := self._cannot(["denoise_psnr_db", "denoise_ssim"], "reconstruct")) is not None:
            return cannot
        from .denoise import corrupt, denoise, denoise_scores, write_denoise_grid

        clean = self.ctx.test.X[self.ctx.rows(self.ctx.test, self.ctx.settings.eval_rows)]
        scores = denoise_scores(self.model, clean, kind="gaussian", level=0.3, seed=self.ctx.seed)
        self.out.details["denoise"] = {k: scores[k] for k in ("kind", "level", "n", "psnr_noisy", "ssim_noisy")
                                       if k in scores}
        if self._is_image():
            noisy = corrupt(clean[:16], "gaussian", 0.3, self.ctx.seed)
            path = write_denoise_grid(clean[:16], noisy, denoise(self.model, noisy), self.run_dir / "denoise.png")
            self._figure(path, "denoising: noisy, denoised, truth")
        return {"denoise_psnr_db": scores["psnr_denoised"], "denoise_ssim": scores["ssim_denoised"]}

    def probe(self) -> dict[str, Any]:
        if not self.ctx.labelled:
            return {"linear_probe_acc": "n/a: the data has no class labels"}
        if (cannot := self._cannot(["linear_probe_acc"], "transform")) is not None:
            return cannot
        from .represent import features, probe_scores, save_feature_map

        ctx = self.ctx
        tr, te = ctx.rows(ctx.train, ctx.settings.probe_train), ctx.rows(ctx.test, ctx.settings.eval_rows)
        scores = probe_scores(self.model, ctx.train.X[tr], ctx.train.y[tr], ctx.test.X[te], ctx.test.y[te],
                              seed=ctx.seed)
        self.out.details["probe"] = {k: v for k, v in scores.items() if k != "linear_probe_acc"}
        path = save_feature_map(features(self.model, ctx.test.X[te]), ctx.test.y[te],
                                self.run_dir / "feature_map.png", method="pca", seed=ctx.seed)
        self._figure(path, "test features, PCA to 2-D")
        return scores

    def augmentation(self) -> dict[str, Any]:
        ctx = self.ctx
        if not ctx.labelled:
            return {"augment_gain": "n/a: the data has no class labels"}
        if self.sampler is None:
            return {"augment_gain": self.no_sampler_why}
        from .augment import augment_scores

        per_class = ctx.settings.augment_per_class
        rng = np.random.default_rng(ctx.seed)
        small = np.concatenate([rng.permutation(np.flatnonzero(ctx.train.y == c))[:per_class]
                                for c in np.unique(ctx.train.y)])
        te = ctx.rows(ctx.test, ctx.settings.eval_rows)
        classes = np.asarray(ctx.train.classes, dtype=object) if ctx.train.classes else None

        def labels(codes: np.ndarray) -> np.ndarray:
            return codes if classes is None else np.asarray([classes[c] for c in codes])

        scores = augment_scores(self.sampler, ctx.train.X[small], labels(ctx.train.y[small]),
                                ctx.test.X[te], labels(ctx.test.y[te]), ratio=1.0, seed=ctx.seed)
        self.out.details["augment"] = {k: v for k, v in scores.items() if is_number(v) or isinstance(v, str)}
        self.out.details["augment"]["n_real"] = len(small)
        return {"augment_gain": scores["gain"]}


# --- training histories ---------------------------------------------------------------------------------------
def phase_ends(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last record of each training phase (a model trained in phases, e.g. a DBN's layers, restarts its
    step count in each)."""
    ends = []
    for i, rec in enumerate(history):
        nxt = history[i + 1] if i + 1 < len(history) else None
        if nxt is None or int(nxt.get("step", 0)) <= int(rec.get("step", 0)):
            ends.append(rec)
    return ends


def loss_series(history: list[dict[str, Any]]) -> dict[str, list[float]]:
    skip = {"epoch", "step", "seconds", "kind", "reason"}
    keys = list(dict.fromkeys(k for r in history for k, v in r.items() if k not in skip and is_number(v)))
    return {k: [float(r[k]) if is_number(r.get(k)) else float("nan") for r in history] for k in keys}
