"""Pretrained reference generators by name: download (from a local file URL), verify, convert to
safetensors, then use the name as a model; and the errors a user meets offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import TINY_GENERATOR, cli, random_generator, tiny, train, write_domain
from translate import pretrained
from translate.data.images import load_image
from translate.nets.builders import build_generator


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TRANSLATE_WEIGHTS", str(tmp_path / "weights"))
    return tmp_path / "weights"


def publish(tmp_path: Path, monkeypatch, sha256: str | None = None, url: str | None = None) -> torch.nn.Module:
    """A tiny generator saved as the reference code saves one (a plain state dict in a .pth),
    entered in the manifest as 'tiny2x' and served from a file:// URL."""
    net = random_generator(TINY_GENERATOR)
    source = tmp_path / "upstream" / "tiny2x.pth"
    source.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), source)
    entry = pretrained.Pretrained("tiny2x", "cyclegan", url or source.as_uri(), "a test", TINY_GENERATOR, 1, sha256)
    monkeypatch.setitem(pretrained.MANIFEST, "tiny2x", entry)
    return net


def test_download_stores_a_model_that_converts_like_the_original(root, tmp_path, monkeypatch):
    net = publish(tmp_path, monkeypatch)
    result = cli("weights", "download", "tiny2x")
    assert result.exit_code == 0, result.output + result.stderr
    assert "not in the manifest, so unverified" in result.output
    folder = root / "tiny2x"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert not (root / "tiny2x.pth").exists()  # converted, then removed
    spec = json.loads((folder / "config.json").read_text())
    assert spec["generator"] == TINY_GENERATOR and spec["method"] == "cyclegan" and spec["source"].startswith("file:")

    images = write_domain(tmp_path / "in", 2, 32, seed=3)
    converted = cli("convert", "--model", "tiny2x", "--input", images, "--output", tmp_path / "out")
    assert converted.exit_code == 0, converted.output + converted.stderr
    image = np.asarray(load_image(images / "000.png"), dtype=np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(image).permute(2, 0, 1)[None] / 127.5 - 1)[0]
    expected = np.rint((expected.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255)
    got = np.asarray(load_image(tmp_path / "out" / "000.png"), dtype=np.float32)
    assert np.abs(got - expected).max() <= 1  # PNG rounding only

    again = cli("weights", "download", "tiny2x")
    assert again.exit_code == 0 and "already in" in again.output


def test_a_name_works_for_init_too(root, tmp_path, monkeypatch):
    publish(tmp_path, monkeypatch)
    assert cli("weights", "download", "tiny2x").exit_code == 0
    a, b = write_domain(tmp_path / "a", 4, 32, seed=1), write_domain(tmp_path / "b", 4, 32, seed=2)
    options = tiny("cyclegan", batch_size=None, log_every=None, steps=1)
    result = train("cyclegan", tmp_path / "run", "--a", a, "--b", b, *options, "--init", "tiny2x")
    assert "Initialised a2b from" in result.output


def test_checksum_mismatch_deletes_the_download(root, tmp_path, monkeypatch):
    publish(tmp_path, monkeypatch, sha256="0" * 64)
    result = cli("weights", "download", "tiny2x")
    assert result.exit_code == 2
    assert "does not match the manifest" in result.stderr and "deleted" in result.stderr
    assert not any(root.rglob("*.pth*")) and not (root / "tiny2x").exists()


def test_offline_errors_say_where_to_put_the_file(root, tmp_path, monkeypatch):
    publish(tmp_path, monkeypatch, url="http://127.0.0.1:9/tiny2x.pth")  # nothing listens on port 9
    unreachable = cli("weights", "download", "tiny2x")
    assert unreachable.exit_code == 2
    assert f"put tiny2x.pth into {root}/ by hand" in unreachable.stderr
    images = write_domain(tmp_path / "in", 1, 32, seed=3)
    missing = cli("convert", "--model", "tiny2x", "--input", images, "--output", tmp_path / "out")
    assert missing.exit_code == 2
    assert missing.stderr.strip().splitlines() == [
        "Error: pretrained model 'tiny2x' is not downloaded: run `translate weights download tiny2x` to fetch "
        f"http://127.0.0.1:9/tiny2x.pth (~1 MB), or put tiny2x.pth into {root}/ by hand and run that command offline"
    ]


def test_a_file_put_by_hand_is_used_offline(root, tmp_path, monkeypatch):
    publish(tmp_path, monkeypatch)
    root.mkdir()
    (root / "tiny2x.pth").write_bytes((tmp_path / "upstream" / "tiny2x.pth").read_bytes())
    monkeypatch.setitem(
        pretrained.MANIFEST, "tiny2x", pretrained.MANIFEST["tiny2x"].__class__(
            "tiny2x", "cyclegan", "http://127.0.0.1:9/tiny2x.pth", "a test", TINY_GENERATOR, 1)
    )  # fmt: skip
    result = cli("weights", "download", "tiny2x")
    assert result.exit_code == 0, result.stderr
    assert pretrained.is_installed(pretrained.MANIFEST["tiny2x"], root)


def test_a_pickle_that_is_not_a_state_dict_is_refused(root, tmp_path, monkeypatch):
    """weights_only loading: a .pth that would run code when unpickled is an error, never executed."""
    publish(tmp_path, monkeypatch)
    evil = tmp_path / "upstream" / "tiny2x.pth"
    torch.save({"payload": Path("/")}, evil)  # an arbitrary object: weights_only refuses it
    result = cli("weights", "download", "tiny2x")
    assert result.exit_code == 2
    assert "is not a resnet6 generator state dict" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (root / "tiny2x").exists()


def test_unknown_names_suggest_close_ones(root):
    result = cli("weights", "download", "horse2zebr")
    assert result.exit_code == 2 and "did you mean horse2zebra" in result.stderr


def test_the_manifest_describes_buildable_generators():
    for entry in pretrained.MANIFEST.values():
        assert entry.url.startswith("https://efrosgans.eecs.berkeley.edu/") and entry.url.endswith(".pth")
        assert entry.method in ("cyclegan", "pix2pix") and entry.size_mb > 0
        build_generator(**(entry.generator | {"ngf": 4}))  # the architecture exists (narrow, to stay quick)
