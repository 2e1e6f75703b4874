"""A write function for encoder processes that dies mid-write, as one killed by the OOM killer would.

Its own small module: an encoder process imports the function it runs by name, and this module imports no
more than `translate.inference.encoding` does (not torch, as a test module would)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from translate.atomic import atomic_path
from translate.inference.encoding import write_result

DOOMED_STEM = "2"  # the result whose write kills its process


def write_or_die(pixels: Any, target: Path, *encoding: Any) -> None:
    """`write_result`, except that the write of DOOMED_STEM ends the process with its temporary file
    half-written: no exception, no cleanup (os._exit), like SIGKILL."""
    if target.stem != DOOMED_STEM:
        write_result(pixels, target, *encoding)
        return
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"\x89PNG half")
        os._exit(1)
