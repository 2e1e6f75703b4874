"""Mode collapse is seen in the sample grid (translate/engine/collapse.py) and reported once per column."""

from __future__ import annotations

import torch

from tests.helpers import tiny, train, write_domain
from translate.engine.collapse import collapsed_columns

TRANSLATIONS = {"A->B": "A"}


def _rows(inputs: torch.Tensor, outputs: torch.Tensor) -> list[list[torch.Tensor]]:
    return [[a, b] for a, b in zip(inputs, outputs, strict=True)]


def _photos(n: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 16, 16, generator=g) * 2 - 1


def test_one_textured_image_for_every_input_is_collapse():
    inputs = _photos()
    same = _photos(1, seed=7).expand(4, -1, -1, -1) + 0.001 * _photos(4, seed=8)  # one picture, a hair of noise
    ((label, spread),) = collapsed_columns(_rows(inputs, same), ["A", "A->B"], TRANSLATIONS)
    assert label == "A->B" and spread < 0.01


def test_outputs_that_follow_their_inputs_are_not_collapse():
    inputs = _photos()
    for outputs in (inputs, -inputs, inputs.flip(-1) * 0.5, torch.tanh(inputs * 3)):
        assert collapsed_columns(_rows(inputs, outputs), ["A", "A->B"], TRANSLATIONS) == []


def test_a_fresh_networks_near_blank_outputs_are_not_collapse():
    inputs = _photos()
    blank = 0.01 * torch.ones(4, 3, 16, 16) + 1e-4 * inputs  # barely depends on the input, but holds no picture
    assert collapsed_columns(_rows(inputs, blank), ["A", "A->B"], TRANSLATIONS) == []


def test_columns_of_other_sizes_and_unlisted_columns():
    lr = _photos()
    sr_collapsed = torch.nn.functional.interpolate(_photos(1, seed=3), scale_factor=2).expand(4, -1, -1, -1)
    rows = [[a, b] for a, b in zip(lr, sr_collapsed, strict=True)]
    assert [label for label, _ in collapsed_columns(rows, ["LR", "SR"], {"SR": "LR"})] == ["SR"]
    assert collapsed_columns(rows, ["LR", "SR"], {}) == []  # a method that lists nothing is not watched
    assert collapsed_columns(rows[:1], ["LR", "SR"], {"SR": "LR"}) == []  # one example: no spread to measure


def test_training_warns_once_when_the_generator_collapses(tmp_path, monkeypatch):
    """A real run whose generator is forced to ignore its input: the warning comes once, at the first grid."""
    from translate.methods.cyclegan import CycleGAN

    real_grid = CycleGAN.sample_grid

    def collapsed_grid(self, batch):
        rows, labels = real_grid(self, batch)
        for row in rows:
            row[1] = rows[0][0].clone()  # every A->B is the first example's A: one picture for every input
        return rows, labels

    monkeypatch.setattr(CycleGAN, "sample_grid", collapsed_grid)
    a, b = write_domain(tmp_path / "a", 4, 32, seed=1), write_domain(tmp_path / "b", 4, 32, seed=2)
    result = train("cyclegan", tmp_path / "run", "--a", a, "--b", b, *tiny("cyclegan"), "--steps", "4",
                   "--sample-every", "2")  # fmt: skip
    assert result.stderr.count("the A->B samples are nearly the same image") == 1, result.stderr
    assert "B->A" not in result.stderr
