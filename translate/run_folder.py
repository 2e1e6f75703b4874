"""The run folder (`--out` of `translate train`): its layout and the formats of the files in it.

One module owns what a run leaves on disk, so the trainer that writes it and everything that
reads it (resume, `--init`, `translate convert RUN`, `translate report RUN`, the loss plot) agree:

    RUN/config.yaml            the effective settings (written by translate.config.save_settings)
    RUN/log.jsonl              one line per --log-every steps: {"step", "epoch", "time", "losses"}
    RUN/metrics.jsonl          one line per evaluation: {"step", "metrics", "best", "lower_is_better"}
    RUN/losses.png             the loss plot
    RUN/samples/step-N.png     sample grids
    RUN/checkpoints/step-N/    checkpoints; only those with complete.json count (engine/checkpoint.py
                               writes and verifies them; this module only finds them)
    RUN/models/NAME/           exported models (model folders: config.json + model.safetensors)
    RUN/models/best/           the best evaluated model: one model folder, or one folder per NAME
    RUN/tensorboard/           TensorBoard's events (--report-to)

JSONL files are appended to while training, so a crash can leave a torn last line, and a resumed
run starts again from its checkpoint's step: every reader here skips lines that do not parse and
lets a restarted step replace what was logged at or after it.

Light on purpose (json, yaml through translate.config, no torch): `translate report` and the zoo
read runs without loading the engine.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from translate.atomic import atomic_path
from translate.config import read_settings
from translate.errors import ConfigError

SETTINGS_FILE = "config.yaml"
LOG_FILE = "log.jsonl"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "losses.png"
SAMPLES_DIR = "samples"
CHECKPOINTS_DIR = "checkpoints"
MODELS_DIR = "models"
BEST = "best"  # RUN/models/best
TENSORBOARD_DIR = "tensorboard"

PREFIX = "step-"  # checkpoints and sample grids are named by step: step-00000012
MARKER = "complete.json"  # a checkpoint folder counts only once this is written (last)
MODEL_CONFIG = "config.json"  # a model folder's description (translate.model_folder.CONFIG)

_GRID = re.compile(rf"{PREFIX}(\d+)")


def checkpoint_name(step: int) -> str:
    """`step-00000012`, the name of a checkpoint folder and (with .png) of a sample grid: zero-padded,
    so names sort in step order."""
    return f"{PREFIX}{step:08d}"


@dataclass(frozen=True)
class RunFolder:
    """Where a run keeps its files; the one place that knows the layout."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / SETTINGS_FILE

    @property
    def log(self) -> Path:
        return self.root / LOG_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def plot(self) -> Path:
        return self.root / PLOT_FILE

    @property
    def samples(self) -> Path:
        return self.root / SAMPLES_DIR

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS_DIR

    @property
    def models(self) -> Path:
        return self.root / MODELS_DIR

    @property
    def best(self) -> Path:
        return self.models / BEST

    @property
    def tensorboard(self) -> Path:
        """Accelerate's logging_dir: TensorBoard's events go into a folder of the run."""
        return self.root / TENSORBOARD_DIR

    def is_run(self) -> bool:
        """Whether anything a run writes is there: tells a run folder from any other folder."""
        return any(p.exists() for p in (self.config, self.log, self.samples, self.checkpoints, self.models))

    def sample_grid(self, step: int) -> Path:
        return self.samples / f"{checkpoint_name(step)}.png"

    def sample_grids(self) -> list[tuple[int, Path]]:
        """(step, path) of every sample grid, in step order."""
        if not self.samples.is_dir():
            return []
        found = []
        for path in self.samples.glob(f"{PREFIX}*.png"):
            match = _GRID.fullmatch(path.stem)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)


# -- JSONL: log.jsonl and metrics.jsonl -------------------------------------------------------------


def _step(record: Any) -> int | None:
    """The integer "step" of a parsed line, or None if it is no record of ours (not an object, no step)."""
    if not isinstance(record, dict):
        return None
    step = record.get("step")
    if isinstance(step, bool) or not isinstance(step, int | float):
        return None
    if isinstance(step, float) and not (math.isfinite(step) and step.is_integer()):
        return None
    return int(step)


def _lines(path: Path) -> list[tuple[str, dict[str, Any], int]]:
    """(line, record, step) for every line of `path` that is a record; [] if there is no file.

    A torn last line, a blank line or anything else that does not parse is skipped. Bytes that are
    not UTF-8 (a write cut inside a character) are replaced rather than failing the whole file.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return []
    found = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        step = _step(record)
        if step is not None:
            found.append((line, record, step))
    return found


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file of a run (objects with an integer "step"), in order.

    A resumed run starts again from its checkpoint's step, so a line at or past a step that appears
    again is dropped in favour of the later ones: the result's steps strictly increase.
    """
    records: list[dict[str, Any]] = []
    for _, record, step in _lines(path):
        while records and records[-1]["step"] >= step:
            records.pop()
        records.append(record | {"step": step})
    return records


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one record as one line. Not atomic, by design: a crash mid-write leaves a torn last line,
    which every reader skips and `truncate_jsonl` removes on resume. Raises OSError."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def truncate_jsonl(path: Path, step: int) -> None:
    """Keep only the records up to `step` (the checkpoint a run resumes from), atomically.

    Lines after it, and lines that are no record (a torn last line), are dropped, so what the resumed
    run appends starts on a line of its own. The kept lines are written back as they were.
    """
    if not path.exists():
        return
    kept = [line for line, _, at in _lines(path) if at <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def read_losses(log: Path) -> dict[str, tuple[list[float], list[float]]]:
    """Loss name -> (steps, values) from log.jsonl, for plots; only losses with a finite value.

    A line whose "losses" is not a mapping of numbers is skipped; a NaN/Inf value leaves a gap.
    """
    series: dict[str, tuple[list[float], list[float]]] = {}
    for record in read_jsonl(log):
        try:
            items = [(str(k), float(v)) for k, v in record["losses"].items()]
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
        step = float(record["step"])
        for name, value in items:
            steps, values = series.setdefault(name, ([], []))
            if math.isfinite(value):
                steps.append(step)
                values.append(value)
    return {k: v for k, v in series.items() if v[0]}


# -- the saved settings ---------------------------------------------------------------------------


class SavedSettings(NamedTuple):
    """A run's config.yaml: `values` None when it has none (or, when read leniently, an unusable one,
    whose reason is `problem`)."""

    values: dict[str, Any] | None
    problem: str | None = None


def read_run_settings(root: Path, strict: bool = True) -> SavedSettings:
    """The settings saved in run folder `root`, parsed as any settings file is (translate.config).

    strict: a config.yaml that cannot be read, parsed or holds no mapping raises ConfigError, for what
    relies on the settings. Lenient (strict=False): such a file gives values None and a one-line
    `problem`, for what only shows or hints (the report, --init's mismatch hint).
    """
    path = RunFolder(root).config
    if not path.is_file():
        return SavedSettings(None)
    try:
        return SavedSettings(read_settings(path))
    except (ConfigError, OSError, ValueError) as exc:
        if strict:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"config file {path} could not be read: {exc}") from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return SavedSettings(None, first)


# -- exported models --------------------------------------------------------------------------------


def _model_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / MODEL_CONFIG).is_file())


def _direction(folder: Path) -> str | None:
    """The "direction" a model folder's config.json names, if it is readable and names one."""
    try:
        spec = json.loads((folder / MODEL_CONFIG).read_text())
    except (OSError, ValueError):
        return None
    direction = spec.get("direction") if isinstance(spec, dict) else None
    return direction if isinstance(direction, str) else None


def find_models(models: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """(final models by name, best models by name) in a run's models/ folder; ({}, {}) without one.

    The final models are the exports at the end of training (models/NAME); models/best is never one
    of them. models/best holds either one model (its config.json's "direction", else the run's only
    model name, else "best" says which) or one folder per model name.
    """
    final = {p.name: p for p in _model_folders(models) if p.name != BEST}
    best_root = models / BEST
    if (best_root / MODEL_CONFIG).is_file():
        direction = _direction(best_root)
        name = direction if direction in final else None
        return final, {name or (next(iter(final)) if len(final) == 1 else BEST): best_root}
    return final, {p.name: p for p in _model_folders(best_root)}


# -- checkpoints: where they are (their contents: translate.engine.checkpoint) ---------------------


def _step_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.startswith(PREFIX) and p.is_dir()), key=lambda p: p.name)


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in `folder` (those with a marker), oldest first."""
    return [p for p in _step_folders(folder) if (p / MARKER).is_file()]


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in `folder` (not yet verified), or None."""
    found = list_checkpoints(folder)
    return found[-1] if found else None


def incomplete_checkpoints(folder: Path) -> list[Path]:
    """`step-N` folders without a marker: never written by this code completely, never loaded."""
    return [p for p in _step_folders(folder) if not (p / MARKER).is_file()]
