"""Fetching and unpacking archives with the standard library only: resumable, verifiable, safe.

`fetch` continues a `.part` file (HTTP Range; `file://` URLs seek) and refuses to call a short
transfer complete; `extract_archive` checks every member before writing any (no absolute paths,
no `..`, no links or devices), so an archive cannot write outside its destination.

Where no checksum is pinned, `obtain` trusts on first use, as ssh does with host keys: the sha256
of the first file obtained from a URL is recorded in `known_digests.json` in the translate cache,
and every later file from that URL must match it, so a file swapped upstream or on the way is
noticed the second time even though nobody published a checksum.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import logging
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

from translate.atomic import write_text
from translate.cache import cache_dir
from translate.errors import DataError

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)
_CHUNK = 1 << 20
KNOWN_DIGESTS = "known_digests.json"

logger = logging.getLogger(__name__)


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


def obtain(
    url: str,
    target: Path,
    expected: str | None,
    listed_in: str,
    progress: Progress | None = None,
    known: Path | None = None,
) -> str:
    """Make sure `target` holds the file at `url`; returns its sha256.

    A file already at `target` (put there by hand, or left by an earlier run that stopped before
    unpacking) is checked and used without touching the network. Otherwise the download goes to
    `target.part`, resuming what is there, is checked, and only then renamed to `target`.
    Checked means: against `expected`; with nothing pinned, against the digest recorded for `url`
    in `known` (default: `known_digests_path()`), which the first file from `url` sets.
    """
    store = known if known is not None else known_digests_path()
    if target.is_file():
        digest = check_sha256(target, expected, listed_in, delete=False)
        if expected is None:
            check_first_use(store, url, target, digest, delete=False)
        return digest
    part = target.with_name(target.name + ".part")
    fetch(url, part, progress, by_hand=target)
    digest = check_sha256(part, expected, listed_in)
    if expected is None:
        check_first_use(store, url, part, digest, delete=True, name=target.name)
    os.replace(part, target)
    return digest


# -- trust on first use ----------------------------------------------------------------------------


def known_digests_path() -> Path:
    """<translate cache>/known_digests.json: {url: {"sha256", "first_seen", "file"}}."""
    return cache_dir() / KNOWN_DIGESTS


def check_first_use(
    store: Path, url: str, path: Path, digest: str, delete: bool = True, name: str | None = None
) -> None:
    """Record `digest` for `url` if it is the first file seen from there; else raise if it differs.

    A mismatching download is deleted (`delete`); a file put there by hand is left alone.
    """
    name = name or path.name
    known = read_known_digests(store)
    entry = known.get(url)
    if entry is None:
        seen = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        known[url] = {"sha256": digest, "first_seen": seen, "file": name}
        _write_known_digests(store, known)
        logger.info("first file from %s: sha256 %s, recorded in %s", url, digest, store)
        return
    if entry.get("sha256") == digest:
        return
    if delete:
        path.unlink(missing_ok=True)
    fate = "it was deleted" if delete else "it was left in place"
    raise DataError(
        f"{name} has sha256 {digest}, but the file first obtained from {url} on {entry.get('first_seen', '?')} "
        f"had sha256 {entry.get('sha256')} ({fate}): if it changed upstream on purpose, remove its entry "
        f"from {store} and run again"
    )


def first_use_note(digest: str, store: Path | None = None) -> str | None:
    """For reports: when and where `digest` was recorded on first use, or None if it was not."""
    store = store if store is not None else known_digests_path()
    for entry in read_known_digests(store).values():
        if entry.get("sha256") == digest:
            return f"trusted on first use ({entry.get('first_seen', '?')}): later downloads must match it, see {store}"
    return None


def forget_digest(url: str, store: Path | None = None) -> None:
    """Drop the digest recorded for `url` (its first file turned out to be damaged)."""
    store = store if store is not None else known_digests_path()
    known = read_known_digests(store)
    if known.pop(url, None) is not None:
        _write_known_digests(store, known)


def read_known_digests(store: Path) -> dict[str, dict[str, str]]:
    """The recorded digests; {} when none are recorded yet; one-line DataError for a damaged file."""
    try:
        data = json.loads(store.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read the recorded download digests {store} ({reason(exc)}): fix or remove it"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(f"{store} is not a file of recorded download digests: fix or remove it")
    return data


def _write_known_digests(store: Path, known: dict[str, dict[str, str]]) -> None:
    write_text(store, json.dumps(known, indent=1, sort_keys=True) + "\n")


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
