"""Resumable checkpoints on top of `Accelerator.save_state`, that a crash never leaves half-usable.

A checkpoint folder holds Accelerate's state (every prepared network, optimizer, grad scaler and
every process's RNG) plus what Accelerate does not know about: the step counter (JSON) and each
process's method state such as image pools (safetensors). Nothing here is unpickled: Accelerate
loads its files with `weights_only=True`, and our own files are JSON and safetensors.

How a checkpoint is written, so that a kill, a power cut or a full disk at any moment leaves the
last good one usable:
1. every process writes into `.step-N.tmp`; they agree on whether every write succeeded;
2. the main process fsyncs every file and writes `complete.json` last (each file's size and
   SHA-256, fsynced): only a folder with this marker counts as a checkpoint;
3. it renames the folder to `step-N` and fsyncs the parent folder; older ones are pruned after.

On resume the newest checkpoint is checked against its marker and loaded; if that fails (a file
truncated or corrupted since), the previous one is tried, with a warning saying what was wrong.

Where checkpoints are and which count (names, the marker) is the run folder's layout, in
translate/run_folder.py; this module owns what is inside them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list, gather_object
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from translate.errors import ConfigError, WriteError
from translate.run_folder import MARKER, PREFIX, checkpoint_name, latest_checkpoint, list_checkpoints

STATE_FILE = "trainer_state.json"
TMP_SUFFIX = ".tmp"


def remove_partial_writes(folder: Path) -> list[Path]:
    """Delete `.step-N.tmp` folders left by a crash mid-save; call only while holding the run lock."""
    if not folder.is_dir():
        return []
    partial = [p for p in folder.iterdir() if p.name.startswith(f".{PREFIX}") and p.name.endswith(TMP_SUFFIX)]
    for path in partial:
        shutil.rmtree(path, ignore_errors=True)
    return sorted(partial)


# -- agreement between processes ------------------------------------------------------------------


def first_error(accelerator: Accelerator, error: str | None) -> str | None:
    """Collective: the first process's error message (or None), the same on every process."""
    if accelerator.num_processes == 1:
        return error

    return next((e for e in gather_object([error]) if e), None)


def from_main(accelerator: Accelerator, value: Any) -> Any:
    """Collective: the main process's `value` on every process."""
    if accelerator.num_processes == 1:
        return value

    return broadcast_object_list([value])[0]


# -- writing --------------------------------------------------------------------------------------


def write_failure(exc: BaseException) -> str | None:
    """A one-line reason if `exc` is a failed write (disk full, permissions, I/O), else None (a bug)."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        return f"{reason} ({exc.filename})" if exc.filename else reason
    if isinstance(exc, SafetensorError) or (isinstance(exc, RuntimeError) and "writ" in str(exc).lower()):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def attempt_write(action: Callable[[], object]) -> str | None:
    """Run `action`; a failed write gives its reason (None: it worked), anything else propagates."""
    try:
        action()
    except (OSError, RuntimeError, SafetensorError) as exc:
        reason = write_failure(exc)
        if reason is None:
            raise
        return reason
    return None


def _digest_and_sync(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of `path`, after forcing its data to disk."""
    digest = hashlib.sha256()
    with open(path, "r+b") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
        os.fsync(f.fileno())
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def _sync_folder(path: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable; not possible on Windows."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fresh_folder(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)


def _publish(tmp: Path, target: Path, state: dict[str, Any]) -> None:
    """Main process, once every file is written: state, fsync, marker last, rename into place."""
    (tmp / STATE_FILE).write_text(json.dumps(state))
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    manifest = {"files": {p.relative_to(tmp).as_posix(): _digest_and_sync(p) for p in files}}
    with open(tmp / MARKER, "w") as f:
        json.dump(manifest, f)
        f.flush()
        os.fsync(f.fileno())
    _sync_folder(tmp)
    if target.exists():  # an incomplete folder of the same step: it never counted
        shutil.rmtree(target)
    os.replace(tmp, target)
    _sync_folder(target.parent)


def save_checkpoint(
    accelerator: Accelerator,
    folder: Path,
    step: int,
    extra_state: dict[str, torch.Tensor],
    keep: int,
    networks: list[str],
) -> Path:
    """Write checkpoint `step` into `folder` (collective: every process must call it).

    `networks` names the prepared networks in order, so that `--init` can find each one's weights.
    A failed write raises `WriteError` on every process, naming the path; the previous checkpoints
    are untouched.
    """
    target = folder / checkpoint_name(step)
    tmp = folder / f".{target.name}{TMP_SUFFIX}"
    main = accelerator.is_main_process
    error = first_error(accelerator, attempt_write(lambda: _fresh_folder(tmp)) if main else None)
    if error is None:
        rank = accelerator.process_index
        extra = {k: v.detach().cpu().contiguous() for k, v in extra_state.items()}

        def write_state() -> None:
            accelerator.save_state(str(tmp), safe_serialization=True)
            save_file(extra, tmp / f"extra_{rank}.safetensors")

        error = first_error(accelerator, attempt_write(write_state))
    if error is None:
        state = {"step": step, "num_processes": accelerator.num_processes, "networks": networks}
        error = first_error(accelerator, attempt_write(lambda: _publish(tmp, target, state)) if main else None)
    if error is not None:
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(folder)
        kept = f"the last complete one, {previous.name}, is intact" if previous else "there is no earlier checkpoint"
        raise WriteError(f"could not write checkpoint {target}: {error}; {kept} (continue with --resume once fixed)")
    if main:
        for old in list_checkpoints(folder)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return target


# -- reading --------------------------------------------------------------------------------------


def verify_checkpoint(path: Path) -> str | None:
    """None if every file of checkpoint `path` matches its marker; else what is wrong, in a few words."""
    try:
        manifest = json.loads((path / MARKER).read_text())["files"]
    except FileNotFoundError:
        return f"has no {MARKER} (its write did not finish)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"has an unreadable {MARKER}"
    for name, expected in manifest.items():
        file = path / name
        if not file.is_file():
            return f"is missing {name}"
        size = file.stat().st_size
        if size != expected["size"]:
            return f"has a truncated or changed {name} ({size} bytes, {expected['size']} written)"
    for name, expected in manifest.items():
        digest = hashlib.sha256()
        with open(path / name, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != expected["sha256"]:
            return f"has a corrupted {name} (its SHA-256 differs from the one written)"
    return None


def network_files(path: Path) -> dict[str, Path]:
    """Network name -> its weights file in checkpoint `path`.

    Accelerate writes the prepared networks in order as model.safetensors, model_1.safetensors, ...;
    the order is the one recorded by `save_checkpoint`. Empty for checkpoints that recorded none.
    """
    names = json.loads((path / STATE_FILE).read_text()).get("networks", [])
    return {name: path / (f"model_{i}.safetensors" if i else "model.safetensors") for i, name in enumerate(names)}


def load_checkpoint(accelerator: Accelerator, path: Path) -> tuple[int, dict[str, torch.Tensor]]:
    """Restore Accelerate's state from `path`; return the step and this process's extra state."""
    accelerator.load_state(str(path))
    step = int(json.loads((path / STATE_FILE).read_text())["step"])
    extra_file = path / f"extra_{accelerator.process_index}.safetensors"
    if not extra_file.is_file():  # resumed on more processes than saved: reuse the main process's
        extra_file = path / "extra_0.safetensors"
    return step, load_file(extra_file)  # on CPU; methods move what they restore to their device


def load_latest_checkpoint(
    accelerator: Accelerator, folder: Path, warn: Callable[[str], None]
) -> tuple[Path, int, dict[str, torch.Tensor]] | None:
    """Collective: load the newest checkpoint that verifies and loads, falling back to older ones.

    Returns (checkpoint, step, this process's extra state), or None if `folder` holds no complete
    checkpoint. Raises ConfigError when there are checkpoints but none of them loads.
    """
    failures = []
    candidates = list_checkpoints(folder)[::-1]
    for path in candidates:
        reason = from_main(accelerator, verify_checkpoint(path) if accelerator.is_main_process else None)
        if reason is None:
            try:
                step, extra = load_checkpoint(accelerator, path)
                local = None
            except Exception as exc:  # noqa: BLE001 - any failure to load means: try the previous checkpoint
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                local = f"could not be loaded ({type(exc).__name__}: {first})"
            reason = first_error(accelerator, local)
        if reason is None:
            return path, step, extra
        failures.append(f"{path.name} {reason}")
        fallback = "falling back to the previous one" if path != candidates[-1] else "and there is no earlier one"
        warn(f"checkpoint {path} {reason}: {fallback}")
    if candidates:
        raise ConfigError(f"no checkpoint in {folder} can be loaded: {'; '.join(failures)}")
    return None
