"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017), with two options the paper lacks:
a bicubic global skip for the generator and spectral normalisation for the discriminator."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from translate.errors import ConfigError

SCALES = (2, 4, 8)
SKIPS = ("none", "bicubic")
_BLOCK = re.compile(r"body\.(\d+)\.body\.")
_UPSAMPLE = re.compile(r"upsample\.(\d+)\.weight$")


def cubic(x: float, a: float = -0.5) -> float:
    """Keys' cubic convolution kernel; a = -0.5 is Pillow's and MATLAB's bicubic."""
    x = abs(x)
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    return (((x - 5) * x + 8) * x - 4) * a if x < 2 else 0.0


class BicubicUpsample(nn.Module):
    """Upscale by an integer factor exactly as Pillow's bicubic (Keys, a = -0.5; taps outside the image
    dropped and the rest renormalised), up to Pillow's rounding to 8 bits between its two passes.

    Separable: each pass is a depthwise 1x5 conv giving `scale` phases per pixel, interleaved. The
    weights are a fixed, non-persistent buffer, so the model's state dict does not change.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        # Output pixel p of every `scale` samples the input at offset (p + 0.5) / scale - 0.5: taps -2..2.
        phases = [[cubic((p + 0.5) / scale - 0.5 - j) for j in range(-2, 3)] for p in range(scale)]
        self.register_buffer("taps", torch.tensor(phases, dtype=torch.float32)[:, None, None, :], persistent=False)

    def _widen(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale the last dimension of an NCHW tensor."""
        n, c, h, w = x.shape
        taps = self.taps.to(x.dtype)
        out = F.conv2d(x.reshape(n * c, 1, h, w), taps, padding=(0, 2))  # (N*C, scale, H, W)
        norm = F.conv2d(torch.ones_like(x[:1, :1, :1]), taps, padding=(0, 2))  # weights inside the image
        out = out / norm
        return out.reshape(n, c, self.scale, h, w).permute(0, 1, 3, 4, 2).reshape(n, c, h, w * self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._widen(self._widen(x).transpose(-1, -2)).transpose(-1, -2)


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
    saved, so the MSE/VGG losses see unsquashed values. `skip="bicubic"` adds the bicubic upscale
    of the input to the output, so the network only has to learn the missing detail; with
    `start_at_skip` (a zero last conv) a fresh network is exactly bicubic. The weights are the same
    tensors either way: `skip="none"` is the paper's network and loads its files.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 64,
        n_blocks: int = 16,
        scale: int = 4,
        skip: str = "none",
    ) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ConfigError(f"SRResNet scale {scale} is not supported: choose 2, 4 or 8")
        if skip not in SKIPS:
            raise ConfigError(f"SRResNet skip {skip!r} is not one of {', '.join(SKIPS)}")
        if skip == "bicubic" and in_channels != out_channels:
            raise ConfigError("a bicubic skip needs as many output channels as input channels")
        self.scale, self.skip = scale, skip
        self.bicubic = BicubicUpsample(scale) if skip == "bicubic" else None
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

    def start_at_skip(self) -> SRResNet:
        """Zero the last conv, so that a fresh network with a skip outputs the skip alone (bicubic)."""
        if self.bicubic is not None:
            with torch.no_grad():
                self.tail.weight.zero_()
                self.tail.bias.zero_()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        out = self.tail(self.upsample(h + self.body(h)))
        return out if self.bicubic is None else out + self.bicubic(x)


def recognise(state: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """`SRResNet`'s keywords for a state dict in its layout, else None: width and channels from the 9x9
    head and tail, the blocks, and the scale from its PixelShuffle(2) stages (one conv each). The skip
    has no weights: guessed bicubic, this tool's default, where the channels allow it."""
    if not {"head.0.weight", "head.1.weight", "upsample.0.weight", "tail.weight"} <= state.keys():
        return None
    width, in_channels = state["head.0.weight"].shape[:2]
    out_channels = int(state["tail.weight"].shape[0])
    stages = sum(1 for k, w in state.items() if _UPSAMPLE.match(k) and w.ndim == 4)
    return {
        "in_channels": int(in_channels),
        "out_channels": out_channels,
        "width": int(width),
        "n_blocks": len({m[1] for k in state if (m := _BLOCK.match(k))}),
        "scale": 2**stages,
        "skip": "bicubic" if in_channels == out_channels else "none",
    }


class SRDiscriminator(nn.Module):
    """The SRGAN VGG-style discriminator: 8 convs, then a dense head giving one logit per image.

    The adaptive pool to 6x6 (what a 96x96 crop gives after four stride-2 convs) lets any crop
    size reach the same Linear(512*36) head. `norm="spectral"` puts Identity where the batch norms
    were (same indices) and is meant to be followed by `norms.spectral_norm` on the whole network.
    """

    def __init__(self, in_channels: int = 3, width: int = 64, norm: str = "batch") -> None:
        super().__init__()
        if norm not in ("batch", "spectral"):
            raise ConfigError(f"SRGAN discriminator norm {norm!r} is not batch or spectral")
        layers: list[nn.Module] = []
        prev = in_channels
        for i in range(8):
            ch = width * 2 ** (i // 2)
            layers.append(nn.Conv2d(prev, ch, 3, stride=1 + i % 2, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(ch) if norm == "batch" else nn.Identity())
            layers.append(nn.LeakyReLU(0.2))
            prev = ch
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(6))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(prev * 36, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
