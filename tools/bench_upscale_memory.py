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

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if tile < 0:
        from translate.data.images import image_to_tensor, load_image
        from translate.zoo import load_model

        load_model(model)
        image_to_tensor(load_image(next(input_dir.iterdir())))
        return
    from translate.inference.converter import convert_folder

    convert_folder(model, input_dir, output_dir, device="cpu", tile=tile, tile_overlap=overlap, require_upscaler=True)


def measure(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child", *args])
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"child {args} failed with status {status}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT of the synthetic LR photo")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        model, input_dir, output_dir, tile, overlap = options.child
        child(Path(model), Path(input_dir), Path(output_dir), int(tile), int(overlap))
        return

    import numpy as np
    from PIL import Image

    from translate.nets.builders import build_generator
    from translate.zoo import save_model

    width, height = (int(v) for v in options.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-upscale-") as tmp:
        root = Path(tmp)
        spec = {"name": "srresnet", "scale": options.scale, "width": options.width, "n_blocks": options.blocks}
        save_model(
            build_generator(**spec).eval(),
            {"method": "srresnet", "generator": spec, "scale": options.scale},
            root / "model",
        )
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(width, height)
        rng = np.random.default_rng(0)
        pixels = np.stack([np.sin(9 * xx + c) * np.cos(7 * yy - c) for c in range(3)], -1) * 90 + 128
        pixels = np.clip(pixels + rng.normal(0, 8, pixels.shape), 0, 255).astype(np.uint8)
        (root / "in").mkdir()
        Image.fromarray(pixels).save(root / "in" / "photo.png", compress_level=1)
        del pixels, xx, yy

        common = [str(root / "model"), str(root / "in")]
        runs = {
            "floor (libraries, model, input image)": [*common, str(root / "floor"), "-1", "0"],
            f"tiled (--tile {options.tile} --tile-overlap {options.overlap})": [
                *common,
                str(root / "tiled"),
                str(options.tile),
                str(options.overlap),
            ],
            "untiled (--tile 0)": [*common, str(root / "whole"), "0", "0"],
        }
        print(
            f"{width}x{height} -> {width * options.scale}x{height * options.scale}, SRResNet x{options.scale} "
            f"width {options.width}, {options.blocks} blocks, CPU"
        )
        peaks = {}
        for name, args in runs.items():
            peaks[name], seconds = measure(args)
            print(f"  {name:45s} peak RSS {peaks[name]:8.0f} MiB  {seconds:6.1f} s", flush=True)
        tiled, untiled = list(peaks.values())[1:]
        print(f"  untiled / tiled peak RSS: {untiled / tiled:.1f}x")
        a = np.asarray(Image.open(root / "tiled" / "photo.png"), dtype=np.int16)
        b = np.asarray(Image.open(root / "whole" / "photo.png"), dtype=np.int16)
        diff = np.abs(a - b)
        print(
            f"  tiled vs untiled output: max |diff| {diff.max()} levels, {np.mean(diff > 0) * 100:.4f}% pixels differ"
        )


if __name__ == "__main__":
    main()
