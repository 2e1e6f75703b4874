"""Nothing lost on a crash: each test injects one fault into a tiny CycleGAN run and checks what survives.

Damaged checkpoints, a resume before the first checkpoint, SIGTERM, a second run on the same folder,
a full disk, NaN losses. The SIGKILL trials and the two-process SIGTERM are in test_training_faults.py
(slow suite). docs/RELIABILITY.md sums up what these measure.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import day_and_night, one_line_error, tiny, train
from translate.engine.checkpoint import verify_checkpoint
from translate.engine.runlock import HOLDER_FILE, RunLock
from translate.run_folder import MARKER, checkpoint_name, list_checkpoints

TINY = tiny("cyclegan", sample_every=1000, decay_from=1.0)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[Path, Path]:
    return day_and_night(tmp_path_factory.mktemp("domains"))


@pytest.fixture(scope="module")
def data(domains) -> tuple[str | Path, ...]:
    """The training data and tiny options of every run here."""
    a, b = domains
    return ("--a", a, "--b", b, *TINY)


@pytest.fixture(scope="module")
def three_checkpoints(data, tmp_path_factory) -> Path:
    """A finished 3-step run with a checkpoint after every step; tests work on copies."""
    out = tmp_path_factory.mktemp("base") / "run"
    train("cyclegan", out, *data, "--steps", "3", "--save-every", "1", "--keep-checkpoints", "3")
    return out


def logged_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


# -- 1. completeness marker and fallback ------------------------------------------------------------


def test_verify_names_a_truncated_or_corrupted_file(three_checkpoints, tmp_path):
    run = shutil.copytree(three_checkpoints, tmp_path / "run")
    first, second, third = list_checkpoints(run / "checkpoints")
    assert verify_checkpoint(first) is None
    weights = second / "model_1.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    assert "truncated" in verify_checkpoint(second) and "model_1.safetensors" in verify_checkpoint(second)
    data = bytearray((third / "optimizer.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    (third / "optimizer.bin").write_bytes(bytes(data))
    assert "corrupted optimizer.bin" in verify_checkpoint(third)
    (first / MARKER).unlink()
    assert "no complete.json" in verify_checkpoint(first)
    assert list_checkpoints(run / "checkpoints") == [second, third]  # without the marker it does not count


def test_resume_falls_back_past_incomplete_and_unloadable_checkpoints(data, three_checkpoints, tmp_path):
    run = shutil.copytree(three_checkpoints, tmp_path / "run")
    checkpoints = run / "checkpoints"
    (checkpoints / checkpoint_name(3) / MARKER).unlink()  # as if the write had stopped before the marker
    # A file broken in a way the marker cannot see (it was updated to match): loading must still fail over.
    second = checkpoints / checkpoint_name(2)
    (second / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    marker = json.loads((second / MARKER).read_text())
    marker["files"]["model.safetensors"]["size"] = (second / "model.safetensors").stat().st_size
    marker["files"]["model.safetensors"]["sha256"] = hashlib.sha256(
        (second / "model.safetensors").read_bytes()
    ).hexdigest()
    (second / MARKER).write_text(json.dumps(marker))

    result = train("cyclegan", run, *data, "--steps", "4", "--resume")
    assert "step-00000003 is incomplete" in result.stderr
    assert re.search(r"step-00000002 could not be loaded .*falling back to the previous one", result.stderr)
    assert f"Resumed {run} at step 1 from step-00000001" in result.output
    assert logged_steps(run) == [1, 2, 3, 4]  # the log was cut back to the checkpoint, then continued
    assert verify_checkpoint(checkpoints / checkpoint_name(4)) is None
    assert (run / "models" / "a2b" / "model.safetensors").is_file()


# -- 2. resume before the first checkpoint; 4. the run-folder lock ----------------------------------------


def test_resume_before_the_first_checkpoint_starts_over(data, three_checkpoints, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(three_checkpoints / "config.yaml", run / "config.yaml")
    shutil.copy(three_checkpoints / "log.jsonl", run / "log.jsonl")  # killed after logging, before saving
    (run / "checkpoints" / ".step-00000002.tmp").mkdir(parents=True)  # and in the middle of its first save
    (run / "checkpoints" / ".step-00000002.tmp" / "model.safetensors").write_bytes(b"half")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (run / HOLDER_FILE).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "since": 0}))

    result = train("cyclegan", run, *data, "--steps", "2", "--resume")
    assert "starting over" in result.output
    assert f"took over the stale lock of pid {int(dead.stdout)}" in result.stderr
    assert "step-00000002.tmp, a checkpoint whose write was cut off" in result.stderr
    assert logged_steps(run) == [1, 2]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000001", "step-00000002"]
    assert not (run / HOLDER_FILE).exists()  # released at the end


def test_resume_of_a_folder_that_does_not_exist_is_an_error(data, tmp_path):
    message = one_line_error(train("cyclegan", tmp_path / "typo", *data, "--steps", "1", "--resume", check=False))
    assert "nothing to resume" in message and "does not exist" in message


def test_a_second_run_on_a_locked_folder_is_told_who_holds_it(data, tmp_path):
    run = tmp_path / "run"
    code = "import sys, time; from pathlib import Path; from translate.engine.runlock import RunLock\n"
    code += "lock = RunLock(Path(sys.argv[1])); lock.acquire(); print('locked', flush=True); time.sleep(120)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = one_line_error(train("cyclegan", run, *data, "--steps", "1", check=False))
        assert f"in use by pid {holder.pid} on host {socket.gethostname()}" in message
        assert not (run / "config.yaml").exists()  # the second run wrote nothing
    finally:
        holder.kill()
        holder.wait()
    # Its holder died without releasing: the next run takes the lock over, and says so.
    lock = RunLock(run)
    assert f"stale lock of pid {holder.pid}" in lock.acquire()
    lock.release()
    assert not (run / HOLDER_FILE).exists()


# -- 3. SIGTERM ---------------------------------------------------------------------------------------


def test_sigterm_saves_a_checkpoint_at_a_step_boundary_and_exits_143(data, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "translate", "train", "cyclegan", "--out", run, *data]
    command += ["--steps", "100000", "--save-every", "100000"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not ((run / "log.jsonl").is_file() and (run / "log.jsonl").read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, stdout + stderr
    stopped = re.search(r"Stopped by SIGTERM at step (\d+)/100000: checkpoint step-\d+ saved", stdout)
    assert stopped, stdout + stderr
    step = int(stopped[1])
    assert verify_checkpoint(run / "checkpoints" / checkpoint_name(step)) is None
    assert logged_steps(run) == list(range(1, step + 1))  # log and checkpoint agree: a whole step boundary

    resumed = train("cyclegan", run, *data, "--steps", str(step + 1), "--resume")
    assert f"Resumed {run} at step {step} from {checkpoint_name(step)}" in resumed.output
    assert logged_steps(run) == list(range(1, step + 2))


# -- 5. write errors -----------------------------------------------------------------------------------


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[-1]) if args else None)


def test_full_disk_during_a_checkpoint_stops_with_one_line_and_keeps_the_previous(data, tmp_path, monkeypatch):
    import translate.engine.checkpoint as checkpoint

    run = tmp_path / "run"
    calls = []
    real_save_file = checkpoint.save_file

    def save_file(tensors, path, *args, **kwargs):  # the last file of a checkpoint, after Accelerate's
        calls.append(path)
        if len(calls) == 2:
            enospc(path)
        return real_save_file(tensors, path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "save_file", save_file)
        message = one_line_error(train("cyclegan", run, *data, "--steps", "3", "--save-every", "1", check=False))
    assert f"could not write checkpoint {run / 'checkpoints' / 'step-00000002'}: No space left on device" in message
    assert "extra_0.safetensors" in message and "step-00000001, is intact" in message
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000001"]  # half-written one removed
    assert verify_checkpoint(run / "checkpoints" / "step-00000001") is None

    # The disk is still full for pictures: sample grids and the loss plot warn, the run goes on.
    from PIL import Image

    monkeypatch.setattr(Image.Image, "save", enospc)
    result = train("cyclegan", run, *data, "--steps", "3", "--save-every", "1", "--resume", "--sample-every", "1")
    assert "Resumed" in result.output and "step 1 from step-00000001" in result.output
    assert f"could not write the sample grid {run / 'samples' / 'step-00000002.png'}" in result.stderr
    assert "No space left on device" in result.stderr
    assert logged_steps(run) == [1, 2, 3]
    assert not (run / "samples").exists() or not any((run / "samples").iterdir())  # no temporaries left
    assert (run / "models" / "b2a" / "model.safetensors").is_file()


def test_failed_accelerate_save_state_leaves_no_checkpoint_behind(data, tmp_path, monkeypatch):
    from accelerate import Accelerator

    monkeypatch.setattr(Accelerator, "save_state", lambda self, output_dir, **kw: enospc(Path(output_dir) / "x"))
    run = tmp_path / "run"
    message = one_line_error(train("cyclegan", run, *data, "--steps", "1", "--save-every", "1", check=False))
    assert "could not write checkpoint" in message and "there is no earlier checkpoint" in message
    assert list((run / "checkpoints").iterdir()) == []
    assert not (run / "models").exists()


# -- 6. NaN / Inf ---------------------------------------------------------------------------------------


@pytest.fixture
def nan_batch_at(monkeypatch):
    """Make the batch of one step (0-based method.step) all NaN: a real NaN through every network."""
    from translate.methods.cyclegan import CycleGAN

    def poison(step: int) -> None:
        original = CycleGAN.train_step

        def train_step(self, batch):
            if self.step == step:
                batch = {**batch, "a": torch.full_like(batch["a"], float("nan"))}
            return original(self, batch)

        monkeypatch.setattr(CycleGAN, "train_step", train_step)

    return poison


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(data, tmp_path, nan_batch_at):
    nan_batch_at(2)  # the third step
    run = tmp_path / "run"
    # Logged every 5 steps: the NaN at step 3 is caught by the check before step 4's checkpoint.
    message = one_line_error(
        train("cyclegan", run, *data, "--steps", "6", "--save-every", "2", "--log-every", "5", check=False)
    )
    assert re.search(r"loss G_ab \(and \d+ other losses\) was nan at step 3", message), message
    assert "step-00000002, is from before it" in message and "--on-nan skip" in message
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000002"]  # poisoned step 4 not saved
    weights = load_file(run / "checkpoints" / "step-00000002" / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not (run / "models").exists() and not (run / "log.jsonl").exists()


def test_nan_skip_drops_the_whole_update_of_that_batch(data, tmp_path, nan_batch_at):
    nan_batch_at(1)  # the second step
    run = tmp_path / "run"
    # Batch norm: its running statistics are part of what the NaN batch must not change.
    options = ("--steps", "2", "--save-every", "1", "--on-nan", "skip", "--norm", "batch", "--pool-size", "2")
    result = train("cyclegan", run, *data, *options)
    assert "dropped the update of 1 batch(es) up to step 2" in result.stderr
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert "skipped" not in records[0] and records[1]["skipped"] == 1
    before, after = run / "checkpoints" / "step-00000001", run / "checkpoints" / "step-00000002"
    for name in ("model", "model_1", "model_2", "model_3", "extra_0"):  # weights, BN buffers, image pools
        old, new = load_file(before / f"{name}.safetensors"), load_file(after / f"{name}.safetensors")
        assert old.keys() == new.keys()
        for key in old:
            assert torch.equal(old[key], new[key]), f"{name}: {key}"
    assert any("running_mean" in key for key in load_file(before / "model.safetensors"))  # the check can fail
    for optimizer in ("optimizer.bin", "optimizer_1.bin"):  # Adam moments and step counts did not move
        old = torch.load(before / optimizer, weights_only=True)["state"]
        new = torch.load(after / optimizer, weights_only=True)["state"]
        for index in old:
            for key in old[index]:
                assert torch.equal(old[index][key], new[index][key]), f"{optimizer}: {index}.{key}"
    assert (run / "models" / "a2b" / "model.safetensors").is_file()
