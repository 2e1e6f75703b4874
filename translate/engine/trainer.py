"""The one training loop, shared by every method.

Accelerate places data and networks on devices, wraps them for several processes (DDP) and runs
mixed precision; the method only says how one batch updates its networks. Around that this loop
adds what long GAN runs need: a learning rate that is a pure function of the step (so resume is
exact), periodic resumable checkpoints, sample grids, a JSONL loss log with its plot, a progress
bar with ETA, and the export of the trained generators.

And it loses nothing on a crash (docs/RELIABILITY.md): one run per folder (a lock), only complete
checkpoints count and a damaged newest one falls back to the previous, SIGTERM and Ctrl-C stop at a
step boundary that every process agrees on and save there, a NaN/Inf loss is caught without a
per-step sync and never saved, and a failed write stops with one line naming the path.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Dataset, default_collate

from translate.config import TrainConfig, save_settings
from translate.data.transforms import seed_worker
from translate.engine.capture import autocast_handlers, capture_step, set_learning_rate
from translate.engine.checkpoint import (
    attempt_write,
    first_error,
    from_main,
    load_latest_checkpoint,
    remove_partial_writes,
    save_checkpoint,
)
from translate.engine.collapse import collapse_warning, collapsed_columns
from translate.engine.evaluation import Evaluator, build_scorer, evaluation_due
from translate.engine.finetune import init_networks
from translate.engine.runlock import LOCK_FILES, RunLock
from translate.engine.speed import prepare_for_speed, to_memory_format, use_channels_last
from translate.engine.trackers import Trackers, tracker_names
from translate.engine.visuals import plot_losses, save_grid
from translate.errors import ConfigError, DataError, DivergedError, RunStopped, TranslateError, WriteError
from translate.hardware import bf16_cpu_tip, bf16_cpu_warning
from translate.methods import check_settings
from translate.methods.base import Losses, Method
from translate.model_folder import save_model
from translate.progress import TrainingProgress
from translate.run_folder import (
    MARKER,
    RunFolder,
    append_jsonl,
    checkpoint_name,
    incomplete_checkpoints,
    latest_checkpoint,
    list_checkpoints,
    truncate_jsonl,
)


def _sample_batch(dataset: Dataset, count: int, device: torch.device) -> dict[str, Any]:
    """A fixed batch of the first items, so successive sample grids show the same examples."""
    batch = default_collate([dataset[i] for i in range(min(count, len(dataset)))])
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _quiet_worker(worker_id: int) -> None:
    """DataLoader workers ignore SIGINT and SIGTERM: a terminal or a scheduler signals the whole process
    group, and a worker that died of it would break the step in progress. The main process stops at a
    step boundary, saves, and shuts its workers down itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    seed_worker(worker_id)


class StopRequest:
    """SIGTERM (schedulers, `docker stop`) and Ctrl-C ask the run to stop after the current step.

    The handler only notes the signal; the loop looks between steps, where the state is whole, and
    saves a checkpoint there. Processes may get the signal at different moments, or only one of them
    does, so before every step they agree with a max-all-reduce of the noted signal over a CPU (gloo)
    group: no GPU sync, and every process stops at the same step. Repeated SIGTERMs are ignored (a
    launcher forwards the scheduler's, so it often comes twice); a Ctrl-C more than a second after the
    first raises KeyboardInterrupt at once, without a checkpoint.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, accelerator: Accelerator) -> None:
        self.signum = 0
        self._since = 0.0
        self._previous: dict[int, Any] = {}
        dist = torch.distributed
        self._distributed = accelerator.num_processes > 1 and dist.is_available() and dist.is_initialized()
        self._group = None
        if self._distributed and dist.get_backend() != "gloo":  # NCCL: agree on CPU, without a device sync
            self._group = dist.new_group(backend="gloo")

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; the default behaviour stays
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if not self.signum:
            self.signum, self._since = signum, time.monotonic()
        elif signum == signal.SIGINT and time.monotonic() - self._since > 1.0:
            raise KeyboardInterrupt

    def agreed(self) -> int:
        """Collective: the signal some process got (0 if none), the same on every process."""
        if not self._distributed:
            return self.signum
        flag = torch.tensor([self.signum], dtype=torch.int32)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX, group=self._group)
        return int(flag.item())


class LossTracker:
    """Running sums of the losses between log lines, and the first step at which each was not finite.

    All of it stays on the device (a few tiny tensor ops per step, no sync); the host reads it where
    the loop syncs anyway: on the logging step, and before a checkpoint, a sample grid or the export.
    Non-finite values are left out of the means.
    """

    def __init__(self, accelerator: Accelerator) -> None:
        self.accelerator = accelerator
        self.groups: dict[tuple[str, ...], dict[str, torch.Tensor]] = {}  # by the step's loss names

    def add(self, step: int, losses: Losses) -> None:
        if not losses:
            return
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        finite = torch.isfinite(values)
        group = self.groups.get(tuple(losses))
        if group is None:
            group = self.groups[tuple(losses)] = {
                "sum": torch.zeros_like(values),
                "count": torch.zeros_like(values),
                "bad_step": torch.full_like(values, -1, dtype=torch.long),
                "bad_value": torch.zeros_like(values),
            }
        group["sum"] += torch.where(finite, values, 0.0)
        group["count"] += finite
        new = (group["bad_step"] < 0) & ~finite
        group["bad_step"] = torch.where(new, step, group["bad_step"])
        group["bad_value"] = torch.where(new, values, group["bad_value"])

    def _gathered(self, key: str) -> tuple[list[str], torch.Tensor]:
        """Loss names, and `key` of each as a (processes, losses) tensor on the CPU (collective)."""
        names = [name for group in self.groups for name in group]
        if not names:
            return [], torch.empty(0, 0)
        local = torch.cat([group[key] for group in self.groups.values()])
        return names, self.accelerator.gather(local).view(-1, len(names)).cpu()

    def first_non_finite(self) -> tuple[str, int, float, int] | None:
        """Collective: (loss, step, value, how many other losses went bad at that step) of the earliest
        non-finite loss on any process (the first in the method's order), or None."""
        names, steps = self._gathered("bad_step")
        _, values = self._gathered("bad_value")
        found = sorted(
            (int(steps[i, j]), j, float(values[i, j]))
            for i in range(steps.shape[0])
            for j in range(len(names))
            if steps[i, j] >= 0
        )
        if not found:
            return None
        step, j, value = found[0]
        others = {names[k] for s, k, _ in found if s == step} - {names[j]}
        return names[j], step, value, len(others)

    def means(self) -> dict[str, float]:
        """Collective: the mean of each loss over finite values since the last call, over all processes."""
        names, sums = self._gathered("sum")
        _, counts = self._gathered("count")
        totals: dict[str, list[float]] = {}
        for name, total, count in zip(names, sums.sum(0).tolist(), counts.sum(0).tolist(), strict=True):
            entry = totals.setdefault(name, [0.0, 0.0])
            entry[0] += total
            entry[1] += count
        self.groups.clear()
        return {name: total / count for name, (total, count) in totals.items() if count}


class SkipGuard:
    """`--on-nan skip`: an update whose gradients are not all finite is not made, nor any later update
    of the same batch, and the batch's changes to buffers (batch-norm statistics) and to the method's
    extra state (image pools) are undone: weights and Adam moments stay as they were.

    The check must come before the optimizer step, so this costs one host sync per optimizer step;
    the default (`stop`) has no per-step sync. Updates of the batch made before the bad one stay (in
    pix2pix D steps before G; with NaN data both are skipped). After `limit` bad batches in a row the
    run is hopeless and stops.
    """

    def __init__(self, method: Method, limit: int = 20) -> None:
        self.method = method
        self.limit = limit
        self.bad = False
        self.skipped = 0
        self.in_a_row = 0
        self.has_extra = bool(method.extra_state())
        method.optimizers = {name: _GuardedOptimizer(opt, self) for name, opt in method.optimizers.items()}

    def begin(self) -> None:
        self.bad = False
        nets = self.method.networks.values()
        self._buffers = [(b, b.detach().clone()) for net in nets for b in net.buffers()]
        self._extra = self.method.extra_state() if self.has_extra else None

    def allows(self, optimizer: torch.optim.Optimizer) -> bool:
        if not self.bad:
            grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            self.bad = bool(grads) and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        return not self.bad

    def end(self, step: int) -> None:
        if not self.bad:
            self.in_a_row = 0
            return
        with torch.no_grad():
            for buffer, saved in self._buffers:
                buffer.copy_(saved)
        if self._extra is not None:
            self.method.load_extra_state(self._extra)
        self.skipped += 1
        self.in_a_row += 1
        if self.in_a_row >= self.limit:
            raise DivergedError(
                f"the last {self.in_a_row} batches (up to step {step}) all had non-finite gradients "
                "(--on-nan skip): training cannot go on; lower --lr and --resume"
            )

    def take_skipped(self) -> int:
        skipped, self.skipped = self.skipped, 0
        return skipped


class _GuardedOptimizer:
    """What a method sees of an optimizer under `--on-nan skip`: `step` asks the guard first."""

    def __init__(self, optimizer: torch.optim.Optimizer, guard: SkipGuard) -> None:
        self._optimizer = optimizer
        self._guard = guard

    def __getattr__(self, name: str) -> Any:
        return getattr(self._optimizer, name)

    def step(self, *args: Any, **kwargs: Any) -> Any:
        if self._guard.allows(self._optimizer):
            return self._optimizer.step(*args, **kwargs)
        return None


class Trainer:
    def __init__(self, config: TrainConfig, method_cls: type[Method]) -> None:
        check_settings(config)  # the CLI checked already; a config built in Python is checked here
        self.config = config
        self.run = RunFolder(Path(config.out))
        self._collapse_warned: set[str] = set()  # sample-grid columns already reported as collapsed
        if config.mixed_precision == "fp16" and not torch.cuda.is_available():
            raise ConfigError("--mixed-precision fp16 needs a GPU; on CPU use bf16 or no")
        self.resuming = self._check_run_folder()
        trackers = tracker_names(config.report_to)
        self.accelerator = Accelerator(
            mixed_precision=config.mixed_precision,
            # non_blocking: each batch's copy to a GPU is queued behind the running step instead of
            # waiting for it (with pinned memory), so the host prepares step n+1 while the GPU runs step n.
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, non_blocking=True),
            kwargs_handlers=autocast_handlers(config),
            log_with=trackers or None,
            project_dir=str(self.run.tensorboard) if trackers else None,
        )
        self.lock = RunLock(self.run.root)
        self._take_lock()
        try:
            self._build(method_cls)
        except BaseException:
            self.lock.release(tidy=self.accelerator.is_main_process)
            raise

    def _build(self, method_cls: type[Method]) -> None:
        config = self.config
        set_seed(config.seed)
        if config.mixed_precision == "bf16" and self.accelerator.device.type == "cpu" and bf16_cpu_warning():
            self._warn(f"--mixed-precision bf16: {bf16_cpu_warning()}")
        self.method = method_cls(config, self.accelerator)
        if config.init is not None and not self.resuming:  # a resume takes every weight from its checkpoint
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
            worker_init_fn=_quiet_worker,
        )
        self.loader = self.accelerator.prepare(loader)
        device = self.accelerator.device
        self.channels_last = use_channels_last(config, device)
        for name in self.method.network_names:
            net = prepare_for_speed(getattr(self.method, name), config, device)
            setattr(self.method, name, self.accelerator.prepare(net))
        optimizers = self.method.configure_optimizers()
        self.method.optimizers = {k: self.accelerator.prepare(v) for k, v in optimizers.items()}
        self.base_lrs = {k: [g["lr"] for g in opt.param_groups] for k, opt in optimizers.items()}
        self.captured = capture_step(self.method, optimizers.values(), self.accelerator, self._warn)
        self.steps_per_epoch = len(self.loader)
        epochs = config.epochs or config.default_epochs
        self.total_steps = config.steps or epochs * self.steps_per_epoch
        self.step = 0
        self.saved_step = 0
        self._stop = StopRequest(self.accelerator)
        self._losses = LossTracker(self.accelerator)
        # With fp16 the grad scaler already skips non-finite steps, and must see them to lower its scale.
        skip = config.on_nan == "skip" and self.accelerator.scaler is None
        self._guard = SkipGuard(self.method) if skip else None
        self.trackers = Trackers(self.accelerator, self._warn)
        self.evaluator = self._build_evaluator()

    def _build_evaluator(self) -> Evaluator | None:
        """The main process's evaluator, its held-out folders checked now rather than at the first evaluation."""
        evaluator, failure = None, None
        if self.accelerator.is_main_process:
            try:
                scorer = build_scorer(self.config, str(self.accelerator.device))
            except TranslateError as exc:
                failure = exc
            else:
                evaluator = Evaluator(scorer, self.run.metrics, self.run.best) if scorer else None
        error = from_main(self.accelerator, str(failure) if failure else None)
        if error:
            raise failure or DataError(error)
        return evaluator

    def _check_run_folder(self) -> bool:
        """Refuse a folder this run must not write into; True if there is a checkpoint to resume from."""
        root = self.run.root
        entries = [p for p in root.iterdir() if p.name not in LOCK_FILES] if root.is_dir() else []
        if not self.config.resume:
            if entries:
                raise ConfigError(
                    f"run folder {root} already exists; pass --resume to continue it, or pick another --out"
                )
            return False
        if not root.is_dir():
            raise ConfigError(f"nothing to resume: {root} does not exist (drop --resume to start a new run there)")
        if list_checkpoints(self.run.checkpoints):
            return True
        if entries and not self.run.config.is_file():
            raise ConfigError(f"nothing to resume in {root}: it is not a run folder (it has no config.yaml)")
        return False  # a run stopped before its first checkpoint: it starts over

    def _take_lock(self) -> None:
        """The main process locks the run folder; every process raises the same error if it is taken."""
        note = error = None
        if self.accelerator.is_main_process:
            try:
                note = self.lock.acquire()
            except ConfigError as exc:
                error = str(exc)
            except OSError as exc:
                error = f"cannot create the run folder {self.run.root}: {exc.strerror or exc}"
        error = from_main(self.accelerator, error)
        if error:
            raise ConfigError(error)
        if note:
            self._warn(note)

    # -- the loop ---------------------------------------------------------------------------------

    def fit(self) -> Path:
        """Train to `total_steps`, then export; returns the folder of exported models.

        Raises RunStopped after saving a checkpoint when SIGTERM or Ctrl-C asked to stop, DivergedError
        on a NaN/Inf loss (`--on-nan stop`), WriteError when a checkpoint or model cannot be written.
        """
        self._stop.install()
        try:
            return self._fit()
        finally:
            self._stop.uninstall()
            self.trackers.finish()
            self.lock.release()

    def precision_tip(self) -> str | None:
        """For the end of an fp32 run on a CPU whose bf16 units would have trained it faster."""
        if self.config.mixed_precision != "no" or self.accelerator.device.type != "cpu":
            return None
        return bf16_cpu_tip(
            "--mixed-precision bf16",
            "CycleGAN at 128 px trained at 1.85-2x the fp32 reference code's speed with AVX-512 BF16, 3.2x with AMX, "
            "3.5x adding --compile networks; docs/BENCHMARKS.md",
        )

    def best_summary(self) -> str | None:
        """Where the best evaluated model is, for the end of the run (main process; None without evaluation)."""
        return self.evaluator.summary() if self.evaluator is not None else None

    def _fit(self) -> Path:
        acc, run = self.accelerator, self.run
        self._write_or_fail(run.config, lambda: save_settings(self.config, run.config))
        if self.config.resume:
            self._resume()
        self.trackers.start(self.config, run.root, self.step)
        self._samples = _sample_batch(self.dataset, 4, acc.device)
        try:
            signum = self._loop()
        except KeyboardInterrupt:
            acc.print(
                f"Interrupted during step {self.step + 1}: nothing saved after step {self.saved_step}. "
                f"Continue with --resume --out {run.root}"
            )
            raise
        if signum:
            self._stop_here(signum)
        if self.step > self.saved_step:
            self._checkpoint()
        self._save_samples()
        return self._export()

    def _resume(self) -> None:
        acc, run = self.accelerator, self.run
        if acc.is_main_process:  # no other run writes here: we hold the lock
            for path in remove_partial_writes(run.checkpoints):
                self._warn(f"removed {path}, a checkpoint whose write was cut off")
            for path in incomplete_checkpoints(run.checkpoints):
                self._warn(f"checkpoint {path} is incomplete (it has no {MARKER}): it is not used")
        loaded = load_latest_checkpoint(acc, run.checkpoints, self._warn) if self.resuming else None
        if loaded is None:
            acc.print(f"Nothing to resume in {run.root} yet (it stopped before its first checkpoint): starting over")
        else:
            path, self.step, extra = loaded
            self.saved_step = self.step
            self.method.load_extra_state(extra)
        self._write_or_fail(run.log, lambda: truncate_jsonl(run.log, self.step))
        self._write_or_fail(run.metrics, lambda: truncate_jsonl(run.metrics, self.step))
        if self.evaluator is not None:
            self.evaluator.recover()
        if loaded is not None:
            acc.print(f"Resumed {run.root} at step {self.step} from {path.name}")

    def _loop(self) -> int:
        """Train up to `total_steps`; returns the signal that asked to stop early, or 0."""
        acc = self.accelerator
        nets = list(self.method.networks.values())
        every = min(self.config.sample_every, max(1, self.total_steps // 20))
        with TrainingProgress(self.total_steps, self.step, acc.is_main_process, every) as progress:
            while self.step < self.total_steps:
                epoch, skip = divmod(self.step, self.steps_per_epoch)
                self.loader.set_epoch(epoch)
                if hasattr(self.dataset, "set_epoch"):
                    self.dataset.set_epoch(epoch)
                batches = iter(acc.skip_first_batches(self.loader, skip) if skip else self.loader)
                while self.step < self.total_steps:
                    batch = self._next_batch(batches)
                    signum = self._stop.agreed()  # before the step: every process trains it, or none
                    if signum:
                        return signum
                    if batch is None:
                        break  # end of the epoch
                    self._train_step(batch, nets)
                    self.step += 1
                    self._after_step(epoch, progress)
        return 0

    def _next_batch(self, batches: Any) -> dict[str, Any] | None:
        try:
            return next(batches)
        except StopIteration:
            return None
        except Exception:
            if self._stop.signum:  # a loader worker died of the same signal: stop anyway
                return None
            raise

    def _train_step(self, batch: dict[str, Any], nets: list[torch.nn.Module]) -> None:
        self._set_learning_rates()
        self.method.step = self.step
        if self._guard is not None:
            self._guard.begin()
        batch = self.method.with_draws(to_memory_format(batch, self.channels_last))
        with self.accelerator.accumulate(*nets):
            if self.captured is not None:
                losses = self.captured(batch, self.method.graph_key())
            else:
                losses = self.method.train_step(batch)
        if self._guard is not None:
            self._guard.end(self.step + 1)
        self._losses.add(self.step + 1, losses)

    def _after_step(self, epoch: int, progress: TrainingProgress) -> None:
        config = self.config
        if self.step % config.log_every == 0 or self.step == self.total_steps:
            self._check_finite()
            means = self._losses.means()
            skipped = self._guard.take_skipped() if self._guard is not None else 0
            if skipped:
                self._warn(f"--on-nan skip: dropped the update of {skipped} batch(es) up to step {self.step}")
            self._log(epoch, means, skipped)
            self.trackers.values("loss", means, self.step)
            progress.update(self.step, means)
        else:
            progress.update(self.step)
        if self.step % config.sample_every == 0:
            self._save_samples()
        if evaluation_due(config, self.step, self.total_steps):  # before the checkpoint: a crash between
            self._evaluate()  # the two replays this evaluation after the resume
        if self.step % config.save_every == 0:
            self._checkpoint()

    def _check_finite(self) -> None:
        """Collective; with `--on-nan stop`, raise DivergedError if any loss was NaN/Inf since the last look."""
        if self.config.on_nan != "stop":
            return
        bad = self._losses.first_non_finite()
        if bad is None:
            return
        name, step, value, others = bad
        also = f" (and {others} other loss{'es' if others > 1 else ''})" if others else ""
        last = latest_checkpoint(self.run.checkpoints)
        kept = f"the last checkpoint, {last.name}, is from before it" if last else "no checkpoint was saved yet"
        raise DivergedError(
            f"loss {name}{also} was {value} at step {step}: training stopped and nothing after it was saved ({kept}); "
            "lower --lr, or continue with --resume --on-nan skip to drop such batches"
        )

    def _evaluate(self) -> None:
        """Collective: the main process scores the model, logs it and keeps the best (engine/evaluation.py);
        a failed write of the best model stops the run on every process, as a failed export does."""
        self._check_finite()  # poisoned weights are neither scored nor kept
        error = None
        if self.evaluator is not None:
            values, error = self.evaluator.run(self.step, self.method.exports(), self.accelerator.device, self._warn)
            if values:
                self.trackers.values("eval", values, self.step)
        error = first_error(self.accelerator, error)
        if error:
            raise WriteError(error)

    def _stop_here(self, signum: int) -> None:
        name = signal.Signals(signum).name
        self._check_finite()  # poisoned weights are never saved
        if self.step > self.saved_step:
            self._checkpoint()
            saved = f"checkpoint {checkpoint_name(self.step)} saved"
        elif self.saved_step:
            saved = f"its last checkpoint, {checkpoint_name(self.saved_step)}, is current"
        else:
            saved = "nothing trained yet, nothing to save"
        message = (
            f"Stopped by {name} at step {self.step}/{self.total_steps}: {saved}. "
            f"Continue with --resume --out {self.run.root}"
        )
        self.accelerator.print(message)
        raise RunStopped(message, 128 + signum)

    def _checkpoint(self) -> None:
        self._check_finite()
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
                set_learning_rate(group, base * factor)

    # -- outputs ----------------------------------------------------------------------------------

    def _warn(self, message: str) -> None:
        if self.accelerator.is_main_process:
            print(f"Warning: {message}", file=sys.stderr, flush=True)

    def _write_or_fail(self, path: Path, write: Any) -> None:
        """Collective: the main process runs `write`; a failed write raises WriteError everywhere."""
        error = attempt_write(write) if self.accelerator.is_main_process else None
        error = first_error(self.accelerator, error)
        if error:
            raise WriteError(f"could not write {path}: {error}")

    def _log(self, epoch: int, losses: dict[str, float], skipped: int) -> None:
        if not self.accelerator.is_main_process:
            return
        record = {"step": self.step, "epoch": epoch, "time": round(time.time(), 3), "losses": losses}
        if skipped:
            record["skipped"] = skipped
        try:
            append_jsonl(self.run.log, record)
        except OSError as exc:
            self._warn(f"could not append to {self.run.log}: {exc.strerror or exc}; training goes on")

    def _save_samples(self) -> None:
        """Sample grid and loss plot; networks go to eval mode for it and back to train mode.

        A failed write is a warning: the run goes on (a failed checkpoint write stops it)."""
        self._check_finite()
        nets = self.method.networks.values()
        for net in nets:
            net.eval()
        rows, labels = self.method.sample_grid(self._samples)
        for net in nets:
            net.train()
        if not self.accelerator.is_main_process:
            return
        self._watch_for_collapse(rows, labels)

        run = self.run
        grid = run.sample_grid(self.step)
        for what, path, write in (
            ("sample grid", grid, lambda: save_grid(rows, grid, labels)),
            ("loss plot", run.plot, lambda: plot_losses(run.log, run.plot)),
        ):
            try:
                write()
            except OSError as exc:
                self._warn(f"could not write the {what} {path}: {exc.strerror or exc}; training goes on")
        self.trackers.grid(grid, self.step)

    def _watch_for_collapse(self, rows: list[list[torch.Tensor]], labels: list[str]) -> None:
        """Warn once per column when a generator starts giving one image for every input."""
        for label, spread in collapsed_columns(rows, labels, self.method.grid_translations):
            if label not in self._collapse_warned:
                self._collapse_warned.add(label)
                self._warn(collapse_warning(label, spread, self.step))

    def _export(self) -> Path:
        self._check_finite()
        error = None
        if self.accelerator.is_main_process:
            for name, (net, spec) in self.method.exports().items():
                folder = self.run.models / name
                reason = attempt_write(lambda net=net, spec=spec, folder=folder: save_model(net, spec, folder))
                if reason:
                    error = (
                        f"could not write model {folder}: {reason}; the checkpoint at step {self.saved_step} is "
                        f"intact: run again with --resume --out {self.run.root} to export"
                    )
                    break
        error = first_error(self.accelerator, error)
        if error:
            raise WriteError(error)
        return self.run.models
