"""Image files -> feature rows for FID/KID (the arrays `translate.metrics.distribution` scores)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.progress import track

from translate.data.images import image_size, load_image
from translate.errors import ConfigError
from translate.metrics.distribution import FeatureExtractor


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
