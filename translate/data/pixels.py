"""Images as arrays that keep what a conversion must not lose: 16-bit precision and the alpha plane.

`images.load_image` gives every file as 8-bit RGB, which is what training wants. Converting wants more:
a 16-bit scan (microscopy, medical, satellite, photo pipelines) should reach the network at full
precision and may be written back at 16 bits, and a sprite, logo or cut-out should keep its
transparency. `read_pixels` returns the colour the network sees (transparent parts composited on
white, exactly as `load_image` does, so models behave as they always did) as uint8 or uint16, and
the alpha plane beside it; the writer puts the plane back (`with_alpha`) and `save_sixteen_bit`
writes 16-bit PNG and TIFF. 8-bit files give the same bytes as `image_to_pixels(load_image(path))`.

Pillow reads 16-bit greyscale (mode I;16) at full depth, but rounds 16-bit RGB(A) and grey+alpha
PNGs and TIFFs to 8 bits and writes no 16-bit colour at all: those go through OpenCV's libpng and
libtiff (`cv2.imdecode` / `cv2.imencode`, opencv-python-headless, which albumentations already
requires). Pillow still opens every file first, so `images`' checks (our decoders only, the
declared size before any pixel is decoded) hold for both. cv2 is imported only when such a file
comes (it costs ~0.1 s to import).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from translate.atomic import atomic_path
from translate.data.images import (
    _SIXTEEN_BIT,
    _WITH_ALPHA,
    PNG_FAST,
    _open,
    _reason,
    _to_rgb,
    _upright,
    exif_orientation,
    save_image,
)
from translate.data.tiff import extra_bands, read_bands, save_bands
from translate.errors import DataError

SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")
_MAX = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}
_PNG_DEFAULT_LEVEL = 6  # Pillow's default, so `png_compression=None` means the same for 8 and 16 bits


@dataclass(frozen=True)
class Pixels:
    """One decoded image: what the network sees, and the transparency it does not."""

    colour: np.ndarray  # HxWxC (C as asked, 3 by default), uint8/16; with C 1 or 3, alpha composited on white
    alpha: np.ndarray | None = None  # HxW at the file's depth; None for images without one (or not asked for)

    @property
    def bits(self) -> int:
        return 16 if self.colour.dtype == np.uint16 else 8


def read_pixels(path: str | os.PathLike, alpha: bool = True, channels: int = 3) -> Pixels:
    """Decode `path` at its own depth (8 or 16 bits), upright, with its alpha plane when `alpha` asks for it;
    bad files raise the one-line DataError of `images.load_image`.

    `channels`: what the model reads (`fit_channels`). 3 gives RGB as always, 1 its greyscale (alpha kept
    beside, as for RGB); any other count takes the file's own bands, alpha included as a band (an RGBA
    PNG is 4 channels), and multi-band TIFFs through `tiff.read_bands`.
    """
    name = os.fspath(path)
    bands = read_bands(name)  # a multi-band TIFF, decided and decoded with one reading of its header
    if bands is not None:
        return Pixels(fit_channels(bands, channels, name))
    try:
        with _open(name) as opened:
            if _is_deep_colour(opened):
                orientation = exif_orientation(opened)
                if channels not in (1, 3):
                    return Pixels(fit_channels(_opencv_bands(name, orientation), channels, name))
                return _fit_colour(_read_with_opencv(name, orientation, alpha), channels)
            opened.load()  # decode now, so truncated files fail here and not inside a worker
            return image_pixels(_upright(opened), alpha, channels, name)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - as in images.load_image: decoders raise many types
        raise DataError(f"{name}: not a readable image ({_reason(exc)})") from None


def image_pixels(image: Image.Image, alpha: bool = True, channels: int = 3, name: str = "the image") -> Pixels:
    """A PIL image (any mode) -> Pixels: 16-bit greyscale (I;16) stays 16-bit, everything else is 8-bit RGB
    as `images.image_to_pixels` gives it; `channels` as in `read_pixels`."""
    if channels not in (1, 3):
        return Pixels(fit_channels(_pillow_bands(image), channels, name))
    if channels == 1:
        return _fit_colour(image_pixels(image, alpha), 1)
    if image.mode in _SIXTEEN_BIT:
        grey = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)  # mode I may hold 32-bit values
        return Pixels(np.repeat(grey[:, :, None], 3, axis=2))
    colour = np.asarray(_to_rgb(image), dtype=np.uint8)
    has_alpha = image.mode in _WITH_ALPHA or (image.mode == "P" and "transparency" in image.info)
    plane = np.asarray(image.convert("RGBA").getchannel("A")) if alpha and has_alpha else None
    return Pixels(colour, plane)


def grey(colour: np.ndarray) -> np.ndarray:
    """...x3 RGB (HxWx3, NHWC) -> ...x1 luma (ITU-R 601-2) in Pillow's fixed-point arithmetic: the same bytes
    as `convert("L")` at 8 bits, at 16 bits the same formula; grey RGB (R = G = B) gives its level back."""
    wide = colour.astype(np.uint64)
    luma = (wide[..., 0] * 19595 + wide[..., 1] * 38470 + wide[..., 2] * 7471 + 0x8000) >> 16
    return luma.astype(colour.dtype)[..., None]


def fit_channels(array: np.ndarray, channels: int, name: str) -> np.ndarray:
    """HxWxC (or NHWC) pixels -> the `channels` a model reads: as they are when C matches, colour to grey
    (3 -> 1) and grey to colour (1 -> 3, replicated), since users expect those; any other count is a
    one-line DataError (an RGB photo given to a 4-channel model)."""
    have = array.shape[-1]
    if have == channels:
        return array
    if have == 3 and channels == 1:
        return grey(array)
    if have == 1 and channels == 3:
        return np.repeat(array, 3, axis=-1)
    raise DataError(
        f"{name}: {have} channel(s), but the model takes {channels} (only colour to grey and grey to colour "
        "are converted)"
    )


def _fit_colour(pixels: Pixels, channels: int) -> Pixels:
    """RGB Pixels (alpha beside) for a model of 1 or 3 channels."""
    return pixels if channels == 3 else Pixels(grey(pixels.colour), pixels.alpha)


def _pillow_bands(image: Image.Image) -> np.ndarray:
    """A PIL image's own bands as HxWxC, alpha included as the last band (no compositing): grey 1, grey +
    alpha 2, colour 3 (palette, CMYK... as RGB), colour + alpha 4; 16-bit greyscale stays 16-bit."""
    if image.mode in _SIXTEEN_BIT:
        return np.clip(np.asarray(image), 0, 65535).astype(np.uint16)[:, :, None]
    if image.mode in ("1", "L", "F"):
        return np.asarray(_to_rgb(image))[:, :, :1]
    if image.mode in ("LA", "La"):
        return np.asarray(image.convert("LA"))
    if image.mode in _WITH_ALPHA or (image.mode == "P" and "transparency" in image.info):
        return np.asarray(image.convert("RGBA"))
    return np.asarray(_to_rgb(image))


def file_channels(path: str | os.PathLike) -> tuple[int, bool]:
    """(colour bands, has alpha) of a readable file, from its header: what `read_pixels` will find in it
    (a multi-band TIFF: its bands, no alpha)."""
    bands = extra_bands(path)
    if bands is not None:
        return bands, False
    with _open(os.fspath(path)) as opened:
        mode, transparent = opened.mode, "transparency" in opened.info
    alpha = mode in _WITH_ALPHA or (mode == "P" and transparent)
    grey_modes = ("1", "L", "F", "LA", "La", *_SIXTEEN_BIT)
    return (1 if mode in grey_modes else 3), alpha


def takes(found: tuple[int, bool], channels: int) -> bool:
    """Whether a file of `file_channels` `found` can be read for a model of `channels`: a model of 1 or 3 takes
    grey and colour (alpha composited), any other count exactly its number of bands, alpha included."""
    bands, alpha = found
    return bands in (1, 3) if channels in (1, 3) else bands + alpha == channels


def pixels_image(array: np.ndarray) -> Image.Image:
    """HxWxC uint8 results -> a PIL image: 1 channel "L", 2 "LA", 3 "RGB", 4 "RGBA"; PIL has no other."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] > 4:
        raise DataError(f"{array.shape[2]}-channel results have no PIL image mode: write them as TIFF")
    return Image.fromarray(array)


def to_depth(array: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """uint8 <-> uint16 by the full range (x * 257 up; rounded x * 255 / 65535 down, as 16-bit greyscale
    is read into 8 bits); the same type is returned as it is."""
    dtype = np.dtype(dtype)
    if array.dtype == dtype:
        return array
    if dtype == np.uint16:
        return array.astype(np.uint16) * np.uint16(257)
    return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def resize_pixels(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxW or HxWxC uint8/uint16 -> (width, height) `size`, Pillow's bicubic (8-bit RGB: the same bytes as
    `Image.resize`); 16-bit planes are resized as float32 and rounded, since Pillow has no 16-bit colour."""
    if array.dtype == np.uint8 and (array.ndim == 2 or array.shape[2] in (3, 4)):
        return np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BICUBIC))
    planes = array[:, :, None] if array.ndim == 2 else array
    resized = [
        np.asarray(Image.fromarray(planes[:, :, c].astype(np.float32)).resize(size, Image.Resampling.BICUBIC))
        for c in range(planes.shape[2])
    ]
    out = np.clip(np.rint(np.stack(resized, axis=2)), 0, _MAX[array.dtype]).astype(array.dtype)
    return out[:, :, 0] if array.ndim == 2 else out


def with_alpha(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """HxWx3 colour + an alpha plane -> HxWx4, the plane brought to the colour's depth and size.

    A plane of another size (super-resolution results, `--size` without `--keep-size`) is resized
    bicubic, as the colour was: edges of cut-outs stay smooth instead of turning into steps (nearest)
    or a blur (bilinear), and Pillow's bicubic clips to the range, so no overshoot leaves it.
    """
    height, width = colour.shape[:2]
    if colour.dtype == np.uint16:
        alpha = to_depth(alpha, np.uint16)  # resized at the finer depth
    if alpha.shape != (height, width):
        alpha = resize_pixels(alpha, (width, height))
    return np.concatenate([colour, to_depth(alpha, colour.dtype)[:, :, None]], axis=2)


def save_pixels(
    array: np.ndarray, path: str | os.PathLike, quality: int = 95, png_compression: int | str | None = None
) -> None:
    """`images.save_image` for uint8 pixels (RGB or RGBA), `save_sixteen_bit` for uint16 ones."""
    if array.ndim == 3 and array.shape[2] == 2 and array.dtype == np.uint16:  # 16-bit grey + alpha
        array = array[:, :, [0, 0, 0, 1]]  # as RGBA: OpenCV writes no 16-bit grey + alpha
    if array.ndim == 3 and array.shape[2] > 4:
        save_bands(array, path)  # no PNG, JPEG or WebP holds them: TIFF
        return
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]  # greyscale ("L", or 16-bit grey)
    save = save_image if array.dtype == np.uint8 else save_sixteen_bit
    save(array, path, quality=quality, png_compression=png_compression)


def save_sixteen_bit(
    array: np.ndarray, path: str | os.PathLike, quality: int = 95, png_compression: int | str | None = None
) -> None:
    """Write HxW or HxWxC (C = 1, 3 or 4: grey, RGB, RGBA) uint16 pixels as a 16-bit PNG or TIFF, atomically.

    The arguments are `images.save_image`'s (quality has no meaning for these lossless formats).
    """
    import cv2  # lazy: OpenCV for 16-bit files only (see the module doc)

    target = Path(path)
    if target.suffix.lower() not in SIXTEEN_BIT_SUFFIXES:
        raise DataError(f"{target}: 16-bit images are saved as PNG or TIFF only")
    if array.ndim == 3 and array.shape[2] in (3, 4):  # OpenCV's order is BGR(A)
        array = array[:, :, [2, 1, 0, 3][: array.shape[2]]]
    params: list[int] = []
    if target.suffix.lower() == ".png":
        fast = png_compression == PNG_FAST
        level = 1 if fast else _PNG_DEFAULT_LEVEL if png_compression is None else int(png_compression)
        params = [cv2.IMWRITE_PNG_COMPRESSION, level]
        params += [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE] if fast else []
    ok, encoded = cv2.imencode(target.suffix.lower(), np.ascontiguousarray(array.astype(np.uint16)), params)
    if not ok:
        raise DataError(f"{target}: OpenCV could not encode a {array.shape} 16-bit image")
    with atomic_path(target) as tmp:
        tmp.write_bytes(encoded.tobytes())


def _is_deep_colour(image: Image.Image) -> bool:
    """True for 16-bit colour or grey+alpha PNG and TIFF, which Pillow would round to 8 bits (its raw mode says
    so; a 16-bit BMP's "BGR;16" is 5-6-5 bit colour, no more than 8 bits a channel)."""
    if image.format not in ("PNG", "TIFF") or image.mode not in ("RGB", "RGBA", "LA") or not image.tile:
        return False
    args = image.tile[0].args
    raw = args[0] if isinstance(args, tuple) else args  # PNG: the raw mode; TIFF: (raw mode, ...)
    return isinstance(raw, str) and ";16" in raw


def _opencv_bands(name: str, orientation: int | None) -> np.ndarray:
    """A 16-bit PNG or TIFF's own bands, upright, HxWxC in RGB(A) order (OpenCV's is BGR(A))."""
    import cv2  # lazy: OpenCV for 16-bit files only (see the module doc)

    array = cv2.imdecode(np.fromfile(name, dtype=np.uint8), cv2.IMREAD_UNCHANGED)  # no EXIF rotation
    if array is None or array.dtype not in _MAX:
        raise DataError(f"{name}: not a readable image (its 16-bit pixels could not be decoded)")
    array = upright_array(array[:, :, None] if array.ndim == 2 else array, orientation)
    return array[:, :, [2, 1, 0, 3][: array.shape[2]]] if array.shape[2] >= 3 else array


def _read_with_opencv(name: str, orientation: int | None, alpha: bool) -> Pixels:
    array = _opencv_bands(name, orientation)
    channels = array.shape[2]
    colour = array[:, :, :3] if channels >= 3 else np.repeat(array[:, :, :1], 3, axis=2)
    plane = array[:, :, channels - 1] if channels in (2, 4) else None
    if plane is not None:
        colour = _on_white(colour, plane)
    return Pixels(np.ascontiguousarray(colour), np.ascontiguousarray(plane) if alpha and plane is not None else None)


def _on_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite over white at the image's own depth, rounded (what `images._to_rgb` does at 8 bits)."""
    top = _MAX[colour.dtype]
    # c*a + top*(top-a) + top//2 never exceeds top**2 + top//2 < 2**32: uint32 holds it at 16 bits.
    a = alpha.astype(np.uint32)[:, :, None]
    blended = (colour.astype(np.uint32) * a + top * (top - a) + top // 2) // top
    return blended.astype(colour.dtype)


def orientation_steps(orientation: int | None) -> tuple[bool, tuple[int, ...]]:
    """(swap the first two axes, then the axes to flip) that turn HxW... pixels upright per an EXIF orientation
    (1-8): one table for NumPy arrays (`upright_array`) and the tensors a device decoder gives."""
    swap = orientation in (5, 6, 7, 8)  # transposed: then flipped into the right quarter turn
    turned = {5: 1, 6: 2, 7: 3, 8: 4}.get(orientation, orientation) if swap else orientation
    return swap, {2: (1,), 3: (0, 1), 4: (0,)}.get(turned, ())


def upright_array(array: np.ndarray, orientation: int | None) -> np.ndarray:
    """HxWxC pixels turned upright per an EXIF orientation (1-8), as `PIL.ImageOps.exif_transpose` turns images."""
    swap, flips = orientation_steps(orientation)
    array = array.swapaxes(0, 1) if swap else array
    return np.flip(array, flips) if flips else array
