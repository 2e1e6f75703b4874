"""The engine under several processes and mixed precision, on CPU.

`torch.distributed.run` gives Accelerate a real multi-process (gloo) setup without a GPU, so the
DDP code paths (each network wrapped on its own, frozen discriminators during the G step,
collective checkpoints, per-process pools) run here as they would on GPUs.
"""

from __future__ import annotations

import json

import pytest
import torch

from tests.helpers import launch, tiny, train, write_domain
from translate.data.demo import day_to_night

pytestmark = pytest.mark.slow

TINY = tiny("cyclegan", sample_every=2, save_every=2)


def test_cyclegan_trains_and_resumes_on_two_processes(tmp_path):
    a = write_domain(tmp_path / "a", 8, 32, seed=1)
    b = write_domain(tmp_path / "b", 8, 32, seed=2, mapping=day_to_night)
    out = tmp_path / "run"
    first = launch(2, "train", "cyclegan", "--a", a, "--b", b, "--out", out, *TINY, "--steps", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    # Each process saved its own pool; the checkpoint knows it came from two processes.
    checkpoint = out / "checkpoints" / "step-00000002"
    assert {p.name for p in checkpoint.glob("extra_*.safetensors")} == {"extra_0.safetensors", "extra_1.safetensors"}
    assert json.loads((checkpoint / "trainer_state.json").read_text())["num_processes"] == 2

    second = launch(2, "train", "cyclegan", "--a", a, "--b", b, "--out", out, *TINY, "--steps", "4", "--resume")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("Resumed") == 1  # printed by the main process only
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert (out / "models" / "a2b" / "model.safetensors").is_file()


@pytest.mark.parametrize("method", ["cyclegan", "cut", "fastcut"])
def test_bf16_mixed_precision_on_cpu(tmp_path, method):
    a = write_domain(tmp_path / "a", 4, 32, seed=1)
    b = write_domain(tmp_path / "b", 4, 32, seed=2, mapping=day_to_night)
    out = tmp_path / "run"
    precision = ("--mixed-precision", "bf16")
    train(method, out, "--a", a, "--b", b, *tiny(method, steps=2), *precision)
    losses = [json.loads(line)["losses"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(0 <= v < 100 for record in losses for v in record.values())


def test_fp16_without_gpu_is_a_clear_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    a = write_domain(tmp_path / "a", 2, 32, seed=1)
    result = train("cyclegan", tmp_path / "r", "--a", a, "--b", a, *TINY, "--mixed-precision", "fp16", check=False)
    assert result.exit_code == 2 and "needs a GPU" in result.stderr


def _pix2pix_args(tmp_path):
    a = write_domain(tmp_path / "a", 8, 128, seed=1)
    b = write_domain(tmp_path / "b", 8, 128, seed=1, mapping=day_to_night)  # same seed: aligned pairs
    size = ("--size", "128", "--load-size", "128", "--generator", "unet128", "--ngf", "4", "--ndf", "4")
    return ("pix2pix", "--a", a, "--b", b, *size)


def _discogan_args(tmp_path):
    a = write_domain(tmp_path / "a", 8, 64, seed=1)
    b = write_domain(tmp_path / "b", 8, 64, seed=2, mapping=day_to_night)
    return ("discogan", "--a", a, "--b", b, "--width", "4")


def _srgan_args(tmp_path):
    hr = write_domain(tmp_path / "hr", 8, 32, seed=1)
    sr = ("--scale", "2", "--hr-size", "16", "--width", "4", "--blocks", "1", "--ndf", "4")
    return ("srgan", "--hr", hr, *sr, "--content-loss", "mse")


def _cut_args(tmp_path):
    a = write_domain(tmp_path / "a", 8, 32, seed=1)
    b = write_domain(tmp_path / "b", 8, 32, seed=2, mapping=day_to_night)
    return ("cut", "--a", a, "--b", b, *tiny("cut", batch_size=None, log_every=None, workers=None))


def _fastcut_args(tmp_path):
    return ("fastcut", *_cut_args(tmp_path)[1:])


@pytest.mark.parametrize(
    "method_args",
    [_pix2pix_args, _discogan_args, _srgan_args, _cut_args, _fastcut_args],
    ids=["pix2pix", "discogan", "srgan", "cut", "fastcut"],
)
def test_every_method_trains_on_two_processes(tmp_path, method_args):
    """DDP is strict where one process is not (every parameter must get a gradient, buffers are
    broadcast): each method's networks must go through it, not only CycleGAN's."""
    out = tmp_path / "run"
    run = ("--out", out, "--batch-size", "2", "--workers", "0", "--steps", "2", "--save-every", "2", "--log-every", "1")
    result = launch(2, "train", *method_args(tmp_path), *run)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2]
    assert json.loads((out / "checkpoints" / "step-00000002" / "trainer_state.json").read_text())["num_processes"] == 2
    assert any((out / "models").rglob("model.safetensors"))


def test_cut_heads_and_samplers_on_two_processes_resume(tmp_path):
    """CUT's heads exist before Accelerate wraps the networks (built from shapes, not from a first batch), so
    DDP finds the same modules on every process; each process draws its own patches from its own sampler,
    saved per process and restored by --resume."""
    from safetensors.torch import load_file

    out = tmp_path / "run"
    args = (*_cut_args(tmp_path), "--out", out, "--batch-size", "2", "--workers", "0", "--log-every", "1")
    args += ("--sample-every", "2", "--save-every", "2")
    first = launch(2, "train", *args, "--steps", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    checkpoint = out / "checkpoints" / "step-00000002"
    samplers = [load_file(checkpoint / f"extra_{i}.safetensors")["sampler"] for i in (0, 1)]
    assert not torch.equal(*samplers)  # different streams: the processes sample different patches
    second = launch(2, "train", *args, "--steps", "4", "--resume")
    assert second.returncode == 0, second.stdout + second.stderr
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    assert (out / "models" / "a2b" / "model.safetensors").is_file()
