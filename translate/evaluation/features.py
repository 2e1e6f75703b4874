"""Image files -> feature rows for FID/KID (the arrays `translate.metrics.distribution` scores), and the
feature extractor the papers use: torch-fidelity's TF-compatible Inception-v3.

The Inception weights are never downloaded here (no PyPI package ships them): a missing file is one line
saying which file, from where, to where.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from rich.progress import track

from translate.data.images import image_size, load_image
from translate.errors import ConfigError
from translate.inference.runner import pick_device
from translate.metrics.distribution import torch_fidelity_inception

INCEPTION_LAYER = "2048"  # pool3, the layer FID and KID are defined on


class FeatureExtractor(Protocol):
    """Anything that maps a batch of images to features; `name` says which features in the report."""

    name: str

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """uint8 images, N x 3 x H x W (one size per batch) -> float64 features, N x D."""
        ...


def inception_url() -> str:
    return torch_fidelity_inception().URL_INCEPTION_V3


def inception_cache_path() -> Path:
    """Where torch-fidelity keeps the Inception weights it downloads: torch hub's checkpoints folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(inception_url()).name


def resolve_inception_weights(path: str | os.PathLike | None = None) -> Path:
    """The Inception weights file to use: `path` if given, else torch-fidelity's cached download.

    Nothing is downloaded here: a missing file is one line saying which file, from where, to where,
    instead of torch-fidelity's download attempt (which can hang for minutes offline).
    """
    if path is not None:
        given = Path(path).expanduser()
        if not given.is_file():
            raise ConfigError(f"--inception-weights {path} does not exist (expected {Path(inception_url()).name})")
        return given
    cached = inception_cache_path()
    if not cached.is_file():
        raise ConfigError(
            f"FID/KID need the Inception weights {cached.name}: download {inception_url()} to {cached} "
            f"(or pass --inception-weights PATH)"
        )
    return cached


@contextlib.contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Make every torch.load inside the block weights_only (torch-fidelity itself asks for full unpickling)."""
    saved = {k: os.environ.pop(k, None) for k in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


class InceptionFeatures:
    """torch-fidelity's TF-compatible Inception-v3 pool3 features: the FID/KID of the papers."""

    name = "inception-v3-compat pool3 (torch-fidelity), resized to 299 inside"

    def __init__(self, weights: str | os.PathLike | None = None, device: str = "auto") -> None:
        path = resolve_inception_weights(weights)
        module = torch_fidelity_inception()
        self.device = pick_device(device)
        try:
            with _weights_only_loads():
                net = module.FeatureExtractorInceptionV3(
                    "inception-v3-compat", [INCEPTION_LAYER], feature_extractor_weights_path=str(path)
                )
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            raise ConfigError(
                f"{path}: not torch-fidelity's Inception weights {Path(inception_url()).name} ({reason})"
            ) from None
        self.net = net.to(self.device)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            (features,) = self.net(torch.from_numpy(np.ascontiguousarray(images)).to(self.device))
        return features.double().cpu().numpy()


def image_features(
    paths: Sequence[Path], extractor: FeatureExtractor, batch_size: int = 32, description: str = "features"
) -> np.ndarray:
    """Features of every image in `paths`, in that order (N x D, float64).

    Images keep their own size (the extractor resizes, as torch-fidelity does); a batch only holds
    images of one size, so folders of mixed sizes work.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    by_size: dict[tuple[int, int], list[int]] = {}
    for index, path in enumerate(paths):
        by_size.setdefault(image_size(path), []).append(index)
    batches = [group[i : i + batch_size] for group in by_size.values() for i in range(0, len(group), batch_size)]
    rows: list[np.ndarray | None] = [None] * len(paths)
    for batch in track(batches, description=description, transient=True):
        images = np.stack([np.asarray(load_image(paths[i])).transpose(2, 0, 1) for i in batch])
        features = np.asarray(extractor(images), dtype=np.float64)
        if features.ndim != 2 or len(features) != len(batch):
            raise ValueError(f"feature extractor gave shape {features.shape} for {len(batch)} images")
        for i, row in zip(batch, features, strict=True):
            rows[i] = row
    return np.stack(rows) if rows else np.zeros((0, 0))
