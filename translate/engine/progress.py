"""Training progress for people: a live bar with ETA in a terminal, plain lines in logs.

A rich live bar in a CI log or a redirected file turns into one truncated line at the end; there
we print a short status line every `every` steps instead.
"""

from __future__ import annotations

import math
import sys
import time
from types import TracebackType


def format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in losses.items() if math.isfinite(v))


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class TrainingProgress:
    """Context manager; call `update(step, losses)` after each step."""

    def __init__(self, total: int, start: int, enabled: bool, every: int) -> None:
        self.total, self.start, self.enabled, self.every = total, start, enabled, every
        self.live = enabled and sys.stdout.isatty()
        self.losses = ""
        self.t0 = time.monotonic()

    def __enter__(self) -> TrainingProgress:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[losses]}"),
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("train", total=self.total, completed=self.start, losses="")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live:
            self.bar.__exit__(kind, exc, tb)

    def update(self, step: int, losses: dict[str, float] | None = None) -> None:
        if not self.enabled:
            return
        if losses is not None:
            self.losses = format_losses(losses)
        if self.live:
            self.bar.update(self.task, completed=step, losses=self.losses)
        elif step % self.every == 0 or step == self.total:
            elapsed = time.monotonic() - self.t0
            eta = elapsed / max(1, step - self.start) * (self.total - step)
            print(
                f"step {step}/{self.total} ({100 * step // self.total}%) "
                f"elapsed {_clock(elapsed)} ETA {_clock(eta)} | {self.losses}",
                flush=True,
            )
