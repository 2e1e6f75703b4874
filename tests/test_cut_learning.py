"""CUT and FastCUT really learn: trained UNPAIRED on day scenes and night scenes related by a known
per-pixel colour mapping (translate.data.demo.day_to_night), the generator must land far closer to the
true night version of held-out day scenes than the identity (the day image unchanged) does.

Tiny networks at 32 px, the methods' own defaults but the sizes, the number of patches and the
learning rate (2e-3: hundreds of steps instead of an epoch schedule). FastCUT's PatchNCE weighs ten
times CUT's and has no identity term to say what B looks like, so it moves away from its input more
slowly and less surely: it gets more steps and three seeds, and runs with the slow tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import day_and_night, day_to_night_errors, fit_on_one_thread
from translate.config import CUTConfig, FastCUTConfig
from translate.methods.cut import CUT

SIZE = 32


def errors_after_training(
    tmp_path: Path, cls: type[CUTConfig], steps: int, lr: float = 2e-3, seed: int = 0
) -> tuple[float, float]:
    """(model, identity) mean L1 to the true night version of 20 held-out day scenes."""
    a, b = day_and_night(tmp_path, 40, SIZE)
    config = cls(
        a=str(a), b=str(b), out=tmp_path / "run", size=SIZE, load_size=SIZE, generator="resnet6", ngf=8, ndf=8,
        batch_size=4, num_patches=64, nce_mlp_width=64, steps=steps, lr=lr, workers=0,
        sample_every=10**6, save_every=10**6, seed=seed,
    )  # fmt: skip
    trainer = fit_on_one_thread(config, CUT)
    model_error, identity_error = day_to_night_errors(trainer.method.unwrap(trainer.method.g).eval(), SIZE)
    print(f"\n{cls.method} day->night L1 on held-out scenes: model {model_error:.4f}, identity {identity_error:.4f}")
    return model_error, identity_error


def test_cut_learns_day_to_night_unpaired(tmp_path):
    model_error, identity_error = errors_after_training(tmp_path, CUTConfig, steps=250)
    assert model_error < 0.5 * identity_error  # measured: 0.31 to 0.43 of it (seeds 0 to 3)


@pytest.mark.slow
def test_fastcut_learns_day_to_night_unpaired(tmp_path):
    """Two of three seeds. At this size FastCUT is seed- and CPU-sensitive: at lr 2e-3 one seed gave 0.30
    of the identity's error on one CPU and 0.66 on another (AVX-512 EPYC; seeds 1 and 2 there: 0.92,
    0.34). At lr 1e-3 on that EPYC: 0.81, 0.24, 0.25 (seeds 0 to 2): one seed stays near its input."""
    ratios = sorted(
        model / identity
        for seed in range(3)
        for model, identity in [errors_after_training(tmp_path / str(seed), FastCUTConfig, 800, lr=1e-3, seed=seed)]
    )
    assert ratios[1] < 0.5, ratios
