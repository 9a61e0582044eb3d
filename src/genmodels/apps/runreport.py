"""A run folder's pictures and its report.html: loss curves, sample grid, reconstructions, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..models.base import CONFIG
from ..report import image_tag, save_curves, save_image_grid, table, write_report


def epoch_history(run_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch records of metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    return [r for r in rows if r.get("kind") == "epoch"]


def write_loss_curve(run_dir: Path) -> Path | None:
    history = epoch_history(run_dir)
    if not history:
        return None
    keys = [k for k in history[0] if k not in ("epoch", "step", "seconds", "kind")]
    series = {k: [r.get(k, np.nan) for r in history] for k in keys}
    return save_curves(Path(run_dir) / "loss_curve.png", series, title="training losses per epoch")


def image_rows(model, X: np.ndarray) -> np.ndarray | None:
    """Rows as (N, C, H, W) images when the model was trained on images, else None."""
    if len(model.data_shape_) != 3:
        return None
    return np.asarray(X, np.float32).reshape(len(X), *model.data_shape_)


def write_run_report(run_dir: Path, model, metrics: dict[str, Any] | None = None, title: str = "",
                     extra: list[tuple[str, str]] = ()) -> Path:
    """(Re)write report.html from what the run folder holds; `extra`: more (heading, html) sections after the
    metrics (e.g. a text model's samples)."""
    run_dir = Path(run_dir)
    sections = []
    if metrics:
        sections.append(("Metrics", table([{"metric": k, "value": v} for k, v in metrics.items()], "metrics")))
    sections.extend(extra)
    figures = [(run_dir / "loss_curve.png", "training losses"), (run_dir / "samples.png", "samples"),
               (run_dir / "reconstructions.png", "test rows (top) and their reconstructions (bottom)"),
               (run_dir / "filters.png", "first-layer weights (filters)")]
    figures += [(p, p.stem.replace("_", " ")) for p in sorted((run_dir / "samples").glob("epoch_*.png"))[-3:]]
    tags = "".join(image_tag(p, cap) for p, cap in figures if p.exists())
    if tags:
        sections.append(("Pictures", tags))
    history = epoch_history(run_dir)
    if history:
        sections.append(("Training (last epochs)", table(history[-10:])))
    config = json.loads((run_dir / CONFIG).read_text()) if (run_dir / CONFIG).exists() else None
    return write_report(run_dir / "report.html", title or f"genmodels run: {run_dir.name}", sections, config)


def write_samples_grid(run_dir: Path, model, n: int = 64) -> Path | None:
    images = model.preview_images(n)
    return None if images is None else save_image_grid(Path(run_dir) / "samples.png", images)
