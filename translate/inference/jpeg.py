"""JPEG decoded and encoded by torchvision.io on the translator's device: nvJPEG on a CUDA GPU,
libjpeg-turbo on a CPU.

On a GPU the pipeline's CPU side caps conversion (issue 19: Pillow decoding in the workers and encoding
in the writer threads, ~700 images/s on 16 cores). With this route the workers only read a JPEG's bytes;
the batch is decoded where the network runs, and results leave the device as JPEG files, a tenth of
their pixels' bytes. On a CPU the same calls run libjpeg-turbo, which gives Pillow's pixels and files
byte for byte (tests/test_jpeg_codec.py), so the route is tested without a GPU.

Only files the device decoder reads as Pillow does take it: JPEG by their header (not by name), RGB or
greyscale (CMYK goes the Pillow route), ending in the end-of-image marker (a truncated file is refused by
Pillow, so it must be read there to fail as it always has), at their working size (a `--size` resize
is Pillow's bicubic, done in the workers). Whatever the device decoder refuses goes the Pillow route.
torchvision is imported only when the route is taken.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from translate.data.images import _open, exif_orientation, upright_size
from translate.data.pixels import orientation_steps

JPEG_CODECS = ("auto", "torchvision", "pillow")
_DEVICE_MODES = ("RGB", "L")  # what libjpeg and nvJPEG turn into RGB exactly as Pillow does
_END_OF_IMAGE = b"\xff\xd9"


def uses_torchvision(codec: str, device: torch.device) -> bool:
    """Whether JPEG goes through torchvision: `auto` on a CUDA device (nvJPEG), never elsewhere, since on a CPU
    the decoding workers and encoding threads already run libjpeg-turbo in parallel."""
    return codec == "torchvision" or (codec == "auto" and device.type == "cuda")


@dataclass(frozen=True)
class Compressed:
    """One JPEG file's bytes, read by a worker for the device decoder."""

    index: int  # the job's index
    data: torch.Tensor  # 1-D uint8: the whole file
    orientation: int | None  # EXIF orientation, applied after decoding


def read_compressed(path: str | os.PathLike, index: int, size: tuple[int, int] | None) -> Compressed | None:
    """The file's bytes when the device decoder can read it as Pillow would at (width, height) `size` (its
    working size, upright); None sends it the Pillow route, which also reports any file it cannot read."""
    name = os.fspath(path)
    try:
        with _open(name) as opened:
            if opened.format != "JPEG" or opened.mode not in _DEVICE_MODES:
                return None
            orientation = exif_orientation(opened)
            stored = opened.size
        data = Path(name).read_bytes()
    except Exception:  # noqa: BLE001 - whatever it is, the Pillow route says it as it always has
        return None
    if upright_size(stored, orientation) != size or not data.rstrip(b"\0").endswith(_END_OF_IMAGE):
        return None
    return Compressed(index, torch.frombuffer(bytearray(data), dtype=torch.uint8), orientation)


def decode(items: list[Compressed], device: torch.device) -> tuple[list[tuple[list[int], torch.Tensor]], list[int]]:
    """Decode on `device` as one batch: (groups of same-shape upright NHWC uint8 RGB on the device, the job
    indices of files the decoder refused). A batch that fails is decoded file by file, so one bad file
    costs only itself."""
    from torchvision.io import ImageReadMode, decode_jpeg  # lazy: torchvision only for the torchvision codec

    def run(batch: list[Compressed]) -> list[torch.Tensor]:
        return decode_jpeg([item.data for item in batch], mode=ImageReadMode.RGB, device=device)

    refused: list[int] = []
    with _decoder_stream(device):
        try:
            decoded = list(zip(items, run(items), strict=True))
        except RuntimeError:
            decoded = []
            for item in items:
                try:
                    decoded.append((item, run([item])[0]))
                except RuntimeError:
                    refused.append(item.index)
    _hand_over([chw for _, chw in decoded], device)
    by_shape: dict[tuple[int, ...], tuple[list[int], list[torch.Tensor]]] = {}
    for item, chw in decoded:
        pixels = upright_tensor(chw.permute(1, 2, 0), item.orientation)
        indices, images = by_shape.setdefault(tuple(pixels.shape), ([], []))
        indices.append(item.index)
        images.append(pixels)
    return [(indices, torch.stack(images)) for indices, images in by_shape.values()], refused


def _decoder_stream(device: torch.device) -> contextlib.AbstractContextManager:
    """On a CUDA device, a stream of the decoder's own (none elsewhere). torchvision's nvJPEG decoder writes its
    outputs before the work queued on the calling stream has run (pytorch/vision#9606, torchcodec#1634), and
    the caching allocator hands it blocks freed on that stream which the running network may still read:
    allocated on a stream with nothing queued, its outputs cannot be such blocks, and the network keeps
    running while the next batch decodes (a synchronisation before each decode would stop it)."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.cuda.stream(_side_stream(device.index if device.index is not None else torch.cuda.current_device()))


@functools.cache
def _side_stream(index: int) -> torch.cuda.Stream:
    return torch.cuda.Stream(device=index)


def _hand_over(images: list[torch.Tensor], device: torch.device) -> None:
    """Decoded images, made on the decoder's stream, are used on the calling one: that stream waits for them,
    and their memory is not reused before it is done with them."""
    if device.type != "cuda" or not images:
        return
    current = torch.cuda.current_stream(device)
    current.wait_stream(_side_stream(images[0].device.index))
    for image in images:
        image.record_stream(current)


def upright_tensor(pixels: torch.Tensor, orientation: int | None) -> torch.Tensor:
    """HxWxC pixels turned upright per an EXIF orientation, as `data.pixels.upright_array` turns arrays."""
    swap, flips = orientation_steps(orientation)
    pixels = pixels.transpose(0, 1) if swap else pixels
    return torch.flip(pixels, flips) if flips else pixels


class EncodedFetch:
    """A batch's results (NHWC uint8, 3 channels) encoded as JPEG on their device; `get()` gives each image's
    file bytes. Used in place of `runner.Fetch`: only the files come to the host, in one copy.

    Encoding waits until `get()`, which the pipeline calls after the next batch has started: on a GPU the
    next batch's network is then already queued when this batch's encoding waits for its results."""

    def __init__(self, pixels: torch.Tensor | np.ndarray, quality: int) -> None:
        self._pixels = torch.from_numpy(pixels) if isinstance(pixels, np.ndarray) else pixels
        self.quality = quality
        self._files: list[bytes] | None = None

    def get(self) -> list[bytes]:
        if self._files is None:
            from torchvision.io import encode_jpeg  # lazy: torchvision only for the torchvision codec

            images = [image.permute(2, 0, 1).contiguous() for image in self._pixels]
            encoded = encode_jpeg(images, quality=self.quality)
            joined = torch.cat(encoded).cpu().numpy().tobytes()
            ends = np.cumsum([0] + [len(file) for file in encoded])
            self._files = [joined[start:end] for start, end in zip(ends[:-1], ends[1:], strict=True)]
            self._pixels = None  # type: ignore[assignment]
        return self._files
