"""`--compile step`: the whole training step captured as a CUDA graph and replayed (issue 19).

At the batch sizes image translation trains at (1 to 4), a GPU step is bound by kernel launches: the
host spends longer issuing a step's thousand-odd small kernels than the GPU takes to run them. A CUDA
graph records the kernels of one step once; each later step is one launch. What a replayed step needs,
and where each need is met:

- fixed shapes: the loader drops the last partial batch; each batch is copied into the buffers the
  graph reads (`CapturedStep`);
- no choice made on the host inside the step: the methods draw theirs before it (`Method.host_draws`:
  image pools, CUT's patches and flips) and a step whose Python control flow follows the step number
  says so (`Method.graph_key`: DiscoGAN's schedule), getting a graph per key; tests/test_graph_ready.py
  checks that every step of a key runs the same operations;
- no host read of a device value: tests/test_no_sync.py;
- optimizers that update on the device, learning rate included (`make_capturable`);
- autocast without its cache of cast weights (Accelerate's `AutocastKwargs`, set by the trainer).

Each key's first `WARMUP` steps run eagerly, on a side stream as PyTorch's recipe asks: they create
the optimizers' state and compile what `torch.compile` compiles. The next step is captured, then
replayed; its losses are copied out before the following replay overwrites them. Replays share one
memory pool. The maths is the eager step's: tests/test_gpu.py compares the losses.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import AutocastKwargs

from translate.config import TrainConfig
from translate.methods.base import Method

Losses = dict[str, torch.Tensor]
WARMUP = 2  # eager steps per graph key before its capture


def capture_refusal(config: TrainConfig, device: torch.device, processes: int) -> str | None:
    """Why this run cannot capture its step (it compiles the networks only), or None when it can."""
    if config.compile != "step":
        return None
    if device.type != "cuda":
        return "CUDA graphs need a GPU: on this device the networks are compiled, the step is not captured"
    if processes > 1:
        return "with several processes the step is not captured (the gradients' all-reduce is not); networks compiled"
    return None


def autocast_handlers(config: TrainConfig) -> list[AutocastKwargs]:
    """The Accelerator's autocast settings: a captured step must cast the weights on every replay, not
    reuse a cast cached at capture time."""
    return [AutocastKwargs(cache_enabled=False)] if config.compile == "step" else []


def capture_step(
    method: Method,
    optimizers: Iterable[torch.optim.Optimizer],
    accelerator: Accelerator,
    warn: Callable[[str], None],
) -> CapturedStep | None:
    """`--compile step` on a prepared method and its (unwrapped) optimizers: the step that replays where it
    can be captured; None (with a warning saying why, when it was asked for) where it cannot."""
    refusal = capture_refusal(method.config, accelerator.device, accelerator.num_processes)
    if refusal:
        warn(f"--compile step: {refusal}")
    if method.config.compile != "step" or refusal:
        return None
    return CapturedStep(method.train_step, list(optimizers), accelerator.device)


def make_capturable(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Adam updating wholly on the device: its step counts there (`capturable`), and its learning rate a
    device tensor that the trainer fills before each step (a float would be frozen into the graph). Also
    for state loaded from a checkpoint: its groups and step counts come back as they were saved."""
    for group in optimizer.param_groups:
        group["capturable"] = True
        group["lr"] = torch.tensor(float(group["lr"]), device=device)
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            if "step" in state:
                state["step"] = state["step"].to(device=device, dtype=torch.get_default_dtype())


def set_learning_rate(group: dict[str, Any], value: float) -> None:
    """A parameter group's rate, in place where it is a (captured) device tensor."""
    if isinstance(group["lr"], torch.Tensor):
        group["lr"].fill_(value)
    else:
        group["lr"] = value


class CudaGraphs:
    """How `CapturedStep` runs eager steps and records graphs on a GPU (tests/graph_emulation.py stands in
    for it on a CPU, replaying the recorded operations)."""

    runs_while_recording = False  # CUDA capture records kernels without running them

    def __init__(self) -> None:
        self.side = torch.cuda.Stream()
        self.pool: Any = None  # the replays' shared memory pool, from the first capture

    def eager(self, run: Callable[[], Losses]) -> Losses:
        """A warm-up step on a side stream, as PyTorch's recipe for whole-network capture asks."""
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            losses = run()
        torch.cuda.current_stream().wait_stream(self.side)
        return losses

    def record(self, run: Callable[[], Losses]) -> tuple[Callable[[], None], Losses]:
        """(replay, the tensors the replays write the losses into)."""
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            outputs = run()
        self.pool = self.pool or graph.pool()
        return graph.replay, outputs


@dataclass
class _Graph:
    warm_steps: int = 0
    replay: Callable[[], None] | None = None
    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    outputs: Losses = field(default_factory=dict)


class CapturedStep:
    """Runs `step(batch)` eagerly for each key's first steps, then as a recorded graph per key; makes
    `optimizers` capturable before its first step, so also after a resume has loaded their state as it
    was saved (maybe by a run that did not capture)."""

    def __init__(
        self,
        step: Callable[[dict[str, Any]], Losses],
        optimizers: list[torch.optim.Optimizer],
        device: torch.device,
        warmup: int = WARMUP,
    ) -> None:
        self.step, self.warmup = step, warmup
        self.optimizers, self.device = optimizers, device
        self.graphs = CudaGraphs()
        self.by_key: dict[Hashable, _Graph] = {}

    def __call__(self, batch: dict[str, Any], key: Hashable = None) -> Losses:
        if not self.by_key:
            for optimizer in self.optimizers:
                make_capturable(optimizer, self.device)
        entry = self.by_key.setdefault(key, _Graph())
        if entry.warm_steps < self.warmup:
            entry.warm_steps += 1
            return self.graphs.eager(lambda: self.step(batch))
        replay = entry.replay is not None or not self.graphs.runs_while_recording
        if entry.replay is None:
            # The step reads its batch from buffers of its own, which each replay refills.
            entry.inputs = {k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)}
            entry.replay, entry.outputs = self.graphs.record(lambda: self.step(batch | entry.inputs))
        if replay:
            for name, value in entry.inputs.items():
                value.copy_(batch[name], non_blocking=True)
            entry.replay()
        return {name: value.clone() for name, value in entry.outputs.items()}
