"""ResNet generator of CycleGAN (Johnson et al. 2016 layout), key-compatible with the reference.

Layout (indices in `model` matter: they are the state_dict keys of reference checkpoints):
reflect-pad 3 + 7x7 conv, 2 stride-2 3x3 downsamplings, n residual blocks,
2 transposed-conv upsamplings, reflect-pad 3 + 7x7 conv + Tanh.

`antialias=True` gives the layout of the CUT code (taesungp/contrastive-unpaired-translation, its
default): each downsampling is a stride-1 conv followed by a fixed blur-and-subsample
(`Downsample`, Zhang 2019), each upsampling a fixed blur-upsample (`Upsample`) followed by a
stride-1 conv. The blurs are buffers named `filt`, so CUT's files load key for key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from translate.nets.norms import NORM_VARIANTS, conv_bias, norm_layer, norm_of

_BLOCK = re.compile(r"model\.(\d+)\.conv_block\.")
_FILTER = re.compile(r"model\.(\d+)\.filt$")
_WEIGHT = re.compile(r"model\.(\d+)\.weight$")


def pad_in_own_dtype(x: torch.Tensor, padding: tuple[int, ...], mode: str) -> torch.Tensor:
    """`F.pad` in the input's dtype. CPU autocast lists reflection and replication padding among the ops
    it runs in fp32, so under bf16 each pad would cast its input up and the next conv cast it back: two
    more copies of the map each way, forward and backward (4-6% of CycleGAN's bf16 step on a 2-core AMX
    CPU, docs/BENCHMARKS.md). Padding only copies values, so the numbers are the same."""
    kind = x.device.type
    if torch.amp.is_autocast_available(kind) and torch.is_autocast_enabled(kind):
        with torch.autocast(kind, enabled=False):
            return F.pad(x, padding, mode=mode)
    return F.pad(x, padding, mode=mode)


def replicate_border(x: torch.Tensor) -> torch.Tensor:
    """Replicate-pad one pixel on every side: `F.pad(x, (1, 1, 1, 1), "replicate")`'s values. Under
    `torch.compile` it is written as two concatenations, because there the meta kernel of
    `replication_pad2d_backward` predicts strides that the CPU kernel does not return (torch 2.14: CUT's
    generator failed to compile with "expected ... stride 1==256"); eager keeps PyTorch's own kernel."""
    if torch.compiler.is_compiling():
        x = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
        return torch.cat([x[:, :, :, :1], x, x[:, :, :, -1:]], dim=3)
    return pad_in_own_dtype(x, (1, 1, 1, 1), "replicate")


class ReflectionPad2d(nn.ReflectionPad2d):
    """`nn.ReflectionPad2d` that pads in its input's dtype (`pad_in_own_dtype`). No parameters, so the
    state_dict keys and module indices stay the reference's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pad_in_own_dtype(x, self.padding, "reflect")


def binomial_filter(size: int) -> torch.Tensor:
    """The normalised 2-D binomial kernel (rows of Pascal's triangle): [1, 2, 1] for size 3."""
    row = torch.tensor([float(math.comb(size - 1, k)) for k in range(size)])
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


class Downsample(nn.Module):
    """Anti-aliased halving: reflect-pad 1, 3x3 binomial blur per channel, keep every second pixel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("filt", binomial_filter(3)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(pad_in_own_dtype(x, (1, 1, 1, 1), "reflect"), self.filt, stride=2, groups=x.shape[1])


class Upsample(nn.Module):
    """Anti-aliased doubling: replicate-pad 1, transposed 4x4 binomial blur (x4 gain) at stride 2,
    then trim the pad's contribution so that H x W becomes exactly 2H x 2W. (The result equals
    bilinear x2 with half-pixel centres; kept as CUT writes it, since its `filt` is in the files.)"""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("filt", binomial_filter(4)[None, None].repeat(channels, 1, 1, 1) * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = replicate_border(x)
        return F.conv_transpose2d(x, self.filt, stride=2, padding=2, groups=x.shape[1])[:, :, 1:-1, 1:-1]


class ResnetBlock(nn.Module):
    """conv-norm-relu-[dropout]-conv-norm with an identity skip; reflect padding avoids border artefacts."""

    def __init__(
        self, dim: int, norm: str = "instance", dropout: bool = False, affine: bool = False, bias: bool | None = None
    ) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm, affine), conv_bias(norm, bias)
        layers: list[nn.Module] = [
            ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            make_norm(dim),
            nn.ReLU(True),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Image-to-image generator for inputs whose side is a multiple of 4.

    `antialias` blurs the downsamplings, `antialias_up` the upsamplings (default: as `antialias`);
    CUT sets both unless told `--no_antialias` / `--no_antialias_up`. `affine` gives the instance norms
    a scale and shift, `bias` True/False puts biases on the convs before norms or takes them away
    (None: the reference's convention): variations found in other implementations' files.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        dropout: bool = False,
        n_down: int = 2,
        antialias: bool = False,
        antialias_up: bool | None = None,
        affine: bool = False,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        antialias_up = antialias if antialias_up is None else antialias_up
        make_norm, use_bias = norm_layer(norm, affine), conv_bias(norm, bias)
        layers: list[nn.Module] = [
            ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=use_bias),
            make_norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(n_down):
            ch = ngf * 2**i
            stride = 1 if antialias else 2
            layers += [
                nn.Conv2d(ch, ch * 2, 3, stride=stride, padding=1, bias=use_bias),
                make_norm(ch * 2),
                nn.ReLU(True),
            ]
            if antialias:
                layers.append(Downsample(ch * 2))
        ch = ngf * 2**n_down
        layers += [ResnetBlock(ch, norm, dropout, affine, bias) for _ in range(n_blocks)]
        for _ in range(n_down):
            if antialias_up:
                layers += [Upsample(ch), nn.Conv2d(ch, ch // 2, 3, padding=1, bias=use_bias)]
            else:
                layers.append(nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=use_bias))
            layers += [make_norm(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor, layers: Sequence[int] | None = None) -> torch.Tensor | list[torch.Tensor]:
        """The translation of `x`; with `layers` (indices into `model`, ascending), the outputs of those layers
        instead, stopping after the last: CUT's PatchNCE reads the encoder this way. Through `forward`, not a
        separate method, so that a DDP-wrapped generator sees every pass."""
        if layers is not None:
            return self.features(x, layers)
        if not (self.gradient_checkpointing and torch.is_grad_enabled()):
            return self.model(x)
        for segment in self.segments():
            x = checkpoint(_run_layers, segment, x, use_reentrant=False)
        return x

    def features(self, x: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]:
        """The outputs of layers `layers` of `model` (ascending indices) for input `x`."""
        wanted, found = set(layers), []
        for index, layer in enumerate(self.model[: max(layers) + 1]):
            x = layer(x)
            if index in wanted:
                found.append(x)
        return found

    def segments(self) -> list[list[nn.Module]]:
        """The stem with the downsamplings, each residual block, the upsamplings with the head.

        With gradient checkpointing only each segment's input is kept for the backward pass and its
        inside is recomputed: at 1024 px that is most of the memory. Every segment starts with a layer
        that makes a new tensor, so in-place ReLUs never touch a kept input.
        """
        groups: list[list[nn.Module]] = [[]]
        for layer in self.model:
            if isinstance(layer, ResnetBlock):
                groups += [[layer], []]
            else:
                groups[-1].append(layer)
        return [group for group in groups if group]


def _run_layers(layers: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        x = layer(x)
    return x


def recognise(state: Mapping[str, torch.Tensor]) -> dict[str, Any] | None:
    """`ResnetGenerator`'s keywords for a state dict in its layout (the reference's, CUT's), else None.

    All of them show: the blocks (`model.K.conv_block.*`), ngf (`model.1.weight` is ngf x in x 7 x 7),
    the norm, the dropout slot (it moves a block's second conv from index 5 to 6) and CUT's blurs
    (`model.K.filt` buffers, before the blocks for `antialias`, after them for `antialias_up`).
    """
    blocks = sorted({int(m[1]) for k in state if (m := _BLOCK.match(k))})
    if "model.1.weight" not in state or not blocks:
        return None
    filters = [int(m[1]) for k in state if (m := _FILTER.match(k))]
    last = max(int(m[1]) for k in state if (m := _WEIGHT.match(k)))
    ngf, in_channels = state["model.1.weight"].shape[:2]
    found: dict[str, Any] = {
        "n_blocks": len(blocks),
        "in_channels": int(in_channels),
        "out_channels": int(state[f"model.{last}.weight"].shape[0]),
        "ngf": int(ngf),
        **norm_of(state, conv="model.1", norm="model.2"),
        "dropout": f"model.{blocks[0]}.conv_block.5.weight" not in state,  # with dropout, 5 is the second pad
    }
    down, up = any(i < blocks[0] for i in filters), any(i > blocks[-1] for i in filters)
    if down:
        found["antialias"] = True
    if up != down:
        found["antialias_up"] = up
    return found


def candidates(convs: Sequence[tuple[int, ...]]) -> list[dict[str, Any]]:
    """The plain (not anti-aliased) `ResnetGenerator`s a file with these conv weight shapes, in order, may
    be: the stem, two downsamplings, two convs per block, two upsamplings and the head, in each norm variant."""
    n_blocks, odd = divmod(len(convs) - 6, 2)
    if odd or n_blocks < 1 or len(convs[0]) != 4:
        return []
    shape = {"n_blocks": n_blocks, "in_channels": convs[0][1], "out_channels": convs[-1][0], "ngf": convs[0][0]}
    return [shape | variant for variant in NORM_VARIANTS]
