"""PNG output: image grids (Pillow) and curves (matplotlib, headless). Every file is written atomically."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..io import write_bytes


def image_grid(images: np.ndarray, ncol: int | None = None, scale: int | None = None, pad: int = 1,
               pad_value: float = 1.0):
    """(N, C, H, W) or (N, H, W) values in [0, 1] -> a PIL image tiling them, separated by `pad` pixels of
    `pad_value`; small images are upscaled (nearest neighbour)."""
    from PIL import Image

    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[:, None]
    n, c, h, w = images.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    scale = scale or max(1, 56 // max(h, w))
    grid = np.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, np.float32)
    for i, im in enumerate(images):
        r, q = divmod(i, ncol)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = im
    arr = (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)
    img = Image.fromarray(arr[0] if c == 1 else arr[:3].transpose(1, 2, 0))
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img


def save_image_grid(path: str | Path, images: np.ndarray, ncol: int | None = None,
                    scale: int | None = None, pad_value: float = 1.0) -> Path:
    buf = io.BytesIO()
    image_grid(images, ncol, scale, pad_value=pad_value).save(buf, format="PNG")
    return write_bytes(path, buf.getvalue())


PANEL_PIXELS = 32  # on-screen size of one image in a side-by-side panel: 8x8 digits are drawn 4x
PANEL_PAD = 0.5  # grey between images: white digits on black stay apart


def panel_scale(images: np.ndarray) -> int:
    """The integer (nearest-neighbour) upscaling that draws every panel's images at about PANEL_PIXELS."""
    h, w = np.asarray(images).shape[-2:]
    return max(1, PANEL_PIXELS // max(h, w))


def panel_rows(images: np.ndarray, labels: np.ndarray | None, per_row: int = 5, rows: int = 10) -> np.ndarray:
    """Images for a side-by-side panel: with labels, `per_row` of each class in class order (a row per class);
    without, the first per_row x rows."""
    images = np.asarray(images)
    if labels is None:
        return images[: per_row * rows]
    labels = np.asarray(labels)
    picked = [images[np.flatnonzero(labels == c)[:per_row]] for c in np.unique(labels)]
    return np.concatenate([p for p in picked if len(p) == per_row] or [images[:per_row]])


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure to `path` as PNG (atomically) and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return write_bytes(path, buf.getvalue())


def save_curves(path: str | Path, series: Mapping[str, Sequence[float]], xlabel: str = "epoch",
                title: str = "") -> Path:
    """One line per named series (e.g. training losses per epoch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in series.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if series:
        ax.legend()
    return save_figure(fig, path)


def save_roc(path: str | Path, curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
             title: str = "ROC curve") -> Path:
    """ROC curves: name -> (false positive rates, true positive rates), with the chance diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, (fpr, tpr) in curves.items():
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return save_figure(fig, path)
