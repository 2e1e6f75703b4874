"""Training methods, each a plug-in over the shared engine (see base.py): the one registry of them, and the
check of a run's settings.

A method's entry pairs its settings class (translate.config, torch-free: the CLI builds `translate train
NAME` from it at start-up) with its implementation as an import string, imported on first use so that
the CLI does not pay for torch. A new method: its settings class in config.py, its module here, one entry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from translate.config import (
    CUTConfig,
    CycleGANConfig,
    DiscoGANConfig,
    FastCUTConfig,
    ImageTranslationConfig,
    Pix2PixConfig,
    SRGANConfig,
    SRResNetConfig,
    TrainConfig,
)
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


@dataclass(frozen=True)
class MethodEntry:
    """One trainable method: its settings class and where its implementation lives."""

    settings: type[TrainConfig]
    implementation: str  # "module:Class"

    @property
    def name(self) -> str:
        return self.settings.method

    def load(self) -> type[Method]:
        module, cls = self.implementation.split(":")
        return getattr(importlib.import_module(module), cls)


METHODS: dict[str, MethodEntry] = {
    entry.name: entry
    for entry in (
        MethodEntry(CycleGANConfig, "translate.methods.cyclegan:CycleGAN"),
        MethodEntry(Pix2PixConfig, "translate.methods.pix2pix:Pix2Pix"),
        MethodEntry(DiscoGANConfig, "translate.methods.discogan:DiscoGAN"),
        MethodEntry(SRResNetConfig, "translate.methods.srgan:SRResNetMethod"),
        MethodEntry(SRGANConfig, "translate.methods.srgan:SRGANMethod"),
        MethodEntry(CUTConfig, "translate.methods.cut:CUT"),
        MethodEntry(FastCUTConfig, "translate.methods.cut:CUT"),  # the same method with FastCUT's defaults
    )
}


def method_class(name: str) -> type[Method]:
    return METHODS[name].load()


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
