"""The `translate` command line: thin on purpose; it parses options, builds a config and calls the library.

Heavy libraries (torch, accelerate, albumentations) are imported inside the commands that need
them, so `translate --help` and option errors answer at once.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import typer

from translate.cli_datasets import datasets_app
from translate.cli_evaluate import evaluate_app
from translate.cli_export import export
from translate.cli_inspect import inspect
from translate.cli_options import (
    DEVICE,
    DIRECTION,
    MODEL,
    TILE,
    TILE_OVERLAP,
    Direction,
    command_from_config,
    direction_value,
    user_errors,
)
from translate.cli_report import report
from translate.cli_serve import serve
from translate.cli_weights import weights_app
from translate.config import TrainConfig
from translate.errors import RunStopped
from translate.methods import METHODS, method_class

app = typer.Typer(
    name="translate",
    help="Image-to-image translation: train pix2pix / CycleGAN / CUT / DiscoGAN / SRGAN and convert image folders.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
train_app = typer.Typer(help="Train a model; see `translate train METHOD --help`.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(datasets_app, name="datasets")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(weights_app, name="weights")
app.command("inspect")(inspect)
app.command("export")(export)
app.command("report")(report)
app.command("serve")(serve)


def run_training(config: TrainConfig) -> None:
    with user_errors():
        from translate.engine.trainer import Trainer  # lazy: CLI start-up (torch, accelerate)

        trainer = Trainer(config, method_class(config.method))
        try:
            models = trainer.fit()
        except RunStopped as stop:  # SIGTERM / Ctrl-C: a checkpoint was saved and the trainer said so
            raise typer.Exit(stop.exit_code) from None
        if trainer.accelerator.is_main_process:
            run = trainer.run
            grids = run.sample_grids()
            typer.echo(f"Samples:  {run.samples}/  (latest grid: {grids[-1][1] if grids else None})")
            typer.echo(f"Losses:   {run.plot}  ({run.log})")
            typer.echo(f"Models:   {models}/")
            best = trainer.best_summary()
            if best:
                typer.echo(f"Best:     {best}")
            tip = trainer.precision_tip()
            if tip:
                typer.echo(f"Tip:      {tip}")


for _name, _entry in METHODS.items():
    train_app.command(_name)(command_from_config(_entry.settings, run_training, _entry.settings.__doc__ or ""))


# Options shared by `convert` and `upscale` (one pipeline runs both).
_OUTPUT = typer.Option(
    ..., "--output", help="Folder for the results (mirrors the input's layout); for one video, also a file name."
)
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace results that already exist (else a re-run continues).")
_BATCH = typer.Option(8, "--batch-size", help="Images of the same size run through the model together.")
_WORKERS = typer.Option(None, "--workers", help="Processes reading and decoding images [default: one per core, <= 4].")
_PRECISION = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16 (GPU only); fp32 is bit-exact.")
_FORMAT = typer.Option("png", "--format", help="Output format: png, jpg, webp or tif.")
_QUALITY = typer.Option(95, "--quality", help="JPEG/WebP quality, 1-100.")
_BIT_DEPTH = typer.Option(
    "auto",
    "--bit-depth",
    help="Bits per channel of the results: 8, 16 (png and tif only) or auto: as each input (16-bit PNG/TIFF "
    "inputs reach the network at full precision either way).",
)
_ALPHA = typer.Option(
    "keep",
    "--alpha",
    help="keep: an input's transparency goes unchanged into its result (png, webp, tif; jpg has none) while the "
    "network sees the picture on white, as in training; drop: RGB results.",
)
_PNG_COMPRESSION = typer.Option(
    "fast",
    "--png-compression",
    help="PNG encoding, lossless either way: fast (zlib's run-length strategy: ~3x faster than Pillow's "
    "default level 6, photos ~1% larger) or a zlib level 0-9 (9: smallest, slowest).",
)
_JPEG_CODEC = typer.Option(
    "auto",
    "--jpeg-codec",
    help="Who decodes JPEG inputs and encodes --format jpg results: torchvision (on the --device: nvJPEG on a GPU), "
    "pillow (decoder processes, writer threads) or auto: torchvision on a GPU, else pillow. Same pixels within a "
    "level; CMYK and other odd JPEGs always go through Pillow.",
)
_ENCODERS = typer.Option(
    "auto",
    "--encoders",
    help="What encodes and writes the results: threads (they share Python's lock with the main loop), processes "
    "(each result is copied to them; no shared lock) or auto (threads, until measurement picks per machine).",
)
_COMPILE = typer.Option(
    False,
    "--compile",
    help="torch.compile the generator together with the conversion to pixels (on a GPU as CUDA graphs): the "
    "first batch of each shape (image size, batch count) compiles for about a minute; after 8 shapes the rest "
    "run uncompiled. Tiled upscaling (images larger than --tile) runs uncompiled.",
)

# Videos (folders may hold them beside images; --input may be one video file); PyAV, the extra 'video'.
_VIDEO_CODEC = typer.Option(
    "libx264",
    "--video-codec",
    help="FFmpeg encoder for video results (libx264, libx265, libvpx-vp9, ffv1 lossless, ...); each keeps its "
    "input's container, frame timing and audio (copied, not re-encoded).",
)
_CRF = typer.Option(18, "--crf", help="Quality of lossy video encoders: 0 (x264: lossless) to 51; lower is better.")


@app.command()
def convert(
    model: Path = MODEL,
    input: Path = typer.Option(
        ...,
        "--input",
        help="Folder of images and videos to convert (searched recursively), one video file, or a domain name.",
    ),
    output: Path = _OUTPUT,
    direction: Direction | None = DIRECTION,
    size: int | None = typer.Option(
        None,
        "--size",
        help="Resize each image's shorter side to N before converting. Generators work best near the size they "
        "were trained at: `translate inspect MODEL` shows it (config.json's `size`).",
    ),
    keep_size: bool = typer.Option(
        True, "--keep-size/--no-keep-size", help="With --size: resize each result back to its input's size."
    ),
    batch_size: int = _BATCH,
    workers: int | None = _WORKERS,
    precision: str = _PRECISION,
    format: str = _FORMAT,
    quality: int = _QUALITY,
    png_compression: str = _PNG_COMPRESSION,
    jpeg_codec: str = _JPEG_CODEC,
    encoders: str = _ENCODERS,
    compile: bool = _COMPILE,
    bit_depth: str = _BIT_DEPTH,
    alpha: str = _ALPHA,
    video_codec: str = _VIDEO_CODEC,
    crf: int = _CRF,
    overwrite: bool = _OVERWRITE,
    device: str = DEVICE,
) -> None:
    """Translate every image in a folder with a trained generator.

    Exit code 0: all converted; 1: some files could not be read (listed in OUTPUT/failures.json);
    2: a usage error. Several GPUs or machines: `accelerate launch -m translate convert ...`.
    """
    _convert(dict(locals()), require_upscaler=False)


@app.command()
def upscale(
    model: Path = MODEL,
    input: Path = typer.Option(
        ..., "--input", help="Folder of images and videos to upscale (searched recursively), or one video file."
    ),
    output: Path = _OUTPUT,
    tile: int = TILE,
    tile_overlap: int = TILE_OVERLAP,
    batch_size: int = typer.Option(4, "--batch-size", help="Images of the same size (up to --tile) run together."),
    workers: int | None = _WORKERS,
    precision: str = _PRECISION,
    format: str = _FORMAT,
    quality: int = _QUALITY,
    png_compression: str = _PNG_COMPRESSION,
    jpeg_codec: str = _JPEG_CODEC,
    encoders: str = _ENCODERS,
    compile: bool = _COMPILE,
    bit_depth: str = _BIT_DEPTH,
    alpha: str = _ALPHA,
    video_codec: str = _VIDEO_CODEC,
    crf: int = _CRF,
    overwrite: bool = _OVERWRITE,
    device: str = DEVICE,
) -> None:
    """Upscale every image in a folder with a super-resolution model, tile by tile within a memory bound.

    Exit codes as for `translate convert`.
    """
    _convert(dict(locals()), require_upscaler=True)


def _convert(options: dict[str, Any], require_upscaler: bool) -> None:
    """Run the pipeline with a command's options (by name) and report; exit 1 when files failed."""
    with user_errors():
        from translate.inference.runner import convert_folder  # lazy: CLI start-up (torch)

        paths = [options.pop(name) for name in ("model", "input", "output")]
        options["direction"] = direction_value(options.get("direction"))
        options["suffix"] = f".{options.pop('format')}"
        report = convert_folder(*paths, require_upscaler=require_upscaler, **options)
    from translate.inference.pipeline import process_state  # lazy: CLI start-up (torch)

    if process_state().is_main_process:
        typer.echo(report.summary())
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as done:
        if done.code in (None, 0, 1):  # the command ran to its end on this process
            _close_process_group()
        raise


def _close_process_group() -> None:
    """Free what a multi-process run built, and its process group, while the interpreter is whole.

    The DDP-wrapped networks sit in reference cycles (Accelerate's forward wrappers, DDP's hooks)
    that outlive the command; freed during interpreter teardown instead, with gloo's threads still
    holding tensors, they aborted about one process in thirty (`terminate called without an active
    exception`, SIGABRT) after a run that had succeeded. Only on a normal end: after a crash another
    process may still be inside a collective.
    """
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist  # lazy: only once a command has loaded torch (checked above)

    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
