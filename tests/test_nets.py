"""Generators and discriminator of translate.nets: shapes, init, size checks and exact agreement
with checkpoints saved by the reference CycleGAN/pix2pix implementation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from translate.errors import ConfigError
from translate.nets.builders import build_discriminator, build_generator
from translate.nets.norms import InstanceNorm2d, init_weights, load_state_dict_compat
from translate.nets.registry import architecture, check_image_size, generator_choices

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
REF_GENERATORS = {
    "resnet_9blocks": "resnet9",
    "resnet_6blocks": "resnet6",
    "unet_256": "unet256",
    "unet_128": "unet128",
}
LEGACY = ("running_mean", "running_var", "num_batches_tracked")


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
@pytest.mark.parametrize("name", generator_choices())
def test_generator_shapes(name: str, norm: str) -> None:
    size = architecture(name).size.multiple
    size = 32 if size == 4 else size
    net = build_generator(name, in_channels=1, out_channels=2, ngf=4, norm=norm, dropout=True)
    out = net(torch.randn(2, 1, size, size))
    assert out.shape == (2, 2, size, size)
    assert out.abs().max() <= 1  # Tanh


def test_resnet_accepts_non_square_multiple_of_4() -> None:
    net = build_generator("resnet6", ngf=4)
    assert net(torch.randn(1, 3, 20, 36)).shape == (1, 3, 20, 36)


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
@pytest.mark.parametrize(("size", "n_layers", "patches"), [(64, 3, 6), (256, 3, 30), (64, 1, 30), (32, 0, 32)])
def test_discriminator_shapes(norm: str, size: int, n_layers: int, patches: int) -> None:
    net = build_discriminator(in_channels=6, ndf=4, n_layers=n_layers, norm=norm)
    assert net(torch.randn(2, 6, size, size)).shape == (2, 1, patches, patches)


def test_reference_key_layout() -> None:
    keys = build_generator("resnet9", ngf=4).state_dict().keys()
    assert {"model.1.weight", "model.10.conv_block.1.weight", "model.10.conv_block.5.weight"} <= keys
    assert "model.26.bias" in keys
    assert "model.10.conv_block.6.weight" in build_generator("resnet9", ngf=4, dropout=True).state_dict()
    unet = build_generator("unet256", ngf=4, norm="batch").state_dict()
    assert {"model.model.0.weight", "model.model.1.model.1.weight", "model.model.3.bias"} <= unet.keys()
    assert "model.model.0.bias" not in unet  # with batch norm convs drop the bias, even the outermost one
    assert "model.0.weight" in build_discriminator(ndf=4).state_dict()


def test_instance_norm_has_no_params_or_buffers() -> None:
    sd = build_generator("resnet6", ngf=4, norm="instance").state_dict()
    assert not [k for k in sd if k.endswith(LEGACY)]
    assert "model.1.bias" in sd  # instance norm: convs keep their bias


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_of_a_channels_last_map_gives_pytorchs_values_in_nhwc(affine: bool) -> None:
    torch.manual_seed(0)
    norm = InstanceNorm2d(6, affine=affine)
    if affine:
        nn.init.normal_(norm.weight), nn.init.normal_(norm.bias)
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    nhwc = x.contiguous(memory_format=torch.channels_last)
    native = nn.functional.instance_norm(x, weight=norm.weight, bias=norm.bias, eps=norm.eps)
    y = norm(nhwc)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    torch.testing.assert_close(y, native, rtol=1e-5, atol=1e-5)
    assert norm(x).is_contiguous()  # an NCHW map takes PyTorch's own path
    half = norm(nhwc.bfloat16())
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), native, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", ["resnet9", "unet128"])
def test_channels_last_generators_stay_channels_last(name: str) -> None:
    """Every conv of a channels-last generator reads an NHWC map (PyTorch's instance norm returned NCHW,
    so the convs after the first norm ran in NCHW)."""
    g = build_generator(name, ngf=4, norm="instance").to(memory_format=torch.channels_last)
    layouts = []
    for m in g.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.register_forward_hook(
                lambda _, args, out: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
            )
    g(torch.randn(1, 3, 128, 128).contiguous(memory_format=torch.channels_last))
    assert len(layouts) > 10 and all(layouts), layouts


def test_unet_dropout_only_in_inner_blocks() -> None:
    for name, n in [("unet256", 3), ("unet128", 2)]:
        net = build_generator(name, ngf=4, dropout=True)
        assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == n


def test_init_statistics() -> None:
    torch.manual_seed(0)
    net = build_generator("unet256", ngf=16, norm="batch")
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.mean()) < 1e-3 and abs(weights.std() - 0.02) < 1e-3
    assert all(m.bias is None or not m.bias.any() for m in convs)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    scales = torch.cat([m.weight for m in bns])
    assert abs(scales.mean() - 1) < 5e-3 and abs(scales.std() - 0.02) < 5e-3
    assert not torch.cat([m.bias for m in bns]).any()
    lin = init_weights(nn.Linear(100, 100), std=0.5)
    assert abs(lin.weight.std() - 0.5) < 0.05 and not lin.bias.any()


def test_size_multiples_and_errors() -> None:
    assert [architecture(n).size.multiple for n in generator_choices()] == [4, 4, 256, 128]
    check_image_size("resnet9", 256)
    check_image_size("unet128", 256)
    with pytest.raises(ConfigError) as err:
        check_image_size("unet256", 100)
    assert str(err.value) == ("--size 100 does not fit generator unet256: it needs a multiple of 256 (try --size 256)")
    with pytest.raises(ConfigError, match=r"multiple of 4 \(try --size 288\)"):
        check_image_size("resnet9", 286)
    with pytest.raises(ConfigError, match="try --size 128"):
        check_image_size("unet128", 0)


def test_unknown_names_list_choices() -> None:
    with pytest.raises(ConfigError, match="resnet9, resnet6, unet256, unet128"):
        build_generator("resnet12")
    with pytest.raises(ConfigError, match="instance, batch, none"):
        build_generator("resnet9", norm="group")
    with pytest.raises(ConfigError, match="instance, batch, none"):
        build_discriminator(norm="layer")
    with pytest.raises(ConfigError, match="unet256"):
        architecture("unet64")
    with pytest.raises(ConfigError):
        build_discriminator(n_layers=-1)


def test_load_state_dict_compat_mismatches() -> None:
    net = build_generator("resnet6", ngf=4)
    sd = dict(net.state_dict())
    load_state_dict_compat(net, {**sd, "model.2.running_mean": torch.zeros(4)})  # legacy buffer: dropped
    missing = {k: v for k, v in sd.items() if k != "model.4.weight"}
    with pytest.raises(ConfigError, match="missing key 'model.4.weight'"):
        load_state_dict_compat(net, missing)
    with pytest.raises(ConfigError, match="unexpected key 'model.99.weight'"):
        load_state_dict_compat(net, {**sd, "model.99.weight": torch.zeros(1)})
    with pytest.raises(ConfigError, match=r"'model.1.weight' has shape \(8, 3, 7, 7\)"):
        load_state_dict_compat(net, {**sd, "model.1.weight": torch.zeros(8, 3, 7, 7)})
    with pytest.raises(ConfigError, match="missing key"):  # batch-norm buffers are real, never dropped
        load_state_dict_compat(build_generator("resnet6", ngf=4, norm="batch"), sd)


def _reference_cases() -> list[str]:
    if not (REFERENCE / "cases.json").is_file():
        return []
    return sorted(json.loads((REFERENCE / "cases.json").read_text()))


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference checkpoints not found at {REFERENCE}")
def test_reference_cases_cover_every_checkpoint() -> None:
    assert sorted(p.name for p in REFERENCE.glob("*.pth")) == _reference_cases()


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"reference checkpoints not found at {REFERENCE}")
@pytest.mark.parametrize("filename", _reference_cases() or ["<none>"])
def test_reference_checkpoint_reproduces_output(filename: str) -> None:
    case = json.loads((REFERENCE / "cases.json").read_text())[filename]
    if "netG" in case:
        name = REF_GENERATORS[case["netG"]]
        channels = case["input_nc"], case["output_nc"]
        net = build_generator(
            name, in_channels=channels[0], out_channels=channels[1], ngf=case["ngf"], norm=case["norm"],
            dropout=case["dropout"],
        )  # fmt: skip
    else:
        assert case["netD"] == "basic"
        net = build_discriminator(case["input_nc"], case["ndf"], case["n_layers_D"], case["norm"])
    state = torch.load(REFERENCE / filename, weights_only=True)
    own = set(net.state_dict())
    assert own == {k for k in state if k in own or not k.endswith(LEGACY)}
    load_state_dict_compat(net, state)
    io = torch.load(REFERENCE / filename.replace(".pth", ".io.pt"), weights_only=True)
    net.eval()
    with torch.no_grad():
        out = net(io["input"])
    assert out.shape == io["output"].shape
    assert (out - io["output"]).abs().max() < 1e-4


@pytest.mark.skipif(
    not (shutil.which("g++") or shutil.which("clang++")), reason="torch.compile on a CPU needs a C++ compiler"
)
def test_antialiased_upsample_compiles_and_gives_eager_values_and_gradients() -> None:
    """CUT's generator failed under --compile networks: the compiled replicate pad's backward (see
    translate/nets/resnet.py, replicate_border)."""
    from translate.nets.resnet import Upsample

    torch.manual_seed(0)
    up, conv = Upsample(4), nn.Conv2d(4, 2, 3, padding=1)
    x = torch.randn(1, 4, 6, 5)

    def grads(fn):
        leaf = x.clone().requires_grad_()
        y = fn(leaf)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        return y.detach(), leaf.grad

    eager = grads(lambda t: conv(up(t)))
    compiled = grads(torch.compile(lambda t: conv(up(t))))
    for found, expected in zip(compiled, eager, strict=True):
        torch.testing.assert_close(found, expected, rtol=1e-5, atol=1e-5)
