"""CUT and FastCUT through the toolkit: networks and heads, the PatchNCE loss, exact resume (heads and
sampler included), export and reload, --init, and the settings they refuse."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import checkpoint_weights, cli, one_line_error, tiny, train, write_domain
from translate.data.demo import day_to_night
from translate.losses import patch_nce_loss
from translate.nets.builders import build_discriminator, build_generator
from translate.nets.patchnce import EncoderShapes, PatchSampleMLP, l2_normalize, sample_patch_ids, sample_patches

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("domains")
    return write_domain(root / "a", 6, 40, seed=1), write_domain(root / "b", 5, 40, seed=2, mapping=day_to_night)


def data(domains: tuple[Path, Path], method: str = "cut", **changes) -> tuple[str | Path, ...]:
    a, b = domains
    return ("--a", a, "--b", b, *tiny(method, load_size=36, sample_every=2, save_every=2, decay_from=1.0, **changes))


# -- networks ---------------------------------------------------------------------------------------------


def test_heads_are_built_from_the_architecture_alone() -> None:
    """The feature channels at CUT's default layers of the anti-aliased ResNet-9: the padded input, the two
    downsampling convs, residual blocks 1 and 5. No data is needed, so every process builds the same heads."""
    g = build_generator("resnet9", ngf=8, antialias=True)
    assert EncoderShapes(g, (0, 4, 8, 12, 16)).channels() == [3, 16, 32, 32, 32]
    feats = g(torch.rand(1, 3, 32, 32) * 2 - 1, (0, 4, 8, 12, 16))
    assert [tuple(f.shape[1:]) for f in feats] == [(3, 38, 38), (16, 32, 32), (32, 16, 16), (32, 8, 8), (32, 8, 8)]
    assert EncoderShapes(g, (0, 4, 8, 12, 16)).at((32, 32)) == [tuple(f.shape[1:]) for f in feats]
    heads = PatchSampleMLP([3, 16, 32], width=12)
    assert {k: tuple(v.shape) for k, v in heads.state_dict().items() if k.endswith("weight")} == {
        "mlp_0.0.weight": (12, 3), "mlp_0.2.weight": (12, 12), "mlp_1.0.weight": (12, 16),
        "mlp_1.2.weight": (12, 12), "mlp_2.0.weight": (12, 32), "mlp_2.2.weight": (12, 12),
    }  # fmt: skip


def test_antialiased_discriminator_has_the_cut_layout() -> None:
    """Stride-1 convs, each followed (after its activation) by a blur-and-subsample, as the CUT code's D."""
    d = build_discriminator(3, ndf=4, n_layers=3, antialias=True)
    filters = sorted(int(k.split(".")[1]) for k in d.state_dict() if k.endswith("filt"))
    assert filters == [2, 6, 10]
    assert d(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 2, 2)
    plain = build_discriminator(3, ndf=4, n_layers=3)
    assert not any(k.endswith("filt") for k in plain.state_dict())


def test_sampled_patches_are_the_feature_vectors_at_the_ids() -> None:
    feat = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    ids = torch.tensor([7, 0, 19])
    picked = sample_patches(feat, ids)
    expected = torch.stack([feat[i, :, p // 5, p % 5] for i in range(2) for p in ids.tolist()])
    assert torch.equal(picked, expected)
    g = torch.Generator().manual_seed(0)
    a, b = sample_patch_ids([(4, 5), (2, 2)], 6, g)
    assert len(set(a.tolist())) == 6 and a.max() < 20 and sorted(b.tolist()) == [0, 1, 2, 3]  # at most all


def test_a_zero_projection_has_a_finite_gradient() -> None:
    """A patch whose head's ReLU layer is all off projects to exactly zero; its normalisation must not send
    NaN back (the CUT code's pow(0.5) does, which stopped a two-process run at its second step)."""
    x = torch.zeros(3, 4)
    x[1] = torch.tensor([3.0, 4.0, 0.0, 0.0])
    x.requires_grad_(True)
    out = l2_normalize(x)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    torch.testing.assert_close(out[1], torch.tensor([0.6, 0.8, 0.0, 0.0]))
    naive = torch.zeros(1, 4, requires_grad=True)
    (naive / (naive.pow(2).sum(1, keepdim=True).pow(0.5) + 1e-7)).sum().backward()
    assert torch.isnan(naive.grad).all()  # what the guard is for


def test_patch_nce_prefers_the_matching_patch() -> None:
    torch.manual_seed(0)
    keys = l2_normalize(torch.randn(2 * 16, 8))
    matching = patch_nce_loss(keys.clone(), keys, batch_size=2)
    shuffled = patch_nce_loss(keys[torch.randperm(32)], keys, batch_size=2)
    assert matching < 0.5 < shuffled
    # Chance level with orthogonal-ish features: log(patches) for negatives from the image, more for the batch's.
    zeros = torch.zeros(32, 8)
    assert patch_nce_loss(zeros, zeros, batch_size=2).item() == pytest.approx(math.log(16), abs=1e-5)
    assert patch_nce_loss(zeros, zeros, 2, batch_negatives=True).item() == pytest.approx(math.log(32), abs=1e-5)


# -- the engine: resume, export, init ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["cut", "fastcut"])
def test_resume_continues_exactly_where_it_stopped(domains, tmp_path, method):
    """4 steps in one go == 2 steps, stop, resume to 4: G, D and the heads, their optimizers, and the patch
    and flip sampler all continued."""
    options = data(domains, method)
    train(method, tmp_path / "straight", *options, "--steps", "4")
    train(method, tmp_path / "split", *options, "--steps", "2")
    resumed = train(method, tmp_path / "split", *options, "--steps", "4", "--resume")
    assert "Resumed" in resumed.output and "step 2" in resumed.output

    straight, split = checkpoint_weights(tmp_path / "straight"), checkpoint_weights(tmp_path / "split")
    assert set(straight) == set(split) == {"g", "d", "f"}
    for name in straight:
        for key in straight[name]:
            torch.testing.assert_close(split[name][key], straight[name][key], rtol=0, atol=1e-6, msg=f"{name}.{key}")
    first = load_file(tmp_path / "split" / "checkpoints" / "step-00000002" / "model_2.safetensors")
    assert not torch.equal(first["mlp_1.0.weight"], split["f"]["mlp_1.0.weight"])  # the test can fail
    sampler = load_file(tmp_path / "split" / "checkpoints" / "step-00000004" / "extra_0.safetensors")
    assert set(sampler) == {"sampler"}
    losses = [json.loads(line)["losses"] for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 4 and ("NCE_Y" in losses[0]) == (method == "cut")


def test_exported_generator_reloads_and_converts(domains, tmp_path):
    out = tmp_path / "run"
    train("cut", out, *data(domains), "--steps", "2")
    spec = json.loads((out / "models" / "a2b" / "config.json").read_text())
    assert spec["method"] == "cut" and spec["direction"] == "a2b"
    assert spec["generator"] == {
        "name": "resnet6", "in_channels": 3, "out_channels": 3, "ngf": 4, "norm": "instance", "dropout": False,
        "antialias": True,
    }  # fmt: skip
    from translate.zoo import load_generator

    net, _ = load_generator(out)  # the run folder: its one model
    trained = load_file(out / "checkpoints" / "step-00000002" / "model.safetensors")
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, trained[key], rtol=0, atol=0, msg=key)
    converted = tmp_path / "converted"
    result = cli("convert", "--model", out, "--input", domains[0], "--output", converted)
    assert result.exit_code == 0, result.output + (result.stderr or "")
    assert len(list(converted.glob("*.png"))) == 6
    inspected = cli("inspect", out / "models" / "a2b")
    assert inspected.exit_code == 0 and "cut" in inspected.output


def test_init_from_a_cut_code_generator_file(domains, tmp_path):
    """The generator the official CUT code built (tests/fixtures/cut: resnet_6blocks, ngf 4, anti-aliased),
    saved as that code saves it (`latest_net_G.pth`, with DataParallel's `module.` prefix), is recognised
    by --init and convert, and loaded key for key."""
    tensors = load_file(Path(__file__).parent / "fixtures" / "cut" / "cut.safetensors")
    theirs = {k.removeprefix("before.g."): v for k, v in tensors.items() if k.startswith("before.g.")}
    path = tmp_path / "latest_net_G.pth"
    torch.save({f"module.{k}": v for k, v in theirs.items()}, path)
    out = tmp_path / "tuned"
    result = train("cut", out, *data(domains), "--steps", "1", "--init", path, "--lr", "1e-30")
    assert "Initialised a2b from" in result.output
    exported = load_file(out / "models" / "a2b" / "model.safetensors")
    assert exported.keys() == theirs.keys()
    for key, value in theirs.items():
        torch.testing.assert_close(exported[key], value, rtol=0, atol=1e-6, msg=key)
    converted = cli("convert", "--model", path, "--input", domains[0], "--output", tmp_path / "converted")
    assert converted.exit_code == 0, converted.output + (converted.stderr or "")


def test_init_from_a_run_copies_generator_discriminator_and_heads(domains, tmp_path):
    train("cut", tmp_path / "base", *data(domains), "--steps", "2")
    tuned = train(
        "cut", tmp_path / "tuned", *data(domains), "--steps", "2", "--init", tmp_path / "base", "--lr", "1e-30"
    )
    assert "Initialised g, d, f from" in tuned.output
    base, after = checkpoint_weights(tmp_path / "base"), checkpoint_weights(tmp_path / "tuned")
    for name in base:
        for key in base[name]:
            torch.testing.assert_close(after[name][key], base[name][key], rtol=0, atol=1e-6, msg=f"{name}.{key}")


# -- settings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"generator": "unet256"}, "--generator resnet9 or resnet6"),
        ({"nce_layers": "4,0"}, "ascending"),
        ({"nce_layers": "0,x"}, "comma-separated"),
        ({"nce_layers": "0,40"}, "has layers 0 to"),
        ({"lambda_nce": 0}, "--lambda-nce must be positive"),
        ({"num_patches": 0}, "--num-patches must be at least 1"),
    ],
)
def test_refused_settings(domains, tmp_path, changes, fragment):
    result = train("cut", tmp_path / "run", *data(domains, **changes), "--steps", "1", check=False)
    one_line_error(result, fragment)


def test_fastcut_defaults_are_the_official_ones():
    from translate.config import CUTConfig, FastCUTConfig

    cut, fast = CUTConfig(a="a", b="b"), FastCUTConfig(a="a", b="b")
    assert (cut.lambda_nce, cut.nce_idt, cut.flip_equivariance, cut.decay_from) == (1.0, True, False, 0.5)
    assert (fast.lambda_nce, fast.nce_idt, fast.flip_equivariance, fast.decay_from) == (10.0, False, True, 0.75)
    for config in (cut, fast):
        assert (config.nce_layers, config.num_patches, config.nce_t, config.nce_mlp_width) == (
            "0,4,8,12,16",
            256,
            0.07,
            256,
        )
        assert (config.gan_loss, config.init_type, config.antialias, config.antialias_up) == (
            "lsgan",
            "xavier",
            True,
            True,
        )
        assert (config.lr, config.beta1, config.beta2, config.generator) == (2e-4, 0.5, 0.999, "resnet9")
    assert (CUTConfig.default_epochs, FastCUTConfig.default_epochs) == (400, 200)


def test_resume_refuses_changed_heads(domains, tmp_path):
    out = tmp_path / "run"
    train("cut", out, *data(domains), "--steps", "2")
    result = train("cut", out, *data(domains, nce_layers="0,4"), "--steps", "4", "--resume", check=False)
    one_line_error(result, "--nce-layers")


@pytest.mark.e2e
def test_evaluation_while_training_report_and_export(domains, tmp_path):
    """The engine's other services take CUT's one exported generator: evaluation during training (held-out
    pairs matched by name), the best model, the HTML report and a torch.export program."""
    eval_a = write_domain(tmp_path / "eval_a", 3, 32, seed=5)
    eval_b = write_domain(tmp_path / "eval_b", 3, 32, seed=5, mapping=day_to_night)  # same scenes: pairs
    out = tmp_path / "run"
    result = train(
        "cut", out, *data(domains), "--steps", "2", "--eval-every", "2", "--eval-a", eval_a, "--eval-b", eval_b
    )
    assert "Best:" in result.output
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 2 and {"l1", "input_l1"} <= set(record["metrics"])
    assert (out / "models" / "best" / "model.safetensors").is_file()
    report = cli("report", out)
    assert report.exit_code == 0 and (out / "report.html").stat().st_size > 0
    exported = cli("export", out, "--format", "pt2", "--out", tmp_path / "g.pt2")
    assert exported.exit_code == 0, exported.output + (exported.stderr or "")
    assert "max abs difference" in exported.output
