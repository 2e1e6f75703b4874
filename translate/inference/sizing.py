"""How a generator runs on a batch of any size: padding and cropping per architecture.

Images keep their own resolution: a batch is padded (reflect) up to the size multiple the
generator needs and the result is cropped back, so a photo comes out the size it went in. The
runner (`runner.Translator`) is the only caller; nothing here reads or writes images.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from translate.nets.registry import architecture

Batch = Callable[[torch.Tensor], torch.Tensor]


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


def _one_by_one(translate: Batch, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([translate(x[i : i + 1]) for i in range(x.shape[0])])


def make_batch_translator(net: torch.nn.Module, spec: dict[str, Any]) -> Batch:
    """NCHW batch of one size in [-1, 1] -> translations at the same size (`scale` times it for an upscaler),
    run as the model was meant to run."""
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
