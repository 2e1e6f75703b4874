"""Score a translation model on aligned pairs: how close is its output to the true target?

For pix2pix-style tasks (labels -> photos, maps -> aerial, ...) the held-out pairs give a ground
truth. Each input is translated at its own size and compared with its target; the input itself,
taken as the answer, is scored too, because "change nothing" is the baseline a model must beat
(the same role bicubic plays for super-resolution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import track

from translate.data.datasets import PairedDataset
from translate.data.domains import resolve_domain
from translate.data.pixels import fit_channels
from translate.errors import ConfigError, DataError
from translate.evaluation.report import Evaluation
from translate.inference.runner import Translator, quantize
from translate.metrics.quality import psnr, ssim


@dataclass
class PairScores:
    name: str
    l1: float
    psnr_rgb: float
    ssim_y: float
    input_l1: float
    input_psnr_rgb: float
    input_ssim_y: float


@dataclass
class PairedEvaluation(Evaluation):
    model: str
    data: str
    direction: str

    COLUMNS = (
        ("L1", "l1", "{:.4f}"),
        ("PSNR-RGB", "psnr_rgb", "{:.2f}"),
        ("SSIM-Y", "ssim_y", "{:.4f}"),
        ("input L1", "input_l1", "{:.4f}"),
        ("input PSNR-RGB", "input_psnr_rgb", "{:.2f}"),
        ("input SSIM-Y", "input_ssim_y", "{:.4f}"),
    )

    @property
    def title(self) -> str:
        return f"{self.direction} output vs target (the input columns: the input taken as the answer)"

    @property
    def conventions(self) -> str:
        return "L1 on [0, 1] RGB; PSNR on [0, 255] RGB; SSIM on the Y channel (BT.601); no border cropped"


def score(output: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """(L1, PSNR-RGB, SSIM-Y) of an HxWx3 uint8 image against its target; for other channel counts PSNR and
    SSIM over all channels."""
    l1 = float(np.mean(np.abs(output.astype(np.float64) - target.astype(np.float64))) / 255.0)
    return l1, psnr(output, target, y_channel=False), ssim(output, target)


def input_score(source: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """`score` of the input taken as the answer; a grey input against a colour target is replicated to
    RGB (colorization's baseline), other channel counts that differ have no such baseline (NaN)."""
    try:
        return score(fit_channels(source, target.shape[2], "the input"), target)
    except DataError:
        return math.nan, math.nan, math.nan


def evaluate_paired(
    model: Path,
    data: str | None = None,
    a: str | None = None,
    b: str | None = None,
    direction: str | None = None,
    device: str = "auto",
) -> PairedEvaluation:
    """Scores of `model` on the pairs in `data` (side-by-side A|B images) or in folders `a` / `b`.

    `direction` picks the generator of a run with several (CycleGAN: a2b or b2a); the pairs are
    then read the same way round, so the model always gets its own input domain.
    """

    if (data is None) == (a is None or b is None):
        raise ConfigError("give the pairs as --data (side-by-side A|B images) or as --a and --b, not both")
    translator = Translator.load(model, direction=direction, device=device)
    if translator.is_upscaler:
        raise ConfigError(f"--model {model} is a super-resolution model: score it with `translate evaluate sr`")
    way = translator.spec.get("direction") or direction or "a2b"
    channels = (translator.in_channels, translator.out_channels)
    if data is not None and translator.spec.get("colorization"):  # colour photos: their grey in, themselves out
        pairs, source = PairedDataset.from_photos(resolve_domain(data), channels=channels), data
    elif data is not None:
        pairs, source = PairedDataset.from_side_by_side(resolve_domain(data), direction=way, channels=channels), data
    else:
        folders = resolve_domain(a), resolve_domain(b)
        pairs, source = PairedDataset.from_folders(*folders, direction=way, channels=channels), f"{a} | {b}"
    torch.manual_seed(0)  # a model converted with dropout on (pix2pix as published) scores the same each time
    scores = []
    for index in track(range(len(pairs)), description="evaluate", transient=True):
        item = pairs[index]
        source_image, target = (quantize(item[key][None])[0].numpy() for key in ("a", "b"))
        output = translator.run_batch(item["a"][None])[0]
        name = Path(item["a_path"]).name
        scores.append(PairScores(name, *score(output, target), *input_score(source_image, target)))
    return PairedEvaluation(scores, str(model), source, way)
