"""Small builders for data tests: images with known pixels, written in a given layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def coordinate_pattern(size: int) -> np.ndarray:
    """HxWx3 uint8 whose red channel encodes x and green encodes y (step 6), so a crop's offset
    and a flip can be read back from the output pixels. Works up to size 42."""
    yy, xx = np.mgrid[0:size, 0:size]
    return np.stack([xx * 6, yy * 6, (xx * 7 + yy * 3) % 256], axis=-1).astype(np.uint8)


def read_pattern(chw) -> tuple[int, int, bool]:
    """(x offset, y offset, flipped) of a coordinate_pattern crop, from its [-1, 1] tensor."""
    pixels = np.rint((chw.numpy() + 1.0) * 127.5).astype(int)
    flipped = bool(pixels[0, 0, 0] > pixels[0, 0, 1])
    left = pixels[0, 0, -1] if flipped else pixels[0, 0, 0]
    return int(left // 6), int(pixels[1, 0, 0] // 6), flipped


def random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def write_side_by_side(path: Path, a: np.ndarray, b: np.ndarray) -> Path:
    return write(path, np.concatenate([a, b], axis=1))
