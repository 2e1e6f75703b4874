"""The batched conversion pipeline against the one-at-a-time reference path, its failures, options and API."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import cli, launch
from translate.data.demo import make_domain_images
from translate.errors import ConfigError, WriteError
from translate.inference.pipeline import group_batches, plan, working_size
from translate.inference.runner import convert_folder
from translate.inference.serial import serial_convert


def _mixed_folder(root: Path) -> Path:
    """A nested folder of many sizes and modes: what users' photo folders look like."""
    scenes = make_domain_images(8, 40, seed=3)
    (root / "deep" / "er").mkdir(parents=True)
    for i, scene in enumerate(scenes[:5]):  # five of one size: several batches of 4
        Image.fromarray(scene).save(root / ("deep/er" if i % 2 else "") / f"same{i}.png")
    Image.fromarray(scenes[5][:30, :37]).save(root / "odd.jpg", quality=90)
    Image.fromarray(scenes[6]).convert("L").save(root / "grey.png")
    Image.fromarray(scenes[7]).convert("RGBA").save(root / "deep" / "alpha.png")
    sixteen = (np.asarray(Image.fromarray(scenes[0]).convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(sixteen).save(root / "deep" / "sixteen.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # a phone photo stored sideways
    Image.fromarray(scenes[1][:, :28]).save(root / "phone.jpg", exif=exif)
    return root


def _pipeline_threads() -> list[threading.Thread]:
    """Decoder and writer threads still alive (a run must stop its own, also when it fails)."""
    return [t for t in threading.enumerate() if t.name.startswith(("translate-decoder", "translate-writer"))]


def _images(folder: Path) -> dict[str, np.ndarray]:
    return {p.relative_to(folder).as_posix(): np.asarray(Image.open(p)) for p in sorted(folder.rglob("*.png"))}


@pytest.mark.parametrize("workers", [0, 2])
def test_pipeline_equals_the_one_at_a_time_path(tmp_path, tiny_model, workers):
    inputs = _mixed_folder(tmp_path / "in")
    assert serial_convert(tiny_model, inputs, tmp_path / "ref") == 10
    expected = _images(tmp_path / "ref")
    assert expected["phone.png"].shape[:2] == (28, 40)  # upright, as the EXIF tag says

    one = convert_folder(tiny_model, inputs, tmp_path / "b1", device="cpu", batch_size=1, workers=workers)
    assert (one.converted, one.failures, one.exit_code) == (10, [], 0)
    for name, pixels in _images(tmp_path / "b1").items():
        assert np.array_equal(pixels, expected[name]), name  # bit for bit in fp32

    four = convert_folder(tiny_model, inputs, tmp_path / "b4", device="cpu", batch_size=4, workers=workers)
    assert four.converted == 10
    got = _images(tmp_path / "b4")
    assert got.keys() == expected.keys()
    for name, pixels in got.items():
        # oneDNN may pick another convolution kernel for a batch of 4 than for 1: float sums in
        # another order, so a rounding can flip by one level on a few pixels, never more.
        difference = np.abs(pixels.astype(int) - expected[name].astype(int))
        assert difference.max() <= 1 and (difference > 0).mean() < 0.005, name


def test_single_image_mode_of_the_cpu_trial_gives_the_one_at_a_time_bits(tmp_path, tiny_model, monkeypatch):
    from translate.inference import pipeline
    from translate.inference.cpu_trial import CpuTrial, Setting
    from translate.inference.runner import Translator

    class SingleImages(CpuTrial):  # what the trial keeps for a network that runs faster that way
        def __init__(self) -> None:
            super().__init__()
            self.chosen = self.setting = Setting(self.cores, whole_batches=False)

    seen: list[int] = []
    real_start = Translator.start_pixels

    def counted(self, pixels, *depth):
        seen.append(len(pixels))
        return real_start(self, pixels, *depth)

    monkeypatch.setattr(Translator, "start_pixels", counted)
    monkeypatch.setattr(pipeline, "CpuTrial", SingleImages)
    inputs = _mixed_folder(tmp_path / "in")
    serial_convert(tiny_model, inputs, tmp_path / "ref")
    seen.clear()  # the serial path runs through the same runner: count the pipeline's runs only
    report = convert_folder(tiny_model, inputs, tmp_path / "out", device="cpu", batch_size=4, workers=0)
    assert report.converted == 10 and seen == [1] * 10
    got, expected = _images(tmp_path / "out"), _images(tmp_path / "ref")
    assert got.keys() == expected.keys() and all(np.array_equal(got[k], expected[k]) for k in got)  # bit for bit


def test_the_cpu_trial_times_every_network_run_and_is_undone(tmp_path, tiny_model, monkeypatch):
    import torch

    from translate.inference import pipeline
    from translate.inference.cpu_trial import CpuTrial

    runs: list[tuple[int, bool]] = []  # (images, whole batches) as the trial saw them

    class Watched(CpuTrial):
        def __init__(self) -> None:
            super().__init__(min_runs=1, min_seconds=0.0, slow_run_seconds=0.0)  # every network is "slow"

        def after_run(self, images: int, started: float, ended: float) -> None:
            assert started <= ended
            runs.append((images, self.setting.whole_batches))
            super().after_run(images, started, ended)

    monkeypatch.setattr(pipeline, "CpuTrial", Watched)
    threads = torch.get_num_threads()
    inputs = _mixed_folder(tmp_path / "in")
    report = convert_folder(tiny_model, inputs, tmp_path / "out", device="cpu", batch_size=4, workers=0)
    assert report.converted == 10 and sum(images for images, _ in runs) == 10
    # the first run is a whole group and the measurement of whole batches (the first batch's three 8-bit
    # images: its 16-bit one runs apart); then single images are tried
    assert runs[0] == (3, True) and runs[1] == (1, False)
    assert torch.get_num_threads() == threads


def test_bad_files_are_listed_with_their_reason_and_the_exit_code_says_so(tmp_path, tiny_model):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, scene in enumerate(make_domain_images(3, 32, seed=1)):
        Image.fromarray(scene).save(inputs / f"good{i}.png")
    (inputs / "empty.png").write_bytes(b"")
    (inputs / "notes.jpg").write_text("not a picture")
    whole = (inputs / "good0.png").read_bytes()
    (inputs / "truncated.png").write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "out"

    result = cli("convert", "--model", tiny_model, "--input", inputs, "--output", out, "--device", "cpu")
    assert result.exit_code == 1, result.output
    assert "Converted 3 image(s)" in result.output and "3 file(s) could not be converted" in result.output
    failures = json.loads((out / "failures.json").read_text())
    assert sorted(Path(f["path"]).name for f in failures) == ["empty.png", "notes.jpg", "truncated.png"]
    assert all(f["reason"] and not f["reason"].startswith(str(inputs)) for f in failures)
    assert sorted(p.name for p in out.glob("*.png")) == ["good0.png", "good1.png", "good2.png"]

    again = cli("convert", "--model", tiny_model, "--input", inputs, "--output", out, "--device", "cpu")
    assert again.exit_code == 1 and "Converted 0 image(s)" in again.output and "skipped 3" in again.output
    for bad in ("empty.png", "notes.jpg", "truncated.png"):
        (inputs / bad).unlink()
    clean = cli("convert", "--model", tiny_model, "--input", inputs, "--output", out, "--device", "cpu")
    assert clean.exit_code == 0 and not (out / "failures.json").exists()


def test_a_failing_write_stops_the_run_with_the_path(tmp_path, tiny_model, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, scene in enumerate(make_domain_images(12, 32, seed=1)):  # more than the decoder runs ahead
        Image.fromarray(scene).save(inputs / f"{i}.png")
    from translate.inference import encoding

    real, calls = encoding.save_pixels, []

    def disk_full_after_two(image, path, **options):
        calls.append(path)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(image, path, **options)

    monkeypatch.setattr(encoding, "save_pixels", disk_full_after_two)  # the writer threads' binding
    out = tmp_path / "out"
    with pytest.raises(WriteError, match="cannot write .*No space left on device"):
        convert_folder(tiny_model, inputs, out, device="cpu", batch_size=1, workers=0)
    assert len(list(out.glob("*.png"))) == 2  # what was written is whole; nothing else is marked done
    assert not list(out.glob(".*"))  # no temporary files left
    assert not _pipeline_threads()

    result = cli("convert", "--model", tiny_model, "--input", inputs, "--output", tmp_path / "out2", "--device", "cpu")
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert "Traceback" not in result.output


def test_a_decoding_bug_stops_the_run_and_its_threads(tmp_path, tiny_model, monkeypatch):
    """Not a bad file (those are listed) but a bug: it surfaces, and no decoder thread is left running."""
    from translate.inference.pipeline import BatchDecoder

    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, scene in enumerate(make_domain_images(12, 32, seed=1)):
        Image.fromarray(scene).save(inputs / f"{i:02d}.png")
    real, calls = BatchDecoder._decode, []

    def broken_after_five(self, index):
        calls.append(index)
        if len(calls) > 5:
            raise RuntimeError("decoder bug")
        return real(self, index)

    monkeypatch.setattr(BatchDecoder, "_decode", broken_after_five)
    with pytest.raises(RuntimeError, match="decoder bug"):
        convert_folder(tiny_model, inputs, tmp_path / "out", device="cpu", batch_size=2, workers=0)
    assert not _pipeline_threads()
    assert 0 < len(list((tmp_path / "out").glob("*.png"))) <= 5


def test_output_format_quality_and_size_options(tmp_path, tiny_model):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(make_domain_images(1, 64, seed=1)[0][:, :48]).save(inputs / "wide.png")  # 48 x 64
    common = ("convert", "--model", tiny_model, "--input", inputs, "--device", "cpu")

    assert cli(*common, "--output", tmp_path / "q90", "--format", "jpg", "--quality", "90").exit_code == 0
    assert cli(*common, "--output", tmp_path / "q20", "--format", "jpg", "--quality", "20").exit_code == 0
    small, large = (tmp_path / "q20" / "wide.jpg").stat().st_size, (tmp_path / "q90" / "wide.jpg").stat().st_size
    assert Image.open(tmp_path / "q90" / "wide.jpg").format == "JPEG" and small < large

    assert cli(*common, "--output", tmp_path / "webp", "--format", "webp").exit_code == 0
    assert Image.open(tmp_path / "webp" / "wide.webp").format == "WEBP"

    assert cli(*common, "--output", tmp_path / "kept", "--size", "24").exit_code == 0
    assert Image.open(tmp_path / "kept" / "wide.png").size == (48, 64)  # back to the input's size
    assert cli(*common, "--output", tmp_path / "small", "--size", "24", "--no-keep-size").exit_code == 0
    assert Image.open(tmp_path / "small" / "wide.png").size == (24, 32)  # the shorter side is 24

    bad = cli(*common, "--output", tmp_path / "x", "--format", "gif")
    assert bad.exit_code == 2 and "--format" in bad.output
    assert cli(*common, "--output", tmp_path / "x", "--quality", "0").exit_code == 2
    assert cli(*common, "--output", tmp_path / "x", "--batch-size", "0").exit_code == 2


def test_names_that_would_share_a_result_keep_their_extension(tmp_path, tiny_model):
    inputs = tmp_path / "in"
    inputs.mkdir()
    one, two = make_domain_images(2, 32, seed=1)
    Image.fromarray(one).save(inputs / "a.png")
    Image.fromarray(two).save(inputs / "a.jpg")
    Image.fromarray(two).save(inputs / "b.jpg")
    planned = plan(inputs, tmp_path / "out", ".png", overwrite=False)
    assert sorted(j.target.name for j in planned.jobs) == ["a.jpg.png", "a.png.png", "b.png"]
    assert planned.skipped == 0 and planned.refused == []


def test_planning_helpers():
    assert working_size((640, 480), 240) == (320, 240)
    assert working_size((480, 640), 240) == (240, 320)
    assert working_size((50, 60), None) == (50, 60)
    sizes = [(8, 8), (4, 4), (8, 8), None, (8, 8), (4, 4)]
    assert group_batches(sizes, 2) == [[0, 2], [4], [1, 5]]


def test_decoders_and_writers_fit_the_cores_the_process_may_use(monkeypatch):
    """A cluster job given 8 of a node's 128 cores must not start 124 encoder threads."""
    from translate.inference import pipeline

    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 128)
    monkeypatch.setattr(pipeline.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert (pipeline._auto_workers(1000, 8), pipeline._auto_writers(4)) == (4, 4)
    assert pipeline._auto_workers(10, 8) == 0  # a handful of images: no processes to start
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # `accelerate launch` put 4 processes on these 8 cores
    assert (pipeline._auto_workers(1000, 8), pipeline._auto_writers(0)) == (0, 2)


def test_python_api_on_images_lists_and_folders(tmp_path, tiny_model):
    import translate

    runner = translate.load_model(tiny_model, device="cpu")
    scenes = make_domain_images(3, 32, seed=5)
    image = Image.fromarray(scenes[0])
    out = runner(image)
    assert isinstance(out, Image.Image) and out.size == (32, 32) and out.mode == "RGB"
    mixed = [image, Image.fromarray(scenes[1][:, :20]).convert("L"), Image.fromarray(scenes[2])]
    outs = runner(mixed)
    assert [o.size for o in outs] == [(32, 32), (20, 32), (32, 32)]
    # alone or batched with another of its size: the same picture (up to a kernel's rounding, see above)
    assert np.abs(np.asarray(outs[0], dtype=int) - np.asarray(out, dtype=int)).max() <= 1

    inputs = tmp_path / "in"
    inputs.mkdir()
    image.save(inputs / "x.png")
    report = runner.convert_folder(inputs, tmp_path / "out", workers=0)
    assert report.converted == 1 and np.array_equal(np.asarray(Image.open(tmp_path / "out" / "x.png")), np.asarray(out))


def test_precision_options(tmp_path, tiny_model):
    import translate

    image = Image.fromarray(make_domain_images(1, 32, seed=5)[0])
    exact = np.asarray(translate.load_model(tiny_model, device="cpu")(image), dtype=int)
    fast = np.asarray(translate.load_model(tiny_model, device="cpu", precision="bf16")(image), dtype=int)
    assert np.abs(exact - fast).mean() < 3.0  # bf16 rounds, but it is the same picture
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        translate.load_model(tiny_model, device="cpu", precision="fp16")


@pytest.mark.slow
def test_pipeline_under_two_processes_splits_the_work(tmp_path, tiny_model):
    inputs = _mixed_folder(tmp_path / "in")
    serial_convert(tiny_model, inputs, tmp_path / "ref")
    result = launch(2, "convert", "--model", tiny_model, "--input", inputs, "--output", tmp_path / "out",
                    "--batch-size", "1", "--workers", "0")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Converted 10 image(s)") == 1 and "on 2 processes" in result.stdout
    got, expected = _images(tmp_path / "out"), _images(tmp_path / "ref")
    assert got.keys() == expected.keys() and all(np.array_equal(got[k], expected[k]) for k in got)


def test_convert_takes_a_reference_generator_file_saved_from_data_parallel(tmp_path):
    """A CUT-style `.pth` (keys prefixed `module.`) converts directly; its architecture is read from the keys."""
    reference = Path(__file__).resolve().parents[2] / "shared" / "reference"
    state = torch.load(reference / "resnet6_instance_ngf8.pth", weights_only=True)
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "latest_net_G_A.pth")
    io = torch.load(reference / "resnet6_instance_ngf8.io.pt", weights_only=True)
    inputs = tmp_path / "in"
    inputs.mkdir()
    from translate.data.images import tensor_to_image

    tensor_to_image(io["input"][0]).save(inputs / "x.png")
    result = cli("convert", "--model", tmp_path / "latest_net_G_A.pth", "--input", inputs, "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    got = np.asarray(Image.open(tmp_path / "out" / "x.png"), dtype=int)
    stored = np.asarray(tensor_to_image(io["output"][0]), dtype=int)  # what the reference code computed
    assert got.shape == stored.shape and np.abs(got - stored).mean() < 1.0  # the input was rounded to 8 bits


def test_png_compression_changes_file_size_not_pixels(tmp_path, tiny_model):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, scene in enumerate(make_domain_images(3, 64, seed=4)):
        Image.fromarray(scene).save(inputs / f"{i}.png")
    results = {}
    for level in ("0", "1", "9", "fast"):
        out = tmp_path / f"level{level}"
        assert cli("convert", "--model", tiny_model, "--input", inputs, "--output", out, "--png-compression", level,
                   "--device", "cpu").exit_code == 0  # fmt: skip
        files = sorted(out.glob("*.png"))
        results[level] = ([np.asarray(Image.open(p)) for p in files], sum(p.stat().st_size for p in files))
    for level in ("1", "9", "fast"):
        assert all(np.array_equal(a, b) for a, b in zip(results["0"][0], results[level][0], strict=True))
    assert results["0"][1] > results["1"][1] > results["9"][1]  # stored, fast, smallest
    assert results["fast"][1] < results["0"][1]  # compressed
    refused = cli(
        "convert", "--model", tiny_model, "--input", inputs, "--output", tmp_path / "x", "--png-compression", 10
    )
    assert refused.exit_code == 2 and "--png-compression 10: choose fast or a zlib level 0-9" in refused.output
