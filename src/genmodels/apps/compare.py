"""`genmodels compare`: the GAN, VAE, RBM and DBN trained under the same time budget on the same data, then
measured side by side on everything each can do; one self-contained report.html (images embedded), report.md
and results.json with the same numbers.

What each family is here (image data in [0, 1] is binarized at 0.5 first, so every family sees the same
binary images; Bernoulli units need values in [0, 1]):
  gan: a class-conditional GAN (when the data has labels) trained with an encoder, so it can reconstruct,
       denoise, score anomalies and give features.
  vae: a VAE on 3/4 of the budget; the other 1/4 trains a class-conditional VAE (CVAE) that supplies the
       labelled samples for augmentation (a CVAE's code leaves the class to its label, so its features make
       a poor probe: the plain VAE is the one measured).
  rbm: a Bernoulli RBM trained by CD-1 (on digits its samples beat PCD-1's at the same budget, FID 20 vs
       285: PCD chains at a constant learning rate mix poorly) on 3/4 of the budget; the other 1/4 trains
       one small RBM per class (PerClassModel) that supplies the labelled samples for augmentation.
  dbn: a two-layer DBN, unsupervised greedy pretraining only (fine-tuning would turn its recognition weights
       into a classifier and spoil sampling); the budget is split over its layers.
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset, load_dataset
from ..errors import DataError
from ..io import write_json, write_text
from ..report import image_tag, save_curves, save_image_grid, write_report

FAMILIES = ("gan", "vae", "rbm", "dbn")
EPOCH_CAP = 100_000  # epochs stay the upper bound; in practice the time budget stops training
SAMPLER_SHARE = 0.25  # of the VAE's and RBM's budget: the class-conditional sampler for augmentation


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
           "VAE: IWAE bound (an upper bound on the NLL); RBM: AIS estimate; GAN and DBN: none"),
    Metric("anomaly_auroc", "anomaly ROC AUC", "higher", "test images vs. the same images mirrored left-right"),
    Metric("denoise_psnr_db", "denoised PSNR (dB)", "higher", "Gaussian noise (sd 0.3) removed by reconstruct"),
    Metric("denoise_ssim", "denoised SSIM", "higher", "same images as the PSNR row"),
    Metric("linear_probe_acc", "linear-probe accuracy", "higher", "logistic regression on the model's features"),
    Metric("augment_gain", "augmentation gain", "higher",
           "classifier accuracy with synthetic labelled images minus without (small real set)"),
    Metric("train_seconds", "training time (s)", "", "wall time of fit (the budget is the same for all)"),
    Metric("train_steps", "training steps", "", "steps of the main model in the budget (DBN: all layers)"),
)
METRIC_KEYS = tuple(m.key for m in METRICS)


@dataclass(frozen=True)
class Settings:
    """How much data each measurement uses: small sets use all of it, MNIST-sized ones a fixed subset."""

    small: bool  # few features (the bundled 8x8 digits): smaller networks, cheaper estimates
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


# --- winners -----------------------------------------------------------------------------------------------
MIN_RECALL = 1e-3  # below it a family's precision is shown but not credited (see `uncredited`)


def uncredited(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """family -> metric -> why, for numbers shown but never counted as a win: precision of a family whose
    recall is (about) 0, since a few samples sitting on the manifold while covering none of it score 1.0."""
    out: dict[str, dict[str, str]] = {}
    for f, v in results.items():
        recall = v.get("recall")
        if _is_number(v.get("precision")) and _is_number(recall) and recall < MIN_RECALL:
            out.setdefault(f, {})["precision"] = (f"not counted as a win: recall is {recall:.2g}, and precision "
                                                  "without coverage says nothing")
    return out


def winners(results: dict[str, dict[str, Any]], metrics: Sequence[Metric] = METRICS) -> dict[str, list[str]]:
    """Per metric, the families with the best numeric value (ties share the row; none when no family has a
    number or the metric has no direction). Values listed by `uncredited` take no part."""
    out: dict[str, list[str]] = {}
    skip = uncredited(results)
    for m in metrics:
        values = {f: v[m.key] for f, v in results.items()
                  if _is_number(v.get(m.key)) and m.key not in skip.get(f, {})}
        if not m.better or not values:
            out[m.key] = []
            continue
        best = (max if m.better == "higher" else min)(values.values())
        out[m.key] = [f for f, v in values.items() if math.isclose(v, best, rel_tol=1e-9, abs_tol=1e-12)]
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# --- the comparison ----------------------------------------------------------------------------------------
def compare(data: str = "digits", budget: float = 300, out: str | Path = "runs/compare",
            families: Sequence[str] = FAMILIES, seed: int = 0, quiet: bool = False) -> dict[str, Any]:
    """Train each family for `budget` seconds on `data` (a data spec), measure it, and write out/report.html,
    out/report.md and out/results.json (each family's run folder is out/<family>). Returns the results dict.
    A family whose training or a measurement fails gets None with the reason; the others go on."""
    families = _check_families(families)
    if not _is_number(budget) or budget <= 0:
        raise DataError(f"budget must be a positive number of seconds, got {budget!r}")
    out = Path(out)
    started = time.perf_counter()
    from ..train.trainer import progress_enabled

    say = _Say(progress_enabled(not quiet))
    train, test = load_dataset(data, "train", seed=seed), load_dataset(data, "test", seed=seed)
    seen = _what_models_see(train)
    if seen == "binarized":
        train, test = train.binarize("threshold", seed=seed), test.binarize("threshold", seed=seed)
    settings = Settings.for_data(train.n_features)
    labelled = train.y is not None and test.y is not None and len(np.unique(train.y)) >= 2
    network = None
    if labelled:
        from ..metrics import feature_network

        say(f"feature network for FID on {train.name} (trained once, then cached)")
        network = feature_network(train, seed=0, verbose=False)
    results: dict[str, dict[str, Any]] = {}
    reasons: dict[str, dict[str, str]] = {}
    details: dict[str, dict[str, Any]] = {}
    figures: dict[str, list[tuple[str, str]]] = {}
    for i, family in enumerate(families):
        say(f"[{i + 1}/{len(families)}] {family}: training for {budget:g} s")
        run = _FamilyRun(family, out / family, train, test, settings, labelled, network, float(budget), seed, say)
        run.execute()
        results[family], reasons[family], details[family], figures[family] = (
            run.values, run.reasons, run.details, run.figures)
    for family, notes in uncredited(results).items():
        reasons[family].update(notes)
    summary = {
        "data": data, "data_seen": seen, "n_train": len(train), "n_test": len(test),
        "budget_seconds_per_family": float(budget), "seed": int(seed), "families": list(families),
        "metrics": [{"key": m.key, "label": m.label, "better": m.better, "about": m.about} for m in METRICS],
        "results": results, "reasons": reasons, "winners": winners(results), "details": details,
        "feature_net_accuracy": None if network is None else network.accuracy, "settings": settings.__dict__,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    _write_outputs(out, summary, figures)
    say(f"report: {out / 'report.html'}")
    return summary


def _check_families(families: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(families, str):
        families = [f for f in families.split(",") if f.strip()]
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in families))
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown or not chosen:
        raise DataError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown) or '(none given)'}; "
                        f"choose from {', '.join(FAMILIES)}")
    return chosen


def _what_models_see(train: Dataset) -> str:
    lo, hi = float(np.min(train.X)), float(np.max(train.X))
    return "binarized" if lo >= 0 and hi <= 1 else "raw"


class _Say:
    def __init__(self, on: bool):
        self.on = on

    def __call__(self, msg: str) -> None:
        if self.on:
            print(f"genmodels compare: {msg}", file=sys.stderr, flush=True)


class _FamilyRun:
    """Trains one family within the budget, then fills `values` (metric -> number or None), `reasons`
    (why a metric is None), `details` (supporting numbers) and `figures` (PNG paths with captions)."""

    def __init__(self, family: str, run_dir: Path, train: Dataset, test: Dataset, settings: Settings,
                 labelled: bool, network, budget: float, seed: int, say: Callable[[str], None]):
        self.family, self.run_dir, self.train, self.test = family, run_dir, train, test
        self.settings, self.labelled, self.network = settings, labelled, network
        self.budget, self.seed, self.say = budget, seed, say
        self.values: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
        self.reasons: dict[str, str] = {}
        self.details: dict[str, Any] = {}
        self.figures: list[tuple[str, str]] = []
        self.rng = np.random.default_rng(seed)

    # --- helpers -----------------------------------------------------------------------------------------
    def measure(self, keys: str | Sequence[str], fn: Callable[[], dict[str, Any] | None]) -> None:
        """Run one measurement; any failure becomes n/a with its reason for these keys."""
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

    def na(self, keys: Sequence[str], reason: str) -> None:
        for k in keys:
            self.values[k], self.reasons[k] = None, reason

    def rows(self, data: Dataset, n: int) -> np.ndarray:
        """The first n rows of a fixed random order (a stratified-enough draw, the same for every family)."""
        order = np.random.default_rng(self.seed).permutation(len(data))[:n]
        return np.sort(order)

    # --- the run -----------------------------------------------------------------------------------------
    def execute(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        verbose = 1 if getattr(self.say, "on", False) else 0
        try:
            started = time.perf_counter()
            self.model, self.conditional_model = self.fit(verbose)
            self.values["train_seconds"] = round(time.perf_counter() - started, 2)
        except Exception as e:
            reason = f"training failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            self.na(METRIC_KEYS, reason)
            self.say(f"{self.family}: {reason}")
            return
        model = self.model
        self.values["train_steps"] = float(self.steps)
        self.details.update({"params": {k: v for k, v in model.get_params(deep=False).items()
                                        if k not in ("verbose", "device", "checkpoint_every", "sample_every")},
                             "budget_exhausted": bool(getattr(model, "budget_exhausted_", False)),
                             "stop_reason": getattr(model, "stop_reason_", None),
                             "epochs_done": self.epochs_done})
        self.say(f"{self.family}: trained {self.steps} steps in {self.values['train_seconds']:.1f} s; measuring")
        eval_started = time.perf_counter()
        self.measure([], self.pictures)
        self.measure(["fid", "precision", "recall"], self.quality)
        self.measure("nll_nats", self.nll)
        self.measure("anomaly_auroc", self.anomaly)
        self.measure(["denoise_psnr_db", "denoise_ssim"], self.denoising)
        self.measure("linear_probe_acc", self.probe)
        self.measure("augment_gain", self.augmentation)
        self.details["eval_seconds"] = round(time.perf_counter() - eval_started, 1)

    def fit(self, verbose: int):
        from ..models import DBN, GAN, RBM, VAE

        s, train, labelled, seed = self.settings, self.train, self.labelled, self.seed
        bernoulli = _what_models_see(train) == "binarized"
        X, y = train.X, train.y
        common = {"epochs": EPOCH_CAP, "seed": seed, "verbose": verbose, "sample_every": 0}
        conditional_model = None
        if self.family == "gan":
            model = GAN(latent_dim=32 if s.small else 64, hidden_dims=(128, 256) if s.small else (256, 512),
                        arch="mlp", conditional=labelled, encoder=True, batch_size=64, **common)
            model.fit(X, y if labelled else None, run_dir=self.run_dir, time_budget=self.budget)
            conditional_model = model if labelled else None
        elif self.family == "vae":
            vae_params = {"latent_dim": 8 if s.small else 16, "hidden_dims": (256, 128) if s.small else (512, 256),
                          "arch": "mlp", "likelihood": "bernoulli" if bernoulli else "gaussian", "iwae_k": 20,
                          "batch_size": 32 if s.small else 128}
            main_share = self.budget * (1 - SAMPLER_SHARE) if labelled else self.budget
            model = VAE(**vae_params, **common).fit(X, run_dir=self.run_dir, time_budget=main_share)
            if labelled:  # a CVAE's code leaves the class to the label, so it is not the model to probe
                conditional_model = VAE(conditional=True, **vae_params, **common).fit(
                    X, y, run_dir=self.run_dir / "cvae", time_budget=self.budget - main_share)
        elif self.family == "rbm":
            rbm_params = {"visible": "bernoulli" if bernoulli else "gaussian", "cd_k": 1, "persistent": False,
                          "lr": 0.05 if bernoulli else 0.01, "momentum": 0.5, "burn_in": s.sampling_burn_in,
                          "ais_runs": s.ais_runs, "ais_betas": s.ais_betas, "batch_size": 32 if s.small else 100}
            main_share = self.budget * (1 - SAMPLER_SHARE) if labelled else self.budget
            model = RBM(n_hidden=128 if s.small else 500, **rbm_params, **common)
            model.fit(X, run_dir=self.run_dir, time_budget=main_share)
            if labelled:
                try:
                    conditional_model = self.fit_per_class(
                        RBM(n_hidden=32 if s.small else 100, **rbm_params, **common), self.budget - main_share)
                except Exception as e:  # the main RBM stands; only augmentation loses its sampler
                    self.per_class_failure = f"n/a: per-class RBMs failed: {type(e).__name__}: {e}"
        else:
            model = DBN(layers=(128, 64) if s.small else (500, 500), pretrain_epochs=EPOCH_CAP, pretrain_lr=0.05,
                        cd_k=1, persistent=False, momentum=0.5, burn_in=s.sampling_burn_in,
                        batch_size=32 if s.small else 100, seed=seed, verbose=verbose)
            model.fit(X, run_dir=self.run_dir, time_budget=self.budget)  # unsupervised: pretraining only
        self.history = [r for r in model.history_ if isinstance(r, dict)]
        self.steps = sum(int(r["step"]) for r in _phase_ends(self.history))
        self.epochs_done = round(sum(float(r.get("epoch", 0)) for r in _phase_ends(self.history)), 2)
        model.save(self.run_dir)
        return model, conditional_model

    def fit_per_class(self, estimator, budget: float):
        """One RBM per class (PerClassModel), the share split evenly over the classes (PerClassModel hands
        fit's time_budget to every class model)."""
        from ..models.per_class import PerClassModel

        per_class = PerClassModel(estimator, seed=self.seed)
        n_classes = len(np.unique(self.train.y))
        per_class.fit(self.train.X, self.train.y, time_budget=budget / n_classes)
        return per_class

    # --- measurements ----------------------------------------------------------------------------------------
    def pictures(self) -> None:
        model, shape = self.model, tuple(self.model.data_shape_)
        if len(shape) == 3:
            if model._is_conditional():
                classes = list(model.classes_)
                images = model.sample(10 * len(classes), y=np.repeat(np.asarray(classes, dtype=object), 10),
                                      seed=self.seed)
                caption = "samples, one row per class"
            else:
                images, caption = model.sample(100, seed=self.seed), "samples"
            path = save_image_grid(self.run_dir / "samples.png", np.asarray(images).reshape(len(images), *shape),
                                   ncol=10)
            self.figures.append((str(path), f"{self.family.upper()} {caption}"))
        series = _loss_series(self.history)
        if series:
            xlabel = "epoch (layer 1, then layer 2, ...)" if self.family == "dbn" else "epoch"
            path = save_curves(self.run_dir / "loss_curve.png", series, xlabel=xlabel,
                               title=f"{self.family.upper()} training losses")
            self.figures.append((str(path), f"{self.family.upper()} training losses per epoch"))

    def quality(self) -> dict[str, Any]:
        if self.network is None:
            return dict.fromkeys(("fid", "precision", "recall"), "n/a: the data has no class labels for the "
                                                                   "feature network")
        from ..metrics import sample_quality

        idx = self.rows(self.test, self.settings.quality_n)
        real = self.test.X[idx]
        labels = None
        if self.model._is_conditional():
            labels = np.asarray(self.model.classes_, dtype=object)[np.arange(len(idx)) % self.model.n_classes_]
        fake = self.model.sample(len(idx), y=labels, seed=self.seed + 1)
        q = sample_quality(self.network, real, fake.reshape(len(fake), *real.shape[1:]), labels)
        self.details["sample_quality"] = {k: v for k, v in q.items() if k not in ("fid", "precision", "recall")}
        return q

    def nll(self) -> dict[str, Any]:
        s, X = self.settings, self.test.X[self.rows(self.test, self.settings.nll_rows)]
        if self.family == "vae":
            if self.model.likelihood != "bernoulli":
                return {"nll_nats": "n/a: a Gaussian VAE's density is not comparable with the RBM's"}
            self.details["nll"] = {"method": "IWAE bound", "k": s.iwae_k, "rows": len(X)}
            return {"nll_nats": -self.model.log_likelihood(X, k=s.iwae_k)}
        if self.family == "rbm":
            est = self.model.log_likelihood(X, n_runs=s.ais_runs, n_betas=s.ais_betas)
            self.details["nll"] = {"method": est.method, "ais_runs": est.n_runs, "ais_betas": est.n_betas,
                                   "rows": len(X), "log_z": est.log_z,
                                   "nll_interval": [-v for v in est.interval[::-1]]}
            return {"nll_nats": -est.mean}
        if self.family == "gan":
            return {"nll_nats": "n/a: a GAN defines no density"}
        return {"nll_nats": "n/a: no likelihood estimate for a DBN (AIS on its top RBM bounds p(h), not p(x))"}

    def anomaly(self) -> dict[str, Any]:
        if len(self.model.data_shape_) != 3:
            return {"anomaly_auroc": "n/a: the mirrored-image protocol needs images"}
        from ..metrics import anomaly_metrics
        from .anomaly import anomaly_score

        inliers = self.test.X[self.rows(self.test, self.settings.eval_rows)]
        outliers = inliers[..., ::-1].copy()  # 0, 1 and 8 barely change: a protocol no family aces
        X = np.concatenate([inliers, outliers])
        y = np.r_[np.zeros(len(inliers)), np.ones(len(outliers))]
        scores = -self.model.score_samples(X) if self.family == "dbn" else anomaly_score(self.model, X)
        m = anomaly_metrics(y, scores)
        self.details["anomaly"] = {"protocol": "test images (normal) vs. the same images mirrored left-right",
                                   "average_precision": m["average_precision"], "n": m["n"]}
        return {"anomaly_auroc": m["roc_auc"]}

    def denoising(self) -> dict[str, Any]:
        from .denoise import corrupt, denoise, denoise_scores, write_denoise_grid

        clean = self.test.X[self.rows(self.test, self.settings.eval_rows)]
        scores = denoise_scores(self.model, clean, kind="gaussian", level=0.3, seed=self.seed)
        self.details["denoise"] = {k: scores[k] for k in ("kind", "level", "n", "psnr_noisy", "ssim_noisy")
                                   if k in scores}
        if len(self.model.data_shape_) == 3:
            noisy = corrupt(clean[:16], "gaussian", 0.3, self.seed)
            path = write_denoise_grid(clean[:16], noisy, denoise(self.model, noisy), self.run_dir / "denoise.png")
            self.figures.append((str(path), f"{self.family.upper()} denoising: noisy, denoised, truth"))
        return {"denoise_psnr_db": scores["psnr_denoised"], "denoise_ssim": scores["ssim_denoised"]}

    def probe(self) -> dict[str, Any]:
        if not self.labelled:
            return {"linear_probe_acc": "n/a: the data has no class labels"}
        from .represent import features, probe_scores, save_feature_map

        tr = self.rows(self.train, self.settings.probe_train)
        te = self.rows(self.test, self.settings.eval_rows)
        scores = probe_scores(self.model, self.train.X[tr], self.train.y[tr], self.test.X[te], self.test.y[te],
                              seed=self.seed)
        self.details["probe"] = {k: v for k, v in scores.items() if k != "linear_probe_acc"}
        path = save_feature_map(features(self.model, self.test.X[te]), self.test.y[te],
                                self.run_dir / "feature_map.png", method="pca", seed=self.seed)
        self.figures.append((str(path), f"{self.family.upper()} test features, PCA to 2-D"))
        return scores

    def augmentation(self) -> dict[str, Any]:
        if not self.labelled:
            return {"augment_gain": "n/a: the data has no class labels"}
        if self.conditional_model is None:
            return {"augment_gain": getattr(self, "per_class_failure", None)
                    or "n/a: not class-conditional (the DBN is trained unsupervised)"}
        from .augment import augment_scores

        per_class = self.settings.augment_per_class
        rng = np.random.default_rng(self.seed)
        small = np.concatenate([rng.permutation(np.flatnonzero(self.train.y == c))[:per_class]
                                for c in np.unique(self.train.y)])
        te = self.rows(self.test, self.settings.eval_rows)
        classes = np.asarray(self.train.classes, dtype=object) if self.train.classes else None

        def labels(codes: np.ndarray) -> np.ndarray:
            return codes if classes is None else np.asarray([classes[c] for c in codes])

        scores = augment_scores(self.conditional_model, self.train.X[small], labels(self.train.y[small]),
                                self.test.X[te], labels(self.test.y[te]), ratio=1.0, seed=self.seed)
        self.details["augment"] = {k: v for k, v in scores.items() if _is_number(v) or isinstance(v, str)}
        self.details["augment"]["n_real"] = len(small)
        return {"augment_gain": scores["gain"]}


def _phase_ends(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last record of each training phase (a DBN's layers each restart their step count)."""
    ends = []
    for i, rec in enumerate(history):
        nxt = history[i + 1] if i + 1 < len(history) else None
        if nxt is None or int(nxt.get("step", 0)) <= int(rec.get("step", 0)):
            ends.append(rec)
    return ends


def _loss_series(history: list[dict[str, Any]]) -> dict[str, list[float]]:
    skip = {"epoch", "step", "seconds", "kind", "reason"}
    keys = list(dict.fromkeys(k for r in history for k, v in r.items() if k not in skip and _is_number(v)))
    return {k: [float(r[k]) if _is_number(r.get(k)) else float("nan") for r in history] for k in keys}


# --- writing -------------------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def summary_rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    """The summary table as rows of strings: metric, better, one column per family, winner."""
    rows = []
    for m in METRICS:
        row = {"metric": m.label, "better": m.better or "-"}
        for f in summary["families"]:
            row[f] = _fmt(summary["results"][f].get(m.key))
        row["winner"] = ", ".join(summary["winners"].get(m.key, [])) or "-"
        rows.append(row)
    return rows


def markdown_table(summary: dict[str, Any]) -> str:
    rows = summary_rows(summary)
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _reason_lines(summary: dict[str, Any]) -> list[str]:
    """One line per reason: why a number is n/a, or why it is shown but not counted as a win."""
    labels = {m.key: m.label for m in METRICS}
    return [f"{f} / {labels[k]}: {why.removeprefix('n/a: ')}" for f in summary["families"]
            for k, why in summary["reasons"][f].items()]


def _intro(summary: dict[str, Any]) -> list[str]:
    seen = ("images binarized at 0.5 (every family sees the same binary images)"
            if summary["data_seen"] == "binarized" else "the data as loaded (values outside [0, 1])")
    net = summary["feature_net_accuracy"]
    return [
        f"Data: {summary['data']} ({summary['n_train']} training, {summary['n_test']} test rows), {seen}.",
        f"Each family trained for {summary['budget_seconds_per_family']:g} s (seed {summary['seed']}); "
        f"the whole comparison took {summary['total_seconds']:.0f} s.",
        "Families: GAN = class-conditional MLP GAN with an encoder; VAE = VAE on 3/4 of its budget plus a "
        "class-conditional VAE (1/4) for augmentation; "
        "RBM = Bernoulli RBM (CD-1) on 3/4 of its budget plus one small RBM per class (1/4) for augmentation; "
        "DBN = two-layer DBN, unsupervised greedy pretraining, budget split over its layers.",
        "Sample quality (FID, precision, recall) uses the library's own feature network trained on the "
        "training split" + (f" (held-out accuracy {net:.3f})" if net is not None else "") + "; conditional "
        "models are asked for every class in turn.",
        "Anomaly: test images (normal) vs. the same images mirrored left-right (symmetric digits barely "
        "change, so no family reaches 1); score = negative IWAE bound "
        "(VAE), free energy (RBM), reconstruction error through the encoder (GAN), first-layer free energy "
        "(DBN). Denoising: Gaussian noise sd 0.3, clipped, restored by one `reconstruct` pass. Probe: logistic "
        "regression on `transform` features. Augmentation: a classifier trained on a small real set, with and "
        "without as many synthetic labelled images (the generators saw the full training split).",
        "With a time budget the number of steps depends on the machine's speed, so numbers are not "
        "bit-reproducible across machines.",
    ]


def _html_summary(summary: dict[str, Any]) -> str:
    import html

    fams = summary["families"]
    head = "".join(f"<th>{h}</th>" for h in ("metric", "better")) + "".join(
        f'<th class="family" data-family="{f}">{f.upper()}</th>' for f in fams) + "<th>winner</th>"
    body = []
    for m in METRICS:
        win = summary["winners"].get(m.key, [])
        cells = [f'<td title="{html.escape(m.about)}">{html.escape(m.label)}</td>', f"<td>{m.better or '-'}</td>"]
        for f in fams:
            v = summary["results"][f].get(m.key)
            why = summary["reasons"][f].get(m.key, "")
            style = ' style="font-weight:bold;background:#e6f4e6"' if f in win else ""
            title = f' title="{html.escape(why)}"' if why else ""
            cells.append(f"<td{style}{title}>{html.escape(_fmt(v))}</td>")
        cells.append(f"<td>{html.escape(', '.join(win) or '-')}</td>")
        body.append(f'<tr data-metric="{m.key}">' + "".join(cells) + "</tr>")
    table = f'<table id="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    intro = "".join(f"<p>{html.escape(p)}</p>" for p in _intro(summary))
    notes = _reason_lines(summary)
    note_html = ("<h3>n/a and notes</h3><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>") if notes else ""
    return intro + table + "<p>Best value per row in bold; rows without a direction have no winner.</p>" + note_html


def _html_family(family: str, summary: dict[str, Any], figures: list[tuple[str, str]]) -> str:
    import html
    import json

    tags = "".join(image_tag(p, cap) for p, cap in figures if Path(p).exists())
    det = summary["details"][family]
    shown = {k: v for k, v in det.items() if k != "tracebacks"}
    return tags + "<pre>" + html.escape(json.dumps(shown, indent=2, default=str)) + "</pre>"


def _write_outputs(out: Path, summary: dict[str, Any], figures: dict[str, list[tuple[str, str]]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", summary)
    md = ["# genmodels compare", "", *[p + "\n" for p in _intro(summary)], markdown_table(summary), ""]
    notes = _reason_lines(summary)
    if notes:
        md += ["n/a and notes:", "", *[f"- {n}" for n in notes], ""]
    md += ["Pictures (in each family's run folder): "
           + ", ".join(f"{f}/" + Path(p).name for f in summary["families"] for p, _ in figures[f]), ""]
    write_text(out / "report.md", "\n".join(md))
    sections = [("Summary", _html_summary(summary))]
    sections += [(f.upper(), _html_family(f, summary, figures[f])) for f in summary["families"]]
    config = {k: summary[k] for k in ("data", "budget_seconds_per_family", "seed", "families", "settings")}
    write_report(out / "report.html", f"genmodels compare: {summary['data']}", sections, config)


__all__ = ["FAMILIES", "METRICS", "MIN_RECALL", "Metric", "compare", "markdown_table", "summary_rows", "uncredited",
           "winners"]
