"""Bad input never crashes: broken and odd image files, data sets with some (or mostly) bad files,
symlinks that leave a folder, output paths that would leave theirs, and downloads whose digest
changes after the first one (trust on first use). Each test injects the fault itself."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import shutil
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import (
    TINY_GENERATOR,
    cli,
    random_generator,
    random_rgb,
    save_tiny_model,
    tiny,
    train,
    write,
    write_domain,
    write_side_by_side,
)
from translate.data import catalog, datasets, download
from translate.data.datasets import PairedDataset, UnpairedDataset
from translate.data.folders import find_images, safe_output_path
from translate.data.images import image_size, image_to_tensor, load_image
from translate.data.pairs import combine_folders
from translate.data.superres import SuperResDataset
from translate.data.transforms import train_transform
from translate.errors import DataError

# -- files -----------------------------------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with almost no pixel data (a decompression bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def _truncated(fmt: str) -> bytes:
    data = _encode(Image.fromarray(random_rgb(64, 64)), fmt)
    return data[: len(data) // 2]  # the header survives: only decoding finds the damage


BROKEN = {
    "zero.jpg": (b"", "empty file, 0 bytes"),
    "text.jpg": (b"Dear diary, today I named a text file .jpg\n", "not a JPEG, PNG, BMP, WebP, TIFF or GIF file"),
    # PostScript is a format Pillow knows (via Ghostscript); ours is not to run it.
    "script.jpg": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n", "not a JPEG, PNG"),
    "cut.jpg": (_truncated("JPEG"), "truncated"),
    "cut.png": (_truncated("PNG"), "truncated"),
    "bomb.png": (png_declaring(100_000, 100_000), "10,000,000,000 pixels, over the limit of 178,956,970"),
    "empty-size.gif": (b"GIF89a\x00\x00\x00\x00\x00\x00\x00;", "not a JPEG"),  # a 0x0 picture
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_files_raise_one_line_data_error(tmp_path, name):
    data, reason = BROKEN[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError) as caught:
        load_image(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a readable image (") and "\n" not in message
    assert reason in message
    if name.startswith("cut."):
        assert image_size(path) == (64, 64)  # a header scan passes it: decoding is where it fails
    else:
        with pytest.raises(DataError, match=r"not a readable image"):
            image_size(path)


def test_folders_pipes_and_missing_files_are_data_errors(tmp_path):
    (tmp_path / "folder.png").mkdir()
    os.mkfifo(tmp_path / "pipe.png")  # opening it to read would wait for a writer forever
    cases = (("folder.png", "a folder, not a file"), ("pipe.png", "not a regular file"), ("missing.png", "not found"))
    for name, reason in cases:
        for read in (load_image, image_size):
            with pytest.raises(DataError, match=reason):
                read(tmp_path / name)


def test_pixel_limit_is_checked_on_the_header_before_decoding(tmp_path, monkeypatch):
    path = write(tmp_path / "ordinary.png", random_rgb(40, 50))
    monkeypatch.setenv("TRANSLATE_MAX_PIXELS", "1000")
    for read in (load_image, image_size):
        with pytest.raises(DataError) as caught:
            read(path)
        assert "declares 50x40 = 2,000 pixels, over the limit of 1,000: a decompression bomb?" in str(caught.value)
        assert "TRANSLATE_MAX_PIXELS" in str(caught.value)
    monkeypatch.setenv("TRANSLATE_MAX_PIXELS", "2000")
    assert load_image(path).size == (50, 40)
    monkeypatch.setenv("TRANSLATE_MAX_PIXELS", "lots")
    with pytest.raises(DataError, match="TRANSLATE_MAX_PIXELS='lots' is not a positive number"):
        load_image(path)


def _rgb(path: Path) -> np.ndarray:
    image = load_image(path)
    assert image.mode == "RGB"
    return np.asarray(image)


def test_odd_but_valid_files_become_rgb(tmp_path):
    Image.new("RGB", (1, 1), (9, 8, 7)).save(tmp_path / "one.png")
    assert _rgb(tmp_path / "one.png").tolist() == [[[9, 8, 7]]]

    # Animated GIF and WebP: the first frame. The GIF's palette entry 0 is transparent: white.
    frames = [Image.new("P", (6, 4), i) for i in range(3)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0] + [0] * 759)
    frames[1].save(tmp_path / "anim.gif", save_all=True, append_images=[frames[0], frames[2]], transparency=0)
    assert (_rgb(tmp_path / "anim.gif") == [200, 0, 0]).all()
    colours = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]
    webp = [Image.new("RGB", (6, 4), c) for c in colours]
    webp[0].save(tmp_path / "anim.webp", save_all=True, append_images=webp[1:], lossless=True)
    assert Image.open(tmp_path / "anim.webp").n_frames == 3
    assert (_rgb(tmp_path / "anim.webp") == [250, 0, 0]).all()

    palette = Image.new("P", (2, 1), 1)
    palette.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.save(tmp_path / "palette.png", transparency=bytes([0, 255]))  # index 0 fully transparent
    assert _rgb(tmp_path / "palette.png").tolist() == [[[255, 255, 255], [40, 50, 60]]]

    Image.new("CMYK", (3, 3), (255, 0, 0, 0)).save(tmp_path / "cmyk.jpg")  # cyan ink
    r, g, b = _rgb(tmp_path / "cmyk.jpg")[0, 0].tolist()
    assert r < 50 and g > 200 and b > 200

    Image.fromarray(np.array([[0, 65535]], dtype=np.uint16)).save(tmp_path / "deep.png")
    assert _rgb(tmp_path / "deep.png")[0, :, 0].tolist() == [0, 255]

    # A JPEG named .png loads: the content decides the decoder, among ours.
    (tmp_path / "misnamed.png").write_bytes(_encode(Image.new("RGB", (4, 4), (0, 0, 0)), "JPEG"))
    assert _rgb(tmp_path / "misnamed.png").shape == (4, 4, 3)


# -- training data: skipped at start-up, replaced when decoding fails ------------------------------


def _domain(folder: Path, n: int, size: int = 16, seed: int = 0) -> Path:
    for i in range(n):
        write(folder / f"{i:02d}.png", random_rgb(size, size, seed=seed + i))
    return folder


DATA_SET_LOGGERS = ("translate.data.scanning", "translate.data.datasets")  # header scan, then decoding


def _warnings(caplog, *loggers: str) -> list[str]:
    names = loggers or DATA_SET_LOGGERS
    return [r.getMessage() for r in caplog.records if r.name in names and r.levelno == logging.WARNING]


def test_unreadable_files_are_skipped_and_reported_once(tmp_path, caplog):
    root_a, root_b = _domain(tmp_path / "A", 3), _domain(tmp_path / "B", 2, seed=10)
    (root_a / "zz-notes.png").write_text("not an image")
    (root_a / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        data = UnpairedDataset(root_a, root_b, train_transform(8, 8), seed=0)
    assert [p.name for p in data.paths_a] == ["00.png", "01.png", "02.png"] and len(data.paths_b) == 2
    (message,) = _warnings(caplog)
    assert message.startswith("skipping 2 of 5 images of domain A that cannot be read:")
    assert f"{root_a / 'empty.jpg'}: not a readable image (empty file, 0 bytes)" in message
    assert f"{root_a / 'zz-notes.png'}: not a readable image (not a JPEG" in message
    assert len(data) == 3 and data[2]["a"].shape == (3, 8, 8)


def test_exactly_half_bad_is_skipped_more_stops_with_the_share(tmp_path):
    root_a, root_b = _domain(tmp_path / "A", 2), _domain(tmp_path / "B", 2, seed=10)
    for name in ("x.png", "y.png"):
        (root_a / name).write_text("x")
    assert len(UnpairedDataset(root_a, root_b).paths_a) == 2  # 2 of 4: still trains
    (root_a / "z.png").write_text("x")
    with pytest.raises(DataError) as caught:
        UnpairedDataset(root_a, root_b)
    message = str(caught.value)
    assert message.startswith("3 of 5 images of domain A cannot be read, more than the 50% a run may skip")
    assert "x.png: not a readable image" in message and "\n" not in message


def test_every_kind_of_data_set_skips_bad_files(tmp_path, caplog):
    for i in range(3):
        write_side_by_side(tmp_path / "sbs" / f"{i}.png", random_rgb(8, 8, i), random_rgb(8, 8, i + 5))
        write(tmp_path / "A" / f"{i}.png", random_rgb(8, 8, i))
        write(tmp_path / "B" / f"{i}.jpg", random_rgb(8, 8, i))
        write(tmp_path / "hr" / f"{i}.png", random_rgb(32, 32, i))
    for bad in ("sbs/3.png", "B/1.jpg", "hr/3.png"):
        (tmp_path / bad).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with caplog.at_level(logging.WARNING):
        side_by_side = PairedDataset.from_side_by_side(tmp_path / "sbs")
        folders = PairedDataset.from_folders(tmp_path / "A", tmp_path / "B")
        hr = SuperResDataset.from_hr(tmp_path / "hr", scale=2, hr_size=16)
    assert len(side_by_side) == 3 and len(hr) == 3
    assert [(a.name, b.name) for a, b in folders.pairs] == [("0.png", "0.jpg"), ("2.png", "2.jpg")]
    assert [m.split(" that")[0] for m in _warnings(caplog)] == [
        "skipping 1 of 4 side-by-side images",
        "skipping 1 of 3 A|B pairs",
        "skipping 1 of 4 HR images",
    ]


def test_small_images_are_resized_up_to_the_crop(tmp_path):
    """CycleGAN, pix2pix and DiscoGAN resize every image to --load-size first (as the reference
    code does), so a 1x1 or 5x7 image gives a full crop; super-resolution skips images smaller than
    its HR crop instead (upscaled pixels are no high-resolution target), with a warning."""
    write(tmp_path / "A" / "dot.png", random_rgb(1, 1))
    write(tmp_path / "B" / "small.png", random_rgb(5, 7))
    data = UnpairedDataset(tmp_path / "A", tmp_path / "B", train_transform(32, 36), seed=1)
    item = data[0]
    assert item["a"].shape == item["b"].shape == (3, 32, 32)
    assert torch.allclose(item["a"], item["a"][:, :1, :1].expand(3, 32, 32))  # one pixel, spread out
    write_side_by_side(tmp_path / "sbs" / "tiny.png", random_rgb(1, 1), random_rgb(1, 1, seed=3))
    pair = PairedDataset.from_side_by_side(tmp_path / "sbs", train_transform(32, 36, paired=True))[0]
    assert pair["a"].shape == pair["b"].shape == (3, 32, 32)
    write(tmp_path / "hr" / "dot.png", random_rgb(1, 1))
    with pytest.raises(DataError, match="all 1 image are smaller than the 16x16 crop"):
        SuperResDataset.from_hr(tmp_path / "hr", scale=2, hr_size=16)


def _damaged_after_header(path: Path, size: int = 16, seed: int = 0) -> Path:
    """A PNG whose header is intact (the start-up scan passes it) but whose pixels are cut off."""
    data = _encode(Image.fromarray(random_rgb(size, size, seed)), "PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    assert image_size(path) == (size, size)
    return path


def test_a_file_failing_to_decode_is_replaced_deterministically_and_logged_once(tmp_path, caplog):
    root_a, root_b = _domain(tmp_path / "A", 4), _domain(tmp_path / "B", 3, seed=10)
    _damaged_after_header(root_a / "01.png")
    twin = UnpairedDataset(root_a, root_b, train_transform(8, 12), seed=5)
    with caplog.at_level(logging.WARNING):
        data = UnpairedDataset(root_a, root_b, train_transform(8, 12), seed=5)
        items = [data[i] for i in range(len(data))]
        again = data[1]
    assert len(data) == 4 and items[1]["a_path"] == str(root_a / "02.png")  # the next item took its place
    (warning,) = _warnings(caplog)  # the scan saw nothing wrong; the decode failure is logged once per data set
    for item in (again, twin[1]):  # the same replacement every time, in every copy: resume stays exact
        assert torch.equal(item["a"], items[1]["a"]) and torch.equal(item["b"], items[1]["b"])
    assert torch.equal(items[1]["a"], items[2]["a"])  # it IS item 2, crops and partner included
    assert warning.startswith(f"{root_a / '01.png'}: not a readable image (") and "replaced by another" in warning


def test_replacement_works_through_a_data_loader_and_for_pairs(tmp_path):
    for i in range(4):
        pixels = random_rgb(8, 8, i)
        write(tmp_path / "A" / f"{i}.png", pixels)
        write(tmp_path / "B" / f"{i}.png", 255 - pixels)
    _damaged_after_header(tmp_path / "B" / "0.png", size=8)
    data = PairedDataset.from_folders(tmp_path / "A", tmp_path / "B", seed=2)
    loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=2)
    paths = [p for batch in loader for p in batch["a_path"]]
    assert [Path(p).name for p in paths] == ["1.png", "1.png", "2.png", "3.png"]
    assert torch.equal(data[0]["a"], image_to_tensor(random_rgb(8, 8, 1)))


def test_a_data_set_that_fails_to_decode_everywhere_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_SUBSTITUTES", 2)
    for i in range(4):
        _damaged_after_header(tmp_path / "A" / f"{i}.png", seed=i)
    _domain(tmp_path / "B", 1)
    data = UnpairedDataset(tmp_path / "A", tmp_path / "B")
    with pytest.raises(DataError, match=r"^3 items in a row \(from item 1\) have files that cannot be decoded"):
        data[1]


def test_combine_leaves_out_what_it_cannot_decode(tmp_path):
    for i in range(3):
        write(tmp_path / "A" / f"{i}.png", random_rgb(8, 8, i))
        write(tmp_path / "B" / f"{i}.png", random_rgb(8, 8, i + 9))
    _damaged_after_header(tmp_path / "B" / "1.png", size=8)
    report = combine_folders(tmp_path / "A", tmp_path / "B", tmp_path / "out")
    assert report.written == 2 and len(report.failed) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "2.png"]
    assert "1 unreadable: " in report.summary("pairs") and "1.png: not a readable image" in report.summary("pairs")


def test_training_run_with_bad_files_trains_and_reports(tmp_path, caplog):
    a = write_domain(tmp_path / "a", 4, 32, seed=1)
    b = write_domain(tmp_path / "b", 4, 32, seed=2)
    (b / "notes.png").write_text("not a picture")
    _damaged_after_header(a / "002.png", size=32)
    # steps 2: the fixed sample batch (items 0-3) meets the damaged file at once
    options = tiny("cyclegan", log_every=None, steps=2)
    with caplog.at_level(logging.WARNING):
        train("cyclegan", tmp_path / "run", "--a", a, "--b", b, *options)
    warnings = _warnings(caplog)
    assert sum(m.startswith("skipping 1 of 5 images of domain B") for m in warnings) == 1
    assert sum(m.startswith(f"{a / '002.png'}: not a readable image") for m in warnings) == 1
    assert (tmp_path / "run" / "models" / "a2b").is_dir()


# -- paths -----------------------------------------------------------------------------------------


def test_find_images_does_not_follow_links_out_of_the_folder(tmp_path, caplog):
    outside = tmp_path / "outside"
    write(outside / "secret.png", random_rgb(4, 4))
    write(outside / "more" / "x.png", random_rgb(4, 4))
    root = tmp_path / "data"
    write(root / "real" / "a.png", random_rgb(4, 4))
    (root / "file-out.png").symlink_to(outside / "secret.png")
    (root / "folder-out").symlink_to(outside / "more")
    (root / "dangling.png").symlink_to(tmp_path / "gone.png")
    (root / "inside.png").symlink_to(root / "real" / "a.png")
    (root / "alias").symlink_to(root / "real")  # a link within the folder is fine (found once)
    (root / "real" / "loop").symlink_to(root)
    with caplog.at_level(logging.WARNING):
        found = [p.relative_to(root).as_posix() for p in find_images(root)]
    assert found == ["alias/a.png", "inside.png"]
    (message,) = _warnings(caplog, "translate.data.folders")
    assert "skipped 3 link(s) leading outside the folder or nowhere" in message
    for name in ("file-out.png", "folder-out", "dangling.png -> ", "gone.png (missing)"):
        assert name in message


def test_a_folder_given_through_a_link_is_searched(tmp_path):
    write(tmp_path / "real" / "a.png", random_rgb(4, 4))
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert [p.name for p in find_images(tmp_path / "link")] == ["a.png"]


def test_safe_output_path(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    assert safe_output_path(src, src / "x" / "photo.JPG", out, ".png") == out / "x" / "photo.png"
    assert safe_output_path(src, src / "a.b.jpg", out, "webp") == out / "a.b.webp"
    cases = [
        (tmp_path / "elsewhere" / "a.png", "is not inside the input folder"),
        (src / ".." / "escape.png", "outside"),
        (src, "outside"),
    ]
    out.mkdir()
    (out / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "victim.png").write_bytes(b"keep")
    (out / "trap.png").symlink_to(tmp_path / "victim.png")
    cases += [(src / "linked" / "a.jpg", "would be written outside"), (src / "trap.jpg", "would be written outside")]
    for path, fragment in cases:
        with pytest.raises(DataError, match=fragment):
            safe_output_path(src, path, out, ".png")


# -- downloads: trust on first use -----------------------------------------------------------------


@pytest.fixture
def known(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TRANSLATE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "known_digests.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_first_download_is_recorded_and_later_ones_must_match(tmp_path, known):
    served = tmp_path / "server" / "weights.pth"
    served.parent.mkdir()
    served.write_bytes(b"first version")
    target = tmp_path / "dl" / "weights.pth"
    assert download.obtain(served.as_uri(), target, None, "the manifest") == _sha(b"first version")
    entry = json.loads(known.read_text())[served.as_uri()]
    assert entry["sha256"] == _sha(b"first version") and entry["file"] == "weights.pth"
    assert "trusted on first use" in download.first_use_note(_sha(b"first version"))

    target.unlink()
    assert download.obtain(served.as_uri(), target, None, "the manifest") == _sha(b"first version")

    target.unlink()
    served.write_bytes(b"swapped on the server")
    with pytest.raises(DataError) as caught:
        download.obtain(served.as_uri(), target, None, "the manifest")
    message = str(caught.value)
    assert message.startswith(f"weights.pth has sha256 {_sha(b'swapped on the server')}, but the file first")
    assert f"had sha256 {_sha(b'first version')} (it was deleted)" in message and str(known) in message
    assert not target.exists() and not list(target.parent.glob("*.part"))

    target.write_bytes(b"put here by hand")  # checked as well, and left alone
    with pytest.raises(DataError, match=r"it was left in place"):
        download.obtain(served.as_uri(), target, None, "the manifest")
    assert target.read_bytes() == b"put here by hand"
    # A pinned checksum is the stronger check: the recorded one is not consulted.
    assert download.obtain(served.as_uri(), target, _sha(b"put here by hand"), "the manifest")


def test_a_damaged_known_digests_file_is_one_line(tmp_path, known):
    known.parent.mkdir(parents=True)
    known.write_text("{ not json")
    served = tmp_path / "f.bin"
    served.write_bytes(b"x")
    with pytest.raises(DataError, match=r"cannot read the recorded download digests .*: fix or remove it$"):
        download.obtain(served.as_uri(), tmp_path / "dl" / "f.bin", None, "the catalog")


def _tarball(path: Path, seed: int) -> bytes:
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "val"):
            data = _encode(Image.fromarray(random_rgb(8, 16, seed)), "PNG")
            info = tarfile.TarInfo(f"facades/{split}/0.png")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def test_catalog_download_trusts_on_first_use(tmp_path, known, monkeypatch):
    monkeypatch.setenv("TRANSLATE_DATA", str(tmp_path / "data"))
    archive = tmp_path / "server" / "facades.tar.gz"
    archive.parent.mkdir()
    monkeypatch.setitem(
        catalog.DATASETS, "facades", dataclasses.replace(catalog.DATASETS["facades"], url=archive.as_uri())
    )

    archive.write_bytes(_tarball(archive, 0)[:100])  # damaged: its digest must not be trusted
    assert cli("datasets", "download", "facades").exit_code == 2
    assert not known.exists() or archive.as_uri() not in json.loads(known.read_text())

    first = _tarball(archive, 0)
    result = cli("datasets", "download", "facades")
    assert result.exit_code == 0, result.output + result.stderr
    assert f"sha256 {_sha(first)} (not in the catalog, so unverified; trusted on first use" in result.output

    shutil.rmtree(tmp_path / "data")
    changed = _tarball(archive, 1)
    result = cli("datasets", "download", "facades")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"facades.tar.gz has sha256 {_sha(changed)}, but" in line and f"had sha256 {_sha(first)}" in line
    assert not (tmp_path / "data" / "facades").exists()


def test_pretrained_download_trusts_on_first_use(tmp_path, known, monkeypatch):
    from translate import pretrained

    source = tmp_path / "upstream" / "tiny.pth"
    source.parent.mkdir()
    entry = pretrained.Pretrained("tiny", "cyclegan", source.as_uri(), "a test", TINY_GENERATOR, 1)
    monkeypatch.setitem(pretrained.MANIFEST, "tiny", entry)
    monkeypatch.setenv("TRANSLATE_WEIGHTS", str(tmp_path / "weights"))
    for seed, code in ((0, 0), (1, 2)):
        torch.save(random_generator(TINY_GENERATOR, seed).state_dict(), source)
        result = cli("weights", "download", "tiny")
        assert result.exit_code == code, result.output + result.stderr
        if seed == 0:
            assert "trusted on first use" in result.output
            os.rename(tmp_path / "weights" / "tiny", tmp_path / "installed")  # download again
    assert "tiny.pth has sha256" in result.stderr and "had sha256" in result.stderr


def test_conversion_reports_bad_files_and_converts_the_rest(tmp_path):
    save_tiny_model(tmp_path / "model", size=32)
    inputs = write_domain(tmp_path / "in", 1, 32, seed=4)
    (inputs / "zero.jpg").write_bytes(b"")
    (inputs / "text.png").write_bytes(b"hello")
    (inputs / "cut.png").write_bytes(_truncated("PNG"))
    (inputs / "bomb.png").write_bytes(png_declaring(100_000, 100_000))
    os.mkfifo(inputs / "pipe.png")
    write(inputs / "dot.png", random_rgb(1, 1))  # tiny but fine: padded up to the generator's multiple
    result = cli("convert", "--model", tmp_path / "model", "--input", inputs, "--output", tmp_path / "out")
    assert result.exit_code == 1, result.output + result.stderr  # 1: some inputs could not be read
    assert "Traceback" not in result.output + result.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["000.png", "dot.png"]
    assert Image.open(tmp_path / "out" / "dot.png").size == (1, 1)
    failed = {
        Path(entry["path"]).name: entry["reason"]
        for entry in json.loads((tmp_path / "out" / "failures.json").read_text())
    }
    assert sorted(failed) == ["bomb.png", "cut.png", "pipe.png", "text.png", "zero.jpg"]
    assert "decompression bomb" in failed["bomb.png"] and "not a regular file" in failed["pipe.png"]
