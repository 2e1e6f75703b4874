"""Super-resolution files of the wider ecosystem (ESRGAN, Real-ESRGAN, SwinIR, ... whatever spandrel
detects), run like our own upscalers: `translate convert --model RealESRGAN_x4plus.pth`.

spandrel (`pip install 'translate-gan[sr]'`) recognises the architecture from the state dict and
builds it. We hand it tensors we read ourselves with `weights_only=True`, never the file (its
loader has its own unpickler). Its models take and return images in [0, 1]; ours use [-1, 1],
so the wrapper converts on the way in and out. Padding to the sizes a model needs (SwinIR's
windows, ...) and clamping are done by spandrel's call.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from translate.errors import ConfigError

METHOD = "external-sr"


class ExternalSR(nn.Module):
    """A spandrel image model as one of our upscalers: NCHW in [-1, 1] -> NCHW x `scale` in [-1, 1]."""

    def __init__(self, descriptor: Any) -> None:
        super().__init__()
        self.model = descriptor.model  # a submodule, so .to(), .eval() and parameters() reach it
        self._descriptor = descriptor
        self.scale = int(descriptor.scale)

    def forward(self, x: Tensor) -> Tensor:
        return self._descriptor((x + 1) * 0.5) * 2 - 1


def spandrel_available() -> bool:
    return importlib.util.find_spec("spandrel") is not None


def load_external_sr(state: dict[str, Tensor], source: str | Path) -> tuple[nn.Module, dict[str, Any]] | None:
    """(model, spec) for a state dict spandrel recognises; None if it does not or is not installed.

    A model spandrel recognises but we cannot run (inpainting, non-RGB) is a one-line ConfigError.
    """
    if not spandrel_available():
        return None
    import spandrel  # lazy: optional extra 'sr'

    try:
        descriptor = spandrel.ModelLoader("cpu").load_from_state_dict(spandrel.canonicalize_state_dict(state))
    except spandrel.UnsupportedModelError:
        return None
    except Exception as exc:  # recognised, but its weights do not fit what spandrel built
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{source} looks like a model spandrel knows, but it fails to load: {first}") from None
    name = descriptor.architecture.name
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise ConfigError(f"{source} is a {name} model ({descriptor.purpose}), not an image-to-image one")
    if (descriptor.input_channels, descriptor.output_channels) != (3, 3):
        raise ConfigError(
            f"{source} is a {name} model for {descriptor.input_channels}-channel images; translate runs RGB models"
        )
    spec = {
        "method": METHOD,
        "scale": int(descriptor.scale),
        "architecture": name,
        "generator": {"name": descriptor.architecture.id},  # for display: rebuilt by spandrel, not build_generator
        "purpose": descriptor.purpose,
        "tags": list(descriptor.tags),
        "size_multiple": int(descriptor.size_requirements.multiple_of),
        "source": str(source),
        "detected": True,
    }
    return ExternalSR(descriptor).eval(), spec
