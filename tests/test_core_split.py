"""The CPU conversion's thread trial: keeps the faster thread count, skips slow networks, restores."""

from __future__ import annotations

import pytest
import torch

from translate.inference import core_split
from translate.inference.core_split import CoreSplit


class FakeClock:
    """Batches take `seconds[threads]` each, whatever the machine does."""

    def __init__(self, seconds: dict[int, float]) -> None:
        self.now, self.seconds = 0.0, seconds

    def perf_counter(self) -> float:
        return self.now

    def batch(self) -> None:
        self.now += self.seconds[torch.get_num_threads()]


@pytest.fixture()
def four_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(before)


def _run(monkeypatch, seconds: dict[int, float], batches: int) -> CoreSplit:
    clock = FakeClock(seconds)
    monkeypatch.setattr(core_split.time, "perf_counter", clock.perf_counter)
    split = CoreSplit(min_batches=4, min_seconds=0.5, slow_batch_seconds=1.0)
    for _ in range(batches):
        clock.batch()
        split.after_batch(8)
    return split


def test_keeps_half_the_cores_when_that_converts_faster(monkeypatch, four_threads):
    split = _run(monkeypatch, {4: 0.2, 2: 0.1}, batches=40)
    assert split.rates == [pytest.approx(40.0), pytest.approx(80.0)]
    assert split.chosen == 2 and torch.get_num_threads() == 2
    split.restore()
    assert torch.get_num_threads() == 4


@pytest.mark.parametrize("half_faster_by", [1.0, 1.04])
def test_keeps_every_core_unless_half_is_clearly_faster(monkeypatch, four_threads, half_faster_by):
    split = _run(monkeypatch, {4: 0.2, 2: 0.2 / half_faster_by}, batches=40)
    assert split.chosen == 4 and torch.get_num_threads() == 4


def test_a_slow_network_keeps_every_core_without_a_trial(monkeypatch, four_threads):
    split = _run(monkeypatch, {4: 2.0, 2: 1.0}, batches=10)
    assert split.rates == [] and split.chosen is None and torch.get_num_threads() == 4


def test_a_short_run_ends_mid_trial_and_restores(monkeypatch, four_threads):
    split = _run(monkeypatch, {4: 0.2, 2: 0.1}, batches=8)  # warm-up, probe, 4 batches on 4, 2 on 2
    assert split.chosen is None and torch.get_num_threads() == 2
    split.restore()
    assert torch.get_num_threads() == 4
