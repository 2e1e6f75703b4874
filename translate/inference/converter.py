"""Convert a folder of images with a trained generator.

Images keep their own resolution: each is padded (reflect) up to the size multiple the generator
needs and the result is cropped back, so a photo comes out the size it went in. Results mirror the
input folder's layout under the output folder; existing results are skipped unless asked to
overwrite (so an interrupted conversion just continues), each is written atomically, and the
inputs are never touched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from translate.errors import ConfigError, DataError
from translate.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling, is_upscaler, upscale_image


@dataclass
class ConvertReport:
    output: Path
    converted: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"Converted {self.converted} image(s) into {self.output}"
        if self.skipped:
            text += f"; skipped {self.skipped} already there (--overwrite to redo)"
        if self.failed:
            text += f"; {len(self.failed)} unreadable: {', '.join(self.failed[:3])}"
        return text


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _check_folders(input_dir: Path, output_dir: Path) -> None:
    src, dst = input_dir.resolve(), output_dir.resolve()
    if dst == src or src in dst.parents:
        raise ConfigError(f"--output {output_dir} must not be --input or inside it (inputs are never overwritten)")


@torch.inference_mode()
def translate_image(net: torch.nn.Module, image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Run `net` on one CHW image in [-1, 1] of any size; pads to `multiple` and crops back."""
    _, h, w = image.shape
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    x = image.unsqueeze(0)
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return net(x)[0, :, :h, :w]


@torch.inference_mode()
def translate_fixed(net: torch.nn.Module, image: torch.Tensor, size: int) -> torch.Tensor:
    """For a generator that only takes `size` x `size` inputs (DiscoGAN): resize in, translate, resize back."""
    _, h, w = image.shape
    x = F.interpolate(image.unsqueeze(0), size=(size, size), mode="bicubic", antialias=True)
    return F.interpolate(net(x), size=(h, w), mode="bicubic", antialias=True)[0].clamp(-1.0, 1.0)


def make_translator(net: torch.nn.Module, spec: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """CHW image in [-1, 1] -> its translation, at the input's size, run as the model was meant to run."""
    from translate.nets.builders import size_multiple

    if spec.get("eval_mode") is False:
        # pix2pix as published: the reference test.py without --eval keeps the WHOLE net in train
        # mode, so dropout stays on and batch norm uses each image's own statistics (one per batch).
        net.train()
    fixed = spec.get("fixed_size")  # set by generators trained at a single size (DiscoGAN)
    if fixed:
        return functools.partial(translate_fixed, net, size=fixed)
    return functools.partial(translate_image, net, multiple=size_multiple(spec["generator"]["name"]))


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
) -> ConvertReport:
    from rich.progress import track

    from translate.data.demo import resolve_domain
    from translate.data.folders import find_images
    from translate.data.images import image_to_tensor, load_image, save_image, tensor_to_image
    from translate.zoo import load_model

    input_dir = resolve_domain(str(input_dir))
    _check_folders(input_dir, output_dir)
    paths = find_images(input_dir)
    dev = pick_device(device)
    net, spec = load_model(model, direction, dev)
    upscaler = is_upscaler(spec)  # SRResNet/SRGAN: a larger output, made tile by tile (tiling.py)
    if require_upscaler and not upscaler:
        raise ConfigError(f"--model {model} is a {spec.get('method')} model, not a super-resolution one")
    check_tiling(tile, tile_overlap)
    translator = None if upscaler else make_translator(net, spec)
    report = ConvertReport(output_dir)
    for path in track(paths, description="convert", transient=True):
        target = (output_dir / path.relative_to(input_dir)).with_suffix(suffix)
        if target.exists() and not overwrite:
            report.skipped += 1
            continue
        try:
            image = image_to_tensor(load_image(path)).to(dev)
        except DataError:
            report.failed.append(str(path))
            continue
        if upscaler:
            save_image(upscale_image(net, image, spec["scale"], tile, tile_overlap), target)
        else:
            save_image(tensor_to_image(translator(image).float().cpu()), target)
        report.converted += 1
    return report
