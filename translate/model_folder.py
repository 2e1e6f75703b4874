"""The self-describing model folder, `model.safetensors` + `config.json` (as diffusers' save_pretrained).

Its own module because both `zoo` (which loads every kind of model) and `pretrained` (which
stores downloads as such folders, and which `zoo` resolves names with) need it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

from translate.atomic import atomic_dir
from translate.errors import ConfigError
from translate.nets.builders import generator_settings
from translate.nets.registry import BOUNDS, architecture
from translate.version import __version__

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def is_model_folder(path: Path) -> bool:
    return (path / CONFIG).is_file() and (path / WEIGHTS).is_file()


def save_model(net: nn.Module, spec: dict[str, Any], folder: Path) -> None:
    """Write `net`'s weights and `spec` into `folder`, replacing it atomically."""

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_dir(folder) as tmp:
        save_file(state, tmp / WEIGHTS)
        (tmp / CONFIG).write_text(json.dumps(spec | {"translate_version": __version__}, indent=2) + "\n")


# -- reading a config.json that may come from anywhere ------------------------------------------

# Top-level keys of config.json that this version writes or understands.
KNOWN_KEYS = frozenset(
    {"method", "generator", "size", "direction", "a", "b", "data", "eval_mode", "fixed_size", "scale", "hr_size"}
    | {"translate_version", "pretrained", "source", "detected", "step", "metric", "metrics", "init_type", "init_gain"}
    | {"mapping"}  # how a foreign file's keys were matched (informational, `translate inspect`)
    | {"purpose", "tags", "architecture", "size_multiple", "hr", "skip", "sr_skip"}
    | {"colorization"}  # pix2pix trained grey -> colour (the channels themselves are the generator's)
)


def read_config(folder: Path) -> dict[str, Any]:
    """The config.json of a model folder, checked: one clear line for anything malformed, unknown or absurd."""
    path = folder / CONFIG
    try:
        spec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not a readable config.json ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("generator"), dict):
        raise ConfigError(f'{path} has no "generator" settings: it is not a model folder\'s config.json')
    unknown = sorted(set(spec) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{path} has unknown settings {', '.join(unknown)} (written by another tool or version?)")
    check_generator_args(spec["generator"], str(path))
    return spec


def check_generator_args(generator: dict[str, Any], where: str) -> None:
    """Refuse unknown keywords, wrong types and absurd sizes in a generator's settings: the keywords and
    types are those `build_generator` and the architecture's constructor declare, the sizes within BOUNDS."""
    name = generator.get("name")
    try:
        architecture(name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    allowed = generator_settings(name)
    for key, value in generator.items():
        if key not in allowed:
            raise ConfigError(f"{where}: generator {name} takes no setting {key!r}")
        if not _fits(value, allowed[key]):
            kinds = " or ".join("None" if kind is type(None) else kind.__name__ for kind in allowed[key])
            raise ConfigError(f"{where}: generator setting {key} = {value!r} should be a {kinds}")
        low, high = BOUNDS.get(key, (None, None))
        if low is not None and value is not None and not low <= value <= high:
            raise ConfigError(f"{where}: generator setting {key} = {value} is outside {low}..{high}")


def _fits(value: Any, kinds: tuple[type, ...]) -> bool:
    """JSON's view of Python types: true is no int, an int is a float."""
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)
