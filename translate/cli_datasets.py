"""`translate datasets ...`: preparing data sets. Each command is self-contained and imports its
library code on call, so `translate --help` stays fast."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

from translate.cli_options import user_errors

datasets_app = typer.Typer(
    help="Named public data sets (list, download, prepare) and pair tools (combine, split).", no_args_is_help=True
)


@datasets_app.command("combine")
def combine(
    a: Path = typer.Option(..., "--a", help="Folder of A images."),
    b: Path = typer.Option(..., "--b", help="Folder of B images, paired with --a by relative path and name."),
    out: Path = typer.Option(..., "--out", help="Folder for the side-by-side A|B images (PNG)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results that already exist."),
) -> None:
    """Join two aligned folders into side-by-side A|B images (the layout of the public pix2pix sets)."""
    with user_errors():
        from translate.data.pairs import combine_folders  # lazy: CLI start-up (torch)

        typer.echo(combine_folders(a, b, out, overwrite=overwrite).summary("side-by-side image(s)"))


@datasets_app.command("split")
def split(
    data: Path = typer.Option(..., "--data", help="Folder of side-by-side A|B images."),
    out: Path = typer.Option(..., "--out", help="Folder to write OUT/A and OUT/B into (PNG)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results that already exist."),
) -> None:
    """Cut side-by-side A|B images into two aligned folders, OUT/A and OUT/B."""
    with user_errors():
        from translate.data.pairs import split_folder  # lazy: CLI start-up (torch)

        typer.echo(split_folder(data, out, overwrite=overwrite).summary("pair(s)"))


# -- named public data sets (translate.data.catalog) ---------------------------------------------

_DATA_ROOT_HELP = (
    "Where named data sets are kept. Default: $TRANSLATE_DATA, else ~/.cache/translate/datasets "
    "(training looks there too, so set TRANSLATE_DATA rather than this to move them)."
)


@datasets_app.command("list")
def list_datasets(data_root: Path | None = typer.Option(None, "--data-root", help=_DATA_ROOT_HELP)) -> None:
    """The named public data sets, their domains (names for --a / --b) and what is already here."""
    from translate.data import catalog  # lazy: CLI start-up (urllib, ssl)

    root = catalog.data_root(data_root)
    typer.echo(f"Data sets in {root}")
    typer.echo(f"{'NAME':<24} {'KIND':<9} {'SIZE':>8}  {'STATUS':<27} DOMAINS")
    for dataset in catalog.DATASETS.values():
        domains = ", ".join(d.name for d in catalog.DOMAINS.values() if d.dataset == dataset.name)
        domains = domains or ", ".join(f"{dataset.name}:{split}" for split in ("trainA", "trainB"))
        status = catalog.status(dataset, root)
        typer.echo(f"{dataset.name:<24} {dataset.kind:<9} {'~' + dataset.size:>8}  {status:<27} {domains}")
    typer.echo("Fetch one with `translate datasets download NAME`; then use its domains, e.g. --a shoes --b bags.")


@datasets_app.command("download")
def download(
    name: str = typer.Argument(..., help="A data set (or one of its domains) from `translate datasets list`."),
    data_root: Path | None = typer.Option(None, "--data-root", help=_DATA_ROOT_HELP),
    keep_archive: bool = typer.Option(False, "--keep-archive", help="Keep the archive after unpacking it."),
) -> None:
    """Download, verify and unpack a named data set; run it again to resume an interrupted download."""
    with user_errors():
        from translate.data import catalog  # lazy: CLI start-up (urllib, ssl)

        root = catalog.data_root(data_root)
        dataset = catalog.get(name)
        with byte_progress(dataset.archive_name) as update:
            digest = catalog.download(dataset, root, update, keep_archive=keep_archive)
        if not report_download(dataset.name, catalog.folder(dataset, root), digest, dataset.sha256, "the catalog"):
            return
        typer.echo(f"Unpacked {dataset.name} into {catalog.folder(dataset, root)}")
        if dataset.kind == catalog.PAIRED:
            typer.echo(f"Domains are cut from its A|B images on first use (or now: translate datasets prepare {name})")


@datasets_app.command("prepare")
def prepare(
    name: str = typer.Argument(..., help="A downloaded data set (or one of its domains)."),
    data_root: Path | None = typer.Option(None, "--data-root", help=_DATA_ROOT_HELP),
) -> None:
    """Cut a paired set's side-by-side A|B images into domain folders, once (CycleGAN sets come split)."""
    with user_errors():
        from translate.data import catalog  # lazy: CLI start-up (urllib, ssl)

        root = catalog.data_root(data_root)
        dataset = catalog.get(name)
        catalog.prepare(dataset, root)
        typer.echo(f"{dataset.name} is ready in {catalog.folder(dataset, root)}")
        for domain in catalog.DOMAINS.values():
            if domain.dataset == dataset.name:
                typer.echo(f"  {domain.name:<14} {catalog.resolve(domain.name, root)}")


def report_download(name: str, where: Path, digest: str | None, pinned: str | None, listed_in: str) -> bool:
    """Say what a download did; False when there was nothing to do (`digest` None: already here)."""
    if digest is None:
        typer.echo(f"{name} is already in {where}")
        return False
    checked = f"matches {listed_in}" if pinned else f"not in {listed_in}, so unverified"
    if not pinned:
        from translate.data.download import first_use_note  # lazy: CLI start-up (urllib, ssl)

        note = first_use_note(digest)
        checked += f"; {note}" if note else ""
    typer.echo(f"sha256 {digest} ({checked})")
    return True


@contextlib.contextmanager
def byte_progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A rich download bar; yields the callback that moves it: update(bytes so far, total or None)."""
    from rich.progress import (  # lazy: CLI start-up (rich)
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, TimeRemainingColumn()) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield update
