"""Recognise a generator from its weights alone, so that plain `.pth` files of the reference
CycleGAN/pix2pix code and of CUT (and bare weights of our own models) load without being told their
architecture.

Each family of the registry (translate/nets/registry.py) has a recogniser beside its network
(`resnet.recognise`, ...) that reads the constructor's keywords from the keys and shapes, or says the
layout is not its own; the registry then names the entry those keywords fit. What no weight shows
(a U-Net's dropout, SRResNet's skip) is guessed, and each entry says how (`Architecture.unseen`). A
candidate is accepted only if a network built from it has exactly the file's keys and shapes.

Files of other implementations of the same networks (other module names, affine instance norm, biases
present or absent) have keys no recogniser reads: `match_layout` then pairs the file's tensors, in
order, with the parameters of each family's candidate networks (`Architecture.candidates`) by shape
and role (weight, bias, running statistics), and accepts a candidate only if it alone fits every tensor.
State dicts nested in a checkpoint dict and half-precision tensors are read as well (as fp32).
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
# Names of generators in a checkpoint dict holding several networks ({"G_A": ..., "D_A": ...}).
_GENERATOR_KEY = re.compile(r"^(net_?)?(G|gen|generator)(_?[AB]|_?(a2b|b2a|AB|BA))?$", re.IGNORECASE)
# The roles a key's last part names; a tensor of a foreign file only pairs with a parameter of the same one.
ROLES = ("weight", "bias", "running_mean", "running_var")


class NotAGenerator(ConfigError):
    """The keys match no layout we build (another kind of file may still know it: spandrel)."""


def read_state_dict(path: str | Path, direction: str | None = None) -> dict[str, Tensor]:
    """The named tensors in a `.pth`/`.pt` (loaded with weights_only: nothing else is unpickled) or
    `.safetensors` file, unwrapped from a dict that carries them under one of WRAPPERS or under the one
    generator's name (G_A, netG, ...); of several generators, `direction` a2b picks the A one, b2a the B one."""
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
    state = _unwrap(loaded, str(path), direction)
    if state is None:
        raise DataError(f"{path} is not a state dict: it holds {_describe(loaded)}, not named tensors")
    return state


def _unwrap(loaded: Any, source: str, direction: str | None = None) -> dict[str, Tensor] | None:
    if _is_state_dict(loaded):
        return dict(loaded)
    if not isinstance(loaded, dict):
        return None
    for key in WRAPPERS:
        if _is_state_dict(loaded.get(key)):
            return dict(loaded[key])
        if isinstance(loaded.get(key), dict) and _is_state_dict(inner := _unwrap(loaded[key], source, direction)):
            return inner
    nested = [key for key, value in loaded.items() if _is_state_dict(value)]
    generators = [key for key in nested if isinstance(key, str) and _GENERATOR_KEY.match(key)]
    if len(nested) == 1 or len(generators) == 1:
        return dict(loaded[generators[0] if generators else nested[0]])
    if direction and len(generators) > 1:
        side = "a" if direction == "a2b" else "b"
        chosen = [key for key in generators if key.lower().endswith((f"_{side}", f"g{side}", direction))]
        if len(chosen) == 1:
            return dict(loaded[chosen[0]])
    if len(generators) > 1:
        raise ConfigError(
            f"{source} holds several generators ({', '.join(generators)}): pick one with --direction "
            "(a2b: the A one, b2a: the B one)"
        )
    if nested:
        raise ConfigError(
            f"{source} holds several state dicts ({', '.join(map(str, nested))}) and none is named as a generator"
        )
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
    """Strip DataParallel's `module.` prefixes (CUT saves them), widen half-precision tensors (fp16, bf16)
    to fp32 (the networks run in fp32 unless told otherwise) and drop the running statistics of layers
    without an affine weight: the InstanceNorm buffers of files from PyTorch < 0.4. Batch norm
    statistics (beside a `weight`) stay."""
    stripped = {}
    for key, value in state.items():
        while key.startswith("module."):
            key = key.removeprefix("module.")
        stripped[key] = value.float() if value.is_floating_point() and value.dtype != torch.float64 else value
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


def match_layout(state: dict[str, Tensor], source: str) -> tuple[dict[str, Any], dict[str, Tensor], list[str]]:
    """For a (cleaned) state dict whose keys no recogniser reads: the generator it is, found by pairing its
    tensors in order with each candidate network's parameters (same shape, same role where the key names
    one), the file's tensors renamed to that network's keys, and the mapping used ("file key -> our key").

    Accepted only if exactly one candidate fits every tensor; where key names cannot tell two apart (no
    norm parameters: instance norm with conv biases, or none without), the reference's convention decides.
    Raises NotAGenerator (naming the first tensor that fit no candidate) or ConfigError (ambiguous).
    """
    tensors = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    convs = [tuple(v.shape) for _, v in tensors if v.ndim == 4]
    fits: list[tuple[dict[str, Any], list[str], list[str]]] = []  # spec, its paired keys, its counters
    closest = (-1, f"no network this tool builds has its {len(convs)} convolutions")
    for first in families():
        if not first.candidates or not convs:
            continue
        for found in load(first.candidates)(convs):
            entry = match(first.family, found)
            if entry is None:
                continue
            spec = {"name": entry.name} | {k: v for k, v in found.items() if k not in entry.preset}
            try:
                with torch.device("meta"):
                    own = build_generator(**spec).state_dict()
            except (ConfigError, TypeError, ValueError, RuntimeError):  # a shape the constructor refuses
                continue
            keys = [k for k in own if not k.endswith("num_batches_tracked")]
            fitted, problem = _pair(tensors, keys, own)
            if problem is None:
                fits.append((spec, keys, [k for k in own if k not in keys]))
            elif fitted > closest[0]:
                closest = (fitted, f"as a {entry.title} ({entry.name}), {problem}")
    conventional = [fit for fit in fits if "bias" not in fit[0]]
    fits = conventional if len(conventional) == 1 else fits
    if not fits:
        raise NotAGenerator(f"{unknown_layout(source, state)}; matched in order by shape, {closest[1]}")
    if len(fits) > 1:
        named = "; ".join(_spec_text(spec) for spec, _, _ in fits)
        raise ConfigError(f"{source} fits several generators by the shapes of its tensors ({named}): refused")
    spec, keys, counters = fits[0]
    renamed = {ours: value for ours, (_, value) in zip(keys, tensors, strict=True)}
    renamed |= {k: torch.zeros((), dtype=torch.long) for k in counters}  # batch norm's, unused in eval
    mapping = [f"{theirs} -> {ours}" for ours, (theirs, _) in zip(keys, tensors, strict=True)]
    return spec, renamed, mapping


def _pair(tensors: list[tuple[str, Tensor]], keys: list[str], own: dict[str, Tensor]) -> tuple[int, str | None]:
    """How many of the file's tensors pair with the network's parameters in order, and the first that does not."""
    for index, (theirs, value) in enumerate(tensors):
        if index >= len(keys):
            return index, f"tensor {index + 1} {theirs} {tuple(value.shape)} is one more than it has ({len(keys)})"
        ours = keys[index]
        role, own_role = theirs.rsplit(".", 1)[-1], ours.rsplit(".", 1)[-1]
        if value.shape != own[ours].shape or (role in ROLES and role != own_role):
            return index, (
                f"tensor {index + 1} {theirs} {tuple(value.shape)} did not fit {ours} {tuple(own[ours].shape)}"
            )
    if len(tensors) < len(keys):
        return len(tensors), f"the file ends after {len(tensors)} tensors, before {keys[len(tensors)]}"
    return len(tensors), None


def _spec_text(spec: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in spec.items())


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
