"""FID / KID: the statistics agree with independent computations and closed forms, the evaluation
translates and scores end to end with an injected extractor, and the Inception weights are never
downloaded behind the user's back nor unpickled unsafely."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch_fidelity")
scipy_linalg = pytest.importorskip("scipy.linalg")

from tests.helpers import cli, write_domain  # noqa: E402
from translate.errors import ConfigError, DataError  # noqa: E402
from translate.evaluation import features as feature_extraction  # noqa: E402
from translate.evaluation.features import image_features  # noqa: E402
from translate.metrics import distribution  # noqa: E402
from translate.metrics.distribution import fid, kid  # noqa: E402

URL_NAME = "weights-inception-2015-12-05-6726825d.pth"


class HistogramFeatures:
    """A tiny deterministic extractor: per-channel 8-bin histograms, means and standard deviations."""

    name = "test colour histograms"

    def __init__(self) -> None:
        self.batches: list[tuple[int, ...]] = []

    def __call__(self, images: np.ndarray) -> np.ndarray:
        assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[1] == 3
        self.batches.append(images.shape)
        rows = []
        for image in images.astype(np.float64):
            hist = [np.histogram(c, bins=8, range=(0, 256))[0] / c.size for c in image]
            rows.append(np.concatenate([*hist, image.mean(axis=(1, 2)) / 255, image.std(axis=(1, 2)) / 255]))
        return np.stack(rows)


def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy_linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(u, v) = (u.v / d + 1)^3, summed pair by pair."""
    d, m, n = x.shape[1], len(x), len(y)

    def k(u, v):
        return (float(np.dot(u, v)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


@pytest.fixture(scope="module")
def features() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(0.5, 1.5, size=(40, 6)) @ rng.normal(size=(6, 6))
    return a, b


def test_fid_agrees_with_scipy_sqrtm(features):
    a, b = features
    expected = reference_fid(a, b)
    assert expected > 1.0
    assert fid(a, b) == pytest.approx(expected, abs=1e-3)
    assert fid(a[:25], b) == pytest.approx(reference_fid(a[:25], b), abs=1e-3)  # sets of different sizes


def test_kid_over_whole_sets_is_the_unbiased_mmd(features):
    a, b = features
    mean, std = kid(a, b, subset_size=len(a))  # every subset is the whole set, shuffled
    assert mean == pytest.approx(reference_mmd2(a, b), abs=1e-3)
    assert mean > 0.1 and std < 1e-9


def test_kid_subsets(features):
    a, b = features
    mean, std = kid(a, b[:30])  # the subset size falls back to the smaller set's 30
    assert std > 0 and mean == pytest.approx(reference_mmd2(a, b[:30]), rel=0.2)
    assert kid(a, b[:30], subset_size=10) != kid(a, b[:30], subset_size=10, seed=1)
    assert distribution.kid_subset_size(5000, 3000) == 1000
    with pytest.raises(ConfigError, match="between 2 and"):
        kid(a, b[:30], subset_size=31)
    with pytest.raises(DataError, match="at least 2 images"):
        fid(a[:1], b)


def test_a_set_against_itself():
    rng = np.random.default_rng(2)
    a, shifted = rng.normal(size=(1000, 6)), rng.normal(0.3, 1.0, size=(1000, 6))
    assert abs(fid(a, a)) < 1e-6 and fid(a, shifted) > 0.3
    same, std = kid(a, a, subset_size=100)  # two subsets of one set, drawn apart: nearly independent samples
    different, _ = kid(a, shifted, subset_size=100)
    assert abs(same) < 0.1 * different and abs(same) < std


def test_gaussians_with_a_closed_form_fid():
    rng = np.random.default_rng(1)
    d, n, s = 4, 20000, 2.0
    mu1, mu2 = np.zeros(d), np.array([1.0, -0.5, 0.0, 2.0])
    a = rng.normal(mu1, 1.0, size=(n, d))
    b = rng.normal(mu2, s, size=(n, d))
    expected = np.sum((mu1 - mu2) ** 2) + d * (1 - s) ** 2  # 5.25 + 4
    assert fid(a, b) == pytest.approx(expected, rel=0.03)


def test_features_of_mixed_sizes_keep_their_order(tmp_path):
    small = write_domain(tmp_path / "small", 3, 32, seed=1)
    large = write_domain(tmp_path / "large", 2, 48, seed=2)
    paths = [small / "000.png", large / "000.png", small / "001.png", large / "001.png", small / "002.png"]
    extractor = HistogramFeatures()
    got = image_features(paths, extractor, batch_size=2)
    assert sorted(extractor.batches) == [(1, 3, 32, 32), (2, 3, 32, 32), (2, 3, 48, 48)]
    for path, row in zip(paths, got, strict=True):
        np.testing.assert_allclose(row, image_features([path], HistogramFeatures())[0])


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("domains")
    return write_domain(root / "a", 8, 32, seed=1), write_domain(root / "b", 10, 32, seed=2)


def test_evaluate_unpaired_end_to_end(tiny_model, domains, tmp_path, capsys):
    from translate.data.folders import find_images
    from translate.evaluation.report import print_table, write_json
    from translate.evaluation.unpaired import evaluate_unpaired
    from translate.inference.runner import convert_folder

    inputs, targets = domains
    evaluation = evaluate_unpaired(tiny_model, inputs, targets, device="cpu", extractor=HistogramFeatures())
    (row,) = evaluation.images
    assert (evaluation.n_input, evaluation.n_target, evaluation.kid_subset_size) == (8, 10, 8)

    # The same numbers computed independently: translations made here, features of each folder.
    convert_folder(tiny_model, inputs, tmp_path / "out", device="cpu")
    feats = {k: image_features(find_images(p), HistogramFeatures()) for k, p in
             {"out": tmp_path / "out", "in": inputs, "target": targets}.items()}  # fmt: skip
    assert row.fid == pytest.approx(fid(feats["out"], feats["target"]))
    assert row.input_fid == pytest.approx(fid(feats["in"], feats["target"]))
    assert row.input_kid == pytest.approx(kid(feats["in"], feats["target"], 8)[0])
    # An untrained generator is far worse than changing nothing between two sets of landscapes.
    assert row.fid > 3 * row.input_fid and row.kid > row.input_kid

    assert evaluation.mean() == pytest.approx({k: getattr(row, k) for k in evaluation.mean()})
    write_json(evaluation, tmp_path / "scores.json")
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved["mean"]["fid"] == pytest.approx(row.fid) and saved["features"] == HistogramFeatures.name
    print_table(evaluation)
    assert "input FID" in capsys.readouterr().out


def test_cli_offline_without_weights(tiny_model, domains, tmp_path, monkeypatch):
    import torch

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    inputs, targets = domains
    result = cli("evaluate", "unpaired", "--model", tiny_model, "--input", inputs, "--target", targets)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    cache = tmp_path / "torch" / "hub" / "checkpoints" / URL_NAME
    assert str(cache) in lines[0] and f"/releases/download/v0.2.0/{URL_NAME}" in lines[0]
    assert "--inception-weights" in lines[0] and "Traceback" not in result.output

    result = cli("evaluate", "unpaired", "--model", tiny_model, "--input", inputs, "--target", targets,
                 "--inception-weights", tmp_path / "nope.pth")  # fmt: skip
    assert result.exit_code == 2 and "nope.pth does not exist" in result.stderr


def test_weights_file_is_never_unpickled(tmp_path):
    import torch

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    torch.save({"fc.weight": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(ConfigError, match="not torch-fidelity's Inception weights"):
        feature_extraction.InceptionFeatures(tmp_path / "evil.pth", device="cpu")
    assert not (tmp_path / "pwned").exists()


def test_inception_from_the_cache_loads_weights_only(tmp_path, monkeypatch):
    """A plain state dict in torch-fidelity's cache is found, loaded safely, and gives 2048-d features
    for images of any size (stand-in random weights: the real file is not downloaded in tests)."""
    import torch
    from torch_fidelity import feature_extractor_inceptionv3 as module

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    with monkeypatch.context() as patch:  # build the network once without weights, to save its layout
        patch.setattr(module, "load_state_dict_from_url", lambda *args, **kwargs: None)
        patch.setattr(module.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        state = module.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    cached = tmp_path / "torch" / "hub" / "checkpoints" / URL_NAME
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    extractor = feature_extraction.InceptionFeatures(device="cpu")
    images = np.random.default_rng(0).integers(0, 256, size=(1, 3, 24, 40), dtype=np.uint8)
    features = extractor(images)
    assert features.shape == (1, 2048) and features.dtype == np.float64 and np.isfinite(features).all()


def test_cli_scores_and_json(tiny_model, domains, tmp_path, monkeypatch):
    monkeypatch.setattr(feature_extraction, "InceptionFeatures", lambda weights, device: HistogramFeatures())
    inputs, targets = domains
    result = cli("evaluate", "unpaired", "--model", tiny_model, "--input", inputs, "--target", targets,
                 "--device", "cpu", "--json", tmp_path / "s.json")  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "s.json").read_text())
    assert set(saved["mean"]) == {"fid", "kid", "kid_std", "input_fid", "input_kid", "input_kid_std"}
    assert saved["mean"]["fid"] > saved["mean"]["input_fid"] > 0
