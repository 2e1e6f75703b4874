"""CycleGAN really learns: trained UNPAIRED on day scenes and night scenes that are related by a
known per-pixel colour mapping, its A->B generator must land far closer to the true mapping than
the identity (returning the day image unchanged) does."""

from __future__ import annotations

from tests.helpers import day_and_night, day_to_night_errors, fit_on_one_thread
from translate.config import CycleGANConfig
from translate.methods.cyclegan import CycleGAN


def test_cyclegan_learns_day_to_night_unpaired(tmp_path):
    size = 32
    a, b = day_and_night(tmp_path, 40, size)
    config = CycleGANConfig(
        a=str(a), b=str(b), out=tmp_path / "run", size=size, load_size=size, generator="resnet6",
        ngf=8, ndf=8, batch_size=4, steps=250, lr=2e-3, workers=0, sample_every=10**6, save_every=10**6,
    )  # fmt: skip
    trainer = fit_on_one_thread(config, CycleGAN)  # default --init-type: orthogonal (docs/DEFAULTS.md)
    g_ab = trainer.method.unwrap(trainer.method.g_ab).eval()
    model_error, identity_error = day_to_night_errors(g_ab, size)
    print(f"\nCycleGAN day->night L1 on held-out scenes: model {model_error:.4f}, identity {identity_error:.4f}")
    assert model_error < 0.4 * identity_error
