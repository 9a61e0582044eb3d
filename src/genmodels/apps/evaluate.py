"""`genmodels evaluate`: a trained model's numbers on held-out data, with pictures, into metrics.json."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..io import write_json
from ..metrics import independent_bernoulli_log_likelihood
from ..models import VAE
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
    recon = model.reconstruct(X[: min(len(X), 2000)])
    flat_true = X[: len(recon)].reshape(len(recon), -1)
    metrics["recon_mse_per_feature"] = float(np.mean((recon.reshape(len(recon), -1) - flat_true) ** 2))
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)
    originals = image_rows(model, X[:16])
    if originals is not None:
        save_image_grid(out_dir / "reconstructions.png",
                        np.concatenate([originals, image_rows(model, recon[:16])]), ncol=16)
    write_samples_grid(out_dir, model)
    write_json(out_dir / "metrics.json", metrics)
    write_loss_curve(out_dir)
    write_run_report(out_dir, model, metrics)
    return metrics
