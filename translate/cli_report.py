"""`translate report RUN`: one HTML page of a training run, to look at or to share.

The page (translate/report_page.py) embeds everything it shows, so it opens from a file with no
server and nothing fetched from the network.
"""

from __future__ import annotations

from pathlib import Path

import typer

from translate.cli_options import user_errors


def report(
    run: Path = typer.Argument(..., help="A run folder (the --out of `translate train`).", show_default=False),
    out: Path | None = typer.Option(None, "--out", help="Where to write the page [default: RUN/report.html]."),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Held-out images to translate with the final and best models [default: a few training images].",
    ),
    targets: Path | None = typer.Option(
        None, "--targets", help="Their expected results, paired with --images by relative name (any extension)."
    ),
    count: int = typer.Option(4, "--count", help="How many images to translate."),
    model: str | None = typer.Option(
        None, "--model", help="Translate with this exported model only (a2b, b2a, ...) [default: every model]."
    ),
) -> None:
    """Write one self-contained HTML page of a run: settings, losses, metrics, sample grids, translations."""
    with user_errors():
        from translate.report_page import write_report  # lazy: CLI start-up

        path = write_report(run, out, images, targets, count, model)
    typer.echo(f"Report: {path}")
