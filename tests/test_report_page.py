"""`translate report RUN`: the page of a real (tiny) run holds what it should, embedded, and a run
with parts missing still gives a page that says what is missing."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import add_evaluations, cli, make_run, save_tiny_model, write_domain
from translate.data.images import save_image
from translate.report_page import data_uri, pick_grids, read_evaluations, training_examples
from translate.run_folder import find_models


class Page(HTMLParser):
    """The parts of the page the tests look at."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.svg_ids: list[str] = []
        self.svg_text: dict[str, list[str]] = {}
        self.table_headers: list[str] = []
        self.best_step: str | None = None
        self._svg: str | None = None
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.urls += [attrs[k] for k in ("src", "href") if k in attrs]
        if tag == "img":
            self.images.append(attrs)
        if tag == "svg" and "id" in attrs:
            self.svg_ids.append(attrs["id"])
            self._svg = attrs["id"]
        self._in.append(attrs.get("id") or tag)

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None
        if self._in:
            self._in.pop()

    def handle_data(self, data):
        if self._svg and self._in and self._in[-1] == "text":
            self.svg_text.setdefault(self._svg, []).append(data.strip())
        if self._in and self._in[-1] == "best-step":
            self.best_step = data
        if self._in and self._in[-1] == "th":
            self.table_headers.append(data)


def decode(uri: str) -> Image.Image:
    match = re.fullmatch(r"data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)", uri)
    assert match, uri[:60]
    image = Image.open(io.BytesIO(base64.b64decode(match.group(2))))
    image.load()
    assert image.format.lower() == match.group(1)
    return image


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("report"))


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A private copy of the trained run, which a test may add to."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


@pytest.mark.e2e
def test_page_of_a_finished_run_embeds_plots_grids_and_translations(run):
    add_evaluations(run, best_step=2)
    result = cli("report", run)
    assert result.exit_code == 0, result.output
    path = run / "report.html"
    assert f"Report: {path}" in result.output
    text = path.read_text(encoding="ascii")  # everything beyond ASCII is a character reference
    page = Page(text)

    # Self-contained: every image is a data URI that decodes, nothing refers to the network.
    assert page.images and all(decode(img["src"]).width > 0 for img in page.images)
    assert not [u for u in page.urls if re.match(r"\s*(https?:)?//", u, re.I)]
    assert "http://" not in text and "https://" not in text

    # One loss panel per loss of log.jsonl, one metric panel per metric, the best step marked.
    logged = json.loads((run / "log.jsonl").read_text().splitlines()[-1])["losses"]
    assert {"loss-plot", "metric-plot"} <= set(page.svg_ids)
    assert set(logged) <= set(page.svg_text["loss-plot"])
    assert any(t.startswith("l1 (lower is better, decides best)") for t in page.svg_text["metric-plot"])
    assert any(t.startswith("psnr (higher is better") for t in page.svg_text["metric-plot"])
    assert page.best_step == "step 2"
    assert "<th>latest checkpoint</th><td>step-00000004</td>" in text
    assert "best: step 2" in page.table_headers and "last: step 4" in page.table_headers

    # Every grid of samples/, in step order.
    grids = [img["alt"] for img in page.images if img["alt"].startswith("sample grid")]
    steps = sorted(int(p.stem.split("-")[1]) for p in (run / "samples").glob("step-*.png"))
    assert grids == [f"sample grid at step {s}" for s in steps] and len(steps) == 2

    # Four training images per exported model; a2b also by its best model, b2a has none.
    assert page.table_headers.count("input") == 2
    assert "final model (step 4)" in page.table_headers and page.table_headers.count("best model (step 2)") == 1
    cells = [img for img in page.images if not img["alt"].startswith("sample grid")]
    assert len(cells) == 4 * 3 + 4 * 2  # a2b: input, final, best; b2a: input, final
    assert {decode(img["src"]).size for img in cells} == {(32, 32)}  # at the training size


@pytest.mark.e2e
def test_held_out_images_with_targets_show_a_target_column_and_psnr(run):
    a, b = write_domain(run.parent / "a", 3, 40, seed=5), write_domain(run.parent / "b", 3, 40, seed=6)
    out = run.parent / "page.html"
    result = cli("report", run, "--images", a, "--targets", b, "--count", "2", "--model", "a2b", "--out", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    page = Page(text)
    assert page.table_headers.count("target") == 1  # the a2b model only
    cells = [img["alt"] for img in page.images if not img["alt"].startswith("sample grid")]
    assert cells == [
        f"{what} {name}" for name in ("000", "002") for what in ("input", "final model (step 4):", "target")
    ]
    assert len(re.findall(r"<div>PSNR \d+\.\d\d dB</div>", text)) == 2  # under each output
    assert "--images" in text and "training data" not in text


@pytest.mark.e2e
def test_a_run_with_nothing_yet_says_what_is_missing(run):
    for name in ("samples", "models", "checkpoints"):
        shutil.rmtree(run / name)
    (run / "log.jsonl").write_text("")
    (run / "losses.png").unlink()
    result = cli("report", run)
    assert result.exit_code == 0, result.output
    text = (run / "report.html").read_text()
    page = Page(text)
    assert page.images == [] and page.svg_ids == []
    assert "No losses logged yet" in text
    assert "No evaluations" in text
    assert "No sample grids yet" in text
    assert "No exported models" in text
    assert "cyclegan" in text and "lambda_cycle" in page.table_headers  # the settings are still there


def test_user_mistakes_exit_2_with_one_line(tmp_path):
    assert "does not exist" in cli("report", tmp_path / "nowhere").output
    (tmp_path / "empty").mkdir()
    result = cli("report", tmp_path / "empty")
    assert result.exit_code == 2 and "not a run folder" in result.output
    (tmp_path / "empty" / "config.yaml").write_text("method: cyclegan\n")
    result = cli("report", tmp_path / "empty", "--targets", tmp_path)
    assert result.exit_code == 2 and "--targets needs --images" in result.output
    result = cli("report", tmp_path / "empty", "--count", "0")
    assert result.exit_code == 2 and "--count" in result.output
    result = cli("report", tmp_path / "empty", "--model", "a2b")
    assert result.exit_code == 2 and "no such exported model" in result.output


def test_best_step_from_the_metrics_when_no_best_model_is_exported(tmp_path):
    lines = [
        {"step": 10, "metrics": {"psnr": 20.0, "fid": 90.0}, "best": "psnr", "lower_is_better": False},
        {"step": 20, "metrics": {"psnr": 23.0, "fid": 80.0}, "best": "psnr", "lower_is_better": False},
        {"step": 30, "metrics": {"psnr": 25.0, "fid": 70.0}, "best": "psnr", "lower_is_better": False},
        {"step": 20, "metrics": {"psnr": 22.0, "fid": 85.0}, "best": "psnr", "lower_is_better": False},  # resumed
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 30, "metr')  # torn last line
    found = read_evaluations(path)
    assert found.steps == [10, 20] and found.values[1]["psnr"] == 22.0
    assert found.deciding == "psnr" and found.lower_is_better is False and found.best_step == 20
    assert read_evaluations(path, best_model_step=10).best_step == 10  # the exported best model wins
    assert read_evaluations(tmp_path / "none.jsonl").best_step is None


def test_models_and_both_layouts_of_the_best_model(tmp_path):
    for name in ("a2b", "b2a", "best/a2b"):
        (tmp_path / "m1" / name).mkdir(parents=True)
        (tmp_path / "m1" / name / "config.json").write_text("{}")
    final, best = find_models(tmp_path / "m1")
    assert sorted(final) == ["a2b", "b2a"] and best == {"a2b": tmp_path / "m1" / "best" / "a2b"}
    for name, spec in (("a2b", {}), ("b2a", {}), ("best", {"direction": "b2a", "step": 7})):
        (tmp_path / "m2" / name).mkdir(parents=True)
        (tmp_path / "m2" / name / "config.json").write_text(json.dumps(spec))
    assert find_models(tmp_path / "m2")[1] == {"b2a": tmp_path / "m2" / "best"}
    assert find_models(tmp_path / "missing") == ({}, {})


def test_long_runs_show_twelve_evenly_spaced_grids_plus_the_last():
    grids = [(step, Path(f"step-{step:08d}.png")) for step in range(100, 5100, 100)]  # 50 grids
    shown = [step for step, _ in pick_grids(grids)]
    assert len(shown) == 13 and shown[0] == 100 and shown[-2:] == [4900, 5000]
    gaps = np.diff(shown[:-1])
    assert gaps.max() - gaps.min() <= 100  # evenly spaced
    assert pick_grids(grids[:13]) == grids[:13]


def test_embedded_images_are_bounded():
    wide = decode(data_uri(Image.new("RGB", (3000, 60), (10, 200, 30))))
    assert wide.size == (1024, 20) and wide.format == "PNG"
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (600, 600, 3), dtype=np.uint8))
    assert decode(data_uri(noise)).format == "JPEG"  # its PNG would be about 1 MB


def test_training_examples_for_side_by_side_pairs_and_super_resolution(tmp_path):
    pair = np.zeros((40, 80, 3), np.uint8)
    pair[:, :40] = (255, 0, 0)  # A: red
    pair[:, 40:] = (0, 0, 255)  # B: blue
    save_image(pair, tmp_path / "pairs" / "1.png")
    examples, source = training_examples(
        {"method": "pix2pix", "direction": "b2a"}, {"data": str(tmp_path / "pairs")}, 4
    )
    assert "side-by-side" in source and len(examples) == 1
    assert examples[0].input.getpixel((5, 5)) == (0, 0, 255) and examples[0].target.getpixel((5, 5)) == (255, 0, 0)

    save_image(np.full((100, 90, 3), 128, np.uint8), tmp_path / "hr" / "x.png")
    examples, _ = training_examples({"method": "srresnet", "scale": 4}, {"hr": str(tmp_path / "hr")}, 4)
    assert examples[0].target.size == (88, 88) and examples[0].input.size == (22, 22)


def test_super_resolution_run_shows_low_res_input_upscaled_output_and_hr_target(tmp_path):
    """An SR model upscales: its column is `scale` times the input's, next to the HR image."""
    hr = write_domain(tmp_path / "hr", 2, 48, seed=3)
    run = tmp_path / "sr-run"
    generator = {"name": "srresnet", "in_channels": 3, "out_channels": 3, "scale": 2, "width": 8, "n_blocks": 1}
    save_tiny_model(run / "models" / "sr", generator, method="srresnet", scale=2)
    (run / "config.yaml").write_text(f"method: srresnet\nhr: {hr}\nscale: 2\n")
    result = cli("report", run)
    assert result.exit_code == 0, result.output
    page = Page((run / "report.html").read_text())
    assert page.table_headers[-3:] == ["input", "final model", "target"]  # no log: no step is known
    sizes = [decode(img["src"]).size for img in page.images]
    assert sizes == [(24, 24), (48, 48), (48, 48)] * 2
