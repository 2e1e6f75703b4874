"""Training methods, each a plug-in over the shared engine (see base.py).

Methods are imported by name on demand: the CLI must not pay for torch at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from translate.methods.base import Method

_METHODS = {
    "cyclegan": "translate.methods.cyclegan:CycleGAN",
    "pix2pix": "translate.methods.pix2pix:Pix2Pix",
    "discogan": "translate.methods.discogan:DiscoGAN",
    "srresnet": "translate.methods.srgan:SRResNetMethod",
    "srgan": "translate.methods.srgan:SRGANMethod",
}


def method_class(name: str) -> type[Method]:
    module, cls = _METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)
