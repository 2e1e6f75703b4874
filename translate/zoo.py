"""One loader for every generator a user can point at: `load_generator` -> (network, spec).

(`translate.load_model` is the user-facing API on top: it wraps the result in the runner.)

- a model folder (`model.safetensors` + `config.json`, see translate/model_folder.py);
- a run folder, picking the model of a direction from its `models/`;
- the name of a downloaded pretrained model (`translate weights list`);
- a plain state dict file (`.pth`/`.pt`, read with `weights_only=True`, or `.safetensors`): a
  generator of the reference CycleGAN/pix2pix code, of CUT or of any registered architecture,
  recognised from its keys and shapes (translate/nets/detect.py), else a super-resolution model that spandrel recognises
  (translate/nets/external_sr.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from translate.errors import ConfigError
from translate.model_folder import CONFIG, WEIGHTS, is_model_folder, read_config
from translate.nets.builders import build_generator
from translate.nets.detect import (
    SUFFIXES,
    NotAGenerator,
    clean_state_dict,
    detect_generator,
    match_layout,
    read_state_dict,
)
from translate.nets.external_sr import load_external_sr
from translate.nets.norms import load_state_dict_compat
from translate.nets.registry import architecture
from translate.pretrained import resolve
from translate.run_folder import RunFolder, find_models

__all__ = ["existing_or_pretrained", "find_model_folder", "load_generator"]


def existing_or_pretrained(path: Path, what: str) -> Path:
    """`path` if it exists, else the folder of the downloaded pretrained model of that name.

    A name that is known but not downloaded raises the error that says how to get it; `what`
    ("model", "--init") names the option in the error for anything else.
    """
    if path.exists():
        return path
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
    run = RunFolder(path)
    if run.models.is_dir():
        # models/best (evaluation while training) is picked by its own path, never in place of the final model
        final, _ = find_models(run.models)
        available = sorted(final)
        if not available:
            best = f"; the best evaluated so far is in {run.best}" if run.best.is_dir() else ""
            raise ConfigError(f"run {path} has no exported model yet (it exports when training finishes){best}")
        if direction is None:
            if len(available) == 1:
                return final[available[0]]
            raise ConfigError(f"run {path} has several models ({', '.join(available)}): pick one with --direction")
        if direction not in available:
            raise ConfigError(f"run {path} has no {direction} model (it has: {', '.join(available)})")
        return final[direction]
    if path.is_file():
        raise ConfigError(f"{path} is not a weights file this tool reads (it reads {', '.join(SUFFIXES)})")
    raise ConfigError(f"{path} is neither a model folder (with {CONFIG}) nor a run folder (with models/)")


def load_generator(
    source: str | Path, direction: str | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Any generator a user can name (see the module doc), in eval mode on `device`; returns
    (network, its config). `direction` picks the model of a run folder, or of a file holding several
    generators (G_A, G_B: a2b picks G_A)."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() in SUFFIXES:
        if path.name == WEIGHTS and is_model_folder(path.parent):  # the weights of a model folder
            net, spec = _load_folder(path.parent)
        else:
            net, spec = load_weights_file(path, direction)
    else:
        net, spec = _load_folder(find_model_folder(path, direction))
    return net.to(device).eval(), spec


def _load_folder(folder: Path) -> tuple[nn.Module, dict[str, Any]]:

    spec = read_config(folder)  # refused before anything is allocated if malformed, unknown or absurd
    net = build_generator(**spec["generator"])
    try:
        state = load_file(folder / WEIGHTS)
    except Exception as exc:  # safetensors' own errors: a truncated or foreign file
        raise ConfigError(f"{folder / WEIGHTS} is not a readable safetensors file ({exc})") from None
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[1:2] or [str(exc)]
        raise ConfigError(f"{folder}: its weights do not fit its config.json ({first[0].strip()})") from None
    return net, spec


def load_weights_file(path: Path, direction: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A plain state dict: a reference/CUT generator, else one of our generators under other key names
    (matched by shape, `detect.match_layout`), else an SR model spandrel knows."""
    raw = read_state_dict(path, direction)
    state = clean_state_dict(raw)
    mapping: list[str] = []
    try:
        generator = detect_generator(state, str(path))
    except NotAGenerator:
        try:
            generator, state, mapping = match_layout(state, str(path))
        except NotAGenerator:
            loaded = load_external_sr(raw, path)  # spandrel canonicalises the raw dict its own way
            if loaded is None:
                raise
            return loaded
    net = build_generator(**generator)
    load_state_dict_compat(net, state)
    spec = detected_spec(generator, path)
    if mapping:
        spec["mapping"] = mapping  # for `translate inspect`; not a setting of the model
    return net, spec


def detected_spec(generator: dict[str, Any], path: Path) -> dict[str, Any]:
    """What an exported model's config.json would say, guessed from the architecture's registry entry: the
    method it runs as (a U-Net is pix2pix's, a ResNet CycleGAN's or CUT's: they run the same way), and
    what that needs beside the generator (DiscoGAN's one size, an upscaler's scale)."""
    entry = architecture(generator["name"])
    spec = {"method": entry.method, "generator": generator, "source": str(path), "detected": True}
    spec |= entry.model_settings(generator)
    if entry.method == "pix2pix" and generator.get("norm") == "batch" and generator.get("dropout"):
        spec["eval_mode"] = False  # as the reference test.py runs pix2pix: dropout and batch statistics on
    return spec
