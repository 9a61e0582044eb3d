"""A run folder's pictures and its report.html: loss curves, sample grid, reconstructions, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..models.base import CONFIG
from ..report import image_tag, save_curves, save_image_grid, table, write_report
from ..report.html import collapsed


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
    """(Re)write report.html from what the run folder holds: samples first (drawn with nearest-neighbour
    upscaling), then the numbers, `extra` (heading, html) sections (e.g. a text model's samples), the training
    curves, the other pictures and the configuration (collapsed)."""
    run_dir = Path(run_dir)

    def figures(items) -> str:
        return "".join(image_tag(p, cap) for p, cap in items if p.exists())

    sections = []
    epochs = sorted((run_dir / "samples").glob("epoch_*.png"))
    samples = figures([(run_dir / "samples.png", "samples of the trained model")]
                      + [(p, p.stem.replace("_", " ")) for p in epochs[-2:]])
    if samples:
        sections.append(("Samples", samples))
    if metrics:
        sections.append(("Metrics", table([{"metric": k, "value": v} for k, v in metrics.items()], "metrics")))
    sections.extend(extra)
    history = epoch_history(run_dir)
    curves = figures([(run_dir / "loss_curve.png", "training losses per epoch")])
    if curves or history:
        sections.append(("Training", curves + (collapsed(f"the last {min(10, len(history))} epochs",
                                                         table(history[-10:])) if history else "")))
    other = figures([(run_dir / "reconstructions.png", "test rows (top) and their reconstructions (bottom)"),
                     (run_dir / "filters.png", "first-layer weights (filters)")])
    if other:
        sections.append(("Pictures", other))
    config = json.loads((run_dir / CONFIG).read_text()) if (run_dir / CONFIG).exists() else None
    lead = f"{type(model).__name__} run in {run_dir}" + (
        f"; live curves: tensorboard --logdir {run_dir / 'tb'}" if (run_dir / "tb").is_dir() else "")
    return write_report(run_dir / "report.html", title or f"genmodels run: {run_dir.name}", sections, config,
                        lead=lead)


def write_samples_grid(run_dir: Path, model, n: int = 64) -> Path | None:
    images = model.preview_images(n)
    return None if images is None else save_image_grid(Path(run_dir) / "samples.png", images)
