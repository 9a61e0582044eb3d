"""`genmodels evaluate`: a trained model's numbers on held-out data, with pictures, into metrics.json."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset, load_dataset
from ..errors import DataError
from ..io import read_json, write_json
from ..metrics import feature_network, independent_bernoulli_log_likelihood, sample_quality
from ..models import load
from ..models.base import CONFIG, estimate_log_likelihood
from ..report import save_image_grid
from .runreport import image_rows, write_loss_curve, write_run_report, write_samples_grid


def evaluate_model(model, test: Dataset, out_dir: str | Path, train: Dataset | None = None,
                   k: int = 1000) -> dict[str, Any]:
    """The metrics each capability of the model gives on `test` (likelihood, sample quality, classifier
    accuracy, reconstruction); writes metrics.json, PNGs and report.html into out_dir."""
    if model.supports("text"):
        from .text_eval import evaluate_text

        return evaluate_text(model, test, out_dir, k)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    X = model.rows_of(test, what=test.name)
    metrics: dict[str, Any] = {"data": test.name, "n_test": len(test)}
    started = time.perf_counter()
    if model.supports("likelihood"):
        metrics.update(likelihood_metrics(model, X, test, train, k))
    if model.supports("sample") and not model.supports("likelihood"):
        metrics.update(sample_quality_metrics(model, X, test, train))
    if model.supports("classify") and test.y is not None:
        labels = np.asarray(test.classes)[test.y] if test.classes else test.y
        with contextlib.suppress(DataError):  # e.g. a DBN trained without labels has no classifier
            metrics["test_accuracy"] = float(model.score(X, labels))
    if model.supports("reconstruct"):
        recon = model.reconstruct(X[: min(len(X), 2000)])
        flat_true = X[: len(recon)].reshape(len(recon), -1)
        metrics["recon_mse_per_feature"] = float(np.mean((recon.reshape(len(recon), -1) - flat_true) ** 2))
        originals = image_rows(model, X[:16])
        if originals is not None:
            save_image_grid(out_dir / "reconstructions.png",
                            np.concatenate([originals, image_rows(model, recon[:16])]), ncol=16)
    write_filters(model, out_dir)
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)
    write_samples_grid(out_dir, model)
    write_json(out_dir / "metrics.json", metrics)
    write_loss_curve(out_dir)
    write_run_report(out_dir, model, metrics)
    return metrics


def evaluate_run(run: str | Path, data: str | None = None, split: str = "test", out: str | Path | None = None,
                 k: int = 1000, binarize: str | None = None, label: str | None = None) -> dict[str, Any]:
    """`genmodels evaluate`: load the model of `run` and evaluate it on `split` of `data` (default: the data
    spec the run was trained on), the train split as reference when testing; outputs into `out` (default RUN)."""
    model = load(run)
    if data is None:
        config = read_json(Path(run) / CONFIG)
        name = str(((config.get("data") if isinstance(config, dict) else None) or {}).get("name", ""))
        data = name.split(" [")[0] or "digits"  # "digits [train]": the spec, then the split
    test = load_dataset(data, split, label=label, binarize=binarize, seed=1)
    train = (load_dataset(data, "train", label=label, binarize=binarize, seed=0)
             if split == "test" and not model.supports("text") else None)
    return evaluate_model(model, test, out or run, train=train, k=k)


def likelihood_metrics(model, X: np.ndarray, test: Dataset, train: Dataset | None, k: int) -> dict[str, Any]:
    """Test log-likelihood in nats (`log_likelihood`: IWAE bound with k importance samples, AIS or exact),
    its interval, and the independent-pixel baseline for data in [0, 1]."""
    est = estimate_log_likelihood(model, X, k=k)
    metrics = {"test_ll_nats": est.mean, "test_nll_nats": -est.mean, "test_ll_stderr": est.stderr,
               "test_ll_interval": [v if np.isfinite(v) else None for v in est.interval], "ll_method": est.method}
    if np.isfinite(est.log_z):
        metrics["log_z"] = est.log_z
    metrics.update({"ais_runs": est.n_runs, "ais_betas": est.n_betas} if est.method == "ais" else
                   {"iwae_k": est.n_runs} if est.method == "iwae" else {})
    if train is not None and float(np.min(train.X)) >= 0 and float(np.max(train.X)) <= 1:
        baseline = independent_bernoulli_log_likelihood(train.X, test.X)
        metrics.update({"baseline_ll_nats": baseline, "baseline_nll_nats": -baseline})
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
    if model.is_conditional():
        labels = np.asarray(model.classes_, dtype=object)[np.arange(n) % model.n_classes_]
    quality = sample_quality(network, X[:n], model.sample(n, y=labels, seed=0), labels)
    return {"sample_quality_n": n, **{k: v for k, v in quality.items() if k != "n_samples"}}


def write_filters(model, out_dir: Path) -> None:
    """filters.png: the first layer's weights `components_` as images (one per hidden unit, up to 100, each
    scaled to [0, 1]), for models that have such weights and image data."""
    weights = getattr(model, "components_", None)
    if weights is None or len(model.data_shape_) != 3:
        return
    w = np.asarray(weights)[:100]
    if w.ndim == 4:  # convolutional filters (n, C, h, w) are images already
        from .pretrain import write_filters_png

        write_filters_png(w, out_dir / "filters.png")
        return
    lo, hi = w.min(1, keepdims=True), w.max(1, keepdims=True)
    save_image_grid(out_dir / "filters.png", ((w - lo) / np.maximum(hi - lo, 1e-8)).reshape(len(w), *model.data_shape_))
