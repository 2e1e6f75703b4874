"""What the unpaired methods share: the data (CycleGAN, DiscoGAN, CUT), and for the two-generator ones
(CycleGAN, DiscoGAN) the sample grid and exports.

Those two train `g_ab` / `g_ba` on two unrelated domains and differ only in networks and losses, so
the parts around the losses live here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from translate.config import UnpairedConfig
from translate.data.datasets import UnpairedDataset
from translate.data.domains import resolve_domain
from translate.data.folders import find_images
from translate.data.transforms import train_transform
from translate.methods.base import SampleGrid, reversed_channels

if TYPE_CHECKING:
    from translate.data.datasets import UnpairedDataset


def unpaired_dataset(
    a: str, b: str, transform: Callable, seed: int, channels: tuple[int, int] = (3, 3)
) -> UnpairedDataset:
    """Domains A and B, each a folder, a built-in domain or a catalog name (see `resolve_domain`), read with
    `channels` (the run's --input-nc, --output-nc)."""
    images_a, images_b = (find_images(resolve_domain(name)) for name in (a, b))
    return UnpairedDataset(images_a, images_b, transform, seed=seed, channels=channels)


def training_data(config: UnpairedConfig) -> UnpairedDataset:
    """A run's two domains with its crops and flips (the reference's unaligned dataset)."""
    transform = train_transform(config.size, config.load_size, flip=config.flip)
    return unpaired_dataset(config.a, config.b, transform, config.seed, (config.input_nc, config.output_nc))


CYCLE_TRANSLATIONS = {"A->B": "A", "B->A": "B"}  # the translated columns of `cycle_grid`


@torch.no_grad()
def cycle_grid(g_ab: nn.Module, g_ba: nn.Module, real_a: torch.Tensor, real_b: torch.Tensor) -> SampleGrid:
    """One row per example: A, A→B, A→B→A, B, B→A, B→A→B."""
    fake_b, fake_a = g_ab(real_a), g_ba(real_b)
    rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
    columns = [real_a, fake_b, rec_a, real_b, fake_a, rec_b]
    rows = [[column[i] for column in columns] for i in range(real_a.shape[0])]
    return rows, ["A", "A->B", "A->B->A", "B", "B->A", "B->A->B"]  # ASCII: PIL's default font has no arrow


def direction_exports(
    g_ab: nn.Module, g_ba: nn.Module, spec: dict[str, Any]
) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
    """Export both generators as "a2b" and "b2a", each with `spec` plus its direction (and for b2a, the
    generator's channels the other way round)."""
    back = spec | {"direction": "b2a", "generator": reversed_channels(spec["generator"])}
    return {"a2b": (g_ab, spec | {"direction": "a2b"}), "b2a": (g_ba, back)}
