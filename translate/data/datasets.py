"""torch Datasets for the three kinds of data: unpaired domains, aligned pairs, plain folders.

Items are dicts of CHW float tensors in [-1, 1] plus the source paths as str. Randomness (crops,
flips, the partner drawn from domain B) comes only from (seed, epoch, index), so an item is the
same whichever worker loads it, and a resumed run replays the exact epoch it stopped in.

Bad files do not stop a run, within reason. Every header is read when a data set is built: the
unreadable files are left out and reported once, and a data set where more than MAX_BAD_SHARE of
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

from translate.data.folders import find_images, pair_folders
from translate.data.images import image_size, load_image
from translate.data.transforms import eval_transform, item_seed, seed_transform
from translate.errors import ConfigError, DataError

Paths = Sequence[str | os.PathLike] | str | os.PathLike
DIRECTIONS = ("a2b", "b2a")
MAX_BAD_SHARE = 0.5  # more unreadable files than this share stops a run: the data set itself is wrong
MAX_SUBSTITUTES = 16  # items tried in place of one that fails to decode, before giving up

logger = logging.getLogger(__name__)


class _SeededDataset(Dataset):
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


class UnpairedDataset(_SeededDataset):
    """Two unrelated domains (CycleGAN, DiscoGAN): A in order, B drawn at random for each item.

    len = max(len(A), len(B)), so one epoch shows every image of the larger domain once.
    """

    def __init__(self, paths_a: Paths, paths_b: Paths, transform: Callable | None = None, seed: int = 0):
        super().__init__(transform if transform is not None else eval_transform(), seed)
        self.paths_a = list(scan_headers(_as_paths(paths_a, "A"), "images of domain A"))
        self.paths_b = list(scan_headers(_as_paths(paths_b, "B"), "images of domain B"))

    def __len__(self) -> int:
        return max(len(self.paths_a), len(self.paths_b))

    def _item(self, index: int) -> dict[str, Any]:
        rng = self._seed_item(index)
        path_a = self.paths_a[index % len(self.paths_a)]
        path_b = self.paths_b[int(rng.integers(len(self.paths_b)))]
        return {
            "a": self.transform(image=_pixels(path_a))["image"],
            "b": self.transform(image=_pixels(path_b))["image"],
            "a_path": str(path_a),
            "b_path": str(path_b),
        }


class PairedDataset(_SeededDataset):
    """Aligned pairs (pix2pix, SRGAN): "a" is always the input and "b" the target.

    Build it with `from_side_by_side` or `from_folders`; both check every pair up front (reading
    headers only), so a bad file is reported (and left out) before training starts, not hours into it.
    The transform must be paired (`train_transform(..., paired=True)`), so A and B get the same
    crop and flip.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        transform: Callable | None = None,
        direction: str = "a2b",
        seed: int = 0,
        side_by_side: bool = False,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction must be one of {', '.join(DIRECTIONS)}, got '{direction}'")
        transform = transform if transform is not None else eval_transform(paired=True)
        if getattr(transform, "additional_targets", {"b": "image"}).get("b") != "image":
            raise ValueError("PairedDataset needs a paired transform: train_transform(..., paired=True)")
        super().__init__(transform, seed)
        self.pairs = list(pairs)
        self.direction = direction
        self.side_by_side = side_by_side

    @classmethod
    def from_side_by_side(
        cls, paths: Paths, transform: Callable | None = None, direction: str = "a2b", seed: int = 0
    ) -> PairedDataset:
        """One image per pair, A on the left half and B on the right (the public pix2pix sets)."""
        sizes = scan_headers(_as_paths(paths, "side-by-side"), "side-by-side images")
        files = list(sizes)
        odd = [f"{path} ({_wxh(size)})" for path, size in sizes.items() if size[0] % 2]
        if odd:
            raise DataError(
                f"{_n(odd, 'side-by-side image')} with an odd width, which cannot be split into equal "
                f"A|B halves: {_some(odd)}"
            )
        return cls([(p, p) for p in files], transform, direction, seed, side_by_side=True)

    @classmethod
    def from_folders(
        cls,
        root_a: str | os.PathLike,
        root_b: str | os.PathLike,
        transform: Callable | None = None,
        direction: str = "a2b",
        seed: int = 0,
    ) -> PairedDataset:
        """Two folders whose files pair by relative path and name; extensions may differ (1.jpg ~ 1.png)."""
        root_a, root_b = Path(root_a).expanduser(), Path(root_b).expanduser()
        pairs = scan_pair_headers(pair_folders(root_a, root_b), "A|B pairs")
        mismatched = [
            f"{path_a} ({_wxh(size_a)}) vs {path_b} ({_wxh(size_b)})"
            for (path_a, path_b), (size_a, size_b) in pairs.items()
            if size_a != size_b
        ]
        if mismatched:
            raise DataError(f"{_n(mismatched, 'pair')} with different sizes for A and B: {_some(mismatched)}")
        return cls(list(pairs), transform, direction, seed)

    def __len__(self) -> int:
        return len(self.pairs)

    def _item(self, index: int) -> dict[str, Any]:
        self._seed_item(index)
        path_a, path_b = self.pairs[index]
        if self.side_by_side:
            both = _pixels(path_a)
            half = both.shape[1] // 2
            if both.shape[1] % 2:
                raise DataError(f"{path_a}: odd width {both.shape[1]}, cannot split into equal A|B halves")
            pixels_a, pixels_b = both[:, :half], both[:, half:]
        else:
            pixels_a, pixels_b = _pixels(path_a), _pixels(path_b)
            if pixels_a.shape != pixels_b.shape:
                raise DataError(f"{path_a} and {path_b}: paired images differ in size")
        if self.direction == "b2a":
            pixels_a, pixels_b, path_a, path_b = pixels_b, pixels_a, path_b, path_a
        out = self.transform(image=np.ascontiguousarray(pixels_a), b=np.ascontiguousarray(pixels_b))
        return {"a": out["image"], "b": out["b"], "a_path": str(path_a), "b_path": str(path_b)}


class ImageFolderDataset(Dataset):
    """Images to convert with a trained model; "size" is the original (width, height), so the
    output can be resized back. The default DataLoader collate turns it into [widths, heights]."""

    def __init__(self, paths: Paths, transform: Callable | None = None) -> None:
        self.paths = _as_paths(paths, "input")
        self.transform = transform if transform is not None else eval_transform()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        pixels = _pixels(path)
        height, width = pixels.shape[:2]
        return {"image": self.transform(image=pixels)["image"], "path": str(path), "size": (width, height)}


def _as_paths(paths: Paths, what: str) -> list[Path]:
    """A folder (searched recursively) or an explicit list of files."""
    if isinstance(paths, (str, os.PathLike)):
        return find_images(paths)
    found = [Path(p) for p in paths]
    if not found:
        raise DataError(f"no {what} images were given")
    return found


def scan_headers(paths: Sequence[Path], what: str) -> dict[Path, tuple[int, int]]:
    """(width, height) of every readable file in `paths`, in order, from the headers only.

    Unreadable files are left out and reported once (path and reason); more than MAX_BAD_SHARE of
    them raises DataError. `what` names the files in messages ("images of domain A").
    """
    sizes, problems = _header_sizes(paths)
    skip_unreadable(len(problems), len(paths), what, list(problems.values()))
    return sizes


def scan_pair_headers(
    pairs: Sequence[tuple[Path, Path]], what: str
) -> dict[tuple[Path, Path], tuple[tuple[int, int], tuple[int, int]]]:
    """As `scan_headers` for pairs of files: a pair with an unreadable file is left out."""
    sizes, problems = _header_sizes(list(dict.fromkeys(p for pair in pairs for p in pair)))
    kept = {(a, b): (sizes[a], sizes[b]) for a, b in pairs if a in sizes and b in sizes}
    reasons = [problems[p] for pair in pairs for p in pair if p in problems]
    skip_unreadable(len(pairs) - len(kept), len(pairs), what, list(dict.fromkeys(reasons)))
    return kept


def skip_unreadable(bad: int, total: int, what: str, reasons: list[str]) -> None:
    """Report `bad` of `total` items left out (once, by the main process), or stop if that is too many."""
    if not bad:
        return
    share = f"{MAX_BAD_SHARE:.0%}"
    if bad > MAX_BAD_SHARE * total:
        raise DataError(
            f"{bad} of {total} {what} cannot be read, more than the {share} a run may skip "
            f"(is this the right folder?): {_some(reasons)}"
        )
    if is_main_process():
        shown = "\n  ".join(reasons[:20]) + (f"\n  ... and {len(reasons) - 20} more" if len(reasons) > 20 else "")
        logger.warning("skipping %d of %d %s that cannot be read:\n  %s", bad, total, what, shown)


def is_main_process() -> bool:
    """False in the other processes of a multi-process run (they would repeat the main one's reports)."""
    return os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


def _header_sizes(paths: Sequence[Path]) -> tuple[dict[Path, tuple[int, int]], dict[Path, str]]:
    """({path: (width, height)} of readable files, {path: one-line reason} of the others)."""
    sizes, problems = {}, {}
    for path in paths:
        try:
            sizes[path] = image_size(path)
        except DataError as exc:
            problems[path] = str(exc)
    return sizes, problems


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(load_image(path))


def _n(items: list[str], noun: str) -> str:
    return f"1 {noun}" if len(items) == 1 else f"{len(items)} {noun}s"


def _some(items: list[str], shown: int = 3) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def _wxh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"
