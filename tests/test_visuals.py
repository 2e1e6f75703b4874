import json

import numpy as np
import torch
from PIL import Image

from translate.engine.visuals import PAD, plot_losses, save_grid


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_grid_dimensions_without_and_with_labels(tmp_path):
    rows = [[torch.zeros(3, 16, 24) for _ in range(3)] for _ in range(2)]
    save_grid(rows, tmp_path / "plain.png")
    plain = read(tmp_path / "plain.png")
    assert plain.shape == (PAD + 2 * (16 + PAD), PAD + 3 * (24 + PAD), 3)

    save_grid(rows, tmp_path / "labelled.png", labels=["input", "output", "a very long target label"])
    labelled = read(tmp_path / "labelled.png")
    assert labelled.shape[1] == plain.shape[1]
    header = labelled.shape[0] - plain.shape[0]
    assert 5 < header < 40
    assert (labelled[:header] < 128).any()  # some text was drawn
    np.testing.assert_array_equal(labelled[header:], plain)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_value_mapping_and_clamping(tmp_path):
    img = torch.tensor([-1.0, 1.0, 0.0, -5.0, 5.0]).view(1, 1, 5).expand(3, 1, 5)
    save_grid([[img[None]]], tmp_path / "v.png")  # a 1xCHW tensor is accepted too
    cell = read(tmp_path / "v.png")[PAD : PAD + 1, PAD : PAD + 5]
    assert cell[0, :, 0].tolist() == [0, 255, 128, 0, 255]


def test_mixed_sizes_and_grayscale_line_up(tmp_path):
    lr = torch.tensor([[-1.0, 1.0], [1.0, -1.0]]).expand(3, 2, 2)  # a 2x2 checkerboard
    hr = torch.zeros(1, 8, 8)  # grayscale, 4x larger
    save_grid([[lr, hr], [lr, hr]], tmp_path / "sr.png")
    grid = read(tmp_path / "sr.png")
    assert grid.shape == (PAD + 2 * (8 + PAD), PAD + 2 * (8 + PAD), 3)
    up = grid[PAD : PAD + 8, PAD : PAD + 8, 0]
    expected = np.kron(np.array([[0, 255], [255, 0]]), np.ones((4, 4), dtype=int))
    np.testing.assert_array_equal(up, expected)  # nearest upscaling, no blur
    gray = grid[PAD : PAD + 8, 2 * PAD + 8 : 2 * PAD + 16]
    assert (gray == 128).all()


def write_log(path, lines):
    path.write_text("".join(lines))


def record(step, **losses):
    return json.dumps({"step": step, "epoch": 0, "time": 0.1 * step, "losses": losses}) + "\n"


def test_plot_losses_tolerates_truncated_last_line(tmp_path):
    log = tmp_path / "log.jsonl"
    lines = [record(s, G=1.0 / (s + 1), D_A=0.5 + 0.01 * s, D_B=float("nan")) for s in range(0, 200, 10)]
    write_log(log, lines + [record(200, G=0.1, D_A=0.2)[:25]])
    plot_losses(log, tmp_path / "losses.png")
    with Image.open(tmp_path / "losses.png") as png:
        assert png.format == "PNG"
        assert png.size[0] > 100 and png.size[1] > 100


def test_plot_losses_on_empty_or_missing_log_writes_nothing(tmp_path):
    log = tmp_path / "log.jsonl"
    write_log(log, [])
    plot_losses(log, tmp_path / "a.png")
    write_log(log, ['{"step": 1, "los'])
    plot_losses(log, tmp_path / "b.png")
    plot_losses(tmp_path / "missing.jsonl", tmp_path / "c.png")
    assert not list(tmp_path.glob("*.png"))


def test_resumed_run_replaces_points_past_the_checkpoint(tmp_path):
    from translate.run_folder import read_losses

    log = tmp_path / "log.jsonl"
    write_log(log, [record(s, G=1.0) for s in (10, 20, 30)] + [record(s, G=2.0) for s in (20, 30, 40)])
    steps, values = read_losses(log)["G"]
    assert steps == [10, 20, 30, 40]
    assert values == [1.0, 2.0, 2.0, 2.0]
