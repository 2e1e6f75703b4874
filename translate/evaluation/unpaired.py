"""Score an unpaired translation model (CycleGAN, DiscoGAN, ...) by FID and KID against real targets.

Without pairs there is no per-image truth: the held-out inputs are translated (through the same
runner and pipeline as `translate convert`) and the set of translations is compared with a set of real target
images. The untranslated inputs are scored against the same targets too, because "change nothing"
is the baseline a model must beat (as the input columns of the paired evaluation).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from translate.data.domains import resolve_domain
from translate.data.folders import find_images
from translate.errors import ConfigError, DataError
from translate.evaluation import features
from translate.evaluation.features import FeatureExtractor, image_features
from translate.evaluation.report import Evaluation
from translate.inference.runner import Translator
from translate.metrics import distribution


@dataclass
class SetScores:
    """FID and KID of one set of translations (and of its inputs) against the target set."""

    name: str
    fid: float
    kid: float
    kid_std: float
    input_fid: float
    input_kid: float
    input_kid_std: float


@dataclass
class UnpairedEvaluation(Evaluation):
    """One row (the whole test set): a distribution score has no per-image values, so the mean is that row."""

    model: str
    input: str
    target: str
    direction: str | None
    features: str
    n_input: int
    n_target: int
    kid_subset_size: int
    kid_subsets: int
    failed: list[str]

    COLUMNS = (
        ("FID", "fid", "{:.2f}"),
        ("KID", "kid", "{:.4f}"),
        ("KID sd", "kid_std", "{:.4f}"),
        ("input FID", "input_fid", "{:.2f}"),
        ("input KID", "input_kid", "{:.4f}"),
        ("input KID sd", "input_kid_std", "{:.4f}"),
    )

    @property
    def title(self) -> str:
        way = f" ({self.direction})" if self.direction else ""
        return f"FID/KID of the translations{way} vs {self.n_target} target images (input columns: inputs as they are)"

    @property
    def conventions(self) -> str:
        return (
            f"features: {self.features}; FID: Fréchet distance of Gaussian fits; KID: unbiased MMD² with the "
            f"cubic polynomial kernel, mean and std over {self.kid_subsets} subsets of {self.kid_subset_size}"
        )


def check_fid_channels(in_channels: int, out_channels: int) -> None:
    """FID/KID's Inception sees RGB: greyscale images are replicated to it (as the usual tools do), other
    channel counts have no meaning there and are refused."""
    for side, channels in (("input", in_channels), ("output", out_channels)):
        if channels not in (1, 3):
            raise ConfigError(
                f"FID/KID compare RGB (or greyscale) images; this model's {side} has {channels} channels: "
                "score it on pairs (L1, PSNR, SSIM over its channels) instead"
            )


def evaluate_unpaired(
    model: Path,
    input_dir: str | os.PathLike,
    target_dir: str | os.PathLike,
    direction: str | None = None,
    device: str = "auto",
    batch_size: int = 32,
    inception_weights: str | os.PathLike | None = None,
    extractor: FeatureExtractor | None = None,
    kid_subset_size: int | None = None,
) -> UnpairedEvaluation:
    """FID/KID of `model`'s translations of `input_dir` against `target_dir`, and of the inputs themselves.

    `extractor` defaults to torch-fidelity's Inception (weights from `inception_weights` or its cache),
    resolved first so that missing weights fail before any translating. `batch_size` is the feature
    extractor's.
    """
    if extractor is None:
        extractor = features.InceptionFeatures(inception_weights, device=device)
    inputs_root, targets_root = resolve_domain(str(input_dir)), resolve_domain(str(target_dir))
    targets = find_images(targets_root)
    translator = Translator.load(Path(model), direction=direction, device=device)
    check_fid_channels(translator.in_channels, translator.out_channels)
    with tempfile.TemporaryDirectory(prefix="translate-unpaired-") as tmp:
        # scored as the network made them: 8-bit, no alpha re-attached
        report = translator.convert_folder(inputs_root, Path(tmp), bit_depth="8", alpha="drop")
        failed = {Path(f).resolve() for f in report.failed}
        inputs = [p for p in find_images(inputs_root) if p.resolve() not in failed]
        outputs = find_images(tmp) if report.converted else []
        if len(outputs) < 2 or len(targets) < 2:
            counts = f"{len(outputs)} translated, {len(targets)} targets"
            raise DataError(f"FID/KID need at least 2 images in each set: {counts}")
        output_features = image_features(outputs, extractor, batch_size, "features: translations")
    target_features = image_features(targets, extractor, batch_size, "features: targets")
    input_features = image_features(inputs, extractor, batch_size, "features: inputs")
    values = distribution.fid_kid(output_features, target_features, input_features, kid_subset_size)
    size = int(values.pop("kid_subset_size"))
    scores = SetScores("test set", **values)
    return UnpairedEvaluation(
        [scores],
        str(model),
        str(input_dir),
        str(target_dir),
        direction,
        extractor.name,
        len(inputs),
        len(targets),
        size,
        distribution.KID_SUBSETS,
        sorted(report.failed),
    )
