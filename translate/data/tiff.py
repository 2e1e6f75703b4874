"""Multi-band TIFFs (4-band satellite tiles, 5-channel microscopy): the images Pillow misreads.

Pillow opens a TIFF of grey, RGB or RGB + alpha well, but fails on most others and, worse, opens
some of them as something else: a 2-band grey TIFF as "L" (its second band gone), a 5-band one
tagged RGB as "RGB". So every TIFF's header is read with tifffile (optional extra `tiff`) first;
those Pillow would misread are decoded by tifffile as HxWxC arrays at their own depth (8 or 16
bits), the others are left to Pillow as before. Without tifffile, TIFFs are read by Pillow as they
always were. tifffile is imported only when a TIFF comes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from translate.atomic import atomic_path
from translate.data.images import _too_large, image_size, max_pixels
from translate.errors import DataError

TIFF_SUFFIXES = (".tif", ".tiff")
_EXTRA_ALPHA = (1, 2)  # EXTRASAMPLE associated / unassociated alpha
_DEPTHS = (np.dtype(np.uint8), np.dtype(np.uint16))
_INSTALL = "pip install 'translate-gan[tiff]'"


def is_tiff(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in TIFF_SUFFIXES


def _tifffile():
    try:
        import tifffile  # lazy: optional extra 'tiff'
    except ImportError:
        return None
    return tifffile


def extra_bands(path: str | os.PathLike) -> int | None:
    """The bands of a TIFF that Pillow would misread (neither grey, RGB, nor one of them plus alpha), from its
    header; None for every other file, for a header tifffile cannot read (Pillow then reports the problem),
    and without tifffile."""
    with _misread_page(path) as found:
        return None if found is None else found[1]


def read_bands(path: str | os.PathLike) -> np.ndarray | None:
    """The first page of a TIFF that Pillow would misread (`extra_bands`) as HxWxC uint8 or uint16, whatever its
    band count and layout, or a one-line DataError; None for every other file (Pillow's to read). One opening
    of the file both decides and decodes: the header is read once."""
    name = os.fspath(path)
    with _misread_page(name) as found:
        return None if found is None else _page_bands(found[0], name)


@contextlib.contextmanager
def _misread_page(path: str | os.PathLike) -> Iterator[tuple[Any, int] | None]:
    """The open first page of a TIFF Pillow would misread, and its band count; None as `extra_bands` gives it."""
    tifffile = _tifffile() if is_tiff(path) else None
    if tifffile is None:
        yield None
        return
    with contextlib.ExitStack() as opened:
        try:
            page = opened.enter_context(tifffile.TiffFile(os.fspath(path))).pages[0]
            bands = _misread_bands(page.samplesperpixel, tuple(page.extrasamples), int(page.photometric))
        except Exception:  # noqa: BLE001 - any unreadable header: Pillow's reading gives the one-line reason
            bands = None
        yield None if bands is None else (page, bands)


def _misread_bands(bands: int, extras: tuple[int, ...], photometric: int) -> int | None:
    """`bands` when Pillow would misread a page of that header, else None."""
    alpha = len(extras) == 1 and int(extras[0]) in _EXTRA_ALPHA
    rgb = photometric in (2, 6)  # RGB, YCbCr
    if bands == 1 or (bands == 3 and rgb) or (alpha and (bands == 2 or (bands == 4 and rgb))):
        return None
    return int(bands)


def _page_bands(page: Any, name: str) -> np.ndarray:
    """A tifffile page decoded as HxWxC uint8 or uint16, or one-line DataError."""
    try:
        height, width = page.imagelength, page.imagewidth
        if height * width > max_pixels():
            raise DataError(_too_large(name, height * width, max_pixels(), f"{width}x{height} = "))
        array, axes = page.asarray(), page.axes
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile and its codecs raise many types on damaged files
        raise DataError(f"{name}: not a readable image ({str(exc).strip() or type(exc).__name__})") from None
    if array.dtype not in _DEPTHS:
        raise DataError(f"{name}: {array.dtype} samples are not supported (8- or 16-bit unsigned integers only)")
    if axes.startswith("S"):  # planar: one plane per band
        array = np.moveaxis(array, 0, -1)
    return np.ascontiguousarray(array.reshape(height, width, -1))


def header_size(path: str | os.PathLike) -> tuple[int, int]:
    """`images.image_size`, and for the TIFFs Pillow cannot open, their (width, height) from tifffile."""
    try:
        return image_size(path)
    except DataError:
        tifffile = _tifffile() if is_tiff(path) else None
        if tifffile is None:
            raise
        try:
            with tifffile.TiffFile(os.fspath(path)) as tif:
                return tif.pages[0].imagewidth, tif.pages[0].imagelength
        except Exception:  # noqa: BLE001 - Pillow's reason is the one to give
            pass
        raise


def save_bands(array: np.ndarray, path: str | os.PathLike) -> None:
    """Write HxWxC uint8 or uint16 pixels of any band count as a TIFF, atomically."""
    target = Path(path)
    if not is_tiff(target):
        raise DataError(f"{target}: images of {array.shape[2]} channels are saved as TIFF only (--format tif)")
    tifffile = _tifffile()
    if tifffile is None:
        raise DataError(f"{target}: writing a {array.shape[2]}-band TIFF needs tifffile ({_INSTALL})")
    with atomic_path(target) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(array), photometric="minisblack", planarconfig="contig")
