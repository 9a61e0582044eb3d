"""`genmodels evaluate`: a trained model's numbers on held-out data, with pictures, into metrics.json."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..io import write_json
from ..metrics import feature_network, independent_bernoulli_log_likelihood, sample_quality
from ..models import DBN, GAN, RBM, VAE
from ..report import save_image_grid
from .runreport import image_rows, write_loss_curve, write_run_report, write_samples_grid


def evaluate_model(model, test: Dataset, out_dir: str | Path, train: Dataset | None = None,
                   k: int = 1000) -> dict[str, Any]:
    """Family-appropriate metrics on `test`; writes metrics.json, PNGs and report.html into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    X = model._validate_X(test, what=test.name).cpu().numpy().reshape(len(test), *model.input_shape_)
    metrics: dict[str, Any] = {"data": test.name, "n_test": len(test)}
    started = time.perf_counter()
    if isinstance(model, VAE):
        metrics["test_nll_nats"] = -model.log_likelihood(X, k=k)
        metrics["iwae_k"] = k
        if model.likelihood == "bernoulli" and train is not None:
            metrics["baseline_nll_nats"] = -independent_bernoulli_log_likelihood(train.X, test.X)
    if isinstance(model, RBM | DBN):
        metrics.update(energy_model_metrics(model, X, test, train, out_dir))
    if isinstance(model, GAN):
        metrics.update(sample_quality_metrics(model, X, test, train))
    if not isinstance(model, GAN) or model.encoder:  # a GAN without encoder has nothing to reconstruct with
        recon = model.reconstruct(X[: min(len(X), 2000)])
        flat_true = X[: len(recon)].reshape(len(recon), -1)
        metrics["recon_mse_per_feature"] = float(np.mean((recon.reshape(len(recon), -1) - flat_true) ** 2))
        originals = image_rows(model, X[:16])
        if originals is not None:
            save_image_grid(out_dir / "reconstructions.png",
                            np.concatenate([originals, image_rows(model, recon[:16])]), ncol=16)
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)
    write_samples_grid(out_dir, model)
    write_json(out_dir / "metrics.json", metrics)
    write_loss_curve(out_dir)
    write_run_report(out_dir, model, metrics)
    return metrics


def sample_quality_metrics(model, X: np.ndarray, test: Dataset, train: Dataset | None,
                           n: int = 10_000) -> dict[str, Any]:
    """FID, precision, recall and mode coverage of up to n samples against the test rows, on the feature
    network trained on the labelled training split (cached); conditional models are asked for the test
    set's classes in turn and also get the network's accuracy on them. {} without labels."""
    if train is None or train.y is None or test.y is None or len(np.unique(train.y)) < 2:
        return {}
    network = feature_network(train, verbose=bool(getattr(model, "verbose", 0)))
    n = min(n, len(X))
    labels = None
    if model._is_conditional():
        labels = np.asarray(model.classes_, dtype=object)[np.arange(n) % model.n_classes_]
    quality = sample_quality(network, X[:n], model.sample(n, y=labels, seed=0), labels)
    return {"sample_quality_n": n, **{k: v for k, v in quality.items() if k != "n_samples"}}


def energy_model_metrics(model, X: np.ndarray, test: Dataset, train: Dataset | None, out_dir: Path) -> dict[str, Any]:
    """RBM: test log-likelihood in nats (AIS, or exact for small models) with its interval, next to the
    independent-pixel baseline. DBN: test accuracy when it is a classifier. Both: filters.png, the first
    layer's weights W as images (one per hidden unit, up to 100, each scaled to [0, 1])."""
    metrics: dict[str, Any] = {}
    if isinstance(model, RBM):
        estimate = model.log_likelihood(X)
        metrics.update({"test_ll_nats": estimate.mean, "test_ll_interval": [v if np.isfinite(v) else None for v in estimate.interval],
                        "test_ll_stderr": estimate.stderr, "log_z": estimate.log_z, "ll_method": estimate.method,
                        "ais_runs": estimate.n_runs, "ais_betas": estimate.n_betas})
        if model.visible == "bernoulli" and train is not None:
            metrics["baseline_ll_nats"] = independent_bernoulli_log_likelihood(train.X, test.X)
        weights = model.components_
    else:
        if model.module_.head is not None and test.y is not None:
            labels = np.asarray(test.classes)[test.y] if test.classes else test.y
            metrics["test_accuracy"] = float(model.score(X, labels))
        weights = model.module_.rbms[0].weight.detach().cpu().numpy()
    if len(model.data_shape_) == 3:
        w = weights[:100]
        lo, hi = w.min(1, keepdims=True), w.max(1, keepdims=True)
        save_image_grid(out_dir / "filters.png", ((w - lo) / np.maximum(hi - lo, 1e-8)).reshape(len(w), *model.data_shape_))
    return metrics
