"""`translate weights ...`: the reference pretrained generators, by name (see translate/pretrained.py)."""

from __future__ import annotations

import typer

from translate.cli_datasets import byte_progress, report_download
from translate.cli_options import user_errors

weights_app = typer.Typer(
    help="Pretrained reference generators (list, download), usable by name.", no_args_is_help=True
)


@weights_app.command("list")
def list_weights() -> None:
    """The pretrained generators of the reference CycleGAN/pix2pix code and which are downloaded."""
    from translate import pretrained  # lazy: CLI start-up (urllib, ssl)

    root = pretrained.weights_root()
    typer.echo(f"Pretrained models in {root}")
    typer.echo(f"{'NAME':<28} {'METHOD':<9} {'SIZE':>8}  {'STATUS':<11} WHAT")
    for entry in pretrained.MANIFEST.values():
        status = "downloaded" if pretrained.is_installed(entry, root) else "-"
        typer.echo(f"{entry.name:<28} {entry.method:<9} {f'~{entry.size_mb} MB':>8}  {status:<11} {entry.about}")
    typer.echo("Fetch one with `translate weights download NAME`, then: translate convert --model NAME ...")


@weights_app.command("download")
def download(name: str = typer.Argument(..., help="A name from `translate weights list`.")) -> None:
    """Download a reference generator, verify it and store it as model.safetensors + config.json."""
    with user_errors():
        from translate import pretrained  # lazy: CLI start-up (urllib, ssl)

        root = pretrained.weights_root()
        entry = pretrained.get(name)
        with byte_progress(pretrained.download_path(entry, root).name) as update:
            digest = pretrained.install(entry, root, update)
        where = pretrained.folder(entry, root)
        if not report_download(entry.name, where, digest, entry.sha256, "the manifest"):
            return
        typer.echo(f"Stored {entry.name} in {where}; use it as --model {entry.name}")
