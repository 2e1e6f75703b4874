"""A real `translate serve` process for tests and tools/bench_serve.py: started on a free port, stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from translate.model_folder import save_model
from translate.nets.builders import build_generator

TINY = {"name": "resnet6", "in_channels": 3, "out_channels": 3, "ngf": 4, "norm": "instance", "dropout": False}
TINY_SR = {"name": "srresnet", "scale": 2, "width": 8, "n_blocks": 2}
ROOT = Path(__file__).resolve().parents[1]


def tiny_model(folder: Path, generator: dict | None = None, size: int = 32) -> Path:
    """A CycleGAN-style model folder with a few thousand weights (seeded: the same every time)."""
    torch.manual_seed(0)
    generator = generator or TINY
    save_model(build_generator(**generator), {"method": "cyclegan", "generator": generator, "size": size}, folder)
    return folder


def tiny_upscaler(folder: Path) -> Path:
    torch.manual_seed(0)
    save_model(build_generator(**TINY_SR), {"method": "srresnet", "generator": TINY_SR, "scale": 2}, folder)
    return folder


class Server:
    """A running server: its base URL, its process and what it wrote to stderr."""

    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (uvicorn's graceful shutdown), then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def start_server(*args: str | Path, log: Path, timeout: float = 120) -> Server:
    """`translate serve ARGS --port 0` in a new process; returns once it listens (its printed address)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "translate", "serve", *map(str, args), "--port", "0"]
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=ROOT)
    watchdog = threading.Timer(timeout, process.kill)  # a server that never prints its address
    watchdog.start()
    try:
        line = process.stdout.readline() if process.stdout else ""
    finally:
        watchdog.cancel()
    found = re.search(r"on (http://\S+?)/?$", line.strip())
    if not found:
        process.kill()
        raise AssertionError(f"the server did not start: {line!r} {log.read_text()[-3000:]}")
    return Server(process, found.group(1), log)


@contextmanager
def running_server(*args: str | Path, log: Path) -> Iterator[Server]:
    server = start_server(*args, log=log)
    try:
        yield server
    finally:
        server.stop()
