"""What users look at during training: sample grids and loss curves.

torch, PIL and matplotlib are imported inside the functions that draw (each import marked `# lazy`):
the HTML report imports `ema` from here and loads none of them (tests/test_lazy_imports.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from translate.atomic import atomic_path
from translate.run_folder import read_losses

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

PAD = 2
_BACKGROUND = (255, 255, 255)


def _to_uint8_hwc(t: Tensor, size: tuple[int, int]) -> np.ndarray:
    """A CHW (or 1xCHW) tensor in [-1, 1] as an HxWx3 uint8 array, upscaled (nearest) to `size`."""
    import torch  # lazy
    import torch.nn.functional as F  # lazy

    t = t.detach().float().cpu()
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3:
        raise ValueError(f"expected a CHW or 1xCHW image tensor, got shape {tuple(t.shape)}")
    if t.shape[0] not in (1, 3):  # 2 bands (grey + alpha): the first as grey; 4 or more: the first three as RGB
        t = t[:1] if t.shape[0] == 2 else t[:3]
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    if tuple(t.shape[1:]) != size:
        t = F.interpolate(t[None], size=size, mode="nearest")[0]
    t = ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return t.permute(1, 2, 0).contiguous().numpy()


def _fit(draw, text: str, font, width: int) -> str:
    """Shorten `text` until it fits in `width` pixels, so labels never spill into the next column."""
    while text and draw.textlength(text, font=font) > width:
        text = text[:-1]
    return text


def save_grid(rows: list[list[Tensor]], path: str | os.PathLike, labels: list[str] | None = None) -> None:
    """Write one example per row as a PNG, with an optional header of column labels.

    Entries in a row may differ in size (an SR low-res input next to its output); smaller ones
    are upscaled with nearest neighbour to the row's largest so pixels stay visible and aligned.
    """
    from PIL import Image, ImageDraw, ImageFont  # lazy

    rows = [list(r) for r in rows if len(r)]
    if not rows:
        raise ValueError("save_grid needs at least one non-empty row")

    def hw(t: Tensor) -> tuple[int, int]:
        return int(t.shape[-2]), int(t.shape[-1])

    row_sizes = [(max(hw(t)[0] for t in r), max(hw(t)[1] for t in r)) for r in rows]
    cell_h, cell_w = max(s[0] for s in row_sizes), max(s[1] for s in row_sizes)
    n_cols = max(len(r) for r in rows)

    font = ImageFont.load_default()
    header = 0
    if labels:
        top, bottom = font.getbbox("Ag")[1], font.getbbox("Ag")[3]
        header = bottom - top + 2 * PAD

    width = PAD + n_cols * (cell_w + PAD)
    height = PAD + header + len(rows) * (cell_h + PAD)
    canvas = Image.new("RGB", (width, height), _BACKGROUND)

    if labels:
        draw = ImageDraw.Draw(canvas)
        for c, label in enumerate(labels[:n_cols]):
            x = PAD + c * (cell_w + PAD)
            draw.text((x, PAD - top), _fit(draw, str(label), font, cell_w), fill=(0, 0, 0), font=font)

    for r, (row, size) in enumerate(zip(rows, row_sizes, strict=True)):
        y = PAD + header + r * (cell_h + PAD)
        for c, t in enumerate(row):
            canvas.paste(Image.fromarray(_to_uint8_hwc(t, size)), (PAD + c * (cell_w + PAD), y))

    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")


def ema(values: list[float], weight: float = 0.8) -> list[float]:
    """Bias-corrected EMA (as TensorBoard smooths), so early points are not pulled towards 0; the loss
    plot and the report smooth alike."""
    out, acc = [], 0.0
    for i, v in enumerate(values, start=1):
        acc = weight * acc + (1 - weight) * v
        out.append(acc / (1 - weight**i))
    return out


def plot_losses(log_path: str | os.PathLike, png_path: str | os.PathLike) -> None:
    """Plot every loss in a JSONL training log against step; write nothing if there is nothing to plot.

    Uses a bare `Figure` (Agg canvas) rather than pyplot, so it never touches global state or
    the backend of an interactive session that imported the engine.
    """
    series = read_losses(Path(log_path))
    if not series:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy
    from matplotlib.figure import Figure  # lazy

    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for i, (name, (steps, values)) in enumerate(sorted(series.items())):
        color = f"C{i % 10}"
        ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
        marker = "o" if len(steps) == 1 else None  # a lone point has no line to draw
        ax.plot(steps, ema(values), color=color, linewidth=1.5, marker=marker, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
