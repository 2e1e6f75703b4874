"""How a generator runs on images of any size, and the one-at-a-time folder conversion.

Images keep their own resolution: a batch is padded (reflect) up to the size multiple the
generator needs and the result is cropped back, so a photo comes out the size it went in.

`serial_convert` is the simple path (read, translate, write, one image after the other in one
process). It stays as the reference that the batched pipeline (`pipeline.py`, what
`translate convert` runs) must match bit for bit in fp32, and as the baseline of
`tools/bench_convert.py`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from translate.errors import ConfigError, DataError
from translate.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling, is_upscaler, upscale_image

Batch = Callable[[torch.Tensor], torch.Tensor]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r} is not a device (auto, cpu, cuda, cuda:1, ...)") from None


def check_folders(input_dir: Path, output_dir: Path) -> None:
    src, dst = input_dir.resolve(), output_dir.resolve()
    if dst == src or src in dst.parents:
        raise ConfigError(f"--output {output_dir} must not be --input or inside it (inputs are never overwritten)")


@torch.inference_mode()
def translate_batch(
    net: torch.nn.Module, x: torch.Tensor, multiple: int, min_side: int = 1, scale: int = 1
) -> torch.Tensor:
    """Run `net` on an NCHW batch in [-1, 1] of one size; pads to `multiple` (and `min_side`) and crops back
    (to `scale` times the size, for an upscaler)."""
    h, w = x.shape[-2:]
    pad_h, pad_w = max(min_side, h) - h, max(min_side, w) - w  # a 1x1 image must not shrink to nothing inside
    pad_h, pad_w = pad_h + (-(h + pad_h)) % multiple, pad_w + (-(w + pad_w)) % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return net(x)[..., : h * scale, : w * scale]


@torch.inference_mode()
def translate_fixed_batch(net: torch.nn.Module, x: torch.Tensor, size: int) -> torch.Tensor:
    """For a generator that only takes `size` x `size` inputs (DiscoGAN): resize in, translate, resize back."""
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True)
    return F.interpolate(net(small), size=(h, w), mode="bicubic", antialias=True).clamp(-1.0, 1.0)


def translate_image(net: torch.nn.Module, image: torch.Tensor, multiple: int) -> torch.Tensor:
    """One CHW image in [-1, 1] of any size -> its translation (see `translate_batch`)."""
    return translate_batch(net, image.unsqueeze(0), multiple)[0]


def translate_fixed(net: torch.nn.Module, image: torch.Tensor, size: int) -> torch.Tensor:
    return translate_fixed_batch(net, image.unsqueeze(0), size)[0]


def _one_by_one(translate: Batch, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([translate(x[i : i + 1]) for i in range(x.shape[0])])


def make_batch_translator(net: torch.nn.Module, spec: dict[str, Any]) -> Batch:
    """NCHW batch of one size in [-1, 1] -> translations at the same size (`scale` times it for an upscaler),
    run as the model was meant to run."""
    from translate.nets.registry import architecture

    fixed = spec.get("fixed_size")  # set by generators trained at a single size (DiscoGAN)
    if fixed:
        translate: Batch = functools.partial(translate_fixed_batch, net, size=fixed)
    else:
        entry = architecture(spec["generator"]["name"])
        rule, scale = entry.size, entry.scale(spec["generator"])
        translate = functools.partial(translate_batch, net, multiple=rule.multiple, min_side=rule.min_side, scale=scale)
    if spec.get("eval_mode") is False:
        # pix2pix as published: the reference test.py without --eval keeps the WHOLE net in train
        # mode, so dropout stays on and batch norm uses each image's own statistics (one per batch):
        # images then go through one at a time, or their statistics would mix.
        net.train()
        return functools.partial(_one_by_one, translate)
    return translate


def make_translator(net: torch.nn.Module, spec: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """CHW image in [-1, 1] -> its translation, at the input's size, run as the model was meant to run."""
    translate = make_batch_translator(net, spec)
    return lambda image: translate(image.unsqueeze(0))[0]


def serial_convert(
    model: Path,
    input_dir: Path,
    output_dir: Path,
    direction: str | None = None,
    device: str = "cpu",
    suffix: str = ".png",
    tile: int | None = DEFAULT_TILE,
    tile_overlap: int = DEFAULT_OVERLAP,
    png_compression: int | str | None = None,
) -> int:
    """Convert every readable image of `input_dir`, one after the other; returns how many were written.

    The reference for the pipeline: no skipping, no batching, no worker, no report; PNG at Pillow's
    default level unless `png_compression` says otherwise (see `images.save_image`).
    """
    from translate.data.folders import find_images
    from translate.data.images import image_to_tensor, load_image, save_image, tensor_to_image
    from translate.zoo import load_model

    dev = pick_device(device)
    net, spec = load_model(model, direction, dev)
    translator = None if is_upscaler(spec) else make_translator(net, spec)
    check_tiling(tile, tile_overlap)
    written = 0
    for path in find_images(input_dir):
        try:
            image = image_to_tensor(load_image(path)).to(dev)
        except DataError:
            continue
        target = (output_dir / path.relative_to(input_dir)).with_suffix(suffix)
        if translator is None:
            result = upscale_image(net, image, spec["scale"], tile, tile_overlap)
        else:
            result = tensor_to_image(translator(image).float().cpu())
        save_image(result, target, png_compression=png_compression)
        written += 1
    return written


def convert_folder(
    model: Path,
    input_dir: Path,
    output_dir: Path,
    direction: str | None = None,
    overwrite: bool = False,
    device: str = "auto",
    suffix: str = ".png",
    tile: int | None = DEFAULT_TILE,
    tile_overlap: int = DEFAULT_OVERLAP,
    require_upscaler: bool = False,
    precision: str = "fp32",
    **options: Any,
):
    """Load `model` and convert a folder through the batched pipeline; returns its ConvertReport.

    `options` are further `ConvertOptions` fields (batch_size, workers, quality, size, keep_size, ...).
    """
    from translate.inference.model import Translator
    from translate.inference.pipeline import ConvertOptions, convert

    settings = ConvertOptions(
        overwrite=overwrite, format=suffix.lstrip("."), tile=tile, tile_overlap=tile_overlap, **options
    )
    settings.validate()
    translator = Translator.load(model, direction=direction, device=device, precision=precision)
    if require_upscaler and not translator.is_upscaler:
        raise ConfigError(f"--model {model} is a {translator.spec.get('method')} model, not a super-resolution one")
    return convert(translator, input_dir, output_dir, settings)
