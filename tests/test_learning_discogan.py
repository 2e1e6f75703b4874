"""DiscoGAN really learns: trained UNPAIRED through the real engine on day scenes and other night
scenes related by a known per-pixel colour mapping, its A->B generator must land far closer to the
true mapping than the identity (returning the day image unchanged) does.

Tiny on purpose (width 8, 250 steps of 8 images at 64x64, both updates on every batch, no GAN
curriculum) so it runs in well under a minute of CPU. Reproduce with the numbers printed:
    .venv/bin/pytest -q -s tests/test_learning_discogan.py
"""

from __future__ import annotations

import time

import torch

from tests.helpers import write_domain
from translate.config import DiscoGANConfig
from translate.data.demo import day_to_night, make_domain_images
from translate.data.images import image_to_tensor
from translate.engine.trainer import Trainer
from translate.methods.discogan import DiscoGAN

SIZE = 64  # DiscoGAN's own size: its networks take 64x64 (or 128x128) only


def test_discogan_learns_day_to_night_unpaired(tmp_path):
    a = write_domain(tmp_path / "day", 200, SIZE, seed=1)
    b = write_domain(tmp_path / "night", 200, SIZE, seed=2, mapping=day_to_night)  # other scenes: unpaired
    config = DiscoGANConfig(
        a=str(a), b=str(b), out=tmp_path / "run", width=8, batch_size=8, steps=250, lr=2e-3,
        update_interval=1, gan_curriculum=0, default_rate=0.5, workers=0, sample_every=10**6, save_every=10**6,
    )  # fmt: skip
    started = time.perf_counter()
    trainer = Trainer(config, DiscoGAN)
    trainer.fit()
    seconds = time.perf_counter() - started

    g_ab = trainer.method.unwrap(trainer.method.g_ab).eval()  # as `translate convert` runs it
    held_out = make_domain_images(32, SIZE, seed=99)
    x = torch.stack([image_to_tensor(day) for day in held_out])
    target = torch.stack([image_to_tensor(day_to_night(day)) for day in held_out])
    with torch.no_grad():
        model_error = (g_ab(x) - target).abs().mean().item() / 2  # / 2: on [0, 1] pixels
    identity_error = (x - target).abs().mean().item() / 2
    ratio = model_error / identity_error
    print(
        f"\nDiscoGAN day->night mean abs error on 32 held-out scenes ([0, 1] pixels): model {model_error:.4f}, "
        f"identity {identity_error:.4f}, ratio {ratio:.3f}; trained in {seconds:.0f} s"
    )
    assert ratio < 0.5
