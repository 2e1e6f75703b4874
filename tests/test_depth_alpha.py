"""16-bit images and alpha planes through conversion: read at full depth, written at 8 or 16 bits, transparency kept.

Most checks run an identity network (a Translator around nn.Identity, or a nearest-neighbour 2x upscaler), so
every output pixel has a known exact value. 16-bit PNG inputs are written by a few lines of zlib (helpers),
independently of the OpenCV encoder under test; 16-bit TIFFs by tifffile.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image, ImageOps

from tests.helpers import cli, one_line_error, random_rgb, write_png16
from translate.data.images import image_to_pixels, load_image
from translate.data.pixels import read_pixels, upright_array
from translate.inference.runner import Translator

IDENTITY_SPEC = {"method": "cyclegan", "generator": {"name": "resnet6"}}  # sides padded to multiples of 4
UPSCALER_SPEC = {"method": "srresnet", "scale": 2, "generator": {"name": "srresnet"}}


def identity() -> Translator:
    return Translator(torch.nn.Identity(), IDENTITY_SPEC, torch.device("cpu"))


def nearest_upscaler() -> Translator:
    return Translator(torch.nn.Upsample(scale_factor=2, mode="nearest"), UPSCALER_SPEC, torch.device("cpu"))


def read_png16(path: Path) -> np.ndarray:
    """A PNG result as RGB(A) uint16, after checking from its header that it really holds 16 bits."""
    assert path.read_bytes()[24] == 16, "IHDR bit depth"
    return _read_rgb(path)


def read_tiff16(path: Path) -> np.ndarray:
    """A TIFF result as RGB(A) uint16, after checking from its tags that it really holds 16 bits (tifffile
    reads the tags; its LZW decoder needs another package, so OpenCV decodes)."""
    with tifffile.TiffFile(path) as tiff:
        assert tiff.pages[0].bitspersample == 16
    return _read_rgb(path)


def _read_rgb(path: Path) -> np.ndarray:
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert array.dtype == np.uint16
    return array[:, :, [2, 1, 0, 3][: array.shape[2]]]


def ramp16() -> np.ndarray:
    """256x256 RGB holding every one of the 65536 levels in each channel (in three different orders)."""
    levels = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    return np.stack([levels, levels[::-1], levels.T], axis=2)


def on_white(colour: np.ndarray, alpha: np.ndarray, top: int) -> np.ndarray:
    a = alpha.astype(np.float64)[:, :, None] / top
    return np.rint(colour * a + top * (1 - a)).astype(colour.dtype)


# -- reading ------------------------------------------------------------------------------------------


def test_sixteen_bit_files_are_read_at_full_depth(tmp_path):
    rgb = ramp16()[:40, :48]
    assert np.array_equal(read_pixels(write_png16(tmp_path / "rgb.png", rgb)).colour, rgb)  # Pillow: 8 bits
    tifffile.imwrite(tmp_path / "rgb.tif", rgb)
    assert np.array_equal(read_pixels(tmp_path / "rgb.tif").colour, rgb)

    grey = rgb[:, :, 0]
    Image.fromarray(grey).save(tmp_path / "grey.png")  # Pillow's own 16-bit greyscale (I;16)
    write_png16(tmp_path / "grey_spec.png", grey)
    tifffile.imwrite(tmp_path / "grey.tif", grey)
    for name in ("grey.png", "grey_spec.png", "grey.tif"):
        decoded = read_pixels(tmp_path / name)
        assert decoded.colour.dtype == np.uint16 and decoded.alpha is None, name
        assert np.array_equal(decoded.colour, np.repeat(grey[:, :, None], 3, axis=2)), name

    alpha = np.random.default_rng(0).integers(0, 65536, (40, 48), dtype=np.uint16)
    decoded = read_pixels(write_png16(tmp_path / "rgba.png", np.dstack([rgb, alpha])))
    assert np.array_equal(decoded.alpha, alpha)
    assert np.array_equal(decoded.colour, on_white(rgb, alpha, 65535))  # what the network sees, as at 8 bits
    grey_alpha = read_pixels(write_png16(tmp_path / "la.png", np.dstack([grey, alpha])))
    assert np.array_equal(grey_alpha.alpha, alpha)
    assert np.array_equal(grey_alpha.colour[:, :, 1], on_white(grey[:, :, None], alpha, 65535)[:, :, 0])
    assert read_pixels(tmp_path / "rgba.png", alpha=False).alpha is None


def test_eight_bit_files_read_as_before_with_their_alpha_beside(tmp_path):
    rgba = np.dstack([random_rgb(20, 24, seed=1), np.arange(480).reshape(20, 24) % 256]).astype(np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(rgba[:, :, :3]).save(tmp_path / "rgb.jpg")
    for name in ("rgba.png", "rgb.jpg"):
        decoded = read_pixels(tmp_path / name)
        assert np.array_equal(decoded.colour, image_to_pixels(load_image(tmp_path / name))), name  # same bytes
    assert np.array_equal(read_pixels(tmp_path / "rgba.png").alpha, rgba[:, :, 3])
    assert read_pixels(tmp_path / "rgb.jpg").alpha is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_sixteen_bit_files_are_turned_upright_like_pillow_turns_images(tmp_path, orientation):
    pixels = random_rgb(6, 10, seed=orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "eight.png", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "eight.png")))
    assert np.array_equal(upright_array(pixels, orientation), expected)
    deep = write_png16(tmp_path / "deep.png", pixels.astype(np.uint16) * 257, exif=exif.tobytes())
    assert np.array_equal(read_pixels(deep).colour, expected.astype(np.uint16) * 257)


# -- converting -----------------------------------------------------------------------------------------


def test_a_sixteen_bit_ramp_round_trips_without_an_eight_bit_step(tmp_path):
    ramp = ramp16()
    write_png16(tmp_path / "in" / "ramp.png", ramp)
    report = identity().convert_folder(tmp_path / "in", tmp_path / "png", workers=0)
    assert report.converted == 1
    out = read_png16(tmp_path / "png" / "ramp.png")
    assert out.dtype == np.uint16 and np.abs(out.astype(int) - ramp).max() <= 1
    assert len(np.unique(out[:, :, 0])) > 65000  # all levels survive: no 8-bit step on the way

    identity().convert_folder(tmp_path / "in", tmp_path / "tif", format="tif", workers=0)
    assert np.array_equal(read_tiff16(tmp_path / "tif" / "ramp.tif"), out)  # the same pixels in either format

    identity().convert_folder(tmp_path / "in", tmp_path / "eight", bit_depth="8", workers=0)
    eight = np.asarray(Image.open(tmp_path / "eight" / "ramp.png"))
    assert eight.dtype == np.uint8 and np.abs(eight.astype(int) - ramp / 257).max() <= 0.51  # rounded once


def test_eight_bit_inputs_at_sixteen_bits_are_the_levels_times_257(tmp_path):
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    pixels = np.dstack([levels, levels.T, levels[::-1]])  # every level in every channel
    (tmp_path / "in").mkdir()
    Image.fromarray(pixels).save(tmp_path / "in" / "x.png")
    identity().convert_folder(tmp_path / "in", tmp_path / "out", bit_depth=16, workers=0)  # the API takes numbers
    assert np.array_equal(read_png16(tmp_path / "out" / "x.png"), pixels.astype(np.uint16) * 257)

    identity().convert_folder(tmp_path / "in", tmp_path / "auto", workers=0)  # auto: as the input
    assert np.array_equal(np.asarray(Image.open(tmp_path / "auto" / "x.png")), pixels)


def _rgba_input(folder: Path, size: tuple[int, int] = (24, 20)) -> np.ndarray:
    width, height = size
    alpha = np.random.default_rng(5).integers(0, 256, (height, width), dtype=np.uint8)
    alpha[:, :3] = 0  # a fully transparent edge, as on a cut-out
    rgba = np.dstack([random_rgb(height, width, seed=4), alpha])
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba).save(folder / "sprite.png")
    return rgba


def test_alpha_is_kept_unchanged_and_the_network_sees_the_picture_on_white(tmp_path):
    rgba = _rgba_input(tmp_path / "in")
    on_white_8 = image_to_pixels(load_image(tmp_path / "in" / "sprite.png"))  # what training feeds a model
    identity().convert_folder(tmp_path / "in", tmp_path / "png", workers=0)
    out = Image.open(tmp_path / "png" / "sprite.png")
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[:, :, 3], rgba[:, :, 3])  # alpha bytes equal
    assert np.array_equal(np.asarray(out)[:, :, :3], on_white_8)

    identity().convert_folder(tmp_path / "in", tmp_path / "tif", format="tif", workers=0)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "tif" / "sprite.tif")), np.asarray(out))
    identity().convert_folder(tmp_path / "in", tmp_path / "webp", format="webp", workers=0)
    assert Image.open(tmp_path / "webp" / "sprite.webp").mode == "RGBA"

    identity().convert_folder(tmp_path / "in", tmp_path / "drop", alpha="drop", workers=0)
    dropped = Image.open(tmp_path / "drop" / "sprite.png")
    assert dropped.mode == "RGB" and np.array_equal(np.asarray(dropped), on_white_8)

    report = identity().convert_folder(tmp_path / "in", tmp_path / "jpg", format="jpg", workers=0)
    jpeg = Image.open(tmp_path / "jpg" / "sprite.jpg")
    assert (report.converted, report.failures, jpeg.format, jpeg.mode) == (1, [], "JPEG", "RGB")

    identity().convert_folder(tmp_path / "in", tmp_path / "deep", bit_depth="16", workers=0)
    deep = read_png16(tmp_path / "deep" / "sprite.png")
    assert np.array_equal(deep[:, :, 3], rgba[:, :, 3].astype(np.uint16) * 257)  # alpha and colour at 16 bits
    assert np.array_equal(deep[:, :, :3], on_white_8.astype(np.uint16) * 257)


def test_sixteen_bit_alpha_is_kept(tmp_path):
    rgb = ramp16()[:32, :36]
    alpha = np.random.default_rng(2).integers(0, 65536, (32, 36), dtype=np.uint16)
    write_png16(tmp_path / "in" / "x.png", np.dstack([rgb, alpha]))
    identity().convert_folder(tmp_path / "in", tmp_path / "out", workers=0)
    out = read_png16(tmp_path / "out" / "x.png")
    assert np.array_equal(out[:, :, 3], alpha)
    assert np.abs(out[:, :, :3].astype(int) - on_white(rgb, alpha, 65535)).max() <= 1
    identity().convert_folder(tmp_path / "in", tmp_path / "eight", bit_depth="8", workers=0)
    eight = np.asarray(Image.open(tmp_path / "eight" / "x.png"))
    assert eight.dtype == np.uint8 and np.array_equal(eight[:, :, 3], np.rint(alpha / 257))  # alpha rounded once


def test_alpha_follows_the_size_of_each_result(tmp_path):
    rgba = _rgba_input(tmp_path / "in", (24, 20))
    bicubic = np.asarray(Image.fromarray(rgba[:, :, 3]).resize((48, 40), Image.Resampling.BICUBIC))
    nearest_upscaler().convert_folder(tmp_path / "in", tmp_path / "sr", workers=0)
    sr = np.asarray(Image.open(tmp_path / "sr" / "sprite.png"))
    assert sr.shape == (40, 48, 4) and np.array_equal(sr[:, :, 3], bicubic)
    on_white_8 = image_to_pixels(load_image(tmp_path / "in" / "sprite.png"))
    assert np.array_equal(sr[:, :, :3], on_white_8.repeat(2, axis=0).repeat(2, axis=1))

    identity().convert_folder(tmp_path / "in", tmp_path / "kept", size=10, workers=0)  # back to the input's size
    assert np.array_equal(np.asarray(Image.open(tmp_path / "kept" / "sprite.png"))[:, :, 3], rgba[:, :, 3])
    identity().convert_folder(tmp_path / "in", tmp_path / "small", size=10, keep_size=False, workers=0)
    small = np.asarray(Image.open(tmp_path / "small" / "sprite.png"))
    expected = np.asarray(Image.fromarray(rgba[:, :, 3]).resize((12, 10), Image.Resampling.BICUBIC))
    assert small.shape == (10, 12, 4) and np.array_equal(small[:, :, 3], expected)


def test_sixteen_bit_upscaling_tile_by_tile(tmp_path):
    rgb = ramp16()[:40, :44]
    write_png16(tmp_path / "in" / "x.png", rgb)
    nearest_upscaler().convert_folder(tmp_path / "in", tmp_path / "out", tile=16, tile_overlap=4, workers=0)
    out = read_png16(tmp_path / "out" / "x.png")
    assert out.shape == (80, 88, 3)
    assert np.abs(out.astype(int) - rgb.repeat(2, axis=0).repeat(2, axis=1)).max() <= 1


@pytest.mark.parametrize("workers", [0, 2])
def test_a_folder_of_eight_and_sixteen_bit_images_of_one_size(tmp_path, workers):
    """The two depths share a batch on disk but run apart; auto gives each its own depth; alpha planes travel
    beside the pixels (from decoder processes too)."""
    rgb16 = ramp16()[:20, :24]
    write_png16(tmp_path / "in" / "a16.png", rgb16)
    Image.fromarray(random_rgb(20, 24)).save(tmp_path / "in" / "b8.png")
    rgba = _rgba_input(tmp_path / "in", (24, 20))
    report = identity().convert_folder(tmp_path / "in", tmp_path / "out", batch_size=4, workers=workers)
    assert report.converted == 3
    assert np.abs(read_png16(tmp_path / "out" / "a16.png").astype(int) - rgb16).max() <= 1
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "b8.png")), random_rgb(20, 24))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "sprite.png"))[:, :, 3], rgba[:, :, 3])


def test_the_python_api_keeps_alpha(tmp_path):
    rgba = _rgba_input(tmp_path)
    image = Image.fromarray(rgba)
    out = identity()(image)
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[:, :, 3], rgba[:, :, 3])
    big = nearest_upscaler()(image)
    bicubic = np.asarray(Image.fromarray(rgba[:, :, 3]).resize((48, 40), Image.Resampling.BICUBIC))
    assert big.size == (48, 40) and np.array_equal(np.asarray(big)[:, :, 3], bicubic)
    grey16 = Image.fromarray(ramp16()[:8, :8, 0])  # I;16: full precision in, 8 bits out (PIL has no 16-bit RGB)
    assert np.array_equal(np.asarray(identity()(grey16))[:, :, 0], np.rint(ramp16()[:8, :8, 0] / 257))


# -- the command line -----------------------------------------------------------------------------------


def test_cli_writes_sixteen_bit_tiff_and_refuses_what_cannot_be(tmp_path, tiny_model):
    write_png16(tmp_path / "in" / "x.png", ramp16()[:32, :32])
    common = ("--model", tiny_model, "--input", tmp_path / "in", "--device", "cpu")
    result = cli("convert", *common, "--output", tmp_path / "out", "--format", "tif", "--bit-depth", "16")
    assert result.exit_code == 0, result.output
    assert read_tiff16(tmp_path / "out" / "x.tif").shape == (32, 32, 3)

    one_line_error(cli("convert", *common, "--output", tmp_path / "x", "--bit-depth", "16", "--format", "jpg"),
                   "--bit-depth 16", "png or tif")  # fmt: skip
    one_line_error(cli("convert", *common, "--output", tmp_path / "x", "--bit-depth", "12"), "--bit-depth 12")
    one_line_error(cli("convert", *common, "--output", tmp_path / "x", "--alpha", "maybe"), "--alpha 'maybe'")
    one_line_error(cli("upscale", *common, "--output", tmp_path / "x", "--bit-depth", "16", "--format", "webp"),
                   "--bit-depth 16")  # fmt: skip
    assert not (tmp_path / "x").exists()


def test_a_damaged_sixteen_bit_file_is_listed_not_fatal(tmp_path):
    whole = write_png16(tmp_path / "in" / "whole.png", ramp16()[:32, :32]).read_bytes()
    (tmp_path / "in" / "cut.png").write_bytes(whole[: len(whole) // 2])
    report = identity().convert_folder(tmp_path / "in", tmp_path / "out", workers=0)
    assert report.converted == 1 and report.exit_code == 1
    reason = "not a readable image (its 16-bit pixels could not be decoded)"
    assert report.failures == [(str(tmp_path / "in" / "cut.png"), reason)]
