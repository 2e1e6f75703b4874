"""Switches that trade speed or memory must not change results: gradient checkpointing, precision warnings."""

from __future__ import annotations

import shutil

import pytest
import torch

from tests.helpers import cli, write_domain
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


# -- the levers of tools/bench.py: the same losses as the plain eager step -----------------------------


def _prepared(method: str, device: str, **values):
    """A method built and prepared the way the engine does it (translate/engine/speed.py), tiny networks."""
    from accelerate import Accelerator

    from translate.config import from_dict
    from translate.engine.speed import prepare_for_speed
    from translate.methods import METHODS, method_class

    base = {"a": "x", "b": "x", "size": 32, "load_size": 32, "generator": "resnet6", "ngf": 8, "ndf": 8}
    base |= {"norm": "instance", "batch_size": 2, "out": "unused"}
    config = from_dict(METHODS[method].settings, base | values)
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=config.mixed_precision)
    torch.manual_seed(0)
    m = method_class(method)(config, accelerator)
    for name in m.network_names:
        setattr(m, name, accelerator.prepare(prepare_for_speed(getattr(m, name), config, accelerator.device)))
    m.optimizers = m.configure_optimizers()
    return m, config


def _losses(method: str, device: str, steps: int = 3, **values) -> list[dict[str, float]]:
    from translate.engine.speed import to_memory_format, use_channels_last

    m, config = _prepared(method, device, **values)
    g = torch.Generator().manual_seed(1)
    found = []
    for step in range(steps):
        batch = {k: (torch.rand(2, 3, 32, 32, generator=g) * 2 - 1).to(device) for k in ("a", "b")}
        batch = to_memory_format(batch, use_channels_last(config, torch.device(device)))
        m.step = step
        found.append({k: float(v) for k, v in m.train_step(batch).items()})
    return found


def assert_same_losses(fast: list[dict[str, float]], plain: list[dict[str, float]], tolerance: float) -> None:
    assert [list(s) for s in fast] == [list(s) for s in plain]
    for step, (a, b) in enumerate(zip(fast, plain, strict=True)):
        for name in a:
            assert abs(a[name] - b[name]) <= tolerance * max(1.0, abs(b[name])), (step, name, a[name], b[name])


SWITCHES = {
    "batched passes": {"batch_passes": True},
    "channels-last": {"channels_last": "on"},
    "both": {"batch_passes": True, "channels_last": "on"},
}


@pytest.mark.parametrize("method", ["cyclegan", "pix2pix"])
@pytest.mark.parametrize("switch", list(SWITCHES))
def test_speed_switches_give_the_losses_of_the_plain_step(method, switch):
    """Three steps (so the weights the later steps see were updated with the switch on): same losses
    to 1e-4. pix2pix runs with instance norm here, the case where its D passes are batched."""
    plain = _losses(method, "cpu", batch_passes=False, channels_last="off")
    assert_same_losses(_losses(method, "cpu", **SWITCHES[switch]), plain, 1e-4)


def test_batched_passes_only_where_norm_layers_see_one_image_at_a_time():
    for norm, d_norm, g_batched, d_batched in (
        ("instance", None, True, True),
        ("batch", None, False, False),
        ("instance", "spectral", True, False),  # one power iteration per pass: batching would change it
        ("none", "batch", True, False),
    ):
        m, _ = _prepared("cyclegan", "cpu", norm=norm, d_norm=d_norm)
        assert (m.batch_g, m.batch_d) == (g_batched, d_batched), (norm, d_norm)


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("g++") or shutil.which("clang++")), reason="torch.compile on a CPU needs a C++ compiler"
)
def test_compiled_step_gives_the_losses_of_the_eager_step():
    """torch.compile on CPU (a C compiler builds the kernels: about two minutes, hence slow)."""
    plain = _losses("cyclegan", "cpu", steps=2, compile=False)
    assert_same_losses(_losses("cyclegan", "cpu", steps=2, compile=True), plain, 1e-4)


def test_channels_last_auto_is_for_gpus_and_networks_without_instance_norm():
    from translate.config import CycleGANConfig, Pix2PixConfig, SRResNetConfig
    from translate.engine.speed import use_channels_last

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert use_channels_last(Pix2PixConfig(data="x"), gpu) and not use_channels_last(Pix2PixConfig(data="x"), cpu)
    assert use_channels_last(SRResNetConfig(hr="x"), gpu)
    assert not use_channels_last(CycleGANConfig(a="x", b="x"), gpu)  # instance norm: slower in NHWC
    assert use_channels_last(CycleGANConfig(a="x", b="x", channels_last="on"), cpu)
    assert not use_channels_last(Pix2PixConfig(data="x", channels_last="off"), gpu)


def test_bf16_autocast_step_stays_close_to_the_fp32_step():
    """bf16 keeps 8 bits of mantissa: the same losses to about 1% (here on a CPU, where it is emulated
    without bf16 units: slow, so two steps of a tiny net)."""
    from accelerate.state import AcceleratorState

    plain = _losses("cyclegan", "cpu", steps=2)
    AcceleratorState._reset_state(reset_partial_state=True)  # Accelerate's precision is process-wide
    assert_same_losses(_losses("cyclegan", "cpu", steps=2, mixed_precision="bf16"), plain, 0.02)
