"""The ASGI application: the API under /v1, /healthz, the page at /, and errors as one-line JSON.

Every route that runs a model goes through the model's `Batcher`, so the event loop only parses,
queues and answers: decoding and encoding run on threads, the network on the model's worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from translate.data.images import ImageTooLarge
from translate.errors import DataError
from translate.serve.batching import Batcher, Overloaded
from translate.serve.codec import FORMATS, NotAcceptable, decode, encode, response_format
from translate.serve.models import ServedModel
from translate.version import __version__

# The page's files, by the names its URLs use: a fixed table, so no part of a URL becomes a path.
PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "docs.html": "text/html; charset=utf-8",
    "app.js": "text/javascript",
    "docs.js": "text/javascript",
    "style.css": "text/css",
}
_RAW_TYPES = ("image/", "application/octet-stream")


@dataclass(frozen=True)
class ServeSettings:
    """The server's limits and batching (the `translate serve` options)."""

    max_batch: int = 8
    max_wait_ms: float = 5.0
    max_queue: int = 64
    max_body_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 16_000_000  # ~4900 x 3300: a phone photo; far more is a mistake or an attack
    timeout_s: float = 60.0
    token: str | None = None
    quality: int = 95  # JPEG/WebP answers
    retry_after_s: int = 1


class ErrorBody(BaseModel):
    """Every answer other than an image: one line."""

    error: str


ERRORS = {
    400: "Not a readable image, or a form without a file",
    401: "Missing or wrong bearer token (with --token)",
    404: "No model of that name",
    406: "Neither ?format= nor Accept names PNG, JPEG or WebP",
    408: "The body did not arrive within --timeout",
    413: "Body over --max-body-mb, or image over --max-pixels",
    415: "A Content-Type that is not an image",
    503: "The model's queue is full (--max-queue): retry after Retry-After seconds",
    504: "No result within --timeout",
}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_REQUEST_BODY = {
    "image/*": _BINARY,
    "application/octet-stream": _BINARY,
    "multipart/form-data": {
        "schema": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}}}
    },
}


class ApiError(Exception):
    """An answer other than an image: status, one line, optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def create_app(models: list[ServedModel], settings: ServeSettings | None = None) -> FastAPI:
    """The application for these loaded models; each model's batcher starts and stops with the app."""
    settings = settings or ServeSettings()
    by_name = {model.name: model for model in models}
    batchers: dict[str, Batcher] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for model in models:
            batcher = Batcher(
                model.run, model.name, settings.max_batch, settings.max_wait_ms / 1000, settings.max_queue
            )
            batcher.start()
            batchers[model.name] = batcher
        yield
        # uvicorn calls this after its in-flight requests are answered (graceful shutdown on SIGTERM)
        for batcher in batchers.values():
            await batcher.stop()

    app = FastAPI(
        title="translate serve",
        version=__version__,
        description="Image-to-image translation and super-resolution models over HTTP.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's Swagger and ReDoc pages load their scripts from a CDN: /docs is our own
        redoc_url=None,
    )
    app.state.batchers = batchers

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, 422)

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        # a bug: Starlette re-raises it after this answer, so uvicorn logs its traceback; the client gets one line
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server log has the details"}, 500)

    def check_token(request: Request) -> None:
        if settings.token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), settings.token.encode()):
            raise ApiError(
                401, "a bearer token is required (Authorization: Bearer TOKEN)", {"WWW-Authenticate": "Bearer"}
            )

    def model_named(name: str) -> ServedModel:
        if name not in by_name:
            raise ApiError(404, f"no model named {name[:80]!r} (GET /v1/models lists them)")
        return by_name[name]

    def limits() -> dict[str, Any]:
        return {
            "max_body_bytes": settings.max_body_bytes,
            "max_pixels": settings.max_pixels,
            "max_batch": settings.max_batch,
            "max_wait_ms": settings.max_wait_ms,
            "max_queue": settings.max_queue,
            "timeout_s": settings.timeout_s,
            "formats": sorted(FORMATS),
        }

    @app.get("/healthz", summary="Liveness: 200 while the server answers")
    async def healthz() -> dict[str, Any]:
        in_flight = sum(b.in_flight for b in batchers.values())
        return {"status": "ok", "models": len(models), "in_flight": in_flight}

    @app.get("/v1/models", summary="The models served: name, kind, method, direction, sizes, scale")
    async def list_models(request: Request) -> dict[str, Any]:
        check_token(request)
        return {"models": [model.card() for model in models], "limits": limits(), "auth": settings.token is not None}

    @app.get("/v1/models/{name}", summary="One model's card")
    async def get_model(name: str, request: Request) -> dict[str, Any]:
        check_token(request)
        return model_named(name).card()

    @app.post(
        "/v1/models/{name}/translate",
        summary="Translate (or upscale) one image",
        description="The image as the request body (any image/* type or application/octet-stream), or as the "
        "file field of a multipart/form-data form. Answers the result as PNG, or JPEG/WebP by `?format=` or the "
        "Accept header. Headers: X-Compute-Ms (the batch's time in the model), X-Batch-Size, X-Queue-Ms.",
        response_class=Response,
        responses={200: {"content": {media: {} for media, _ in FORMATS.values()}, "description": "The result"}}
        | {code: {"description": why, "model": ErrorBody} for code, why in ERRORS.items()},
        openapi_extra={"requestBody": {"required": True, "content": _REQUEST_BODY}},
    )
    async def translate(name: str, request: Request, format: str | None = None) -> Response:
        check_token(request)
        model = model_named(name)
        try:
            chosen = response_format(format, request.headers.get("accept"))
        except NotAcceptable as exc:
            raise ApiError(406, str(exc)) from None
        started = time.monotonic()
        try:  # a client that sends its body slowly (or stops) holds no connection for longer than --timeout
            data = await asyncio.wait_for(_image_bytes(request, settings.max_body_bytes), settings.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(408, f"the request body did not arrive within {settings.timeout_s:g} s") from None
        try:
            pixels = await asyncio.to_thread(decode, data, settings.max_pixels)
        except ImageTooLarge:
            raise ApiError(
                413, f"the image has more than {settings.max_pixels:,} pixels, this server's limit"
            ) from None
        except DataError as exc:
            raise ApiError(400, str(exc).strip().splitlines()[-1]) from None
        try:
            result = await asyncio.wait_for(batchers[model.name].submit(pixels), settings.timeout_s)
        except Overloaded as exc:
            raise ApiError(503, f"{exc}; retry later", {"Retry-After": str(settings.retry_after_s)}) from None
        except asyncio.TimeoutError:
            raise ApiError(504, f"no result within {settings.timeout_s:g} s (the server is busy)") from None
        body = await asyncio.to_thread(encode, result.pixels, chosen, settings.quality)
        headers = {
            "X-Compute-Ms": f"{result.compute_seconds * 1000:.1f}",
            "X-Queue-Ms": f"{result.queue_seconds * 1000:.1f}",
            "X-Batch-Size": str(result.batch_size),
            "X-Total-Ms": f"{(time.monotonic() - started) * 1000:.1f}",
        }
        return Response(body, media_type=FORMATS[chosen][0], headers=headers)

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return _page_file("index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return _page_file("docs.html")

    @app.get("/page/{file}", include_in_schema=False)
    async def page_file(file: str) -> Response:
        if file not in PAGE_FILES or file.endswith(".html"):
            raise ApiError(404, "no such page file")
        return _page_file(file)

    return app


def _page_file(name: str) -> Response:
    """One of PAGE_FILES, read from the installed package."""
    data = resources.files("translate.serve").joinpath("page", name).read_bytes()
    return Response(data, media_type=PAGE_FILES[name], headers={"Cache-Control": "no-cache"})


async def _image_bytes(request: Request, limit: int) -> bytes:
    """The uploaded image: the raw body, or the first file of a multipart form; 413 past `limit`, 415 for
    bodies that say they are something else than an image."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != "multipart/form-data" and not content_type.startswith(_RAW_TYPES):
        raise ApiError(415, f"Content-Type {content_type!r} is not an image (send image/* or multipart/form-data)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body has {int(declared):,} bytes, over this server's limit of {limit:,}")
    body = await _read_limited(request.stream(), limit)
    if content_type != "multipart/form-data":
        return body
    try:
        form = await MultiPartParser(request.headers, _once(body), max_files=1, max_fields=16).parse()
    except MultiPartException as exc:
        raise ApiError(400, f"the multipart form could not be read ({exc.message})") from None
    uploads = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not uploads:
        raise ApiError(400, "the multipart form has no file (send the image as a file field, e.g. -F image=@photo.jpg)")
    try:
        return await uploads[0].read()
    finally:
        await form.close()


async def _read_limited(stream: AsyncGenerator[bytes, None], limit: int) -> bytes:
    chunks, total = [], 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"the request body is over this server's limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _once(data: bytes) -> AsyncGenerator[bytes, None]:
    yield data
    yield b""
