"""translate: image-to-image translation (pix2pix, CycleGAN, DiscoGAN, SRGAN) on one shared engine.

Importing the package is cheap on purpose: heavy libraries (torch, accelerate, albumentations)
are imported inside the modules that need them, so the CLI answers `--help` instantly.

    from translate import load_model
    model = load_model("runs/h2z", direction="a2b")   # or a model folder, a pretrained name, a .pth file
    zebra = model(horse_image)                         # PIL in, PIL out
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from translate.inference.runner import Translator

from translate.version import __version__

__all__ = ["__version__", "load_model"]


def load_model(
    source: str | Path, direction: str | None = None, device: str = "auto", precision: str = "fp32"
) -> Translator:
    """Load a generator from a run folder, a model folder, a pretrained name or a weights file.

    `device="auto"` takes the GPU when there is one; `precision` is fp32, bf16 or fp16 (GPU).
    The result is called on a PIL image or a list of them, or converts folders (`.convert_folder`).
    """
    from translate.inference.runner import Translator  # lazy: `import translate` stays light (torch)

    return Translator.load(source, direction=direction, device=device, precision=precision)
