"""The CPU conversion's trial: keeps the faster setting, tries chunking for slow networks, restores."""

from __future__ import annotations

import pytest
import torch

from translate.inference import cpu_trial
from translate.inference.cpu_trial import CpuTrial, Setting


class FakeClock:
    """The trial's clock, moved on by `_run` as each batch would take."""

    now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture()
def four_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(before)


def _run(monkeypatch, seconds: dict[Setting, float], batches: int, first_time: float = 0.0) -> CpuTrial:
    """`first_time`: extra seconds the first batch of each setting takes (kernels built for new shapes)."""
    clock = FakeClock()
    monkeypatch.setattr(cpu_trial.time, "perf_counter", clock.perf_counter)
    trial = CpuTrial(min_batches=4, min_seconds=0.5, slow_batch_seconds=1.0)
    seen: set[Setting] = set()
    for _ in range(batches):
        assert torch.get_num_threads() == trial.setting.threads  # what the next batch runs with
        clock.now += seconds[trial.setting] + (first_time if trial.setting not in seen else 0.0)
        seen.add(trial.setting)
        trial.after_batch(8)
    return trial


ALL, HALF, SINGLE = Setting(4), Setting(2), Setting(4, whole_batches=False)


def test_a_fast_network_keeps_half_the_cores_when_that_converts_faster(monkeypatch, four_threads):
    trial = _run(monkeypatch, {ALL: 0.2, HALF: 0.1}, batches=40)
    assert trial.candidates == [ALL, HALF]
    assert trial.rates == [pytest.approx(40.0), pytest.approx(80.0)]
    assert trial.chosen == HALF and torch.get_num_threads() == 2
    trial.restore()
    assert torch.get_num_threads() == 4


@pytest.mark.parametrize("half_faster_by", [1.0, 1.04])
def test_every_core_is_kept_unless_half_is_clearly_faster(monkeypatch, four_threads, half_faster_by):
    trial = _run(monkeypatch, {ALL: 0.2, HALF: 0.2 / half_faster_by}, batches=40)
    assert trial.chosen == ALL and torch.get_num_threads() == 4


@pytest.mark.parametrize(("single_seconds", "kept"), [(1.5, SINGLE), (2.5, ALL)])
def test_a_slow_network_tries_single_images_instead(monkeypatch, four_threads, single_seconds, kept):
    # warm-up, probe on ALL, a batch to warm SINGLE up, one measured on SINGLE
    trial = _run(monkeypatch, {ALL: 2.0, SINGLE: single_seconds}, batches=4)
    assert trial.candidates == [ALL, SINGLE] and trial.chosen == kept
    assert trial.setting.whole_batches == kept.whole_batches and torch.get_num_threads() == 4


def test_the_first_batch_of_single_images_only_warms_up(monkeypatch, four_threads):
    trial = _run(monkeypatch, {ALL: 2.0, SINGLE: 1.5}, batches=4, first_time=10.0)
    assert trial.chosen == SINGLE and trial.rates == [pytest.approx(4.0), pytest.approx(8 / 1.5)]


def test_a_short_run_ends_mid_trial_and_restores(monkeypatch, four_threads):
    trial = _run(monkeypatch, {ALL: 0.2, HALF: 0.1}, batches=8)  # warm-up, probe, 4 batches on 4, 2 on 2
    assert trial.chosen is None and torch.get_num_threads() == 2
    trial.restore()
    assert torch.get_num_threads() == 4


def test_one_core_has_nothing_to_split(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trial = _run(monkeypatch, {Setting(1): 0.1}, batches=10)
        assert trial.chosen == Setting(1) and trial.rates == []
    finally:
        torch.set_num_threads(before)
