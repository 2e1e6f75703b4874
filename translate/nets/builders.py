"""Builders of networks: any registered generator architecture (translate/nets/registry.py), and the
reference PatchGAN discriminator (state_dict-compatible).

DiscoGAN's and SRGAN's discriminators and the VGG live in their own modules (`discogan`, `srresnet`,
`vgg`) and are built by the methods that use them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from translate.choices import D_NORM_CHOICES
from translate.errors import ConfigError
from translate.nets.norms import initialize, spectral_norm
from translate.nets.patchgan import NLayerDiscriminator, PixelDiscriminator
from translate.nets.registry import architecture, parameter_types


def build_generator(name: str, *, init_type: str | None = None, init_gain: float = 0.02, **settings: Any) -> nn.Module:
    """A freshly initialised generator of architecture `name`.

    `settings` are its constructor's keywords, less those the name decides (resnet9: n_blocks).
    `init_type` None keeps the architecture's usual init: N(0, 0.02) for the reference ResNet and U-Net,
    PyTorch's default for DiscoGAN and SRResNet (as their official code). Training methods pass their
    `--init-type`; loaders leave it out (the weights are replaced anyway).
    """
    entry = architecture(name)
    unknown = set(settings) - set(entry.settings())
    if unknown:
        raise TypeError(f"generator {name} takes no argument(s) {', '.join(sorted(unknown))}")
    net = initialize(entry.constructor()(**entry.preset, **settings), init_type or entry.init, init_gain)
    if entry.after_init:
        getattr(net, entry.after_init)()
    return net


_OWN_SETTINGS = parameter_types(build_generator)  # name, init_type, init_gain


def generator_settings(name: str) -> dict[str, tuple[type, ...]]:
    """Every keyword `build_generator` takes for architecture `name`, with the types their annotations allow:
    its own (name, init_type, init_gain) and the constructor's."""
    return _OWN_SETTINGS | architecture(name).settings()


def build_discriminator(
    in_channels: int = 3,
    ndf: int = 64,
    n_layers: int = 3,
    norm: str = "instance",
    init_type: str = "normal",
    init_gain: float = 0.02,
    antialias: bool = False,
) -> nn.Module:
    """A freshly initialised PatchGAN; `n_layers=0` gives the 1x1 PixelGAN (reference "pixel").

    `norm="spectral"` spectrally normalises every conv instead of norm layers (new state-dict keys);
    the other norms give the reference layout. `antialias`: CUT's blurred downsamplings (the PixelGAN
    has none to blur).
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
        net = NLayerDiscriminator(in_channels, ndf, n_layers, layers, bias, antialias)
    initialize(net, init_type, init_gain)
    return spectral_norm(net) if norm == "spectral" else net
