"""The catalog of named data sets: download (resumable, verified, safely unpacked), prepare, list,
name resolution and its offline message, end to end with DiscoGAN. Archives are small fakes served
by file:// URLs (and a local HTTP server for Range requests): no network."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import cli, random_rgb, tiny, train
from translate.data import catalog, download
from translate.data.domains import resolve_domain
from translate.errors import DataError

HALF = 32  # side of each half of the fake side-by-side images


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _side_by_side(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return random_rgb(HALF, HALF, seed), random_rgb(HALF, HALF, seed + 1000)


def make_pix2pix_tarball(path: Path, top: str, n_train: int = 6, n_val: int = 2, seed: int = 0) -> dict:
    """A .tar.gz laid out like the public pix2pix sets: TOP/train/*.png and TOP/val/*.png (A|B)."""
    halves = {}
    with tarfile.open(path, "w:gz") as tar:
        for split, count in (("train", n_train), ("val", n_val)):
            for i in range(count):
                a, b = _side_by_side(seed + 10 * i + (split == "val"))
                halves[(split, f"{i}_AB")] = (a, b)
                _add_bytes(tar, f"{top}/{split}/{i}_AB.png", _png(np.concatenate([a, b], axis=1)))
    return halves


def make_cyclegan_zip(path: Path, top: str, n: int = 3) -> None:
    """A .zip laid out like the public CycleGAN sets: TOP/trainA, trainB, testA, testB."""
    with zipfile.ZipFile(path, "w") as zf:
        for k, split in enumerate(("trainA", "trainB", "testA", "testB")):
            for i in range(n):
                zf.writestr(f"{top}/{split}/{i}.png", _png(random_rgb(HALF, HALF, 100 * k + i)))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, kind: bytes = tarfile.REGTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.type = len(data), kind
    tar.addfile(info, io.BytesIO(data))


def serve(monkeypatch, name: str, archive: Path, sha256: str | None = "auto", url: str | None = None) -> None:
    """Point catalog entry `name` at `archive` (file:// unless `url`), with its real checksum by default."""
    entry = catalog.DATASETS[name]
    checksum = hashlib.sha256(archive.read_bytes()).hexdigest() if sha256 == "auto" else sha256
    served = dataclasses.replace(entry, url=url or archive.as_uri(), sha256=checksum)
    monkeypatch.setitem(catalog.DATASETS, name, served)


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("TRANSLATE_DATA", str(data))
    return data


@pytest.fixture
def shoes(tmp_path, monkeypatch) -> tuple[Path, dict]:
    """A fake edges2shoes served by file://; returns (archive, {(split, stem): (A, B)})."""
    (tmp_path / "server").mkdir()
    archive = tmp_path / "server" / "edges2shoes.tar.gz"
    halves = make_pix2pix_tarball(archive, "edges2shoes")
    serve(monkeypatch, "edges2shoes", archive)
    return archive, halves


def leftovers(root: Path) -> list[str]:
    """Anything in the data root besides what a clean failure may leave (nothing at all)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# -- download, verify, unpack, prepare -------------------------------------------------------------


def test_download_verify_unpack_then_prepare_pixel_exact(root, shoes):
    archive, halves = shoes
    result = cli("datasets", "download", "edges2shoes")
    assert result.exit_code == 0, result.output + result.stderr
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert f"sha256 {digest} (matches the catalog)" in result.output
    base = root / "edges2shoes"
    assert sorted(p.name for p in base.iterdir()) == ["train", "val"]  # top folder dropped
    assert sorted(p.name for p in root.iterdir()) == ["edges2shoes"]  # archive and .part gone, no temp folders

    result = cli("datasets", "prepare", "edges2shoes")
    assert result.exit_code == 0, result.output + result.stderr
    for (split, stem), (a, b) in halves.items():
        assert np.array_equal(np.asarray(Image.open(base / "halves" / split / "A" / f"{stem}.png")), a)
        assert np.array_equal(np.asarray(Image.open(base / "halves" / split / "B" / f"{stem}.png")), b)
    assert resolve_domain("shoes") == base / "halves" / "train" / "B"
    assert resolve_domain("shoes-edges:val") == base / "halves" / "val" / "A"
    assert resolve_domain("edges2shoes") == base / "train"  # a paired set by name: its side-by-side images

    # Prepared once: a second prepare leaves the files alone.
    stamp = (base / "halves" / "train" / "A" / "0_AB.png").stat().st_mtime_ns
    assert cli("datasets", "prepare", "shoes").exit_code == 0
    assert (base / "halves" / "train" / "A" / "0_AB.png").stat().st_mtime_ns == stamp


def test_domain_use_prepares_a_downloaded_set_on_first_use(root, shoes):
    catalog.download(catalog.DATASETS["edges2shoes"], root)
    assert not catalog.is_prepared(catalog.DATASETS["edges2shoes"], root)
    assert resolve_domain("shoes") == root / "edges2shoes" / "halves" / "train" / "B"
    assert catalog.is_prepared(catalog.DATASETS["edges2shoes"], root)


def test_cyclegan_zip_and_its_domains(root, tmp_path, monkeypatch):
    archive = tmp_path / "horse2zebra.zip"
    make_cyclegan_zip(archive, "horse2zebra")
    serve(monkeypatch, "horse2zebra", archive)
    assert cli("datasets", "download", "zebra").exit_code == 0  # a domain name fetches its data set
    base = root / "horse2zebra"
    assert resolve_domain("horse") == base / "trainA"
    assert resolve_domain("zebra:test") == base / "testB"
    assert resolve_domain("horse2zebra:trainB") == base / "trainB"
    with pytest.raises(DataError, match="two unpaired domains.*--a horse --b zebra"):
        resolve_domain("horse2zebra")
    with pytest.raises(DataError, match="no split 'val'"):
        resolve_domain("horse:val")


def test_name_clash_cyclegan_copy_lives_apart(root, tmp_path, monkeypatch):
    archive = tmp_path / "facades.zip"
    make_cyclegan_zip(archive, "facades")
    serve(monkeypatch, "cyclegan/facades", archive)
    assert cli("datasets", "download", "cyclegan/facades").exit_code == 0
    assert resolve_domain("cyclegan/facades:trainA") == root / "cyclegan" / "facades" / "trainA"
    assert not catalog.is_downloaded(catalog.DATASETS["facades"], root)  # the pix2pix one is another set


def test_list_shows_status(root, shoes):
    def row(name: str) -> str:
        result = cli("datasets", "list")
        assert result.exit_code == 0, result.output
        return next(line for line in result.output.splitlines() if line.startswith(name + " "))

    assert (
        "paired" in row("edges2shoes")
        and "~2.0 GB" in row("edges2shoes")
        and "shoes, shoes-edges" in row("edges2shoes")
    )
    archive, _ = shoes
    part = catalog.part_path(catalog.DATASETS["edges2shoes"], root)
    part.parent.mkdir(parents=True)
    part.write_bytes(archive.read_bytes()[:1000])
    assert "partial" in row("edges2shoes")
    assert cli("datasets", "download", "edges2shoes").exit_code == 0
    assert "downloaded (not prepared)" in row("edges2shoes")
    assert cli("datasets", "prepare", "edges2shoes").exit_code == 0
    assert "ready" in row("edges2shoes")
    assert "unpaired" in row("horse2zebra") and "horse, zebra" in row("horse2zebra")


# -- resume -----------------------------------------------------------------------------------------


def test_resume_file_url_fetches_only_the_missing_bytes(root, shoes):
    archive, _ = shoes
    data = archive.read_bytes()
    dataset = catalog.DATASETS["edges2shoes"]
    part = catalog.part_path(dataset, root)
    part.parent.mkdir(parents=True)
    part.write_bytes(data[: len(data) // 3])
    seen = []
    fetched = download.fetch(dataset.url, part, progress=lambda done, total: seen.append((done, total)))
    assert fetched == len(data) - len(data) // 3
    assert seen[0] == (len(data) // 3, len(data))  # the bar starts where the part file ended
    assert part.read_bytes() == data
    assert download.fetch(dataset.url, part) == 0  # already whole: nothing more to fetch


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves `payload`; honours Range unless `ignore_range`; sends only `cut` bytes if set."""

    payload = b""
    ignore_range = False
    cut: int | None = None
    requests: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        wanted = self.headers.get("Range")
        type(self).requests.append(wanted)
        start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted and not self.ignore_range else 0
        body = self.payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if self.cut is None else body[: self.cut])

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_RangeHandler]]]:
    handler = type("Handler", (_RangeHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/edges2shoes.tar.gz", handler
    server.shutdown()
    server.server_close()


def test_http_cut_transfer_keeps_part_then_resumes_with_range(root, shoes, http_server, monkeypatch):
    archive, _ = shoes
    data = archive.read_bytes()
    url, handler = http_server
    handler.payload, handler.cut = data, len(data) // 2
    serve(monkeypatch, "edges2shoes", archive, url=url)
    result = cli("datasets", "download", "edges2shoes")
    assert result.exit_code == 2 and "run the same command again to resume" in result.stderr
    part = catalog.part_path(catalog.DATASETS["edges2shoes"], root)
    assert part.read_bytes() == data[: len(data) // 2]
    assert not (root / "edges2shoes").exists()

    handler.cut = None
    result = cli("datasets", "download", "edges2shoes")
    assert result.exit_code == 0, result.output + result.stderr
    assert handler.requests == [None, f"bytes={len(data) // 2}-"]  # the second request asked for the rest only
    assert catalog.is_downloaded(catalog.DATASETS["edges2shoes"], root) and not part.exists()


def test_http_server_ignoring_range_restarts_cleanly(root, shoes, http_server):
    archive, _ = shoes
    data = archive.read_bytes()
    url, handler = http_server
    handler.payload, handler.ignore_range = data, True
    part = root / "x.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage")
    assert download.fetch(url, part) == len(data)
    assert part.read_bytes() == data  # rewritten from the start, not appended to


# -- failures leave nothing half-done ---------------------------------------------------------------


def test_checksum_mismatch_deletes_the_part_file(root, shoes, monkeypatch):
    archive, _ = shoes
    serve(monkeypatch, "edges2shoes", archive, sha256="0" * 64)
    result = cli("datasets", "download", "edges2shoes")
    assert result.exit_code == 2
    assert "does not match the catalog's checksum" in result.stderr and "deleted" in result.stderr
    assert leftovers(root) == []


def test_truncated_archive_is_a_clear_error_and_leaves_nothing(root, tmp_path, shoes, monkeypatch):
    archive, _ = shoes
    broken = tmp_path / "broken" / "edges2shoes.tar.gz"
    broken.parent.mkdir()
    broken.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    serve(monkeypatch, "edges2shoes", broken, sha256=None)  # unknown checksum: only unpacking can tell
    result = cli("datasets", "download", "edges2shoes")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "edges2shoes.tar.gz is damaged" in lines[0]
    assert leftovers(root) == []  # no half-unpacked folder, no temp folder, no archive


def test_unreachable_url_is_one_line(root, tmp_path, monkeypatch):
    serve(monkeypatch, "edges2shoes", tmp_path / "missing.tar.gz", sha256=None)
    result = cli("datasets", "download", "edges2shoes")
    assert result.exit_code == 2 and "cannot read" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    serve(monkeypatch, "edges2shoes", tmp_path / "x", sha256=None, url="http://127.0.0.1:9/edges2shoes.tar.gz")
    result = cli("datasets", "download", "edges2shoes")
    assert result.exit_code == 2 and "cannot download http://127.0.0.1:9/" in result.stderr
    assert not (root / "edges2shoes").exists()


@pytest.mark.parametrize(
    ("member", "kind"),
    [
        ("../evil.png", tarfile.REGTYPE),
        ("edges2shoes/train/../../../evil.png", tarfile.REGTYPE),
        ("/tmp/evil.png", tarfile.REGTYPE),
        ("edges2shoes/train/link.png", tarfile.SYMTYPE),
    ],
)
def test_unsafe_tar_members_are_refused(root, tmp_path, monkeypatch, member, kind):
    archive = tmp_path / "edges2shoes.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        _add_bytes(tar, "edges2shoes/train/0_AB.png", _png(random_rgb(HALF, 2 * HALF)))
        _add_bytes(tar, "edges2shoes/val/0_AB.png", _png(random_rgb(HALF, 2 * HALF)))
        if kind == tarfile.SYMTYPE:
            info = tarfile.TarInfo(member)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            _add_bytes(tar, member, b"evil")
    serve(monkeypatch, "edges2shoes", archive)
    result = cli("datasets", "download", "edges2shoes")
    assert result.exit_code == 2 and "refusing" in result.stderr, result.stderr
    assert leftovers(root) == []
    assert not (tmp_path / "evil.png").exists() and not (root.parent / "evil.png").exists()


def test_unsafe_zip_member_is_refused(root, tmp_path, monkeypatch):
    archive = tmp_path / "horse2zebra.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("horse2zebra/trainA/0.png", _png(random_rgb(HALF, HALF)))
        zf.writestr("../../evil.png", b"evil")
    serve(monkeypatch, "horse2zebra", archive)
    result = cli("datasets", "download", "horse2zebra")
    assert result.exit_code == 2 and "refusing archive member '../../evil.png'" in result.stderr
    assert leftovers(root) == [] and not (tmp_path / "evil.png").exists()


def test_archive_put_by_hand_is_used_offline(root, shoes, monkeypatch):
    archive, _ = shoes
    root.mkdir()
    (root / "edges2shoes.tar.gz").write_bytes(archive.read_bytes())
    serve(monkeypatch, "edges2shoes", archive, url="http://127.0.0.1:9/edges2shoes.tar.gz")
    result = cli("datasets", "download", "edges2shoes")
    assert result.exit_code == 0, result.stderr
    assert catalog.is_downloaded(catalog.DATASETS["edges2shoes"], root)


# -- names ------------------------------------------------------------------------------------------


def test_offline_message_for_training_on_missing_sets(root, tmp_path):
    result = cli("train", "discogan", "--a", "shoes", "--b", "bags", "--out", tmp_path / "run", "--workers", "0")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: domain 'shoes'"), result.stderr
    for fragment in (
        "https://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz",
        "translate datasets download edges2shoes",
        f"put edges2shoes.tar.gz into {root}/",
        f"{root / 'edges2shoes'}/ holds train/, val/",
    ):
        assert fragment in lines[0]
    assert not (tmp_path / "run").exists()


def test_unknown_names_suggest_close_matches(root):
    with pytest.raises(DataError, match=r"unknown domain 'shoe'.*did you mean shoes"):
        resolve_domain("shoe")
    result = cli("datasets", "download", "horse2zebr")
    assert result.exit_code == 2 and "did you mean horse2zebra" in result.stderr


# -- end to end -------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_train_discogan_on_catalog_domains_resume_and_convert(root, tmp_path, monkeypatch):
    for name, seed in (("edges2shoes", 0), ("edges2handbags", 500)):
        archive = tmp_path / f"{name}.tar.gz"
        make_pix2pix_tarball(archive, name, seed=seed)
        serve(monkeypatch, name, archive)
        assert cli("datasets", "download", name).exit_code == 0
    run = tmp_path / "run"
    train("discogan", run, "--a", "shoes", "--b", "bags", "--steps", "4", *tiny("discogan", save_every=4))
    train("discogan", run, "--resume", "--steps", "6")
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps[-1] == 6 and sorted(p.name for p in (run / "models").iterdir()) == ["a2b", "b2a"]

    result = cli("convert", "--model", run, "--direction", "a2b", "--input", "shoes:val", "--output", tmp_path / "out")
    assert result.exit_code == 0, result.output + result.stderr
    outputs = sorted((tmp_path / "out").glob("*.png"))
    assert len(outputs) == 2 and all(Image.open(p).size == (HALF, HALF) for p in outputs)  # back to the input size
