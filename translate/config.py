"""Run settings as dataclasses: one source of truth for CLI options, config files and saved runs.

Each field's `metadata` carries its CLI help (and `choices` where the value is one of a set), so the
CLI is generated from these classes and never drifts from them. This module imports nothing heavy:
the CLI reads it at start-up.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from translate.errors import ConfigError
from translate.nets.sizes import GENERATORS as GENERATOR_CHOICES

NORM_CHOICES = ("instance", "batch", "none")
GAN_LOSS_CHOICES = ("vanilla", "lsgan", "hinge", "wgangp")
PRECISION_CHOICES = ("no", "fp16", "bf16")


def option(default: Any, help: str, choices: tuple[str, ...] | None = None, **extra: Any) -> Any:
    """A dataclass field that also describes its CLI option."""
    return field(default=default, metadata={"help": help, "choices": choices, **extra})


@dataclass(kw_only=True)
class TrainConfig:
    """What the engine needs, whatever the method: run folder, length, logging, precision."""

    panel = "Training run"

    out: Path = option(Path("runs/run"), "Run folder: checkpoints, samples, logs and exported models.")
    steps: int | None = option(None, "Training steps (batches). Overrides --epochs.")
    epochs: int | None = option(None, "Passes over the larger domain, if --steps is not given.")
    batch_size: int = option(1, "Images per batch and process.")
    lr: float = option(2e-4, "Adam learning rate.")
    beta1: float = option(0.5, "Adam beta1.")
    beta2: float = option(0.999, "Adam beta2.")
    decay_from: float = option(0.5, "Fraction of training after which the learning rate decays linearly to 0.")
    seed: int = option(0, "Random seed: same seed, same data order, crops and initial weights.")
    workers: int = option(2, "Data loader worker processes.")
    save_every: int = option(1000, "Write a resumable checkpoint every N steps.")
    keep_checkpoints: int = option(2, "How many recent checkpoints to keep.")
    sample_every: int = option(500, "Save a sample grid (and refresh losses.png) every N steps.")
    log_every: int = option(10, "Append averaged losses to log.jsonl every N steps.")
    mixed_precision: str = option("no", "Mixed precision (fp16 or bf16 need a GPU).", PRECISION_CHOICES)
    resume: bool = option(False, "Continue the run in --out from its latest checkpoint.")

    default_epochs = 200  # the papers' 100 + 100 decay epochs, when neither --steps nor --epochs is given

    @property
    def method(self) -> str:
        return METHOD_OF_CONFIG[type(self).__name__]

    def validate(self) -> None:
        """Raise ConfigError for settings that cannot work (checked before anything heavy starts)."""
        for name in ("batch_size", "save_every", "sample_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("steps", "epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name} must be at least 1")
        if self.workers < 0:
            raise ConfigError("--workers cannot be negative")
        if not 0.0 <= self.decay_from <= 1.0:
            raise ConfigError("--decay-from must be between 0 and 1")


@dataclass(kw_only=True)
class ImageTranslationConfig(TrainConfig):
    """Settings shared by the methods built on the reference CycleGAN/pix2pix networks."""

    panel = "Data and networks"

    size: int = option(256, "Crop size fed to the networks.")
    load_size: int = option(286, "Images are resized to this square size before random cropping.")
    flip: bool = option(True, "Random horizontal flips.")
    generator: str = option("resnet9", "Generator architecture.", GENERATOR_CHOICES)
    ngf: int = option(64, "Generator width (filters in the first layer).")
    ndf: int = option(64, "Discriminator width (filters in the first layer).")
    n_layers_d: int = option(3, "PatchGAN depth: 3 gives 70x70 patches.")
    norm: str = option("instance", "Normalisation layers.", NORM_CHOICES)
    gan_loss: str = option("lsgan", "Adversarial loss.", GAN_LOSS_CHOICES)

    def validate(self) -> None:
        super().validate()
        if self.load_size < self.size:
            raise ConfigError(f"--load-size {self.load_size} is smaller than --size {self.size}")
        from translate.nets.sizes import check_image_size

        check_image_size(self.generator, self.size)


@dataclass(kw_only=True)
class CycleGANConfig(ImageTranslationConfig):
    """CycleGAN (Zhu et al. 2017): two generators, two discriminators, cycle consistency."""

    panel = "CycleGAN"

    a: str | None = option(None, "Domain A: an image folder or a built-in domain name.", required=True)
    b: str | None = option(None, "Domain B: an image folder or a built-in domain name.", required=True)
    lambda_cycle: float = option(10.0, "Weight of the cycle-consistency L1 loss.")
    lambda_identity: float = option(0.5, "Weight of the identity loss, relative to --lambda-cycle (0 turns it off).")
    pool_size: int = option(50, "Past fakes kept to show the discriminators (0 turns the pool off).")


METHOD_CONFIGS: dict[str, type[TrainConfig]] = {"cyclegan": CycleGANConfig}
METHOD_OF_CONFIG = {cls.__name__: name for name, cls in METHOD_CONFIGS.items()}

C = TypeVar("C", bound=TrainConfig)


def config_fields(cls: type[TrainConfig]) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain, JSON/YAML-friendly settings, with the method name first."""
    values = {f.name: getattr(config, f.name) for f in config_fields(type(config))}
    return {"method": config.method} | {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


def from_dict(cls: type[C], values: dict[str, Any]) -> C:
    """Build a config from plain values, refusing unknown keys (a typo must not be ignored silently)."""
    values = {k.replace("-", "_"): v for k, v in values.items() if k != "method"}
    known = {f.name: f for f in config_fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s) for {cls.__name__}: {', '.join(unknown)}")
    coerced = {k: Path(v) if k == "out" and v is not None else v for k, v in values.items()}
    return cls(**coerced)


def read_settings(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON settings file into a dict."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise ConfigError(f"config file {path} could not be parsed: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of option names to values")
    return data


def save_settings(config: TrainConfig, path: Path) -> None:
    """Write the effective settings of a run as YAML (atomically)."""
    import yaml

    from translate.atomic import write_text

    write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
