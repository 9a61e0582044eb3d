"""Image fidelity: PSNR and SSIM (Wang, Bovik, Sheikh & Simoncelli 2004), averaged over a batch of images.

Accepted shapes: (N, C, H, W), (N, H, W), or flat rows (N, D) with D a perfect square (reshaped to
sqrt(D) x sqrt(D)); pass `image_shape` for flat rows of any other image shape. A single image needs a
leading batch axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import DataError

K1, K2 = 0.01, 0.03  # the stabilising constants of the SSIM paper
SIGMA = 1.5  # the paper's Gaussian window


def as_image_batch(X, image_shape: Sequence[int] | None = None, what: str = "images") -> np.ndarray:
    """A float64 (N, C, H, W) view of images given as (N, C, H, W), (N, H, W) or flat (N, D) rows."""
    arr = np.asarray(X, dtype=np.float64)
    if image_shape is not None:
        shape = tuple(int(d) for d in image_shape)
        shape = (1, *shape) if len(shape) == 2 else shape
        if arr.ndim < 2 or math.prod(arr.shape[1:]) != math.prod(shape):
            raise DataError(
                f"{what}: rows of shape {arr.shape[1:]} do not match image_shape {tuple(image_shape)}"
            )
        return arr.reshape(len(arr), *shape)
    if arr.ndim == 4:
        return arr
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim == 2:
        side = math.isqrt(arr.shape[1])
        if side * side != arr.shape[1]:
            raise DataError(
                f"{what}: rows of {arr.shape[1]} values are not square images; pass image_shape=(C, H, W)"
            )
        return arr.reshape(len(arr), 1, side, side)
    raise DataError(f"{what}: expected (N, C, H, W), (N, H, W) or (N, D) images, got shape {arr.shape}")


def _pair(clean, other, image_shape: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
    a = as_image_batch(clean, image_shape, "clean")
    b = as_image_batch(other, image_shape, "other")
    if a.shape != b.shape:
        raise DataError(f"clean and other differ in shape: {a.shape} vs {b.shape}")
    if len(a) == 0:
        raise DataError("no images given")
    return a, b


def psnr_per_image(
    clean, other, data_range: float = 1.0, image_shape: Sequence[int] | None = None
) -> np.ndarray:
    """10 log10(data_range^2 / MSE) per image in dB; inf where an image is reproduced exactly."""
    a, b = _pair(clean, other, image_shape)
    mse = ((a - b) ** 2).reshape(len(a), -1).mean(1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(float(data_range) ** 2 / mse)


def psnr(clean, other, data_range: float = 1.0, image_shape: Sequence[int] | None = None) -> float:
    """Peak signal-to-noise ratio in dB, the mean over images of each image's PSNR (inf if all are exact)."""
    return float(np.mean(psnr_per_image(clean, other, data_range, image_shape)))


def gaussian_window(size: int, sigma: float = SIGMA) -> torch.Tensor:
    """A normalised size x size Gaussian kernel (the truncated kernel scipy/skimage use, renormalised)."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    g = g / g.sum()
    return torch.outer(g, g)


def ssim_per_image(
    clean, other, data_range: float = 1.0, image_shape: Sequence[int] | None = None, window: int | None = None
) -> np.ndarray:
    """Mean SSIM per image (averaged over channels and over every position where the window fits).

    Gaussian window with sigma 1.5, 11x11 as in the paper, or 7x7 for images smaller than 11 pixels (such as
    8x8 digits); local statistics use population (not sample) variances. With the 11x11 window this equals
    scikit-image's `structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=data_range)` to 1e-8 (checked on 28x28 images); the 7x7 window is the same formula with
    scipy's Gaussian filter truncated at 2 sigma (scikit-image always filters with 11 taps)."""
    a, b = _pair(clean, other, image_shape)
    _, c, h, w = a.shape
    size = window or (11 if min(h, w) >= 11 else 7)
    if size > min(h, w) or size % 2 == 0:
        raise DataError(f"SSIM window {size} must be odd and fit the {h}x{w} images")
    kernel = gaussian_window(size).expand(c, 1, size, size).contiguous()
    x = torch.from_numpy(a)
    y = torch.from_numpy(b)

    def blur(t: torch.Tensor) -> torch.Tensor:  # "valid" filtering: skimage's crop of the border
        return F.conv2d(t, kernel, groups=c)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).numpy()


def ssim(
    clean, other, data_range: float = 1.0, image_shape: Sequence[int] | None = None, window: int | None = None
) -> float:
    """Structural similarity, the mean over images (1.0 for identical images); see `ssim_per_image`."""
    return float(np.mean(ssim_per_image(clean, other, data_range, image_shape, window)))
