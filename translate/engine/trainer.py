"""The one training loop, shared by every method.

Accelerate places data and networks on devices, wraps them for several processes (DDP) and runs
mixed precision; the method only says how one batch updates its networks. Around that this loop
adds what long GAN runs need: a learning rate that is a pure function of the step (so resume is
exact), periodic resumable checkpoints, a checkpoint on Ctrl-C, sample grids, a JSONL loss log with
its plot, a progress bar with ETA, and the export of the trained generators.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Dataset, default_collate

from translate.config import TrainConfig, save_settings
from translate.data.transforms import seed_worker
from translate.engine.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from translate.engine.finetune import init_networks
from translate.engine.progress import TrainingProgress
from translate.errors import ConfigError
from translate.methods.base import Method


class RunFolder:
    """Where a run keeps its files; one place that knows the layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config.yaml"
        self.log = root / "log.jsonl"
        self.plot = root / "losses.png"
        self.samples = root / "samples"
        self.checkpoints = root / "checkpoints"
        self.models = root / "models"


def _sample_batch(dataset: Dataset, count: int, device: torch.device) -> dict[str, Any]:
    """A fixed batch of the first items, so successive sample grids show the same examples."""
    batch = default_collate([dataset[i] for i in range(min(count, len(dataset)))])
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (and a half-written last line)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError):
            continue
    path.write_text("".join(f"{line}\n" for line in kept))


class Trainer:
    def __init__(self, config: TrainConfig, method_cls: type[Method]) -> None:
        self.config = config
        self.run = RunFolder(Path(config.out))
        if config.mixed_precision == "fp16" and not torch.cuda.is_available():
            raise ConfigError("--mixed-precision fp16 needs a GPU; on CPU use bf16 or no")
        self._check_run_folder()
        self.accelerator = Accelerator(
            mixed_precision=config.mixed_precision,
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        )
        set_seed(config.seed)
        self.method = method_cls(config, self.accelerator)
        if config.init is not None and not config.resume:  # a resume takes every weight from its checkpoint
            loaded = init_networks(self.method, Path(config.init))
            self.accelerator.print(f"Initialised {', '.join(loaded)} from {config.init}")
        self.dataset = self.method.build_dataset()
        per_step = config.batch_size * self.accelerator.num_processes
        if len(self.dataset) < per_step:
            raise ConfigError(
                f"the data set has {len(self.dataset)} items, fewer than one step needs "
                f"(--batch-size {config.batch_size} x {self.accelerator.num_processes} processes)"
            )
        loader = DataLoader(
            self.dataset,
            batch_size=config.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=config.workers,
            pin_memory=torch.cuda.is_available(),
            worker_init_fn=seed_worker,
        )
        self.loader = self.accelerator.prepare(loader)
        for name in self.method.network_names:
            setattr(self.method, name, self.accelerator.prepare(getattr(self.method, name)))
        optimizers = self.method.configure_optimizers()
        self.method.optimizers = {k: self.accelerator.prepare(v) for k, v in optimizers.items()}
        self.base_lrs = {k: [g["lr"] for g in opt.param_groups] for k, opt in optimizers.items()}
        self.steps_per_epoch = len(self.loader)
        epochs = config.epochs or config.default_epochs
        self.total_steps = config.steps or epochs * self.steps_per_epoch
        self.step = 0
        self.saved_step = 0

    def _check_run_folder(self) -> None:
        root = self.run.root
        if self.config.resume:
            if latest_checkpoint(self.run.checkpoints) is None:
                raise ConfigError(f"nothing to resume in {root}: it has no checkpoint yet")
        elif root.exists() and any(root.iterdir()):
            raise ConfigError(f"run folder {root} already exists; pass --resume to continue it, or pick another --out")

    # -- the loop ---------------------------------------------------------------------------------

    def fit(self) -> Path:
        """Train to `total_steps`, then export; returns the folder of exported models."""
        acc, run = self.accelerator, self.run
        if acc.is_main_process:
            run.root.mkdir(parents=True, exist_ok=True)
            save_settings(self.config, run.config)
        if self.config.resume:
            self._resume()
        samples = _sample_batch(self.dataset, 4, acc.device)
        try:
            self._loop(samples)
        except KeyboardInterrupt:
            if acc.num_processes == 1 and self.step > self.saved_step:
                self._checkpoint()
                acc.print(f"Interrupted at step {self.step}; checkpoint saved. Continue with --resume --out {run.root}")
            raise
        if self.step > self.saved_step:
            self._checkpoint()
        self._save_samples(samples)
        return self._export()

    def _resume(self) -> None:
        path = latest_checkpoint(self.run.checkpoints)
        self.step, extra = load_checkpoint(self.accelerator, path)
        self.saved_step = self.step
        self.method.load_extra_state(extra)
        if self.accelerator.is_main_process:
            _truncate_log(self.run.log, self.step)
        self.accelerator.print(f"Resumed {self.run.root} at step {self.step} from {path.name}")

    def _loop(self, samples: dict[str, Any]) -> None:
        acc, config = self.accelerator, self.config
        nets = list(self.method.networks.values())
        running: dict[str, torch.Tensor] = {}
        count = 0
        every = min(config.sample_every, max(1, self.total_steps // 20))
        with TrainingProgress(self.total_steps, self.step, acc.is_main_process, every) as progress:
            while self.step < self.total_steps:
                epoch, skip = divmod(self.step, self.steps_per_epoch)
                self.loader.set_epoch(epoch)
                if hasattr(self.dataset, "set_epoch"):
                    self.dataset.set_epoch(epoch)
                loader = acc.skip_first_batches(self.loader, skip) if skip else self.loader
                for batch in loader:
                    self._set_learning_rates()
                    self.method.step = self.step
                    with acc.accumulate(*nets):
                        losses = self.method.train_step(batch)
                    self.step += 1
                    count += 1
                    for k, v in losses.items():
                        running[k] = running.get(k, 0.0) + v.float()
                    if self.step % config.log_every == 0 or self.step == self.total_steps:
                        means = {k: acc.reduce(v / count, "mean").item() for k, v in running.items()}
                        self._log(epoch, means)
                        progress.update(self.step, means)
                        running, count = {}, 0
                    else:
                        progress.update(self.step)
                    if self.step % config.sample_every == 0:
                        self._save_samples(samples)
                    if self.step % config.save_every == 0:
                        self._checkpoint()
                    if self.step >= self.total_steps:
                        break

    def _checkpoint(self) -> None:
        save_checkpoint(
            self.accelerator,
            self.run.checkpoints,
            self.step,
            self.method.extra_state(),
            self.config.keep_checkpoints,
            list(self.method.network_names),
        )
        self.saved_step = self.step

    def _set_learning_rates(self) -> None:
        factor = self.method.lr_factor(self.step, self.total_steps)
        for name, opt in self.method.optimizers.items():
            for group, base in zip(opt.param_groups, self.base_lrs[name], strict=True):
                group["lr"] = base * factor

    # -- outputs ----------------------------------------------------------------------------------

    def _log(self, epoch: int, losses: dict[str, float]) -> None:
        if not self.accelerator.is_main_process:
            return
        record = {"step": self.step, "epoch": epoch, "time": round(time.time(), 3), "losses": losses}
        with open(self.run.log, "a") as f:
            f.write(json.dumps(record) + "\n")

    def _save_samples(self, batch: dict[str, Any]) -> None:
        """Sample grid and loss plot; networks go to eval mode for it and back to train mode."""
        nets = self.method.networks.values()
        for net in nets:
            net.eval()
        rows, labels = self.method.sample_grid(batch)
        for net in nets:
            net.train()
        if self.accelerator.is_main_process:
            from translate.engine.visuals import plot_losses, save_grid

            save_grid(rows, self.run.samples / f"step-{self.step:08d}.png", labels)
            plot_losses(self.run.log, self.run.plot)

    def _export(self) -> Path:
        from translate.zoo import save_model

        if self.accelerator.is_main_process:
            for name, (net, spec) in self.method.exports().items():
                save_model(net, spec, self.run.models / name)
        self.accelerator.wait_for_everyone()
        return self.run.models
