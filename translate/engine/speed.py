"""Speed switches of the training step that leave the maths alone: memory format and compilation.

Each one is measured by tools/bench.py against the eager fp32 step in the same run (docs/BENCHMARKS.md)
and checked by tests/test_speed_switches.py to give the same losses as the plain step within a stated
tolerance. They apply to every method, so no method carries device-specific code. (The batched
passes live in the methods, `translate.methods.base.batched`: only a method knows which passes share
a network.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from translate.config import TrainConfig


def use_channels_last(config: TrainConfig, device: torch.device) -> bool:
    """`--channels-last auto`, as measured (docs/BENCHMARKS.md): on a GPU, for networks without instance
    norm (pix2pix's batch norm 1.29x faster on an H200; CycleGAN slower, when PyTorch's instance norm still
    returned NCHW: to be measured again); on a CPU, for compiled networks with instance norm, which
    `translate.nets.norms.InstanceNorm2d` keeps NHWC (CycleGAN compiled: 1.06-1.08x in fp32, 1.06-1.09x in
    bf16 with AMX, no difference in bf16 with AVX-512 BF16 alone). Eager NHWC is slower on a CPU, and so are
    batch-norm networks in NHWC."""
    if config.channels_last == "auto":
        instance_norm = getattr(config, "norm", None) == "instance"
        if device.type == "cuda":
            return not instance_norm
        return instance_norm and config.compile != "off"
    return config.channels_last == "on"


def prepare_for_speed(net: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    """A network before Accelerate wraps it: channels-last weights, and `torch.compile` in place
    (`Module.compile` keeps the module and its state-dict keys, so checkpoints and exports do not change)."""
    if getattr(config, "gradient_checkpointing", False) and hasattr(net, "gradient_checkpointing"):
        net.gradient_checkpointing = True  # the generators that support it (ResNet)
    if use_channels_last(config, device):
        net = net.to(memory_format=torch.channels_last)
    if config.compile != "off":
        allow_compiled_variants()
        net.compile()
    return net


# Compiled variants one training run may need: every network shares one compiled frame (Accelerate's
# forward wrapper), and each network shape, grad mode and requires-grad pattern is one entry of its cache.
# DiscoGAN's alternating updates need more than dynamo's default of 8; past it dynamo ran the rest eagerly
# next to compiled graphs, and its bf16 backward failed ("modified by an inplace operation").
COMPILED_VARIANTS = 64


def allow_compiled_variants() -> None:
    """Raise dynamo's per-frame recompile limit to COMPILED_VARIANTS (never lower it)."""
    import torch._dynamo.config  # lazy: dynamo is loaded only for runs that compile

    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, COMPILED_VARIANTS)


def to_memory_format(batch: dict[str, Any], channels_last: bool) -> dict[str, Any]:
    """The batch's image tensors (4-d) in the networks' memory format; other entries unchanged."""
    if not channels_last:
        return batch
    return {
        k: v.contiguous(memory_format=torch.channels_last) if isinstance(v, torch.Tensor) and v.dim() == 4 else v
        for k, v in batch.items()
    }
