"""How a CPU conversion runs its network: found by trying, on the first batches of the run.

Two choices that no rule gets right for every generator (measured with tools/bench_convert.py on a
2-core CPU, docs/BENCHMARKS.md):

- Threads. PyTorch gives the network every core, and its OpenMP threads spin between operations;
  beside the pipeline's PNG encoders they take the cores the encoders need. A cheap generator
  converted ~25% faster with one thread of two, a slightly larger one was faster with both. The
  network's own time cannot tell (it stretches with the contention it causes).
- Batches or one image at a time. A batch of 8 ran a ResNet generator 20-30% slower per image than
  single images (its activations leave the cache), a U-Net 30% faster.

So fast batches try the network on all cores and on half, and slow batches (a large network, where
encoding hardly counts) try whole batches and single images; the faster is kept, the first setting
unless another is clearly (5%) faster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    threads: int
    whole_batches: bool = True  # False: the network sees one image at a time


class CpuTrial:
    """A short trial at the start of a CPU conversion that fixes `setting` once.

    Call `after_batch(images)` after each batch and run the next one with `setting`; `restore()` at
    the end puts the caller's thread count back. `chosen` is the setting kept (None while trying,
    or when the run ended first).
    """

    def __init__(self, min_batches: int = 8, min_seconds: float = 1.0, slow_batch_seconds: float = 1.0) -> None:
        import torch

        self.cores = torch.get_num_threads()
        self.min_batches, self.min_seconds, self.slow_batch_seconds = min_batches, min_seconds, slow_batch_seconds
        self.setting = Setting(self.cores)
        self.candidates: list[Setting] = []  # known after the probe batch
        self.rates: list[float] = []
        self.chosen: Setting | None = None
        self._seen = 0  # batches: the first warms up (oneDNN builds its kernels), the second probes the speed
        self._batches = self._images = 0
        self._unmeasured = 0  # batches still to run before a phase's clock starts
        self._started = time.perf_counter()

    def after_batch(self, images: int) -> None:
        if self.chosen is not None:
            return
        now = time.perf_counter()
        self._seen += 1
        if self._seen == 1:
            self._started = now
        elif self._seen == 2:
            slow = now - self._started > self.slow_batch_seconds
            self._plan(slow)
            if slow:  # the probe ran the first candidate, and one slow batch is a measurement
                self.rates.append(images / (now - self._started))
            self._begin(now)
        elif self._unmeasured:
            self._unmeasured -= 1
            self._started = now
        else:
            self._batches += 1
            self._images += images
            if self._batches >= self.min_batches and now - self._started >= self.min_seconds:
                self.rates.append(self._images / (now - self._started))
                if len(self.rates) < len(self.candidates):
                    self._begin(now)
                else:
                    self._decide()

    def _plan(self, slow: bool) -> None:
        if slow:  # each batch is long enough to measure on its own
            self.candidates = [Setting(self.cores), Setting(self.cores, whole_batches=False)]
            self.min_batches, self.min_seconds = 1, 0.0
        elif self.cores > 1:
            self.candidates = [Setting(self.cores), Setting(self.cores // 2)]
        else:
            self.chosen = self.setting

    def _begin(self, now: float) -> None:
        if self.chosen is None:
            setting = self.candidates[len(self.rates)]
            # Single images are a new shape: oneDNN builds its kernels for it on the first batch.
            self._unmeasured = int(setting.whole_batches != self.setting.whole_batches)
            self._apply(setting)
            self._batches, self._images, self._started = 0, 0, now

    def _decide(self) -> None:
        best = max(range(len(self.rates)), key=self.rates.__getitem__)
        self.chosen = self.candidates[best if self.rates[best] > 1.05 * self.rates[0] else 0]
        self._apply(self.chosen)

    def _apply(self, setting: Setting) -> None:
        import torch

        torch.set_num_threads(setting.threads)
        self.setting = setting

    def restore(self) -> None:
        import torch

        torch.set_num_threads(self.cores)
