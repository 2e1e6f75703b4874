"""Reading and writing images: every file becomes 8-bit RGB, whatever mode it was saved in.

Models only ever see RGB, so the odd modes (16-bit greyscale scans, palette PNGs with
transparency, CMYK JPEGs from print workflows, phone photos rotated by EXIF) are normalised here,
once, instead of surprising a network later. torch is imported lazily, in the tensor helpers only.

Files are untrusted input: reading one either gives an image or raises one-line DataError, never
anything else. Only the decoders of IMAGE_EXTENSIONS are used, whatever a file's name claims (a
PostScript file named .jpg would otherwise reach Ghostscript), and the declared size is checked
against `max_pixels()` from the header, before any pixel is decoded (decompression bombs).
"""

from __future__ import annotations

import io
import os
import re
import stat
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from translate.atomic import atomic_path
from translate.errors import DataError

if TYPE_CHECKING:
    import torch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
# Pillow's names for the decoders of those extensions (its JPEG decoder also reads multi-picture MPO files).
_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF")
_FORMAT_NAMES = "JPEG, PNG, BMP, WebP, TIFF or GIF"

# About 179 megapixels (Pillow's own hard limit, 0.5 GB as 8-bit RGB); TRANSLATE_MAX_PIXELS changes it.
DEFAULT_MAX_PIXELS = 178_956_970
MAX_PIXELS_ENV = "TRANSLATE_MAX_PIXELS"

_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_WITH_ALPHA = {"RGBA", "RGBa", "LA", "La", "PA"}
_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}  # rotated by 90 or 270 degrees: width and height swap


class ImageTooLarge(DataError):
    """An image that declares more pixels than allowed (a server answers 413, not 400)."""


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the name has one of IMAGE_EXTENSIONS, in any letter case."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def max_pixels() -> int:
    """The largest width x height a file may declare: $TRANSLATE_MAX_PIXELS, else DEFAULT_MAX_PIXELS."""
    configured = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not configured:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(configured))
    except ValueError:
        value = 0
    if value < 1:
        raise DataError(f"{MAX_PIXELS_ENV}={configured!r} is not a positive number of pixels")
    return value


def load_image(path: str | os.PathLike) -> Image.Image:
    """Decode `path` fully into an upright 8-bit RGB image, or raise one-line DataError.

    Animated files give their first frame; multi-page TIFFs their first page.
    """
    name = os.fspath(path)  # a wrong argument type is a bug, not a bad file: it raises TypeError here
    try:
        with _open(name) as opened:
            opened.load()  # decode now, so truncated files fail here and not inside a worker
            image = _upright(opened)
            image = _to_rgb(image)
            # Closing `opened` destroys its pixels: what we return must be a separate image.
            return image.copy() if image is opened else image
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's decoders raise many types on malformed files
        raise DataError(f"{name}: not a readable image ({_reason(exc)})") from None


def decode_image(data: bytes, name: str = "the image", limit: int | None = None) -> Image.Image:
    """Bytes received (an upload, a request body) -> an upright 8-bit RGB image, or one-line DataError.

    The same decoders and checks as `load_image` (ImageTooLarge past `limit`, default `max_pixels()`),
    without a file: `name` only labels the messages.
    """
    if not data:
        raise DataError(f"{name}: not a readable image (empty, 0 bytes)")
    try:
        with _open_checked(io.BytesIO(data), name, limit or max_pixels()) as opened:
            opened.load()
            image = _to_rgb(_upright(opened))
            return image.copy() if image is opened else image
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - as in load_image
        raise DataError(f"{name}: not a readable image ({_reason(exc)})") from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) as load_image will return it, read from the header without decoding pixels.

    Raises the same one-line DataError as load_image for files that are empty, not images, or
    declare too many pixels; damage further inside the file shows only when it is decoded.
    """
    name = os.fspath(path)
    try:
        with _open(name) as image:
            size, orientation = image.size, exif_orientation(image)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - as in load_image
        raise DataError(f"{name}: not a readable image ({_reason(exc)})") from None
    return upright_size(size, orientation)


def exif_orientation(image: Image.Image) -> int | None:
    """The EXIF orientation tag of an opened image; None without one (a broken EXIF block is ignored, as
    load_image ignores it)."""
    try:
        return image.getexif().get(_ORIENTATION_TAG)
    except Exception:  # noqa: BLE001 - any damage in the EXIF block
        return None


def upright_size(size: tuple[int, int], orientation: int | None) -> tuple[int, int]:
    """(width, height) `size` as stored, turned upright per an EXIF orientation (90 or 270 degrees swap them)."""
    width, height = size
    return (height, width) if orientation in _SWAPPING_ORIENTATIONS else (width, height)


def _open(name: str) -> Image.Image:
    """Open with our decoders only and check the declared size before anything is decoded."""
    status = os.stat(name)  # FileNotFoundError and PermissionError become the caller's one-line reasons
    if stat.S_ISDIR(status.st_mode):
        raise DataError(f"{name}: not a readable image (a folder, not a file)")
    if not stat.S_ISREG(status.st_mode):  # reading a pipe named x.png would wait forever
        raise DataError(f"{name}: not a readable image (not a regular file: a device, pipe or socket)")
    if status.st_size == 0:
        raise DataError(f"{name}: not a readable image (empty file, 0 bytes)")
    return _open_checked(name, name, max_pixels())


def _open_checked(source: str | io.BytesIO, name: str, limit: int) -> Image.Image:
    """Open with our decoders only and refuse a declared size over `limit` before decoding (ImageTooLarge)."""
    if Image.MAX_IMAGE_PIXELS is not None and limit > 2 * Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limit // 2 + 1  # the user raised our limit: Pillow's own must not undercut it
    try:
        image = Image.open(source, formats=_FORMATS)
    except Image.DecompressionBombError as exc:  # over Pillow's limit, checked as it read the header
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        raise ImageTooLarge(_too_large(name, int(declared.group(1)) if declared else None, limit)) from None
    try:
        width, height = image.size
        if width < 1 or height < 1:
            raise DataError(f"{name}: not a readable image (declares an empty {width}x{height} picture)")
        if width * height > limit:
            raise ImageTooLarge(_too_large(name, width * height, limit, f"{width}x{height} = "))
    except BaseException:
        image.close()
        raise
    return image


def _too_large(name: str, pixels: int | None, limit: int, size: str = "") -> str:
    declared = f"declares {size}{pixels:,} pixels" if pixels else "declares too many pixels"
    return (
        f"{name}: not a readable image ({declared}, over the limit of {limit:,}: "
        f"a decompression bomb? {MAX_PIXELS_ENV} raises the limit)"
    )


PNG_FAST = "fast"


def save_image(
    image: Image.Image | np.ndarray,
    path: str | os.PathLike,
    quality: int = 95,
    png_compression: int | str | None = None,
) -> None:
    """Write atomically (a crash never leaves half a file); format from the suffix; parents created.

    `quality` (1-100) applies to the lossy formats (JPEG, WebP); `png_compression` to PNG: a zlib
    level 0-9, None for Pillow's default (6), or "fast": zlib's run-length strategy, which its manual
    recommends for PNG image data (on photos: 3x faster to encode than level 6, files ~1% larger).
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(_as_uint8(image))
    target = Path(path)
    if target.suffix.lower() in (".jpg", ".jpeg") and image.mode not in ("RGB", "L", "CMYK"):
        image = _to_rgb(image)  # JPEG has no alpha channel
    try:
        with atomic_path(target) as tmp:
            image.save(tmp, **encoder_options(target.suffix.lower().lstrip("."), quality, png_compression))
    except (ValueError, KeyError) as exc:  # Pillow's answer to an unknown suffix
        raise DataError(f"{target}: cannot save an image here ({_short(exc)})") from None


def encoder_options(format: str, quality: int = 95, png_compression: int | str | None = None) -> dict[str, int]:
    """Pillow's save options for `format` (png, jpg, jpeg, webp, ...): one place, so every writer (files,
    the server's responses) encodes alike."""
    if format in ("jpg", "jpeg", "webp"):
        return {"quality": quality}
    if format == "png" and png_compression == PNG_FAST:
        return {"compress_level": 1, "compress_type": zlib.Z_RLE}
    if format == "png" and png_compression is not None:
        return {"compress_level": int(png_compression)}
    return {}


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """A CHW (C = 1 or 3) or HW float tensor in [-1, 1] -> 8-bit image; out-of-range values are clamped."""
    t = tensor.detach().float().cpu()
    if t.ndim == 3 and t.shape[0] in (1, 3):
        t = t[0] if t.shape[0] == 1 else t.permute(1, 2, 0)
    elif t.ndim != 2:
        raise ValueError(f"expected a CHW tensor (C = 1 or 3) or an HW tensor, got shape {tuple(t.shape)}")
    pixels = ((t.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(dtype=_torch().uint8).numpy()
    return Image.fromarray(pixels)


def image_to_pixels(image: Image.Image) -> np.ndarray:
    """Any image -> its HxWx3 uint8 RGB pixels (the modes converted as `load_image` does)."""
    return np.asarray(_to_rgb(image), dtype=np.uint8)


def image_to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """An 8-bit RGB image (or HxWx3 uint8 array) -> CHW float tensor in [-1, 1], as the transforms give."""
    array = image_to_pixels(image) if isinstance(image, Image.Image) else np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    # The same float32 arithmetic as albumentations' Normalize(0.5, 0.5), so both agree bit for bit.
    scaled = (array.transpose(2, 0, 1).astype(np.float32) - np.float32(127.5)) * np.float32(1 / 127.5)
    return _torch().from_numpy(np.ascontiguousarray(scaled))


def _torch():
    import torch  # lazy: reading and writing images loads no torch

    return torch


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a corrupt EXIF block is not worth refusing the picture for."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _SIXTEEN_BIT:
        # Scale the full 16-bit range down instead of clipping, which would make most scans white.
        values = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        grey = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.min() >= 0.0 and values.max() <= 1.0:
            values = values * 255.0  # float images in [0, 1]; anything else is read as 0..255
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8)).convert("RGB")
    if mode in _WITH_ALPHA or (mode == "P" and "transparency" in image.info):
        # Transparent pixels become white, so a sketch with a transparent background stays readable.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV and whatever Pillow can convert


def _as_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    raise TypeError(f"save_image expects a uint8 array, got {array.dtype}")


def _reason(exc: BaseException) -> str:
    """Why a file could not be read, in a few words."""
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, UnidentifiedImageError):
        return f"not a {_FORMAT_NAMES} file"
    if isinstance(exc, MemoryError):
        return "out of memory while decoding"
    if isinstance(exc, (OSError, ValueError, SyntaxError, EOFError)):
        return _short(exc)
    return f"{type(exc).__name__}: {_short(exc)}"  # an unusual failure inside a decoder: keep its type


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
