"""DiscoGAN networks (Kim et al. 2017), after the official SKTBrain/DiscoGAN model.py.

Differences from the official code, on purpose: the generator ends in Tanh (images here are in
[-1, 1], the official code used Sigmoid on [0, 1]); the discriminator returns logits (losses take
logits) instead of sigmoid probabilities. Like the official code every conv is bias-free and the
init is PyTorch's default.

`image_size=128` adds one more stride-2 stage on each side (encoder 64-128-256-512-512), so both
sizes reach the same 4x4 bottleneck and the same one-logit head.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from translate.nets.registry import check_image_size

_WEIGHT = re.compile(r"main\.(\d+)\.weight$")


def _widths(width: int, image_size: int) -> list[int]:
    """Channel widths of the stride-2 stages: width * 1, 2, 4, 8, capped at 8x."""
    check_image_size("discogan", image_size, "image size")  # the sizes are the registry entry's
    n_stages = 4 if image_size == 64 else 5
    return [width * min(2**i, 8) for i in range(n_stages)]


class DiscoGenerator(nn.Module):
    """Encoder-decoder without skips: the bottleneck is what forces a shared, cross-domain code.

    `extra_layers` adds the official code's 100-channel 1x1 bottleneck (conv 4x4 down to 1x1 and
    back); its batch norm then needs batches of 2 or more in training.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 64,
        extra_layers: bool = False,
        image_size: int = 64,
    ) -> None:
        super().__init__()
        widths = _widths(width, image_size)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        for prev, ch in pairwise(widths):
            layers += [nn.Conv2d(prev, ch, 4, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.LeakyReLU(0.2)]
        if extra_layers:
            ch = widths[-1]
            layers += [nn.Conv2d(ch, 100, 4, 1, 0, bias=False), nn.BatchNorm2d(100), nn.LeakyReLU(0.2)]
            layers += [nn.ConvTranspose2d(100, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
        for prev, ch in pairwise(widths[::-1]):
            layers += [nn.ConvTranspose2d(prev, ch, 4, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[0], out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def recognise(state: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """`DiscoGenerator`'s keywords for a state dict in its layout (`main.K.*` only), else None.

    Its 4x4 (transposed) convs are 2 per stride-2 stage (4 at 64 px, 5 at 128 px) plus 2 for the extra
    bottleneck: 8, 10 or 12. Of the two layouts with 10, the fifth conv of 64 px with the bottleneck maps
    8 * width channels to 100 (never equal), that of 128 px without it keeps 8 * width.
    """
    if "main.0.weight" not in state or not all(k.startswith("main.") for k in state):
        return None
    indexed = {int(m[1]): w for k, w in state.items() if (m := _WEIGHT.match(k)) and w.ndim == 4}
    convs = [indexed[i] for i in sorted(indexed)]
    if not convs:
        return None
    width, in_channels = convs[0].shape[:2]
    extra = len(convs) == 12 or (len(convs) == 10 and convs[4].shape[0] != convs[4].shape[1])
    stages = (len(convs) - 2 * extra) // 2
    return {
        "in_channels": int(in_channels),
        "out_channels": int(convs[-1].shape[1]),  # a transposed conv: (in, out, kh, kw)
        "width": int(width),
        "extra_layers": extra,
        "image_size": 2 ** (stages + 2),  # 4 stages from 64 px, 5 from 128 px, to the same 4x4
    }


class DiscoDiscriminator(nn.Module):
    """Conv stack down to one logit per image; also returns the hidden activations that
    DiscoGAN's feature-matching loss compares between real and fake images."""

    def __init__(self, in_channels: int = 3, width: int = 64, image_size: int = 64) -> None:
        super().__init__()
        widths = _widths(width, image_size)
        blocks = [nn.Sequential(nn.Conv2d(in_channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2))]
        for prev, ch in pairwise(widths):
            blocks.append(
                nn.Sequential(nn.Conv2d(prev, ch, 4, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.LeakyReLU(0.2))
            )
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Returns (logits of shape (N, 1), features after each LeakyReLU from the second block on)."""
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i > 0:
                features.append(x)
        return self.head(x).flatten(1), features
