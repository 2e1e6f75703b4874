"""One video through the model runner, with its timing and sound intact (PyAV: the optional extra 'video').

People converted videos by hand (frames out with ffmpeg, converted, put back), losing the sound and
variable frame timing. Here a thread demuxes and decodes ahead of the model, frames run through
`Translator.start_pixels` in batches (as images do: tiling, SR scale and precision come from there),
and one writer thread encodes each frame with its own timestamp and copies the audio packets as
they are (no re-encode), in file order. The result is written beside its final name and renamed
when complete (`atomic_path`), so a failed or killed run leaves no half video under that name.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
import torch

from translate.atomic import atomic_path
from translate.data.pixels import resize_pixels
from translate.errors import ConfigError, DataError, WriteError
from translate.inference.pipeline import ConvertOptions, working_size
from translate.progress import TrainingProgress

if TYPE_CHECKING:
    from translate.inference.media import VideoOptions
    from translate.inference.runner import Fetch, Translator

# Pixel formats that hold RGB unchanged, for lossless encoders (ffv1, libx264rgb, utvideo, ...).
_RGB_FORMATS = ("rgb24", "bgr24", "bgr0", "rgb0", "gbrp")
_AHEAD = 2  # frame batches decoded ahead of the model, and waiting for the encoder
_END = object()


def check_codec(name: str) -> None:
    """A usage error unless this FFmpeg has a video encoder called `name`."""
    try:
        codec = av.codec.Codec(name, "w")
    except ValueError:
        raise ConfigError(f"--video-codec {name!r}: no such encoder here (e.g. libx264, libx265, ffv1)") from None
    if codec.type != "video":
        raise ConfigError(f"--video-codec {name!r} encodes {codec.type}, not video")


def pixel_format(codec: av.codec.Codec) -> str:
    """yuv420p for lossy encoders (what players expect); RGB for lossless ones, so they stay lossless."""
    offered = [f.name for f in codec.video_formats or ()]
    preferred = _RGB_FORMATS + ("yuv420p",) if not codec.lossy else ("yuv420p", *_RGB_FORMATS)
    return next((name for name in preferred if name in offered), offered[0] if offered else "yuv420p")


def encodable_size(size: tuple[int, int], pix_fmt: str) -> tuple[int, int]:
    """(width, height) rounded up to even where the format halves the colour planes (yuv420p): such
    encoders refuse odd sizes, so results get one repeated edge column or row."""
    fmt = av.VideoFormat(pix_fmt)
    width, height = size
    halved_w, halved_h = fmt.chroma_width(2) < 2, fmt.chroma_height(2) < 2
    return width + (width % 2 if halved_w else 0), height + (height % 2 if halved_h else 0)


@dataclass
class FrameBatch:
    pixels: np.ndarray  # NHWC uint8 RGB at the working size
    pts: list[int]  # each frame's timestamp in the video stream's time base


class FrameReader:
    """The input video, demuxed and decoded on a thread ahead of the model: frame batches and audio
    packets in file order. Opening checks it is a video (DataError naming the file)."""

    def __init__(self, source: Path, batch_size: int, shorter: int | None) -> None:
        self.source, self.batch_size = source, batch_size
        try:
            self.container = av.open(str(source))
        except av.FFmpegError as exc:
            raise DataError(f"{source}: cannot read it as a video ({_why(exc)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise DataError(f"{source}: has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.audio = list(self.container.streams.audio)
        self.size = (self.stream.codec_context.width, self.stream.codec_context.height)
        self.working = working_size(self.size, shorter)
        self.rate: Fraction | None = self.stream.guessed_rate or self.stream.average_rate
        self.time_base: Fraction = self.stream.time_base or Fraction(1, 90000)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._slots = threading.Semaphore(_AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="translate-video-decoder", daemon=True)
        self._decoded = 0
        self._last: int | None = None  # the previous frame's timestamp

    def frame_estimate(self) -> int:
        """Frames to expect, for the progress bar: the header's count, else duration x rate."""
        if self.stream.frames:
            return self.stream.frames
        if self.stream.duration:
            seconds = float(self.stream.duration * self.time_base)
        else:
            seconds = (self.container.duration or 0) / av.time_base
        return max(1, round(seconds * float(self.rate))) if self.rate else 1

    def __iter__(self) -> Iterator[FrameBatch | av.Packet]:
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, av.FFmpegError):
                raise DataError(f"{self.source}: cannot decode it ({_why(item)})")
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, FrameBatch):
                self._slots.release()
            yield item

    def close(self) -> None:
        """Stop the decoder thread, then close the file (never while the thread reads it)."""
        self._stop.set()
        self._slots.release()
        if self._thread.is_alive():
            self._thread.join()
        self.container.close()

    def _run(self) -> None:
        try:
            pixels: list[np.ndarray] = []
            pts: list[int] = []
            for packet in self.container.demux(self.stream, *self.audio):
                if self._stop.is_set():
                    return
                if packet.stream.type == "audio":
                    if packet.dts is not None:  # not the end-of-stream marker
                        self._queue.put(packet)
                    continue
                for frame in packet.decode():
                    pixels.append(self._pixels(frame))
                    pts.append(self._pts(frame))
                    if len(pixels) == self.batch_size:
                        if not self._hand_over(pixels, pts):
                            return
                        pixels, pts = [], []
            if pixels and not self._hand_over(pixels, pts):
                return
            self._queue.put(_END)
        except BaseException as exc:  # noqa: BLE001 (re-raised on the consumer's thread)
            self._queue.put(exc)

    def _hand_over(self, pixels: list[np.ndarray], pts: list[int]) -> bool:
        """Queue a batch once fewer than _AHEAD wait; False when the reader was closed meanwhile."""
        while not self._slots.acquire(timeout=0.1):
            if self._stop.is_set():
                return False
        if self._stop.is_set():
            return False
        self._queue.put(FrameBatch(np.stack(pixels), list(pts)))
        return True

    def _pixels(self, frame: av.VideoFrame) -> np.ndarray:
        if (frame.width, frame.height) != self.size:  # a resolution change mid-stream: keep the first
            frame = frame.reformat(width=self.size[0], height=self.size[1])
        pixels = frame.to_ndarray(format="rgb24")
        return pixels if self.working == self.size else resize_pixels(pixels, self.working)

    def _pts(self, frame: av.VideoFrame) -> int:
        """The frame's timestamp; frames without one (some AVI) get their place at the nominal rate. Encoders
        refuse a timestamp that does not increase, so a repeated one moves one tick on."""
        self._decoded += 1
        if frame.pts is not None:
            stamp = frame.pts
        else:
            stamp = round((self._decoded - 1) / (self.rate or Fraction(25)) / self.time_base)
        self._last = stamp if self._last is None or stamp > self._last else self._last + 1
        return self._last


class FrameWriter:
    """Encodes frames and muxes them with the copied audio on one thread, in the order handed in, with
    at most _AHEAD frame batches waiting (the model computes the next batch meanwhile)."""

    def __init__(
        self, container: Any, reader: FrameReader, video: VideoOptions, size: tuple[int, int], restore: bool
    ) -> None:
        codec = av.codec.Codec(video.codec, "w")
        self.container, self.time_base = container, reader.time_base
        self.pix_fmt = pixel_format(codec)
        self.size, self.restore = size, restore  # results resized to `size` first when `restore`
        self.padded = encodable_size(size, self.pix_fmt)
        options = {"crf": str(video.crf)} if codec.lossy else {}
        self.stream = container.add_stream(video.codec, rate=reader.rate, options=options)
        self.stream.width, self.stream.height = self.padded
        self.stream.pix_fmt = self.pix_fmt
        self.stream.codec_context.time_base = self.stream.time_base = reader.time_base
        self.audio = {stream.index: container.add_stream_from_template(stream) for stream in reader.audio}
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="translate-video-encoder")
        self.pending: deque[tuple[Future, bool]] = deque()

    def add_audio(self, packet: av.Packet) -> None:
        self._submit(self._mux_audio, packet, batch=False)

    def add_frames(self, results: Fetch, pts: list[int]) -> None:
        self._submit(self._encode, results, pts, batch=True)

    def finish(self) -> None:
        """Flush the encoder and wait for every write; raises the first failure."""
        self._submit(self._flush, batch=False)
        while self.pending:
            self.pending.popleft()[0].result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, work: Callable[..., None], *args: Any, batch: bool) -> None:
        self.pending.append((self.pool.submit(work, *args), batch))
        while sum(is_batch for _, is_batch in self.pending) > _AHEAD:
            self.pending.popleft()[0].result()

    def _mux_audio(self, packet: av.Packet) -> None:
        packet.stream = self.audio[packet.stream.index]
        self.container.mux(packet)

    def _encode(self, results: Fetch, pts: list[int]) -> None:
        for pixels, stamp in zip(results.get(), pts, strict=True):
            if self.restore and (pixels.shape[1], pixels.shape[0]) != self.size:
                pixels = resize_pixels(pixels, self.size)
            pad_w, pad_h = self.padded[0] - pixels.shape[1], self.padded[1] - pixels.shape[0]
            if pad_w or pad_h:
                pixels = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts, frame.time_base = stamp, self.time_base
            self.container.mux(self.stream.encode(frame))

    def _flush(self) -> None:
        self.container.mux(self.stream.encode(None))


def convert_video(
    translator: Translator, source: Path, target: Path, options: ConvertOptions, video: VideoOptions, show: bool
) -> int:
    """Convert the video `source` into `target` (its container from the suffix); returns the frame count.
    DataError (naming `source`) when it cannot be read or encoded; WriteError when `target` cannot be
    written at all (that stops a folder's run, as a failing image write does)."""
    with contextlib.closing(FrameReader(source, options.batch_size, options.size)) as reader:
        # Results go back to the input's size after a --size resize, except for SR (a larger size is its point).
        restore = options.size is not None and options.keep_size and translator.scale == 1
        scale = 1 if restore else translator.scale
        size = reader.size if restore else (reader.working[0] * scale, reader.working[1] * scale)
        try:
            with atomic_path(target) as tmp:
                return _transcode(translator, reader, tmp, video, size, restore, show)
        except OSError as exc:  # the folder or the rename, not FFmpeg (those are DataErrors by now)
            raise WriteError(f"cannot write {target}: {exc.strerror or exc} (conversion stopped)") from None


def _transcode(
    translator: Translator,
    reader: FrameReader,
    tmp: Path,
    video: VideoOptions,
    size: tuple[int, int],
    restore: bool,
    show: bool,
) -> int:
    done = 0
    try:
        container = av.open(str(tmp), "w")
    except av.FFmpegError as exc:
        raise DataError(f"{reader.source}: cannot write {tmp.suffix} files ({_why(exc)})") from None
    writer: FrameWriter | None = None
    try:
        try:
            writer = FrameWriter(container, reader, video, size, restore)
        except ValueError as exc:  # PyAV: "'webm' format does not support 'libx264' codec"
            raise DataError(f"{reader.source}: cannot write its result as {tmp.suffix} ({exc})") from None
        total = reader.frame_estimate()
        with TrainingProgress(total, 0, show, max(1, total // 10), reader.source.name, "frame") as progress:
            for item in reader:
                if isinstance(item, FrameBatch):
                    writer.add_frames(translator.start_pixels(torch.from_numpy(item.pixels), 8), item.pts)
                    done += len(item.pts)
                    progress.update(done)
                else:
                    writer.add_audio(item)
            writer.finish()
            if done != total:  # the header's estimate was off: end the progress at the true count
                progress.total = done
                progress.update(done)
        container.close()  # writes the trailer
    except av.FFmpegError as exc:
        raise DataError(f"{reader.source}: cannot convert it ({_why(exc)})") from None
    finally:
        if writer is not None:
            writer.close()
        with contextlib.suppress(av.FFmpegError):
            container.close()  # after a failure (closing twice is harmless); atomic_path deletes the file
    return done


def _why(exc: BaseException) -> str:
    """FFmpeg's reason without the file name PyAV appends."""
    return getattr(exc, "strerror", None) or str(exc)
