"""Experiment trackers (TensorBoard, Weights & Biases) through Accelerate, fed by the engine.

They get what the run's own files hold, so nothing is computed twice: the averaged losses of each
log.jsonl line, the metrics of each metrics.jsonl line and each sample grid. Only the main process
logs (Accelerate's trackers do nothing elsewhere). A tracker that fails is a warning, then turned
off: the run's own files are the record, a tracker only a view of them.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from accelerate import Accelerator
from PIL import Image

from translate.config import TrainConfig, to_dict

PROJECT = "translate"  # wandb's project name; TensorBoard writes under RUN/tensorboard/translate/


def tracker_names(report_to: str) -> list[str]:
    """Accelerate's `log_with` for --report-to (validation made sure each named package is installed)."""
    if report_to == "auto":
        return ["tensorboard"] if importlib.util.find_spec("tensorboard") is not None else []
    return {"tensorboard": ["tensorboard"], "wandb": ["wandb"], "all": ["tensorboard", "wandb"]}.get(report_to, [])


class Trackers:
    """The run's trackers; every call is a no-op when there are none (or after one failed)."""

    def __init__(self, accelerator: Accelerator, warn: Callable[[str], None]) -> None:
        self.accelerator = accelerator
        self.warn = warn
        self.on = bool(accelerator.log_with)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - a tracker (its package, its server) must not stop training
            self.on = False
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            self.warn(f"experiment tracking stopped ({type(exc).__name__}: {reason}); training goes on")

    def start(self, config: TrainConfig, run_root: Path, step: int) -> None:
        """Open the trackers once the run knows its step: a resumed TensorBoard log hides the lost steps' events."""
        if not self.on:
            return
        plain = (int, float, str, bool, type(None))
        settings = {k: v if isinstance(v, plain) else str(v) for k, v in to_dict(config).items()}
        init: dict[str, dict] = {"wandb": {"name": run_root.name, "dir": str(run_root)}}
        if step:
            init["tensorboard"] = {"purge_step": step + 1}
        with self._guard():
            self.accelerator.init_trackers(PROJECT, config=settings, init_kwargs=init)

    def values(self, prefix: str, values: dict[str, float | None], step: int) -> None:
        """Scalars as `prefix/name` (loss/G_gan, eval/l1); non-finite values are left out."""
        finite = {f"{prefix}/{k}": float(v) for k, v in values.items() if v is not None and math.isfinite(v)}
        if self.on and finite:
            with self._guard():
                self.accelerator.log(finite, step=step)

    def grid(self, path: Path, step: int) -> None:
        """The sample grid PNG just written, as an image in each tracker."""
        if not self.on or not path.is_file():
            return

        with self._guard():
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            for tracker in self.accelerator.trackers:
                if tracker.name == "tensorboard":
                    tracker.writer.add_image("samples", pixels, step, dataformats="HWC")
                    tracker.writer.flush()
                elif tracker.name == "wandb":
                    tracker.log_images({"samples": [pixels]}, step=step)

    def finish(self) -> None:
        """Flush and close. Not `accelerator.end_training()`: that also destroys the process group, which
        code running after `fit` in the same processes may still need."""
        with self._guard():
            for tracker in self.accelerator.trackers:
                tracker.finish()
        self.accelerator.trackers.clear()
        self.on = False
