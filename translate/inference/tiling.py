"""Upscale images of any size within a memory bound: overlapping tiles, each cropped to its centre.

A super-resolution network's activations grow with the image (a 4000x3000 photo through SRResNet
needs tens of GB), so the LR image is cut into tiles of at most `tile` x `tile` pixels. Each tile
carries `overlap` pixels of real context on every side that has a neighbour, and only its centre
(its share of the image) is kept. With batch norm in eval mode the network is a fixed function
of its receptive field, so every kept pixel is computed exactly as on the whole image when the
overlap covers that field, and nearly so otherwise: there is no blending and no visible seam. The
result goes straight into a uint8 array, the smallest form of the output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from translate.choices import SR_METHODS
from translate.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

# numpy and torch are imported inside the functions: the CLI reads the tiling defaults at start-up.

DEFAULT_TILE = 512
DEFAULT_OVERLAP = 32  # LR pixels; SRResNet-16's receptive field reaches ~40, the far part barely matters

Span = tuple[int, int, int, int]  # (window start, window end, keep start, keep end) along one axis


def is_upscaler(spec: dict[str, Any]) -> bool:
    """True for an exported super-resolution model (its output is `scale` times its input)."""
    return spec.get("method") in SR_METHODS


def check_tiling(tile: int | None, overlap: int) -> None:
    """`tile` 0 or None means the whole image at once; otherwise each tile must have a centre to keep."""
    if overlap < 0:
        raise ConfigError(f"--tile-overlap {overlap} cannot be negative")
    if tile and (tile < 0 or tile <= 2 * overlap):
        raise ConfigError(f"--tile {tile} must be larger than twice --tile-overlap {overlap} (or 0 for no tiling)")


def tile_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Cut [0, length) into kept pieces of `tile - 2 * overlap`, each read with `overlap` of context."""
    if length <= tile:
        return [(0, length, 0, length)]
    core = tile - 2 * overlap
    spans = []
    for keep_start in range(0, length, core):
        keep_end = min(length, keep_start + core)
        spans.append((max(0, keep_start - overlap), min(length, keep_end + overlap), keep_start, keep_end))
    return spans


def upscale_image(
    net: nn.Module,
    image: torch.Tensor,
    scale: int,
    tile: int | None = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    quantize: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """Upscale one CHW image in [-1, 1] (on the net's device) to an (H*scale)x(W*scale)x3 uint8 array, or
    whatever `quantize` (NCHW in [-1, 1] -> NHWC pixels, the runner's 8- or 16-bit one) makes of it."""
    import numpy as np  # lazy: CLI start-up reads DEFAULT_TILE (see above)
    import torch  # lazy: as above

    check_tiling(tile, overlap)

    def pixels(result: torch.Tensor) -> np.ndarray:
        return _pixels(result) if quantize is None else quantize(result[None])[0].cpu().numpy()

    with torch.inference_mode():
        _, height, width = image.shape
        if not tile or (height <= tile and width <= tile):
            return pixels(net(image[None])[0])
        out: np.ndarray | None = None
        s = scale
        for y0, y1, keep_y0, keep_y1 in tile_spans(height, tile, overlap):
            for x0, x1, keep_x0, keep_x1 in tile_spans(width, tile, overlap):
                result = net(image[None, :, y0:y1, x0:x1])[0]
                centre = pixels(
                    result[:, (keep_y0 - y0) * s : (keep_y1 - y0) * s, (keep_x0 - x0) * s : (keep_x1 - x0) * s]
                )
                if out is None:  # the first tile tells the pixels' type (uint8 or uint16)
                    out = np.empty((height * scale, width * scale, centre.shape[2]), dtype=centre.dtype)
                out[keep_y0 * s : keep_y1 * s, keep_x0 * s : keep_x1 * s] = centre
        return out


def _pixels(image: torch.Tensor) -> np.ndarray:
    import numpy as np  # lazy: CLI start-up reads DEFAULT_TILE (see above)

    from translate.data.images import tensor_to_image  # lazy: as above (numpy, PIL)

    return np.asarray(tensor_to_image(image))
