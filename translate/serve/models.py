"""The models a server answers for: loaded once through the runner, each under a name a URL can carry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translate.inference.runner import Translator
from translate.nets.registry import architecture
from translate.run_folder import RunFolder, find_models

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ServedModel:
    """One model: its name in URLs, the runner that computes, and where it came from."""

    name: str
    translator: Translator
    source: str
    direction: str | None = None

    def run(self, pixels: np.ndarray) -> np.ndarray:
        """NHWC uint8 batch of one size -> NHWC uint8 results, through the one runner (called on a worker thread)."""
        return self.translator.run_pixels(torch.from_numpy(pixels))

    def card(self) -> dict[str, Any]:
        """What `GET /v1/models` and the page show: kind, method, direction, sizes, constraints, best metric."""
        spec, translator = self.translator.spec, self.translator
        card: dict[str, Any] = {
            "name": self.name,
            "kind": "upscale" if translator.is_upscaler else "translate",
            "method": spec.get("method"),
            "direction": self.direction or spec.get("direction"),
            "architecture": spec.get("architecture") or spec.get("generator", {}).get("name"),
            "source": spec.get("pretrained") or Path(self.source).name,
            "scale": translator.scale,
            "trained_size": spec.get("size") or spec.get("hr_size"),
            "sizes": _sizes(spec),
            "precision": translator.precision,
            "device": str(translator.device),
        }
        if spec.get("metric") and isinstance(spec.get("metrics"), dict):
            card["best_metric"] = {
                "name": spec["metric"],
                "value": spec["metrics"].get(spec["metric"]),
                "step": spec.get("step"),
            }
        if translator.is_upscaler:
            card["tile"] = translator.tile
        return card


def _sizes(spec: dict[str, Any]) -> str:
    """Which image sizes the model takes, in words (any size is accepted: the runner pads or resizes)."""
    if spec.get("fixed_size"):
        return f"any; resized to {spec['fixed_size']} x {spec['fixed_size']} and back"
    name = spec.get("generator", {}).get("name")
    if spec.get("method") == "external-sr" or name is None:
        multiple = int(spec.get("size_multiple", 1))
        return "any" if multiple <= 1 else f"any; padded to multiples of {multiple}"
    rule = architecture(name).size
    return "any" if rule.multiple <= 1 else f"any; padded to {rule.describe()} and cropped back"


def sources_with_directions(source: str) -> list[tuple[str, str | None]]:
    """A run folder with several models serves each of them (one per direction); anything else is one model."""
    path = Path(source)
    run = RunFolder(path)
    if path.is_dir() and run.models.is_dir() and not (path / "config.json").is_file():
        final, _ = find_models(run.models)
        if len(final) > 1:
            return [(source, direction) for direction in sorted(final)]
    return [(source, None)]


def model_name(source: str, direction: str | None) -> str:
    """The folder's name, a file's stem or the pretrained name; a run's direction appended when it has several."""
    path = Path(source)
    base = path.stem if path.is_file() else path.name or path.resolve().name
    name = _UNSAFE.sub("-", base).strip("-.") or "model"
    return f"{name}-{direction}" if direction else name


def unique_names(names: list[str]) -> list[str]:
    """Duplicates get -2, -3, ... in the order given, so every model has its own URL."""
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, count = name, 1
        while candidate in taken:
            count += 1
            candidate = f"{name}-{count}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def load_models(sources: list[str], device: str, precision: str, tile: int, tile_overlap: int) -> list[ServedModel]:
    """Load every model before the server starts, so a bad name fails at once with one line."""
    pairs = [pair for source in sources for pair in sources_with_directions(source)]
    names = unique_names([model_name(source, direction) for source, direction in pairs])
    served = []
    for name, (source, direction) in zip(names, pairs, strict=True):
        translator = Translator.load(source, direction, device=device, precision=precision)
        translator.tile, translator.tile_overlap = tile, tile_overlap
        served.append(ServedModel(name, translator, source, direction))
    return served
