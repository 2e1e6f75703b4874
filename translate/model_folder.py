"""The self-describing model folder, `model.safetensors` + `config.json` (as diffusers' save_pretrained).

Its own module because both `zoo` (which loads every kind of model) and `pretrained` (which
stores downloads as such folders, and which `zoo` resolves names with) need it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from translate.atomic import atomic_dir

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def is_model_folder(path: Path) -> bool:
    return (path / CONFIG).is_file() and (path / WEIGHTS).is_file()


def save_model(net: nn.Module, spec: dict[str, Any], folder: Path) -> None:
    """Write `net`'s weights and `spec` into `folder`, replacing it atomically."""
    from safetensors.torch import save_file

    from translate import __version__

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_dir(folder) as tmp:
        save_file(state, tmp / WEIGHTS)
        (tmp / CONFIG).write_text(json.dumps(spec | {"translate_version": __version__}, indent=2) + "\n")
