"""Progress for people (training steps, converted images): a live bar with rate and ETA in a
terminal, plain lines in logs.

A rich live bar in a CI log or a redirected file turns into one truncated line at the end; there
we print a short status line every `every` steps instead.
"""

from __future__ import annotations

import math
import sys
import time
from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3f}" for k, v in losses.items() if math.isfinite(v))


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class TrainingProgress:
    """Context manager; call `update(step, losses)` after each step (`label`/`unit`: "convert", "image")."""

    def __init__(
        self, total: int, start: int, enabled: bool, every: int, label: str = "train", unit: str = "step"
    ) -> None:
        self.total, self.start, self.enabled, self.every = total, start, enabled, max(1, every)
        self.label, self.unit = label, unit
        self.live = enabled and sys.stdout.isatty()
        self.losses = ""
        self.t0 = time.monotonic()
        self.next_line = start + self.every

    def __enter__(self) -> TrainingProgress:
        if self.live:
            self.bar = Progress(
                TextColumn(f"[bold]{self.label}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[losses]}"),
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=self.total, completed=self.start, losses="", rate="")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live:
            self.bar.__exit__(kind, exc, tb)

    def update(self, step: int, losses: dict[str, float] | None = None) -> None:
        if not self.enabled:
            return
        if losses is not None:
            self.losses = format_losses(losses)
        elapsed = time.monotonic() - self.t0
        rate = (step - self.start) / elapsed if elapsed > 0 else 0.0
        if self.live:
            self.bar.update(self.task, completed=step, losses=self.losses, rate=f"{rate:.1f} {self.unit}/s")
        elif step >= self.next_line or step == self.total:
            self.next_line = step + self.every
            eta = elapsed / max(1, step - self.start) * (self.total - step)
            print(
                f"{self.unit} {step}/{self.total} ({100 * step // max(1, self.total)}%) {rate:.1f} {self.unit}/s "
                f"elapsed {_clock(elapsed)} ETA {_clock(eta)}" + (f" | {self.losses}" if self.losses else ""),
                flush=True,
            )
