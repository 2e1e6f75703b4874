"""U-Net generator of pix2pix, built recursively so state_dict keys match the reference
(`model.model.1.model.3...`): each block wraps the next one between its down and up convs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from translate.nets.norms import NORM_VARIANTS, conv_bias, norm_layer, norm_of


class UnetSkipConnectionBlock(nn.Module):
    """down -> submodule -> up, with the block input concatenated to its output (except outermost)."""

    def __init__(
        self,
        outer_ch: int,
        inner_ch: int,
        in_ch: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
        affine: bool = False,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        make_norm, bias = norm_layer(norm, affine), conv_bias(norm, bias)
        down_conv = nn.Conv2d(in_ch or outer_ch, inner_ch, 4, stride=2, padding=1, bias=bias)
        if outermost:
            up_conv = nn.ConvTranspose2d(inner_ch * 2, outer_ch, 4, stride=2, padding=1)
            layers = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(inner_ch, outer_ch, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down_conv, nn.ReLU(True), up_conv, make_norm(outer_ch)]
        else:
            up_conv = nn.ConvTranspose2d(inner_ch * 2, outer_ch, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down_conv, make_norm(inner_ch), submodule]
            layers += [nn.ReLU(True), up_conv, make_norm(outer_ch)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        # The reference's LeakyReLU is in-place and so also rewrites the skip; harmless, since the
        # parent's ReLU follows the concat and ReLU(LeakyReLU(x)) == ReLU(x). Ours is not in-place.
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` stride-2 stages: input sides must be multiples of 2**num_downs.

    `affine` and `bias`: as `ResnetGenerator`'s, for files of other implementations."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = False,
        affine: bool = False,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        options: dict[str, Any] = {"norm": norm, "affine": affine, "bias": bias}
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, **options)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, dropout=dropout, **options)
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * mult, ngf * mult * 2, submodule=block, **options)
        self.model = UnetSkipConnectionBlock(
            out_channels, ngf, in_ch=in_channels, submodule=block, outermost=True, **options
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def recognise(state: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """`UnetGenerator`'s keywords for a state dict in its layout (the reference's), else None.

    The depth shows in the nesting (`model.model.1.model.3.model...`), ngf and the norm in the outermost
    block. Dropout does not: its layers come last in a block, after every weight, so the guess is the
    reference's defaults, on with batch norm (pix2pix), off otherwise (CycleGAN, CUT).
    """
    if "model.model.0.weight" not in state:
        return None
    depth, prefix = 1, "model.model.1.model."  # the outermost block, then each nested one
    while any(k.startswith(prefix) for k in state):
        depth, prefix = depth + 1, prefix + "3.model."
    ngf, in_channels = state["model.model.0.weight"].shape[:2]
    norms = norm_of(state, conv="model.model.0", norm="model.model.1.model.2")
    norm = norms["norm"]
    return norms | {
        "num_downs": depth,
        "in_channels": int(in_channels),
        "out_channels": int(state["model.model.3.weight"].shape[1]) if "model.model.3.weight" in state else 0,
        "ngf": int(ngf),
        "dropout": norm == "batch",
    }


def candidates(convs: Sequence[tuple[int, ...]]) -> list[dict[str, Any]]:
    """The `UnetGenerator`s a file with these conv weight shapes, in order, may be: a down conv and an up conv
    per stage (module order: every down conv, then the up convs from the innermost out), in each norm variant.
    Dropout does not show; as `recognise`, the reference's default for the norm."""
    num_downs, odd = divmod(len(convs), 2)
    if odd or num_downs < 5 or len(convs[0]) != 4:
        return []
    shape = {"num_downs": num_downs, "in_channels": convs[0][1], "out_channels": convs[-1][1], "ngf": convs[0][0]}
    return [shape | variant | {"dropout": variant["norm"] == "batch"} for variant in NORM_VARIANTS]
