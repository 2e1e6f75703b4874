"""CUT and FastCUT really learn: trained UNPAIRED on day scenes and night scenes related by a known
per-pixel colour mapping (translate.data.demo.day_to_night), the generator must land far closer to the
true night version of held-out day scenes than the identity (the day image unchanged) does.

Tiny networks at 32 px, the methods' own defaults but the sizes, the number of patches and the
learning rate (2e-3: hundreds of steps instead of an epoch schedule). FastCUT's PatchNCE weighs ten
times CUT's and has no identity term to say what B looks like, so it moves away from its input more
slowly: it gets more steps, and runs with the slow tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers import write_domain
from translate.config import CUTConfig, FastCUTConfig
from translate.data.demo import day_to_night, make_domain_images
from translate.data.images import image_to_tensor
from translate.engine.trainer import Trainer
from translate.methods.cut import CUT

SIZE = 32


def errors_after_training(tmp_path: Path, cls: type[CUTConfig], steps: int) -> tuple[float, float]:
    """(model, identity) mean L1 to the true night version of 20 held-out day scenes."""
    a = write_domain(tmp_path / "day", 40, SIZE, seed=1)
    b = write_domain(tmp_path / "night", 40, SIZE, seed=2, mapping=day_to_night)  # other scenes: unpaired
    config = cls(
        a=str(a), b=str(b), out=tmp_path / "run", size=SIZE, load_size=SIZE, generator="resnet6", ngf=8, ndf=8,
        batch_size=4, num_patches=64, nce_mlp_width=64, steps=steps, lr=2e-3, workers=0,
        sample_every=10**6, save_every=10**6,
    )  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: one thread is as fast, and steady on a busy machine
    try:
        trainer = Trainer(config, CUT)
        trainer.fit()
    finally:
        torch.set_num_threads(threads)

    g = trainer.method.unwrap(trainer.method.g).eval()
    held_out = make_domain_images(20, SIZE, seed=3)
    model_error = identity_error = 0.0
    with torch.no_grad():
        for day in held_out:
            x, target = image_to_tensor(day)[None], image_to_tensor(day_to_night(day))[None]
            model_error += (g(x) - target).abs().mean().item() / len(held_out)
            identity_error += (x - target).abs().mean().item() / len(held_out)
    print(f"\n{cls.method} day->night L1 on held-out scenes: model {model_error:.4f}, identity {identity_error:.4f}")
    return model_error, identity_error


def test_cut_learns_day_to_night_unpaired(tmp_path):
    model_error, identity_error = errors_after_training(tmp_path, CUTConfig, steps=250)
    assert model_error < 0.5 * identity_error  # measured: 0.31 to 0.43 of it (seeds 0 to 3)


@pytest.mark.slow
def test_fastcut_learns_day_to_night_unpaired(tmp_path):
    model_error, identity_error = errors_after_training(tmp_path, FastCUTConfig, steps=800)
    assert model_error < 0.6 * identity_error  # measured: 0.30 and 0.42 of it (seeds 1 and 0)
