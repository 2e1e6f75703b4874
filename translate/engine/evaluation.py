"""Evaluation while training: score the model on held-out images, log it, keep the best one.

Long GAN runs do not end at their best model, and the losses do not say where that was, so at
`--eval-every` steps (and at the end) the main process scores the current generator on
`--eval-a` / `--eval-b`, appends one line to RUN/metrics.jsonl and, when the deciding metric
improved, exports the generators to RUN/models/best/ with the step in config.json.

The generator is scored as `translate convert` and `translate evaluate` would run it: it is
written with `save_model` into a temporary model folder, which the evaluation code of
translate.metrics loads. So pix2pix's --eval-mode (and DiscoGAN's fixed size) apply exactly as
after export, and the live networks, their train mode and their batch-norm statistics are never
touched; the random streams are forked, so a run trains the same weights with or without it.

Which score (`build_scorer`):
- super-resolution: `evaluate_sr` on --eval-b's HR images (LR by bicubic downscaling): Y-PSNR/SSIM
  next to bicubic, decided by psnr_y (higher is better);
- pix2pix, or any method whose two folders pair by relative name: `evaluate_paired` of the a->b
  generator (pix2pix: its one generator, its --direction): L1, PSNR, SSIM, decided by l1;
- unpaired folders: FID/KID of the translations of A against B when torch-fidelity's Inception
  weights are on disk (never downloaded here), else a cheap proxy, `proxy_color_hist_l1`: the L1
  distance between the per-channel colour histograms of the translations and of B. It only says
  whether the colours moved towards B's, nothing about shapes or realism: it is no FID.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from translate.atomic import atomic_dir
from translate.config import Pix2PixConfig, SRConfig, TrainConfig
from translate.data.datasets import PairedDataset
from translate.data.folders import find_images, pairs_by_name
from translate.data.images import image_size, load_image
from translate.engine.checkpoint import attempt_write
from translate.errors import ConfigError, DataError, TranslateError
from translate.evaluation import features
from translate.evaluation.features import image_features
from translate.evaluation.paired import evaluate_paired
from translate.evaluation.sr import evaluate_sr
from translate.evaluation.unpaired import check_fid_channels
from translate.inference.serial import serial_convert
from translate.metrics.distribution import fid_kid
from translate.model_folder import save_model
from translate.run_folder import append_jsonl, read_jsonl

PROXY = "proxy_color_hist_l1"
HISTOGRAM_BINS = 32

Exports = dict[str, tuple[nn.Module, dict[str, Any]]]


class Scorer(Protocol):
    """Scores one model folder on the held-out images; `deciding` names the metric that picks the best."""

    deciding: str
    lower_is_better: bool

    def __call__(self, model: Path, device: str) -> dict[str, float]: ...


def evaluation_due(config: TrainConfig, step: int, total_steps: int) -> bool:
    """Every process asks, so all of them take part in the evaluation step's agreement."""
    if config.eval_b is None:  # validation: every method needs --eval-b for evaluation
        return False
    return step == total_steps or (config.eval_every is not None and step % config.eval_every == 0)


# -- scorers ----------------------------------------------------------------------------------------


@dataclass
class PairedScorer:
    """`translate evaluate paired` on the two folders: mean L1 / PSNR-RGB / SSIM-Y, and the input's."""

    a: Path
    b: Path
    deciding: str = field(default="l1", init=False)
    lower_is_better: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if not len(PairedDataset.from_folders(self.a, self.b)):  # every pair found and of one size, before training
            raise DataError(f"--eval-a {self.a} and --eval-b {self.b} hold no image pairs")

    def __call__(self, model: Path, device: str) -> dict[str, float]:
        return evaluate_paired(model, a=str(self.a), b=str(self.b), device=device).mean()


@dataclass
class SRScorer:
    """`translate evaluate sr` on the HR folder: mean PSNR-Y / SSIM-Y / PSNR-RGB, and bicubic's."""

    hr: Path
    scale: int
    deciding: str = field(default="psnr_y", init=False)
    lower_is_better: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        paths = find_images(self.hr)
        if not paths:
            raise DataError(f"--eval-b {self.hr} holds no images")
        side = 2 * self.scale + 11  # SSIM's 11x11 window must fit after the border crop
        small = [p for p in paths if min(v - v % self.scale for v in image_size(p)) < side]  # after modcrop
        if small:
            raise DataError(f"--eval-b: {small[0]} is smaller than {side}x{side}, too small to score at x{self.scale}")

    def __call__(self, model: Path, device: str) -> dict[str, float]:
        return evaluate_sr(model, self.hr, device=device).mean()


def inception_features(device: str) -> Any | None:
    """torch-fidelity's Inception when its weights are on disk, else None (the proxy is used)."""
    try:
        features.resolve_inception_weights()
    except ConfigError:  # no torch-fidelity, or no weights in torch hub's cache: nothing is downloaded
        return None
    return features.InceptionFeatures(device=device)


def color_histograms(paths: list[Path]) -> np.ndarray:
    """Per-channel histograms (3 x HISTOGRAM_BINS) over every pixel of the images, each row summing to 1."""
    counts = np.zeros((3, HISTOGRAM_BINS))
    shift = 8 - int(math.log2(HISTOGRAM_BINS))
    for path in paths:
        pixels = np.asarray(load_image(path)).reshape(-1, 3) >> shift
        for channel in range(3):
            counts[channel] += np.bincount(pixels[:, channel], minlength=HISTOGRAM_BINS)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """L1 distance of two colour distributions, averaged over R, G, B: 0 the same, 2 disjoint."""
    return float(np.abs(a - b).sum(1).mean())


@dataclass
class UnpairedScorer:
    """Translations of A against the real B images as sets: FID/KID with Inception features, else the proxy.

    The scores of B, and of the untranslated A (the "change nothing" baseline), are computed once.
    """

    a: Path
    b: Path
    device: str
    extractor: Any | None = None  # default: Inception if its weights are on disk
    deciding: str = field(default=PROXY, init=False)
    lower_is_better: bool = field(default=True, init=False)
    inputs: list[Path] = field(default_factory=list, init=False, repr=False)
    targets: list[Path] = field(default_factory=list, init=False, repr=False)
    _reference: dict[str, Any] = field(default_factory=dict, init=False, repr=False)  # of A and B, computed once

    def __post_init__(self) -> None:
        self.inputs, self.targets = find_images(self.a), find_images(self.b)
        if self.extractor is None:
            self.extractor = inception_features(self.device)
        least = 2 if self.extractor is not None else 1  # FID/KID need two images a set
        for flag, folder, found in (("--eval-a", self.a, self.inputs), ("--eval-b", self.b, self.targets)):
            if len(found) < least:
                raise DataError(f"{flag} {folder} holds {len(found)} image(s); evaluation needs at least {least}")
        if self.extractor is not None:
            self.deciding = "fid"

    def __call__(self, model: Path, device: str) -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix="translate-eval-") as tmp:
            # one process, no collectives; scored as the network made them (8-bit RGB, no alpha re-attached)
            serial_convert(model, self.a, Path(tmp), device=device, tile=None, bit_depth="8", alpha="drop")
            outputs = find_images(tmp)
            if not outputs:
                raise DataError(f"no image of --eval-a {self.a} could be translated")
            return self._fid_kid(outputs) if self.extractor is not None else self._proxy(outputs)

    def _proxy(self, outputs: list[Path]) -> dict[str, float]:
        if not self._reference:
            self._reference = {"b": color_histograms(self.targets), "a": color_histograms(self.inputs)}
        reference = self._reference
        return {
            PROXY: histogram_distance(color_histograms(outputs), reference["b"]),
            f"input_{PROXY}": histogram_distance(reference["a"], reference["b"]),
        }

    def _fid_kid(self, outputs: list[Path]) -> dict[str, float]:
        if not self._reference:
            self._reference = {
                "b": image_features(self.targets, self.extractor, description="features: targets"),
                "a": image_features(self.inputs, self.extractor, description="features: inputs"),
            }
        translated = image_features(outputs, self.extractor, description="features: translations")
        values = fid_kid(translated, self._reference["b"], self._reference["a"])
        return {key: values[key] for key in ("fid", "kid", "kid_std", "input_fid", "input_kid")}


def build_scorer(config: TrainConfig, device: str) -> Scorer | None:
    """The scorer that fits the method and the folders (see the module doc); None without evaluation."""
    if config.eval_b is None:
        return None
    b = Path(config.eval_b).expanduser()
    if isinstance(config, SRConfig):
        return SRScorer(b, config.scale)
    a = Path(config.eval_a).expanduser()
    if isinstance(config, Pix2PixConfig) or pairs_by_name(a, b):
        return PairedScorer(a, b)
    check_fid_channels(getattr(config, "input_nc", 3), getattr(config, "output_nc", 3))
    return UnpairedScorer(a, b, device)


# -- the runs' records ------------------------------------------------------------------------------


def _plain(values: dict[str, float]) -> dict[str, float | None]:
    """Infinity and NaN are not JSON: a non-finite value is written as null (report_page skips it)."""
    return {k: float(v) if math.isfinite(v) else None for k, v in values.items()}


@dataclass
class Evaluator:
    """The main process's side: scores at the evaluation steps, metrics.jsonl, models/best."""

    scorer: Scorer
    metrics: Path
    best_folder: Path
    best_value: float | None = None
    best_step: int | None = None

    def better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        return value < self.best_value if self.scorer.lower_is_better else value > self.best_value

    def recover(self) -> None:
        """After a resume (metrics.jsonl already cut at its step): the best so far, from the lines left
        that were decided by the same metric, so models/best is only replaced by a better model."""
        self.best_value = self.best_step = None
        for record in read_jsonl(self.metrics):
            try:
                value = float(record["metrics"][self.scorer.deciding])
            except (ValueError, KeyError, TypeError):
                continue
            if record.get("best") == self.scorer.deciding and self.better(value):
                self.best_value, self.best_step = value, record["step"]

    def run(
        self, step: int, exports: Exports, device: torch.device, warn: Callable[[str], None]
    ) -> tuple[dict[str, float] | None, str | None]:
        """Score the exported generator(s) at `step`; returns (metrics or None, a failed best-model write).

        A scoring failure (a held-out file gone bad) and a failed metrics.jsonl append are warnings: the
        run goes on. Nothing here trains, and no random stream of training moves.
        """
        name = "a2b" if "a2b" in exports else next(iter(exports))
        net, spec = exports[name]
        forked = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked), torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
            try:
                save_model(net, spec, Path(tmp) / name)
                values = self.scorer(Path(tmp) / name, str(device))
            except (TranslateError, OSError) as exc:
                warn(f"evaluation at step {step} failed: {exc}; training goes on")
                return None, None
        deciding = values[self.scorer.deciding]
        record = {
            "step": step,
            "metrics": _plain(values),
            "best": self.scorer.deciding,
            "lower_is_better": self.scorer.lower_is_better,
        }
        try:
            append_jsonl(self.metrics, record)
        except OSError as exc:
            warn(f"could not append to {self.metrics}: {exc.strerror or exc}; training goes on")
        improved = self.better(deciding)
        mark = f" (best so far: {self.best_folder})" if improved else ""
        print(f"Evaluated step {step}: {self.scorer.deciding} {deciding:.4g}{mark}", flush=True)
        if improved:
            error = self._keep_best(step, exports, values)
            if error:
                return values, error
            self.best_value, self.best_step = deciding, step
        return values, None

    def _keep_best(self, step: int, exports: Exports, values: dict[str, float]) -> str | None:
        """Export every generator to models/best (one model: the folder itself; several: a folder each),
        replaced as a whole and atomically."""
        note = {"step": step, "metric": self.scorer.deciding, "metrics": _plain(values)}

        def write() -> None:
            if len(exports) == 1:
                ((net, spec),) = exports.values()
                save_model(net, spec | note, self.best_folder)
                return
            with atomic_dir(self.best_folder) as tmp:
                for name, (net, spec) in exports.items():
                    save_model(net, spec | note, tmp / name)

        reason = attempt_write(write)
        return f"could not write the best model {self.best_folder}: {reason}" if reason else None

    def summary(self) -> str | None:
        """One line for the end of the run: the best step and where its model is."""
        if self.best_step is None:
            return None
        return f"step {self.best_step} ({self.scorer.deciding} {self.best_value:.4g}): {self.best_folder}/"
