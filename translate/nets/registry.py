"""The one registry of generator architectures: all the rest of translate knows about one is in its entry.

An `Architecture` names its constructor and its state-dict recogniser by import string, so this
module imports no torch: the CLI checks `--generator` and `--size` with it at start-up. Its readers:
`nets.builders.build_generator` (constructor and default init), `model_folder` (the settings a
config.json may hold: the constructor's signature, within BOUNDS), `nets.detect` (each recogniser in
turn), the runner (`inference.sizing`: the size rule: pad to `multiple` and `min_side`, or resize to the fixed side),
`export` (dynamic shapes from the same rule, the output scale) and `translate inspect`.

A new architecture is a module in translate/nets/ (the network and its `recognise(state)`) plus one
`register(...)` below; tests/test_architectures.py then runs it through the whole tool.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from translate.errors import ConfigError

# Sane values of settings that architectures take: a config.json asking for ngf 10**9 is refused
# before a tensor is allocated. The types come from the constructors; only these bounds are kept by hand.
BOUNDS: dict[str, tuple[int, int]] = {
    "in_channels": (1, 16),
    "out_channels": (1, 16),
    "ngf": (1, 1024),
    "width": (1, 1024),
    "n_blocks": (1, 256),
    "scale": (2, 8),
    "image_size": (32, 512),
}


@dataclass(frozen=True)
class SizeRule:
    """The image sides a generator maps back to themselves (`scale` times larger for super-resolution).

    The runner pads an image up to `multiple` and `min_side` and crops the result back, or resizes
    in and out for a `fixed` architecture. It is the export constraint too: `export.input_shape` keeps
    height and width dynamic in steps of `multiple` from `min_side` (static for a fixed side), traced at
    2 * `multiple`, where the bottleneck is 2x2.
    """

    multiple: int = 1  # sides must be multiples of it (2**n for n stride-2 stages)
    min_side: int = 1  # and at least this
    fixed: tuple[int, ...] = ()  # instead: exactly the side it was built for, one of these (DiscoGAN)
    fixed_key: str = ""  # the constructor argument holding that side
    scale_key: str = ""  # the constructor argument holding output side / input side (super-resolution)

    def describe(self) -> str:
        """The sides it takes, for people: multiples of 4 from 8."""
        if self.fixed:
            return f"only the side it was trained at ({' or '.join(map(str, self.fixed))})"
        if self.multiple == 1:
            return "any size"
        return f"multiples of {self.multiple}" + (f" from {self.min_side}" if self.min_side > self.multiple else "")


@dataclass(frozen=True)
class Architecture:
    """One generator architecture: how to build it, which settings and sizes it takes, how to recognise it."""

    name: str  # config.json's generator "name": resnet9
    family: str  # the entries sharing a constructor and a recogniser: resnet
    title: str  # for people: "ResNet generator"
    builder: str  # "module:Class": its signature is the schema of the settings a config.json may hold
    recogniser: str  # "module:function": state dict -> constructor keywords read from it, or None
    size: SizeRule
    method: str  # the method a bare weights file of it is taken for, which says how it runs
    layout: str  # its state dict's first keys, named when a file fits no architecture
    preset: Mapping[str, Any] = field(default_factory=dict)  # constructor arguments its name decides
    shape: str = ""  # what `preset` means, formatted with it: "{n_blocks} residual blocks"
    init: str = "normal"  # init_type when the caller gives none
    after_init: str = ""  # a method of the network to call after init
    unseen: Mapping[str, str] = field(default_factory=dict)  # settings no weight shows -> how detection guesses
    choice: bool = True  # offered as --generator (cyclegan, pix2pix); the others come with their method
    gradient_checkpointing: bool = False  # it can recompute its activations in the backward pass
    # "module:function": the shapes of a file's conv weights, in order -> the constructor keywords worth
    # trying when its key names are not ours (nets.detect.match_layout); "" for families never matched so
    candidates: str = ""

    def constructor(self) -> Callable[..., Any]:
        """The network's class (imports its module, and torch)."""
        return load(self.builder)

    def settings(self) -> dict[str, tuple[type, ...]]:
        """The constructor's keywords that a config.json may set (not those the name decides), with the
        types their annotations allow: the constructor is the schema, not a copy of it."""
        return {k: v for k, v in parameter_types(self.constructor()).items() if k not in self.preset}

    def defaults(self) -> dict[str, Any]:
        """The constructor's defaults (what a setting left out of config.json means)."""
        parameters = inspect.signature(self.constructor()).parameters.values()
        return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}

    def fixed_size(self, generator: Mapping[str, Any]) -> int | None:
        """The one side a fixed-size generator built with these settings takes; None if it takes many."""
        if not self.size.fixed:
            return None
        return int(generator.get(self.size.fixed_key, self.defaults()[self.size.fixed_key]))

    def scale(self, generator: Mapping[str, Any]) -> int:
        """Output side / input side of the generator built with these settings."""
        if not self.size.scale_key:
            return 1
        return int(generator.get(self.size.scale_key, self.defaults()[self.size.scale_key]))

    def model_settings(self, generator: Mapping[str, Any]) -> dict[str, Any]:
        """What a model's config.json says beside the generator for it to run right: the side a fixed-size
        generator is resized to (`fixed_size`), an upscaler's `scale`."""
        settings: dict[str, Any] = {}
        if self.size.fixed:
            settings["fixed_size"] = self.fixed_size(generator)
        if self.size.scale_key:
            settings["scale"] = self.scale(generator)
        return settings

    def describe(self) -> str:
        """The title and what the name decides, for people: ResNet generator, 9 residual blocks."""
        shape = self.shape.format(**self.preset)
        return f"{self.title}, {shape}" if shape else self.title

    def check_image_size(self, size: int, option: str = "--size") -> None:
        """Fail early with a hint, instead of a shape error deep inside the network."""
        rule = self.size
        if rule.fixed:
            if size not in rule.fixed:
                sides = " or ".join(map(str, rule.fixed))
                raise ConfigError(f"{option} {size} is not supported by the {self.title}: choose {sides}")
            return
        m = rule.multiple
        if size <= 0 or size % m:
            if m == 1:
                raise ConfigError(f"{option} {size} does not fit generator {self.name}: it needs a positive size")
            smallest = -(-rule.min_side // m) * m
            hint = max(smallest, (size + m // 2) // m * m)
            raise ConfigError(
                f"{option} {size} does not fit generator {self.name}: it needs a multiple of {m} (try {option} {hint})"
            )
        if size < rule.min_side:
            raise ConfigError(
                f"{option} {size} is too small for generator {self.name}: it needs {rule.min_side} or more"
            )


_REGISTRY: dict[str, Architecture] = {}


def register(entry: Architecture) -> Architecture:
    """Add an architecture; names are unique (a config.json names exactly one)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"generator {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def architecture(name: str) -> Architecture:
    """The entry of generator `name`; a one-line ConfigError listing the known ones otherwise."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError(f"unknown generator {name!r}: choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def architectures() -> tuple[Architecture, ...]:
    """Every entry, in registration order."""
    return tuple(_REGISTRY.values())


def family(name: str) -> tuple[Architecture, ...]:
    """The entries of one family (resnet: resnet9, resnet6, resnet4), in registration order."""
    return tuple(entry for entry in _REGISTRY.values() if entry.family == name)


def families() -> tuple[Architecture, ...]:
    """The first entry of each family: one per constructor and recogniser, in registration order."""
    first: dict[str, Architecture] = {}
    for entry in _REGISTRY.values():
        first.setdefault(entry.family, entry)
    return tuple(first.values())


def describe_sizes() -> str:
    """Which sides each architecture takes, one clause per rule: resnet9, resnet6: multiples of 4 from 8; ..."""
    names: dict[str, list[str]] = {}
    for entry in _REGISTRY.values():
        names.setdefault(entry.size.describe(), []).append(entry.name)
    return "; ".join(f"{', '.join(named)}: {sides}" for sides, named in names.items())


def generator_choices() -> tuple[str, ...]:
    """The names `--generator` offers."""
    return tuple(entry.name for entry in _REGISTRY.values() if entry.choice)


def check_image_size(name: str, size: int, option: str = "--size") -> None:
    """Refuse a side generator `name` cannot take, with a hint; `option` names the setting in the message."""
    architecture(name).check_image_size(size, option)


def match(family_name: str, found: Mapping[str, Any]) -> Architecture | None:
    """The entry of a family for the constructor keywords its recogniser `found`: the one whose preset they
    fit (the most specific, if several do), or None for a variant that no entry builds (7 blocks)."""
    fitting = [
        entry
        for entry in family(family_name)
        if all(found.get(k, entry.defaults().get(k)) == v for k, v in entry.preset.items())
    ]
    return max(fitting, key=lambda entry: len(entry.preset), default=None)


def check_patchgan_depth(n_layers: int, size: int) -> None:
    """The PatchGAN discriminator has no entry (one layout, `nets.builders.build_discriminator`), but its
    depth has a size rule as well: each of its layers halves the side and its last convs need 3x3."""
    if n_layers and size >> n_layers < 3:
        deepest = next(n for n in range(size.bit_length(), -1, -1) if n == 0 or size >> n >= 3)
        raise ConfigError(
            f"--n-layers-d {n_layers} is too deep for --size {size}: the PatchGAN would shrink it "
            f"to nothing (use at most {deepest})"
        )


@functools.cache
def load(target: str) -> Any:
    """The object an import string "module:name" names."""
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def parameter_types(function: Callable[..., Any]) -> dict[str, tuple[type, ...]]:
    """Each keyword parameter of `function` (of a class: its constructor) with the types its annotation allows."""
    hints = typing.get_type_hints(function.__init__ if isinstance(function, type) else function)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    parameters = inspect.signature(function).parameters.values()
    return {p.name: _allowed(hints[p.name]) for p in parameters if p.kind in kinds}


def _allowed(hint: Any) -> tuple[type, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


# -- the architectures ---------------------------------------------------------------------------


def _resnet(name: str, n_blocks: int, choice: bool = True) -> Architecture:
    """The reference CycleGAN ResNet (and CUT's, with its antialias options): two stride-2 stages, so
    sides are multiples of 4, and its instance norms need 2x2 at the bottleneck, so 8 or more."""
    return Architecture(
        name=name,
        family="resnet",
        title="ResNet generator",
        builder="translate.nets.resnet:ResnetGenerator",
        recogniser="translate.nets.resnet:recognise",
        size=SizeRule(multiple=4, min_side=8),
        method="cyclegan",
        layout="model.1.weight, model.10.conv_block.1.weight, ...",
        preset={"n_blocks": n_blocks, "n_down": 2},
        shape="{n_blocks} residual blocks",
        choice=choice,
        gradient_checkpointing=True,
        candidates="translate.nets.resnet:candidates",
    )


def _unet(name: str, num_downs: int) -> Architecture:
    """The reference pix2pix U-Net: `num_downs` stride-2 stages down to 1x1, so sides are multiples of 2**num_downs."""
    return Architecture(
        name=name,
        family="unet",
        title="U-Net generator",
        builder="translate.nets.unet:UnetGenerator",
        recogniser="translate.nets.unet:recognise",
        size=SizeRule(multiple=2**num_downs, min_side=2**num_downs),
        method="pix2pix",
        layout="model.model.0.weight, model.model.1.model.1.weight, ...",
        preset={"num_downs": num_downs},
        shape="{num_downs} downsamplings",
        unseen={"dropout": "the reference default for this norm"},
        candidates="translate.nets.unet:candidates",
    )


register(_resnet("resnet9", 9))
register(_resnet("resnet6", 6))
register(_unet("unet256", 8))
register(_unet("unet128", 7))
register(_resnet("resnet4", 4, choice=False))  # CUT's resnet_4blocks: not offered for training, but its files load
register(
    Architecture(
        name="discogan",
        family="discogan",
        title="DiscoGAN generator",
        builder="translate.nets.discogan:DiscoGenerator",
        recogniser="translate.nets.discogan:recognise",
        size=SizeRule(fixed=(64, 128), fixed_key="image_size"),
        method="discogan",
        layout="main.0.weight, main.2.weight, ...",
        init="default",  # PyTorch's, as the official code
        choice=False,
    )
)
register(
    Architecture(
        name="srresnet",
        family="srresnet",
        title="SRResNet generator",
        builder="translate.nets.srresnet:SRResNet",
        recogniser="translate.nets.srresnet:recognise",
        size=SizeRule(scale_key="scale"),  # fully convolutional, no strides: any side
        method="srresnet",
        layout="head.0.weight, body.0.body.0.weight, ..., tail.weight",
        init="default",
        after_init="start_at_skip",  # with a bicubic skip, a fresh network is bicubic
        unseen={"skip": "this tool's default, bicubic (none when the channels differ)"},
        choice=False,
    )
)
