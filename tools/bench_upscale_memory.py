"""Peak memory of `translate upscale` on a large photo, with and without tiling.

Each variant runs in its own child process (so one cannot inherit the other's heap); its peak
resident set size comes from `os.wait4`, i.e. the kernel's ru_maxrss for exactly that child. A
random SRResNet is enough: memory does not depend on the weights. The outputs of both variants are
compared too, to show tiling changes no pixel beyond float rounding.

    .venv/bin/python tools/bench_upscale_memory.py                 # 4000x3000, x2, width 16, 2 blocks
    .venv/bin/python tools/bench_upscale_memory.py --scale 4 --tile 256
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(model: Path, input_dir: Path, output_dir: Path, tile: int, overlap: int) -> None:
    """One measured run: tile >= 0 upscales; tile < 0 only loads libraries, model and image (the floor)."""
    import torch

    from translate.inference.pipeline import cores_per_process

    torch.set_num_threads(cores_per_process())  # the CPU set, as conversion sizes its threads
    if tile < 0:
        from translate.data.images import image_to_tensor, load_image
        from translate.zoo import load_generator

        load_generator(model)
        image_to_tensor(load_image(next(input_dir.iterdir())))
        return
    from translate.inference.runner import convert_folder

    convert_folder(model, input_dir, output_dir, device="cpu", tile=tile, tile_overlap=overlap, require_upscaler=True)


def prepare(root: Path, width: int, height: int, scale: int, net_width: int, blocks: int) -> None:
    """Write the random model and the synthetic photo (in a child, so the parent stays small)."""
    import numpy as np
    from PIL import Image

    from translate.model_folder import save_model
    from translate.nets.builders import build_generator

    spec = {"name": "srresnet", "scale": scale, "width": net_width, "n_blocks": blocks}
    save_model(
        build_generator(**spec).eval(), {"method": "srresnet", "generator": spec, "scale": scale}, root / "model"
    )
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(width, height)
    pixels = np.stack([np.sin(9 * xx + c) * np.cos(7 * yy - c) for c in range(3)], -1) * 90 + 128
    pixels = np.clip(pixels + np.random.default_rng(0).normal(0, 8, pixels.shape), 0, 255).astype(np.uint8)
    (root / "in").mkdir()
    Image.fromarray(pixels).save(root / "in" / "photo.png", compress_level=1)


def compare(a: Path, b: Path) -> None:
    import numpy as np
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    diff = np.abs(np.asarray(Image.open(a), dtype=np.int16) - np.asarray(Image.open(b), dtype=np.int16))
    print(f"  tiled vs untiled output: max |diff| {diff.max()} levels, {np.mean(diff > 0) * 100:.4f}% of values differ")


def run_child(*args: str) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit code) of one child process.

    The parent imports nothing heavy: on Linux a child's ru_maxrss starts from its parent's RSS
    high-water mark (fork copies it, exec keeps it), so a big parent would inflate every reading.
    """
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, *args])
    _, status, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss / 1024, time.perf_counter() - start, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the synthetic LR photo")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", help=argparse.SUPPRESS)
    parser.add_argument("--compare", nargs=2, help=argparse.SUPPRESS)
    options = parser.parse_args()
    width, height = (int(v) for v in options.size.lower().split("x"))
    if options.child:
        model, input_dir, output_dir, tile, overlap = options.child
        child(Path(model), Path(input_dir), Path(output_dir), int(tile), int(overlap))
        return
    if options.prepare:
        prepare(Path(options.prepare), width, height, options.scale, options.width, options.blocks)
        return
    if options.compare:
        compare(*map(Path, options.compare))
        return

    shared = ["--size", options.size, "--scale", str(options.scale)]
    with tempfile.TemporaryDirectory(prefix="bench-upscale-") as tmp:
        root = Path(tmp)
        net = ["--width", str(options.width), "--blocks", str(options.blocks)]
        if run_child("--prepare", str(root), *shared, *net)[2] != 0:
            raise SystemExit("could not write the model and the photo")
        print(
            f"{width}x{height} -> {width * options.scale}x{height * options.scale}, SRResNet x{options.scale} "
            f"width {options.width}, {options.blocks} blocks, CPU; peak RSS of each child process"
        )
        common = [str(root / "model"), str(root / "in")]
        runs = {
            "floor (libraries, model, input image)": ("floor", "-1", "0"),
            f"tiled (--tile {options.tile} --tile-overlap {options.overlap})": (
                "tiled",
                str(options.tile),
                str(options.overlap),
            ),
            "untiled (--tile 0)": ("whole", "0", "0"),
        }
        peaks = {}
        for name, (folder, tile, overlap) in runs.items():
            peak, seconds, code = run_child("--child", *common, str(root / folder), tile, overlap)
            status = "" if code == 0 else f"  FAILED (exit {code}; killed for memory?)"
            print(f"  {name:45s} peak RSS {peak:8.0f} MiB  {seconds:6.1f} s{status}", flush=True)
            peaks[folder] = peak if code == 0 else None
        if peaks["tiled"] and peaks["whole"]:
            print(f"  untiled / tiled peak RSS: {peaks['whole'] / peaks['tiled']:.1f}x")
            run_child("--compare", str(root / "tiled" / "photo.png"), str(root / "whole" / "photo.png"))


if __name__ == "__main__":
    main()
