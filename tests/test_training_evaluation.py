"""Evaluation while training (--eval-every, --eval-a/--eval-b): metrics.jsonl, models/best, resume,
the scorer each method and folder layout gets, option errors, and the TensorBoard tracker."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import cli, one_line_error, tiny, train, write_domain
from translate.config import CycleGANConfig
from translate.data.demo import day_to_night
from translate.engine import evaluation
from translate.report_page import read_evaluations
from translate.run_folder import find_models

TINY = tiny("cyclegan", sample_every=1000, decay_from=1.0)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def paired(tmp_path_factory) -> tuple[Path, Path]:
    """A and B with the same names: pairs for pix2pix, and name-paired held-out folders for any method."""
    root = tmp_path_factory.mktemp("paired")
    return write_domain(root / "a", 4, 32, seed=1), write_domain(root / "b", 4, 32, seed=1, mapping=day_to_night)


@pytest.fixture(scope="module")
def unpaired(tmp_path_factory) -> tuple[Path, Path]:
    """4 A images and 3 B images: their names do not pair."""
    root = tmp_path_factory.mktemp("unpaired")
    return write_domain(root / "a", 4, 32, seed=3), write_domain(root / "b", 3, 32, seed=4, mapping=day_to_night)


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory) -> Path:
    return write_domain(tmp_path_factory.mktemp("sr") / "hr", 3, 40, seed=5)


def pix2pix(paired, out: Path, *extra: str | Path):
    a, b = paired
    return train("pix2pix", out, "--a", a, "--b", b, *TINY, "--eval-a", a, "--eval-b", b, *extra)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def spec(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


@pytest.fixture
def scripted(monkeypatch):
    """The paired scorer returns the given L1 values in turn instead of measuring."""

    def script(*values: float) -> None:
        sequence = iter(values)

        def score(self, model: Path, device: str) -> dict[str, float]:
            l1 = next(sequence)
            return {"l1": l1, "psnr_rgb": 20.0 - l1, "ssim_y": 1.0 - l1}

        monkeypatch.setattr(evaluation.PairedScorer, "__call__", score)

    return script


@pytest.mark.e2e
def test_scripted_metric_keeps_the_best_step_and_converts(paired, scripted, tmp_path):
    scripted(0.5, 0.2, 0.4)
    run = tmp_path / "run"
    result = pix2pix(paired, run, "--steps", "6", "--eval-every", "2", "--report-to", "none")
    lines = records(run)
    assert [r["step"] for r in lines] == [2, 4, 6]
    assert [r["metrics"]["l1"] for r in lines] == [0.5, 0.2, 0.4]
    assert all(r["best"] == "l1" and r["lower_is_better"] is True for r in lines)
    assert set(lines[0]) == {"step", "metrics", "best", "lower_is_better"}
    best = spec(run / "models" / "best")
    assert best["step"] == 4 and best["metric"] == "l1" and best["metrics"]["l1"] == 0.2
    assert "Best:     step 4 (l1 0.2)" in result.output and str(run / "models" / "best") in result.output
    assert not (run / "tensorboard").exists()
    evaluations = read_evaluations(run / "metrics.jsonl", best["step"])
    assert evaluations.best_step == 4 and evaluations.deciding == "l1"
    # the run's final model is still what `--model RUN` converts with; the best one by its own path
    assert set(find_models(run / "models")[1]) == {"a2b"}
    converted = tmp_path / "converted"
    done = cli("convert", "--model", run / "models" / "best", "--input", paired[0], "--output", converted)
    assert done.exit_code == 0, done.output + (done.stderr or "")
    assert len(list(converted.glob("*.png"))) == 4
    assert cli("convert", "--model", run, "--input", paired[0], "--output", tmp_path / "final").exit_code == 0


def test_resume_drops_later_lines_and_keeps_a_better_best(paired, scripted, tmp_path):
    run = tmp_path / "run"
    options = ("--steps", "6", "--eval-every", "2", "--save-every", "2", "--keep-checkpoints", "3")
    scripted(0.1, 0.5, 0.6)
    pix2pix(paired, run, *options, "--report-to", "none")
    assert spec(run / "models" / "best")["step"] == 2
    for step in (4, 6):  # as if the run had died right after its step-2 checkpoint
        shutil.rmtree(run / "checkpoints" / f"step-{step:08d}")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 8, "metr')  # and a torn last line
    scripted(0.3, 0.2)  # both worse than step 2's 0.1, which only the kept line remembers
    pix2pix(paired, run, *options, "--resume", "--report-to", "none")
    lines = records(run)
    assert [(r["step"], r["metrics"]["l1"]) for r in lines] == [(2, 0.1), (4, 0.3), (6, 0.2)]
    assert spec(run / "models" / "best")["step"] == 2


def test_pix2pix_paired_scores_are_measured(paired, tmp_path):
    run = tmp_path / "run"
    pix2pix(paired, run, "--steps", "2", "--direction", "b2a", "--report-to", "none")  # at the end only
    (line,) = records(run)
    assert line["step"] == 2 and line["best"] == "l1" and line["lower_is_better"] is True
    metrics = line["metrics"]
    for name in ("l1", "psnr_rgb", "ssim_y", "input_l1", "input_psnr_rgb", "input_ssim_y"):
        assert math.isfinite(metrics[name]), name
    assert 0 <= metrics["l1"] <= 1 and -1 <= metrics["ssim_y"] <= 1
    assert spec(run / "models" / "best")["direction"] == "b2a"


def test_cyclegan_with_name_paired_folders_is_scored_by_pairs(paired, tmp_path):
    a, b = paired
    run = tmp_path / "run"
    extra = ("--steps", "2", "--eval-every", "1", "--eval-a", a, "--eval-b", b, "--report-to", "none")
    train("cyclegan", run, "--a", a, "--b", b, *TINY, *extra)
    lines = records(run)
    assert [r["step"] for r in lines] == [1, 2] and all(math.isfinite(r["metrics"]["l1"]) for r in lines)
    final, best = find_models(run / "models")
    assert set(final) == set(best) == {"a2b", "b2a"}  # several generators: a folder each in models/best
    best_step = spec(best["a2b"])["step"]
    assert spec(best["b2a"])["step"] == best_step in (1, 2)


def test_super_resolution_needs_only_hr_images(hr_folder, tmp_path):
    run = tmp_path / "run"
    extra = ("--steps", "2", "--eval-every", "2", "--eval-b", hr_folder, "--report-to", "none")
    train("srresnet", run, "--hr", hr_folder, *tiny("srresnet"), *extra)
    (line,) = records(run)
    assert line["best"] == "psnr_y" and line["lower_is_better"] is False
    for name in ("psnr_y", "ssim_y", "psnr_rgb", "bicubic_psnr_y", "bicubic_ssim_y"):
        assert math.isfinite(line["metrics"][name]), name
    best = spec(run / "models" / "best")
    assert best["step"] == 2 and best["method"] == "srresnet" and best["scale"] == 2


def test_unpaired_folders_without_inception_weights_use_the_proxy(unpaired, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))  # no cached Inception weights
    a, b = unpaired
    run = tmp_path / "run"
    extra = ("--steps", "2", "--eval-a", a, "--eval-b", b, "--report-to", "none")
    train("cyclegan", run, "--a", a, "--b", b, *TINY, *extra)
    (line,) = records(run)
    assert line["best"] == "proxy_color_hist_l1" and line["lower_is_better"] is True
    assert set(line["metrics"]) == {"proxy_color_hist_l1", "input_proxy_color_hist_l1"}
    assert all(0 <= v <= 2 for v in line["metrics"].values())
    assert "proxy_color_hist_l1" in CycleGANConfig.__dataclass_fields__["eval_a"].metadata["help"]
    assert "proxy_color_hist_l1" in (Path(__file__).parents[1] / "README.md").read_text()


def test_color_histogram_proxy_is_zero_for_the_same_colours_and_two_for_disjoint_ones(tmp_path):
    dark = write_domain(tmp_path / "dark", 2, 16, seed=0, mapping=lambda x: np.zeros_like(x))
    light = write_domain(tmp_path / "light", 2, 16, seed=0, mapping=lambda x: np.full_like(x, 255))
    paths = sorted(dark.glob("*.png"))
    same = evaluation.color_histograms(paths)
    assert evaluation.histogram_distance(same, same) == 0
    other = evaluation.color_histograms(sorted(light.glob("*.png")))
    assert evaluation.histogram_distance(same, other) == pytest.approx(2.0)


class TinyFeatures:
    """Stands in for Inception: mean red and blue of each image."""

    name = "tiny test features"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return images[:, [0, 2]].astype(np.float64).mean(axis=(2, 3))


def test_unpaired_folders_with_inception_features_use_fid_and_kid(unpaired, tmp_path, monkeypatch):
    pytest.importorskip("torch_fidelity")
    monkeypatch.setattr(evaluation, "inception_features", lambda device: TinyFeatures())
    a, b = unpaired
    run = tmp_path / "run"
    extra = ("--steps", "1", "--eval-a", a, "--eval-b", b, "--report-to", "none")
    train("cyclegan", run, "--a", a, "--b", b, *TINY, *extra)
    (line,) = records(run)
    assert line["best"] == "fid" and line["lower_is_better"] is True
    assert {"fid", "kid", "kid_std", "input_fid", "input_kid"} <= set(line["metrics"])


@pytest.mark.parametrize(
    ("method", "options", "fragment"),
    [
        ("cyclegan", ("--eval-every", "0", "--eval-a", "A", "--eval-b", "B"), "--eval-every must be at least 1"),
        ("cyclegan", ("--eval-every", "5"), "--eval-every needs held-out images for evaluation: --eval-a DIR and"),
        ("cyclegan", ("--eval-a", "A"), "--eval-a needs held-out images for evaluation"),
        ("cyclegan", ("--eval-a", "A", "--eval-b", "missing"), "--eval-b missing is not a folder"),
        ("srresnet", ("--eval-every", "5"), "--eval-every needs held-out images for evaluation: --eval-b DIR"),
        ("srresnet", ("--eval-a", "A", "--eval-b", "B"), "--eval-a is not used by super-resolution"),
    ],
)
def test_bad_evaluation_options_are_one_line(unpaired, tmp_path, monkeypatch, method, options, fragment):
    a, b = unpaired
    monkeypatch.chdir(a.parent)  # "A" and "B" below are folders that exist
    Path("A").mkdir(exist_ok=True)
    Path("B").mkdir(exist_ok=True)
    data = ("--hr", b) if method == "srresnet" else ("--a", a, "--b", b)
    message = one_line_error(cli("train", method, *data, "--out", tmp_path / "run", *options))
    assert fragment in message
    assert not (tmp_path / "run").exists()


def test_missing_tracker_package_and_unknown_tracker_are_refused(unpaired, tmp_path):
    a, b = unpaired
    data = ("--a", a, "--b", b, "--out", tmp_path / "run")
    unknown = cli("train", "cyclegan", *data, "--report-to", "mlflow")
    assert unknown.exit_code == 2 and "mlflow" in unknown.output + unknown.stderr
    try:
        import wandb  # noqa: F401
    except ImportError:
        message = one_line_error(cli("train", "cyclegan", *data, "--report-to", "wandb"))
        assert "needs the wandb package" in message


def test_pix2pix_held_out_folders_must_pair(unpaired, tmp_path, paired):
    a, b = paired
    held_out = ("--eval-a", unpaired[0], "--eval-b", unpaired[1])
    result = train("pix2pix", tmp_path / "run", "--a", a, "--b", b, *TINY, "--steps", "1", *held_out, check=False)
    message = one_line_error(result)
    assert "without a partner" in message


@pytest.mark.e2e
def test_tensorboard_gets_losses_metrics_and_grids_and_the_report_reads_the_run(paired, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    pix2pix(paired, run, "--steps", "2", "--eval-every", "1", "--sample-every", "2", "--report-to", "tensorboard")
    assert list((run / "tensorboard" / "translate").glob("events.out.tfevents.*"))
    logs = EventAccumulator(str(run / "tensorboard" / "translate"), size_guidance={"images": 0})
    logs.Reload()
    tags = logs.Tags()
    assert {"loss/G_l1", "eval/l1", "eval/psnr_rgb"} <= set(tags["scalars"]) and "samples" in tags["images"]
    assert [e.step for e in logs.Scalars("eval/l1")] == [1, 2]
    report = cli("report", run)
    assert report.exit_code == 0, report.output + (report.stderr or "")
    page = (run / "report.html").read_text()
    assert 'id="best-step"' in page
