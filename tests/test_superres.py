"""Super-resolution: data, tiling, evaluation, and SRResNet/SRGAN through the real CLI."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.helpers import cli, random_generator, save_tiny_model, tiny, train, write
from translate.config import SRGANConfig, SRResNetConfig
from translate.data.images import image_to_tensor, load_image
from translate.data.superres import SuperResDataset, bicubic_downscale, bicubic_resize, modcrop
from translate.errors import ConfigError, DataError
from translate.inference.tiling import tile_spans, upscale_image
from translate.metrics.quality import psnr, ssim
from translate.model_folder import save_model


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colours plus detail, so bicubic and a network give different, finite scores."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(7 * xx + c) * np.cos(5 * yy - c) for c in range(3)], -1) * 90 + 128
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def to_uint8(chw: torch.Tensor) -> np.ndarray:
    return np.rint((chw.permute(1, 2, 0).numpy() + 1.0) * 127.5).astype(np.uint8)


def find_window(source: np.ndarray, crop: np.ndarray) -> bool:
    """Whether `crop` is a window of `source`, possibly flipped horizontally and/or vertically."""
    size = crop.shape[0]
    for view in (source, source[:, ::-1], source[::-1], source[::-1, ::-1]):
        for y in range(view.shape[0] - size + 1):
            for x in range(view.shape[1] - size + 1):
                if np.array_equal(view[y : y + size, x : x + size], crop):
                    return True
    return False


# -- data --------------------------------------------------------------------------------------------


def test_lr_is_the_antialiased_bicubic_downscale_of_the_hr_crop(tmp_path):
    source = photo(40, 52)
    write(tmp_path / "hr" / "p.png", source)
    data = SuperResDataset.from_hr(tmp_path / "hr", scale=2, hr_size=24, crops_per_image=3)
    assert len(data) == 3
    for i in range(len(data)):
        item = data[i]
        assert item["a"].shape == (3, 12, 12) and item["b"].shape == (3, 24, 24)
        assert item["a"].min() >= -1 and item["b"].max() <= 1
        hr, lr = to_uint8(item["b"]), to_uint8(item["a"])
        assert find_window(source, hr)
        np.testing.assert_array_equal(lr, bicubic_downscale(hr, 2))
        # The same kernel as torch's antialiased bicubic (Pillow's), up to rounding.
        reference = F.interpolate(image_to_tensor(hr)[None], scale_factor=0.5, mode="bicubic", antialias=True)[0]
        assert (item["a"] - reference).abs().max() < 3 / 127.5


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_item_shapes_follow_the_scale(tmp_path, scale):
    write(tmp_path / "p.png", photo(70, 70))
    item = SuperResDataset.from_hr(tmp_path, scale=scale, hr_size=64)[0]
    assert item["b"].shape == (3, 64, 64) and item["a"].shape == (3, 64 // scale, 64 // scale)


def test_items_are_reproducible_and_change_with_the_epoch(tmp_path):
    write(tmp_path / "p.png", photo(64, 64))
    first, again = (SuperResDataset.from_hr(tmp_path, 2, 16, seed=3) for _ in range(2))
    assert torch.equal(first[0]["b"], again[0]["b"])
    again.set_epoch(1)
    assert not torch.equal(first[0]["b"], again[0]["b"])


def test_decoded_images_stay_within_their_budget_and_match_the_file(tmp_path):
    import pickle

    from translate.data.superres import DecodedImages

    paths = [write(tmp_path / f"{i}.png", photo(32, 32, seed=i)) for i in range(3)]
    one_image = 32 * 32 * 3
    cache = DecodedImages(budget_bytes=2 * one_image)
    for path in paths:
        assert np.array_equal(cache(path), np.asarray(load_image(path)))
    assert list(cache._images) == paths[1:]  # the least recently used one was dropped
    assert cache(paths[1]) is cache(paths[1])  # a hit decodes nothing
    assert not cache(paths[1]).flags.writeable
    assert pickle.loads(pickle.dumps(cache))._images == {}  # workers start empty


def test_cached_and_uncached_items_are_the_same(tmp_path):
    write(tmp_path / "p.png", photo(64, 64))
    cached = SuperResDataset.from_hr(tmp_path, 2, 16, seed=3, crops_per_image=4)
    uncached = SuperResDataset.from_hr(tmp_path, 2, 16, seed=3, crops_per_image=4, cache_mb=0)
    for index in range(4):
        assert torch.equal(cached[index]["a"], uncached[index]["a"])
        assert torch.equal(cached[index]["b"], uncached[index]["b"])


def test_hr_size_must_divide_by_the_scale(tmp_path):
    write(tmp_path / "p.png", photo(64, 64))
    with pytest.raises(ConfigError, match="multiple of --scale 4"):
        SuperResDataset.from_hr(tmp_path, scale=4, hr_size=30)
    with pytest.raises(ConfigError, match="try --hr-size 32"):
        SRResNetConfig(hr="x", scale=4, hr_size=30).validate()
    with pytest.raises(ConfigError, match="choose 2, 4 or 8"):
        SRGANConfig(hr="x", scale=3, hr_size=30).validate()


def test_small_images_are_skipped_with_one_warning(tmp_path, caplog):
    for name, size in (("big1", 40), ("big2", 48), ("small1", 20), ("small2", 31)):
        write(tmp_path / "hr" / f"{name}.png", photo(size, size))
    with caplog.at_level(logging.WARNING, logger="translate.data.superres"):
        data = SuperResDataset.from_hr(tmp_path / "hr", scale=4, hr_size=32)
    assert [p.name for _, p in data.items] == ["big1.png", "big2.png"]
    assert len(caplog.records) == 1 and "2 images" in caplog.text and "small1.png" in caplog.text
    for path in (tmp_path / "hr").glob("big*"):
        path.unlink()
    with pytest.raises(DataError, match="all 2 images are smaller than the 32x32 crop"):
        SuperResDataset.from_hr(tmp_path / "hr", scale=4, hr_size=32)


def test_paired_folders_give_aligned_crops(tmp_path):
    for i in range(2):
        hr = photo(48, 64, seed=i)
        write(tmp_path / "hr" / f"{i}.png", hr)
        write(tmp_path / "lr" / f"{i}.png", bicubic_downscale(hr, 4))
    data = SuperResDataset.from_pairs(tmp_path / "lr", tmp_path / "hr", scale=4, hr_size=32, crops_per_image=2)
    assert len(data) == 4
    for i in range(len(data)):
        item = data[i]
        assert item["a"].shape == (3, 8, 8) and item["b"].shape == (3, 32, 32)
        assert item["a_path"].endswith(f"{i % 2}.png") and "lr" in item["a_path"]
        # Aligned: the LR crop is (up to the edge effects of the full-image resize) the HR crop shrunk.
        hr_crop, lr_crop = to_uint8(item["b"]), to_uint8(item["a"]).astype(int)
        inner = np.abs(bicubic_downscale(hr_crop, 4).astype(int) - lr_crop)[1:-1, 1:-1]
        assert inner.mean() < 3


def test_paired_folders_are_validated(tmp_path):
    write(tmp_path / "hr" / "a.png", photo(64, 64))
    write(tmp_path / "lr" / "a.png", photo(17, 16))
    with pytest.raises(DataError, match="HR is not exactly 4x LR"):
        SuperResDataset.from_pairs(tmp_path / "lr", tmp_path / "hr", scale=4, hr_size=32)
    write(tmp_path / "lr" / "a.png", photo(16, 16))
    write(tmp_path / "lr" / "b.png", photo(16, 16))
    with pytest.raises(DataError, match="without a partner"):
        SuperResDataset.from_pairs(tmp_path / "lr", tmp_path / "hr", scale=4, hr_size=32)


# -- tiling and evaluation -------------------------------------------------------------------------


# A small x2 SRResNet: random_generator(SR_NET) gives it non-trivial batch-norm statistics, in eval mode as
# inference runs it.
SR_NET = {"name": "srresnet", "scale": 2, "width": 8, "n_blocks": 2}


def test_tile_spans_cover_the_image_once():
    for length, tile, overlap in ((100, 40, 8), (33, 40, 8), (81, 20, 2), (64, 17, 0)):
        spans = tile_spans(length, tile, overlap)
        kept = [i for _, _, k0, k1 in spans for i in range(k0, k1)]
        assert kept == list(range(length))
        for w0, w1, k0, k1 in spans:
            assert w1 - w0 <= tile and w0 <= k0 and k1 <= w1
            assert k0 - w0 >= min(overlap, k0) and w1 - k1 >= min(overlap, length - k1)


def test_tiled_upscaling_equals_untiled():
    net = random_generator(SR_NET)
    image = image_to_tensor(photo(50, 70))
    whole = upscale_image(net, image, 2, tile=0)
    assert whole.shape == (100, 140, 3) and whole.dtype == np.uint8
    # An overlap that covers the receptive field (12 LR px here): the same pixels, up to float rounding.
    tiled = upscale_image(net, image, 2, tile=40, overlap=12)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1
    # A smaller overlap is still within a few levels: no visible seams.
    close = upscale_image(net, image, 2, tile=24, overlap=6)
    assert np.abs(close.astype(int) - whole.astype(int)).mean() < 0.5


def test_tile_settings_are_checked():
    with pytest.raises(ConfigError, match="larger than twice"):
        upscale_image(random_generator(SR_NET), image_to_tensor(photo(40, 40)), 2, tile=16, overlap=8)


def test_evaluate_matches_the_quality_metrics(tmp_path):
    net = random_generator(SR_NET)
    save_model(net, {"method": "srresnet", "generator": SR_NET, "scale": 2}, tmp_path / "model")
    write(tmp_path / "hr" / "a.png", photo(41, 50, seed=1))  # odd height: modcropped to 40
    write(tmp_path / "hr" / "b.png", photo(36, 36, seed=2))
    out = tmp_path / "scores.json"
    command = ["evaluate", "sr", "--model", str(tmp_path / "model"), "--hr", str(tmp_path / "hr")]
    result = cli(*command, "--json", out)
    assert result.exit_code == 0, result.output
    assert "mean" in result.output and "PSNR-Y" in result.output
    report = json.loads(out.read_text())
    assert report["scale"] == 2 and [s["name"] for s in report["images"]] == ["a.png", "b.png"]
    for scores in report["images"]:
        hr = modcrop(np.asarray(load_image(tmp_path / "hr" / scores["name"])), 2)
        lr = bicubic_downscale(hr, 2)
        with torch.no_grad():
            sr = to_uint8(net(image_to_tensor(lr)[None])[0].clamp(-1, 1))
        bicubic = bicubic_resize(lr, hr.shape[1], hr.shape[0])
        assert scores["psnr_y"] == pytest.approx(psnr(sr, hr, crop_border=2), abs=1e-6)
        assert scores["ssim_y"] == pytest.approx(ssim(sr, hr, crop_border=2), abs=1e-6)
        assert scores["psnr_rgb"] == pytest.approx(psnr(sr, hr, crop_border=2, y_channel=False), abs=1e-6)
        assert scores["bicubic_psnr_y"] == pytest.approx(psnr(bicubic, hr, crop_border=2), abs=1e-9)
        assert scores["bicubic_ssim_y"] == pytest.approx(ssim(bicubic, hr, crop_border=2), abs=1e-9)
    assert report["mean"]["psnr_y"] == pytest.approx(np.mean([s["psnr_y"] for s in report["images"]]))
    wrong = cli(*command, "--scale", "4")
    assert wrong.exit_code == 2 and "upscales x2" in wrong.output


# -- the command line --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sr") / "hr"
    for i in range(3):
        write(root / f"{i}.png", photo(40, 48, seed=i))
    return root


@pytest.fixture(scope="module")
def srresnet_run(hr_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "srresnet"
    train("srresnet", out, "--hr", hr_folder, *tiny("srresnet", steps=3, save_every=2, sample_every=2))
    return out


def test_train_srresnet_exports_an_upscaler(srresnet_run):
    spec = json.loads((srresnet_run / "models" / "sr" / "config.json").read_text())
    assert spec["method"] == "srresnet" and spec["scale"] == 2
    expected = {"name": "srresnet", "in_channels": 3, "out_channels": 3, "scale": 2, "width": 8, "n_blocks": 1}
    assert spec["generator"] == expected | {"skip": "bicubic"}  # the default --sr-skip (docs/DEFAULTS.md)
    assert (srresnet_run / "samples" / "step-00000002.png").is_file()
    assert len((srresnet_run / "log.jsonl").read_text().splitlines()) == 3


def test_srgan_init_and_resume(srresnet_run, hr_folder, tmp_path):
    out = tmp_path / "srgan"
    extra = ["--init", str(srresnet_run), "--content-loss", "mse", "--ndf", "8", "--save-every", "2"]
    train("srgan", out, "--hr", hr_folder, *tiny("srgan"), *extra, "--steps", "2")
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert set(log[0]["losses"]) == {"content", "G_adv", "D"}
    resumed = train("srgan", out, "--resume", "--steps", "4")
    assert "at step 2" in resumed.output
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    assert (out / "checkpoints" / "step-00000004").is_dir()


def test_srgan_init_must_match_the_architecture(srresnet_run, hr_folder, tmp_path):
    options = ("--init", srresnet_run, "--content-loss", "mse", "--blocks", "2")
    result = train("srgan", tmp_path / "bad", "--hr", hr_folder, *tiny("srgan"), *options, check=False)
    assert result.exit_code == 2
    assert "does not fit this run" in result.output and "it has --blocks 1; this run --blocks 2" in result.output


def test_missing_vgg_weights_stop_srgan_before_training(hr_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    out = tmp_path / "run"
    result = train("srgan", out, "--hr", hr_folder, *tiny("srgan"), "--steps", "1", check=False)
    assert result.exit_code == 2
    assert "VGG19 weights not found" in result.stderr and "--content-loss mse" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.e2e
def test_upscale_and_convert_a_folder(srresnet_run, hr_folder, tmp_path):
    result = cli(
        "upscale", "--model", srresnet_run, "--input", hr_folder, "--output", tmp_path / "up",
        "--tile", "16", "--tile-overlap", "4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Converted 3 image(s)" in result.output
    tiled = np.asarray(load_image(tmp_path / "up" / "0.png"))
    assert tiled.shape == (80, 96, 3)
    converted = cli("convert", "--model", srresnet_run, "--input", hr_folder, "--output", tmp_path / "c")
    assert converted.exit_code == 0, converted.output
    whole = np.asarray(load_image(tmp_path / "c" / "0.png"))  # 40x48 < 512: one tile
    assert np.abs(whole.astype(int) - tiled.astype(int)).mean() < 1.0


def test_upscale_refuses_a_translation_model(tmp_path, hr_folder):
    model = save_tiny_model(tmp_path / "m")
    result = cli("upscale", "--model", model, "--input", hr_folder, "--output", tmp_path / "o")
    assert result.exit_code == 2 and "not a super-resolution one" in result.output


def test_learning_rate_drops_to_a_tenth():
    from types import SimpleNamespace

    from translate.methods.srgan import SRResNetMethod

    method = SimpleNamespace(config=SimpleNamespace(decay_from=0.5))
    factors = [SRResNetMethod.lr_factor(method, step, 10) for step in range(10)]
    assert factors == [1.0] * 5 + [0.1] * 5


def test_hr_size_error_is_one_line_through_the_cli(hr_folder, tmp_path):
    result = train("srresnet", tmp_path / "r", "--hr", hr_folder, "--scale", "4", "--hr-size", "30", check=False)
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --hr-size 30 must be a positive multiple of --scale 4 (try --hr-size 32)"
