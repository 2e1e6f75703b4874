"""Score a super-resolution model on HR images, next to plain bicubic upscaling.

Each HR image is cropped to a multiple of the scale, shrunk by the same antialiased bicubic that
training uses, upscaled by the model and by bicubic, and both results are scored against the HR
image with the benchmark conventions of `translate.metrics.quality` (Y channel, `scale` pixels of
border cropped). The bicubic columns are the baseline a model has to beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import track

from translate.data.domains import resolve_domain
from translate.data.folders import find_images
from translate.data.images import image_to_tensor, load_image
from translate.data.superres import bicubic_downscale, bicubic_resize, modcrop
from translate.errors import ConfigError, DataError
from translate.evaluation.report import Evaluation
from translate.inference.runner import Translator
from translate.metrics.quality import psnr, ssim


@dataclass
class ImageScores:
    name: str
    psnr_y: float
    ssim_y: float
    psnr_rgb: float
    bicubic_psnr_y: float
    bicubic_ssim_y: float
    bicubic_psnr_rgb: float


@dataclass
class SREvaluation(Evaluation):
    model: str
    hr: str
    scale: int

    COLUMNS = (
        ("PSNR-Y", "psnr_y", "{:.2f}"),
        ("SSIM-Y", "ssim_y", "{:.4f}"),
        ("PSNR-RGB", "psnr_rgb", "{:.2f}"),
        ("bicubic PSNR-Y", "bicubic_psnr_y", "{:.2f}"),
        ("bicubic SSIM-Y", "bicubic_ssim_y", "{:.4f}"),
        ("bicubic PSNR-RGB", "bicubic_psnr_rgb", "{:.2f}"),
    )

    @property
    def title(self) -> str:
        return f"x{self.scale} super-resolution vs bicubic ({self.scale} px border cropped)"

    @property
    def conventions(self) -> str:
        return f"Y channel (BT.601) and RGB on [0, 255], {self.scale} px border cropped"


def score(output: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float, float]:
    """(PSNR-Y, SSIM-Y, PSNR-RGB) of an HxWx3 uint8 output against its HR image."""
    return (
        psnr(output, hr, crop_border=scale),
        ssim(output, hr, crop_border=scale),
        psnr(output, hr, crop_border=scale, y_channel=False),
    )


def evaluate_sr(
    model: Path,
    hr_dir: Path,
    scale: int | None = None,
    device: str = "auto",
    tile: int | None = None,
    tile_overlap: int = 32,
) -> SREvaluation:
    """Scores of `model` and of bicubic on every image under `hr_dir` (a folder or built-in domain)."""

    root = resolve_domain(str(hr_dir))
    paths = find_images(root)
    translator = Translator.load(model, device=device)
    if not translator.is_upscaler:
        raise ConfigError(f"--model {model} is a {translator.spec.get('method')} model, not a super-resolution one")
    if scale is not None and scale != translator.scale:
        raise ConfigError(f"--scale {scale} does not match the model, which upscales x{translator.scale}")
    scale = translator.scale
    translator.tile, translator.tile_overlap = tile, tile_overlap
    scores = []
    for path in track(paths, description="evaluate", transient=True):
        hr = modcrop(np.asarray(load_image(path)), scale)
        if min(hr.shape[:2]) < 2 * scale + 11:  # SSIM's 11x11 window must fit after the border crop
            raise DataError(f"{path}: {hr.shape[1]}x{hr.shape[0]} is too small to score at x{scale}")
        lr = bicubic_downscale(hr, scale)
        sr = translator.run_batch(image_to_tensor(lr)[None])[0]
        bicubic = bicubic_resize(lr, hr.shape[1], hr.shape[0])
        name = path.relative_to(root).as_posix()
        scores.append(ImageScores(name, *score(sr, hr, scale), *score(bicubic, hr, scale)))
    return SREvaluation(scores, str(model), str(hr_dir), scale)
