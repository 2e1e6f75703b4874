"""Plain generator files load without being told their architecture: reference CycleGAN/pix2pix
state dicts (also DataParallel-prefixed, also as safetensors), CUT's anti-aliased ResNets, and SR
models spandrel knows; everything else is refused in one line, and nothing is unpickled."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from tests.helpers import cli, save_tiny_model, tiny, train, write_domain
from translate.errors import ConfigError, DataError
from translate.inference.tiling import is_upscaler
from translate.nets.builders import build_generator
from translate.nets.detect import clean_state_dict, detect_generator, read_state_dict
from translate.zoo import load_generator

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
CASES = json.loads((REFERENCE / "cases.json").read_text()) if (REFERENCE / "cases.json").is_file() else {}
GENERATOR_FILES = sorted(name for name, case in CASES.items() if "netG" in case)
NAMES = {"resnet_9blocks": "resnet9", "resnet_6blocks": "resnet6", "unet_256": "unet256", "unet_128": "unet128"}
needs_reference = pytest.mark.skipif(not CASES, reason="no ../shared/reference")


def save_as(state: dict[str, torch.Tensor], path: Path) -> Path:
    """The way other projects save weights: torch.save for .pth, safetensors otherwise."""
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous().clone() for k, v in state.items()}, path)
    else:
        torch.save(state, path)
    return path


def randomised(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Weights and batch-norm statistics away from their init, so that every one of them matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.is_floating_point() and not name.endswith("filt"):
                tensor.add_(torch.randn(tensor.shape, generator=gen) * 0.1)
    return net.eval()


# --- reference files --------------------------------------------------------------------------


@needs_reference
@pytest.mark.parametrize("variant", ["pth", "module-prefix", "safetensors"])
@pytest.mark.parametrize("filename", GENERATOR_FILES)
def test_reference_generators_load_undeclared_and_reproduce_their_output(filename, variant, tmp_path):
    case = CASES[filename]
    source = REFERENCE / filename
    if variant != "pth":
        state = torch.load(source, map_location="cpu", weights_only=True)
        if variant == "module-prefix":
            source = save_as({f"module.{k}": v for k, v in state.items()}, tmp_path / "latest_net_G.pth")
        else:
            source = save_as(state, tmp_path / "net_G.safetensors")
    net, spec = load_generator(source)
    generator = spec["generator"]
    assert generator["name"] == NAMES[case["netG"]]
    assert (generator["ngf"], generator["norm"], generator["dropout"]) == (case["ngf"], case["norm"], case["dropout"])
    assert (generator["in_channels"], generator["out_channels"]) == (case["input_nc"], case["output_nc"])
    assert spec["detected"] is True and spec["source"] == str(source)
    assert spec["method"] == ("pix2pix" if generator["name"].startswith("unet") else "cyclegan")
    assert spec.get("eval_mode", True) is (generator["norm"] != "batch")  # pix2pix runs as its test.py does
    io = torch.load(REFERENCE / filename.replace(".pth", ".io.pt"), weights_only=True)
    assert not net.training
    with torch.no_grad():
        assert (net(io["input"]) - io["output"]).abs().max() < 1e-4


@needs_reference
def test_a_discriminator_is_refused_in_one_line():
    source = REFERENCE / "patchgan3_batch_ndf8_in6.pth"
    with pytest.raises(ConfigError) as error:
        load_generator(source)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{source} is not a generator state dict this tool knows")
    assert "PatchGAN discriminator" in message and "model.model.0.weight" in message


@needs_reference
def test_clean_state_dict_drops_only_stale_instance_norm_buffers():
    old = torch.load(REFERENCE / "resnet9_instance_ngf8.pth", weights_only=True)
    assert "model.2.running_mean" in old
    cleaned = clean_state_dict({f"module.{k}": v for k, v in old.items()})
    assert not [k for k in cleaned if "running" in k or "num_batches" in k or k.startswith("module.")]
    batch = torch.load(REFERENCE / "unet256_batch_ngf8.pth", weights_only=True)
    assert clean_state_dict(batch).keys() == batch.keys()  # batch norm statistics are real weights


# --- our own generators round-trip through detection --------------------------------------------

RESNET_VARIANTS = [{}, {"antialias": True}, {"antialias": True, "antialias_up": False}, {"antialias_up": True}]


@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_every_generator_we_build_is_detected_as_built(norm):
    torch.set_default_device("meta")  # only keys and shapes matter: no memory, no init time
    try:
        _round_trip(norm)
    finally:
        torch.set_default_device(None)


def _round_trip(norm: str) -> None:
    for dropout in (False, True):
        for name in ("resnet9", "resnet6", "resnet4"):
            for extra in RESNET_VARIANTS:
                spec = {"name": name, "in_channels": 1, "out_channels": 2, "ngf": 4, "norm": norm, "dropout": dropout}
                spec |= extra
                assert detect_generator(build_generator(**spec).state_dict()) == spec
        for name in ("unet256", "unet128"):
            spec = {"name": name, "in_channels": 3, "out_channels": 3, "ngf": 4, "norm": norm, "dropout": dropout}
            # A U-Net's dropout has no weights, so the file cannot show it: the reference defaults are
            # assumed (pix2pix: batch norm with dropout; CycleGAN/CUT: instance norm without).
            assert detect_generator(build_generator(**spec).state_dict()) == spec | {"dropout": norm == "batch"}


def test_the_three_norms_have_distinct_layouts_as_in_the_reference():
    keys = {
        norm: build_generator("resnet6", ngf=4, norm=norm).state_dict().keys() for norm in ("instance", "batch", "none")
    }
    assert "model.1.bias" in keys["instance"] and "model.2.weight" not in keys["instance"]
    assert "model.1.bias" not in keys["batch"] and "model.2.running_mean" in keys["batch"]
    assert "model.1.bias" not in keys["none"] and "model.2.weight" not in keys["none"]  # reference: use_bias False
    assert "model.26.bias" in build_generator("resnet9", ngf=4, norm="none").state_dict()  # the last conv keeps it


def test_a_file_that_fits_no_layout_exactly_is_named_with_what_differs():
    state = build_generator("resnet6", ngf=4).state_dict()
    del state["model.10.conv_block.1.weight"]
    with pytest.raises(ConfigError, match=r"looks like a ResNet generator \(resnet6\) but does not fit it: no model"):
        detect_generator(state, "x.pth")
    seven = build_generator("resnet9", ngf=4).state_dict()
    seven = {k: v for k, v in seven.items() if not k.startswith(("model.17.", "model.18."))}
    with pytest.raises(
        ConfigError, match="x.pth is a ResNet generator with 7 residual blocks, which this tool does not"
    ):
        detect_generator(seven, "x.pth")
    with pytest.raises(ConfigError, match="not a generator state dict this tool knows"):
        detect_generator({"fc.weight": torch.zeros(2, 2)}, "x.pth")


# --- CUT: anti-aliased ResNet ---------------------------------------------------------------------


def blur_down(x: torch.Tensor) -> torch.Tensor:
    """CUT's Downsample written out: reflect-pad 1, [1, 2, 1] / 4 along each axis, every second pixel."""
    p = F.pad(x, (1, 1, 1, 1), mode="reflect")
    rows = 0.25 * p[:, :, 0:-2:2] + 0.5 * p[:, :, 1:-1:2] + 0.25 * p[:, :, 2::2]
    return 0.25 * rows[..., 0:-2:2] + 0.5 * rows[..., 1:-1:2] + 0.25 * rows[..., 2::2]


def blur_up(x: torch.Tensor) -> torch.Tensor:
    """CUT's Upsample: its [1, 3, 3, 1] transposed blur with replicated borders is bilinear x2 (half-pixel)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def cut_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, n_blocks: int) -> torch.Tensor:
    """CUT's default ResnetGenerator (instance norm, anti-aliased both ways) as plain functions of its weights."""

    def conv(x: torch.Tensor, key: str, padding: int = 0) -> torch.Tensor:
        return F.conv2d(x, sd[f"{key}.weight"], sd.get(f"{key}.bias"), padding=padding)

    def block(x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.instance_norm(x))

    x = block(conv(F.pad(x, (3, 3, 3, 3), mode="reflect"), "model.1"))
    x = blur_down(block(conv(x, "model.4", 1)))  # conv, norm, relu, Downsample (model.7)
    x = blur_down(block(conv(x, "model.8", 1)))
    for i in range(12, 12 + n_blocks):
        y = block(conv(F.pad(x, (1, 1, 1, 1), mode="reflect"), f"model.{i}.conv_block.1"))
        x = x + F.instance_norm(conv(F.pad(y, (1, 1, 1, 1), mode="reflect"), f"model.{i}.conv_block.5"))
    i = 12 + n_blocks
    x = block(conv(blur_up(x), f"model.{i + 1}", 1))  # Upsample (model.i), conv, norm, relu
    x = block(conv(blur_up(x), f"model.{i + 5}", 1))
    return torch.tanh(conv(F.pad(x, (3, 3, 3, 3), mode="reflect"), f"model.{i + 9}"))


def test_a_cut_generator_file_loads_and_computes_what_cut_computes(tmp_path):
    torch.manual_seed(1)
    cut = randomised(build_generator("resnet4", ngf=4, antialias=True))
    state = cut.state_dict()
    assert {"model.7.filt", "model.11.filt", "model.16.filt", "model.20.filt"} <= state.keys()
    assert state["model.4.weight"].shape == (8, 4, 3, 3) and state["model.17.weight"].shape == (8, 16, 3, 3)
    source = save_as({f"module.{k}": v for k, v in state.items()}, tmp_path / "latest_net_G.pth")  # as CUT saves
    net, spec = load_generator(source)
    assert spec["generator"] == {
        "name": "resnet4", "in_channels": 3, "out_channels": 3, "ngf": 4, "norm": "instance", "dropout": False,
        "antialias": True,
    }  # fmt: skip
    x = torch.rand(2, 3, 32, 40) * 2 - 1
    with torch.no_grad():
        expected = cut_forward({k: v for k, v in state.items() if not k.endswith("filt")}, x, n_blocks=4)
        assert (net(x) - expected).abs().max() < 1e-5


# --- files that are refused ---------------------------------------------------------------------


class RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused_unexecuted(tmp_path):
    marker = tmp_path / "executed"
    evil = tmp_path / "latest_net_G_A.pth"
    torch.save({"model.1.weight": torch.zeros(1), "hook": RunsACommand(marker)}, evil)
    with pytest.raises(DataError) as error:
        load_generator(evil)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{evil} holds Python objects besides weights")
    assert "system" in message  # names what it refused
    assert not marker.exists()


def test_wrapped_and_unusable_files(tmp_path):
    state = build_generator("resnet6", ngf=4).state_dict()
    wrapped = save_as({"state_dict": state, "epoch": 3}, tmp_path / "wrapped.pth")
    assert read_state_dict(wrapped).keys() == state.keys()
    with pytest.raises(
        DataError, match=r"training.pth is not a state dict: it holds a dict with keys epoch, optimizer"
    ):
        read_state_dict(save_as({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "training.pth"))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not really")
    with pytest.raises(DataError, match="broken.safetensors is not a readable safetensors file"):
        load_generator(broken)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ConfigError, match="notes.txt is not a weights file this tool reads"):
        load_generator(tmp_path / "notes.txt")


# --- super-resolution files through spandrel ----------------------------------------------------


@pytest.fixture
def esrgan(tmp_path):
    """A tiny ESRGAN (RRDBNet, 8 features, one block, x2) built by spandrel's own class, randomly set."""
    esrgan_arch = pytest.importorskip("spandrel.architectures.ESRGAN")
    torch.manual_seed(2)
    return randomised(esrgan_arch.ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2))


@pytest.mark.parametrize("filename", ["RRDB_x2.pth", "RRDB_x2.safetensors", "params_ema.pth"])
def test_an_esrgan_file_loads_through_spandrel_and_upscales_as_spandrel_does(esrgan, filename, tmp_path):
    state = esrgan.state_dict()
    source = save_as({"params_ema": state} if filename == "params_ema.pth" else state, tmp_path / filename)
    net, spec = load_generator(source)
    assert {k: spec[k] for k in ("method", "scale", "architecture", "source")} == {
        "method": "external-sr", "scale": 2, "architecture": "ESRGAN", "source": str(source),
    }  # fmt: skip
    assert is_upscaler(spec)
    x = torch.rand(1, 3, 12, 16) * 2 - 1
    with torch.no_grad():
        expected = esrgan((x + 1) / 2).clamp(0, 1) * 2 - 1  # spandrel's models work in [0, 1]
        got = net(x)
    assert got.shape == (1, 3, 24, 32) and (got - expected).abs().max() < 1e-5


def test_without_spandrel_an_sr_file_says_how_to_get_it(esrgan, tmp_path, monkeypatch):
    source = save_as(esrgan.state_dict(), tmp_path / "RRDB_x2.pth")
    monkeypatch.setitem(sys.modules, "spandrel", None)  # as if not installed: import fails, find_spec is None
    with pytest.raises(ConfigError) as error:
        load_generator(source)
    assert "\n" not in str(error.value) and "pip install 'translate-gan[sr]'" in str(error.value)


# --- translate inspect ----------------------------------------------------------------------------


@needs_reference
def test_inspect_reports_what_was_detected():
    result = cli("inspect", REFERENCE / "resnet9_instance_ngf8.pth")
    assert result.exit_code == 0, result.output
    lines = {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in result.output.splitlines()}
    net, _ = load_generator(REFERENCE / "resnet9_instance_ngf8.pth")
    assert lines["architecture"] == "ResNet generator, 9 residual blocks (resnet9)"
    assert (lines["ngf"], lines["norm"], lines["dropout"], lines["antialias"]) == ("8", "instance", "no", "no")
    assert lines["channels"] == "3 -> 3" and lines["parameters"] == f"{sum(p.numel() for p in net.parameters()):,}"
    assert lines["size multiple"].startswith("4 ")
    unet = cli("inspect", REFERENCE / "unet256_batch_ngf8.pth")
    assert "U-Net generator, 8 downsamplings (unet256)" in unet.output and "train mode" in unet.output
    refused = cli("inspect", REFERENCE / "patchgan3_batch_ndf8_in6.pth")
    assert refused.exit_code == 2 and "PatchGAN discriminator" in refused.output


def test_inspect_shows_antialias_and_sr_scale(esrgan, tmp_path):
    cut = save_as(build_generator("resnet6", ngf=4, antialias=True).state_dict(), tmp_path / "cut.pth")
    result = cli("inspect", cut)
    assert result.exit_code == 0 and "blurred down- and upsampling (CUT)" in result.output
    sr = cli("inspect", save_as(esrgan.state_dict(), tmp_path / "RRDB_x2.pth"))
    assert sr.exit_code == 0, sr.output
    assert "x2" in sr.output and "ESRGAN" in sr.output


# --- --init from a plain file ---------------------------------------------------------------------


def test_init_from_a_reference_file_picks_the_direction_and_checks_the_architecture(tmp_path):
    a, b = write_domain(tmp_path / "a", 2, 32, seed=1), write_domain(tmp_path / "b", 2, 32, seed=2)
    options = ("--a", a, "--b", b, *tiny("cyclegan", batch_size=None, log_every=None, steps=1))
    wrong = save_as(build_generator("resnet6", ngf=8).state_dict(), tmp_path / "wide_net_G_A.pth")
    refused = train("cyclegan", tmp_path / "r1", *options, "--init", wrong, check=False)
    assert refused.exit_code == 2 and "does not fit this run: its generator is name resnet6, ngf 8" in refused.stderr
    g_b = save_as(build_generator("resnet6", ngf=4).state_dict(), tmp_path / "latest_net_G_B.pth")
    result = train("cyclegan", tmp_path / "r2", *options, "--init", g_b)
    assert "Initialised b2a from" in result.output


# -- model folders from elsewhere: config.json is checked before anything is built ---------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["generator"].update(ngf=10**9), "ngf = 1000000000 is outside 1..1024"),
        (lambda s: s["generator"].update(ngf="64"), "should be a int"),
        (lambda s: s["generator"].update(activation="gelu"), "takes no setting 'activation'"),
        (lambda s: s["generator"].update(name="transformer"), "unknown generator 'transformer'"),
        (lambda s: s.update(run_on_load="os.system('x')"), "unknown settings run_on_load"),
        (lambda s: s.pop("generator"), 'no "generator" settings'),
    ],
)
def test_config_json_with_unknown_keys_or_absurd_values_is_refused(tmp_path, change, message, monkeypatch):
    import json

    import translate.nets.builders as builders
    from translate.errors import ConfigError
    from translate.zoo import load_generator

    folder = save_tiny_model(tmp_path / "m", size=32)
    spec = json.loads((folder / "config.json").read_text())
    change(spec)
    (folder / "config.json").write_text(json.dumps(spec))
    monkeypatch.setattr(builders, "build_generator", lambda **kw: pytest.fail("built before the check"))
    with pytest.raises(ConfigError, match=message):
        load_generator(folder)


def test_weights_that_do_not_fit_config_json_give_one_line(tmp_path):
    import json

    from translate.errors import ConfigError
    from translate.zoo import load_generator

    folder = save_tiny_model(tmp_path / "m", size=32)
    spec = json.loads((folder / "config.json").read_text())
    spec["generator"]["ngf"] = 8
    (folder / "config.json").write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match="weights do not fit its config.json"):
        load_generator(folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ConfigError, match="not a readable safetensors file"):
        load_generator(folder)
