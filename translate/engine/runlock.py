"""One training run at a time per run folder.

Two runs writing into one folder would interleave their checkpoints and logs, and a resume could
pick up a checkpoint the other run is still writing. The main process holds an OS lock
(`filelock`, flock on Unix) on `.lock` in the run folder for the whole run. The kernel drops it
when the process dies, so a crashed run never blocks the next one. Beside it `.lock.json` records
who holds it (pid, host, start time): a second run names the holder, and a run that finds the
record of a holder that is gone knows it takes over a stale lock and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from translate.atomic import write_text
from translate.errors import ConfigError

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.json"
LOCK_FILES = (LOCK_FILE, HOLDER_FILE)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a zombie, dead but not yet reaped, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): os.kill said it exists


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process (it has not recorded itself yet)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"pid {holder.get('pid')} on host {holder.get('host')} (since {since})"


class RunLock:
    """Exclusive use of a run folder; `acquire` returns a note when it took over a stale lock.

    `wait` is how long to wait when the recorded holder is dead but the lock is still held: processes
    it started (data loader workers) inherited the lock and exit within seconds of their parent.
    """

    def __init__(self, root: Path, wait: float = 20.0) -> None:
        self.root = root
        self.wait = wait
        self._lock: FileLock | None = None

    @property
    def holder_file(self) -> Path:
        return self.root / HOLDER_FILE

    def holder(self) -> dict[str, Any] | None:
        """Who holds (or last held without releasing) the lock, from `.lock.json`."""
        try:
            holder = json.loads(self.holder_file.read_text())
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) else None

    def acquire(self) -> str | None:
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / LOCK_FILE))
        deadline = time.monotonic() + self.wait
        while True:
            previous = self.holder()
            try:
                lock.acquire(timeout=0)
                break
            except Timeout:
                dead = previous is not None and previous.get("host") == socket.gethostname()
                dead = dead and not pid_alive(int(previous.get("pid", 0)))
                if not (dead and time.monotonic() < deadline):
                    left = " (it has exited; processes it started still hold the lock)" if dead else ""
                    raise ConfigError(
                        f"run folder {self.root} is in use by {_describe(previous)}{left}: "
                        "two runs cannot write into one folder; wait for it to end or stop it"
                    ) from None
                time.sleep(0.2)
        self._lock = lock
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        try:
            write_text(self.holder_file, json.dumps(me))
        except OSError:
            self.release()
            raise
        if previous is not None and previous.get("pid") != os.getpid():
            return f"took over the stale lock of {_describe(previous)}, which ended without releasing it"
        return None

    def release(self, tidy: bool = False) -> None:
        """Let go; with `tidy`, a run folder holding nothing but the lock is removed (a run that
        stopped before it wrote anything leaves no folder behind)."""
        if self._lock is None:
            return
        holder = self.holder()
        if holder is not None and holder.get("pid") == os.getpid():
            self.holder_file.unlink(missing_ok=True)
        self._lock.release()
        self._lock = None
        if tidy and self.root.is_dir() and {p.name for p in self.root.iterdir()} <= set(LOCK_FILES):
            (self.root / LOCK_FILE).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # something appeared meanwhile: leave it
                self.root.rmdir()
