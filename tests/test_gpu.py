"""Checks that need a CUDA GPU (skipped elsewhere; CI has none): mixed precision with the grad scaler,
the GPU defaults of the speed switches, and conversion in half precision. Run on a GPU machine with
    python -m pytest -q tests/test_gpu.py
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.helpers import (
    assert_same_losses,
    between_boundaries,
    cli,
    follow_loop_phases,
    logged_losses,
    method_data,
    save_tiny_model,
    step_losses,
    tiny,
    train,
    write_domain,
)

pytestmark = pytest.mark.gpu  # skipped without a CUDA GPU (tests/conftest.py)


@pytest.mark.parametrize("precision", ["no", "bf16", "fp16"])
def test_training_on_the_gpu_with_each_precision_saves_resumes_and_exports(tmp_path, precision):
    a = write_domain(tmp_path / "a", 4, 32, seed=1)
    b = write_domain(tmp_path / "b", 4, 32, seed=2)
    out = tmp_path / "run"
    options = ("--a", a, "--b", b, *tiny("cyclegan", ngf=8, ndf=8, batch_size=None, save_every=2))
    train("cyclegan", out, *options, "--mixed-precision", precision, "--steps", "4")
    train("cyclegan", out, *options, "--mixed-precision", precision, "--steps", "6", "--resume")
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(v) for r in records for v in r["losses"].values())
    assert (out / "models" / "a2b" / "config.json").is_file()


def test_gpu_defaults_give_the_losses_of_the_plain_step():
    """The GPU defaults (batched passes; channels-last where the norm is not instance norm, here pix2pix);
    cuDNN picks other kernels for other shapes and layouts: 2e-3 (an H200 gave 1.04e-3 on G_gan)."""
    for method, norm in (("cyclegan", "instance"), ("pix2pix", "batch")):
        plain = step_losses(method, "cuda", batch_passes=False, channels_last="off", norm=norm)
        assert_same_losses(step_losses(method, "cuda", norm=norm), plain, 2e-3)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_conversion_is_close_to_fp32(tmp_path, precision):
    model = save_tiny_model(tmp_path / "model", {"name": "resnet6", "ngf": 8})
    images = write_domain(tmp_path / "in", 6, 64, seed=3)
    outputs = {}
    for name in ("fp32", precision):
        result = cli("convert", "--model", model, "--input", images, "--output", tmp_path / name, "--precision", name)
        assert result.exit_code == 0, result.output
        outputs[name] = [np.asarray(Image.open(p), dtype=np.float64) for p in sorted((tmp_path / name).glob("*.png"))]
    assert len(outputs["fp32"]) == 6
    diffs = [np.abs(x - y).mean() for x, y in zip(outputs["fp32"], outputs[precision], strict=True)]
    assert max(diffs) < 2.0, diffs  # mean difference under two levels of 255


@pytest.mark.parametrize("method", ["cyclegan", "cut", "fastcut", "pix2pix", "discogan", "srgan"])
def test_training_steps_never_wait_for_the_gpu(method, tmp_path, monkeypatch):
    """Between log boundaries nothing in a step, nor the batches' copies, makes the host wait for the GPU:
    torch raises on any synchronising CUDA call there (tests/test_no_sync.py is the CPU twin)."""
    import torch

    def enter(phase: str) -> None:
        torch.cuda.set_sync_debug_mode("error" if between_boundaries(phase) or phase == "data" else "default")

    follow_loop_phases(monkeypatch, 3, enter)
    try:
        options = tiny(method, log_every=3, sample_every=1000, save_every=1000, workers=2)
        train(method, tmp_path / "run", *method_data(method, tmp_path), *options, "--steps", 6)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("method", ["cyclegan", "cut", "fastcut", "pix2pix", "discogan", "srgan"])
def test_the_captured_step_trains_as_the_eager_step(method, tmp_path, monkeypatch):
    """--compile step replays a CUDA graph of the whole step after two eager steps per graph key: each
    step's losses are those of the same steps run eagerly with the same capturable Adam
    (tests/graph_emulation.RerunSteps), with sample grids in between. torch.compile is left out here
    (test_speed_switches checks it); tests/test_capture.py is the CPU twin, on emulated graphs."""
    import torch

    from tests.graph_emulation import RerunSteps
    from translate.engine import capture

    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *args, **kwargs: None)  # the capture alone
    data = method_data(method, tmp_path)
    with monkeypatch.context() as rerun:
        rerun.setattr(capture, "CudaGraphs", RerunSteps)
        eager = logged_losses(method, tmp_path / "eager", data, "--compile", "step")
    replays = []
    real_replay = torch.cuda.CUDAGraph.replay
    monkeypatch.setattr(torch.cuda.CUDAGraph, "replay", lambda self: replays.append(1) or real_replay(self))
    captured = logged_losses(method, tmp_path / "captured", data, "--compile", "step")
    assert len(replays) == (2 if method == "discogan" else 5)  # two eager steps and the recorded one per key
    assert_same_losses(captured, eager, 1e-5)


def test_a_captured_run_resumes_exactly(tmp_path, monkeypatch):
    """Stopped after 4 steps and resumed to 8 under --compile step: the losses of one 8-step run (the image
    pool's device buffer, its draws and the Adam state on the device all come back). A constant rate: with
    a decay, a 4-step run's schedule is another than an 8-step one's."""
    import torch

    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *args, **kwargs: None)
    data = method_data("cyclegan", tmp_path)
    whole = logged_losses("cyclegan", tmp_path / "whole", data, "--compile", "step", decay_from=1.0)
    logged_losses("cyclegan", tmp_path / "split", data, "--compile", "step", steps=4, decay_from=1.0)
    resumed = logged_losses("cyclegan", tmp_path / "split", data, "--compile", "step", "--resume", decay_from=1.0)
    assert_same_losses(resumed, whole, 1e-5)
