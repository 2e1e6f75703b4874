"""Builders for the reference CycleGAN/pix2pix networks (state_dict-compatible).

DiscoGAN, SRGAN and VGG nets live in their own modules (`discogan`, `srresnet`, `vgg`) and are
imported from there by the methods that use them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from translate.errors import ConfigError
from translate.nets.norms import NORMS, init_weights, load_state_dict_compat, norm_layer
from translate.nets.patchgan import NLayerDiscriminator, PixelDiscriminator
from translate.nets.resnet import ResnetGenerator
from translate.nets.sizes import GENERATORS, _spec, check_image_size, size_multiple
from translate.nets.unet import UnetGenerator

__all__ = [
    "GENERATORS",
    "NORMS",
    "build_discriminator",
    "build_generator",
    "check_image_size",
    "init_weights",
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
    **extra: Any,
) -> nn.Module:
    """A freshly initialised generator (N(0, 0.02) weights, as in the reference).

    `name="discogan"` builds DiscoGAN's encoder-decoder instead; `extra` then carries its own
    arguments (width, image_size, extra_layers), it ignores ngf/norm/dropout and keeps PyTorch's
    default init, as the official code does.
    """
    if name == "discogan":
        from translate.nets.discogan import DiscoGenerator

        return DiscoGenerator(in_channels, out_channels, **extra)
    if name == "srresnet":  # extra: scale, width, n_blocks; PyTorch's default init
        from translate.nets.srresnet import SRResNet

        return SRResNet(in_channels, out_channels, **extra)
    kind, depth = _spec(name)
    unknown = set(extra) - ({"antialias", "antialias_up"} if kind == "resnet" else set())  # CUT's blurred resampling
    if unknown:
        raise TypeError(f"generator {name} takes no argument(s) {', '.join(sorted(unknown))}")
    _check_norm(norm)
    if kind == "resnet":
        net = ResnetGenerator(in_channels, out_channels, ngf, n_blocks=depth, norm=norm, dropout=dropout, **extra)
    else:
        net = UnetGenerator(in_channels, out_channels, num_downs=depth, ngf=ngf, norm=norm, dropout=dropout)
    return init_weights(net)


def build_discriminator(in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "instance") -> nn.Module:
    """A freshly initialised PatchGAN; `n_layers=0` gives the 1x1 PixelGAN (reference "pixel")."""
    _check_norm(norm)
    if n_layers < 0:
        raise ConfigError(f"discriminator layers must be 0 (pixel) or more, got {n_layers}")
    if n_layers == 0:
        return init_weights(PixelDiscriminator(in_channels, ndf, norm))
    return init_weights(NLayerDiscriminator(in_channels, ndf, n_layers, norm))
