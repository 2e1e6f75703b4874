"""translate.data: image loading, folders, seeded transforms, datasets and the demo domains."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from tests.helpers import coordinate_pattern, random_rgb, read_pattern, write, write_side_by_side
from translate.data import demo
from translate.data.datasets import PairedDataset, UnpairedDataset
from translate.data.domains import resolve_domain
from translate.data.folders import find_images
from translate.data.images import image_size, image_to_tensor, load_image, save_image, tensor_to_image
from translate.data.transforms import eval_transform, seed_transform, seed_worker, train_transform
from translate.errors import ConfigError, DataError

# --- images -----------------------------------------------------------------------------------


def _rgb(path) -> np.ndarray:
    image = load_image(path)
    assert image.mode == "RGB"
    return np.asarray(image)


def test_load_greyscale_and_bilevel(tmp_path):
    Image.new("L", (4, 3), 77).save(tmp_path / "l.png")
    assert _rgb(tmp_path / "l.png").shape == (3, 4, 3)
    assert (_rgb(tmp_path / "l.png") == 77).all()
    Image.new("1", (4, 3), 1).save(tmp_path / "one.bmp")
    assert (_rgb(tmp_path / "one.bmp") == 255).all()


def test_transparency_is_composited_over_white(tmp_path):
    rgba = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 255))
    rgba.save(tmp_path / "rgba.png")
    assert _rgb(tmp_path / "rgba.png").tolist() == [[[255, 255, 255], [0, 0, 0]]]

    Image.new("LA", (1, 1), (0, 128)).save(tmp_path / "la.png")
    assert abs(int(_rgb(tmp_path / "la.png")[0, 0, 0]) - 127) <= 1  # half black over white

    palette = Image.new("P", (2, 1), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png", transparency=0)
    assert _rgb(tmp_path / "p.png").tolist() == [[[255, 255, 255], [0, 0, 255]]]


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    assert _rgb(tmp_path / "grey16.png")[0, :, 0].tolist() == [0, 1, 128, 255]

    Image.fromarray(values.astype(np.int32)).save(tmp_path / "int32.tif")  # Pillow reads mode "I"
    assert _rgb(tmp_path / "int32.tif")[0, :, 1].tolist() == [0, 1, 128, 255]

    tifffile = pytest.importorskip("tifffile")
    rgb16 = np.zeros((2, 2, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1] = 65535, 32768
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb16, photometric="rgb")
    assert _rgb(tmp_path / "rgb16.tif")[0, 0].tolist() == [255, 128, 0]


def test_float_cmyk_webp_bmp_tiff(tmp_path):
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32)).save(tmp_path / "f.tif")
    assert _rgb(tmp_path / "f.tif")[0, :, 2].tolist() == [0, 128, 255]

    Image.new("CMYK", (4, 4), (0, 255, 0, 0)).save(tmp_path / "cmyk.jpg")  # pure magenta ink
    r, g, b = _rgb(tmp_path / "cmyk.jpg")[0, 0].tolist()
    assert r > 200 and g < 50 and b > 200

    pixels = random_rgb(8, 6)
    for name in ("x.webp", "x.bmp", "x.tiff", "x.TIF"):
        options = {"lossless": True} if name.endswith("webp") else {}
        Image.fromarray(pixels).save(tmp_path / name, **options)
        assert (_rgb(tmp_path / name) == pixels).all(), name


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(random_rgb(20, 40))  # 40 wide, 20 high
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated by 90 degrees
    image.save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(tmp_path / "phone.jpg").size == (20, 40)
    assert image_size(tmp_path / "phone.jpg") == (20, 40)


def test_unreadable_files_raise_one_line_data_error(tmp_path):
    (tmp_path / "notes.png").write_text("not an image at all")
    buffer = io.BytesIO()
    Image.fromarray(random_rgb(64, 64)).save(buffer, format="PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[:300])
    for name in ("notes.png", "cut.png", "missing.png"):
        with pytest.raises(DataError) as caught:
            load_image(tmp_path / name)
        message = str(caught.value)
        assert message.startswith(f"{tmp_path / name}: not a readable image (") and "\n" not in message


def test_save_image_is_atomic_and_makes_folders(tmp_path):
    pixels = random_rgb(5, 7)
    target = tmp_path / "deep" / "er" / "out.png"
    save_image(pixels, target)
    assert (np.asarray(Image.open(target)) == pixels).all()
    assert [p.name for p in target.parent.iterdir()] == ["out.png"]  # no temporary left behind
    save_image(Image.new("RGBA", (3, 3), (10, 20, 30, 255)), tmp_path / "alpha.jpg")  # alpha dropped
    assert Image.open(tmp_path / "alpha.jpg").mode == "RGB"
    with pytest.raises(DataError, match="out.xyz"):
        save_image(pixels, tmp_path / "out.xyz")


def test_tensor_image_round_trip():
    pixels = random_rgb(6, 9)
    tensor = image_to_tensor(Image.fromarray(pixels))
    assert tensor.shape == (3, 6, 9) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    assert (np.asarray(tensor_to_image(tensor)) == pixels).all()
    every_value = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    assert torch.equal(image_to_tensor(every_value), eval_transform()(image=every_value)["image"])
    clamped = tensor_to_image(torch.tensor([[[-3.0, 3.0]]]))
    assert clamped.mode == "L" and np.asarray(clamped).tolist() == [[0, 255]]


# --- folders ----------------------------------------------------------------------------------


def test_find_images_recursive_sorted_case_insensitive_skips_hidden(tmp_path):
    root = tmp_path / ".cache" / "set"  # a hidden folder ABOVE the root does not count
    pixels = random_rgb(4, 4)
    for name in ("b.PNG", "a.jpg", "sub/c.Jpeg", "sub/deeper/d.webp", ".hidden.png", ".git/e.png"):
        write(root / name, pixels)
    (root / "readme.txt").write_text("x")
    found = [p.relative_to(root).as_posix() for p in find_images(root)]
    assert found == ["a.jpg", "b.PNG", "sub/c.Jpeg", "sub/deeper/d.webp"]
    assert [p.name for p in find_images(root, recursive=False)] == ["a.jpg", "b.PNG"]


def test_find_images_errors(tmp_path):
    with pytest.raises(DataError, match=r"^folder .*nowhere does not exist$"):
        find_images(tmp_path / "nowhere")
    (tmp_path / "file.png").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        find_images(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"empty has no images \(looked for \.jpg, \.jpeg, \.png"):
        find_images(tmp_path / "empty")


# --- transforms and seeding -------------------------------------------------------------------


def test_transform_shapes_and_range():
    pixels = random_rgb(50, 70)
    out = train_transform(32, 36)(image=pixels)["image"]
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1
    assert eval_transform(24)(image=pixels)["image"].shape == (3, 24, 24)
    assert eval_transform()(image=pixels)["image"].shape == (3, 50, 70)
    with pytest.raises(ConfigError, match="load size 30 .* crop size 32"):
        train_transform(32, 30)


def test_paired_transform_keeps_pixel_alignment():
    pattern = coordinate_pattern(40)  # already load_size: the crop and flip are read back exactly
    transform = train_transform(32, 40, paired=True)
    seen = set()
    for seed in range(64):
        seed_transform(transform, seed)
        out = transform(image=pattern, b=255 - pattern)
        assert torch.equal(out["b"], -out["image"])
        x, y, flipped = read_pattern(out["image"])
        seen.add((y < 4, flipped))
    # Both flips happen, with crops from the top and the bottom half: the flip does not follow
    # the crop (Compose.set_random_seed alone would give all children one seed and couple them).
    assert seen == {(True, True), (True, False), (False, True), (False, False)}

    pixels = random_rgb(50, 60)  # with a real resize as well: B identical to A stays identical
    for seed in range(8):
        seed_transform(transform, seed)
        out = transform(image=pixels, b=pixels.copy())
        assert torch.equal(out["image"], out["b"])


def test_seed_worker_seeds_python_and_numpy():
    torch.manual_seed(1234)
    seed_worker(0)
    got = (random.random(), np.random.rand())
    random.seed(1234)
    np.random.seed(1234)
    assert got == (random.random(), np.random.rand())


@pytest.fixture
def domains(tmp_path):
    for i in range(5):
        write(tmp_path / "A" / f"{i}.png", random_rgb(40, 48, seed=i))
    for i in range(3):
        write(tmp_path / "B" / f"{i}.png", random_rgb(44, 40, seed=10 + i))
    return tmp_path / "A", tmp_path / "B"


def _stack(loader) -> list[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    return [(batch["a"], batch["b"], batch["b_path"]) for batch in loader]


def test_unpaired_dataset_is_seeded_per_item(domains):
    root_a, root_b = domains
    data = UnpairedDataset(root_a, root_b, train_transform(32, 36), seed=7)
    assert len(data) == 5 and len(UnpairedDataset(root_b, root_a, train_transform(32, 36))) == 5
    first = [data[i] for i in range(5)]
    assert [item["a_path"] for item in first] == [str(root_a / f"{i}.png") for i in range(5)]
    assert all(item["b_path"].startswith(str(root_b)) for item in first)
    again = data[3]
    assert torch.equal(again["a"], first[3]["a"]) and torch.equal(again["b"], first[3]["b"])

    data.set_epoch(1)
    assert data.epoch == 1
    assert any(not torch.equal(data[i]["a"], first[i]["a"]) for i in range(5))
    data.set_epoch(0)
    assert torch.equal(data[3]["a"], first[3]["a"])
    other_seed = UnpairedDataset(root_a, root_b, train_transform(32, 36), seed=8)
    assert any(not torch.equal(other_seed[i]["a"], first[i]["a"]) for i in range(5))


def test_worker_count_does_not_change_batches(domains):
    data = UnpairedDataset(*domains, train_transform(32, 36), seed=3)
    serial = _stack(DataLoader(data, batch_size=2, num_workers=0))
    parallel = _stack(DataLoader(data, batch_size=2, num_workers=2, worker_init_fn=seed_worker))
    for (a0, b0, p0), (a1, b1, p1) in zip(serial, parallel, strict=True):
        assert torch.equal(a0, a1) and torch.equal(b0, b1) and p0 == p1

    # set_epoch reaches workers that persist between epochs.
    persistent = DataLoader(data, batch_size=2, num_workers=2, persistent_workers=True)
    epoch0 = _stack(persistent)
    data.set_epoch(1)
    epoch1 = _stack(persistent)
    expected1 = _stack(DataLoader(data, batch_size=2, num_workers=0))
    assert all(torch.equal(x[0], y[0]) for x, y in zip(epoch1, expected1, strict=True))
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(epoch0, epoch1, strict=True))
    assert all(torch.equal(x[0], y[0]) for x, y in zip(epoch0, serial, strict=True))


def test_paired_side_by_side_and_direction(tmp_path):
    for i in range(3):
        a = random_rgb(40, 40, seed=i)
        write_side_by_side(tmp_path / "train" / f"{i}.png", a, 255 - a)
    data = PairedDataset.from_side_by_side(tmp_path / "train", train_transform(32, 40, paired=True), seed=1)
    item = data[2]
    assert item["a"].shape == item["b"].shape == (3, 32, 32)
    assert torch.equal(item["b"], -item["a"])
    assert item["a_path"] == item["b_path"] == str(tmp_path / "train" / "2.png")

    plain = PairedDataset.from_side_by_side(tmp_path / "train")  # eval transform: whole halves
    expected = image_to_tensor(random_rgb(40, 40, seed=0))
    assert torch.equal(plain[0]["a"], expected)
    assert torch.equal(PairedDataset.from_side_by_side(tmp_path / "train", direction="b2a")[0]["b"], expected)
    with pytest.raises(ConfigError, match="direction"):
        PairedDataset.from_side_by_side(tmp_path / "train", direction="sideways")
    with pytest.raises(ValueError, match="paired transform"):
        PairedDataset.from_side_by_side(tmp_path / "train", train_transform(32, 40))


def test_side_by_side_odd_width_is_reported(tmp_path):
    for i in range(5):
        write(tmp_path / f"{i}.png", random_rgb(8, 9 if i else 10))
    with pytest.raises(DataError) as caught:
        PairedDataset.from_side_by_side(tmp_path)
    message = str(caught.value)
    assert message.startswith("4 side-by-side images with an odd width")
    assert f"{tmp_path / '1.png'} (9x8)" in message and message.endswith("and 1 more")


def test_paired_folders_pair_by_relative_path_and_stem(tmp_path):
    a0, a1 = random_rgb(36, 36, seed=1), random_rgb(36, 36, seed=2)
    write(tmp_path / "A" / "x" / "1.png", a0)
    write(tmp_path / "B" / "x" / "1.bmp", 255 - a0)
    write(tmp_path / "A" / "2.bmp", a1)
    write(tmp_path / "B" / "2.png", 255 - a1)
    data = PairedDataset.from_folders(tmp_path / "A", tmp_path / "B", train_transform(32, 36, paired=True))
    assert len(data) == 2
    item = data[1]
    assert item["a_path"].endswith("A/x/1.png") and item["b_path"].endswith("B/x/1.bmp")
    assert torch.equal(item["b"], -item["a"])
    swapped = PairedDataset.from_folders(tmp_path / "A", tmp_path / "B", direction="b2a")[1]
    assert swapped["a_path"].endswith("B/x/1.bmp")
    assert torch.equal(swapped["a"], image_to_tensor(255 - a0))


def test_paired_folders_report_missing_partners_and_sizes(tmp_path):
    pixels = random_rgb(8, 8)
    for name in ("1.png", "2.png", "3.png", "4.png", "5.png"):
        write(tmp_path / "A" / name, pixels)
    write(tmp_path / "B" / "1.png", pixels)
    write(tmp_path / "B" / "extra.png", pixels)
    with pytest.raises(DataError) as caught:
        PairedDataset.from_folders(tmp_path / "A", tmp_path / "B")
    message = str(caught.value)
    root_a, root_b = tmp_path / "A", tmp_path / "B"
    assert f"4 files in {root_a} without a partner in {root_b}: 2.png, 3.png, 4.png and 1 more" in message
    assert f"1 file in {root_b} without a partner in {root_a}: extra.png" in message

    write(tmp_path / "C" / "1.png", pixels)
    write(tmp_path / "D" / "1.jpg", random_rgb(8, 10))
    with pytest.raises(DataError, match=r"1 pair with different sizes .*1\.png \(8x8\) vs .*1\.jpg \(10x8\)"):
        PairedDataset.from_folders(tmp_path / "C", tmp_path / "D")

    write(tmp_path / "C" / "1.bmp", pixels)
    with pytest.raises(DataError, match="two images named '1'"):
        PairedDataset.from_folders(tmp_path / "C", tmp_path / "D")


# --- demo domains -----------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSLATE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(demo, "DEMO_COUNT", 6)  # the real 200 take a second per domain
    return tmp_path / "cache"


def test_make_domain_images_and_day_to_night():
    day = demo.make_domain_images(4, 32, seed=5)
    assert all(d.shape == (32, 32, 3) and d.dtype == np.uint8 for d in day)
    assert all((x == y).all() for x, y in zip(day, demo.make_domain_images(4, 32, seed=5), strict=True))
    night = demo.make_domain_images(4, 32, seed=5, mapping=demo.day_to_night)
    assert all((demo.day_to_night(d) == n).all() for d, n in zip(day, night, strict=True))
    stacked_day, stacked_night = np.stack(day).astype(float), np.stack(night).astype(float)
    assert stacked_night.mean() < 0.6 * stacked_day.mean()  # darker
    assert stacked_night[..., 2].mean() > stacked_night[..., 0].mean() + 20  # and bluer
    assert (demo.day_to_night(np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)) <= 255).all()


def test_demo_domains_are_deterministic_cached_and_unpaired(cache, tmp_path, monkeypatch):
    day = demo.demo_domain("demo-day")
    assert day == cache / "demo" / "demo-day"
    files = find_images(day)
    assert len(files) == 6 and load_image(files[0]).size == (demo.DEMO_SIZE, demo.DEMO_SIZE)
    assert sorted(p.name for p in (cache / "demo").iterdir()) == ["demo-day"]  # no temporaries

    monkeypatch.setenv("TRANSLATE_CACHE", str(tmp_path / "elsewhere"))
    again = demo.demo_domain("demo-day")
    assert [p.read_bytes() for p in find_images(again)] == [p.read_bytes() for p in files]

    monkeypatch.setattr(demo, "make_domain_images", _explode)
    assert demo.demo_domain("demo-day") == again  # cached: nothing is drawn again
    monkeypatch.undo()

    monkeypatch.setenv("TRANSLATE_CACHE", str(cache))
    monkeypatch.setattr(demo, "DEMO_COUNT", 6)
    night = find_images(demo.demo_domain("demo-night"))
    first_day, first_night = np.asarray(load_image(files[0])), np.asarray(load_image(night[0]))
    assert not (demo.day_to_night(first_day) == first_night).all()  # other scenes, not day mapped


def _explode(*args, **kwargs):
    raise AssertionError("drew the domain again")


def test_interrupted_generation_leaves_nothing(cache, monkeypatch):
    calls = []

    def failing_save(pixels, path):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(demo, "save_image", failing_save)
    with pytest.raises(KeyboardInterrupt):
        demo.demo_domain("demo-night")
    assert list((cache / "demo").iterdir()) == []


def test_domain_finished_by_another_process_is_used(cache, monkeypatch):
    target = cache / "demo" / "demo-day"
    real = demo.make_domain_images

    def racing(*args, **kwargs):
        target.mkdir(parents=True)
        (target / "0000.png").write_bytes(b"theirs")
        (target / ".complete").write_text(demo._VERSION)
        return real(*args, **kwargs)

    monkeypatch.setattr(demo, "make_domain_images", racing)
    assert demo.demo_domain("demo-day") == target
    assert (target / "0000.png").read_bytes() == b"theirs"
    assert sorted(p.name for p in (cache / "demo").iterdir()) == ["demo-day"]


def test_outdated_cache_is_redrawn(cache):
    target = cache / "demo" / "demo-day"
    target.mkdir(parents=True)
    (target / "0000.png").write_bytes(b"old")
    (target / ".complete").write_text("0")
    assert demo.demo_domain("demo-day") == target
    assert len(find_images(target)) == 6 and load_image(target / "0000.png").size == (128, 128)
    assert sorted(p.name for p in (cache / "demo").iterdir()) == ["demo-day"]


def test_resolve_domain(cache, tmp_path):
    (tmp_path / "mine").mkdir()
    assert resolve_domain(str(tmp_path / "mine")) == tmp_path / "mine"
    assert resolve_domain("demo-night") == cache / "demo" / "demo-night"
    with pytest.raises(DataError) as caught:
        resolve_domain("xyz")
    assert str(caught.value).startswith(
        "unknown domain 'xyz': no such folder, not a built-in domain (demo-day, demo-night) and not a catalog name"
    )
    (tmp_path / "one.png").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        resolve_domain(str(tmp_path / "one.png"))
