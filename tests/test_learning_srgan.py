"""Does SRResNet actually learn? A small x2 model trained on real photos through the real engine must
beat bicubic upscaling (Y-PSNR, the benchmark convention) on photos it has never seen.

The photos ship with scikit-image (no download). Run alone, with its numbers:
    .venv/bin/pytest -q -s -m slow tests/test_learning_srgan.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TRAIN = ("astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "coins", "camera", "brick", "grass")
HELD_OUT = ("coffee", "rocket")


def write_photos(names: tuple[str, ...], folder: Path) -> Path:
    import skimage.data

    folder.mkdir(parents=True)
    for name in names:
        pixels = getattr(skimage.data, name)()
        if pixels.ndim == 2:  # greyscale photos count as RGB ones
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        Image.fromarray(pixels).save(folder / f"{name}.png", compress_level=1)  # quick to decode
    return folder


@pytest.mark.slow
def test_srresnet_beats_bicubic_on_held_out_photos(tmp_path):
    pytest.importorskip("skimage")
    import torch

    from translate.config import SRResNetConfig
    from translate.engine.trainer import Trainer
    from translate.methods.srgan import SRResNetMethod
    from translate.metrics.evaluate_sr import evaluate_sr

    train, held_out = write_photos(TRAIN, tmp_path / "train"), write_photos(HELD_OUT, tmp_path / "held_out")
    config = SRResNetConfig(
        hr=str(train),
        out=tmp_path / "run",
        scale=2,
        hr_size=32,
        width=16,
        blocks=2,
        batch_size=16,
        lr=2e-3,  # the paper's 1e-4 is for 10^6 steps; this run has 1500
        steps=1500,
        crops_per_image=64,
        workers=0,
        save_every=10**6,
        sample_every=10**6,
        log_every=100,
    )
    torch.manual_seed(0)
    models = Trainer(config, SRResNetMethod).fit()
    evaluation = evaluate_sr(models / "sr", held_out, tile=0)
    for scores in evaluation.images:
        print(f"{scores.name}: SRResNet {scores.psnr_y:.2f} dB, bicubic {scores.bicubic_psnr_y:.2f} dB (Y-PSNR)")
    mean = evaluation.mean()
    margin = mean["psnr_y"] - mean["bicubic_psnr_y"]
    print(f"held-out mean Y-PSNR: SRResNet {mean['psnr_y']:.2f} dB, bicubic {mean['bicubic_psnr_y']:.2f} dB")
    print(f"margin {margin:+.2f} dB")
    assert margin > 0.1  # measured: +0.30 dB (31.74 vs 31.45) in about 100 s on 2 CPU cores
