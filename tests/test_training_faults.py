"""Fault trials (slow suite): a run killed over and over, and SIGTERM on two processes.

SIGKILL cannot be caught: what survives it is only what the checkpoint protocol put on disk. A tiny
CycleGAN run that saves every second step is killed at random moments, half of them aimed at a
checkpoint write in progress, and resumed each time. Every resume must succeed from the newest
complete checkpoint, lose at most one checkpoint interval, and never load a half-written one; the
run then finishes with the same weights as a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import day_and_night, tiny, train
from translate.engine.checkpoint import TMP_SUFFIX, verify_checkpoint
from translate.run_folder import checkpoint_name, list_checkpoints

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

TRIALS = 12
SAVE_EVERY = 2
TINY = tiny("cyclegan", sample_every=100000, decay_from=1.0)
ENV = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[Path, Path]:
    return day_and_night(tmp_path_factory.mktemp("domains"))


def logged_steps(run: Path) -> list[int]:
    """Steps of the log's whole lines (a kill can cut the last one)."""
    steps = []
    if (run / "log.jsonl").is_file():
        for line in (run / "log.jsonl").read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError):
                steps.append(json.loads(line)["step"])
    return steps


def log_inode(run: Path) -> int | None:
    try:
        return (run / "log.jsonl").stat().st_ino
    except FileNotFoundError:
        return None


def newest_complete(run: Path) -> int:
    found = list_checkpoints(run / "checkpoints")
    return int(found[-1].name.removeprefix("step-")) if found else 0


def writes_in_progress(run: Path) -> list[Path]:
    folder = run / "checkpoints"
    return [p for p in folder.iterdir() if p.name.endswith(TMP_SUFFIX)] if folder.is_dir() else []


def test_sigkill_at_random_moments_loses_at_most_one_checkpoint_interval(domains, tmp_path):
    a, b = domains
    run = tmp_path / "run"
    command = [sys.executable, "-m", "translate", "train", "cyclegan", "--a", a, "--b", b, "--out", run, *TINY]
    command = [*map(str, command), "--steps", "100000", "--save-every", str(SAVE_EVERY)]
    rng = random.Random(0)
    in_a_write = 0
    lost = []
    for trial in range(TRIALS):
        start, old_log = newest_complete(run), log_inode(run)
        proc = subprocess.Popen(
            command + (["--resume"] if trial else []), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=ENV,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        # Training again: a resume cut the log back to its checkpoint (a new file), then logged a step.
        while log_inode(run) == old_log or not any(step > start for step in logged_steps(run)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.02)
        if trial % 2:  # aim at a checkpoint write: kill as soon as one is seen in progress
            until = time.monotonic() + 5
            while not writes_in_progress(run) and time.monotonic() < until:
                time.sleep(0.002)
        else:
            time.sleep(rng.uniform(0, 0.5))
        proc.send_signal(signal.SIGKILL)
        output = proc.communicate()[0]
        if trial:  # it resumed from the newest complete checkpoint it found (or from the start: none yet)
            resumed = f"Resumed {run} at step {start} from {checkpoint_name(start)}" if start else "starting over"
            assert resumed in output, output
        in_a_write += bool(writes_in_progress(run))
        last = newest_complete(run)
        assert not last or verify_checkpoint(run / "checkpoints" / checkpoint_name(last)) is None
        lost.append(max(logged_steps(run)) - last)
        assert lost[-1] <= SAVE_EVERY, (trial, lost, output)

    final = newest_complete(run) + 3
    train("cyclegan", run, "--a", a, "--b", b, *TINY, "--steps", final, "--resume")
    assert logged_steps(run) == list(range(1, final + 1))
    assert in_a_write >= 2, f"only {in_a_write} of {TRIALS} kills landed in a checkpoint write"
    print(f"\n{TRIALS} SIGKILLs, {in_a_write} during a checkpoint write; steps lost per kill: {lost}")

    # Nothing lost: the same weights as a run that was never interrupted.
    straight = tmp_path / "straight"
    train("cyclegan", straight, "--a", a, "--b", b, *TINY, "--steps", final)
    for direction in ("a2b", "b2a"):
        killed = load_file(run / "models" / direction / "model.safetensors")
        expected = load_file(straight / "models" / direction / "model.safetensors")
        for key in expected:
            torch.testing.assert_close(killed[key], expected[key], rtol=0, atol=1e-6, msg=key)


def worker_of_rank(launcher: subprocess.Popen, rank: int) -> int:
    """The pid of the worker process `rank` started by torch.distributed.run."""
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
    for pid in map(int, children):
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return pid
    raise AssertionError(f"no worker of rank {rank} among {children}")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
def test_sigterm_to_one_of_two_processes_stops_both_at_the_same_step(domains, tmp_path):
    a, b = domains
    run = tmp_path / "run"
    # --standalone: a free port of its own, so that parallel test runs do not meet at the default one.
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "translate",
    ]
    args = ["train", "cyclegan", "--a", a, "--b", b, "--out", run, *TINY, "--save-every", "100000"]
    env = ENV | {"ACCELERATE_USE_CPU": "1"}
    proc = subprocess.Popen(
        [*launcher, *map(str, args), "--steps", "100000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not logged_steps(run):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.05)
        os.kill(worker_of_rank(proc, 1), signal.SIGTERM)  # only the second process hears it
        output = proc.communicate(timeout=180)[0]
    finally:
        proc.kill()
    stopped = re.findall(r"Stopped by SIGTERM at step (\d+)/", output)
    assert len(stopped) == 1, output  # printed by the main process, which never got the signal itself
    step = int(stopped[0])
    checkpoint = run / "checkpoints" / checkpoint_name(step)
    assert verify_checkpoint(checkpoint) is None, output
    assert {p.name for p in checkpoint.glob("extra_*.safetensors")} == {"extra_0.safetensors", "extra_1.safetensors"}
    assert json.loads((checkpoint / "trainer_state.json").read_text())["num_processes"] == 2
    assert logged_steps(run) == list(range(1, step + 1))

    command = [*launcher, *map(str, args), "--steps", str(step + 1), "--resume"]
    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Resumed {run} at step {step}" in resumed.stdout
    assert logged_steps(run) == list(range(1, step + 2))
