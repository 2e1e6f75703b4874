"""Resumable checkpoints on top of `Accelerator.save_state`.

A checkpoint folder holds Accelerate's state (every prepared network, optimizer, grad scaler and
every process's RNG) plus what Accelerate does not know about: the step counter (JSON) and each
process's method state such as image pools (safetensors). Nothing here is unpickled: Accelerate
loads its files with `weights_only=True`, and our own files are JSON and safetensors.

Every process writes into a temporary folder with a name all processes agree on; the main process
renames it into place only once all are done, so a crash mid-save leaves the last good
checkpoint untouched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

STATE_FILE = "trainer_state.json"
PREFIX = "step-"


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:08d}"


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in `folder`, oldest first (temporary folders are not listed)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None


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
    """
    target = folder / checkpoint_name(step)
    tmp = folder / f".{target.name}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    rank = accelerator.process_index
    save_file({k: v.detach().cpu().contiguous() for k, v in extra_state.items()}, tmp / f"extra_{rank}.safetensors")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(
            json.dumps({"step": step, "num_processes": accelerator.num_processes, "networks": networks})
        )
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        for old in list_checkpoints(folder)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return target


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
