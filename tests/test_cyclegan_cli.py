"""CycleGAN end to end through the CLI: train, stop, resume exactly, export, convert, reload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from tests.helpers import checkpoint_weights, cli, tiny, train, write_domain
from translate.data.demo import day_to_night
from translate.data.images import image_to_tensor, load_image

TINY = tiny("cyclegan", load_size=36, sample_every=2, save_every=2, decay_from=1.0)


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("domains")
    return write_domain(root / "a", 6, 40, seed=1), write_domain(root / "b", 5, 40, seed=2, mapping=day_to_night)


@pytest.fixture(scope="module")
def data(domains) -> tuple[str | Path, ...]:
    """The training data and tiny options of every run here."""
    a, b = domains
    return ("--a", a, "--b", b, *TINY)


def test_resume_continues_exactly_where_it_stopped(data, tmp_path):
    """4 steps in one go == 2 steps, stop, resume to 4: same weights, so step counter, optimizer
    moments, image pools, RNG and data order all continued."""
    train("cyclegan", tmp_path / "straight", *data, "--steps", "4")
    train("cyclegan", tmp_path / "split", *data, "--steps", "2")
    resumed = train("cyclegan", tmp_path / "split", *data, "--steps", "4", "--resume")
    assert "Resumed" in resumed.output and "step 2" in resumed.output

    for direction in ("a2b", "b2a"):
        straight = load_file(tmp_path / "straight" / "models" / direction / "model.safetensors")
        split = load_file(tmp_path / "split" / "models" / direction / "model.safetensors")
        assert straight.keys() == split.keys()
        for key in straight:
            torch.testing.assert_close(split[key], straight[key], rtol=0, atol=1e-6, msg=key)

    state = json.loads((tmp_path / "split" / "checkpoints" / "step-00000004" / "trainer_state.json").read_text())
    assert state["step"] == 4
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    pool = load_file(tmp_path / "split" / "checkpoints" / "step-00000004" / "extra_0.safetensors")
    assert pool["pool_a.images"].shape[0] == 8  # 4 steps x batch 2, all kept (pool size 50)


def test_run_folder_has_samples_plot_config_and_models(data, tmp_path):
    out = tmp_path / "run"
    result = train("cyclegan", out, *data, "--steps", "4", "--keep-checkpoints", "1")
    assert sorted(p.name for p in (out / "samples").glob("*.png")) == ["step-00000002.png", "step-00000004.png"]
    assert (out / "losses.png").stat().st_size > 0
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000004"]
    assert "Samples:" in result.output and "Models:" in result.output
    spec = json.loads((out / "models" / "a2b" / "config.json").read_text())
    assert spec["generator"] == {
        "name": "resnet6", "in_channels": 3, "out_channels": 3, "ngf": 4, "norm": "instance", "dropout": False
    }  # fmt: skip
    assert spec["direction"] == "a2b" and spec["method"] == "cyclegan"
    saved = (out / "config.yaml").read_text()
    assert "method: cyclegan" in saved and "steps: 4" in saved
    grid = Image.open(sorted((out / "samples").glob("*.png"))[-1])
    assert grid.width > 6 * 32  # six columns: A, A->B, A->B->A, B, B->A, B->A->B


@pytest.mark.e2e
def test_convert_folder_and_reload_give_the_same_output(domains, data, tmp_path):
    out = tmp_path / "run"
    train("cyclegan", out, *data, "--steps", "2")
    a, _ = domains
    converted = tmp_path / "converted"
    result = cli("convert", "--model", out, "--direction", "a2b", "--input", a, "--output", converted)
    assert result.exit_code == 0, result.output
    assert "Converted 6 image(s)" in result.output
    outputs = sorted(converted.glob("*.png"))
    assert len(outputs) == 6 and Image.open(outputs[0]).size == (40, 40)  # 40 is not a multiple of 4: padded, cropped

    from translate.inference.sizing import translate_batch
    from translate.zoo import load_generator

    net, spec = load_generator(out / "models" / "a2b")
    expected = translate_batch(net, image_to_tensor(load_image(a / "000.png"))[None], 4)[0]
    written = image_to_tensor(load_image(converted / "000.png"))
    assert (written - expected.clamp(-1, 1)).abs().max() <= 1.01 * 2 / 255  # one 8-bit level in [-1, 1]

    again = cli("convert", "--model", out, "--direction", "a2b", "--input", a, "--output", converted)
    assert "skipped 6" in again.output
    inside = cli("convert", "--model", out, "--direction", "a2b", "--input", a, "--output", a / "x")
    assert inside.exit_code == 2 and "must not be --input" in inside.stderr


def test_exported_model_reproduces_the_trained_generator(domains, tmp_path):
    from translate.config import CycleGANConfig
    from translate.engine.trainer import Trainer
    from translate.methods.cyclegan import CycleGAN
    from translate.zoo import load_generator

    a, b = domains
    config = CycleGANConfig(
        a=str(a), b=str(b), out=tmp_path / "run", size=32, load_size=36, generator="resnet6", ngf=4, ndf=4,
        steps=2, workers=0, sample_every=100, save_every=100,
    )  # fmt: skip
    trainer = Trainer(config, CycleGAN)
    models = trainer.fit()
    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    trained = trainer.method.unwrap(trainer.method.g_ba).eval()
    assert models == tmp_path / "run" / "models"
    reloaded, spec = load_generator(tmp_path / "run", "b2a")
    with torch.no_grad():
        torch.testing.assert_close(reloaded(x), trained(x), rtol=0, atol=0)
    assert spec["size"] == 32


def test_init_fine_tunes_from_every_network_of_a_run(data, tmp_path):
    train("cyclegan", tmp_path / "base", *data, "--steps", "2")
    # A learning rate too small to move anything: what comes out is what --init put in.
    tuned = train("cyclegan", tmp_path / "tuned", *data, "--steps", "2", "--init", tmp_path / "base", "--lr", "1e-30")
    assert "Initialised g_ab, g_ba, d_a, d_b from" in tuned.output
    base, after = checkpoint_weights(tmp_path / "base"), checkpoint_weights(tmp_path / "tuned")
    assert set(base) == set(after) == {"g_ab", "g_ba", "d_a", "d_b"}
    for name in base:
        for key in base[name]:
            torch.testing.assert_close(after[name][key], base[name][key], rtol=0, atol=1e-6, msg=f"{name}.{key}")
    train("cyclegan", tmp_path / "fresh", *data, "--steps", "2", "--seed", "1")
    fresh = checkpoint_weights(tmp_path / "fresh")
    assert not torch.equal(fresh["g_ab"]["model.1.weight"], base["g_ab"]["model.1.weight"])  # the test can fail
    state = json.loads((tmp_path / "tuned" / "checkpoints" / "step-00000002" / "trainer_state.json").read_text())
    assert state["step"] == 2  # a fine-tune counts its own steps


def test_init_from_an_exported_model_loads_the_generator(data, tmp_path):
    train("cyclegan", tmp_path / "base", *data, "--steps", "2")
    model = tmp_path / "base" / "models" / "b2a"
    tuned = train("cyclegan", tmp_path / "tuned", *data, "--steps", "1", "--init", model, "--lr", "1e-30")
    assert "Initialised b2a from" in tuned.output
    exported = load_file(tmp_path / "tuned" / "models" / "b2a" / "model.safetensors")
    for key, value in load_file(model / "model.safetensors").items():
        torch.testing.assert_close(exported[key], value, rtol=0, atol=1e-6, msg=key)


def test_init_that_does_not_fit_names_the_differing_option(data, tmp_path):
    train("cyclegan", tmp_path / "base", *data, "--steps", "2")
    wider = ("--ngf", "8", "--steps", "1", "--init", tmp_path / "base")
    result = train("cyclegan", tmp_path / "wide", *data, *wider, check=False)
    assert result.exit_code == 2
    assert "does not fit this run (it has --ngf 4; this run --ngf 8)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
