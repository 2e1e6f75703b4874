"""FID and KID: how far apart two sets of images are, compared through their features.

Unpaired translation has no ground truth per image, so papers compare the distribution of the
translations with that of real target images. The standard features are torch-fidelity's port of
the TF Inception-v3 (pool3, 2048-d; images of any size resized to 299 inside, the way TF did), which
reproduces the published FID numbers. The statistics are torch-fidelity's own: FID is the Fréchet
distance of Gaussian fits, KID the unbiased MMD² with the cubic polynomial kernel, mean and std over
100 random subsets (seed 2020). This module computes on feature arrays only; the features come from
`translate.evaluation.features` (Inception, or any injected extractor, so tests use a tiny one).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from translate.errors import ConfigError, DataError

KID_SUBSETS = 100
KID_MAX_SUBSET_SIZE = 1000
KID_SEED = 2020  # torch-fidelity's default rng_seed: the same subsets, the same numbers


def torch_fidelity_inception() -> Any:
    """torch-fidelity's Inception module, or a one-line hint on how to install it."""
    try:
        from torch_fidelity import feature_extractor_inceptionv3  # lazy: optional extra 'metrics'
    except ImportError:
        raise ConfigError("FID/KID need torch-fidelity: pip install 'translate-gan[metrics]'") from None
    return feature_extractor_inceptionv3


def _check(a: np.ndarray, b: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"{metric} needs two N x D feature arrays of one D, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise DataError(f"{metric} needs at least 2 images in each set, got {len(a)} and {len(b)}")
    return a, b


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the two feature sets (lower: closer)."""
    torch_fidelity_inception()
    from torch_fidelity.metric_fid import (  # lazy: optional extra 'metrics'
        KEY_METRIC_FID,
        fid_features_to_statistics,
        fid_statistics_to_metric,
    )

    a, b = _check(a, b, "FID")
    stats = [fid_features_to_statistics(torch.from_numpy(x)) for x in (a, b)]
    return float(fid_statistics_to_metric(*stats, verbose=False)[KEY_METRIC_FID])


def kid_subset_size(n_a: int, n_b: int, requested: int | None = None) -> int:
    """torch-fidelity's 1000, or fewer when a set is smaller; a requested size must fit both sets."""
    if requested is None:
        return min(KID_MAX_SUBSET_SIZE, n_a, n_b)
    if not 2 <= requested <= min(n_a, n_b):
        raise ConfigError(f"KID subset size {requested} must be between 2 and the smaller set's {min(n_a, n_b)} images")
    return requested


def kid(
    a: np.ndarray, b: np.ndarray, subset_size: int | None = None, subsets: int = KID_SUBSETS, seed: int = KID_SEED
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD² (cubic polynomial kernel) over `subsets` random subsets."""
    torch_fidelity_inception()
    from torch_fidelity.metric_kid import (  # lazy: optional extra 'metrics'
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    a, b = _check(a, b, "KID")
    size = kid_subset_size(len(a), len(b), subset_size)
    settings = {"kid_subsets": subsets, "kid_subset_size": size, "rng_seed": seed, "verbose": False}
    out = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), **settings)
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])


def fid_kid(
    translated: np.ndarray, targets: np.ndarray, inputs: np.ndarray, subset_size: int | None = None
) -> dict[str, float]:
    """FID and KID of the translations against the targets, and of the untranslated inputs (the
    baseline a model must beat) against the same targets, with one KID subset size for both.

    The one place both `translate evaluate unpaired` and evaluation while training score a model.
    """
    size = kid_subset_size(min(len(translated), len(inputs)), len(targets), subset_size)
    kid_mean, kid_std = kid(translated, targets, size)
    input_kid, input_kid_std = kid(inputs, targets, size)
    return {
        "fid": fid(translated, targets),
        "kid": kid_mean,
        "kid_std": kid_std,
        "input_fid": fid(inputs, targets),
        "input_kid": input_kid,
        "input_kid_std": input_kid_std,
        "kid_subset_size": size,
    }
