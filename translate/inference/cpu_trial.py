"""How a CPU conversion runs its network: found by trying, on the first batches of the run.

Two choices that no rule gets right for every generator (measured with tools/bench_convert.py on a
2-core CPU, docs/BENCHMARKS.md):

- Threads. PyTorch gives the network every core, and its OpenMP threads spin between operations;
  beside the pipeline's PNG encoders they take the cores the encoders need. A cheap generator
  converted ~25% faster with one thread of two, a slightly larger one was faster with both. The
  network's own time cannot tell (it stretches with the contention it causes), so runs are timed
  from the end of the one before: decoding, encoding and writing count.
- Batches or one image at a time. A batch of 8 ran a ResNet generator 20-30% slower per image than
  single images (its activations leave the cache), a U-Net 30% faster.

The first run (a whole batch) tells which choice matters. A fast one (a cheap network, where
encoding counts) only warms up, then all cores and half are each measured over several batches. A
slow one (a large network, where encoding hardly counts) is itself the measurement of whole batches,
kernel building included (3-8% of a ResNet-9's batch here: a small bias toward single images), and
the next batch runs as single images: the first builds its kernels, the others are measured. So a
slow network spends one batch in its slower mode, not two. The faster setting is kept, the first
unless another is clearly (5%) faster.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Setting:
    threads: int
    whole_batches: bool = True  # False: the network sees one image at a time


class CpuTrial:
    """A short trial at the start of a CPU conversion that fixes `setting` once.

    Run the network inside `with trial.timing(images):` (a whole batch, or one image when
    `setting.whole_batches` is False) and start each batch with the current `setting`; `restore()` at
    the end puts the caller's thread count back. `chosen` is the setting kept (None while trying, or
    when the run ended first).
    """

    def __init__(self, min_runs: int = 8, min_seconds: float = 1.0, slow_run_seconds: float = 1.0) -> None:
        self.cores = torch.get_num_threads()
        self.min_runs, self.min_seconds, self.slow_run_seconds = min_runs, min_seconds, slow_run_seconds
        self.setting = Setting(self.cores)
        self.candidates: list[Setting] = []  # known after the first run
        self.rates: list[float] = []  # images/s of each candidate tried so far
        self.chosen: Setting | None = None
        self._planned = False  # by the first run
        self._runs = self._images = 0  # measured in the current phase
        self._unmeasured = 0  # runs still to go before the current phase's clock starts
        self._started = 0.0

    @contextlib.contextmanager
    def timing(self, images: int) -> Iterator[None]:
        """Around one network run of `images` images."""
        started = time.perf_counter()
        yield
        self.after_run(images, started, time.perf_counter())

    def after_run(self, images: int, started: float, ended: float) -> None:
        if self.chosen is not None:
            return
        if not self._planned:
            self._planned = True
            self._plan(images, ended - started, ended)
        elif self._unmeasured:
            self._unmeasured -= 1
            self._started = ended
        else:
            self._runs += 1
            self._images += images
            if self._runs >= self.min_runs and ended - self._started >= self.min_seconds:
                self.rates.append(self._images / (ended - self._started))
                if len(self.rates) < len(self.candidates):
                    self._begin(ended)
                else:
                    self._decide()

    def _plan(self, images: int, seconds: float, now: float) -> None:
        if seconds > self.slow_run_seconds:  # each image is long enough to measure on its own
            self.candidates = [Setting(self.cores), Setting(self.cores, whole_batches=False)]
            self.rates.append(images / seconds)
            self.min_runs, self.min_seconds = max(1, images - 1), 0.0  # the rest of one batch
        elif self.cores > 1:  # the first run only warmed up (oneDNN builds its kernels)
            self.candidates = [Setting(self.cores), Setting(self.cores // 2)]
        else:
            self.chosen = self.setting
        self._begin(now)

    def _begin(self, now: float) -> None:
        if self.chosen is None:
            setting = self.candidates[len(self.rates)]
            # Single images are a new shape: oneDNN builds its kernels for it on the first one.
            self._unmeasured = int(setting.whole_batches != self.setting.whole_batches)
            self._apply(setting)
            self._runs, self._images, self._started = 0, 0, now

    def _decide(self) -> None:
        best = max(range(len(self.rates)), key=self.rates.__getitem__)
        self.chosen = self.candidates[best if self.rates[best] > 1.05 * self.rates[0] else 0]
        self._apply(self.chosen)

    def _apply(self, setting: Setting) -> None:
        torch.set_num_threads(setting.threads)
        self.setting = setting

    def restore(self) -> None:
        torch.set_num_threads(self.cores)
