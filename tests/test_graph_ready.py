"""Every training step of one graph key runs the same operations: what `--compile step` needs to record
a step once and replay it as a CUDA graph (translate/engine/capture.py).

A graph replays the kernels it recorded with the arguments it recorded. A step whose Python code chooses
differently from one step to the next (an image pool filling, then full; FastCUT's flip; a schedule's
phase not declared in `Method.graph_key`), or that bakes a changing number into an operation, would
replay the wrong step. This test records each step's operations (name, shapes, dtypes and plain-number
arguments) during real training runs and asserts that the steps of a key, after the key's first (the
capture comes after two eager ones), are the same. The optimizers' updates are left out: on a GPU the
engine makes them capturable (step counts and learning rate on the device), which a CPU Adam cannot be.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from tests.helpers import method_data, tiny, train
from translate.methods import method_class

pytestmark = pytest.mark.usefixtures("one_thread")

# Options that make each schedule and random choice change within a short run.
CHANGING = {
    "cyclegan": ("--pool-size", "3"),  # filling for three images, then full: coins and slots
    "discogan": ("--update-interval", "2", "--gan-curriculum", "6"),  # alternating updates; the weight changes
    "srresnet": ("--decay-from", "0.5"),
}
STEPS = 12
PLAIN = (int, float, bool, str, torch.dtype, torch.device, torch.layout, torch.memory_format)


def describe(value: Any) -> Any:
    """What a replay would repeat of an argument: a tensor's layout (not its values), any other value itself."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype, value.device.type)
    if isinstance(value, (list, tuple)):
        return tuple(describe(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, describe(v)) for k, v in value.items()))
    if value is None or isinstance(value, PLAIN):
        return value
    return type(value).__name__  # e.g. the profiler's record-function handles


class OperationRecorder(TorchDispatchMode):
    """The operations run under it, except while `paused` (the optimizers' updates)."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[tuple] = []
        self.paused = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self.paused:
            self.operations.append((str(func), describe(args), describe(kwargs)))
        return func(*args, **kwargs)


def record_steps(method: str, tmp_path, monkeypatch) -> list[tuple[Any, list[tuple]]]:
    """(graph key, operations) of each step of a short real run of `method`."""
    recorder = OperationRecorder()
    steps: list[tuple[Any, list[tuple]]] = []
    cls = method_class(method)
    real_step, real_update = cls.train_step, torch.optim.Adam.step

    def recorded_step(self, batch):
        recorder.operations = []
        with recorder:
            losses = real_step(self, batch)
        steps.append((self.graph_key(), recorder.operations))
        return losses

    def unrecorded_update(self, *args, **kwargs):
        recorder.paused = True
        try:
            return real_update(self, *args, **kwargs)
        finally:
            recorder.paused = False

    monkeypatch.setattr(cls, "train_step", recorded_step)
    monkeypatch.setattr(torch.optim.Adam, "step", unrecorded_update)
    options = tiny(method, sample_every=1000, save_every=1000, log_every=1000)
    data = method_data(method, tmp_path)
    train(method, tmp_path / "run", *data, *options, *CHANGING.get(method, ()), "--steps", STEPS)
    return steps


def differences(steps: list[tuple[Any, list[tuple]]]) -> list[str]:
    """For each key, where a later step's operations first differ from the key's second step's."""
    by_key: dict[Any, list[list[tuple]]] = defaultdict(list)
    for key, operations in steps:
        by_key[key].append(operations)
    found = []
    for key, runs in by_key.items():
        for n, operations in enumerate(runs[2:], start=2):
            if operations != runs[1]:
                at = next((i for i, (x, y) in enumerate(zip(operations, runs[1], strict=False)) if x != y), None)
                where = f"operation {at}: {operations[at]} vs {runs[1][at]}" if at is not None else "count differs"
                found.append(f"key {key!r}, its step {n}: {where}")
    return found


@pytest.mark.parametrize("method", ["cyclegan", "cut", "fastcut", "pix2pix", "discogan", "srresnet", "srgan"])
def test_every_step_of_a_key_runs_the_same_operations(method, tmp_path, monkeypatch):
    steps = record_steps(method, tmp_path, monkeypatch)
    assert len(steps) == STEPS
    keys = [key for key, _ in steps]
    counts = {key: keys.count(key) for key in keys}
    assert min(counts.values()) >= 3, counts  # each key has later steps to compare
    assert differences(steps) == []
    assert len(steps[-1][1]) > 50  # the recorder saw the step's work


def test_an_undeclared_schedule_is_caught(tmp_path, monkeypatch):
    """The check can fail: DiscoGAN's alternating updates without its graph key are different steps."""
    from translate.methods.discogan import DiscoGAN

    monkeypatch.setattr(DiscoGAN, "graph_key", lambda self: None)
    steps = record_steps("discogan", tmp_path, monkeypatch)
    assert differences(steps)
