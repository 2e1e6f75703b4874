"""`translate evaluate ...`: score trained models. Library code is imported on call, so
`translate --help` stays fast."""

from __future__ import annotations

from pathlib import Path

import typer

from translate.cli_options import (
    DEVICE,
    DIRECTION,
    JSON_OUT,
    MODEL,
    TILE,
    TILE_OVERLAP,
    Direction,
    direction_value,
    user_errors,
)

evaluate_app = typer.Typer(help="Score trained models against ground truth.", no_args_is_help=True)


@evaluate_app.command("sr")
def sr(
    model: Path = MODEL,
    hr: Path = typer.Option(..., "--hr", help="Folder of high-resolution test images (their LR is made by bicubic)."),
    scale: int | None = typer.Option(None, "--scale", help="Upscaling factor; read from the model if not given."),
    json_out: Path | None = JSON_OUT,
    tile: int = TILE,
    tile_overlap: int = TILE_OVERLAP,
    device: str = DEVICE,
) -> None:
    """PSNR and SSIM (Y channel, border cropped) of a super-resolution model, next to bicubic upscaling."""
    with user_errors():
        from translate.evaluation.sr import evaluate_sr  # lazy: CLI start-up (torch)

        _report(evaluate_sr(model, hr, scale=scale, device=device, tile=tile, tile_overlap=tile_overlap), json_out)


@evaluate_app.command("paired")
def paired(
    model: Path = MODEL,
    data: str | None = typer.Option(None, "--data", help="Held-out side-by-side A|B images (folder or name:val)."),
    a: str | None = typer.Option(None, "--a", help="Held-out A images, paired with --b by relative path and name."),
    b: str | None = typer.Option(None, "--b", help="Held-out B images."),
    direction: Direction | None = DIRECTION,
    json_out: Path | None = JSON_OUT,
    device: str = DEVICE,
) -> None:
    """L1, PSNR and SSIM of a translation model against ground-truth pairs, next to the input itself."""
    with user_errors():
        from translate.evaluation.paired import evaluate_paired  # lazy: CLI start-up (torch)

        way = direction_value(direction)
        _report(evaluate_paired(model, data=data, a=a, b=b, direction=way, device=device), json_out)


@evaluate_app.command("unpaired")
def unpaired(
    model: Path = MODEL,
    input_dir: str = typer.Option(..., "--input", help="Held-out images of the model's input domain (or a name)."),
    target_dir: str = typer.Option(..., "--target", help="Real images of the target domain to compare with."),
    direction: Direction | None = DIRECTION,
    inception_weights: Path | None = typer.Option(
        None, "--inception-weights", help="torch-fidelity's Inception weights (.pth); default: its download cache."
    ),
    json_out: Path | None = JSON_OUT,
    device: str = DEVICE,
) -> None:
    """FID and KID (Inception features) of a model's translations against real targets, next to the input itself."""
    with user_errors():
        from translate.evaluation.unpaired import evaluate_unpaired  # lazy: CLI start-up (torch)

        evaluation = evaluate_unpaired(
            model,
            input_dir,
            target_dir,
            direction=direction_value(direction),
            device=device,
            inception_weights=inception_weights,
        )
        _report(evaluation, json_out)


def _report(evaluation, json_out: Path | None) -> None:
    from translate.evaluation.report import print_table, write_json  # lazy: CLI start-up (numpy, rich)

    print_table(evaluation)
    if json_out is not None:
        write_json(evaluation, json_out)
        typer.echo(f"Scores: {json_out}")
