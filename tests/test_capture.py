"""`--compile step` where no GPU is (translate/engine/capture.py): what falls back, and why. The capture
itself is checked on a GPU (tests/test_gpu.py); that every step of a key runs the same operations, here
(tests/test_graph_ready.py)."""

from __future__ import annotations

import shutil

import pytest
import torch

from tests.graph_emulation import RerunSteps, emulate_graphs
from tests.helpers import assert_same_losses, logged_losses, method_data, tiny, train
from translate.config import CycleGANConfig
from translate.engine.capture import capture_refusal, set_learning_rate


def config(**values) -> CycleGANConfig:
    return CycleGANConfig(a="x", b="y", **values)


def test_only_one_gpu_process_captures():
    cuda = torch.device("cuda")
    assert capture_refusal(config(compile="step"), cuda, 1) is None
    assert capture_refusal(config(compile="networks"), torch.device("cpu"), 1) is None  # not asked for
    assert "need a GPU" in capture_refusal(config(compile="step"), torch.device("cpu"), 1)
    assert "several processes" in capture_refusal(config(compile="step"), cuda, 2)


def test_a_captured_rate_changes_in_place():
    rate = torch.tensor(2e-4)
    group = {"lr": rate}
    set_learning_rate(group, 1e-4)
    assert group["lr"] is rate and rate.item() == pytest.approx(1e-4)  # the tensor a graph reads
    plain = {"lr": 2e-4}
    set_learning_rate(plain, 5e-5)
    assert plain["lr"] == 5e-5


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("g++") or shutil.which("clang++")), reason="torch.compile on a CPU needs a C++ compiler"
)
def test_compile_step_on_a_cpu_compiles_the_networks_and_says_so(tmp_path):
    result = train("cyclegan", tmp_path / "run", *method_data("cyclegan", tmp_path), *tiny("cyclegan"),
                   "--steps", "2", "--compile", "step")  # fmt: skip
    assert "--compile step: CUDA graphs need a GPU" in result.stderr
    assert (tmp_path / "run" / "models" / "a2b" / "model.safetensors").is_file()


# -- the capture, replayed in emulation (tests/graph_emulation.py) ------------------------------------------

STEPS = 8


SLOW = [pytest.param(m, marks=pytest.mark.slow) for m in ("fastcut", "discogan", "cut", "pix2pix", "srgan")]


@pytest.mark.parametrize("method", ["cyclegan", *SLOW])
def test_replayed_steps_train_exactly_as_eager_ones(method, tmp_path, monkeypatch):
    """The whole step recorded after two eager ones and replayed, sample grids and a decaying learning rate in
    between: the losses of the same steps run eagerly with the same (capturable) optimizers, to the bit (the
    same operations in the same order). Against the plain eager run (Adam's bias corrections as floats) the
    first two steps agree to rounding; later ones drift further (Adam turns the rounding-level gradients of
    biases before instance norm into full-size updates: tests/helpers.assert_same_training)."""
    data = method_data(method, tmp_path)
    plain = logged_losses(method, tmp_path / "plain", data)
    emulate_graphs(monkeypatch, RerunSteps)
    eager = logged_losses(method, tmp_path / "eager", data, "--compile", "step")
    graphs = emulate_graphs(monkeypatch)
    replayed = logged_losses(method, tmp_path / "replayed", data, "--compile", "step")
    keys = 2 if method == "discogan" else 1  # DiscoGAN: D's turns and G's turns
    assert len(graphs.recordings) == keys and min(graphs.recordings) > 100
    assert graphs.replays == STEPS - 3 * keys  # two eager steps and the recorded one per key
    assert replayed == eager
    assert_same_losses(replayed[:2], plain[:2], 1e-5)


def test_a_replayed_run_resumes_exactly(tmp_path, monkeypatch):
    """Stopped after 4 steps and resumed: the image pool's buffer, its draws and Adam's device-side state
    come back, and the resumed run records its own graph: one 8-step run's losses (a constant rate: with a
    decay, a 4-step run's schedule is another than an 8-step one's)."""
    data = method_data("cyclegan", tmp_path)
    graphs = emulate_graphs(monkeypatch)
    whole = logged_losses("cyclegan", tmp_path / "whole", data, "--compile", "step", decay_from=1.0)
    logged_losses("cyclegan", tmp_path / "split", data, "--compile", "step", steps=4, decay_from=1.0)
    resumed = logged_losses("cyclegan", tmp_path / "split", data, "--compile", "step", "--resume", decay_from=1.0)
    assert len(graphs.recordings) == 3  # the whole run's, the first part's and the resumed part's
    assert resumed == whole


def test_the_emulation_catches_a_number_frozen_into_the_graph(tmp_path, monkeypatch):
    """The check can fail: with the learning rate a plain float again (as before `make_capturable`), the
    replays keep the rate of the recorded step while the eager run's decays."""
    from translate.engine import capture

    data = method_data("cyclegan", tmp_path)
    emulate_graphs(monkeypatch, RerunSteps)
    eager = logged_losses("cyclegan", tmp_path / "eager", data, "--compile", "step")
    emulate_graphs(monkeypatch)
    real = capture.make_capturable

    def float_rate(optimizer, device):
        real(optimizer, device)
        for group in optimizer.param_groups:
            group["lr"] = float(group["lr"])
            group["foreach"] = False  # a float rate with capturable Adam needs the single-tensor path

    monkeypatch.setattr(capture, "make_capturable", float_rate)
    replayed = logged_losses("cyclegan", tmp_path / "replayed", data, "--compile", "step")
    assert replayed[:4] == eager[:4]  # recorded at step 3, at the full rate; decay starts at step 4
    assert replayed[5:] != eager[5:]


def test_an_optimizer_state_saved_without_capture_becomes_capturable():
    """A run resumed with --compile step from a checkpoint of a run without it: the loaded groups say
    capturable False with a float rate, and the step counts are host tensors; all three are put right."""
    from translate.engine.capture import make_capturable

    weight = torch.nn.Parameter(torch.ones(3))
    saved = torch.optim.Adam([weight], lr=2e-4)
    weight.grad = torch.ones(3)
    saved.step()
    resumed = torch.optim.Adam([weight], lr=2e-4)
    make_capturable(resumed, torch.device("cpu"))
    resumed.load_state_dict(saved.state_dict())
    assert resumed.param_groups[0]["capturable"] is False and isinstance(resumed.param_groups[0]["lr"], float)
    make_capturable(resumed, torch.device("cpu"))
    group = resumed.param_groups[0]
    assert group["capturable"] is True and isinstance(group["lr"], torch.Tensor)
    assert group["lr"].item() == pytest.approx(2e-4)
    step = resumed.state[weight]["step"]
    assert step.dtype == torch.float32 and step.item() == 1.0
