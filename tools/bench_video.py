"""How fast does a video convert, against the same frames converted as PNG images?

Writes one clip (a moving gradient with noise, H.264 in MP4 with one second of AAC sound), extracts its
decoded frames as PNG files, then converts both with the same model in one run: the video through
`translate convert`'s video path (decoder thread, frame batches through the runner, encoder thread,
audio copied) and the PNG folder through the image pipeline. Prints frames/s of each and their ratio
(video / images): above 1 the video path is faster than extract + convert + (not even) re-assemble.
Ratios measured in one run are the figures to report.

    PYTHONPATH=. python tools/bench_video.py --frames 240 --width 640 --height 360
    PYTHONPATH=. python tools/bench_video.py --frames 8 --width 64 --height 48   # a quick check that it runs
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from tests.helpers import TINY_GENERATOR, save_tiny_model, write_video
from translate.inference.runner import convert_folder


def moving_frames(count: int, width: int, height: int) -> list[np.ndarray]:
    """A gradient sliding one pixel a frame with fixed noise: something an encoder must really encode."""
    x = np.arange(width)[None, :]
    y = np.arange(height)[:, None]
    noise = np.random.default_rng(0).integers(0, 24, (height, width, 3))
    frames = []
    for t in range(count):
        planes = [(x + t) * 255 // max(1, width), (y + 2 * t) * 255 // max(1, height), (x + y + 3 * t) % 256]
        frames.append(((np.stack(np.broadcast_arrays(*planes), axis=2) + noise) % 256).astype(np.uint8))
    return frames


def extract_pngs(video: Path, folder: Path) -> int:
    """The video's decoded frames as numbered PNG files (what people do by hand with ffmpeg)."""
    folder.mkdir(parents=True)
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            Image.fromarray(frame.to_ndarray(format="rgb24")).save(folder / f"{i:06d}.png")
    return i + 1


def rate(run, frames: int) -> float:
    started = time.perf_counter()
    run()
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--ngf", type=int, default=16, help="width of the ResNet-6 generator (random weights)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--video-codec", default="libx264")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        work = Path(tmp)
        model = save_tiny_model(work / "model", TINY_GENERATOR | {"ngf": args.ngf})
        video = write_video(
            work / "clip.mp4", moving_frames(args.frames, args.width, args.height), codec="libx264", audio="aac"
        )
        count = extract_pngs(video, work / "frames")
        common = {"device": args.device, "batch_size": args.batch_size, "overwrite": True}

        def as_video() -> None:
            convert_folder(model, video, work / "out-video", video_codec=args.video_codec, **common)

        def as_images() -> None:
            convert_folder(model, work / "frames", work / "out-images", **common)

        video_rate, image_rate = rate(as_video, count), rate(as_images, count)
        print(f"{count} frames of {args.width}x{args.height}, ResNet-6 ngf {args.ngf}, batch {args.batch_size}")
        print(f"video ({args.video_codec}, audio copied): {video_rate:.1f} frames/s")
        print(f"PNG frames through the image pipeline: {image_rate:.1f} images/s")
        print(f"ratio video / images: {video_rate / image_rate:.2f}")


if __name__ == "__main__":
    main()
