"""Concurrent requests to one model gathered into batches of one image size, run off the event loop.

Each model has one `Batcher`: requests wait in it (at most `max_queue`; more are refused with
`Overloaded`, which the server answers with 503), the oldest waits at most `max_wait` seconds for
others of its size to join, and up to `max_batch` of them run together on the model's one worker
thread, through the runner. While a batch computes, the next gathers, so under load batches fill up
by themselves; a lone request pays at most `max_wait`. `max_batch=1` runs every request alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

Run = Callable[[np.ndarray], np.ndarray]  # NHWC uint8 batch of one size -> NHWC uint8 results


class Overloaded(Exception):
    """The queue is full: the client should come back later (503 with Retry-After)."""


@dataclass
class Result:
    """One request's result and how it was computed (the page and the headers show it)."""

    pixels: np.ndarray
    batch_size: int
    compute_seconds: float  # the batch's time in the runner
    queue_seconds: float  # waiting for its batch to start


@dataclass
class _Request:
    pixels: np.ndarray
    future: asyncio.Future[Result]
    arrived: float = field(default_factory=time.monotonic)


class Batcher:
    """Per-model gathering of same-size requests; start it inside the running event loop, then `submit`."""

    def __init__(self, run: Run, name: str, max_batch: int = 8, max_wait: float = 0.005, max_queue: int = 64) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait < 0:
            raise ValueError("max_batch and max_queue must be at least 1, max_wait not negative")
        self.run, self.name = run, name
        self.max_batch, self.max_wait, self.max_queue = max_batch, max_wait, max_queue
        self.waiting: deque[_Request] = deque()  # in arrival order, all sizes together
        self.batches = 0  # batches run so far
        self.in_flight = 0  # requests submitted and not yet answered (waiting or running)
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"translate-serve-{name}")

    def start(self) -> None:
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """After the server has finished its requests: end the loop and the worker thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for request in self.waiting:
            if not request.future.done():
                request.future.set_exception(Overloaded("the server is shutting down"))
        self._worker.shutdown(wait=True)

    @property
    def queued(self) -> int:
        return len(self.waiting)

    async def submit(self, pixels: np.ndarray) -> Result:
        """HxWx3 uint8 in, its result out; raises Overloaded when `max_queue` requests already wait.

        Cancelling the caller (a timeout, a client gone) drops the request if it has not started.
        """
        if self._arrived is None:
            raise RuntimeError("Batcher.start() was not called")
        if len(self.waiting) >= self.max_queue:
            raise Overloaded(f"model {self.name} has {len(self.waiting)} requests waiting (--max-queue)")
        request = _Request(pixels, asyncio.get_running_loop().create_future())
        self.waiting.append(request)
        self._arrived.set()
        self.in_flight += 1
        try:
            return await request.future
        finally:
            self.in_flight -= 1
            if not request.future.done():
                request.future.cancel()  # the loop skips it

    async def _loop(self) -> None:
        assert self._arrived is not None
        loop = asyncio.get_running_loop()
        while True:
            self._drop_cancelled()
            if not self.waiting:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            oldest = self.waiting[0]
            size = oldest.pixels.shape
            deadline = oldest.arrived + self.max_wait
            while self._count(size) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                self._arrived.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
            batch = self._take(size)
            if not batch:
                continue
            started = time.monotonic()
            try:
                results = await loop.run_in_executor(self._worker, self.run, np.stack([r.pixels for r in batch]))
            except Exception as exc:  # noqa: BLE001 - the requests fail, the loop serves on
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            seconds = time.monotonic() - started
            self.batches += 1
            for request, pixels in zip(batch, results, strict=True):
                if not request.future.done():
                    request.future.set_result(Result(pixels, len(batch), seconds, started - request.arrived))

    def _drop_cancelled(self) -> None:
        while self.waiting and self.waiting[0].future.done():
            self.waiting.popleft()

    def _count(self, shape: tuple[int, ...]) -> int:
        return sum(1 for r in self.waiting if r.pixels.shape == shape and not r.future.done())

    def _take(self, shape: tuple[int, ...]) -> list[_Request]:
        """Up to `max_batch` waiting requests of `shape`, oldest first; the others keep their places."""
        batch: list[_Request] = []
        kept: deque[_Request] = deque()
        for request in self.waiting:
            if request.future.done():
                continue
            if request.pixels.shape == shape and len(batch) < self.max_batch:
                batch.append(request)
            else:
                kept.append(request)
        self.waiting = kept
        return batch
