"""The `translate` command line: thin on purpose; it parses options, builds a config and calls the library.

Heavy libraries (torch, accelerate, albumentations) are imported inside the commands that need
them, so `translate --help` and option errors answer at once.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer

from translate.cli_datasets import datasets_app
from translate.cli_evaluate import evaluate_app
from translate.cli_options import command_from_config, user_errors
from translate.cli_weights import weights_app
from translate.config import METHOD_CONFIGS, TrainConfig

app = typer.Typer(
    name="translate",
    help="Image-to-image translation: train pix2pix / CycleGAN / DiscoGAN / SRGAN and convert image folders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
train_app = typer.Typer(help="Train a model; see `translate train METHOD --help`.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(datasets_app, name="datasets")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(weights_app, name="weights")


def run_training(config: TrainConfig) -> None:
    with user_errors():
        from translate.engine.trainer import Trainer
        from translate.methods import method_class

        trainer = Trainer(config, method_class(config.method))
        models = trainer.fit()
        if trainer.accelerator.is_main_process:
            run = trainer.run
            typer.echo(f"Samples:  {run.samples}/  (latest grid: {_latest(run.samples)})")
            typer.echo(f"Losses:   {run.plot}  ({run.log})")
            typer.echo(f"Models:   {models}/")


def _latest(folder: Path) -> Path | None:
    found = sorted(folder.glob("*.png"))
    return found[-1] if found else None


for _name, _cls in METHOD_CONFIGS.items():
    train_app.command(_name)(command_from_config(_cls, run_training, _cls.__doc__ or ""))


class Direction(str, Enum):
    a2b = "a2b"
    b2a = "b2a"


@app.command()
def convert(
    model: Path = typer.Option(..., "--model", help="An exported model folder, or a run folder."),
    input: Path = typer.Option(
        ..., "--input", help="Folder of images to convert (searched recursively), or a domain name."
    ),
    output: Path = typer.Option(..., "--output", help="Folder for the results (mirrors the input's layout)."),
    direction: Direction | None = typer.Option(None, "--direction", help="Which generator of a run to use."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results that already exist."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, ..."),
) -> None:
    """Translate every image in a folder with a trained generator."""
    with user_errors():
        from translate.inference.converter import convert_folder

        chosen = direction.value if direction else None
        report = convert_folder(model, input, output, direction=chosen, overwrite=overwrite, device=device)
        typer.echo(report.summary())


@app.command()
def upscale(
    model: Path = typer.Option(..., "--model", help="A super-resolution model folder, or an srresnet/srgan run."),
    input: Path = typer.Option(..., "--input", help="Folder of images to upscale (searched recursively)."),
    output: Path = typer.Option(..., "--output", help="Folder for the results (mirrors the input's layout)."),
    tile: int = typer.Option(512, "--tile", help="Feed the network LR tiles of at most N x N px (0: whole images)."),
    tile_overlap: int = typer.Option(32, "--tile-overlap", help="LR pixels of context around each tile (no seams)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results that already exist."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, ..."),
) -> None:
    """Upscale every image in a folder with an SRResNet/SRGAN model, tile by tile within a memory bound."""
    with user_errors():
        from translate.inference.converter import convert_folder

        options = {"overwrite": overwrite, "device": device, "tile": tile, "tile_overlap": tile_overlap}
        report = convert_folder(model, input, output, require_upscaler=True, **options)
        typer.echo(report.summary())


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    main()
