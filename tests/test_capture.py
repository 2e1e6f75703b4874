"""`--compile step` where no GPU is (translate/engine/capture.py): what falls back, and why. The capture
itself is checked on a GPU (tests/test_gpu.py); that every step of a key runs the same operations, here
(tests/test_graph_ready.py)."""

from __future__ import annotations

import shutil

import pytest
import torch

from tests.helpers import method_data, tiny, train
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
