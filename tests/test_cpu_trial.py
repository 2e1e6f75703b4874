"""The CPU conversion's trial: keeps the faster setting, tries chunking for slow networks, restores."""

from __future__ import annotations

import pytest
import torch

from translate.inference import cpu_trial
from translate.inference.cpu_trial import CpuTrial, Setting


class FakeClock:
    """The trial's clock, moved on by `_run` as each network run would take."""

    now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture()
def four_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(before)


def _run(monkeypatch, seconds: dict[Setting, float], batches: int, warm_up: dict | None = None) -> CpuTrial:
    """Batches of 8 images that take `seconds[setting]`, whole or one image at a time as the pipeline
    runs them; `warm_up`: extra seconds of a setting's first run (kernels built for a new shape)."""
    clock = FakeClock()
    monkeypatch.setattr(cpu_trial.time, "perf_counter", clock.perf_counter)
    trial = CpuTrial(min_runs=4, min_seconds=0.5, slow_run_seconds=1.0)
    seen: set[Setting] = set()
    for _ in range(batches):
        setting = trial.setting  # what the batch starts with
        assert torch.get_num_threads() == setting.threads
        runs = [8] if setting.whole_batches else [1] * 8
        for images in runs:
            with trial.timing(images):
                clock.now += seconds[setting] / len(runs)
                clock.now += (warm_up or {}).get(setting, 0.0) if setting not in seen else 0.0
                seen.add(setting)
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
def test_a_slow_network_tries_single_images_instead_within_two_batches(monkeypatch, four_threads, single_seconds, kept):
    # the first batch is the measurement of whole batches, the second runs as single images
    trial = _run(monkeypatch, {ALL: 2.0, SINGLE: single_seconds}, batches=2)
    assert trial.candidates == [ALL, SINGLE] and trial.chosen == kept
    assert trial.setting.whole_batches == kept.whole_batches and torch.get_num_threads() == 4


def test_the_first_single_image_only_warms_up(monkeypatch, four_threads):
    trial = _run(monkeypatch, {ALL: 2.0, SINGLE: 1.5}, batches=2, warm_up={ALL: 0.1, SINGLE: 10.0})
    assert trial.chosen == SINGLE and trial.rates == [pytest.approx(8 / 2.1), pytest.approx(8 / 1.5)]


def test_the_first_run_of_a_fast_network_only_warms_up(monkeypatch, four_threads):
    trial = _run(monkeypatch, {ALL: 0.2, HALF: 0.1}, batches=40, warm_up={ALL: 0.7})
    assert trial.candidates == [ALL, HALF] and trial.rates == [pytest.approx(40.0), pytest.approx(80.0)]


def test_a_short_run_ends_mid_trial_and_restores(monkeypatch, four_threads):
    trial = _run(monkeypatch, {ALL: 0.2, HALF: 0.1}, batches=8)  # warm-up, 4 batches on 4 threads, 3 on 2
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
