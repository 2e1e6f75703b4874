"""CUDA graph replay, emulated on a CPU: `--compile step`'s machinery tested where no GPU is.

A CUDA graph records the kernels a step launches, with their arguments (the same memory, the same
numbers), and a replay launches exactly those again: no Python runs. `EmulatedGraphs` does the same
with PyTorch operations: while a step runs once for real, a dispatch mode records every operation with
its argument and result tensors (forward, backward and the optimizers' updates); a replay calls each
operation again on the recorded tensors and writes each result into the recorded result, so the next
operation reads it. Whatever a real replay would get wrong, this one gets wrong too: a value the host
decided during the recording (a Python float, a branch), a tensor the step replaced instead of updating
in place, a batch not read from the step's input buffers. Its replays run the same operations as the
eager step, so their results must be identical.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

Losses = dict[str, torch.Tensor]


class OperationTape(TorchDispatchMode):
    """Records (operation, args, kwargs, result) of everything run under it."""

    def __init__(self) -> None:
        super().__init__()
        self.tape: list[tuple[Any, tuple, dict, Any]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        self.tape.append((func, args, kwargs, result))
        return result


def _write(recorded: Any, fresh: Any) -> None:
    """Put a replayed operation's result into the recorded one (unless it is the same memory: views, in-place)."""
    if isinstance(recorded, torch.Tensor):
        if recorded.untyped_storage().data_ptr() != fresh.untyped_storage().data_ptr():
            recorded.copy_(fresh)
    elif isinstance(recorded, (list, tuple)):
        for r, f in zip(recorded, fresh, strict=True):
            _write(r, f)


class EmulatedGraphs:
    """Stands in for translate.engine.capture.CudaGraphs."""

    runs_while_recording = True  # the recording run is the step's first replay
    recordings: list[int] = []  # operations per recording, for the tests to see that graphs were made  # noqa: RUF012
    replays = 0

    def eager(self, run: Callable[[], Losses]) -> Losses:
        return run()

    def record(self, run: Callable[[], Losses]) -> tuple[Callable[[], None], Losses]:
        with OperationTape() as tape:
            outputs = run()
        EmulatedGraphs.recordings.append(len(tape.tape))

        def replay() -> None:
            EmulatedGraphs.replays += 1
            with torch.no_grad():
                for func, args, kwargs, result in tape.tape:
                    _write(result, func(*args, **kwargs))

        return replay, outputs


class RerunSteps(EmulatedGraphs):
    """The baseline for `EmulatedGraphs`: each "replay" runs the step's Python again, eagerly, on the same
    input buffers. The same optimizers (capturable Adam rounds its bias corrections as tensors, not as
    floats, so it differs from the plain eager step at rounding level), without the recording."""

    def record(self, run: Callable[[], Losses]) -> tuple[Callable[[], None], Losses]:
        outputs = run()
        EmulatedGraphs.recordings.append(0)

        def replay() -> None:
            EmulatedGraphs.replays += 1
            fresh = run()
            for name, value in outputs.items():
                value.copy_(fresh[name])

        return replay, outputs


def emulate_graphs(monkeypatch: Any, graphs: type[EmulatedGraphs] = EmulatedGraphs) -> type[EmulatedGraphs]:
    """Make `--compile step` capture on this CPU with `graphs`: no refusal for the device, Adam's
    device-side (capturable) updates allowed on it, networks left uncompiled (compiling is checked
    elsewhere). Returns the class that counts recordings and replays."""
    from translate.engine import capture

    adam = importlib.import_module("torch.optim.adam")  # the module, which torch.optim's `adam` name hides

    monkeypatch.setattr(capture, "CudaGraphs", graphs)
    monkeypatch.setattr(capture, "capture_refusal", lambda config, device, processes: None)
    monkeypatch.setattr(adam, "_get_capturable_supported_devices", lambda supports_xla=True: ["cpu"])
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *args, **kwargs: None)
    monkeypatch.setattr(EmulatedGraphs, "recordings", [])
    monkeypatch.setattr(EmulatedGraphs, "replays", 0)
    return EmulatedGraphs
