"""JPEG through torchvision.io in conversion (`--jpeg-codec`, translate/inference/jpeg.py): on a CPU it runs
libjpeg-turbo and must give Pillow's pixels and files exactly; on a CUDA GPU (nvJPEG, tests marked gpu)
within the issue's bounds."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.io
from PIL import Image

from tests.helpers import TINY_GENERATOR, cli, one_line_error, random_rgb, save_tiny_model
from translate.data.pixels import read_pixels, upright_array
from translate.inference.jpeg import EncodedFetch, decode, read_compressed, upright_tensor, uses_torchvision

PHOTOS = ("astronaut", "chelsea", "coffee", "camera")  # camera is greyscale


def photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {name: getattr(data, name)() for name in PHOTOS}


def jpeg_bytes(pixels: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def device_decoded(path: Path, device: str = "cpu") -> np.ndarray:
    item = read_compressed(path, 0, Image.open(path).size)
    assert item is not None, path
    groups, refused = decode([item], torch.device(device))
    assert refused == [] and [indices for indices, _ in groups] == [[0]]
    return groups[0][1][0].cpu().numpy()


def level_differences(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    difference = np.abs(a.astype(np.int64) - b.astype(np.int64))
    return float(difference.mean()), int(difference.max())


@pytest.fixture
def count_codec(monkeypatch):
    """Images torchvision decoded and encoded during the test: {"decoded": n, "encoded": n}."""
    counts = {"decoded": 0, "encoded": 0}
    decode_jpeg, encode_jpeg = torchvision.io.decode_jpeg, torchvision.io.encode_jpeg

    def counted_decode(data, *args, **kwargs):
        result = decode_jpeg(data, *args, **kwargs)
        counts["decoded"] += len(result) if isinstance(result, list) else 1
        return result

    def counted_encode(images, *args, **kwargs):
        counts["encoded"] += len(images)
        return encode_jpeg(images, *args, **kwargs)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", counted_decode)
    monkeypatch.setattr(torchvision.io, "encode_jpeg", counted_encode)
    return counts


# -- the codec on its own ---------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{"quality": 75}, {"quality": 95}, {"quality": 90, "progressive": True}])
def test_torchvision_decodes_real_photos_exactly_as_pillow(tmp_path, options):
    """Measured on this CPU (torchvision 0.29's libjpeg-turbo against Pillow's), skimage's astronaut, chelsea,
    coffee, camera, hubble_deep_field, retina and others at quality 75, 90 and 95: every pixel equal."""
    for name, pixels in photos().items():
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(jpeg_bytes(pixels, **options))
        assert np.array_equal(device_decoded(path), read_pixels(path).colour), name


@pytest.mark.parametrize("quality", [50, 95])
def test_torchvision_encodes_the_files_pillow_writes(quality):
    """Measured on this CPU on the same photos at quality 75, 90 and 95: the very same bytes as Pillow's
    save (both are libjpeg-turbo with its default tables, 4:2:0 and the slow integer DCT), so decoded
    they differ by 0 levels, on average and at most."""
    images = [np.array(Image.fromarray(p).convert("RGB")) for p in photos().values()]
    for pixels in images:
        files = EncodedFetch(pixels[None], quality).get()
        assert files == [jpeg_bytes(pixels, quality=quality)]


def test_a_batch_is_encoded_as_one_file_per_image():
    batch = np.stack([random_rgb(16, 24, seed) for seed in range(3)])
    files = EncodedFetch(torch.from_numpy(batch), 90).get()
    assert files == [jpeg_bytes(image, quality=90) for image in batch]


def test_only_jpeg_files_the_device_reads_as_pillow_are_read_as_bytes(tmp_path):
    pixels = random_rgb(12, 20)
    named_png = tmp_path / "jpeg.png"
    named_png.write_bytes(jpeg_bytes(pixels))  # a JPEG by its header, whatever its name
    item = read_compressed(named_png, 7, (20, 12))
    assert item is not None and item.index == 7 and bytes(item.data.numpy()) == named_png.read_bytes()
    Image.fromarray(pixels).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(pixels).save(tmp_path / "png.jpg", format="PNG")
    (tmp_path / "cut.jpg").write_bytes(jpeg_bytes(pixels)[:200])
    for refused in ("cmyk.jpg", "png.jpg", "cut.jpg", "missing.jpg"):
        assert read_compressed(tmp_path / refused, 0, (20, 12)) is None, refused
    assert read_compressed(named_png, 0, (10, 6)) is None  # resized first (--size): Pillow's bicubic, in a worker


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_turns_tensors_as_arrays(orientation):
    pixels = random_rgb(3, 5)
    turned = upright_tensor(torch.from_numpy(pixels), orientation).numpy()
    assert np.array_equal(turned, upright_array(pixels, orientation))


def test_a_batch_the_decoder_refuses_is_decoded_file_by_file(tmp_path, monkeypatch):
    """nvJPEG refuses some files Pillow reads; one of them must cost only itself."""
    paths = [tmp_path / f"{i}.jpg" for i in range(3)]
    for seed, path in enumerate(paths):
        path.write_bytes(jpeg_bytes(random_rgb(8, 8, seed)))
    items = [read_compressed(path, index, (8, 8)) for index, path in enumerate(paths)]
    refused_data = items[1].data
    decode_jpeg = torchvision.io.decode_jpeg

    def picky(data, *args, **kwargs):
        if any(d is refused_data for d in data):
            raise RuntimeError("nvjpeg: unsupported")
        return decode_jpeg(data, *args, **kwargs)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", picky)
    groups, refused = decode(items, torch.device("cpu"))
    assert refused == [1] and [indices for indices, _ in groups] == [[0, 2]]
    assert np.array_equal(groups[0][1][1].numpy(), read_pixels(paths[2]).colour)


def test_auto_takes_torchvision_on_a_gpu_only():
    assert uses_torchvision("auto", torch.device("cuda")) and not uses_torchvision("auto", torch.device("cpu"))
    assert uses_torchvision("torchvision", torch.device("cpu"))
    assert not uses_torchvision("pillow", torch.device("cuda"))


# -- folders through the pipeline ---------------------------------------------------------------------------


def write_inputs(folder: Path) -> Path:
    """JPEGs of one size (one rotated by EXIF, one greyscale, one CMYK), a PNG, a truncated JPEG."""
    folder.mkdir(parents=True)
    for seed in range(3):
        (folder / f"{seed}.jpg").write_bytes(jpeg_bytes(random_rgb(24, 32, seed), quality=90))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 32 wide and 24 high, shown 24 wide and 32 high
    Image.fromarray(random_rgb(24, 32, 3)).save(folder / "rotated.jpg", exif=exif)
    Image.fromarray(random_rgb(24, 32, 4)[:, :, 0]).save(folder / "grey.jpg")
    Image.fromarray(random_rgb(24, 32, 5)).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(random_rgb(24, 32, 6)).save(folder / "plain.png")
    (folder / "truncated.jpg").write_bytes(jpeg_bytes(random_rgb(24, 32, 7))[:300])
    return folder


def convert(model: Path, inputs: Path, output: Path, *options: str | int):
    return cli("convert", "--model", model, "--input", inputs, "--output", output, "--device", "cpu", *options)


def same_results(a: Path, b: Path) -> None:
    """The same files with the same bytes, and the same failures."""
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_torchvision_converts_a_folder_as_pillow_does(tmp_path, count_codec, fmt):
    """Five JPEGs decoded by torchvision (three plain, the EXIF-rotated, the greyscale one) and, with jpg
    results, all seven results encoded by it; CMYK and the PNG go the Pillow route; the truncated JPEG is
    reported with Pillow's reason. Every file equal, byte for byte, to the Pillow codec's."""
    model = save_tiny_model(tmp_path / "model")
    inputs = write_inputs(tmp_path / "in")
    pillow = convert(model, inputs, tmp_path / "pillow", "--format", fmt, "--jpeg-codec", "pillow")
    assert pillow.exit_code == 1 and count_codec == {"decoded": 0, "encoded": 0}
    device = convert(model, inputs, tmp_path / "torchvision", "--format", fmt, "--jpeg-codec", "torchvision")
    assert device.exit_code == 1, device.output
    assert count_codec == {"decoded": 5, "encoded": 7 if fmt == "jpg" else 0}
    same_results(tmp_path / "pillow", tmp_path / "torchvision")
    failures = json.loads((tmp_path / "torchvision" / "failures.json").read_text())
    assert [(Path(f["path"]).name, f["reason"]) for f in failures] == [
        ("truncated.jpg", "not a readable image (Truncated File Read)")
    ]


def test_decoder_processes_hand_over_the_bytes(tmp_path, count_codec):
    """With worker processes the bytes travel through the DataLoader; decoding stays in the main process."""
    model = save_tiny_model(tmp_path / "model")
    inputs = write_inputs(tmp_path / "in")
    options = ("--format", "jpg", "--batch-size", "2", "--workers", "2")
    assert convert(model, inputs, tmp_path / "pillow", *options, "--jpeg-codec", "pillow").exit_code == 1
    assert convert(model, inputs, tmp_path / "tv", *options, "--jpeg-codec", "torchvision").exit_code == 1
    assert count_codec == {"decoded": 5, "encoded": 7}
    same_results(tmp_path / "pillow", tmp_path / "tv")


def test_resized_inputs_and_results_go_the_pillow_route(tmp_path, count_codec):
    """--size 16 with --keep-size: inputs are resized (Pillow's bicubic) in the workers and results resized
    back in the writers, so neither is decoded nor encoded by torchvision; results equal Pillow's."""
    model = save_tiny_model(tmp_path / "model")
    inputs = write_inputs(tmp_path / "in")
    options = ("--format", "jpg", "--size", "16")
    assert convert(model, inputs, tmp_path / "pillow", *options, "--jpeg-codec", "pillow").exit_code == 1
    assert convert(model, inputs, tmp_path / "tv", *options, "--jpeg-codec", "torchvision").exit_code == 1
    assert count_codec == {"decoded": 0, "encoded": 0}
    same_results(tmp_path / "pillow", tmp_path / "tv")
    assert Image.open(tmp_path / "tv" / "0.jpg").size == (32, 24)


def test_a_greyscale_model_reads_device_decoded_jpegs_as_pillow_gives_them(tmp_path, count_codec):
    """1-channel models: decoded as RGB on the device, then to grey as `data.pixels.grey`; grey results are
    encoded by Pillow (as "L")."""
    model = save_tiny_model(tmp_path / "model", TINY_GENERATOR | {"in_channels": 1, "out_channels": 1})
    inputs = write_inputs(tmp_path / "in")
    assert convert(model, inputs, tmp_path / "pillow", "--format", "jpg", "--jpeg-codec", "pillow").exit_code == 1
    assert convert(model, inputs, tmp_path / "tv", "--format", "jpg", "--jpeg-codec", "torchvision").exit_code == 1
    assert count_codec == {"decoded": 5, "encoded": 0}
    same_results(tmp_path / "pillow", tmp_path / "tv")
    assert Image.open(tmp_path / "tv" / "0.jpg").mode == "L"


@pytest.mark.parametrize("command", ["convert", "upscale"])
def test_a_bad_codec_is_a_one_line_error(tmp_path, command):
    inputs = write_inputs(tmp_path / "in")
    result = cli(command, "--model", tmp_path / "none", "--input", inputs, "--output", tmp_path / "out",
                 "--jpeg-codec", "nvjpeg")  # fmt: skip
    one_line_error(result, "--jpeg-codec 'nvjpeg'", "auto, torchvision, pillow")


# -- on a CUDA GPU (nvJPEG) ------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_nvjpeg_decodes_photos_within_two_levels_of_pillow(tmp_path):
    """The issue's bound (not yet measured: no GPU so far); nvJPEG's IDCT and chroma upsampling are its own."""
    for name, pixels in photos().items():
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(jpeg_bytes(pixels, quality=90))
        mean, most = level_differences(device_decoded(path, "cuda"), read_pixels(path).colour)
        assert mean <= 1.0 and most <= 2, (name, mean, most)


@pytest.mark.gpu
def test_nvjpeg_encodes_photos_within_one_level_of_pillow_on_average():
    """Both files decoded by Pillow: within one level on average, at most 8 (a guess to be measured)."""
    for name, pixels in photos().items():
        rgb = np.array(Image.fromarray(pixels).convert("RGB"))
        files = EncodedFetch(torch.from_numpy(rgb[None]).cuda(), 95).get()
        ours = np.asarray(Image.open(io.BytesIO(files[0])).convert("RGB"))
        theirs = np.asarray(Image.open(io.BytesIO(jpeg_bytes(rgb, quality=95))))
        mean, most = level_differences(ours, theirs)
        assert mean <= 1.0 and most <= 8, (name, mean, most)


@pytest.mark.gpu
def test_a_folder_converts_on_the_gpu_through_nvjpeg(tmp_path, count_codec):
    """`auto` on a GPU: nvJPEG both ways; results within a level on average of the Pillow codec's on the GPU."""
    model = save_tiny_model(tmp_path / "model")
    inputs = write_inputs(tmp_path / "in")
    for codec in ("pillow", "auto"):
        result = cli("convert", "--model", model, "--input", inputs, "--output", tmp_path / codec, "--device", "cuda",
                     "--format", "jpg", "--jpeg-codec", codec)  # fmt: skip
        assert result.exit_code == 1, result.output
    assert count_codec == {"decoded": 5, "encoded": 7}
    for path in sorted((tmp_path / "pillow").glob("*.jpg")):
        mean, most = level_differences(
            np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "auto" / path.name))
        )
        assert mean <= 1.0, (path.name, mean, most)
    assert json.loads((tmp_path / "auto" / "failures.json").read_text())[0]["path"].endswith("truncated.jpg")
