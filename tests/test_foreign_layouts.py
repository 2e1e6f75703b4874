"""Generator files of other implementations load: the same ResNet/U-Net under other key names, with affine
instance norm, with or without conv biases, nested in a checkpoint dict, in half precision. Each file is
made by a small re-implementation written here (not our classes), and the loaded network must compute
what the re-implementation computes. Files that fit nothing, or fit ambiguously, are refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.helpers import cli, one_line_error, random_rgb, write
from translate.data.images import load_image
from translate.errors import ConfigError
from translate.model_folder import read_config, save_model
from translate.nets import detect
from translate.nets.builders import build_generator
from translate.nets.detect import NotAGenerator
from translate.nets.registry import architecture
from translate.zoo import load_generator

pytestmark = pytest.mark.usefixtures("one_thread")


def norm(kind: str, channels: int, affine: bool) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=affine)


class ForeignResnet(nn.Module):
    """CycleGAN's ResNet generator as another project writes it: named layers, padding inside the convs."""

    def __init__(self, ngf: int = 2, n_blocks: int = 4, kind: str = "instance", affine: bool = True, bias: bool = True):
        super().__init__()
        self.stem_conv = nn.Conv2d(3, ngf, 7, padding=3, padding_mode="reflect", bias=bias)
        self.stem_norm = norm(kind, ngf, affine)
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, 2 * c, 3, 2, 1, bias=bias), norm(kind, 2 * c, affine)) for c in (ngf, 2 * ngf)
        )
        ch = 4 * ngf
        self.res = nn.ModuleList(
            nn.ModuleDict(
                {
                    "c1": nn.Conv2d(ch, ch, 3, padding=1, padding_mode="reflect", bias=bias),
                    "n1": norm(kind, ch, affine),
                    "c2": nn.Conv2d(ch, ch, 3, padding=1, padding_mode="reflect", bias=bias),
                    "n2": norm(kind, ch, affine),
                }
            )
            for _ in range(n_blocks)
        )
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias), norm(kind, c // 2, affine)
            )
            for c in (ch, ch // 2)
        )
        self.head = nn.Conv2d(ngf, 3, 7, padding=3, padding_mode="reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_norm(self.stem_conv(x)))
        for layer in self.down:
            x = F.relu(layer(x))
        for block in self.res:
            x = x + block["n2"](block["c2"](F.relu(block["n1"](block["c1"](x)))))
        for layer in self.up:
            x = F.relu(layer(x))
        return torch.tanh(self.head(x))


class ForeignUnet(nn.Module):
    """pix2pix's U-Net written flat: a list of down convs, a list of up convs from the innermost out."""

    def __init__(self, ngf: int = 2, num_downs: int = 5, affine: bool = True, bias: bool = False):
        super().__init__()
        self.n = num_downs
        outs = [ngf, 2 * ngf, 4 * ngf, 8 * ngf] + [8 * ngf] * (num_downs - 4)
        ins = [3, *outs[:-1]]
        downs = []
        for i in range(num_downs):
            conv = nn.Conv2d(ins[i], outs[i], 4, 2, 1, bias=bias)
            inner = 0 < i < num_downs - 1
            downs.append(nn.Sequential(conv, nn.InstanceNorm2d(outs[i], affine=affine)) if inner else conv)
        self.downs = nn.ModuleList(downs)
        ups = []
        for i in reversed(range(num_downs)):
            into = outs[i] if i == num_downs - 1 else outs[i] * 2
            if i == 0:
                ups.append(nn.ConvTranspose2d(into, 3, 4, 2, 1))
            else:
                conv = nn.ConvTranspose2d(into, ins[i], 4, 2, 1, bias=bias)
                ups.append(nn.Sequential(conv, nn.InstanceNorm2d(ins[i], affine=affine)))
        self.ups = nn.ModuleList(ups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, down in enumerate(self.downs):
            skips.append(x)
            x = down(F.leaky_relu(x, 0.2) if i else x)
        for j, up in enumerate(self.ups):
            i = self.n - 1 - j
            x = up(F.relu(x))
            if i == 0:
                return torch.tanh(x)
            x = torch.cat([skips[i], x], 1)
        raise AssertionError("unreachable")


def randomised(net: nn.Module, seed: int = 0) -> nn.Module:
    """Every weight, affine parameter and statistic away from its init, so that each one matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.is_floating_point():
                tensor.add_(torch.randn(tensor.shape, generator=gen) * 0.3)
    return net.eval()


def image(side: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def assert_same_output(loaded: nn.Module, foreign: nn.Module, tolerance: float = 1e-5) -> None:
    x = image()
    with torch.no_grad():
        expected, got = foreign(x), loaded(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < tolerance


RESNETS = {
    "affine-bias": {"affine": True, "bias": True},
    "affine-no-bias": {"affine": True, "bias": False},
    "plain-instance": {"affine": False, "bias": True},  # only names differ from the reference
    "batch-with-bias": {"kind": "batch", "bias": True},
}


@pytest.mark.parametrize("variant", RESNETS)
def test_a_resnet_under_other_names_equals_its_implementation(variant, tmp_path):
    foreign = randomised(ForeignResnet(**RESNETS[variant]))
    torch.save(foreign.state_dict(), tmp_path / "g.pth")
    net, spec = load_generator(tmp_path / "g.pth")
    generator = spec["generator"]
    assert generator["name"] == "resnet4" and generator["ngf"] == 2
    options = RESNETS[variant]
    assert generator["norm"] == options.get("kind", "instance")
    assert generator.get("affine", False) is options.get("affine", False)
    assert spec["mapping"][0] == "stem_conv.weight -> model.1.weight"
    assert_same_output(net, foreign)


@pytest.mark.parametrize(("num_downs", "affine", "bias"), [(7, True, False), (8, False, True)])
def test_a_unet_under_other_names_equals_its_implementation(num_downs, affine, bias, tmp_path):
    foreign = randomised(ForeignUnet(num_downs=num_downs, affine=affine, bias=bias))
    torch.save(foreign.state_dict(), tmp_path / "g.pth")
    net, spec = load_generator(tmp_path / "g.pth")
    generator = spec["generator"]
    assert generator["name"] == f"unet{2**num_downs}" and generator["norm"] == "instance"
    assert generator.get("affine", False) is affine and generator.get("bias", True) is bias
    assert f"ups.{num_downs - 1}.weight -> model.model.3.weight" in spec["mapping"]
    x = image(2**num_downs)
    with torch.no_grad():
        assert (net(x) - foreign(x)).abs().max() < 1e-5


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_files_load_as_fp32(dtype, tmp_path):
    foreign = randomised(ForeignResnet())
    torch.save({k: v.to(dtype) for k, v in foreign.state_dict().items()}, tmp_path / "g.pth")
    net, _ = load_generator(tmp_path / "g.pth")
    assert all(p.dtype == torch.float32 for p in net.parameters())
    with torch.no_grad():  # the re-implementation with the rounded weights
        for tensor in foreign.state_dict().values():
            tensor.copy_(tensor.to(dtype).float())
    assert_same_output(net, foreign)


@pytest.mark.parametrize("wrapper", ["model", "state_dict", "G_A", "netG"])
def test_nested_state_dicts_load(wrapper, tmp_path):
    foreign = randomised(ForeignResnet())
    other = {f"d.{k}": v for k, v in randomised(ForeignResnet(), seed=5).state_dict().items()}
    torch.save({wrapper: foreign.state_dict(), "D": other, "epoch": 7}, tmp_path / "g.pth")
    net, _ = load_generator(tmp_path / "g.pth")
    assert_same_output(net, foreign)


def test_several_generators_in_one_file_need_a_direction(tmp_path):
    a, b = randomised(ForeignResnet(), seed=1), randomised(ForeignResnet(), seed=2)
    torch.save({"G_A": a.state_dict(), "G_B": b.state_dict(), "D_A": {"w": torch.ones(1)}}, tmp_path / "g.pth")
    with pytest.raises(ConfigError, match=r"several generators \(G_A, G_B\).*--direction"):
        load_generator(tmp_path / "g.pth")
    one_line_error(cli("inspect", tmp_path / "g.pth"), "G_A, G_B")
    assert_same_output(load_generator(tmp_path / "g.pth", "a2b")[0], a)
    assert_same_output(load_generator(tmp_path / "g.pth", "b2a")[0], b)


def test_a_file_that_fits_no_architecture_names_the_first_tensor_that_did_not(tmp_path):
    foreign = ForeignResnet()
    foreign.res[1]["c2"] = nn.Conv2d(8, 8, 5, padding=2, bias=True)  # a 5x5 conv where every block has 3x3
    torch.save(foreign.state_dict(), tmp_path / "g.pth")
    with pytest.raises(NotAGenerator, match=r"res\.1\.c2\.weight \(8, 8, 5, 5\) did not fit model\.\d+\."):
        load_generator(tmp_path / "g.pth")
    one_line_error(cli("inspect", tmp_path / "g.pth"), "not a generator state dict", "res.1.c2.weight")


def test_a_role_that_differs_is_not_paired(tmp_path):
    """Same shapes, but a norm's weight named as a bias: a different network, refused."""
    state = ForeignResnet().state_dict()
    renamed = {("stem_norm.gain.bias" if k == "stem_norm.weight" else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "g.pth")
    with pytest.raises(NotAGenerator, match=r"stem_norm\.gain\.bias \(2,\) did not fit"):
        load_generator(tmp_path / "g.pth")


def test_a_file_that_fits_several_candidates_is_refused(tmp_path, monkeypatch):
    """No two registered networks share a parameter list, so two candidate lists stand in for a new family."""
    real = detect.load

    def doubled(target: str):
        found = real(target)
        return (lambda convs: found(convs) * 2) if target.endswith(":candidates") else found

    monkeypatch.setattr(detect, "load", doubled)
    torch.save(ForeignResnet().state_dict(), tmp_path / "g.pth")
    with pytest.raises(ConfigError, match="fits several generators by the shapes of its tensors"):
        load_generator(tmp_path / "g.pth")


def test_inspect_prints_the_mapping(tmp_path):
    torch.save(randomised(ForeignResnet()).state_dict(), tmp_path / "g.pth")
    result = cli("inspect", tmp_path / "g.pth")
    assert result.exit_code == 0, result.output
    assert "matched in order by shape and role" in result.output
    assert "res.3.c2.weight -> model.13.conv_block.5.weight" in result.output
    assert "affine" in result.output


def test_convert_runs_a_foreign_file_as_the_same_network_in_our_layout(tmp_path):
    foreign = randomised(ForeignResnet())
    torch.save(foreign.state_dict(), tmp_path / "foreign.pth")
    net, _ = load_generator(tmp_path / "foreign.pth")
    torch.save(net.state_dict(), tmp_path / "ours.pth")  # the reference layout, recognised by its keys
    write(tmp_path / "in" / "x.png", random_rgb(24, 20))
    for name in ("foreign", "ours"):
        result = cli(
            "convert", "--model", tmp_path / f"{name}.pth", "--input", tmp_path / "in", "--output", tmp_path / name
        )
        assert result.exit_code == 0, result.output + (result.stderr or "")
    foreign_out, ours_out = (load_image(tmp_path / name / "x.png") for name in ("foreign", "ours"))
    assert np.array_equal(np.asarray(foreign_out), np.asarray(ours_out))
    assert not np.all(np.asarray(foreign_out) == np.asarray(foreign_out).flat[0])  # not a flat image


@pytest.mark.parametrize("name", ["resnet9", "unet128"])
def test_the_new_options_round_trip_through_a_model_folder_and_the_reference_layout(name, tmp_path):
    """affine and bias are constructor keywords, so config.json takes them; in the reference key layout the
    recognisers read them back (an affine instance norm has weights but no running statistics)."""
    generator = {"name": name, "ngf": 2, "norm": "instance", "affine": True, "bias": False}
    net = randomised(build_generator(**generator))
    assert any(k.endswith("weight") and v.ndim == 1 for k, v in net.state_dict().items())  # affine shows
    save_model(net, {"method": architecture(name).method, "generator": generator}, tmp_path / "model")
    assert read_config(tmp_path / "model")["generator"] == generator
    loaded, _ = load_generator(tmp_path / "model")
    torch.save(net.state_dict(), tmp_path / "g.pth")
    detected, spec = load_generator(tmp_path / "g.pth")
    assert {k: spec["generator"][k] for k in ("norm", "affine", "bias")} == {
        "norm": "instance",
        "affine": True,
        "bias": False,
    }
    assert "mapping" not in spec  # recognised by its keys, not matched by shape
    x = image(128)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x)) and torch.equal(detected(x), net(x))
