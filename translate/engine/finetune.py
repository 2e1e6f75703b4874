"""Start a run from trained weights (`--init`): fine-tuning on new domains, or SRGAN after SRResNet.

Two sources, both read without unpickling:
- a run folder with checkpoints: every network this run shares by name with that run (generators
  and discriminators) is copied from its latest checkpoint. Fine-tuning a GAN goes best with both
  halves trained: a fresh discriminator first undoes what the generator learned.
- an exported model folder (or a finished run without checkpoints): the generators only, matched
  by export name (a2b, b2a, sr, ...); discriminators start fresh.
- a plain generator file (`.pth`/`.safetensors` of the reference CycleGAN/pix2pix code or CUT,
  recognised by translate.zoo): the a2b generator, or b2a for a reference `*G_B*` file.

Only weights move. Optimizers, the step counter and the learning-rate schedule start anew: that is
what separates a fine-tune from `--resume`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safetensors.torch import load_file
from torch import nn

from translate.engine.checkpoint import network_files
from translate.errors import ConfigError
from translate.methods.base import Method
from translate.model_folder import CONFIG, WEIGHTS, read_config
from translate.run_folder import RunFolder, find_models, latest_checkpoint, read_run_settings
from translate.zoo import existing_or_pretrained, load_generator

# The options that decide the shape of a network; named in the message when weights do not fit.
ARCHITECTURE_OPTIONS = ("generator", "ngf", "ndf", "n_layers_d", "norm", "image_size", "scale", "width", "blocks")
ARCHITECTURE_OPTIONS += ("antialias", "antialias_up", "nce_layers", "nce_mlp_width")  # CUT's G, D and heads


def init_networks(method: Method, source: Path) -> list[str]:
    """Copy weights from `source` into `method`'s (not yet prepared) networks; returns the names loaded."""
    if source.is_file():
        return _from_file(method, source)
    source = existing_or_pretrained(source, "--init")
    checkpoint = latest_checkpoint(RunFolder(source).checkpoints)
    if checkpoint is not None:
        return _from_checkpoint(method, source, checkpoint)
    return _from_exports(method, source)


def _from_checkpoint(method: Method, run: Path, checkpoint: Path) -> list[str]:
    files = network_files(checkpoint)
    if not files:
        raise ConfigError(f"--init {run}: checkpoint {checkpoint.name} does not name its networks (an older version)")
    shared = [name for name in method.network_names if name in files]
    if not shared:
        raise ConfigError(
            f"--init {run} has networks {', '.join(files)}, "
            f"none of which this run has ({', '.join(method.network_names)})"
        )
    for name in shared:
        hint = functools.partial(_settings_difference, run, method)  # read only if the weights do not fit
        _load(getattr(method, name), load_file(files[name]), f"--init {run}: network {name}", hint)
    return shared


def _from_exports(method: Method, source: Path) -> list[str]:
    exports = method.exports()
    if (source / CONFIG).is_file():  # one exported model: it must say which of ours it is
        spec = read_config(source)
        name = spec.get("direction") if len(exports) > 1 else next(iter(exports))
        folders = {name: source} if name in exports else {}
    else:
        final, _ = find_models(RunFolder(source).models)
        folders = {name: final[name] for name in exports if name in final}
    if not folders:
        raise ConfigError(
            f"--init {source} is neither a run with checkpoints nor holds a model for {', '.join(exports)}"
        )
    loaded = []
    for name, folder in folders.items():
        net, ours = exports[name]
        theirs = read_config(folder)["generator"]
        if theirs != ours["generator"]:
            raise ConfigError(
                f"--init {folder} does not fit this run: its generator is {_describe(theirs)}, "
                f"this run's is {_describe(ours['generator'])}"
            )
        _load(net, load_file(folder / WEIGHTS), f"--init {folder}")
        loaded.append(name)
    return loaded


def _from_file(method: Method, path: Path) -> list[str]:
    loaded, spec = load_generator(path)
    exports = method.exports()
    name = "b2a" if "b2a" in exports and "G_B" in path.stem else next(iter(exports))
    net, ours = exports[name]
    theirs = spec.get("generator", {})
    if _architecture(theirs) != _architecture(ours["generator"]):
        raise ConfigError(
            f"--init {path} does not fit this run: its generator is {_describe(theirs)}, "
            f"this run's is {_describe(ours['generator'])}"
        )
    _load(net, loaded.state_dict(), f"--init {path}")
    return [name]


def _architecture(generator: dict[str, Any]) -> dict[str, Any]:
    """What decides the weights' shapes: a U-Net's dropout leaves no trace in a file, so it is not compared."""
    return {
        k: v for k, v in generator.items() if not (k == "dropout" and str(generator.get("name")).startswith("unet"))
    }


def _load(net: nn.Module, weights: dict[str, Any], what: str, hint: Callable[[], str] = lambda: "") -> None:
    """load_state_dict, with a one-line error; `hint()` adds what explains a mismatch."""
    try:
        net.load_state_dict(weights)
    except RuntimeError as exc:  # missing, unexpected or differently shaped tensors
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise ConfigError(f"{what} does not fit this run{hint()}: {first}") from None


def _settings_difference(run: Path, method: Method) -> str:
    """' (it has --ngf 64, this run --ngf 32)' from the two runs' saved settings, or '' if unknown."""
    theirs = read_run_settings(run, strict=False).values or {}  # only a hint: an unreadable file gives none
    differences = [
        (f"--{key.replace('_', '-')} {theirs[key]}", f"--{key.replace('_', '-')} {getattr(method.config, key)}")
        for key in ARCHITECTURE_OPTIONS
        if key in theirs and hasattr(method.config, key) and theirs[key] != getattr(method.config, key)
    ]
    if not differences:
        return ""
    return f" (it has {', '.join(t for t, _ in differences)}; this run {', '.join(o for _, o in differences)})"


def _describe(generator: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in generator.items() if key not in ("in_channels", "out_channels"))
