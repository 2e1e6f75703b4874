"""Super-resolution training data: high-resolution crops and their low-resolution inputs.

Two sources. From HR images alone (the usual case: DIV2K, any photo folder) each item is a random
HR crop whose LR input is made on the fly by bicubic downscaling with antialiasing (Pillow's,
the same kernel as MATLAB's `imresize`, which defines the SR benchmarks). Or from a folder of real
LR images paired by name with an HR folder, where HR must be exactly `scale` times LR and the
crops are aligned (an LR crop at (x, y) goes with the HR crop at (scale x, scale y)).

Items are {"a": LR, "b": HR, "a_path", "b_path"}: CHW float tensors in [-1, 1], like every other
data set here, so the engine and the sample grids need nothing special. Crops and flips come only
from (seed, epoch, index) through the seeding of `datasets._SeededDataset`.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from translate.data.datasets import SeededDataset
from translate.data.domains import resolve_domain
from translate.data.folders import pair_folders
from translate.data.images import image_to_tensor
from translate.data.scanning import (
    Paths,
    as_paths,
    count,
    is_main_process,
    read_pixels,
    scan_headers,
    scan_pair_headers,
    some_of,
    wxh,
)
from translate.errors import ConfigError, DataError

logger = logging.getLogger(__name__)


def bicubic_resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """HxWx3 uint8 -> height x width x 3 uint8 with Pillow's bicubic, antialiased when shrinking."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(pixels)).resize((width, height), Image.Resampling.BICUBIC))


def bicubic_downscale(pixels: np.ndarray, scale: int) -> np.ndarray:
    """The LR image of an HR image whose sides are multiples of `scale` (see `modcrop`)."""
    height, width = pixels.shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"{width}x{height} is not divisible by scale {scale}: modcrop it first")
    return bicubic_resize(pixels, width // scale, height // scale)


def modcrop(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Drop the last rows and columns so both sides are multiples of `scale` (the SR benchmark convention)."""
    height, width = pixels.shape[:2]
    return pixels[: height - height % scale, : width - width % scale]


class DecodedImages:
    """The most recently used decoded images, up to a byte budget.

    A crop is a small part of a large photo, so decoding the whole file for every crop dominated the
    step time (15 ms an item for 512 px PNGs, against well under 1 ms for the crop itself). Each
    DataLoader worker holds its own copy, so the budget is per worker.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._images: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._bytes = 0

    def __call__(self, path: Path) -> np.ndarray:
        if path in self._images:
            self._images.move_to_end(path)
            return self._images[path]
        pixels = read_pixels(path)
        pixels.flags.writeable = False  # shared between crops: nobody may change it in place
        if pixels.nbytes <= self.budget_bytes:
            self._images[path] = pixels
            self._bytes += pixels.nbytes
            while self._bytes > self.budget_bytes:
                _, dropped = self._images.popitem(last=False)
                self._bytes -= dropped.nbytes
        return pixels

    def __getstate__(self) -> dict[str, Any]:
        """Workers start empty rather than receiving a pickled copy of the main process's images."""
        return {"budget_bytes": self.budget_bytes, "_images": OrderedDict(), "_bytes": 0}


class SuperResDataset(SeededDataset):
    """Random aligned (LR, HR) crops; build it with `from_hr` or `from_pairs`.

    len = images x `crops_per_image`: small folders still fill batches, and each repeat of an
    image gets its own crop. Decoded images are kept up to `cache_mb` per worker.
    """

    def __init__(
        self,
        items: Sequence[tuple[Path | None, Path]],
        scale: int,
        hr_size: int,
        flip: bool = True,
        seed: int = 0,
        crops_per_image: int = 1,
        cache_mb: int = 1024,
    ) -> None:
        check_crop(scale, hr_size)
        if crops_per_image < 1:
            raise ConfigError(f"crops per image must be at least 1, got {crops_per_image}")
        super().__init__(None, seed)  # crops are drawn from each item's generator: no albumentations here
        self.items = list(items)
        self.scale, self.hr_size, self.flip = scale, hr_size, flip
        self.crops_per_image = crops_per_image
        self._decoded = DecodedImages(cache_mb * 2**20)

    @classmethod
    def from_hr(cls, paths: Paths, scale: int, hr_size: int, **options: Any) -> SuperResDataset:
        """HR images only; LR inputs are their bicubic downscales. Images smaller than the crop are skipped."""
        check_crop(scale, hr_size)
        sizes = scan_headers(as_paths(paths, "HR"), "HR images")  # unreadable files are left out
        files = list(sizes)
        kept = [p for p in files if min(sizes[p]) >= hr_size]
        _skip_small([f"{p} ({wxh(sizes[p])})" for p in files if p not in kept], len(files), hr_size, hr_size)
        return cls([(None, p) for p in kept], scale, hr_size, **options)

    @classmethod
    def from_pairs(
        cls, lr_root: str | os.PathLike, hr_root: str | os.PathLike, scale: int, hr_size: int, **options: Any
    ) -> SuperResDataset:
        """Real LR images paired with HR images by relative path and name; HR must be exactly scale x LR."""
        check_crop(scale, hr_size)
        lr_root, hr_root = Path(lr_root).expanduser(), Path(hr_root).expanduser()
        scanned = scan_pair_headers(pair_folders(lr_root, hr_root), "LR|HR pairs")
        pairs = list(scanned)
        sizes = {path: size for pair, both in scanned.items() for path, size in zip(pair, both, strict=True)}
        wrong = [
            f"{hr} ({wxh(sizes[hr])}) vs {lr} ({wxh(sizes[lr])})"
            for lr, hr in pairs
            if sizes[hr] != (sizes[lr][0] * scale, sizes[lr][1] * scale)
        ]
        if wrong:
            raise DataError(f"{count(wrong, 'pair')} where HR is not exactly {scale}x LR: {some_of(wrong)}")
        lr_size = hr_size // scale
        kept = [(lr, hr) for lr, hr in pairs if min(sizes[lr]) >= lr_size]
        small = [f"{lr} ({wxh(sizes[lr])})" for lr, hr in pairs if min(sizes[lr]) < lr_size]
        _skip_small(small, len(pairs), lr_size, hr_size)
        return cls(kept, scale, hr_size, **options)

    def __len__(self) -> int:
        return len(self.items) * self.crops_per_image

    def _item(self, index: int) -> dict[str, Any]:
        rng = self._seed_item(index)
        lr_path, hr_path = self.items[index % len(self.items)]
        hr = self._decoded(hr_path)
        if lr_path is None:
            top, left = _crop_origin(hr, self.hr_size, rng)
            (hr,) = self._flips(rng, hr[top : top + self.hr_size, left : left + self.hr_size])
            lr = bicubic_downscale(hr, self.scale)
        else:
            lr = self._decoded(lr_path)
            if hr.shape[:2] != (lr.shape[0] * self.scale, lr.shape[1] * self.scale):
                raise DataError(f"{hr_path} is not exactly {self.scale}x {lr_path} (did a file change?)")
            lr_size = self.hr_size // self.scale
            top, left = _crop_origin(lr, lr_size, rng)
            lr = lr[top : top + lr_size, left : left + lr_size]
            s = self.scale
            hr = hr[top * s : (top + lr_size) * s, left * s : (left + lr_size) * s]
            lr, hr = self._flips(rng, lr, hr)
        return {
            "a": image_to_tensor(lr),
            "b": image_to_tensor(hr),
            "a_path": str(lr_path if lr_path is not None else hr_path),
            "b_path": str(hr_path),
        }

    def _flips(self, rng: np.random.Generator, *images: np.ndarray) -> tuple[np.ndarray, ...]:
        """The same random horizontal and vertical flips for all images (drawn even with flip off, so
        the rest of the item's random stream does not depend on --flip)."""
        horizontal, vertical = rng.random(2) < 0.5
        if self.flip and horizontal:
            images = tuple(im[:, ::-1] for im in images)
        if self.flip and vertical:
            images = tuple(im[::-1] for im in images)
        return images


def superres_dataset(
    hr: str, lr_dir: str | None, scale: int, hr_size: int, flip: bool, seed: int, crops_per_image: int
) -> SuperResDataset:
    """The data set a training run asks for: `hr` is a folder or a built-in domain name."""
    options = {"flip": flip, "seed": seed, "crops_per_image": crops_per_image}
    hr_root = resolve_domain(hr)
    if lr_dir is None:
        return SuperResDataset.from_hr(hr_root, scale, hr_size, **options)
    return SuperResDataset.from_pairs(lr_dir, hr_root, scale, hr_size, **options)


def check_crop(scale: int, hr_size: int) -> None:
    """The HR crop must split into whole LR pixels."""
    if scale < 1 or hr_size < 1 or hr_size % scale:
        hint = max(scale, round(hr_size / max(scale, 1)) * scale)
        raise ConfigError(f"--hr-size {hr_size} must be a positive multiple of --scale {scale} (try --hr-size {hint})")


def _skip_small(small: list[str], total: int, side: int, hr_size: int) -> None:
    """One warning for all images too small to crop; an error only if nothing is left."""
    if not small:
        return
    if len(small) == total:
        raise DataError(
            f"all {count(small, 'image')} are smaller than the {side}x{side} crop (--hr-size {hr_size}): "
            f"{some_of(small)}"
        )
    if is_main_process():
        logger.warning("skipping %s smaller than the %dx%d crop: %s", count(small, "image"), side, side, some_of(small))


def _crop_origin(pixels: np.ndarray, size: int, rng: np.random.Generator) -> tuple[int, int]:
    height, width = pixels.shape[:2]
    return int(rng.integers(height - size + 1)), int(rng.integers(width - size + 1))
