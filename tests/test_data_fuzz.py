"""Fuzzing the image reader: random bytes and damaged valid files (bytes flipped, cut off, inserted,
dropped) in every format we read. Whatever the bytes, `load_image` gives an 8-bit RGB image or
raises DataError, and `image_size` gives a size or raises DataError: never another exception.

The fast suite runs a few hundred examples; `-m slow` runs many more."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from translate.data.images import image_size, load_image
from translate.errors import DataError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on the damage it meets


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _seeds() -> dict[str, bytes]:
    """Small valid files of each format and the odd modes, to be damaged."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    frames = [rgb, rgb.rotate(90), rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return {
        "rgb.png": _encode(rgb, "PNG"),
        "rgba.png": _encode(rgb.convert("RGBA"), "PNG"),
        "palette.png": _encode(palette, "PNG", transparency=0),
        "grey16.png": _encode(Image.fromarray(rng.integers(0, 65536, (9, 7), dtype=np.uint16)), "PNG"),
        "photo.jpg": _encode(rgb, "JPEG", quality=80),
        "progressive.jpg": _encode(rgb, "JPEG", progressive=True, exif=_exif_rotated()),
        "cmyk.jpg": _encode(rgb.convert("CMYK"), "JPEG"),
        "anim.gif": _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50),
        "lossy.webp": _encode(rgb, "WEBP", quality=50),
        "anim.webp": _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True),
        "deflate.tiff": _encode(rgb, "TIFF", compression="tiff_deflate"),
        "float.tiff": _encode(Image.fromarray(rng.random((6, 5), dtype=np.float32)), "TIFF"),
        "pic.bmp": _encode(rgb, "BMP"),
    }


def _exif_rotated() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif


SEEDS = _seeds()
SUFFIXES = sorted({Path(name).suffix for name in SEEDS})


@st.composite
def damaged(draw) -> tuple[str, bytes]:
    """A seed file with 1 to 4 random edits."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        edit = draw(st.sampled_from(("flip", "truncate", "insert", "delete", "overwrite")))
        if edit == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "truncate":
            del data[at:]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:  # header fields (sizes, counts, offsets) are where decoders trip
            data[at : at + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\x00\x01"]))
    return name, bytes(data)


@st.composite
def random_files(draw) -> tuple[str, bytes]:
    """Random bytes, bare or behind a real format's signature so that a decoder gets to look at them."""
    magic = draw(
        st.sampled_from(
            [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\x00\x01\x00\x00WEBP", b"II*\x00", b"BM"]
        )
    )
    return "x" + draw(st.sampled_from(SUFFIXES)), magic + draw(st.binary(max_size=512))


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """One folder for all examples (hypothesis runs many examples per test; tmp_path is per test)."""
    with tempfile.TemporaryDirectory() as path, pytest.MonkeyPatch.context() as patch:
        # A modest pixel limit: a damaged size field then costs a refusal, not a gigabyte allocation.
        patch.setenv("TRANSLATE_MAX_PIXELS", str(4_000_000))
        yield Path(path)


def check_reader(folder: Path, name: str, data: bytes) -> None:
    path = folder / name
    path.write_bytes(data)
    try:
        image = load_image(path)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
    else:
        assert image.mode == "RGB" and min(image.size) >= 1
        assert np.asarray(image).dtype == np.uint8
    try:
        width, height = image_size(path)
    except DataError as exc:
        assert "\n" not in str(exc)
    else:
        assert width >= 1 and height >= 1
    os.unlink(path)


FAST = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=5000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def test_seeds_are_readable(folder):
    for name, data in SEEDS.items():
        (folder / name).write_bytes(data)
        assert load_image(folder / name).mode == "RGB", name
    assert image_size(folder / "progressive.jpg") == (12, 10)  # EXIF rotation seen from the header


@FAST
@given(case=damaged())
def test_damaged_files(folder, case):
    check_reader(folder, *case)


@FAST
@given(case=random_files())
def test_random_bytes(folder, case):
    check_reader(folder, *case)


@pytest.mark.slow
@SLOW
@given(case=st.one_of(damaged(), random_files()))
def test_many_damaged_files_and_random_bytes(folder, case):
    check_reader(folder, *case)
