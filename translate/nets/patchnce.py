"""CUT's projection heads `F` (Park et al. 2020): the encoder's feature vectors at sampled positions,
through a small MLP per encoder layer, L2-normalised, ready for the PatchNCE loss (translate.losses).

The CUT code builds its MLPs lazily, at the first batch, from the features it sees; here they are built
from the channel counts alone (`EncoderShapes`: a forward pass on the meta device, whose result
depends on the architecture only), so every process constructs identical networks before Accelerate
wraps them, and a checkpoint or resume finds the same modules. Module names (`mlp_0`, ...) follow the
CUT code, so its saved heads load key for key.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows divided by their L2 norm plus 1e-7, as the CUT code's `Normalize` (not F.normalize's clamp).

    The norm is `vector_norm`, whose gradient at an all-zero row is 0, where the CUT code's
    `pow(2).sum().pow(0.5)` gives inf * 0 = NaN: a head whose ReLU layer is all off for one patch (small
    heads meet it in the first steps) would poison every weight through Adam. The values are the same.
    """
    return x / (torch.linalg.vector_norm(x, dim=1, keepdim=True) + 1e-7)


def sample_patch_ids(
    shapes: Sequence[tuple[int, int]], num_patches: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """For each (height, width), up to `num_patches` distinct flat positions drawn at random (CPU, from
    `generator`: the method keeps and checkpoints it, so a resumed run draws what it would have drawn).
    The same positions serve every image of the batch and both sides of the loss, as in the CUT code."""
    return [torch.randperm(h * w, generator=generator)[:num_patches] for h, w in shapes]


def sample_patches(feat: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The feature vectors of (B, C, H, W) `feat` at flat positions `ids`: (B * len(ids), C), image by image."""
    flat = feat.permute(0, 2, 3, 1).flatten(1, 2)
    return flat[:, ids.to(feat.device), :].flatten(0, 1)


class PatchSampleMLP(nn.Module):
    """One Linear-ReLU-Linear head of `width` units per encoder layer; input channels `channels`."""

    def __init__(self, channels: Sequence[int], width: int = 256) -> None:
        super().__init__()
        self.width = width
        self.heads = len(channels)
        for i, c in enumerate(channels):
            self.add_module(f"mlp_{i}", nn.Sequential(nn.Linear(c, width), nn.ReLU(), nn.Linear(width, width)))

    def forward(self, feats: Sequence[torch.Tensor], patch_ids: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Each layer's features at its `patch_ids`, projected and normalised: (B * patches, width) each."""
        if len(feats) != self.heads or len(patch_ids) != self.heads:
            raise ValueError(f"{self.heads} heads, got {len(feats)} feature maps and {len(patch_ids)} id sets")
        return [
            l2_normalize(getattr(self, f"mlp_{i}")(sample_patches(feat, ids)))
            for i, (feat, ids) in enumerate(zip(feats, patch_ids, strict=True))
        ]


class EncoderShapes:
    """The shapes of `generator(x, layers)`'s feature maps, worked out on the meta device from a weightless
    copy of the generator (no arithmetic, no batch-norm statistic moves; the copy is made once), cached per
    input size. They depend on the architecture only: the heads are built from the channels before
    training starts, and CUT draws its patch positions from the heights and widths before each step."""

    def __init__(self, generator: nn.Module, layers: Sequence[int]) -> None:
        self.in_channels = generator_in_channels(generator)
        self.layers = tuple(layers)
        self._meta = copy.deepcopy(generator).to("meta")
        self._cache: dict[tuple[int, int], list[tuple[int, int, int]]] = {}

    @torch.no_grad()
    def at(self, size: tuple[int, int]) -> list[tuple[int, int, int]]:
        """(channels, height, width) of each feature map for an input of `size` (height, width)."""
        if size not in self._cache:
            feats = self._meta(torch.empty(1, self.in_channels, *size, device="meta"), self.layers)
            self._cache[size] = [(int(f.shape[1]), int(f.shape[2]), int(f.shape[3])) for f in feats]
        return self._cache[size]

    def channels(self) -> list[int]:
        """Each feature map's channels (the same at every input size)."""
        return [c for c, _, _ in self.at((16, 16))]


def generator_in_channels(generator: nn.Module) -> int:
    """Input channels of a generator: those of its first conv."""
    first = next(m for m in generator.modules() if isinstance(m, nn.Conv2d))
    return int(first.in_channels)
