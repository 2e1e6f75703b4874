"""Recognise a generator from its weights alone, so that plain `.pth` files of the reference
CycleGAN/pix2pix code and of CUT (and bare weights of our own models) load without being told their
architecture.

Each family of the registry (translate/nets/registry.py) has a recogniser beside its network
(`resnet.recognise`, ...) that reads the constructor's keywords from the keys and shapes, or says the
layout is not its own; the registry then names the entry those keywords fit. What no weight shows
(a U-Net's dropout, SRResNet's skip) is guessed, and each entry says how (`Architecture.unseen`). A
candidate is accepted only if a network built from it has exactly the file's keys and shapes.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor

from translate.errors import ConfigError, DataError
from translate.nets.builders import build_generator
from translate.nets.norms import LEGACY_BUFFERS
from translate.nets.registry import Architecture, families, load, match

TORCH_SUFFIXES = (".pth", ".pt")
SUFFIXES = (*TORCH_SUFFIXES, ".safetensors")
# Dicts that hold a state dict under a key, most specific first: BasicSR-trained SR models
# (Real-ESRGAN, SwinIR, ...; the EMA weights are the published ones), Lightning, plain wrappers.
WRAPPERS = ("params_ema", "params", "state_dict", "model")
_WEIGHT = re.compile(r"model\.(\d+)\.weight$")


class NotAGenerator(ConfigError):
    """The keys match no layout we build (another kind of file may still know it: spandrel)."""


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The named tensors in a `.pth`/`.pt` (loaded with weights_only: nothing else is unpickled) or
    `.safetensors` file, unwrapped from a dict that carries them under one of WRAPPERS."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    if suffix not in SUFFIXES:
        raise ConfigError(f"{path}: weights files must end in {', '.join(SUFFIXES)}")
    if suffix == ".safetensors":
        try:
            return load_file(path, device="cpu")
        except Exception as exc:  # truncated, not safetensors at all, ...
            raise DataError(f"{path} is not a readable safetensors file ({_first_line(exc)})") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f" ({found[1]})" if found else ""
        raise DataError(
            f"{path} holds Python objects besides weights{what}; refused without running them "
            "(only plain state dicts are loaded)"
        ) from None
    except Exception as exc:  # not a torch file, truncated, ...
        raise DataError(f"{path} is not a readable PyTorch weights file ({_first_line(exc)})") from None
    state = _unwrap(loaded)
    if state is None:
        raise DataError(f"{path} is not a state dict: it holds {_describe(loaded)}, not named tensors")
    return state


def _unwrap(loaded: Any) -> dict[str, Tensor] | None:
    if _is_state_dict(loaded):
        return dict(loaded)
    if isinstance(loaded, dict):
        for key in WRAPPERS:
            if _is_state_dict(loaded.get(key)):
                return dict(loaded[key])
    return None


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, Tensor) for v in value.values())


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(str(k) for k in list(value)[:5])
        return f"a dict with keys {keys}{', ...' if len(value) > 5 else ''}" if value else "an empty dict"
    return f"a {type(value).__name__}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def clean_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Strip DataParallel's `module.` prefixes (CUT saves them) and drop the running statistics of
    layers without an affine weight: the InstanceNorm buffers of files from PyTorch < 0.4. Batch
    norm statistics (beside a `weight`) stay."""
    stripped = {}
    for key, value in state.items():
        while key.startswith("module."):
            key = key.removeprefix("module.")
        stripped[key] = value
    return {
        k: v
        for k, v in stripped.items()
        if not (k.endswith(LEGACY_BUFFERS) and f"{k.rsplit('.', 1)[0]}.weight" not in stripped)
    }


def detect_generator(state: dict[str, Tensor], source: str = "the state dict") -> dict[str, Any]:
    """`translate.nets.builders.build_generator`'s keyword arguments for a (cleaned) state dict.

    Raises NotAGenerator when no registered layout matches, ConfigError when one looks right but the
    file does not fit it exactly; both one line, naming `source`.
    """
    for first in families():
        found = load(first.recogniser)(state)
        if found is None:
            continue
        entry = match(first.family, found)
        if entry is None:
            raise ConfigError(
                f"{source} is a {first.title} with {first.shape.format(**found)}, which this tool does not build"
            )
        spec = {"name": entry.name} | {k: v for k, v in found.items() if k not in entry.preset}
        _check_fits(entry, spec, state, source)
        return spec
    raise NotAGenerator(unknown_layout(source, state))


def _check_fits(entry: Architecture, spec: dict[str, Any], state: dict[str, Tensor], source: str) -> None:
    """Build the candidate without memory (meta tensors) and compare every key and shape."""
    looks = f"{source} looks like a {entry.title} ({entry.name}) but does not fit it"
    try:
        with torch.device("meta"):
            own = build_generator(**spec).state_dict()
    except ConfigError as exc:  # read settings the constructor refuses (a DiscoGAN of 256 px)
        raise ConfigError(f"{looks}: {exc}") from None
    problem = next((f"no {k}" for k in own if k not in state), None)
    problem = problem or next((f"an unexpected {k}" for k in state if k not in own), None)
    problem = problem or next(
        (f"{k} is {tuple(v.shape)}, not {tuple(own[k].shape)}" for k, v in state.items() if v.shape != own[k].shape),
        None,
    )
    if problem:
        raise ConfigError(f"{looks}: {problem}")


def unknown_layout(source: str, state: dict[str, Tensor] | None = None) -> str:
    """The one-line refusal of a file no loader recognises, saying what would have been recognised."""
    hint = " (it looks like a PatchGAN discriminator)" if state and _is_patchgan(state) else ""
    if importlib.util.find_spec("spandrel") is None:
        sr = "an SR architecture spandrel detects (pip install 'translate-gan[sr]')"
    else:
        sr = "an SR architecture spandrel detects (ESRGAN, Real-ESRGAN, SwinIR, ...)"
    layouts = "; ".join(f"{entry.title}: {entry.layout}" for entry in families())
    return f"{source} is not a generator state dict this tool knows{hint}: expected the layout of a {layouts}; or {sr}"


def _is_patchgan(state: dict[str, Tensor]) -> bool:
    """NLayerDiscriminator: 4x4 convs in `model.K`, the last one down to a single channel of logits."""
    convs = {int(m[1]): v for k, v in state.items() if (m := _WEIGHT.match(k)) and v.ndim == 4}
    return bool(convs) and 0 in convs and convs[0].shape[-1] == 4 and convs[max(convs)].shape[0] == 1
