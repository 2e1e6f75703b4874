"""Self-describing model folders: `model.safetensors` + `config.json`, as diffusers' save_pretrained.

`config.json` holds everything needed to rebuild the generator (`generator`: the keyword arguments
of `translate.nets.build_generator`) and to use it (method, direction, training size, domains).
`load_model` accepts such a folder, a run folder (picking the model for a direction), or a plain
state dict of the reference CycleGAN/pix2pix code (`.pth`, loaded with `weights_only=True`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from translate.atomic import atomic_dir
from translate.errors import ConfigError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_model(net: nn.Module, spec: dict[str, Any], folder: Path) -> None:
    """Write `net`'s weights and `spec` into `folder`, replacing it atomically."""
    from translate import __version__

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_dir(folder) as tmp:
        save_file(state, tmp / WEIGHTS)
        (tmp / CONFIG).write_text(json.dumps(spec | {"translate_version": __version__}, indent=2) + "\n")


def existing_or_pretrained(path: Path, what: str) -> Path:
    """`path` if it exists, else the folder of the downloaded pretrained model of that name.

    A name that is known but not downloaded raises the error that says how to get it; `what`
    ("model", "--init") names the option in the error for anything else.
    """
    if path.exists():
        return path
    from translate.pretrained import resolve

    named = resolve(str(path))
    if named is None:
        raise ConfigError(f"{what} {path} does not exist (nor is it a name from `translate weights list`)")
    return named


def find_model_folder(path: Path, direction: str | None = None) -> Path:
    """Resolve a model folder, a run folder plus a direction, or the name of a downloaded pretrained
    model (`translate weights list`) to the folder holding the weights."""
    path = existing_or_pretrained(path, "model")
    if (path / CONFIG).is_file():
        return path
    models = path / "models"
    if models.is_dir():
        available = sorted(p.name for p in models.iterdir() if (p / CONFIG).is_file())
        if not available:
            raise ConfigError(f"run {path} has no exported model yet (it exports when training finishes)")
        if direction is None:
            if len(available) == 1:
                return models / available[0]
            raise ConfigError(f"run {path} has several models ({', '.join(available)}): pick one with --direction")
        if direction not in available:
            raise ConfigError(f"run {path} has no {direction} model (it has: {', '.join(available)})")
        return models / direction
    raise ConfigError(f"{path} is neither a model folder (with {CONFIG}) nor a run folder (with models/)")


def load_model(path: Path, direction: str | None = None, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild an exported generator in eval mode; returns (network, its config)."""
    from translate.nets.builders import build_generator

    folder = find_model_folder(Path(path), direction)
    spec = json.loads((folder / CONFIG).read_text())
    net = build_generator(**spec["generator"])
    net.load_state_dict(load_file(folder / WEIGHTS))
    return net.to(device).eval(), spec


def load_reference_generator(path: Path, generator: dict[str, Any]) -> nn.Module:
    """Load a generator `.pth` published by the reference CycleGAN/pix2pix code (a plain state dict)."""
    from translate.nets.builders import build_generator, load_state_dict_compat

    state = torch.load(path, map_location="cpu", weights_only=True)
    net = build_generator(**generator)
    load_state_dict_compat(net, state)
    return net.eval()
