"""The defaults of docs/DEFAULTS.md and the options around them: init types give their documented
statistics, spectral normalisation bounds the discriminator's weights, the bicubic skip makes a
fresh SR model bicubic while paper-layout files load as before, pix2pix records how it converts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tests.helpers import cli, tiny, train, write_domain
from translate.errors import ConfigError
from translate.nets.builders import build_discriminator, build_generator
from translate.nets.norms import initialize

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


# Tiny networks: one thread is as fast, and does not stall when the machine is busy.
pytestmark = pytest.mark.usefixtures("one_thread")


# -- init types ------------------------------------------------------------------------------------


def conv(seed: int = 0) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(64, 32, 3)  # fan_in 576, fan_out 288: 18432 weights, enough for a close std estimate


@pytest.mark.parametrize(
    ("init_type", "std"),
    [
        ("normal", 0.02),
        ("xavier", 0.02 * math.sqrt(2 / (576 + 288))),
        ("kaiming", math.sqrt(2 / 576)),  # He-normal: no gain
        ("default", 1 / math.sqrt(576) / math.sqrt(3)),  # PyTorch: uniform(+-1/sqrt(fan_in))
    ],
)
def test_init_types_give_their_documented_spread(init_type: str, std: float) -> None:
    layer = initialize(conv(), init_type, 0.02)
    assert layer.weight.std().item() == pytest.approx(std, rel=0.03)
    assert layer.weight.mean().abs().item() < 0.05 * std
    if init_type == "default":
        assert layer.weight.abs().max().item() <= math.sqrt(3) * std  # uniform, bounded
        assert layer.bias.abs().max().item() > 0  # PyTorch draws biases too
    else:
        assert torch.count_nonzero(layer.bias) == 0


def test_orthogonal_init_gives_orthogonal_rows_scaled_by_the_gain() -> None:
    w = initialize(conv(), "orthogonal", 0.5).weight.reshape(32, -1)
    assert torch.allclose(w @ w.T, 0.25 * torch.eye(32), atol=1e-5)


def test_batch_norm_scales_are_drawn_around_one() -> None:
    norm = nn.BatchNorm2d(4096)
    initialize(norm, "xavier", 0.1)
    assert norm.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert norm.weight.std().item() == pytest.approx(0.1, rel=0.05)
    assert torch.count_nonzero(norm.bias) == 0
    initialize(norm, "default")
    assert torch.equal(norm.weight, torch.ones(4096))


def test_unknown_init_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="init type"):
        initialize(conv(), "uniform")


@pytest.mark.parametrize("method", ["cyclegan", "pix2pix", "discogan", "srresnet", "srgan", "cut", "fastcut"])
def test_every_method_builds_its_networks_with_the_chosen_init(method: str, tmp_path) -> None:
    from accelerate import Accelerator

    from translate.methods import METHODS, method_class

    settings = {"a": "x", "b": "y", "hr": "x", "data": "x", "ngf": 4, "ndf": 4, "width": 4, "blocks": 1}
    cls = METHODS[method].settings
    fields = cls.__dataclass_fields__
    config = cls(**{k: v for k, v in settings.items() if k in fields}, init_type="normal", init_gain=0.5)
    if method == "srgan":
        config.content_loss = "mse"  # no VGG weights here
    built = method_class(method)(config, Accelerator(cpu=True))
    for name, net in built.networks.items():
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.numel() >= 256]
        spread = torch.cat([m.weight.flatten() for m in convs]).std().item()
        assert spread == pytest.approx(0.5, rel=0.2), name  # far from every other init at these widths


# -- spectral normalisation ------------------------------------------------------------------------


def largest_singular_values(net: nn.Module) -> list[float]:
    """sigma_max of every conv/linear weight as the layer uses it, reshaped to (out, in * k * k): the square
    root of the largest eigenvalue of its smaller Gram matrix (cheaper than an SVD)."""
    sigmas = []
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight.detach().double().reshape(m.weight.shape[0], -1)
            gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
            sigmas.append(torch.linalg.eigvalsh(gram)[-1].sqrt().item())
    return sigmas


def test_spectral_norm_makes_every_patchgan_layer_1_lipschitz() -> None:
    torch.manual_seed(0)
    plain = build_discriminator(6, ndf=8, n_layers=3, norm="batch")
    assert max(abs(s - 1) for s in largest_singular_values(plain)) > 0.5  # N(0, 0.02) weights are far from 1
    torch.manual_seed(0)
    net = build_discriminator(6, ndf=8, n_layers=3, norm="spectral").train()
    for _ in range(5):  # each training forward pass runs one more power iteration
        net(torch.randn(2, 6, 32, 32))
    sigmas = largest_singular_values(net)
    assert len(sigmas) == 5
    assert sigmas == pytest.approx([1.0] * 5, abs=0.02)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in net.modules())


def test_spectral_norm_in_the_pixel_and_srgan_discriminators() -> None:
    from translate.nets.norms import spectral_norm
    from translate.nets.srresnet import SRDiscriminator

    pixel = build_discriminator(3, ndf=8, n_layers=0, norm="spectral")
    sr = spectral_norm(SRDiscriminator(3, 4, norm="spectral")).train()
    for _ in range(20):  # the 1152 -> 1024 linear layer converges more slowly than the convs
        pixel(torch.randn(2, 3, 8, 8))
        sr(torch.randn(2, 3, 24, 24))
    for net in (pixel, sr):
        sigmas = largest_singular_values(net)
        assert sigmas == pytest.approx([1.0] * len(sigmas), abs=0.02)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in sr.modules())


def test_spectral_norm_learns_under_a_gradient_penalty() -> None:
    from translate.losses import gradient_penalty

    net = build_discriminator(3, ndf=4, n_layers=2, norm="spectral")
    real, fake = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    (net(real).mean() - net(fake).mean() + gradient_penalty(net, real, fake)).backward()
    originals = [p for n, p in net.named_parameters() if n.endswith("original")]
    assert originals and all(p.grad is not None and p.grad.abs().sum() > 0 for p in originals)


def test_default_discriminator_layouts_keep_their_keys() -> None:
    from translate.nets.srresnet import SRDiscriminator

    reference = torch.load(REFERENCE / "patchgan3_batch_ndf8_in6.pth", weights_only=True)
    ours = build_discriminator(6, ndf=8, n_layers=3, norm="batch").state_dict()
    assert set(ours) == set(reference)
    keys = set(SRDiscriminator(3, 8).state_dict())
    assert {"features.0.weight", "features.3.running_mean", "head.1.weight", "head.3.bias"} <= keys
    assert not any("parametrizations" in k for k in keys)
    spectral = set(build_discriminator(6, ndf=8, n_layers=3, norm="spectral").state_dict())
    assert "model.0.parametrizations.weight.original" in spectral


# -- super-resolution skip -------------------------------------------------------------------------


def test_fresh_sr_model_with_the_bicubic_skip_is_pillows_bicubic() -> None:
    rng = np.random.default_rng(0)
    coarse = Image.fromarray((40 + rng.random((4, 5, 3)) * 175).astype(np.uint8))
    lr = np.asarray(coarse.resize((16, 12), Image.Resampling.BILINEAR))  # smooth: Pillow clips no overshoot
    for scale in (2, 4):
        net = build_generator("srresnet", width=4, n_blocks=1, scale=scale, skip="bicubic")
        x = torch.from_numpy(lr.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
        with torch.no_grad():
            out = ((net(x)[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255)
        expected = np.asarray(Image.fromarray(lr).resize((16 * scale, 12 * scale), Image.Resampling.BICUBIC))
        assert np.abs(out - expected).max() <= 1  # Pillow rounds to 8 bits between its two passes


def test_sr_skip_leaves_the_weights_alone_and_old_model_folders_load_as_the_paper(tmp_path) -> None:
    from translate.model_folder import save_model
    from translate.zoo import load_generator

    spec = {"name": "srresnet", "in_channels": 3, "out_channels": 3, "scale": 2, "width": 4, "n_blocks": 1}
    paper = build_generator(**spec)
    skip = build_generator(**spec, skip="bicubic")
    assert paper.state_dict().keys() == skip.state_dict().keys()
    save_model(paper, {"method": "srresnet", "generator": spec, "scale": 2}, tmp_path / "old")  # no "skip" key
    loaded, _ = load_generator(tmp_path / "old")
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), paper.eval()(x))
    assert loaded.bicubic is None


def test_sr_model_with_the_bicubic_skip_exports_at_any_size(tmp_path) -> None:
    """ONNX (which goes through torch.export first) with dynamic height and width, checked at another size."""
    pytest.importorskip("onnxruntime")
    from translate.export import export_model

    fmt = "onnx"

    generator = {"name": "srresnet", "scale": 2, "width": 4, "n_blocks": 1, "skip": "bicubic"}
    net = build_generator(**generator)
    nn.init.normal_(net.tail.weight, 0.0, 0.01)  # a trained model: not bicubic alone
    report = export_model(net, {"method": "srresnet", "generator": generator, "scale": 2}, tmp_path / f"g.{fmt}", fmt)
    assert report.max_abs_diff <= report.tolerance and report.check_shape[-2:] != report.example_shape[-2:]


def test_sr_run_records_its_skip_and_init(tmp_path) -> None:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    options = tiny("srresnet", hr_size=16, width=4, log_every=None, steps=1, crops_per_image=1)
    train("srresnet", tmp_path / "run", "--hr", folder, *options)
    spec = json.loads((tmp_path / "run" / "models" / "sr" / "config.json").read_text())
    assert spec["generator"]["skip"] == "bicubic" and spec["sr_skip"] == "bicubic"
    assert spec["init_type"] == "orthogonal" and spec["init_gain"] == 0.02  # the measured default, recorded
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "sr_skip: bicubic" in saved and "init_type: " in saved and "init_gain: 0.02" in saved

    from accelerate import Accelerator

    from translate.config import SRResNetConfig
    from translate.methods.srgan import SRResNetMethod

    paper = SRResNetMethod(SRResNetConfig(hr="x", width=4, blocks=1, sr_skip="none"), Accelerator(cpu=True))
    net, spec = paper.exports()["sr"]
    assert "skip" not in spec["generator"] and spec["sr_skip"] == "none"  # the layout older files have
    assert net.bicubic is None and net.tail.weight.abs().sum() > 0


def test_runs_from_before_the_skip_keep_the_papers_network(tmp_path) -> None:
    from translate.config import SRGANConfig, SRResNetConfig, saved_run_settings

    old = tmp_path / "old"
    old.mkdir()
    (old / "config.yaml").write_text("method: srresnet\nhr: x\nscale: 2\nwidth: 4\n")  # no sr_skip: the paper's
    assert saved_run_settings(SRResNetConfig, old)["sr_skip"] == "none"  # --resume goes on without a skip
    with pytest.raises(ConfigError, match="--sr-skip none"):
        SRGANConfig(hr="x", scale=2, init=str(old), out=tmp_path / "new", content_loss="mse").validate()
    SRGANConfig(hr="x", scale=2, init=str(old), out=tmp_path / "new", content_loss="mse", sr_skip="none").validate()


# -- pix2pix end to end: recorded choices, and an exact resume with spectral normalisation ---------------


def test_pix2pix_records_its_choices_and_resumes_exactly_with_spectral_norm(tmp_path) -> None:
    from safetensors.torch import load_file

    a = write_domain(tmp_path / "A", 4, 32, seed=1)
    b = write_domain(tmp_path / "B", 4, 32, seed=1, mapping=lambda x: 255 - x)
    spectral = {"d_norm": "spectral", "init_type": "orthogonal", "init_gain": 0.05}
    options = tiny("pix2pix", log_every=None, save_every=2, sample_every=100, decay_from=1, **spectral)
    train("pix2pix", tmp_path / "straight", "--a", a, "--b", b, *options, "--steps", "4")
    train("pix2pix", tmp_path / "split", "--a", a, "--b", b, *options, "--steps", "2")
    train("pix2pix", tmp_path / "split", "--a", a, "--b", b, *options, "--steps", "4", "--resume")
    saved = (tmp_path / "split" / "config.yaml").read_text()
    assert "d_norm: spectral" in saved and "init_type: orthogonal" in saved and "init_gain: 0.05" in saved
    spec = json.loads((tmp_path / "split" / "models" / "a2b" / "config.json").read_text())
    assert spec["eval_mode"] is True  # the measured default (docs/DEFAULTS.md)
    assert (spec["init_type"], spec["init_gain"]) == ("orthogonal", 0.05)
    for run in ("straight", "split"):  # D (Accelerate's second network file) carries its power-iteration vectors
        d = load_file(tmp_path / run / "checkpoints" / "step-00000004" / "model_1.safetensors")
        assert any(k.endswith("parametrizations.weight.original") for k in d) and any(k.endswith("_u") for k in d)
    straight, split = (load_file(tmp_path / r / "models" / "a2b" / "model.safetensors") for r in ("straight", "split"))
    assert straight.keys() == split.keys()
    for key in straight:
        torch.testing.assert_close(split[key], straight[key], rtol=0, atol=1e-6, msg=key)


@pytest.mark.parametrize(
    ("method", "paper"),
    [("cyclegan", "normal, gain 0.02"), ("pix2pix", "normal, gain 0.02"), ("discogan", "default (PyTorch's)")],
)
def test_help_says_which_init_the_paper_used(method: str, paper: str) -> None:
    import re

    result = cli("train", method, "--help")
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # unwrap the help boxes
    assert result.exit_code == 0 and f"Paper/official code: {paper}" in text
