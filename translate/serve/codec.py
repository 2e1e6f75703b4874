"""Request bodies to pixels and results to image bytes, with the checks a public endpoint needs.

Decoding is `translate.data.images.decode_image`: the library's decoders only, the declared size
checked against the pixel limit before anything is decoded, every failure one line. Nothing here
touches the file system: a request's bytes and names are never paths.
"""

from __future__ import annotations

import io

import numpy as np

from translate.data.images import PNG_FAST, decode_image, encoder_options, image_to_pixels
from translate.data.pixels import pixels_image

# Response formats: name -> (media type, Pillow format). `jpg` is accepted as a name for jpeg.
FORMATS = {"png": ("image/png", "PNG"), "jpeg": ("image/jpeg", "JPEG"), "webp": ("image/webp", "WEBP")}
_BY_MEDIA_TYPE = {media: name for name, (media, _) in FORMATS.items()}


class NotAcceptable(ValueError):
    """Neither `?format=` nor the Accept header names a format we write (406)."""


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """Bytes of a PNG/JPEG/WebP/BMP/TIFF/GIF -> HxWx3 uint8 RGB, upright (DataError, ImageTooLarge)."""
    return image_to_pixels(decode_image(data, "the uploaded image", limit=max_pixels))


def encode(pixels: np.ndarray, format: str, quality: int = 95) -> bytes:
    """HxWx3 uint8 -> image bytes. PNG as `translate convert` writes it by default (zlib's run-length
    strategy: lossless, so its pixels equal convert's output)."""
    _, pil_format = FORMATS[format]
    buffer = io.BytesIO()
    pixels_image(pixels).save(buffer, format=pil_format, **encoder_options(format, quality, PNG_FAST))
    return buffer.getvalue()


def response_format(query: str | None, accept: str | None) -> str:
    """`?format=` first, else the Accept header's most preferred type we write, else PNG."""
    if query:
        name = "jpeg" if query.lower() == "jpg" else query.lower()
        if name not in FORMATS:
            raise NotAcceptable(f"format={query!r}: choose png, jpeg or webp")
        return name
    if not accept or not accept.strip():
        return "png"
    offers: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0:
            offers.append((-weight, position, media.lower()))
    for _, _, media in sorted(offers):
        if media in _BY_MEDIA_TYPE:
            return _BY_MEDIA_TYPE[media]
        if media in ("*/*", "image/*"):
            return "png"
    raise NotAcceptable(
        f"Accept: {accept[:80]!r} names no format this server writes (image/png, image/jpeg, image/webp)"
    )
