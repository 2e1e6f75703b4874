"""How many threads the network gets when it shares a CPU with the pipeline's decoders and encoders.

PyTorch gives a CPU network every core, and its OpenMP threads spin between operations. Alone that
is fastest; in the conversion pipeline the spinning threads take the cores the PNG encoders and the
decoder need. With a cheap generator on 2 cores, one intra-op thread instead of two converted ~25%
more images per second; with a generator whose work dominates, fewer threads only slow it down, and
between the two it depends on the machine. The network's own time cannot tell (it stretches with
the contention it causes), so the pipeline tries both: a few batches with all cores, a few with
half, and keeps the faster. Slow batches (a large generator) skip the trial: there the network is
all that counts and keeps every core.
"""

from __future__ import annotations

import time


class CoreSplit:
    """A short trial at the start of a CPU conversion that sets the network's intra-op threads once.

    Call `after_batch(images)` after each batch; `restore()` at the end puts the caller's thread
    count back. `chosen` is the thread count kept (None while trying or when no trial was run).
    """

    def __init__(self, min_batches: int = 8, min_seconds: float = 1.0, slow_batch_seconds: float = 1.0) -> None:
        import torch

        self.cores = torch.get_num_threads()
        self.min_batches, self.min_seconds, self.slow_batch_seconds = min_batches, min_seconds, slow_batch_seconds
        # Phases: a warm-up batch (oneDNN builds its kernels), a probe batch, then one per candidate.
        self.candidates = [self.cores, max(1, self.cores // 2)] if self.cores > 1 else []
        self.rates: list[float] = []
        self.chosen: int | None = None
        self._batches = 0
        self._images = 0
        self._started = time.perf_counter()
        self._probing = True
        self._warm = False

    @property
    def trying(self) -> bool:
        return len(self.rates) < len(self.candidates) and self.chosen is None

    def after_batch(self, images: int) -> None:
        if not self.trying:
            return
        now = time.perf_counter()
        if not self._warm:  # the first batch only warms up
            self._warm, self._started = True, now
            return
        if self._probing:  # the second says whether a trial is worth it
            self._probing = False
            if now - self._started > self.slow_batch_seconds:
                self.candidates = []
            else:
                self._begin(now)
            return
        self._batches += 1
        self._images += images
        if self._batches >= self.min_batches and now - self._started >= self.min_seconds:
            self.rates.append(self._images / (now - self._started))
            if len(self.rates) < len(self.candidates):
                self._begin(now)
            else:
                self._decide()

    def _begin(self, now: float) -> None:
        import torch

        torch.set_num_threads(self.candidates[len(self.rates)])
        self._batches, self._images, self._started = 0, 0, now

    def _decide(self) -> None:
        """Fewer threads only when clearly faster (5%): the default is every core."""
        import torch

        best = max(range(len(self.rates)), key=self.rates.__getitem__)
        self.chosen = self.candidates[best] if self.rates[best] > 1.05 * self.rates[0] else self.candidates[0]
        torch.set_num_threads(self.chosen)

    def restore(self) -> None:
        import torch

        torch.set_num_threads(self.cores)
