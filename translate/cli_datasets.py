"""`translate datasets ...`: preparing data sets. Each command is self-contained and imports its
library code on call, so `translate --help` stays fast."""

from __future__ import annotations

from pathlib import Path

import typer

datasets_app = typer.Typer(help="Prepare data sets: combine or split paired images, ...", no_args_is_help=True)


@datasets_app.command("combine")
def combine(
    a: Path = typer.Option(..., "--a", help="Folder of A images."),
    b: Path = typer.Option(..., "--b", help="Folder of B images, paired with --a by relative path and name."),
    out: Path = typer.Option(..., "--out", help="Folder for the side-by-side A|B images (PNG)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results that already exist."),
) -> None:
    """Join two aligned folders into side-by-side A|B images (the layout of the public pix2pix sets)."""
    from translate.cli import user_errors

    with user_errors():
        from translate.data.pairs import combine_folders

        typer.echo(combine_folders(a, b, out, overwrite=overwrite).summary("side-by-side image(s)"))


@datasets_app.command("split")
def split(
    data: Path = typer.Option(..., "--data", help="Folder of side-by-side A|B images."),
    out: Path = typer.Option(..., "--out", help="Folder to write OUT/A and OUT/B into (PNG)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results that already exist."),
) -> None:
    """Cut side-by-side A|B images into two aligned folders, OUT/A and OUT/B."""
    from translate.cli import user_errors

    with user_errors():
        from translate.data.pairs import split_folder

        typer.echo(split_folder(data, out, overwrite=overwrite).summary("pair(s)"))
