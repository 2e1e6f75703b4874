"""Fetching and unpacking archives with the standard library only: resumable, verifiable, safe.

`fetch` continues a `.part` file (HTTP Range; `file://` URLs seek) and refuses to call a short
transfer complete; `extract_archive` checks every member before writing any (no absolute paths,
no `..`, no links or devices), so an archive cannot write outside its destination.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import stat
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from translate.errors import DataError

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)
_CHUNK = 1 << 20


def fetch(url: str, part: Path, progress: Progress | None = None, by_hand: Path | None = None) -> int:
    """Download `url` into `part`, continuing what is already there; returns the bytes fetched now.

    HTTP resumes with a Range request (a server that ignores it sends everything again, and the
    file restarts); `file://` seeks. A transfer that stops early keeps the `.part` for next time.
    `by_hand` is where the caller would take the file from if a user put it there: an unreachable
    server's error says so.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.is_file() else 0
    try:
        stream, total, start = _open(url, start)
    except _Unreachable as exc:
        hint = f"put {by_hand.name} into {by_hand.parent}/ by hand and run the command again" if by_hand else ""
        raise DataError(f"{exc} (offline? {hint})" if hint else f"{exc} (offline?)") from None
    fetched = 0
    try:
        with stream, open(part, "ab" if start else "wb") as out:
            if progress:
                progress(start, total)
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
                fetched += len(chunk)
                if progress:
                    progress(start + fetched, total)
    except (OSError, http.client.HTTPException) as exc:  # connection reset, timeout, IncompleteRead
        raise DataError(
            f"download of {url} stopped after {megabytes(start + fetched)} ({reason(exc)}); "
            f"run the same command again to resume from {part}"
        ) from None
    size = start + fetched
    if total is not None and size != total:
        raise DataError(
            f"download of {url} stopped at {megabytes(size)} of {megabytes(total)}; "
            f"run the same command again to resume from {part}"
        )
    return fetched


def _open(url: str, start: int) -> tuple[BinaryIO, int | None, int]:
    """(stream positioned at the returned start offset, total size if known, start offset)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        try:
            stream = open(path, "rb")  # noqa: SIM115 - returned open, closed by the caller
        except OSError as exc:
            raise DataError(f"cannot read {url}: {reason(exc)}") from None
        total = os.fstat(stream.fileno()).st_size
        start = start if start <= total else 0
        stream.seek(start)
        return stream, total, start
    headers = {"User-Agent": "translate-datasets"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # asked for bytes past the end: the part file is already whole
            return _Empty(), start, start
        raise DataError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _Unreachable(f"cannot download {url}: {reason(exc)}") from None
    if response.status == 206:
        first, total = _content_range(response.headers.get("Content-Range", ""))
        if first == start:
            return response, total, start
    length = response.headers.get("Content-Length")
    return response, int(length) if length and length.isdigit() else None, 0


class _Unreachable(DataError):
    """No connection to the server at all (as opposed to an HTTP error from it)."""


class _Empty:
    def read(self, size: int = -1) -> bytes:
        return b""

    def __enter__(self) -> _Empty:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _content_range(value: str) -> tuple[int | None, int | None]:
    """'bytes 100-199/200' -> (100, 200); unknown parts are None."""
    try:
        span, _, total = value.removeprefix("bytes ").partition("/")
        return int(span.split("-")[0]), int(total) if total.isdigit() else None
    except ValueError:
        return None, None


def obtain(url: str, target: Path, expected: str | None, listed_in: str, progress: Progress | None = None) -> str:
    """Make sure `target` holds the file at `url`; returns its sha256.

    A file already at `target` (put there by hand, or left by an earlier run that stopped before
    unpacking) is checked and used without touching the network. Otherwise the download goes to
    `target.part`, resuming what is there, is checked, and only then renamed to `target`.
    """
    if target.is_file():
        return check_sha256(target, expected, listed_in, delete=False)
    part = target.with_name(target.name + ".part")
    fetch(url, part, progress, by_hand=target)
    digest = check_sha256(part, expected, listed_in)
    os.replace(part, target)
    return digest


def check_sha256(path: Path, expected: str | None, listed_in: str, delete: bool = True) -> str:
    """Return `path`'s sha256; raise if it differs from `expected` (None: nothing to check against).

    A mismatching download is deleted (`delete`), so the next attempt starts afresh; a file put
    there by hand is left alone.
    """
    digest = sha256_of(path)
    if expected is not None and digest != expected.lower():
        if delete:
            path.unlink(missing_ok=True)
        fate = "it was deleted; run the command again to download it afresh" if delete else "remove it and retry"
        raise DataError(f"{path.name} does not match {listed_in} (sha256 {digest}, expected {expected}): {fate}")
    return digest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def extract_archive(archive: Path, dest: Path) -> None:
    """Unpack a zip or tar archive (any compression) into `dest`, after checking every member."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_member(info.filename, dest)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise DataError(f"{archive.name}: refusing link member {info.filename!r}")
            zf.extractall(dest)
        return
    with tarfile.open(archive) as tf:  # gzip, bzip2, xz or plain, detected
        members = tf.getmembers()
        for member in members:
            _check_member(member.name, dest)
            if not (member.isfile() or member.isdir()):
                raise DataError(f"{archive.name}: refusing member {member.name!r} (links and devices are not data)")
        # Python's own "data" filter as a second line of defence, where this Python has it (3.10.12+).
        safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(dest, members=members, **safety)


def _check_member(name: str, dest: Path) -> None:
    """Refuse any member that would be written outside `dest` (path traversal, absolute paths)."""
    posix = PurePosixPath(name.replace("\\", "/"))
    outside = posix.is_absolute() or ".." in posix.parts or (len(name) > 1 and name[1] == ":")
    if not outside:
        resolved = (dest / posix).resolve()
        outside = resolved != dest.resolve() and dest.resolve() not in resolved.parents
    if outside:
        raise DataError(f"refusing archive member {name!r}: it would be written outside the folder it unpacks into")


def megabytes(size: int) -> str:
    """A byte count for messages."""
    return f"{size / 1e6:.1f} MB"


def reason(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line errors."""
    cause = getattr(exc, "reason", None) or exc  # URLError keeps the socket error in .reason
    text = str(cause).strip() or type(exc).__name__
    return text.splitlines()[0][:160]
