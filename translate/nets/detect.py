"""Recognise a generator from its weights alone, so that plain `.pth` files of the reference
CycleGAN/pix2pix code and of CUT load without being told their architecture.

Everything these generators' shapes depend on is visible in their state dict keys and shapes:
- ResNet (`model.1.weight`, `model.K.conv_block.*`): the number of blocks, ngf (`model.1.weight`
  is ngf x in x 7 x 7), the dropout slot (it moves a block's second conv from index 5 to 6), and
  CUT's anti-aliased resampling (its blurs are `model.K.filt` buffers).
- U-Net (`model.model.0.weight`, blocks nested as `model.model.1.model.3.model...`): the depth.
- Norm, as the reference sets conv biases (`use_bias = norm is InstanceNorm2d`): batch norm has
  weights of its own, instance norm none but its convs carry biases, "none" has neither.
Only U-Net dropout leaves no trace (its Dropout is last in a block, after every weight): the
guess is the reference's defaults, on with batch norm (pix2pix), off otherwise (CycleGAN, CUT).
A candidate is accepted only if a network built from it has exactly the file's keys and shapes.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from translate.errors import ConfigError, DataError
from translate.nets.norms import LEGACY_BUFFERS

TORCH_SUFFIXES = (".pth", ".pt")
SUFFIXES = (*TORCH_SUFFIXES, ".safetensors")
# Dicts that hold a state dict under a key, most specific first: BasicSR-trained SR models
# (Real-ESRGAN, SwinIR, ...; the EMA weights are the published ones), Lightning, plain wrappers.
WRAPPERS = ("params_ema", "params", "state_dict", "model")
_BLOCK = re.compile(r"model\.(\d+)\.conv_block\.")
_FILTER = re.compile(r"model\.(\d+)\.filt$")
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
        from safetensors.torch import load_file

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

    Raises NotAGenerator when no layout we know matches, ConfigError when one looks right but the
    file does not fit it exactly; both one line, naming `source`.
    """
    if "model.model.0.weight" in state:
        spec = _unet(state)
    elif "model.1.weight" in state and any(_BLOCK.match(k) for k in state):
        spec = _resnet(state)
    else:
        raise NotAGenerator(unknown_layout(source, state))
    _check_fits(spec, state, source)
    return spec


def _resnet(state: dict[str, Tensor]) -> dict[str, Any]:
    blocks = sorted({int(m[1]) for k in state if (m := _BLOCK.match(k))})
    filters = [int(m[1]) for k in state if (m := _FILTER.match(k))]
    last = max(int(m[1]) for k in state if (m := _WEIGHT.match(k)))
    ngf, in_channels = state["model.1.weight"].shape[:2]
    spec: dict[str, Any] = {
        "name": f"resnet{len(blocks)}",
        "in_channels": int(in_channels),
        "out_channels": int(state[f"model.{last}.weight"].shape[0]),
        "ngf": int(ngf),
        "norm": _norm(state, conv="model.1", norm="model.2"),
        "dropout": f"model.{blocks[0]}.conv_block.5.weight" not in state,  # with dropout, 5 is the second pad
    }
    down, up = any(i < blocks[0] for i in filters), any(i > blocks[-1] for i in filters)
    if down:
        spec["antialias"] = True
    if up != down:
        spec["antialias_up"] = up
    return spec


def _unet(state: dict[str, Tensor]) -> dict[str, Any]:
    depth, prefix = 1, "model.model.1.model."  # the outermost block, then each nested one
    while any(k.startswith(prefix) for k in state):
        depth, prefix = depth + 1, prefix + "3.model."
    ngf, in_channels = state["model.model.0.weight"].shape[:2]
    norm = _norm(state, conv="model.model.0", norm="model.model.1.model.2")
    return {
        "name": f"unet{2**depth}",
        "in_channels": int(in_channels),
        "out_channels": int(state["model.model.3.weight"].shape[1]) if "model.model.3.weight" in state else 0,
        "ngf": int(ngf),
        "norm": norm,
        "dropout": norm == "batch",  # invisible in the weights: the reference defaults (pix2pix)
    }


def _norm(state: dict[str, Tensor], conv: str, norm: str) -> str:
    if f"{norm}.weight" in state:
        return "batch"
    return "instance" if f"{conv}.bias" in state else "none"


def _check_fits(spec: dict[str, Any], state: dict[str, Tensor], source: str) -> None:
    """Build the candidate without memory (meta tensors) and compare every key and shape."""
    from translate.nets.builders import build_generator
    from translate.nets.sizes import size_multiple

    kind = "ResNet" if spec["name"].startswith("resnet") else "U-Net"
    try:
        size_multiple(spec["name"])  # a known name
    except ConfigError:
        depth = spec["name"].removeprefix("resnet").removeprefix("unet")
        what = f"{depth} residual blocks" if kind == "ResNet" else f"inputs of {depth} px ({spec['name']})"
        raise ConfigError(f"{source} is a {kind} generator with {what}, which this tool does not build") from None
    with torch.device("meta"):
        own = build_generator(**spec).state_dict()
    problem = next((f"no {k}" for k in own if k not in state), None)
    problem = problem or next((f"an unexpected {k}" for k in state if k not in own), None)
    problem = problem or next(
        (f"{k} is {tuple(v.shape)}, not {tuple(own[k].shape)}" for k, v in state.items() if v.shape != own[k].shape),
        None,
    )
    if problem:
        raise ConfigError(f"{source} looks like a {kind} generator ({spec['name']}) but does not fit it: {problem}")


def unknown_layout(source: str, state: dict[str, Tensor] | None = None) -> str:
    """The one-line refusal of a file no loader recognises, saying what would have been recognised."""
    hint = " (it looks like a PatchGAN discriminator)" if state and _is_patchgan(state) else ""
    if importlib.util.find_spec("spandrel") is None:
        sr = "an SR architecture spandrel detects (pip install 'translate-gan[sr]')"
    else:
        sr = "an SR architecture spandrel detects (ESRGAN, Real-ESRGAN, SwinIR, ...)"
    return (
        f"{source} is not a generator state dict this tool knows{hint}: expected the reference "
        "CycleGAN/pix2pix ResNet or U-Net layout (keys model.1.weight, model.10.conv_block.1.weight, ... "
        f"or model.model.0.weight, ...), or {sr}"
    )


def _is_patchgan(state: dict[str, Tensor]) -> bool:
    """NLayerDiscriminator: 4x4 convs in `model.K`, the last one down to a single channel of logits."""
    convs = {int(m[1]): v for k, v in state.items() if (m := _WEIGHT.match(k)) and v.ndim == 4}
    return bool(convs) and 0 in convs and convs[0].shape[-1] == 4 and convs[max(convs)].shape[0] == 1
