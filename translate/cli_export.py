"""`translate export MODEL --format onnx|pt2`: the bare generator for other runtimes.

Only typer is imported here; torch and the exporters load when the command runs, so `translate --help`
stays fast.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from translate.cli_options import DIRECTION, Direction, direction_value, user_errors
from translate.nets.registry import describe_sizes


class ExportFormat(str, Enum):
    onnx = "onnx"
    pt2 = "pt2"


WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")
EXPORT_HELP = (
    "Export a model's generator to ONNX or a torch.export program (.pt2), then check the file.\n\n"
    "The file holds the bare network in eval mode (deterministic; pix2pix models published to run in train"
    " mode are exported in eval mode too). Input: float32 N x 3 x H x W, RGB, values in [-1, 1]"
    " (pixel / 127.5 - 1); output: the same layout and range (super-resolution models: `scale` times larger,"
    f" not clamped). The batch N is free. Sizes of H and W: {describe_sizes()}.\n\n"
    "The written file is run (onnxruntime, or torch.export.load) on another size and batch than the traced one"
    " and compared with PyTorch; the max abs difference is printed, and above --tolerance nothing is written."
    " A .pt2 file loads without translate: torch.export.load(path).module()(x). ONNX needs the optional"
    " extra: pip install 'translate-gan\\[onnx]'."
)


def default_out(model: Path, direction: str | None, fmt: str) -> Path:
    """`horse2zebra.onnx`, `run-a2b.pt2`, `latest_net_G.onnx`: in the current folder, named after the model."""
    stem = model.stem if model.suffix in WEIGHT_SUFFIXES else model.name
    return Path(f"{stem}{'-' + direction if direction else ''}.{fmt}")


def export(
    model: Path = typer.Argument(
        ..., help="A model folder, a run folder (with --direction), a pretrained name or a weights file."
    ),
    format: ExportFormat = typer.Option(..., "--format", "-f", help="onnx or pt2 (torch.export program)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (default: MODEL[-DIRECTION].FORMAT)."),
    direction: Direction | None = DIRECTION,
    size: int | None = typer.Option(
        None, "--size", help="Side of the traced example image (default: a small size the generator takes)."
    ),
    opset: int = typer.Option(18, "--opset", help="ONNX opset version."),
    tolerance: float = typer.Option(1e-3, "--tolerance", help="Largest accepted difference from PyTorch."),
) -> None:
    with user_errors():
        from translate.export import export_model  # lazy: CLI start-up (torch)
        from translate.zoo import load_generator  # lazy: CLI start-up (torch)

        net, spec = load_generator(model, direction=direction_value(direction), device="cpu")
        target = out or default_out(model, direction_value(direction), format.value)
        report = export_model(net, spec, target, format.value, size, opset=opset, tolerance=tolerance)
        typer.echo(report.summary())


export.__doc__ = EXPORT_HELP
