"""Atomic file writes: a crash never leaves a half-written checkpoint, model or image behind."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _read_umask() -> int:
    """The process's umask, read once at import: reading it means setting it, which threads must not race."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary file keeps the target's suffix so that libraries which infer the format
    from the name (Pillow, matplotlib) still do the right thing.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temporary_affixes(target)
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; the result gets the usual permissions
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _temporary_affixes(target: Path) -> tuple[str, str]:
    """How `atomic_path` names the temporary file beside `target`: prefix and suffix around tempfile's
    random letters. Hidden (a leading dot), so folder scans never take it for an input."""
    return f".{target.stem}.", f".tmp{target.suffix}"


def remove_temporaries(target: str | os.PathLike) -> None:
    """Remove the temporary files `atomic_path(target)` left beside `target`.

    `atomic_path` removes its own on any error, but a process killed mid-write (SIGKILL, the OOM killer)
    runs no cleanup; whoever saw it die calls this for the targets it was writing. Only names of exactly
    `atomic_path`'s pattern match (tempfile's random part holds no dot), not those of other targets.
    """
    target = Path(target)
    prefix, suffix = _temporary_affixes(target)
    pattern = re.compile(re.escape(prefix) + "[a-z0-9_]+" + re.escape(suffix))
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(target.parent):
            if pattern.fullmatch(entry.name):
                Path(entry.path).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700 folders
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a small text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
