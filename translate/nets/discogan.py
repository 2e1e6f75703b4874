"""DiscoGAN networks (Kim et al. 2017), after the official SKTBrain/DiscoGAN model.py.

Differences from the official code, on purpose: the generator ends in Tanh (images here are in
[-1, 1], the official code used Sigmoid on [0, 1]); the discriminator returns logits (losses take
logits) instead of sigmoid probabilities. Like the official code every conv is bias-free and the
init is PyTorch's default.

`image_size=128` adds one more stride-2 stage on each side (encoder 64-128-256-512-512), so both
sizes reach the same 4x4 bottleneck and the same one-logit head.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from translate.errors import ConfigError
from translate.nets.sizes import DISCOGAN_IMAGE_SIZES as IMAGE_SIZES


def _widths(width: int, image_size: int) -> list[int]:
    """Channel widths of the stride-2 stages: width * 1, 2, 4, 8, capped at 8x."""
    if image_size not in IMAGE_SIZES:
        raise ConfigError(f"DiscoGAN image size {image_size} is not supported: choose 64 or 128")
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
