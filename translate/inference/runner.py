"""The one model runner: a loaded generator that turns images into images, run the way it was trained.

Everything that runs a generator on user images goes through `Translator`: `translate convert` and
`upscale` (the pipeline feeds it batches), `translate.load_model(...)(image)`, `translate evaluate`,
evaluation while training and the report's image rows. Precision, eval mode, padding to the
architecture's size rule and tiling of large SR inputs are therefore decided here once.

```python
from translate import load_model

model = load_model("horse2zebra")             # or a run folder, a model folder, a .pth / .safetensors file
zebra = model(Image.open("horse.jpg"))         # PIL in, PIL out, at the input's size
zebras = model([img1, img2])                   # a list: same-size images are batched
model.convert_folder("horses/", "zebras/")     # the same pipeline as `translate convert`
```
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from translate.data.pixels import fit_channels, image_pixels, pixels_image, with_alpha
from translate.errors import ConfigError
from translate.hardware import bf16_cpu_tip, bf16_cpu_warning
from translate.inference.media import DEFAULT_CRF, DEFAULT_VIDEO_CODEC, VideoOptions, convert_media
from translate.inference.pipeline import ConvertOptions, ConvertReport
from translate.inference.sizing import make_batch_translator
from translate.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling, is_upscaler, upscale_image
from translate.zoo import load_generator

if TYPE_CHECKING:
    from PIL import Image

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(name: str) -> torch.device:
    """`auto` (the GPU when there is one), or any name torch knows; a bad name is the user's mistake."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device (auto, cpu, cuda, cuda:1, ...)") from None


# Bits -> pixel type and middle level m: [-1, 1] <-> pixels / m - 1.
_LEVELS = {8: (torch.uint8, 127.5), 16: (torch.uint16, 32767.5)}
_DEPTHS = {dtype: (bits, middle) for bits, (dtype, middle) in _LEVELS.items()}


def quantize(batch: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """NCHW in [-1, 1] -> NHWC uint8 (`bits` 16: uint16) on the same device; 8 bits with the arithmetic of
    `images.tensor_to_image` (bit for bit)."""
    dtype, middle = _LEVELS[bits]
    pixels = batch.float().clamp(-1.0, 1.0).add_(1.0).mul_(middle).round_().to(dtype)  # in place: 2x faster
    return pixels.permute(0, 2, 3, 1)


class Fetch:
    """A batch's results on their way to the host; `get()` waits for them. From a GPU the copy is
    asynchronous, so the device computes the next batch while the host hands these to the writers."""

    def __init__(self, pixels: torch.Tensor | np.ndarray) -> None:
        self._event: torch.cuda.Event | None = None
        if isinstance(pixels, np.ndarray) or pixels.device.type != "cuda":
            self._host = pixels if isinstance(pixels, np.ndarray) else pixels.cpu().numpy()
            return
        # NHWC made whole on the device: the writers' images then need no copy under the GIL.
        self._pinned = torch.empty(pixels.shape, dtype=pixels.dtype, pin_memory=True)
        self._pinned.copy_(pixels.contiguous(), non_blocking=True)
        self._event = torch.cuda.Event()
        self._event.record()

    def get(self) -> np.ndarray:
        if self._event is not None:
            self._event.synchronize()
            self._host, self._event = self._pinned.numpy(), None
        return self._host


def _quantized(run: Any) -> Any:
    """`run` followed by `quantize`, as one function for torch.compile."""

    def run_and_quantize(x: torch.Tensor, bits: int) -> torch.Tensor:
        return quantize(run(x), bits)

    return run_and_quantize


class Translator:
    """A generator with its config.json, on a device, run the way it was trained to run."""

    def __init__(
        self,
        net: torch.nn.Module,
        spec: dict[str, Any],
        device: torch.device,
        precision: str = "fp32",
        compile: bool = False,
    ):
        if precision not in PRECISIONS:
            raise ConfigError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        if precision == "fp16" and device.type == "cpu":
            raise ConfigError("--precision fp16 needs a GPU; on CPU use bf16 or fp32")
        if precision == "bf16" and device.type == "cpu" and bf16_cpu_warning():
            warnings.warn(f"--precision bf16: {bf16_cpu_warning()}", stacklevel=2)
        self.spec, self.device, self.precision = spec, device, precision
        self.net = net.to(device).eval()
        if device.type == "cuda":  # cuDNN's fastest convolutions want NHWC; on CPU it changes the bits
            self.net = self.net.to(memory_format=torch.channels_last)
        self.tile: int | None = DEFAULT_TILE
        self.tile_overlap = DEFAULT_OVERLAP
        self._translate = None if self.is_upscaler else make_batch_translator(self.net, spec)
        # With `compile`: the network and the quantization as one compiled function (see `_to_pixels`).
        self.compile = compile
        self._compiled: dict[Any, Any] = {}

    @classmethod
    def load(
        cls,
        source: str | Path,
        direction: str | None = None,
        device: str = "auto",
        precision: str = "fp32",
        compile: bool = False,
    ) -> Translator:
        """Any model `translate.zoo.load_generator` accepts: run or model folder, pretrained name, weights file."""
        dev = pick_device(device)
        net, spec = load_generator(Path(source), direction, dev)
        return cls(net, spec, dev, precision, compile)

    @property
    def is_upscaler(self) -> bool:
        return is_upscaler(self.spec)

    @property
    def scale(self) -> int:
        return int(self.spec.get("scale", 1)) if self.is_upscaler else 1

    @property
    def in_channels(self) -> int:
        """Channels the model reads: images are decoded to them (`data.pixels.fit_channels`)."""
        return int(self.spec["generator"].get("in_channels", 3))

    @property
    def out_channels(self) -> int:
        """Channels of its results: 1 is written as greyscale, 4 as RGBA, more as TIFF bands."""
        return int(self.spec["generator"].get("out_channels", 3))

    def precision_tip(self) -> str | None:
        """For the end of an fp32 conversion on a CPU whose bf16 units would have run it faster."""
        if self.precision != "fp32" or self.device.type != "cpu":
            return None
        return bf16_cpu_tip(
            "--precision bf16",
            "ResNet-9 at 256 px converted 3.1x faster than in fp32 with AMX; docs/BENCHMARKS.md",
        )

    def __repr__(self) -> str:
        what = self.spec.get("pretrained") or self.spec.get("source") or self.spec.get("method")
        return f"Translator({what}, {self.spec['generator'].get('name')}, {self.device}, {self.precision})"

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        dtype = _DTYPES.get(self.precision)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None):
            yield

    def run_batch(self, batch: torch.Tensor) -> np.ndarray:
        """NCHW float in [-1, 1], all of one size -> NHWC uint8 results (SR: `scale` times larger)."""
        return self.start_batch(batch).get()

    def start_batch(self, batch: torch.Tensor, bits: int = 8, fetch: Callable[..., Any] | None = None) -> Fetch:
        """`run_batch` whose results are fetched later (see `Fetch`), as uint8 or (`bits` 16) uint16; `fetch`
        takes the place of `Fetch` (`jpeg.EncodedFetch`: the results encoded where they are)."""
        to_pixels = functools.partial(quantize, bits=bits)
        fetch = fetch or Fetch
        x = batch.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            if self._translate is not None:
                return fetch(self._to_pixels(self._translate, x, bits))
            check_tiling(self.tile, self.tile_overlap)
            if self.tile and max(x.shape[-2:]) > self.tile:  # large photos: tile by tile, one by one (eager)
                tiled = [
                    upscale_image(self.net, image, self.scale, self.tile, self.tile_overlap, to_pixels) for image in x
                ]
                return fetch(np.stack(tiled))
            return fetch(self._to_pixels(self.net, x, bits))

    def _to_pixels(self, run: Any, x: torch.Tensor, bits: int) -> torch.Tensor:
        """`quantize(run(x), bits)`; with `compile`, one function compiled by torch per batch shape (and
        bits), on a GPU captured as CUDA graphs: one launch instead of one per layer."""
        if not self.compile:
            return quantize(run(x), bits)
        if run not in self._compiled:
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._compiled[run] = torch.compile(_quantized(run), dynamic=False, mode=mode)
        if self.device.type != "cuda":
            return self._compiled[run](x, bits)
        # A CUDA graph's outputs are overwritten by its next replay: each result is copied out first.
        torch.compiler.cudagraph_mark_step_begin()
        return self._compiled[run](x, bits).clone()

    def run_pixels(self, pixels: torch.Tensor, bits: int | None = None) -> np.ndarray:
        """NHWC uint8 or uint16 (as decoded) -> NHWC results at `bits` (8 or 16; None: the input's depth)."""
        return self.start_pixels(pixels, bits).get()

    def start_pixels(
        self, pixels: torch.Tensor, bits: int | None = None, fetch: Callable[..., Any] | None = None
    ) -> Fetch:
        """`run_pixels` whose results are fetched later (see `Fetch`). Scaling to [-1, 1] happens on the
        device: 8-bit pixels are a quarter of float32's bytes to move between processes and to a GPU, and
        16-bit ones reach the network with all their 65536 levels."""
        if pixels.dtype not in _DEPTHS:
            raise TypeError(f"start_pixels expects uint8 or uint16 pixels, got {pixels.dtype}")
        depth, middle = _DEPTHS[pixels.dtype]
        if pixels.shape[-1] != self.in_channels:  # RGB handed to a greyscale model (the server decodes RGB)
            pixels = torch.from_numpy(fit_channels(pixels.cpu().numpy(), self.in_channels, "the images"))
        n, h, w, c = pixels.shape
        # NHWC on a GPU (cuDNN's fast layout), NCHW on a CPU; filled by one copy, then scaled in place
        # (6x faster on a CPU than float arithmetic on the permuted view).
        layout = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        x = torch.empty(n, c, h, w, device=self.device, memory_format=layout)
        x.copy_(pixels.to(self.device, non_blocking=True).permute(0, 3, 1, 2))
        # 8 bits: `images.image_to_tensor`'s float32 arithmetic
        return self.start_batch(x.sub_(middle).mul_(1 / middle), bits or depth, fetch)

    def __call__(self, images: Image.Image | list[Image.Image]) -> Image.Image | list[Image.Image]:
        """Translate one PIL image or a list (any modes and sizes). Results are 8-bit RGB, or RGBA with the
        input's own alpha (resized with the image by an upscaler); a 16-bit greyscale image (I;16) reaches
        the network at full precision, but PIL has no 16-bit colour mode to return it in. Models of other
        channel counts read images as `data.pixels.fit_channels` says and return "L" (1 channel, "LA" with
        alpha) or "RGBA" (4) images."""
        single = isinstance(images, Image.Image)
        channels = self.in_channels
        decoded = [image_pixels(image, channels=channels) for image in ([images] if single else list(images))]
        results: list[Image.Image | None] = [None] * len(decoded)
        by_shape: dict[tuple[tuple[int, ...], str], list[int]] = {}
        for i, item in enumerate(decoded):
            by_shape.setdefault((item.colour.shape, item.colour.dtype.str), []).append(i)
        for indices in by_shape.values():
            arrays = self.run_pixels(torch.from_numpy(np.stack([decoded[i].colour for i in indices])), bits=8)
            for i, array in zip(indices, arrays, strict=True):
                alpha = decoded[i].alpha
                results[i] = pixels_image(array if alpha is None else with_alpha(array, alpha))
        return results[0] if single else results  # type: ignore[return-value]

    def convert_folder(
        self,
        input_dir: str | Path,
        output_dir: str | Path,
        video_codec: str = DEFAULT_VIDEO_CODEC,
        crf: int = DEFAULT_CRF,
        **options: Any,
    ) -> ConvertReport:
        """Convert a folder (images and videos) or one video with the same pipeline as `translate convert`;
        `options` are ConvertOptions fields."""
        settings = ConvertOptions(**options)
        settings.validate()
        return convert_media(self, Path(input_dir), Path(output_dir), settings, VideoOptions(video_codec, crf))


def convert_folder(
    model: Path,
    input_dir: Path,
    output_dir: Path,
    direction: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    require_upscaler: bool = False,
    suffix: str = ".png",
    video_codec: str = DEFAULT_VIDEO_CODEC,
    crf: int = DEFAULT_CRF,
    compile: bool = False,
    **options: Any,
) -> ConvertReport:
    """Load `model` and convert a folder (images and videos) or one video; returns its ConvertReport.

    `compile`: see `Translator._to_pixels`. `options` are further `ConvertOptions` fields (overwrite,
    batch_size, workers, tile, quality, encoders, ...).
    """
    settings = ConvertOptions(format=suffix.lstrip("."), **options)
    settings.validate()
    video = VideoOptions(video_codec, crf)
    video.validate()
    translator = Translator.load(model, direction=direction, device=device, precision=precision, compile=compile)
    if require_upscaler and not translator.is_upscaler:
        raise ConfigError(f"--model {model} is a {translator.spec.get('method')} model, not a super-resolution one")
    report = convert_media(translator, input_dir, output_dir, settings, video)
    report.tip = translator.precision_tip()
    return report
