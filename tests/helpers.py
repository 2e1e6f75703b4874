"""Small builders shared by the end-to-end and learning tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from translate.cli import app
from translate.data.demo import make_domain_images
from translate.data.images import save_image


def write_domain(
    folder: Path, n: int, size: int, seed: int, mapping: Callable[[np.ndarray], np.ndarray] | None = None
) -> Path:
    """n generated landscapes (optionally mapped) as PNG files in `folder`."""
    for i, image in enumerate(make_domain_images(n, size, seed, mapping)):
        save_image(image, folder / f"{i:03d}.png")
    return folder


def cli(*args: str | Path):
    """Run the CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def day_and_night(root: Path) -> tuple[Path, Path]:
    """Two domains of 4 generated 32 px scenes, B the night version of other scenes than A's."""
    from translate.data.demo import day_to_night

    return write_domain(root / "a", 4, 32, seed=1), write_domain(root / "b", 4, 32, seed=2, mapping=day_to_night)


def one_line_error(result) -> str:
    """The one line a usage error prints (exit code 2, "Error: ...", no traceback)."""
    assert result.exit_code == 2, result.output + (result.stderr or "")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[0]
