"""Frozen VGG19 feature extractor for SRGAN's content loss, loaded from torchvision's weights file.

No download happens here: the weights come from `--vgg-weights PATH` or torch hub's cache, and a
clear error says which file to fetch otherwise (training machines are often offline).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from translate.errors import ConfigError

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILE}"

# Number of `features` modules kept: phi_{5,4} is the 4th conv before the 5th max-pool (index 34);
# SRGAN's loss uses it after its ReLU (index 35), the default.
LAYERS = {"conv5_4": 35, "relu5_4": 36}

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def hub_weights_file() -> Path:
    """Where torchvision would have cached the VGG19 weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def vgg_weights_available(weights_path: Path | None = None) -> Path | None:
    """The weights file to use (the given path, else the hub cache), or None if it is missing."""
    path = Path(weights_path) if weights_path is not None else hub_weights_file()
    return path if path.is_file() else None


class VGGFeatures(nn.Module):
    """VGG19 `features` up to phi_{5,4}; takes images in [-1, 1] and applies ImageNet normalisation.

    Built from the same layer list as `torchvision.models.vgg19().features` (keys `features.N.*`
    match torchvision's file) but without the 120M-parameter classifier, which is never used.
    Parameters are frozen and the module stays in eval mode; gradients still flow to the input.
    """

    def __init__(self, layer: str = "relu5_4", weights_path: Path | None = None) -> None:
        super().__init__()
        if layer not in LAYERS:
            raise ConfigError(f"unknown VGG layer {layer!r}: choose one of {', '.join(LAYERS)}")
        path = vgg_weights_available(weights_path)
        if path is None:  # checked before building 20M parameters
            wanted = Path(weights_path) if weights_path is not None else hub_weights_file()
            raise ConfigError(
                f"VGG19 weights not found: {wanted} is missing; download {VGG19_URL} to it, "
                "pass --vgg-weights PATH, or train without VGG using --content-loss mse"
            )
        self.features = make_layers(cfgs["E"])[: LAYERS[layer]]
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self._load(path)
        self.requires_grad_(False)
        self.eval()

    def _load(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        own = self.state_dict()
        state = {k: v for k, v in state.items() if k in own}
        bad = [k for k in own if k not in state or state[k].shape != own[k].shape]
        if bad:
            raise ConfigError(f"{path} is not a torchvision VGG19 state dict: {bad[0]!r} is missing or wrong")
        self.load_state_dict(state)

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always eval: a loss network must not change with the trainer's mode switches."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(((x + 1) / 2 - self.mean) / self.std)
