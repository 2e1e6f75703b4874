"""Random choices made on the host, from CPU generators, and their hand-over to the device.

A training step must never make the host wait for the GPU (issue 19): reading a device tensor's
value (`.item()`, `bool()`, `.cpu()`) or copying pageable host memory to the device waits until the
device has finished everything queued before it. The methods' own random decisions (which image the
pool returns, FastCUT's flip, CUT's patch positions) are drawn here from seeded CPU generators, which
the methods checkpoint for exact resumes: reading a CPU tensor is not a device sync, and the one module
that does it is this one (tests/test_no_sync.py allows these reads and no others).
"""

from __future__ import annotations

import torch


def _on_host(generator: torch.Generator) -> torch.Generator:
    if generator.device.type != "cpu":
        raise ValueError(f"host draws need a CPU generator, got one on {generator.device}")
    return generator


def coin(generator: torch.Generator) -> bool:
    """Heads (True) or tails, each with probability 1/2: uniform [0, 1) below 0.5."""
    return torch.rand((), generator=_on_host(generator)).item() < 0.5


def index_below(count: int, generator: torch.Generator) -> int:
    """A uniform integer in [0, count)."""
    return int(torch.randint(count, (), generator=_on_host(generator)).item())


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` (host memory) on `device` without a host sync: on a GPU through page-locked memory and an
    asynchronous copy (a copy from pageable memory waits for the device's queue first)."""
    if device.type != "cuda" or tensor.device == device:
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)
