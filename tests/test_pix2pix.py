"""pix2pix: its settings, its data layouts, `translate datasets combine/split`, and one tiny run
through the CLI (train, resume, export, convert).

Paired crop/flip alignment is tested in test_data.py and not repeated here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from torch import nn

from tests.helpers import cli, random_rgb, tiny, train, write, write_side_by_side
from translate.config import CycleGANConfig, Pix2PixConfig
from translate.data.images import image_to_tensor, load_image, tensor_to_image
from translate.errors import ConfigError
from translate.inference.sizing import translate_batch
from translate.methods.pix2pix import Pix2Pix, reference_test_mode
from translate.zoo import load_generator

TINY = tiny("pix2pix", load_size=36)

# Tiny nets: thread start-up costs more than it saves, and on a busy 2-core machine two spinning
# threads per op made a 4-step run take minutes instead of seconds.
pytestmark = pytest.mark.usefixtures("one_thread")


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def make_folders(root: Path, count: int = 4, size: int = 40) -> tuple[Path, Path]:
    """Aligned folders A and B (B is A inverted), one pair in a subfolder, extensions differing."""
    for i in range(count):
        a = random_rgb(size, size, seed=i)
        name = f"sub/{i}" if i == 0 else f"{i}"
        write(root / "A" / f"{name}.png", a)
        write(root / "B" / f"{name}{'.bmp' if i == 1 else '.png'}", 255 - a)
    return root / "A", root / "B"


def make_side_by_side(root: Path, count: int = 6, size: int = 40) -> Path:
    for i in range(count):
        a = random_rgb(size, size, seed=i)
        write_side_by_side(root / f"{i}.png", a, 255 - a)
    return root


# --- settings -----------------------------------------------------------------------------------


def test_defaults_follow_the_paper_and_leave_cyclegan_alone():
    c = Pix2PixConfig(data="x")
    assert (c.generator, c.norm, c.gan_loss, c.dropout, c.eval_mode) == ("unet256", "batch", "vanilla", True, True)
    assert (c.lambda_l1, c.lr, c.beta1, c.size, c.load_size, c.direction) == (100.0, 2e-4, 0.5, 256, 286, "a2b")
    c.validate()
    cyclegan = CycleGANConfig(a="x", b="y")
    assert (cyclegan.generator, cyclegan.norm, cyclegan.gan_loss) == ("resnet9", "instance", "lsgan")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "got no data"),
        ({"a": "x"}, "--a without --b"),
        ({"b": "y"}, "--b without --a"),
        ({"data": "d", "a": "x", "b": "y"}, "not both"),
        ({"data": "d", "a": "x"}, "not both"),
    ],
)
def test_exactly_one_data_layout(values, message):
    with pytest.raises(ConfigError, match=message):
        Pix2PixConfig(**values).validate()


def test_cli_reports_a_missing_layout_on_one_line():
    one_line_error(cli("train", "pix2pix", "--a", "x"), "--a without --b")
    one_line_error(cli("train", "pix2pix", "--data", "d", "--a", "x", "--b", "y"), "not both")


# --- the method -----------------------------------------------------------------------------------


def tiny_method(**values) -> Pix2Pix:
    config = Pix2PixConfig(size=32, load_size=36, generator="resnet6", ngf=4, ndf=4, **values)
    config.validate()
    method = Pix2Pix(config, Accelerator(cpu=True))
    method.optimizers = method.configure_optimizers()
    return method


def test_both_layouts_give_the_same_items_and_direction_swaps(tmp_path):
    make_side_by_side(tmp_path / "sbs", count=3)
    root_a, root_b = tmp_path / "A", tmp_path / "B"
    for i in range(3):
        a = random_rgb(40, 40, seed=i)
        write(root_a / f"{i}.png", a)
        write(root_b / f"{i}.png", 255 - a)
    side_by_side = tiny_method(data=str(tmp_path / "sbs")).build_dataset()
    folders = tiny_method(a=str(root_a), b=str(root_b)).build_dataset()
    backwards = tiny_method(a=str(root_a), b=str(root_b), direction="b2a").build_dataset()
    assert len(side_by_side) == len(folders) == 3
    for i in range(3):
        x, y, z = side_by_side[i], folders[i], backwards[i]
        assert x["a"].shape == (3, 32, 32)
        assert torch.equal(x["a"], y["a"]) and torch.equal(x["b"], y["b"])
        assert torch.equal(z["a"], y["b"]) and torch.equal(z["b"], y["a"])  # same crop, roles swapped
        assert torch.allclose(y["a"], -y["b"], atol=1e-2)  # B is A inverted, still after crop and flip


@pytest.mark.parametrize("gan_loss", ["vanilla", "wgangp"])
def test_train_step_updates_both_networks_with_a_conditional_discriminator(gan_loss):
    method = tiny_method(data="unused", gan_loss=gan_loss)
    assert method.d.model[0].in_channels == 6  # D sees cat(input, output)
    before = {name: [p.detach().clone() for p in net.parameters()] for name, net in method.networks.items()}
    batch = {"a": torch.rand(2, 3, 32, 32) * 2 - 1, "b": torch.rand(2, 3, 32, 32) * 2 - 1}
    losses = method.train_step(batch)
    assert set(losses) == {"G_gan", "G_l1", "D"} and all(torch.isfinite(v) for v in losses.values())
    for name, net in method.networks.items():
        assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), before[name], strict=True)), name
    rows, labels = method.sample_grid(batch)
    assert labels == ["input", "output", "target"] and len(rows) == 2 and rows[0][1].shape == (3, 32, 32)
    [(name, (net, spec))] = method.exports().items()
    assert name == "a2b" and spec["method"] == "pix2pix" and spec["eval_mode"] is True  # docs/DEFAULTS.md
    assert spec["generator"]["dropout"] is True and spec["size"] == 32


def test_reference_test_mode_runs_in_train_mode_without_side_effects():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5)).eval()
    running = net[1].running_mean.clone()
    x = torch.randn(1, 3, 8, 8)
    torch.manual_seed(0)
    with reference_test_mode(net, torch.device("cpu")) as same:
        assert same.training and net[2].training
        first, second = same(x), same(x)
    after_context = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after_context, torch.rand(1))  # the random stream was not advanced
    assert not torch.equal(first, second)  # dropout on
    assert torch.equal(net[1].running_mean, running) and not net.training and net[1].track_running_stats
    # Batch norm used the image's own statistics: the channel means before dropout are ~0.
    with reference_test_mode(net, torch.device("cpu")):
        net[2].p = 0.0
        assert net(x).mean(dim=(0, 2, 3)).abs().max() < 1e-5


# --- datasets combine / split ------------------------------------------------------------------


def test_combine_then_split_is_pixel_exact(tmp_path):
    root_a, root_b = make_folders(tmp_path / "in")
    result = cli("datasets", "combine", "--a", root_a, "--b", root_b, "--out", tmp_path / "sbs")
    assert result.exit_code == 0, result.output
    assert "Wrote 4 side-by-side" in result.output
    combined = np.asarray(load_image(tmp_path / "sbs" / "sub" / "0.png"))
    a0 = np.asarray(load_image(root_a / "sub" / "0.png"))
    assert np.array_equal(combined, np.concatenate([a0, 255 - a0], axis=1))

    result = cli("datasets", "split", "--data", tmp_path / "sbs", "--out", tmp_path / "split")
    assert result.exit_code == 0, result.output
    for side, root in (("A", root_a), ("B", root_b)):
        originals = sorted(p for p in root.rglob("*") if p.is_file())
        assert len(originals) == 4
        for original in originals:
            copy = (tmp_path / "split" / side / original.relative_to(root)).with_suffix(".png")
            assert np.array_equal(np.asarray(load_image(copy)), np.asarray(load_image(original))), copy

    again = cli("datasets", "combine", "--a", root_a, "--b", root_b, "--out", tmp_path / "sbs")
    assert again.exit_code == 0 and "Wrote 0" in again.output and "skipped 4" in again.output


def test_combine_and_split_refuse_bad_input_with_one_line(tmp_path):
    root_a, root_b = make_folders(tmp_path / "in")
    write(root_b / "extra.png", random_rgb(40, 40))
    out = tmp_path / "out"
    one_line_error(cli("datasets", "combine", "--a", root_a, "--b", root_b, "--out", out), "extra.png", "partner")
    (root_b / "extra.png").unlink()
    write(root_b / "2.png", random_rgb(40, 48))
    one_line_error(cli("datasets", "combine", "--a", root_a, "--b", root_b, "--out", out), "2.png", "40x40")
    one_line_error(cli("datasets", "combine", "--a", root_a, "--b", root_b, "--out", root_a / "x"), "overlaps")
    assert not out.exists() and not (root_a / "x").exists()

    write(tmp_path / "odd" / "bad.png", random_rgb(8, 15))
    one_line_error(cli("datasets", "split", "--data", tmp_path / "odd", "--out", out), "bad.png", "odd width")
    one_line_error(cli("datasets", "split", "--data", tmp_path / "odd", "--out", tmp_path / "odd"), "overlaps")


def test_training_refuses_unpaired_folders_naming_the_file(tmp_path):
    root_a, root_b = make_folders(tmp_path / "in")
    (root_b / "3.png").unlink()
    result = train("pix2pix", tmp_path / "run", "--a", root_a, "--b", root_b, "--steps", "1", *TINY, check=False)
    one_line_error(result, "3.png", "without a partner")


# --- end to end through the CLI ---------------------------------------------------------------------


@pytest.mark.e2e
def test_train_resume_export_convert(tmp_path):
    data, run = make_side_by_side(tmp_path / "sbs"), tmp_path / "run"
    options = ("--data", data, *TINY, "--save-every", "2", "--no-eval-mode")
    train("pix2pix", run, *options, "--steps", "4")
    result = train("pix2pix", run, *options, "--resume", "--steps", "6")
    assert "Resumed" in result.output and "at step 4" in result.output
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    latest = run / "checkpoints" / "step-00000006"
    assert json.loads((latest / "trainer_state.json").read_text())["step"] == 6

    # The exported generator is the trained one: same weights (batch-norm statistics included).
    spec = json.loads((run / "models" / "a2b" / "config.json").read_text())
    assert spec["method"] == "pix2pix" and spec["eval_mode"] is False and spec["generator"]["dropout"] is True
    trained = load_file(latest / "model.safetensors")  # Accelerate's file of the first network, g
    exported = load_file(run / "models" / "a2b" / "model.safetensors")
    assert trained.keys() == exported.keys() and all(torch.equal(trained[k], exported[k]) for k in trained)

    # Conversion as the reference test.py without --eval: the whole net in train mode, one image at a time.
    inputs = tmp_path / "inputs"
    for i in range(2):
        write(inputs / f"{i}.png", random_rgb(40, 40, seed=10 + i))
    torch.manual_seed(0)
    result = cli("convert", "--model", run, "--input", inputs, "--output", tmp_path / "out")
    assert result.exit_code == 0 and "Converted 2" in result.output, result.output
    torch.manual_seed(0)
    net, _ = load_generator(run)  # consumes the random stream exactly as the converter's load did
    net.train()
    expected = tensor_to_image(translate_batch(net, image_to_tensor(load_image(inputs / "0.png"))[None], 4)[0])
    assert np.array_equal(np.asarray(load_image(tmp_path / "out" / "0.png")), np.asarray(expected))
    result = cli("convert", "--model", run, "--input", inputs, "--output", tmp_path / "out", "--overwrite")
    assert result.exit_code == 0
    assert not np.array_equal(np.asarray(load_image(tmp_path / "out" / "0.png")), np.asarray(expected))  # dropout

    # With eval_mode recorded, conversion is deterministic and matches the reloaded generator.
    spec["eval_mode"] = True
    (run / "models" / "a2b" / "config.json").write_text(json.dumps(spec))
    net, _ = load_generator(run)
    assert not net.training
    image = image_to_tensor(load_image(inputs / "1.png"))
    expected = tensor_to_image(translate_batch(net, image[None], 4)[0])
    for _ in range(2):
        result = cli("convert", "--model", run, "--input", inputs, "--output", tmp_path / "out", "--overwrite")
        assert result.exit_code == 0
        assert np.array_equal(np.asarray(load_image(tmp_path / "out" / "1.png")), np.asarray(expected))


@pytest.mark.e2e
def test_evaluate_paired_scores_the_converted_images_and_the_input_baseline(tmp_path):
    data, run = make_side_by_side(tmp_path / "sbs"), tmp_path / "run"
    train("pix2pix", run, "--data", data, *TINY, "--steps", "2", "--eval-mode")
    report = tmp_path / "scores.json"
    result = cli("evaluate", "paired", "--model", run, "--data", data, "--json", report)
    assert result.exit_code == 0, result.output
    scores = json.loads(report.read_text())
    assert scores["direction"] == "a2b" and len(scores["images"]) == 6

    # The same numbers from files: the converter's output and the input, each against the target.
    halves = tmp_path / "halves"
    assert cli("datasets", "split", "--data", data, "--out", halves).exit_code == 0
    assert cli("convert", "--model", run, "--input", halves / "A", "--output", tmp_path / "out").exit_code == 0
    for image in scores["images"]:
        target = np.asarray(load_image(halves / "B" / image["name"]), dtype=np.float64)
        output = np.asarray(load_image(tmp_path / "out" / image["name"]), dtype=np.float64)
        source = np.asarray(load_image(halves / "A" / image["name"]), dtype=np.float64)
        assert image["l1"] == pytest.approx(np.abs(output - target).mean() / 255, abs=1e-9)
        assert image["input_l1"] == pytest.approx(np.abs(source - target).mean() / 255, abs=1e-9)
    mean = scores["mean"]["input_l1"]
    assert mean == pytest.approx(np.mean([image["input_l1"] for image in scores["images"]]))
    assert mean > 0.3  # 255 - a against a: the baseline is far from the target


def test_evaluate_paired_needs_one_layout(tmp_path):
    result = cli("evaluate", "paired", "--model", tmp_path, "--data", "x", "--a", "y", "--b", "z")
    assert result.exit_code == 2 and "not both" in result.stderr
