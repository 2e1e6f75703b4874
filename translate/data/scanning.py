"""Which files of a data set can be read, found from their headers before training starts.

Shared by every data set (translation and super-resolution): a folder or list of files, each
header read once; unreadable files are left out and reported once, and a data set where more than
MAX_BAD_SHARE of the files are unreadable stops with an error instead of training on what is left.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from translate.data.folders import find_images
from translate.data.images import load_image
from translate.data.pixels import file_channels, takes, to_depth
from translate.data.pixels import read_pixels as decode_pixels
from translate.data.tiff import extra_bands, header_size, is_tiff
from translate.errors import DataError

Paths = Sequence[str | os.PathLike] | str | os.PathLike
MAX_BAD_SHARE = 0.5  # more unreadable files than this share stops a run: the data set itself is wrong

logger = logging.getLogger(__name__)


def as_paths(paths: Paths, what: str) -> list[Path]:
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
            f"(is this the right folder?): {some_of(reasons)}"
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
            sizes[path] = header_size(path)
        except DataError as exc:
            problems[path] = str(exc)
    return sizes, problems


def read_pixels(path: Path, channels: int = 3) -> np.ndarray:
    """HxWxC uint8 pixels for training: RGB as `load_image` gives it, or `channels` as `pixels.read_pixels`
    gives them (16-bit files scaled to 8 bits as `load_image` scales 16-bit greyscale)."""
    if channels == 3 and extra_bands(path) is None:
        return np.asarray(load_image(path))
    return to_depth(decode_pixels(path, alpha=False, channels=channels).colour, np.uint8)


def check_channels(paths: Sequence[Path], channels: int, what: str, option: str) -> None:
    """Refuse, in one line before training starts, files a model of `channels` cannot read (an RGB photo for a
    4-channel model). Headers only, and only where a file can be wrong: RGB runs check just their TIFFs."""
    if channels == 3:
        paths = [path for path in paths if is_tiff(path)]
    wrong = []
    for path in paths:
        try:
            found = file_channels(path)
        except DataError:
            continue  # unreadable files are the scan's to report
        if not takes(found, channels):
            wrong.append(f"{path} ({found[0] + found[1]} channels)")
    if wrong:
        raise DataError(
            f"{count(wrong, 'image')} of the {what} cannot be read with {channels} channel(s) ({option} "
            f"{channels}; only colour to grey and grey to colour are converted): {some_of(wrong)}"
        )


def count(items: list[str], noun: str) -> str:
    return f"1 {noun}" if len(items) == 1 else f"{len(items)} {noun}s"


def some_of(items: list[str], shown: int = 3) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def wxh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"
