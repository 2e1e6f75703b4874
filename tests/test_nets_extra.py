"""DiscoGAN, SRResNet/SRGAN and VGG feature nets: shapes, features and weight loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from translate.errors import ConfigError
from translate.nets.discogan import DiscoDiscriminator, DiscoGenerator
from translate.nets.srresnet import SRDiscriminator, SRResNet
from translate.nets.vgg import VGG19_URL, VGGFeatures, vgg_weights_available


@pytest.mark.parametrize("image_size", [64, 128])
@pytest.mark.parametrize("extra_layers", [False, True])
def test_disco_generator_shape(image_size: int, extra_layers: bool) -> None:
    net = DiscoGenerator(out_channels=1, width=8, extra_layers=extra_layers, image_size=image_size)
    out = net(torch.randn(2, 3, image_size, image_size))
    assert out.shape == (2, 1, image_size, image_size)
    assert out.abs().max() <= 1


def test_disco_generator_keys_follow_official_layout() -> None:
    net = DiscoGenerator(width=8)
    keys = net.state_dict().keys()
    assert {"main.0.weight", "main.3.running_mean", "main.11.weight", "main.20.weight"} <= keys
    assert "main.21.weight" not in keys
    convs = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert len(convs) == 8 and all(c.bias is None for c in convs)


@pytest.mark.parametrize(("image_size", "n_features"), [(64, 3), (128, 4)])
def test_disco_discriminator_logits_and_features(image_size: int, n_features: int) -> None:
    net = DiscoDiscriminator(in_channels=3, width=8, image_size=image_size)
    logits, features = net(torch.randn(2, 3, image_size, image_size))
    assert logits.shape == (2, 1)
    assert len(features) == n_features
    assert [f.shape[1] for f in features] == [16, 32, 64, 64][:n_features]
    assert features[-1].shape[-1] == 4
    assert all(f.min() < 0 for f in features)  # LeakyReLU outputs, not ReLU


def test_disco_rejects_other_sizes() -> None:
    with pytest.raises(ConfigError, match="choose 64 or 128"):
        DiscoGenerator(image_size=256)


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_srresnet_scales(scale: int) -> None:
    net = SRResNet(width=8, n_blocks=2, scale=scale)
    assert net(torch.randn(2, 3, 12, 10)).shape == (2, 3, 12 * scale, 10 * scale)


def test_srresnet_defaults_and_bad_scale() -> None:
    net = SRResNet()
    assert sum(m.__class__.__name__ == "ResidualBlock" for m in net.modules()) == 16
    assert sum(isinstance(m, torch.nn.PixelShuffle) for m in net.modules()) == 2
    with pytest.raises(ConfigError, match="choose 2, 4 or 8"):
        SRResNet(scale=3)


@pytest.mark.parametrize("crop", [96, 128])
def test_sr_discriminator_any_crop(crop: int) -> None:
    net = SRDiscriminator(width=8)
    assert net(torch.randn(2, 3, crop, crop)).shape == (2, 1)


def test_sr_discriminator_paper_widths() -> None:
    net = SRDiscriminator()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2] * 4
    assert net.head[1].in_features == 512 * 36


def _hide_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"


def test_vgg_missing_weights_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hub_file = _hide_hub(monkeypatch, tmp_path)
    assert vgg_weights_available() is None
    with pytest.raises(ConfigError) as err:
        VGGFeatures()
    msg = str(err.value)
    assert "\n" not in msg and str(hub_file) in msg and VGG19_URL in msg
    assert "--vgg-weights PATH" in msg and "--content-loss mse" in msg
    missing = tmp_path / "nope.pth"
    with pytest.raises(ConfigError, match=str(missing)):
        VGGFeatures(weights_path=missing)


def _fake_vgg_file(path: Path) -> dict[str, torch.Tensor]:
    """A random state dict with torchvision's VGG19 key names (features plus a classifier to skip)."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    layers = make_layers(cfgs["E"]).state_dict()
    state = {f"features.{k}": torch.randn_like(v) * 0.01 for k, v in layers.items()}
    state["classifier.6.bias"] = torch.zeros(1000)
    torch.save(state, path)
    return state


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    return path, _fake_vgg_file(path)


@pytest.mark.parametrize(("layer", "last"), [("relu5_4", torch.nn.ReLU), ("conv5_4", torch.nn.Conv2d)])
def test_vgg_loads_local_weights(vgg_file, layer: str, last: type) -> None:
    path, state = vgg_file
    assert vgg_weights_available(path) == path
    net = VGGFeatures(layer, weights_path=path)
    assert isinstance(net.features[-1], last) and len(net.features) in (35, 36)
    assert torch.equal(net.features[34].weight, state["features.34.weight"])
    assert not any(p.requires_grad for p in net.parameters())
    assert not net.train().training
    x = torch.rand(1, 3, 32, 32, requires_grad=True) * 2 - 1
    out = net(x)
    assert out.shape == (1, 512, 2, 2)
    out.sum().backward()  # frozen net, but gradients still reach the image


def test_vgg_uses_hub_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, vgg_file) -> None:
    hub_file = _hide_hub(monkeypatch, tmp_path)
    hub_file.parent.mkdir(parents=True)
    hub_file.symlink_to(vgg_file[0])
    assert vgg_weights_available() == hub_file
    VGGFeatures()


def test_vgg_rejects_wrong_file(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(ConfigError, match="not a torchvision VGG19 state dict"):
        VGGFeatures(weights_path=path)
    with pytest.raises(ConfigError, match="relu5_4"):
        VGGFeatures("pool5", weights_path=path)
