"""Finding the images of a data set folder."""

from __future__ import annotations

import os
from pathlib import Path

from translate.data.images import IMAGE_EXTENSIONS, is_image_file
from translate.errors import DataError


def find_images(root: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """All images under `root`, sorted so that runs and resumes see the same order.

    Hidden files and folders (".DS_Store", ".ipynb_checkpoints", our own ".tmp" folders) are
    skipped; only names below `root` count, so a data set inside "~/.cache" is still found.
    Symlinked folders are followed, each real folder once.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder of images")
    found: list[Path] = []
    seen: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop, or two links to one folder
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".")) if recursive else []
        found.extend(Path(folder, f) for f in files if not f.startswith(".") and is_image_file(f))
    if not found:
        where = "" if recursive else " (subfolders not searched)"
        raise DataError(f"folder {root} has no images{where} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return sorted(found)
