"""Finding the images of a data set folder, how two folders pair, and where results may be written."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from translate.data.images import IMAGE_EXTENSIONS, is_image_file
from translate.errors import DataError

logger = logging.getLogger(__name__)


# Containers `translate convert` reads as videos (through PyAV, the optional extra 'video').
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")


def is_video_file(path: str | os.PathLike) -> bool:
    """True when the name has one of VIDEO_EXTENSIONS, in any letter case."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def find_videos(root: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """All videos under `root` (maybe none), sorted, with `find_images`' rules for hidden files and links."""
    return find_files(root, is_video_file, recursive)


def find_images(root: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """All images under `root` (DataError when there are none); see `find_files`."""
    found = find_files(root, is_image_file, recursive)
    if not found:
        where = "" if recursive else " (subfolders not searched)"
        raise DataError(f"folder {root} has no images{where} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return found


def find_files(root: str | os.PathLike, accept: Callable[[str], bool], recursive: bool = True) -> list[Path]:
    """The files under `root` whose names `accept` takes, sorted so that runs and resumes see the same order.

    Hidden files and folders (".DS_Store", ".ipynb_checkpoints", our own ".tmp" folders) are
    skipped; only names below `root` count, so a data set inside "~/.cache" is still found.
    Symlinks (to files or folders) are followed while they stay inside `root`, each real folder
    once; a link that leads outside `root`, or nowhere, is skipped with one warning for all, so a
    data folder cannot pull in (or, when converting, expose) files from elsewhere.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"folder {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder of images")
    boundary = os.path.realpath(root)
    found: list[Path] = []
    seen: set[str] = set()
    refused: list[str] = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop, or two links to one folder
            subfolders[:] = []
            continue
        seen.add(real)
        kept = []
        for name in sorted(d for d in subfolders if not d.startswith(".")) if recursive else []:
            why = _outside(Path(folder, name), boundary)
            if why:
                refused.append(why)
            else:
                kept.append(name)
        subfolders[:] = kept
        for name in files:
            if name.startswith(".") or not accept(name):
                continue
            why = _outside(Path(folder, name), boundary)
            if why:
                refused.append(why)
            else:
                found.append(Path(folder, name))
    if refused:
        shown = ", ".join(sorted(refused)[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        logger.warning("%s: skipped %d link(s) leading outside the folder or nowhere: %s", root, len(refused), shown)
    return sorted(found)


def pairing_key(path: Path, root: Path) -> str:
    """What pairs a file of `root` with its partner in another folder: its path relative to `root`,
    without the extension (sub/1.jpg ~ sub/1.png), so formats may differ but names and places may not."""
    return path.relative_to(root).with_suffix("").as_posix()


def images_by_key(root: Path, unique: bool = True) -> dict[str, Path]:
    """Pairing key -> image, for every image under `root` (sorted by path).

    Two images with one key (x.jpg and x.png) make pairing a guess: DataError, unless `unique` is False
    (then the last by path wins, for what only looks things up).
    """
    keyed: dict[str, Path] = {}
    for path in find_images(root):
        key = pairing_key(path, root)
        if unique and key in keyed:
            raise DataError(f"{keyed[key]} and {path}: two images named '{key}', so pairing would be a guess")
        keyed[key] = path
    return keyed


def pair_folders(root_a: Path, root_b: Path) -> list[tuple[Path, Path]]:
    """(A, B) for every pairing key, in key order; DataError if a file of either has no partner."""
    by_key_a, by_key_b = images_by_key(root_a), images_by_key(root_b)
    problems = []
    for root, keyed, other, partners in ((root_a, by_key_a, root_b, by_key_b), (root_b, by_key_b, root_a, by_key_a)):
        alone = [str(p.relative_to(root)) for k, p in keyed.items() if k not in partners]
        if alone:
            files = "1 file" if len(alone) == 1 else f"{len(alone)} files"
            more = f" and {len(alone) - 3} more" if len(alone) > 3 else ""
            problems.append(f"{files} in {root} without a partner in {other}: {', '.join(alone[:3])}{more}")
    if problems:
        raise DataError("; ".join(problems))
    return [(by_key_a[k], by_key_b[k]) for k in sorted(by_key_a)]


def pairs_by_name(a: Path, b: Path) -> bool:
    """Both folders hold the same pairing keys, as paired data does (evaluation picks its scores by it)."""
    keys = {pairing_key(p, a) for p in find_images(a)}
    return bool(keys) and keys == {pairing_key(p, b) for p in find_images(b)}


def _outside(path: Path, boundary: str) -> str | None:
    """Why the symlink `path` may not be used (its target is outside `boundary` or missing); None if fine."""
    if not path.is_symlink():
        return None
    target = os.path.realpath(path)
    if not os.path.exists(target):
        return f"{path} -> {os.readlink(path)} (missing)"
    if target != boundary and not target.startswith(boundary.rstrip(os.sep) + os.sep):
        return f"{path} -> {target}"
    return None


def safe_output_path(
    input_root: str | os.PathLike, path: str | os.PathLike, output_root: str | os.PathLike, suffix: str
) -> Path:
    """Where the result for input `path` goes: its place relative to `input_root`, under `output_root`,
    with `suffix` (".png" or "png").

    Raises DataError when `path` is not inside `input_root`, or when the target would land outside
    `output_root` ("..", an absolute part, or a symlinked folder or file inside `output_root` that
    leads elsewhere): a conversion must never write anywhere but its output folder.
    """
    input_root, path, output_root = Path(input_root), Path(path), Path(output_root)
    suffix = suffix if suffix.startswith(".") else f".{suffix}"
    try:
        relative = path.relative_to(input_root)
    except ValueError:
        raise DataError(f"{path} is not inside the input folder {input_root}") from None
    if relative.is_absolute() or ".." in relative.parts or not relative.name:
        raise DataError(f"{path}: its name would place the result outside {output_root}")
    try:
        target = (output_root / relative).with_suffix(suffix)
    except ValueError:
        raise DataError(f"{path}: cannot give its result the suffix {suffix!r}") from None
    real_root = os.path.realpath(output_root)
    real_target = os.path.realpath(target)  # follows links already inside the output folder
    if not real_target.startswith(real_root.rstrip(os.sep) + os.sep):
        raise DataError(f"{path}: its result {target} would be written outside {output_root} (via a link?)")
    return target
