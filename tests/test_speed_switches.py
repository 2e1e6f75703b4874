"""Switches that trade speed or memory must not change results: gradient checkpointing, precision warnings."""

from __future__ import annotations

import shutil

import pytest
import torch

from tests.helpers import (
    assert_same_losses,
    assert_same_training,
    prepared_method,
    save_tiny_model,
    step_losses,
    tiny,
    train,
    write_domain,
)
from translate import hardware
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
    options = tiny("cyclegan", batch_size=None, steps=2)
    train("cyclegan", tmp_path / "run", "--a", a, "--b", b, *options, "--gradient-checkpointing")
    unet = tiny("cyclegan", batch_size=None, steps=2, generator="unet128", size=128, load_size=128)
    refused = train("cyclegan", tmp_path / "bad", "--a", a, "--b", b, *unet, "--gradient-checkpointing", check=False)
    assert refused.exit_code == 2 and "ResNet generators" in refused.output


def test_bf16_on_a_cpu_without_bf16_units_is_warned_about(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma"})
    assert hardware.cpu_has_bf16_units() is False and "no bf16 units" in hardware.bf16_cpu_warning()
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert hardware.cpu_has_bf16_units() is True and hardware.bf16_cpu_warning() is None
    monkeypatch.setattr(hardware, "cpu_flags", lambda: set())
    assert hardware.cpu_has_bf16_units() is None and hardware.bf16_cpu_warning() is None


def test_fp32_training_on_a_cpu_with_bf16_units_suggests_bf16(monkeypatch, tmp_path):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "avx512_bf16", "amx_bf16"})
    tip = hardware.bf16_cpu_tip("--precision bf16", "measured")
    assert tip.endswith("(AMX and AVX-512 BF16): --precision bf16 is usually faster here (measured)")
    a, b = write_domain(tmp_path / "a", 4, 32, seed=1), write_domain(tmp_path / "b", 4, 32, seed=2)
    fp32 = train("cyclegan", tmp_path / "fp32", "--a", a, "--b", b, *tiny("cyclegan", steps=1))
    assert fp32.output.count("Tip:      this CPU has bf16 units") == 1
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma"})
    assert hardware.bf16_cpu_tip("--mixed-precision bf16", "measured") is None
    without = train("cyclegan", tmp_path / "without", "--a", a, "--b", b, *tiny("cyclegan", steps=1))
    assert "Tip:" not in without.output


def test_fp32_conversion_on_a_cpu_with_bf16_units_suggests_bf16(monkeypatch, tmp_path):
    from translate.inference.runner import convert_folder

    model = save_tiny_model(tmp_path / "model")
    inputs = write_domain(tmp_path / "in", 2, 32, seed=3)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    fp32 = convert_folder(model, inputs, tmp_path / "fp32", device="cpu", workers=0)
    assert fp32.summary().splitlines()[-1].startswith("Tip: this CPU has bf16 units (AMX): --precision bf16")
    bf16 = convert_folder(model, inputs, tmp_path / "bf16", device="cpu", workers=0, precision="bf16")
    assert bf16.tip is None and "Tip" not in bf16.summary()
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "fma"})
    assert convert_folder(model, inputs, tmp_path / "plain", device="cpu", workers=0).tip is None


# -- the levers of tools/bench.py: the same losses as the plain eager step -----------------------------


SWITCHES = {
    "batched passes": {"batch_passes": True},
    "channels-last": {"channels_last": "on"},
    "both": {"batch_passes": True, "channels_last": "on"},
}


@pytest.mark.parametrize("method", ["cyclegan", "pix2pix"])
@pytest.mark.parametrize("switch", list(SWITCHES))
def test_speed_switches_give_the_losses_of_the_plain_step(method, switch):
    """Three steps (so the weights the later steps see were updated with the switch on); pix2pix runs
    with instance norm here, the case where its D passes are batched."""
    fixed = {"dropout": False} if method == "pix2pix" else {}  # masks are drawn in memory order
    plain = step_losses(method, "cpu", batch_passes=False, channels_last="off", **fixed)
    assert_same_training(step_losses(method, "cpu", **SWITCHES[switch], **fixed), plain)


def test_batched_passes_only_where_norm_layers_see_one_image_at_a_time():
    for norm, d_norm, g_batched, d_batched in (
        ("instance", None, True, True),
        ("batch", None, False, False),
        ("instance", "spectral", True, False),  # one power iteration per pass: batching would change it
        ("none", "batch", True, False),
    ):
        m, _ = prepared_method("cyclegan", "cpu", norm=norm, d_norm=d_norm)
        assert (m.batch_g, m.batch_d) == (g_batched, d_batched), (norm, d_norm)


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("g++") or shutil.which("clang++")), reason="torch.compile on a CPU needs a C++ compiler"
)
def test_compiled_step_gives_the_losses_of_the_eager_step():
    """torch.compile on CPU (a C compiler builds the kernels: about two minutes, hence slow)."""
    plain = step_losses("cyclegan", "cpu", steps=2, compile="off")
    assert_same_training(step_losses("cyclegan", "cpu", steps=2, compile="networks"), plain)


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("g++") or shutil.which("clang++")), reason="torch.compile on a CPU needs a C++ compiler"
)
def test_discogan_trains_compiled_in_bf16_with_alternating_updates(tmp_path):
    """DiscoGAN's updates alternate (D on one batch, G on the next), so its four networks need more
    compiled variants than dynamo's default limit of 8; past it the G step's backward failed."""
    a = write_domain(tmp_path / "a", 4, 64, seed=1)
    b = write_domain(tmp_path / "b", 4, 64, seed=2)
    options = tiny("discogan", steps=3, update_interval=2)
    train(
        "discogan", tmp_path / "run", "--a", a, "--b", b, *options, "--compile", "networks", "--mixed-precision", "bf16"
    )
    assert (tmp_path / "run" / "models").is_dir()


def test_channels_last_auto_is_for_gpus_without_instance_norm_and_compiled_cpus_with_it():
    from translate.config import CycleGANConfig, Pix2PixConfig, SRResNetConfig
    from translate.engine.speed import use_channels_last

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert use_channels_last(Pix2PixConfig(data="x"), gpu) and not use_channels_last(Pix2PixConfig(data="x"), cpu)
    assert use_channels_last(SRResNetConfig(hr="x"), gpu)
    assert not use_channels_last(SRResNetConfig(hr="x", compile="networks"), cpu)
    assert not use_channels_last(Pix2PixConfig(data="x", compile="networks"), cpu)  # batch norm
    assert not use_channels_last(CycleGANConfig(a="x", b="x"), gpu)
    assert not use_channels_last(CycleGANConfig(a="x", b="x"), cpu)  # eager NHWC is slower on a CPU
    assert use_channels_last(CycleGANConfig(a="x", b="x", compile="networks"), cpu)
    assert not use_channels_last(CycleGANConfig(a="x", b="x", compile="networks", channels_last="off"), cpu)
    assert use_channels_last(CycleGANConfig(a="x", b="x", channels_last="on"), cpu)
    assert not use_channels_last(Pix2PixConfig(data="x", channels_last="off"), gpu)


def test_bf16_autocast_step_stays_close_to_the_fp32_step():
    """bf16 keeps 8 bits of mantissa: the same losses to about 1% (here on a CPU, where it is emulated
    without bf16 units: slow, so two steps of a tiny net)."""
    from accelerate.state import AcceleratorState

    plain = step_losses("cyclegan", "cpu", steps=2)
    AcceleratorState._reset_state(reset_partial_state=True)  # Accelerate's precision is process-wide
    assert_same_losses(step_losses("cyclegan", "cpu", steps=2, mixed_precision="bf16"), plain, 0.02)


def _pad_inputs(net: torch.nn.Module, x: torch.Tensor) -> list[torch.dtype]:
    """The dtype of every padding kernel's input in one forward and backward pass of `net` under CPU bf16."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: list[torch.dtype] = []

    class Pads(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if "pad" in func.overloadpacket.__name__:
                seen.append(args[0].dtype)
            return func(*args, **(kwargs or {}))

    with Pads(), torch.autocast("cpu", dtype=torch.bfloat16):
        net(x).float().mean().backward()
    return seen


@pytest.mark.parametrize("antialias", [False, True])
def test_bf16_padding_stays_in_bf16(antialias):
    """CPU autocast runs reflection/replication padding in fp32; the generators pad in the map's own dtype
    instead (the casts cost 4-6% of the bf16 step on an AMX CPU). Only the image itself is fp32."""
    torch.manual_seed(0)
    net = build_generator("resnet6", ngf=8, antialias=antialias)
    dtypes = _pad_inputs(net, torch.rand(1, 3, 32, 32) * 2 - 1)
    assert dtypes[0] == torch.float32 and len(dtypes) > 10
    assert set(dtypes[1:]) == {torch.bfloat16}, dtypes


def test_bf16_padding_changes_no_value():
    """Padding copies values: the generator gives the very outputs of PyTorch's pad cast to fp32 by autocast."""
    torch.manual_seed(0)
    net = build_generator("resnet6", ngf=8)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ours = net(x)
        for module in net.modules():
            if isinstance(module, torch.nn.ReflectionPad2d):
                module.forward = torch.nn.ReflectionPad2d.forward.__get__(module)
        reference = net(x)
    torch.testing.assert_close(ours, reference, rtol=0, atol=0)
