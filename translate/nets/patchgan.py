"""PatchGAN discriminator of pix2pix/CycleGAN: a conv stack whose output is a map of real/fake
logits, one per overlapping patch (70x70 receptive field for n_layers=3). No sigmoid: losses
take logits. `bias` None follows the reference (convs before a norm layer carry a bias only with
instance norm); spectral normalisation (`builders.build_discriminator`) asks for biases explicitly.
"""

from __future__ import annotations

import torch
from torch import nn

from translate.nets.norms import conv_bias, norm_layer
from translate.nets.resnet import Downsample


class NLayerDiscriminator(nn.Module):
    """`n_layers` stride-2 4x4 convs (widths ndf*min(2**i, 8)), then two stride-1 convs to 1 channel.

    `antialias` is the CUT code's default discriminator: each stride-2 conv becomes a stride-1 conv
    followed, after its activation, by the fixed blur-and-subsample `Downsample` (Zhang 2019), whose
    `filt` buffers shift the layer indices as in CUT's files.
    """

    def __init__(
        self,
        in_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "instance",
        bias: bool | None = None,
        antialias: bool = False,
    ) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm) if bias is None else bias
        stride = 1 if antialias else 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, stride=stride, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        if antialias:
            layers.append(Downsample(ndf))
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            halves = n < n_layers
            stride = 2 if halves and not antialias else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                make_norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
            if halves and antialias:
                layers.append(Downsample(ndf * mult))
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN ("pixel" in the reference): judges each pixel's colour alone, no spatial context."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, norm: str = "instance", bias: bool | None = None) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm) if bias is None else bias
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            make_norm(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
