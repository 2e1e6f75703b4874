"""What every `translate evaluate` command produces: per-image scores, their mean, a table, JSON.

An evaluation holds one dataclass of scores per image (a `name` plus floats) and knows how to
show them (`COLUMNS`: heading, field, format), so each kind of evaluation only says what it scores.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from rich.console import Console
from rich.table import Table

from translate.atomic import write_text


@dataclass
class Evaluation:
    """Base of SREvaluation, PairedEvaluation, ...: subclasses add their settings as fields."""

    images: list[Any]

    COLUMNS: ClassVar[tuple[tuple[str, str, str], ...]] = ()  # (heading, score field, format)

    @property
    def title(self) -> str:
        return type(self).__name__

    @property
    def conventions(self) -> str:
        return ""

    def mean(self) -> dict[str, float]:
        """Mean of every score over the images (how papers report a test set)."""
        if not self.images:
            return {}
        names = [f.name for f in dataclasses.fields(self.images[0]) if f.name != "name"]
        return {name: float(np.mean([getattr(s, name) for s in self.images])) for name in names}

    def to_dict(self) -> dict[str, Any]:
        settings = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "images"}
        return settings | {
            "conventions": self.conventions,
            "mean": self.mean(),
            "images": [dataclasses.asdict(s) for s in self.images],
        }


def write_json(evaluation: Evaluation, path: Path) -> None:
    """Write the scores atomically (a crash never leaves half a report)."""
    write_text(path, json.dumps(evaluation.to_dict(), indent=2) + "\n")


def print_table(evaluation: Evaluation) -> None:
    """One row per image and a bold mean row, in the evaluation's columns."""
    table = Table(title=evaluation.title)
    table.add_column("image")
    for heading, _, _ in evaluation.COLUMNS:
        table.add_column(heading, justify="right")
    for scores in evaluation.images:
        table.add_row(scores.name, *(fmt.format(getattr(scores, key)) for _, key, fmt in evaluation.COLUMNS))
    mean = evaluation.mean()
    table.add_section()
    table.add_row("mean", *(fmt.format(mean[key]) for _, key, fmt in evaluation.COLUMNS), style="bold")
    Console().print(table)
