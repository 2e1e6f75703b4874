"""torch Datasets for the two kinds of translation data: unpaired domains and aligned pairs.

Items are dicts of CHW float tensors in [-1, 1] plus the source paths as str. Randomness (crops,
flips, the partner drawn from domain B) comes only from (seed, epoch, index), so an item is the
same whichever worker loads it, and a resumed run replays the exact epoch it stopped in.

Bad files do not stop a run, within reason. Every header is read when a data set is built: the
unreadable files are left out and reported once (translate.data.scanning), and a data set where more than half of
the files are unreadable stops with an error instead of training on what is left. A file that
passes the header scan but fails to decode later (damage past the header) is logged once and its
item is replaced by the next readable one, chosen from the index alone, so a resumed run still
sees exactly the items an uninterrupted one would have.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from translate.choices import DIRECTION_CHOICES
from translate.data.folders import pair_folders
from translate.data.pixels import fit_channels, grey
from translate.data.scanning import (
    Paths,
    as_paths,
    check_channels,
    count,
    read_pixels,
    scan_headers,
    scan_pair_headers,
    some_of,
    wxh,
)
from translate.data.transforms import eval_transform, item_seed, seed_transform
from translate.errors import ConfigError, DataError

MAX_SUBSTITUTES = 16  # items tried in place of one that fails to decode, before giving up

logger = logging.getLogger(__name__)


class SeededDataset(Dataset):
    """Holds the seed and the epoch; the epoch lives in shared memory so that set_epoch reaches
    DataLoader workers that already exist (persistent_workers=True)."""

    def __init__(self, transform: Callable[..., dict[str, Any]], seed: int) -> None:
        if seed < 0:
            raise ConfigError(f"seed must be zero or positive, got {seed}")
        self.transform = transform
        self.seed = seed
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._warned: set[str] = set()  # per process: each DataLoader worker warns once per problem

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Call before iterating each epoch, so every epoch sees new crops and partners."""
        self._epoch.fill_(epoch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Item `index`, or when one of its files fails to decode, the next item that does (logged once)."""
        tries, message = min(len(self), MAX_SUBSTITUTES + 1), "none"
        for attempt in range(tries):
            try:
                return self._item((index + attempt) % len(self))
            except DataError as exc:
                message = str(exc)
                if message not in self._warned:
                    self._warned.add(message)
                    logger.warning("%s; its item is replaced by another one", message)
        raise DataError(
            f"{tries} items in a row (from item {index}) have files that cannot be decoded, "
            f"the last: {message}; check the data set"
        )

    def _item(self, index: int) -> dict[str, Any]:
        """Build item `index`; raises DataError when one of its files cannot be read."""
        raise NotImplementedError

    def _seed_item(self, index: int) -> np.random.Generator:
        """Seed the transform for this item; return a generator for the dataset's own draws."""
        seed = item_seed(self.seed, self.epoch, index)
        seed_transform(self.transform, seed)
        return np.random.default_rng([seed, 1])


class UnpairedDataset(SeededDataset):
    """Two unrelated domains (CycleGAN, DiscoGAN): A in order, B drawn at random for each item.

    len = max(len(A), len(B)), so one epoch shows every image of the larger domain once. `channels`: those
    of A and B (the model's --input-nc and --output-nc).
    """

    def __init__(
        self,
        paths_a: Paths,
        paths_b: Paths,
        transform: Callable | None = None,
        seed: int = 0,
        channels: tuple[int, int] = (3, 3),
    ):
        super().__init__(transform if transform is not None else eval_transform(), seed)
        self.paths_a = list(scan_headers(as_paths(paths_a, "A"), "images of domain A"))
        self.paths_b = list(scan_headers(as_paths(paths_b, "B"), "images of domain B"))
        self.channels = channels
        check_channels(self.paths_a, channels[0], "images of domain A", "--input-nc")
        check_channels(self.paths_b, channels[1], "images of domain B", "--output-nc")

    def __len__(self) -> int:
        return max(len(self.paths_a), len(self.paths_b))

    def _item(self, index: int) -> dict[str, Any]:
        rng = self._seed_item(index)
        path_a = self.paths_a[index % len(self.paths_a)]
        path_b = self.paths_b[int(rng.integers(len(self.paths_b)))]
        return {
            "a": self.transform(image=read_pixels(path_a, self.channels[0]))["image"],
            "b": self.transform(image=read_pixels(path_b, self.channels[1]))["image"],
            "a_path": str(path_a),
            "b_path": str(path_b),
        }


class PairedDataset(SeededDataset):
    """Aligned pairs (pix2pix, SRGAN): "a" is always the input and "b" the target.

    Build it with `from_side_by_side` or `from_folders`; both check every pair up front (reading
    headers only), so a bad file is reported (and left out) before training starts, not hours into it.
    The transform must be paired (`train_transform(..., paired=True)`), so A and B get the same
    crop and flip. `channels`: those of the input and the target (after `direction`).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        transform: Callable | None = None,
        direction: str = "a2b",
        seed: int = 0,
        side_by_side: bool = False,
        channels: tuple[int, int] = (3, 3),
        colorization: bool = False,
    ) -> None:
        if direction not in DIRECTION_CHOICES:
            raise ConfigError(f"direction must be one of {', '.join(DIRECTION_CHOICES)}, got '{direction}'")
        transform = transform if transform is not None else eval_transform(paired=True)
        if getattr(transform, "additional_targets", {"b": "image"}).get("b") != "image":
            raise ValueError("PairedDataset needs a paired transform: train_transform(..., paired=True)")
        super().__init__(transform, seed)
        self.pairs = list(pairs)
        self.direction = direction
        self.side_by_side = side_by_side
        self.channels = channels
        self.colorization = colorization
        if side_by_side or colorization:
            check_channels([a for a, _ in self.pairs], max(channels), "images", "--input-nc/--output-nc")
        else:
            inputs, targets = zip(*self.pairs, strict=True) if self.pairs else ((), ())
            if direction == "b2a":
                inputs, targets = targets, inputs
            check_channels(list(inputs), channels[0], "input images", "--input-nc")
            check_channels(list(targets), channels[1], "target images", "--output-nc")

    @classmethod
    def from_photos(
        cls, paths: Paths, transform: Callable | None = None, seed: int = 0, channels: tuple[int, int] = (1, 3)
    ) -> PairedDataset:
        """Colorization: each colour photo is a pair, its greyscale the input and itself the target.

        Grey in, RGB out (rather than the reference's Lab, L in and ab out): the grey is exactly what a
        1-channel model makes of any colour photo at conversion (Pillow's "L"), so a folder of photos
        converts, and is scored, as it trained, and the results are plain RGB images with nothing to
        recombine or convert back from Lab.
        """
        files = list(scan_headers(as_paths(paths, "colour"), "colour photos"))
        return cls([(p, p) for p in files], transform, "a2b", seed, channels=channels, colorization=True)

    @classmethod
    def from_side_by_side(
        cls,
        paths: Paths,
        transform: Callable | None = None,
        direction: str = "a2b",
        seed: int = 0,
        channels: tuple[int, int] = (3, 3),
    ) -> PairedDataset:
        """One image per pair, A on the left half and B on the right (the public pix2pix sets)."""
        sizes = scan_headers(as_paths(paths, "side-by-side"), "side-by-side images")
        files = list(sizes)
        odd = [f"{path} ({wxh(size)})" for path, size in sizes.items() if size[0] % 2]
        if odd:
            raise DataError(
                f"{count(odd, 'side-by-side image')} with an odd width, which cannot be split into equal "
                f"A|B halves: {some_of(odd)}"
            )
        return cls([(p, p) for p in files], transform, direction, seed, side_by_side=True, channels=channels)

    @classmethod
    def from_folders(
        cls,
        root_a: str | os.PathLike,
        root_b: str | os.PathLike,
        transform: Callable | None = None,
        direction: str = "a2b",
        seed: int = 0,
        channels: tuple[int, int] = (3, 3),
    ) -> PairedDataset:
        """Two folders whose files pair by relative path and name; extensions may differ (1.jpg ~ 1.png)."""
        root_a, root_b = Path(root_a).expanduser(), Path(root_b).expanduser()
        pairs = scan_pair_headers(pair_folders(root_a, root_b), "A|B pairs")
        mismatched = [
            f"{path_a} ({wxh(size_a)}) vs {path_b} ({wxh(size_b)})"
            for (path_a, path_b), (size_a, size_b) in pairs.items()
            if size_a != size_b
        ]
        if mismatched:
            raise DataError(f"{count(mismatched, 'pair')} with different sizes for A and B: {some_of(mismatched)}")
        return cls(list(pairs), transform, direction, seed, channels=channels)

    def __len__(self) -> int:
        return len(self.pairs)

    def _item(self, index: int) -> dict[str, Any]:
        self._seed_item(index)
        path_a, path_b = self.pairs[index]
        channels_a, channels_b = self.channels if self.direction == "a2b" else self.channels[::-1]
        if self.colorization:
            pixels_b = read_pixels(path_b, 3)
            pixels_a = grey(pixels_b)
        elif self.side_by_side:
            both = read_pixels(path_a, max(self.channels))
            half = both.shape[1] // 2
            if both.shape[1] % 2:
                raise DataError(f"{path_a}: odd width {both.shape[1]}, cannot split into equal A|B halves")
            pixels_a = fit_channels(both[:, :half], channels_a, str(path_a))
            pixels_b = fit_channels(both[:, half:], channels_b, str(path_b))
        else:
            pixels_a, pixels_b = read_pixels(path_a, channels_a), read_pixels(path_b, channels_b)
            if pixels_a.shape[:2] != pixels_b.shape[:2]:
                raise DataError(f"{path_a} and {path_b}: paired images differ in size")
        if self.direction == "b2a":
            pixels_a, pixels_b, path_a, path_b = pixels_b, pixels_a, path_b, path_a
        out = self.transform(image=np.ascontiguousarray(pixels_a), b=np.ascontiguousarray(pixels_b))
        return {"a": out["image"], "b": out["b"], "a_path": str(path_a), "b_path": str(path_b)}
