"""PSNR and SSIM with the super-resolution field's conventions, so numbers compare with papers.

Papers (and BasicSR, which most report through) evaluate on the luma channel of MATLAB's
`rgb2ycbcr`, after cropping `scale` pixels from each border, in float64 on the [0, 255] scale,
without rounding Y back to integers. SSIM is Wang et al.'s: 11x11 Gaussian window with sigma
1.5, K1 = 0.01, K2 = 0.03, population (not sample) covariances, averaged over the 'valid'
region only, where the window fits inside the image. Pure numpy: no scipy or OpenCV at runtime.
"""

from __future__ import annotations

import math

import numpy as np

from translate.errors import ConfigError

# ITU-R BT.601 luma for R, G, B in [0, 1] mapped to [16, 235], as MATLAB rgb2ycbcr does.
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma of an HxWx3 RGB image with values on the [0, 255] scale (uint8 or float).

    Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, giving float64 in [16, 235]. This is
    MATLAB's rgb2ycbcr on a double image in [0, 1], rescaled by 255, which is exactly what
    BasicSR's `to_y_channel` computes. Unlike MATLAB on uint8 input, Y is not rounded.
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ConfigError(f"expected an HxWx3 RGB image, got shape {img.shape}")
    return img.astype(np.float64) @ _Y_WEIGHTS / 255.0 + 16.0


def _prepare(a: np.ndarray, b: np.ndarray, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return float64 HxWxC copies of both images, converted to Y if asked, borders cropped."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ConfigError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if a.ndim != 3:
        raise ConfigError(f"expected an HxW or HxWxC image, got shape {a.shape}")
    if crop_border < 0:
        raise ConfigError(f"crop_border must be >= 0, got {crop_border}")
    if y_channel and a.shape[2] == 3:
        a, b = rgb_to_y(a)[..., None], rgb_to_y(b)[..., None]
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if a.size == 0:
        raise ConfigError(f"crop_border={crop_border} leaves nothing of a {a.shape[:2]} image")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(
    a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = True, data_range: float = 255.0
) -> float:
    """Peak signal-to-noise ratio in dB; inf for identical images."""
    a, b = _prepare(a, b, crop_border, y_channel)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_window() -> np.ndarray:
    # Same taps as OpenCV's getGaussianKernel(11, 1.5) and scipy's gaussian_filter(sigma=1.5, truncate=3.5).
    x = np.arange(_SSIM_SIZE, dtype=np.float64) - _SSIM_SIZE // 2
    w = np.exp(-(x**2) / (2 * _SSIM_SIGMA**2))
    return w / w.sum()


def _filter_valid(img: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2-D image with a 1-D window along both axes."""
    k = len(w)
    h, wd = img.shape
    rows = sum(w[i] * img[i : h - k + 1 + i] for i in range(k))
    return sum(w[i] * rows[:, i : wd - k + 1 + i] for i in range(k))


def _ssim_channel(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    w = _gaussian_window()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, w), _filter_valid(b, w)
    var_a = _filter_valid(a * a, w) - mu_a**2
    var_b = _filter_valid(b * b, w) - mu_b**2
    cov = _filter_valid(a * b, w) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def ssim(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = True) -> float:
    """Structural similarity on the [0, 255] scale; mean over channels when not on Y."""
    a, b = _prepare(a, b, crop_border, y_channel)
    if min(a.shape[:2]) < _SSIM_SIZE:
        raise ConfigError(f"SSIM needs at least {_SSIM_SIZE}x{_SSIM_SIZE} px after cropping, got {a.shape[:2]}")
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], 255.0) for c in range(a.shape[2])]))
