"""DiscoGAN really learns: trained UNPAIRED through the real engine on landscapes and OTHER
landscapes with their colours inverted, its A->B generator must land far closer to the true
mapping (inversion) than the identity (returning the image unchanged) does.

Inversion rather than the demo's day-to-night: DiscoGAN's 4x4-bottleneck encoder-decoder blurs,
which puts a floor of about 0.13 under its error at this size and length; day-to-night's identity
error (0.27) leaves too little room above that floor for a robust check, inversion's (0.39) does.
Tiny on purpose (width 8, 150 steps of 8 images at 64x64, both updates on every batch, no GAN
curriculum): about 30 s of one CPU core. Run on one thread, so the numbers do not depend on the
machine's core count and an oversubscribed machine does not stall OpenMP. Reproduce with:
    .venv/bin/pytest -q -s tests/test_discogan_learning.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

from tests.helpers import write_domain
from translate.config import DiscoGANConfig
from translate.data.demo import make_domain_images
from translate.data.images import image_to_tensor
from translate.engine.trainer import Trainer
from translate.methods.discogan import DiscoGAN

SIZE = 64  # DiscoGAN's own size: its networks take 64x64 (or 128x128) only


def invert(rgb: np.ndarray) -> np.ndarray:
    return 255 - rgb


def test_discogan_learns_colour_inversion_unpaired(tmp_path, one_thread):
    a = write_domain(tmp_path / "a", 200, SIZE, seed=1)
    b = write_domain(tmp_path / "b", 200, SIZE, seed=2, mapping=invert)  # other scenes: unpaired
    config = DiscoGANConfig(
        a=str(a), b=str(b), out=tmp_path / "run", width=8, batch_size=8, steps=150, lr=2e-3,
        update_interval=1, gan_curriculum=0, default_rate=0.5, workers=0, sample_every=10**6, save_every=10**6,
    )  # fmt: skip
    started = time.perf_counter()
    trainer = Trainer(config, DiscoGAN)
    trainer.fit()
    seconds = time.perf_counter() - started

    g_ab = trainer.method.unwrap(trainer.method.g_ab).eval()  # as `translate convert` runs it
    held_out = make_domain_images(32, SIZE, seed=99)
    x = torch.stack([image_to_tensor(image) for image in held_out])
    target = torch.stack([image_to_tensor(invert(image)) for image in held_out])
    with torch.no_grad():
        model_error = (g_ab(x) - target).abs().mean().item() / 2  # / 2: on [0, 1] pixels
    identity_error = (x - target).abs().mean().item() / 2
    ratio = model_error / identity_error
    print(
        f"\nDiscoGAN A->inverted mean abs error on 32 held-out scenes ([0, 1] pixels): model {model_error:.4f}, "
        f"identity {identity_error:.4f}, ratio {ratio:.3f}; trained in {seconds:.0f} s"
    )
    assert ratio < 0.5
