"""Switches that trade speed or memory must not change results: gradient checkpointing, precision warnings."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import cli, write_domain
from translate.engine import hardware
from translate.nets.builders import build_generator


def _grads(net: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    net.zero_grad()
    (net(x) ** 2).mean().backward()
    return {name: p.grad.clone() for name, p in net.named_parameters()}


@pytest.mark.parametrize("dropout", [False, True])
def test_gradient_checkpointing_gives_the_same_gradients(dropout):
    torch.manual_seed(0)
    net = build_generator("resnet6", ngf=4, dropout=dropout)
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(1)
    plain = _grads(net, x)
    net.gradient_checkpointing = True
    assert len(net.segments()) == 6 + 2  # stem+downs, each block, ups+head
    torch.manual_seed(1)  # the same dropout masks: checkpoint replays the random stream
    checkpointed = _grads(net, x)
    for name, grad in plain.items():
        torch.testing.assert_close(checkpointed[name], grad, rtol=0, atol=1e-5)
    net.eval()
    with torch.no_grad():  # inference never checkpoints
        torch.testing.assert_close(net(x), net.model(x), rtol=0, atol=0)


def test_gradient_checkpointing_saves_memory_of_the_blocks():
    """Fewer tensors kept for backward: counted by the autograd saved-tensor hooks."""
    net = build_generator("resnet9", ngf=8)
    x = torch.randn(1, 3, 64, 64)

    def kept_bytes() -> int:
        total = 0

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            net(x).mean()
        return total

    plain = kept_bytes()
    net.gradient_checkpointing = True
    assert kept_bytes() < plain / 3


def test_gradient_checkpointing_option_trains(tmp_path):
    a = write_domain(tmp_path / "a", 4, 32, seed=1)
    b = write_domain(tmp_path / "b", 4, 32, seed=2)
    common = ["train", "cyclegan", "--a", a, "--b", b, "--size", "32", "--load-size", "32", "--ngf", "4", "--ndf", "4",
              "--generator", "resnet6", "--workers", "0", "--steps", "2", "--log-every", "1"]  # fmt: skip
    result = cli(*common, "--out", tmp_path / "run", "--gradient-checkpointing")
    assert result.exit_code == 0, result.output
    refused = cli(
        *common,
        "--out",
        tmp_path / "bad",
        "--generator",
        "unet128",
        "--size",
        "128",
        "--load-size",
        "128",
        "--gradient-checkpointing",
    )
    assert refused.exit_code == 2 and "ResNet generators" in refused.output


def test_bf16_on_a_cpu_without_bf16_units_is_warned_about(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma"})
    assert hardware.cpu_has_bf16_units() is False and "no bf16 units" in hardware.bf16_cpu_warning()
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert hardware.cpu_has_bf16_units() is True and hardware.bf16_cpu_warning() is None
    monkeypatch.setattr(hardware, "cpu_flags", lambda: set())
    assert hardware.cpu_has_bf16_units() is None and hardware.bf16_cpu_warning() is None
