"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017)."""

from __future__ import annotations

import math

import torch
from torch import nn

from translate.errors import ConfigError

SCALES = (2, 4, 8)


class ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN with an identity skip."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.PReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """Upscales by `scale` with sub-pixel convolutions (one PixelShuffle(2) stage per factor of 2).

    No output activation: the output is in the input's range (e.g. [-1, 1]) and only clamped when
    saved, so the MSE/VGG losses see unsquashed values.
    """

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, width: int = 64, n_blocks: int = 16, scale: int = 4
    ) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ConfigError(f"SRResNet scale {scale} is not supported: choose 2, 4 or 8")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(in_channels, width, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(
            *[ResidualBlock(width) for _ in range(n_blocks)],
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
        )
        up: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            up += [nn.Conv2d(width, width * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU()]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(width, out_channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return self.tail(self.upsample(h + self.body(h)))


class SRDiscriminator(nn.Module):
    """The SRGAN VGG-style discriminator: 8 convs, then a dense head giving one logit per image.

    The adaptive pool to 6x6 (what a 96x96 crop gives after four stride-2 convs) lets any crop
    size reach the same Linear(512*36) head.
    """

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for i in range(8):
            ch = width * 2 ** (i // 2)
            layers.append(nn.Conv2d(prev, ch, 3, stride=1 + i % 2, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(ch))
            layers.append(nn.LeakyReLU(0.2))
            prev = ch
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(6))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(prev * 36, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
