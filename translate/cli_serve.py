"""`translate serve MODEL [MODEL ...]`: the models over HTTP (a page at /, the API under /v1).

FastAPI and uvicorn come with the `serve` extra and are imported inside the command, like torch,
so `translate --help` stays fast.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

import typer

from translate.cli_options import DEVICE, TILE, TILE_OVERLAP, user_errors
from translate.errors import ConfigError


def serve(
    models: list[str] = typer.Argument(
        ...,
        metavar="MODEL",
        help="Models to serve: run folders (every direction), model folders, pretrained names, .pth/.safetensors "
        "files, super-resolution models. Each is served under its folder name, file stem or pretrained name.",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; another than loopback needs --token or --no-auth."
    ),
    port: int = typer.Option(8000, "--port", help="Port (0: any free one; the address is printed)."),
    max_batch: int = typer.Option(
        8, "--max-batch", help="Same-size requests run together, at most this many (1: no batching)."
    ),
    max_wait_ms: float = typer.Option(
        5.0, "--max-wait-ms", help="How long a request waits for others to join its batch."
    ),
    max_queue: int = typer.Option(
        64, "--max-queue", help="Requests waiting per model; more are answered 503 with Retry-After."
    ),
    max_body_mb: float = typer.Option(20.0, "--max-body-mb", help="Largest request body (413 above)."),
    max_pixels: int = typer.Option(16_000_000, "--max-pixels", help="Largest image, width x height (413 above)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds a request may wait for its result (504 after)."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="TRANSLATE_SERVE_TOKEN",
        help="Bearer token every API call must send (or $TRANSLATE_SERVE_TOKEN).",
    ),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve on a non-loopback address without a token."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, bf16 or fp16 (GPU only); fp32 is bit-exact."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for the models (default: every core)."),
    tile: int = TILE,
    tile_overlap: int = TILE_OVERLAP,
    device: str = DEVICE,
) -> None:
    """Serve models over HTTP: a page to try them at /, an API for code under /v1 (schema: /openapi.json)."""
    with user_errors():
        settings_check(host, token, no_auth, max_batch, max_wait_ms, max_queue, max_body_mb, max_pixels, timeout)
        # Idle OpenMP threads spin for a while after each batch by default: on a small CPU they starved the
        # event loop and the decoders (a 2-core machine answered 20x fewer requests; tools/bench_serve.py).
        # Read when torch starts OpenMP, so set before the imports below (too late if torch is loaded already).
        if "torch" not in sys.modules:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import uvicorn  # lazy: the `serve` extra, not at CLI start-up

            from translate.serve.app import ServeSettings, create_app  # lazy: as above (fastapi, torch)
            from translate.serve.models import load_models  # lazy: as above
        except ImportError as exc:
            raise ConfigError(
                f"translate serve needs the serve extra: pip install 'translate-gan[serve]' ({exc})"
            ) from None
        if threads is not None:
            if threads < 1:
                raise ConfigError(f"--threads {threads} must be at least 1")
            import torch  # lazy: as above

            torch.set_num_threads(threads)
        served = load_models(models, device, precision, tile, tile_overlap)
        settings = ServeSettings(
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue,
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            max_pixels=max_pixels,
            timeout_s=timeout,
            token=token or None,
        )
        listening = bind(host, port)
    app = create_app(served, settings)
    actual_host, actual_port = listening.getsockname()[:2]
    shown = f"[{actual_host}]" if ":" in actual_host else actual_host
    typer.echo(f"Serving {', '.join(m.name for m in served)} on http://{shown}:{actual_port}/", err=False)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=int(timeout) + 5)
    uvicorn.Server(config).run(sockets=[listening])


def settings_check(
    host: str, token: str | None, no_auth: bool, max_batch: int, max_wait_ms: float, max_queue: int,
    max_body_mb: float, max_pixels: int, timeout: float,
) -> None:  # fmt: skip
    """Refuse what would be unsafe or meaningless before any model is loaded."""
    if not is_loopback(host) and not token and not no_auth:
        raise ConfigError(
            f"--host {host} is reachable from other machines: give --token (or --no-auth to serve anyway)"
        )
    if token and no_auth:
        raise ConfigError("--token and --no-auth contradict each other: give one")
    for name, value, least in (
        ("--max-batch", max_batch, 1), ("--max-queue", max_queue, 1), ("--max-pixels", max_pixels, 1),
    ):  # fmt: skip
        if value < least:
            raise ConfigError(f"{name} {value} must be at least {least}")
    if max_wait_ms < 0 or max_body_mb <= 0 or timeout <= 0:
        raise ConfigError("--max-wait-ms must not be negative, --max-body-mb and --timeout must be positive")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; every other name or address may be reachable from outside."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is one line and port 0 tells its number."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listening = socket.socket(family, kind, proto)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(2048)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return listening
