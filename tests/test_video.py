"""Videos in `translate convert` / `upscale`: frames, timing and audio kept, each frame as its image would be."""

from __future__ import annotations

import json
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.helpers import cli, launch, one_line_error, random_rgb, save_tiny_model, write, write_video
from translate.inference import pipeline
from translate.inference.runner import Translator
from translate.inference.video import FrameReader

SR_NET = {"name": "srresnet", "scale": 2, "width": 4, "n_blocks": 1}
PTS_MS = [0, 100, 200, 350, 400, 600, 700, 850]  # variable frame rate: gaps of 100, 150 and 50 ms


def frames_of(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """The decoded RGB frames of a video and their times in seconds."""
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
        return [f.to_ndarray(format="rgb24") for f in decoded], [float(f.pts * f.time_base) for f in decoded]


def audio_of(path: Path) -> list[tuple[bytes, float, float]]:
    """Each audio packet's bytes, time and duration in seconds."""
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(audio=0) if p.dts is not None]
        return [(bytes(p), float(p.pts * p.time_base), float(p.duration * p.time_base)) for p in packets]


def stream_info(path: Path) -> list[tuple[str, str]]:
    with av.open(str(path)) as container:
        return [(s.type, s.codec_context.name) for s in container.streams]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "m")


@pytest.fixture
def clip(tmp_path) -> tuple[Path, list[np.ndarray]]:
    """8 frames of 48x32 at PTS_MS, lossless, with FLAC audio, in MKV."""
    frames = [random_rgb(32, 48, seed) for seed in range(len(PTS_MS))]
    return write_video(tmp_path / "in" / "clip.mkv", frames, PTS_MS), frames


def test_a_video_keeps_its_frames_timing_and_audio(model, clip, tmp_path):
    source, frames = clip
    result = cli("convert", "--model", model, "--input", source, "--output", tmp_path / "out", "--video-codec", "ffv1")
    assert result.exit_code == 0, result.output
    assert "Converted 1 video(s) (8 frames" in result.output
    target = tmp_path / "out" / "clip.mkv"
    converted, times = frames_of(target)
    assert len(converted) == 8 and all(f.shape == (32, 48, 3) for f in converted)
    assert times == [ms / 1000 for ms in PTS_MS]
    assert stream_info(target) == [("video", "ffv1"), ("audio", "flac")]
    assert audio_of(target) == audio_of(source)  # the same packets at the same times
    assert sum(duration for _, _, duration in audio_of(target)) == pytest.approx(1.0)  # the whole second
    assert not np.array_equal(converted[0], frames[0])  # the model ran
    assert frames_of(source)[0][3].tobytes() == frames[3].tobytes()  # the input is untouched


def test_each_frame_equals_converting_it_as_an_image(model, clip, tmp_path):
    source, frames = clip
    for i, frame in enumerate(frames):
        write(tmp_path / "frames" / f"{i}.png", frame)
    options = ("--model", model, "--batch-size", "3")  # batches 3 + 3 + 2 in both
    assert cli("convert", *options, "--input", tmp_path / "frames", "--output", tmp_path / "images").exit_code == 0
    result = cli("convert", *options, "--input", source, "--output", tmp_path / "v.mkv", "--video-codec", "ffv1")
    assert result.exit_code == 0, result.output
    converted, _ = frames_of(tmp_path / "v.mkv")
    images = [np.asarray(Image.open(tmp_path / "images" / f"{i}.png")) for i in range(8)]
    for video_frame, image in zip(converted, images, strict=True):
        assert np.abs(video_frame.astype(int) - image.astype(int)).max() <= 1


def test_default_h264_in_mp4_with_aac_and_an_odd_size(model, tmp_path):
    frames = [random_rgb(25, 33, seed) for seed in range(6)]
    source = write_video(tmp_path / "odd.mkv", frames, PTS_MS[:6], audio="aac")
    result = cli("convert", "--model", model, "--input", source, "--output", tmp_path / "out" / "odd.mp4")
    assert result.exit_code == 0, result.output
    target = tmp_path / "out" / "odd.mp4"
    with av.open(str(target)) as container:
        codec = container.streams.video[0].codec_context
        assert (codec.name, codec.format.name, codec.width, codec.height) == ("h264", "yuv420p", 34, 26)
    converted, times = frames_of(target)
    assert len(converted) == 6 and times == [ms / 1000 for ms in PTS_MS[:6]]
    assert stream_info(target)[1] == ("audio", "aac")
    # the same AAC packets at the same times (MKV gives the priming packet at -0.128 s no duration, MP4 does)
    assert [(data, time) for data, time, _ in audio_of(target)] == [(data, time) for data, time, _ in audio_of(source)]
    # the padded column and row repeat the edge (within the lossy codec's error)
    last = converted[2].astype(int)
    assert np.abs(last[:, 33] - last[:, 32]).mean() < 12 and np.abs(last[25] - last[24]).mean() < 12


def test_a_folder_with_a_video_and_images_converts_both(model, clip, tmp_path):
    source, _ = clip
    write(tmp_path / "in" / "a.png", random_rgb(20, 28, 1))
    write(tmp_path / "in" / "sub" / "b.jpg", random_rgb(24, 24, 2))
    source.rename(tmp_path / "in" / "sub" / "clip.mkv")
    args = ("convert", "--model", model, "--input", tmp_path / "in", "--output", tmp_path / "out")
    result = cli(*args, "--video-codec", "ffv1")
    assert result.exit_code == 0, result.output
    found = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert found == ["a.png", "sub/b.png", "sub/clip.mkv"]
    assert "Converted 2 image(s)" in result.output and "Converted 1 video(s) (8 frames" in result.output
    assert len(frames_of(tmp_path / "out" / "sub" / "clip.mkv")[0]) == 8
    again = cli(*args)  # a re-run continues: nothing left to do
    assert again.exit_code == 0 and "skipped 3 already there" in again.output


def test_a_folder_of_videos_only(model, clip, tmp_path):
    source, _ = clip
    result = cli("convert", "--model", model, "--input", source.parent, "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Converted 1 video(s) (8 frames" in result.output and "image(s)" not in result.output
    assert stream_info(tmp_path / "out" / "clip.mkv") == [("video", "h264"), ("audio", "flac")]


def test_upscaling_a_video_gives_scale_times_its_size(clip, tmp_path):
    source, frames = clip
    model = save_tiny_model(tmp_path / "sr", SR_NET, method="srresnet", scale=2)
    result = cli("upscale", "--model", model, "--input", source, "--output", tmp_path / "up", "--video-codec", "ffv1")
    assert result.exit_code == 0, result.output
    converted, times = frames_of(tmp_path / "up" / "clip.mkv")
    assert len(converted) == 8 and all(f.shape == (64, 96, 3) for f in converted)
    assert times == [ms / 1000 for ms in PTS_MS]
    expected = Translator.load(model, device="cpu")(Image.fromarray(frames[5]))
    assert np.abs(converted[5].astype(int) - np.asarray(expected).astype(int)).max() <= 1


def test_size_resizes_frames_and_restores_them(model, clip, tmp_path):
    source, _ = clip
    result = cli("convert", "--model", model, "--input", source, "--output", tmp_path / "o", "--size", "16")
    assert result.exit_code == 0, result.output
    converted, _ = frames_of(tmp_path / "o" / "clip.mkv")
    assert len(converted) == 8 and converted[0].shape == (32, 48, 3)


def test_an_undecodable_video_alone_is_a_one_line_error(model, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    result = cli("convert", "--model", model, "--input", bad, "--output", tmp_path / "out")
    one_line_error(result, "bad.mp4", "cannot read it as a video")
    assert not (tmp_path / "out" / "bad.mp4").exists()


def test_an_undecodable_video_in_a_folder_is_a_listed_failure(model, tmp_path):
    write(tmp_path / "in" / "a.png", random_rgb(20, 28, 1))
    (tmp_path / "in" / "bad.mkv").write_bytes(b"not a video at all" * 50)
    result = cli("convert", "--model", model, "--input", tmp_path / "in", "--output", tmp_path / "out")
    assert result.exit_code == 1, result.output
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert [f["path"] for f in failures] == [str(tmp_path / "in" / "bad.mkv")]
    assert failures[0]["reason"].startswith("cannot read it as a video")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "failures.json"]


def test_failures_of_images_and_videos_go_into_one_failures_json_written_once(model, tmp_path, monkeypatch):
    write(tmp_path / "in" / "a.png", random_rgb(20, 28, 1))
    (tmp_path / "in" / "broken.png").write_bytes(b"not an image" * 50)
    (tmp_path / "in" / "bad.mkv").write_bytes(b"not a video at all" * 50)
    writes, real_write_text = [], pipeline.write_text
    monkeypatch.setattr(pipeline, "write_text", lambda path, text: writes.append(path) or real_write_text(path, text))
    result = cli("convert", "--model", model, "--input", tmp_path / "in", "--output", tmp_path / "out")
    assert result.exit_code == 1, result.output
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert [f["path"] for f in failures] == [str(tmp_path / "in" / name) for name in ("bad.mkv", "broken.png")]
    assert writes == [tmp_path / "out" / "failures.json"]  # once: not by the image pass and again with the videos
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "failures.json"]


def test_bad_video_options_are_one_line_errors(model, clip, tmp_path):
    source, _ = clip
    base = ("convert", "--model", model, "--input", source)
    one_line_error(cli(*base, "--output", tmp_path / "o", "--video-codec", "nope"), "--video-codec 'nope'")
    one_line_error(cli(*base, "--output", tmp_path / "o", "--video-codec", "aac"), "encodes audio")
    one_line_error(cli(*base, "--output", tmp_path / "o", "--crf", "64"), "--crf 64")
    one_line_error(cli(*base, "--output", tmp_path / "o" / "x.webm"), "'webm' format does not support 'libx264'")
    one_line_error(cli(*base, "--output", source), "never overwritten")
    (tmp_path / "a_file").write_text("")
    one_line_error(cli(*base, "--output", tmp_path / "a_file"), "cannot write", "a_file")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_a_failure_midway_leaves_no_file_under_the_final_name(model, clip, tmp_path, monkeypatch):
    source, _ = clip
    translator = Translator.load(model, device="cpu")
    calls = []
    real = Translator.start_pixels

    def fail_on_the_second_batch(self, pixels, bits=None):
        calls.append(len(pixels))
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real(self, pixels, bits)

    monkeypatch.setattr(Translator, "start_pixels", fail_on_the_second_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        translator.convert_folder(source, tmp_path / "out", batch_size=2)
    assert calls == [2, 2]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []  # nor a temporary file
    assert not [t for t in threading.enumerate() if t.name.startswith("translate-video")]  # decoder stopped
    assert source.is_file()


def test_frame_timestamps_without_or_repeated(tmp_path):
    reader = FrameReader(write_video(tmp_path / "v.mkv", [random_rgb(8, 8)] * 3, [0, 50, 300]), 2, None)
    try:
        assert reader.rate == 10 and reader.time_base == Fraction(1, 1000)
        stamps = [reader._pts(type("Frame", (), {"pts": None})()) for _ in range(3)]
        assert stamps == [0, 100, 200]
        repeated = [reader._pts(type("Frame", (), {"pts": pts})()) for pts in (400, 400, 400, 700)]
        assert repeated == [400, 401, 402, 700]  # strictly increasing, as encoders require
    finally:
        reader.close()


@pytest.mark.slow
def test_two_processes_share_the_videos(model, tmp_path):
    """Under `accelerate launch` each process converts its share of the videos; one summary, one failures.json."""
    for i in range(3):
        write_video(tmp_path / "in" / f"v{i}.mkv", [random_rgb(16, 16, i)] * 4)
    write(tmp_path / "in" / "a.png", random_rgb(16, 16, 9))
    (tmp_path / "in" / "bad.mp4").write_bytes(b"nothing" * 100)
    result = launch(2, "convert", "--model", model, "--input", tmp_path / "in", "--output", tmp_path / "out")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Converted 1 image(s)" in result.stdout and "Converted 3 video(s) (12 frames" in result.stdout
    assert all(len(frames_of(tmp_path / "out" / f"v{i}.mkv")[0]) == 4 for i in range(3))
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert [f["path"] for f in failures] == [str(tmp_path / "in" / "bad.mp4")]
