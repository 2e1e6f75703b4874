"""`translate evaluate ...`: score trained models. Library code is imported on call, so
`translate --help` stays fast."""

from __future__ import annotations

from pathlib import Path

import typer

evaluate_app = typer.Typer(help="Score trained models against ground truth.", no_args_is_help=True)

_COLUMNS = (
    ("PSNR-Y", "psnr_y", "{:.2f}"),
    ("SSIM-Y", "ssim_y", "{:.4f}"),
    ("PSNR-RGB", "psnr_rgb", "{:.2f}"),
    ("bicubic PSNR-Y", "bicubic_psnr_y", "{:.2f}"),
    ("bicubic SSIM-Y", "bicubic_ssim_y", "{:.4f}"),
    ("bicubic PSNR-RGB", "bicubic_psnr_rgb", "{:.2f}"),
)


@evaluate_app.command("sr")
def sr(
    model: Path = typer.Option(..., "--model", help="A super-resolution model folder, or an srresnet/srgan run."),
    hr: Path = typer.Option(..., "--hr", help="Folder of high-resolution test images (their LR is made by bicubic)."),
    scale: int | None = typer.Option(None, "--scale", help="Upscaling factor; read from the model if not given."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write every score to this JSON file."),
    tile: int = typer.Option(512, "--tile", help="Upscale in LR tiles of at most N pixels (0: whole images)."),
    tile_overlap: int = typer.Option(32, "--tile-overlap", help="LR pixels of context around each tile."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, ..."),
) -> None:
    """PSNR and SSIM (Y channel, border cropped) of a super-resolution model, next to bicubic upscaling."""
    from translate.cli_options import user_errors

    with user_errors():
        from translate.metrics.evaluate_sr import evaluate_sr, write_json

        evaluation = evaluate_sr(model, hr, scale=scale, device=device, tile=tile, tile_overlap=tile_overlap)
        _print_table(evaluation)
        if json_out is not None:
            write_json(evaluation, json_out)
            typer.echo(f"Scores: {json_out}")


def _print_table(evaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"x{evaluation.scale} super-resolution vs bicubic ({evaluation.scale} px border cropped)")
    table.add_column("image")
    for title, _, _ in _COLUMNS:
        table.add_column(title, justify="right")
    for scores in evaluation.images:
        table.add_row(scores.name, *(fmt.format(getattr(scores, key)) for _, key, fmt in _COLUMNS))
    mean = evaluation.mean()
    table.add_section()
    table.add_row("mean", *(fmt.format(mean[key]) for _, key, fmt in _COLUMNS), style="bold")
    Console().print(table)
