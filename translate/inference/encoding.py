"""One result encoded and written: the work of a writer thread or of an encoder process.

The pipeline's writer (`pipeline.Writer`) runs `write_result` on threads or, with `--encoders processes`,
in processes that share no GIL with the main loop. Those processes start from a fresh interpreter
(forkserver or spawn: the parent may hold CUDA and threads, which a fork would copy half-way) and
import this module alone, so it imports numpy, Pillow and `translate.data.pixels`, never torch:
tests/test_lazy_imports.py checks it. Like any process pool started that way, they re-import the
parent's main script: a script that converts with them needs the `if __name__ == "__main__":` guard
(the `translate` command has it).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from translate.atomic import atomic_path
from translate.data.pixels import resize_pixels, save_pixels, with_alpha

# threads: Pillow and OpenCV release the GIL while they compress, but the rest of a write (arrays,
# PIL objects, the atomic rename) holds it; processes: none of it does, at the cost of pickling each
# result to them. auto is threads: measured on a 2-core CPU (tools/bench_convert.py --encoders
# threads,processes --switches-only, 256 px PNG out, two runs), processes ran at 0.49-0.55x of threads'
# images/s with a near-free generator and 0.94-0.97x with ResNet-9; on a many-core GPU machine the
# comparison is still to be made (tools/gpu_checks.sh, bench-convert-switches).
ENCODERS = ("auto", "threads", "processes")
_AUTO = "threads"

# Never "fork": see the module doc. forkserver forks each encoder from one clean server process.
_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def encoder_kind(encoders: str) -> str:
    """threads or processes, for an `--encoders` value (auto: see `_AUTO`)."""
    return _AUTO if encoders == "auto" else encoders


def encoder_pool(kind: str, workers: int) -> Executor:
    """`workers` threads or processes that run `write_result`."""
    if kind == "processes":
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(_START_METHOD))
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="translate-writer")


def write_result(
    pixels: np.ndarray,
    target: Path,
    size: tuple[int, int] | None,
    alpha: np.ndarray | None,
    quality: int,
    png_compression: int | str,
) -> None:
    """Resize back to `size` if asked, re-attach the input's alpha plane, encode at the pixels' depth and
    write atomically."""
    if size is not None and (pixels.shape[1], pixels.shape[0]) != size:
        pixels = resize_pixels(pixels, size)
    if alpha is not None:
        pixels = with_alpha(pixels, alpha)
    save_pixels(pixels, target, quality=quality, png_compression=png_compression)


def write_file(data: bytes, target: Path) -> None:
    """Write a result encoded elsewhere (JPEG encoded on the device: inference/jpeg.py), atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
