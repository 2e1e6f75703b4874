"""The simple folder conversion: read, translate, write, one image after the other in one process.

It stays as the reference that the batched pipeline (`pipeline.py`, what `translate convert` runs)
must match bit for bit in fp32, as the baseline of `tools/bench_convert.py`, and as the path of
evaluation while training (one process, no collectives, while the other processes wait). It runs
the model through the same runner as everything else.
"""

from __future__ import annotations

from pathlib import Path

import torch

from translate.data.folders import find_images
from translate.data.pixels import read_pixels, save_pixels, with_alpha
from translate.errors import DataError
from translate.inference.pipeline import ConvertOptions
from translate.inference.runner import Translator
from translate.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling


def serial_convert(
    model: Path,
    input_dir: Path,
    output_dir: Path,
    direction: str | None = None,
    device: str = "cpu",
    suffix: str = ".png",
    tile: int | None = DEFAULT_TILE,
    tile_overlap: int = DEFAULT_OVERLAP,
    png_compression: int | str | None = None,
    bit_depth: str = "auto",
    alpha: str = "keep",
) -> int:
    """Convert every readable image of `input_dir`, one after the other; returns how many were written.

    No skipping, no batching, no worker, no report; PNG at Pillow's default level unless
    `png_compression` says otherwise (see `images.save_image`). `bit_depth` and `alpha` as in
    `pipeline.ConvertOptions`.
    """
    check_tiling(tile, tile_overlap)
    options = ConvertOptions(format=suffix.lstrip("."), bit_depth=bit_depth, alpha=alpha)
    options.validate()
    translator = Translator.load(model, direction=direction, device=device)
    options.check_channels(translator.out_channels)
    translator.tile, translator.tile_overlap = tile, tile_overlap
    written = 0
    for path in find_images(input_dir):
        try:
            decoded = read_pixels(path, alpha=options.keeps_alpha, channels=translator.in_channels)
        except DataError:
            continue
        target = (output_dir / path.relative_to(input_dir)).with_suffix(suffix)
        pixels = torch.tensor(decoded.colour)[None]  # a copy: decoded arrays are read-only
        result = translator.run_pixels(pixels, options.output_bits(decoded.bits))[0]
        if decoded.alpha is not None:
            result = with_alpha(result, decoded.alpha)
        save_pixels(result, target, png_compression=png_compression)
        written += 1
    return written
