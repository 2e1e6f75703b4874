"""The training loop never waits for the device between log boundaries (issue 19).

On a GPU, reading a tensor's value on the host (`.item()`, `bool()`, `.tolist()`, `.cpu()`, `.numpy()`)
waits for every kernel queued before it, so the host can no longer prepare step n+1 while the GPU runs
step n. A CPU has no such wait to observe, so this test counts the calls instead: every such call made
by our code or Accelerate's during a run of several steps, and asserts that none happens inside a step
or after a step that is not a boundary (here: the log lines). Host-side random draws from CPU
generators (translate/methods/host_random.py) are reads of host memory, not syncs, and are allowed.
The GPU twin, under torch.cuda.set_sync_debug_mode("error"), is in tests/test_gpu.py.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from tests.helpers import between_boundaries, follow_loop_phases, method_data, tiny, train

READS = ("item", "__bool__", "tolist", "cpu", "numpy", "__int__", "__float__")
WATCHED = (f"{Path(__file__).parents[1] / 'translate'}", "accelerate")
ALLOWED = ("translate/methods/host_random.py",)
LOG_EVERY = 3
STEPS = 6

pytestmark = pytest.mark.usefixtures("one_thread")


class ReadCounter:
    """Counts host reads of tensor values by our code and Accelerate's, by the loop phase they happen in."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, watched: tuple[str, ...] = WATCHED) -> None:
        self.phase, self.watched = "setup", watched
        self.calls: Counter[tuple[str, str]] = Counter()
        for name in READS:
            monkeypatch.setattr(torch.Tensor, name, self._counting(getattr(torch.Tensor, name), name))
        follow_loop_phases(monkeypatch, LOG_EVERY, self._enter)

    def _enter(self, phase: str) -> None:
        self.phase = phase

    def _counting(self, real, name: str):
        def read(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if any(part in caller for part in self.watched) and not caller.endswith(ALLOWED):
                self.calls[(self.phase, f"{name} in {Path(caller).name}")] += 1
            return real(tensor, *args, **kwargs)

        return read

    def between_boundaries(self) -> list[tuple[str, str]]:
        return [key for key in self.calls if between_boundaries(key[0])]


@pytest.mark.parametrize("method", ["cyclegan", "cut", "fastcut", "pix2pix", "discogan", "srresnet", "srgan"])
def test_no_host_reads_of_tensors_between_log_boundaries(method, tmp_path, monkeypatch):
    data = method_data(method, tmp_path)
    counter = ReadCounter(monkeypatch)
    options = tiny(method, log_every=LOG_EVERY, sample_every=1000, save_every=1000)
    train(method, tmp_path / "run", *data, *options, "--steps", STEPS)
    assert counter.between_boundaries() == [], "\n".join(map(str, counter.calls.items()))
    # The counter does see reads where the loop syncs on purpose: the log lines' loss means.
    assert any("boundary" in phase for phase, _ in counter.calls), dict(counter.calls)


def test_the_counter_sees_a_read_inside_a_step(tmp_path, monkeypatch):
    """The check can fail: a method that reads a loss value inside its step is caught."""
    from translate.methods.cyclegan import CycleGAN

    real = CycleGAN.train_step

    def reading_step(self, batch):
        losses = real(self, batch)
        if float(losses["G_ab"]) < 0:  # what a careless "if loss < threshold" does
            raise AssertionError("unreachable: LSGAN losses are not negative")
        return losses

    monkeypatch.setattr(CycleGAN, "train_step", reading_step)
    counter = ReadCounter(monkeypatch, watched=(*WATCHED, __file__))
    options = tiny("cyclegan", log_every=LOG_EVERY, sample_every=1000, save_every=1000)
    train("cyclegan", tmp_path / "run", *method_data("cyclegan", tmp_path), *options, "--steps", 2)
    assert counter.between_boundaries() == [("step 1", "__float__ in test_no_sync.py"),
                                            ("step 2", "__float__ in test_no_sync.py")]  # fmt: skip
