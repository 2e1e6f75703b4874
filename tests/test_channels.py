"""Channel counts other than RGB: --input-nc / --output-nc, 1-channel and multi-band data, --colorization,
and conversion, export and evaluation of such models (issue 21 item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from tests.helpers import TINY_GENERATOR, cli, one_line_error, save_tiny_model, tiny, train, write
from translate.data.datasets import PairedDataset, UnpairedDataset
from translate.data.pixels import file_channels, fit_channels, grey, read_pixels
from translate.data.transforms import train_transform
from translate.errors import DataError
from translate.inference.runner import Translator


def grey_folder(folder: Path, count: int = 4, size: int = 32, seed: int = 0) -> Path:
    """`count` random 8-bit greyscale ("L") PNGs."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        write(folder / f"{i}.png", rng.integers(0, 256, (size, size), dtype=np.uint8))
    return folder


def band_folder(folder: Path, bands: int, count: int = 4, size: int = 32, seed: int = 0) -> Path:
    """`count` random `bands`-band TIFFs (photometric minisblack: bands Pillow cannot open)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, bands), dtype=np.uint8)
        tifffile.imwrite(folder / f"{i}.tif", pixels, photometric="minisblack", planarconfig="contig")
    return folder


def colour_folder(folder: Path, count: int = 4, size: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(count):
        write(folder / f"{i}.png", rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return folder


def model_config(run: Path, direction: str = "a2b") -> dict:
    return json.loads((run / "models" / direction / "config.json").read_text())


def convert(model: Path, inputs: Path, output: Path, *extra: str):
    result = cli("convert", "--model", model, "--input", inputs, "--output", output, "--device", "cpu", *extra)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


# -- reading pixels with the model's channels ------------------------------------------------------------


def test_grey_is_pillows_luma_bit_for_bit():
    rgb = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    assert np.array_equal(grey(rgb)[:, :, 0], np.asarray(Image.fromarray(rgb).convert("L")))
    levels = np.arange(0, 65536, 257, dtype=np.uint16)[None, :, None].repeat(3, axis=2)
    assert np.array_equal(grey(levels)[0, :, 0], levels[0, :, 0])  # grey RGB keeps its level, at 16 bits too


def test_fit_channels_converts_grey_and_colour_and_refuses_the_rest():
    rgb = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    assert fit_channels(rgb, 3, "x") is rgb
    assert np.array_equal(fit_channels(rgb, 1, "x"), grey(rgb))
    assert np.array_equal(fit_channels(rgb[:, :, :1], 3, "x"), np.repeat(rgb[:, :, :1], 3, axis=2))
    with pytest.raises(DataError, match=r"^photo.jpg: 3 channel\(s\), but the model takes 4"):
        fit_channels(rgb, 4, "photo.jpg")


def test_multi_band_tiffs_are_read_band_for_band(tmp_path):
    bands = np.random.default_rng(2).integers(0, 65536, (6, 7, 5), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "contig.tif", bands, photometric="minisblack", planarconfig="contig")
    tifffile.imwrite(
        tmp_path / "planar.tif", np.moveaxis(bands, -1, 0), photometric="minisblack", planarconfig="separate"
    )
    for name in ("contig.tif", "planar.tif"):
        assert file_channels(tmp_path / name) == (5, False)
        decoded = read_pixels(tmp_path / name, channels=5)
        assert decoded.colour.dtype == np.uint16 and np.array_equal(decoded.colour, bands)
        with pytest.raises(DataError, match="5 channel\\(s\\), but the model takes 3"):
            read_pixels(tmp_path / name)
    # A 2-band TIFF that Pillow would open as "L", dropping a band.
    tifffile.imwrite(
        tmp_path / "two.tif", bands[:, :, :2].astype(np.uint8), photometric="minisblack", planarconfig="contig"
    )
    assert read_pixels(tmp_path / "two.tif", channels=2).colour.shape == (6, 7, 2)


def test_rgba_png_is_four_channels_for_a_four_channel_model(tmp_path):
    rgba = np.random.default_rng(3).integers(0, 256, (6, 7, 4), dtype=np.uint8)
    write(tmp_path / "x.png", rgba)
    assert file_channels(tmp_path / "x.png") == (3, True)
    assert np.array_equal(read_pixels(tmp_path / "x.png", channels=4).colour, rgba)
    one = read_pixels(tmp_path / "x.png", channels=1)  # grey of the colour on white, alpha beside
    assert one.colour.shape == (6, 7, 1) and np.array_equal(one.alpha, rgba[:, :, 3])


def test_training_items_have_the_models_channels_with_exact_values(tmp_path):
    grey_folder(tmp_path / "a", count=2, size=8)
    band_folder(tmp_path / "b", 5, count=2, size=8)
    no_change = train_transform(8, 8, flip=False)  # no resize, no crop: values stay exact
    data = UnpairedDataset(tmp_path / "a", tmp_path / "b", no_change, channels=(1, 5))
    item = data[0]
    assert item["a"].shape == (1, 8, 8) and item["b"].shape == (5, 8, 8)
    expected_a = np.asarray(Image.open(item["a_path"]), dtype=np.float32)
    torch.testing.assert_close(item["a"][0], torch.from_numpy((expected_a - 127.5) / 127.5))
    expected_b = tifffile.imread(item["b_path"]).transpose(2, 0, 1).astype(np.float32)
    torch.testing.assert_close(item["b"], torch.from_numpy((expected_b - 127.5) / 127.5))
    # Resize and crops work on N channels as well.
    cropped = UnpairedDataset(tmp_path / "a", tmp_path / "b", train_transform(4, 12), channels=(1, 5))[1]
    assert cropped["a"].shape == (1, 4, 4) and cropped["b"].shape == (5, 4, 4)


def test_a_training_item_reads_each_multi_band_tiffs_header_once(tmp_path, monkeypatch):
    """tifffile both decides that Pillow would misread a file and decodes it, from one opening: a header is
    read once per item, not once to decide and again to decode (nor by Pillow)."""
    band_folder(tmp_path / "a", 4, count=1, size=8)
    band_folder(tmp_path / "b", 5, count=1, size=8)
    data = UnpairedDataset(tmp_path / "a", tmp_path / "b", channels=(4, 5))
    reads = []

    class CountedTiffFile(tifffile.TiffFile):
        def __init__(self, file, *args, **kwargs):
            reads.append(Path(file))
            super().__init__(file, *args, **kwargs)

    real_open = Image.open
    monkeypatch.setattr(tifffile, "TiffFile", CountedTiffFile)
    monkeypatch.setattr(
        Image, "open", lambda file, *args, **kwargs: reads.append(file) or real_open(file, *args, **kwargs)
    )
    item = data[0]
    assert item["a"].shape == (4, 8, 8) and item["b"].shape == (5, 8, 8)
    assert reads == [tmp_path / "a" / "0.tif", tmp_path / "b" / "0.tif"]


def test_colorization_pairs_are_grey_and_the_photo(tmp_path):
    colour_folder(tmp_path / "photos", count=1, size=8)
    item = PairedDataset.from_photos(tmp_path / "photos", train_transform(8, 8, flip=False, paired=True))[0]
    photo = np.asarray(Image.open(item["b_path"]))
    expected_grey = np.asarray(Image.fromarray(photo).convert("L"), dtype=np.float32)
    assert item["a"].shape == (1, 8, 8) and item["b"].shape == (3, 8, 8)
    torch.testing.assert_close(item["a"][0], torch.from_numpy((expected_grey - 127.5) / 127.5))


# -- training, exporting, converting ----------------------------------------------------------------------


def test_one_channel_pix2pix_trains_exports_converts_and_resumes(tmp_path):
    a, b = grey_folder(tmp_path / "a"), grey_folder(tmp_path / "b", seed=1)
    run = tmp_path / "run"
    options = (*tiny("pix2pix"), "--input-nc", 1, "--output-nc", 1)
    train("pix2pix", run, "--a", a, "--b", b, *options, "--steps", 2, "--save-every", 2)
    generator = model_config(run)["generator"]
    assert (generator["in_channels"], generator["out_channels"]) == (1, 1)

    colour_folder(tmp_path / "in", count=2, size=20)  # colour inputs are converted to grey
    convert(run / "models" / "a2b", tmp_path / "in", tmp_path / "out")
    for name in ("0.png", "1.png"):
        with Image.open(tmp_path / "out" / name) as result:
            assert (result.mode, result.size) == ("L", (20, 20))

    (run / "models" / "a2b" / "config.json").unlink()
    train("pix2pix", run, "--a", a, "--b", b, *tiny("pix2pix"), "--steps", 3, "--resume")  # the run's counts
    assert model_config(run)["generator"]["in_channels"] == 1
    result = train("pix2pix", run, "--a", a, "--b", b, *options, "--input-nc", 3, "--steps", 4, "--resume", check=False)
    one_line_error(result, "--input-nc 3 differs from the run's 1")


def test_one_channel_cyclegan_exports_both_directions(tmp_path):
    a, b = grey_folder(tmp_path / "a"), grey_folder(tmp_path / "b", seed=1)
    run = tmp_path / "run"
    train("cyclegan", run, "--a", a, "--b", b, *tiny("cyclegan"), "--input-nc", 1, "--output-nc", 1, "--steps", 2)
    for direction in ("a2b", "b2a"):
        assert model_config(run, direction)["generator"]["in_channels"] == 1
        convert(run / "models" / direction, a, tmp_path / direction)
        with Image.open(tmp_path / direction / "0.png") as result:
            assert (result.mode, result.size) == ("L", (32, 32))


def test_grey_to_colour_cyclegan_swaps_channels_for_b2a(tmp_path):
    a, b = grey_folder(tmp_path / "a"), colour_folder(tmp_path / "b")
    run = tmp_path / "run"
    args = ("--a", a, "--b", b, *tiny("cyclegan"), "--input-nc", 1, "--steps", 1)
    one_line_error(train("cyclegan", run, *args, check=False), "--lambda-identity 0")
    train("cyclegan", run, *args, "--lambda-identity", 0)
    forward, back = (model_config(run, d)["generator"] for d in ("a2b", "b2a"))
    assert (forward["in_channels"], forward["out_channels"], back["in_channels"], back["out_channels"]) == (1, 3, 3, 1)


def test_four_band_tiffs_train_and_convert_to_rgba_or_tiff(tmp_path):
    a, b = band_folder(tmp_path / "a", 4), band_folder(tmp_path / "b", 4, seed=1)
    run = tmp_path / "run"
    train("cut", run, "--a", a, "--b", b, *tiny("cut"), "--input-nc", 4, "--output-nc", 4, "--steps", 2)
    model = run / "models" / "a2b"
    convert(model, a, tmp_path / "png")
    with Image.open(tmp_path / "png" / "0.png") as result:
        assert (result.mode, result.size) == ("RGBA", (32, 32))
    convert(model, a, tmp_path / "tif", "--format", "tif")
    assert tifffile.imread(tmp_path / "tif" / "0.tif").shape == (32, 32, 4)
    result = cli("convert", "--model", model, "--input", a, "--output", tmp_path / "jpg", "--format", "jpg")
    one_line_error(result, "4 channels (RGBA), which JPEG cannot hold")


def test_five_channel_results_are_written_as_tiff_only(tmp_path):
    run = tmp_path / "run"
    a, b = band_folder(tmp_path / "a", 5), grey_folder(tmp_path / "b")
    train("cyclegan", run, "--a", a, "--b", b, *tiny("cyclegan"), "--input-nc", 5, "--output-nc", 1,
          "--lambda-identity", 0, "--steps", 1)  # fmt: skip
    back = run / "models" / "b2a"
    one_line_error(cli("convert", "--model", back, "--input", b, "--output", tmp_path / "x"), "add --format tif")
    convert(back, b, tmp_path / "tif", "--format", "tif")
    assert tifffile.imread(tmp_path / "tif" / "0.tif").shape == (32, 32, 5)


def test_mismatched_channels_are_one_line_errors(tmp_path):
    photos = colour_folder(tmp_path / "photos")
    result = train("cyclegan", tmp_path / "run", "--a", photos, "--b", photos, *tiny("cyclegan"),
                   "--input-nc", 4, "--output-nc", 4, "--steps", 1, check=False)  # fmt: skip
    one_line_error(result, "4 images of the images of domain A cannot be read with 4 channel(s) (--input-nc 4")
    result = train("cut", tmp_path / "cut", "--a", photos, "--b", photos, *tiny("cut"), "--input-nc", 1, check=False)
    one_line_error(result, "--input-nc 1 and --output-nc 3 differ")
    result = train("pix2pix", tmp_path / "p", "--a", photos, *tiny("pix2pix"), "--input-nc", 17, check=False)
    one_line_error(result, "--input-nc 17 must be between 1 and 16")


def test_colorization_trains_and_converts_grey_to_rgb(tmp_path):
    photos = colour_folder(tmp_path / "photos")
    run = tmp_path / "run"
    train("pix2pix", run, "--data", photos, "--colorization", *tiny("pix2pix"), "--steps", 2)
    config = model_config(run)
    generator = config["generator"]
    assert config["colorization"] and (generator["in_channels"], generator["out_channels"]) == (1, 3)
    greys = grey_folder(tmp_path / "grey", count=1, size=24)
    convert(run / "models" / "a2b", greys, tmp_path / "out")
    with Image.open(tmp_path / "out" / "0.png") as result:
        assert (result.mode, result.size) == ("RGB", (24, 24))
    with Image.open(greys / "0.png") as image:  # the Python API: PIL in, PIL out
        assert Translator.load(run / "models" / "a2b", device="cpu")(image).mode == "RGB"
    result = train("pix2pix", tmp_path / "x", "--a", photos, "--b", photos, "--colorization", check=False)
    one_line_error(result, "--colorization takes one folder of colour photos")


def test_one_channel_model_exports_with_a_one_channel_input(tmp_path):
    a = grey_folder(tmp_path / "a")
    run = tmp_path / "run"
    train("cyclegan", run, "--a", a, "--b", a, *tiny("cyclegan"), "--input-nc", 1, "--output-nc", 1, "--steps", 1)
    out = tmp_path / "g.pt2"
    result = cli("export", run / "models" / "a2b", "--format", "pt2", "--out", out, "--size", 32)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    assert "N x 1 x H x W" in result.output
    module = torch.export.load(out).module()
    assert module(torch.zeros(2, 1, 32, 40)).shape == (2, 1, 32, 40)


# -- evaluation -----------------------------------------------------------------------------------------


def test_fid_is_refused_for_four_channel_models(tmp_path):
    from translate.evaluation.unpaired import check_fid_channels

    check_fid_channels(1, 3)  # greyscale is replicated to RGB
    with pytest.raises(Exception, match="this model's output has 4 channels"):
        check_fid_channels(3, 4)


def colour_of(level: np.ndarray) -> np.ndarray:
    """A known grey -> colour mapping: a level t in 0..255 becomes (t, 255 - t, 64 + t / 2), whose luma
    (about 157 - 0.23 t) tells t back."""
    t = level.astype(np.int32)
    return np.stack([t, 255 - t, 64 + t // 2], axis=-1).astype(np.uint8)


def smooth_photos(folder: Path, count: int, size: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        fx, fy, phase = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0), rng.uniform(0, 6.3)
        level = 127.5 + 127.5 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
        write(folder / f"{i}.png", colour_of(np.round(level)))
    return folder


@pytest.mark.slow
def test_colorization_learns_a_known_mapping(tmp_path):
    """Grey -> colour by a fixed palette: a tiny pix2pix gets L1 far below the grey input replicated."""
    from translate.evaluation.paired import evaluate_paired

    train_photos = smooth_photos(tmp_path / "train", 16, 32, seed=0)
    held_out = smooth_photos(tmp_path / "test", 4, 32, seed=1)
    run = tmp_path / "run"
    options = tiny("pix2pix", batch_size=4, ngf=8, ndf=8)
    train("pix2pix", run, "--data", train_photos, "--colorization", *options, "--steps", 300, "--no-flip")
    scores = evaluate_paired(run / "models" / "a2b", data=str(held_out), device="cpu").mean()
    assert scores["input_l1"] > 0.2  # the trivial answer: the grey replicated to RGB
    assert scores["l1"] < 0.25 * scores["input_l1"], scores


def test_sample_grids_show_one_channel_as_grey_and_many_as_their_first_three(tmp_path):
    from translate.engine.visuals import PAD, save_grid

    one = torch.linspace(-1, 1, 16).reshape(1, 4, 4)
    five = torch.stack([torch.full((4, 4), v) for v in (-1.0, 0.0, 1.0, 0.5, 0.5)])
    save_grid([[one, five]], tmp_path / "grid.png")
    grid = np.asarray(Image.open(tmp_path / "grid.png").convert("RGB"))
    cell = grid[PAD : PAD + 4, PAD : PAD + 4]
    assert np.array_equal(cell[:, :, 0], cell[:, :, 1]) and np.array_equal(cell[:, :, 1], cell[:, :, 2])
    assert cell[0, 0, 0] == 0 and cell[3, 3, 0] == 255
    assert tuple(grid[PAD, 2 * PAD + 4]) == (0, 128, 255)  # bands 1-3 as RGB


@pytest.mark.parametrize(("method", "output_nc"), [("discogan", 3), ("fastcut", 1)])
def test_other_methods_train_on_one_channel(tmp_path, method, output_nc):
    size = 64 if method == "discogan" else 32
    a = grey_folder(tmp_path / "a", size=size)
    b = colour_folder(tmp_path / "b", size=size) if output_nc == 3 else a
    run = tmp_path / "run"
    train(method, run, "--a", a, "--b", b, *tiny(method), "--input-nc", 1, "--output-nc", output_nc, "--steps", 2)
    generator = model_config(run)["generator"]
    assert (generator["in_channels"], generator["out_channels"]) == (1, output_nc)
    if method == "discogan":  # the way back: colour to grey
        generator = model_config(run, "b2a")["generator"]
        assert (generator["in_channels"], generator["out_channels"]) == (3, 1)


def test_rgb_pixels_given_to_a_grey_model_are_its_grey(tmp_path):
    """The server (and any caller of run_pixels) hands RGB over: a 1-channel model runs on its grey."""
    generator = TINY_GENERATOR | {"in_channels": 1, "out_channels": 1}
    model = Translator.load(save_tiny_model(tmp_path / "m", generator), device="cpu")
    rgb = np.random.default_rng(4).integers(0, 256, (2, 8, 12, 3), dtype=np.uint8)
    from_rgb = model.run_pixels(torch.from_numpy(rgb))
    assert from_rgb.shape == (2, 8, 12, 1)
    assert np.array_equal(from_rgb, model.run_pixels(torch.from_numpy(grey(rgb))))
