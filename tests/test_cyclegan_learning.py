"""CycleGAN really learns: trained UNPAIRED on day scenes and night scenes that are related by a
known per-pixel colour mapping, its A->B generator must land far closer to the true mapping than
the identity (returning the day image unchanged) does."""

from __future__ import annotations

import torch

from tests.helpers import write_domain
from translate.config import CycleGANConfig
from translate.data.demo import day_to_night, make_domain_images
from translate.data.images import image_to_tensor
from translate.engine.trainer import Trainer
from translate.methods.cyclegan import CycleGAN


def test_cyclegan_learns_day_to_night_unpaired(tmp_path):
    size = 32
    a = write_domain(tmp_path / "day", 40, size, seed=1)
    b = write_domain(tmp_path / "night", 40, size, seed=2, mapping=day_to_night)  # other scenes: unpaired
    config = CycleGANConfig(
        a=str(a), b=str(b), out=tmp_path / "run", size=size, load_size=size, generator="resnet6",
        ngf=8, ndf=8, batch_size=4, steps=250, lr=2e-3, workers=0, sample_every=10**6, save_every=10**6,
    )  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: one thread is as fast, and steady on a busy machine
    try:
        trainer = Trainer(config, CycleGAN)  # default --init-type: xavier (docs/DEFAULTS.md)
        trainer.fit()
    finally:
        torch.set_num_threads(threads)

    g_ab = trainer.method.unwrap(trainer.method.g_ab).eval()
    held_out = make_domain_images(20, size, seed=3)
    model_error = identity_error = 0.0
    with torch.no_grad():
        for day in held_out:
            x, target = image_to_tensor(day)[None], image_to_tensor(day_to_night(day))[None]
            model_error += (g_ab(x) - target).abs().mean().item() / len(held_out)
            identity_error += (x - target).abs().mean().item() / len(held_out)
    print(f"\nCycleGAN day->night L1 on held-out scenes: model {model_error:.4f}, identity {identity_error:.4f}")
    assert model_error < 0.4 * identity_error
