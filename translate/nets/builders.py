"""Builders for the reference CycleGAN/pix2pix networks (state_dict-compatible).

DiscoGAN, SRGAN and VGG nets live in their own modules (`discogan`, `srresnet`, `vgg`) and are
imported from there by the methods that use them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from translate.choices import D_NORM_CHOICES
from translate.errors import ConfigError
from translate.nets.norms import (
    init_weights,
    initialize,
    load_state_dict_compat,
    norm_layer,
    spectral_norm,
)
from translate.nets.patchgan import NLayerDiscriminator, PixelDiscriminator
from translate.nets.resnet import ResnetGenerator
from translate.nets.sizes import GENERATORS, _spec, check_image_size, size_multiple
from translate.nets.unet import UnetGenerator

__all__ = [
    "GENERATORS",
    "build_discriminator",
    "build_generator",
    "check_image_size",
    "init_weights",
    "initialize",
    "load_state_dict_compat",
    "norm_layer",
    "size_multiple",
]


def _check_norm(norm: str) -> None:
    norm_layer(norm)  # raises ConfigError listing the valid names


def build_generator(
    name: str,
    in_channels: int = 3,
    out_channels: int = 3,
    ngf: int = 64,
    norm: str = "instance",
    dropout: bool = False,
    init_type: str | None = None,
    init_gain: float = 0.02,
    **extra: Any,
) -> nn.Module:
    """A freshly initialised generator.

    `init_type` None keeps each architecture's usual init: N(0, 0.02) for the reference ResNet and
    U-Net, PyTorch's default for DiscoGAN and SRResNet (as their official code). Training methods pass
    their `--init-type`; loaders leave it out (the weights are replaced anyway).
    `name="discogan"` builds DiscoGAN's encoder-decoder instead; `extra` then carries its own
    arguments (width, image_size, extra_layers) and it ignores ngf/norm/dropout; `name="srresnet"`
    takes scale, width, n_blocks and skip.
    """
    if name == "discogan":
        from translate.nets.discogan import DiscoGenerator

        return initialize(DiscoGenerator(in_channels, out_channels, **extra), init_type or "default", init_gain)
    if name == "srresnet":
        from translate.nets.srresnet import SRResNet

        net = initialize(SRResNet(in_channels, out_channels, **extra), init_type or "default", init_gain)
        return net.start_at_skip()  # with a bicubic skip, a fresh network is bicubic
    kind, depth = _spec(name)
    unknown = set(extra) - ({"antialias", "antialias_up"} if kind == "resnet" else set())  # CUT's blurred resampling
    if unknown:
        raise TypeError(f"generator {name} takes no argument(s) {', '.join(sorted(unknown))}")
    _check_norm(norm)
    if kind == "resnet":
        net = ResnetGenerator(in_channels, out_channels, ngf, n_blocks=depth, norm=norm, dropout=dropout, **extra)
    else:
        net = UnetGenerator(in_channels, out_channels, num_downs=depth, ngf=ngf, norm=norm, dropout=dropout)
    return initialize(net, init_type or "normal", init_gain)


def build_discriminator(
    in_channels: int = 3,
    ndf: int = 64,
    n_layers: int = 3,
    norm: str = "instance",
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> nn.Module:
    """A freshly initialised PatchGAN; `n_layers=0` gives the 1x1 PixelGAN (reference "pixel").

    `norm="spectral"` spectrally normalises every conv instead of norm layers (new state-dict keys);
    the other norms give the reference layout.
    """
    if norm not in D_NORM_CHOICES:
        raise ConfigError(f"unknown discriminator norm {norm!r}: choose one of {', '.join(D_NORM_CHOICES)}")
    if n_layers < 0:
        raise ConfigError(f"discriminator layers must be 0 (pixel) or more, got {n_layers}")
    # Spectral: no norm layers (Identity keeps the indices), and the convs keep their biases.
    layers, bias = ("none", True) if norm == "spectral" else (norm, None)
    if n_layers == 0:
        net: nn.Module = PixelDiscriminator(in_channels, ndf, layers, bias)
    else:
        net = NLayerDiscriminator(in_channels, ndf, n_layers, layers, bias)
    initialize(net, init_type, init_gain)
    return spectral_norm(net) if norm == "spectral" else net
