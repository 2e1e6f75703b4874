"""Augmentations (albumentations) and the seeding that makes them reproducible.

albumentations 2.x keeps its own random state inside each Compose, ignoring numpy and torch, and
every DataLoader worker gets a copy of the same state. So the datasets re-seed the transform for
every item from (seed, epoch, index): the result depends on nothing else (not the worker count,
not the order workers run in), and a resumed run sees exactly the crops it would have seen.

albumentations (and its cv2) is imported by the functions that build transforms, each import marked
`# lazy`: super-resolution data and evaluation import this module (through translate.data.datasets)
but never use it, and importing albumentations asks PyPI for a newer version of itself (a synchronous
request, 2 s timeout) unless NO_ALBUMENTATIONS_UPDATE is set.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
import torch

from translate.errors import ConfigError

if TYPE_CHECKING:
    import albumentations as A

_PAIRED_TARGETS = {"b": "image"}  # an image, not a mask: masks get nearest resizing and no colour ops


def train_transform(size: int, load_size: int, flip: bool = True, paired: bool = False) -> A.Compose:
    """Resize to load_size (bicubic), random size crop, optional flip, then [-1, 1] CHW tensor.

    paired=True: call as `t(image=a, b=b)`; both images get the same crop and flip.
    """
    import albumentations as A  # lazy
    import cv2  # lazy

    if size < 1 or load_size < size:
        raise ConfigError(f"load size {load_size} must be at least the crop size {size} (and both positive)")
    steps = [A.Resize(load_size, load_size, interpolation=cv2.INTER_CUBIC), A.RandomCrop(size, size)]
    if flip:
        steps.append(A.HorizontalFlip(p=0.5))
    return _compose([*steps, *_to_tensor()], paired)


def eval_transform(size: int | None = None, paired: bool = False) -> A.Compose:
    """Deterministic: optional bicubic resize to (size, size), then [-1, 1] CHW tensor."""
    import albumentations as A  # lazy
    import cv2  # lazy

    steps = [] if size is None else [A.Resize(size, size, interpolation=cv2.INTER_CUBIC)]
    return _compose([*steps, *_to_tensor()], paired)


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 32-bit seed for one item of one epoch; nearby inputs give unrelated seeds."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def seed_transform(transform: object, seed: int) -> None:
    """Re-seed a Compose (recursively) so that its next call is fully determined by `seed`.

    Compose.set_random_seed alone hands the SAME seed to every child, so RandomCrop's first draw
    equals HorizontalFlip's first draw and the flip would depend on the crop position. Each child
    therefore gets its own seed, derived from (seed, position).
    """
    if not hasattr(transform, "set_random_seed"):
        return  # a plain callable: nothing to seed
    transform.set_random_seed(seed)
    for position, child in enumerate(getattr(transform, "transforms", ())):
        seed_transform(child, int(np.random.SeedSequence([seed, position]).generate_state(1)[0]))


def seed_worker(worker_id: int) -> None:
    """DataLoader(worker_init_fn=seed_worker): seed `random` and numpy from the worker's torch seed.

    The data transforms do not need this (they are seeded per item); it covers any other random
    code that runs in a worker.
    """
    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)


def _to_tensor() -> list:
    import albumentations as A  # lazy
    from albumentations.pytorch import ToTensorV2  # lazy

    return [A.Normalize(mean=0.5, std=0.5, max_pixel_value=255.0), ToTensorV2()]


def _compose(steps: list, paired: bool) -> A.Compose:
    import albumentations as A  # lazy

    return A.Compose(steps, additional_targets=dict(_PAIRED_TARGETS) if paired else None)
