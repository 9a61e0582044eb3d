"""Denoising: corrupt images (Gaussian noise, salt-and-pepper, a masked square) and restore them with any
family's `reconstruct` (VAE: decode the posterior mean; RBM/DBN: mean-field up-down passes; GAN: G(E(x))
through its encoder), scored by PSNR and SSIM before and after."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import DataError
from ..io import write_json
from ..metrics.image import as_image_batch, psnr, ssim
from ..report import save_image_grid

KINDS = ("gaussian", "salt_pepper", "mask")


def corrupt(
    X, kind: str = "gaussian", level: float = 0.3, seed: int = 0, image_shape: Sequence[int] | None = None
) -> np.ndarray:
    """A corrupted copy of X (same shape, float32), values kept in X's own range [min, max]:

    gaussian: add N(0, (level * range)^2) noise per pixel, then clip.
    salt_pepper: a fraction `level` of the pixels, chosen at random, set to min or max (even odds).
    mask: per image one square, placed at random, covering about `level` of the image area (side
        round(sqrt(level) * side)), set to min in every channel. Flat rows that are not square images get
        pixel masking instead: a random fraction `level` of the values set to min.
    """
    if kind not in KINDS:
        raise DataError(f"noise kind must be one of {', '.join(KINDS)}; got {kind!r}")
    level = float(level)
    if level < 0 or (kind != "gaussian" and level > 1):
        raise DataError(f"level must lie in [0, 1] for {kind} noise (>= 0 for gaussian), got {level!r}")
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim < 2 or len(arr) == 0:
        raise DataError(f"X: expected a batch of images, got shape {arr.shape}")
    rng = np.random.default_rng(seed)
    lo, hi = float(arr.min()), float(arr.max())
    if kind == "gaussian":
        noisy = arr + rng.standard_normal(arr.shape, dtype=np.float32) * level * (hi - lo)
        return np.clip(noisy, lo, hi)
    out = arr.copy()
    if kind == "salt_pepper":
        hit = rng.random(arr.shape) < level
        out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, lo, hi)
        return out
    try:
        images = as_image_batch(out, image_shape).astype(np.float32)
    except DataError:
        out[rng.random(arr.shape) < level] = lo
        return out
    n, _, h, w = images.shape
    side_h, side_w = round(math.sqrt(level) * h), round(math.sqrt(level) * w)
    tops = rng.integers(0, h - side_h + 1, n)
    lefts = rng.integers(0, w - side_w + 1, n)
    for img, top, left in zip(images, tops, lefts, strict=True):
        img[:, top : top + side_h, left : left + side_w] = lo
    return images.reshape(arr.shape)


def denoise(model, X_noisy, steps: int = 1) -> np.ndarray:
    """The model's reconstruction of each corrupted row, shaped like X_noisy.

    `steps` applies `reconstruct` repeatedly (each a deterministic mean-field pass for RBM/DBN, a decode of
    the posterior mean for a VAE, G(E(x)) for a GAN). One step is the default for every family: on digits
    more RBM passes drift towards the model's modes and lower PSNR."""
    if not hasattr(model, "reconstruct"):
        raise DataError(f"{type(model).__name__} has no reconstruct method, so it cannot denoise")
    if int(steps) < 1:
        raise DataError(f"steps must be >= 1, got {steps!r}")
    arr = np.asarray(X_noisy, dtype=np.float32)
    shape = getattr(model, "input_shape_", None)
    x = (
        arr.reshape(len(arr), *shape)
        if shape is not None and math.prod(shape) == math.prod(arr.shape[1:])
        else arr
    )
    for _ in range(int(steps)):
        x = np.asarray(model.reconstruct(x), dtype=np.float32)
    return x.reshape(arr.shape)


def image_scores(
    clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray, image_shape: Sequence[int] | None = None
) -> dict[str, float]:
    """PSNR (dB) and SSIM of the noisy and of the denoised images against the clean ones, on the clean
    images' value range."""
    data_range = max(float(np.max(clean)) - float(np.min(clean)), 1e-8)
    return {
        "psnr_noisy": psnr(clean, noisy, data_range, image_shape),
        "psnr_denoised": psnr(clean, denoised, data_range, image_shape),
        "ssim_noisy": ssim(clean, noisy, data_range, image_shape),
        "ssim_denoised": ssim(clean, denoised, data_range, image_shape),
    }


def denoise_scores(
    model,
    X_clean,
    kind: str = "gaussian",
    level: float = 0.3,
    seed: int = 0,
    steps: int = 1,
    image_shape: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Corrupt X_clean, denoise it with the model and score both against the truth: psnr_noisy,
    psnr_denoised, ssim_noisy, ssim_denoised, psnr_gain, plus the settings (kind, level, n)."""
    clean = np.asarray(X_clean, dtype=np.float32)
    shape = image_shape or _model_image_shape(model)
    noisy = corrupt(clean, kind, level, seed, shape)
    scores = image_scores(clean, noisy, denoise(model, noisy, steps), shape)
    return {
        "kind": kind,
        "level": level,
        "n": len(clean),
        **scores,
        "psnr_gain": scores["psnr_denoised"] - scores["psnr_noisy"],
    }


def _model_image_shape(model) -> tuple[int, ...] | None:
    shape = tuple(getattr(model, "data_shape_", ()))
    return shape if len(shape) == 3 else None


def write_denoise_grid(
    X_clean, X_noisy, X_denoised, path: str | Path, image_shape: Sequence[int] | None = None, n: int = 16
) -> Path:
    """A PNG of three rows of n images: noisy, denoised, truth (scaled together to the clean range)."""
    rows = [
        as_image_batch(np.asarray(x)[:n], image_shape, what)
        for x, what in ((X_noisy, "noisy"), (X_denoised, "denoised"), (X_clean, "clean"))
    ]
    lo, hi = float(rows[2].min()), float(rows[2].max())
    grid = (np.concatenate(rows) - lo) / max(hi - lo, 1e-8)
    return save_image_grid(path, grid, ncol=len(rows[0]))


def denoise_run(
    model,
    data: Dataset,
    out_dir: str | Path,
    kind: str = "gaussian",
    level: float = 0.3,
    n: int = 1000,
    seed: int = 0,
    steps: int = 1,
) -> dict[str, Any]:
    """`genmodels denoise`: n rows of `data` (a random draw fixed by seed) corrupted and denoised; the
    scores into out_dir/metrics.json, and a noisy/denoised/truth grid into out_dir/denoise.png."""
    if int(n) < 1:
        raise DataError(f"n must be a positive integer, got {n!r}")
    X = model.rows_of(data, what=data.name)
    X = X[np.sort(np.random.default_rng(seed).permutation(len(X))[: int(n)])]
    shape = _model_image_shape(model)
    noisy = corrupt(X, kind, level, seed, shape)
    restored = denoise(model, noisy, steps)
    scores = image_scores(X, noisy, restored, shape)
    result = {
        "data": data.name,
        "family": getattr(model, "family", type(model).__name__),
        "kind": kind,
        "level": float(level),
        "steps": int(steps),
        "n": len(X),
        **scores,
        "psnr_gain": scores["psnr_denoised"] - scores["psnr_noisy"],
    }
    out_dir = Path(out_dir)
    if shape is not None:
        write_denoise_grid(X, noisy, restored, out_dir / "denoise.png", shape)
    write_json(out_dir / "metrics.json", result)
    return result
