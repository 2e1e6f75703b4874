"""Training methods, each a plug-in over the shared engine (see base.py), and the check of a run's settings.

Methods are imported by name on demand: the CLI must not pay for torch at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from translate.config import ImageTranslationConfig, TrainConfig
from translate.errors import ConfigError
from translate.nets.registry import (
    architecture,
    architectures,
    check_image_size,
    check_patchgan_depth,
    generator_choices,
)

if TYPE_CHECKING:
    from translate.methods.base import Method

_METHODS = {
    "cyclegan": "translate.methods.cyclegan:CycleGAN",
    "pix2pix": "translate.methods.pix2pix:Pix2Pix",
    "discogan": "translate.methods.discogan:DiscoGAN",
    "srresnet": "translate.methods.srgan:SRResNetMethod",
    "srgan": "translate.methods.srgan:SRGANMethod",
}


def method_class(name: str) -> type[Method]:
    module, cls = _METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def setting_choices() -> dict[str, tuple[str, ...]]:
    """Choices of settings that translate.config cannot list, since they come from the nets registry above it."""
    return {"generator": generator_choices()}


def check_settings(config: TrainConfig) -> None:
    """Refuse a run's settings that cannot work, before anything heavy is imported: the config's own checks,
    then those that need the networks' architectures (a side the generator takes, a PatchGAN depth)."""
    config.validate()
    for name, choices in setting_choices().items():
        if hasattr(config, name) and getattr(config, name) not in choices:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} {getattr(config, name)!r} is not one of {', '.join(choices)}")
    trained = config.trained_generator()
    if trained is not None:
        name, side, option = trained
        check_image_size(name, side, option)
        if getattr(config, "gradient_checkpointing", False) and not architecture(name).gradient_checkpointing:
            able = sorted({f"{entry.title}s" for entry in architectures() if entry.gradient_checkpointing})
            raise ConfigError(f"--gradient-checkpointing works with {' and '.join(able)}, not {name}")
    if isinstance(config, ImageTranslationConfig):
        check_patchgan_depth(config.n_layers_d, config.size)
