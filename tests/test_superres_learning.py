"""Does SRResNet actually learn? A small x2 model trained on real photos through the real engine, with the
default settings (bicubic skip with a zero last conv, orthogonal init, the paper's learning rate:
docs/DEFAULTS.md), must beat bicubic upscaling (Y-PSNR, the benchmark convention) on photos it has never
seen, after 400 steps.

Width 16 and 4 blocks keep it to about a minute of one CPU core; measured with tools/measure_defaults.py
(three seeds): +0.90 to +1.02 dB. The paper's width 64 and 16 blocks reach +1.2 dB in the same 400 steps
but take ~12 CPU minutes. The photos ship with scikit-image (no download). Run alone, with its numbers:
    .venv/bin/pytest -q -s -m slow tests/test_superres_learning.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TRAIN = ("astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "coins", "camera", "brick", "grass")
HELD_OUT = ("coffee", "rocket")
HR_SIZE, BATCH = 32, 16
MARGIN = 0.7  # dB over bicubic; measured +0.90 to +1.02 (and the untrained model is bicubic: +0.00)


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
    from translate.evaluation.sr import evaluate_sr
    from translate.methods.srgan import SRResNetMethod

    train, held_out = write_photos(TRAIN, tmp_path / "train"), write_photos(HELD_OUT, tmp_path / "held_out")
    config = SRResNetConfig(  # the defaults (skip, zero last conv, learning rate, init) on a small net
        hr=str(train),
        out=tmp_path / "run",
        scale=2,
        hr_size=HR_SIZE,
        batch_size=BATCH,
        width=16,
        blocks=4,
        steps=400,
        crops_per_image=64,
        workers=0,
        save_every=10**6,
        sample_every=10**6,
        log_every=100,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small net: steady on a busy machine
    try:
        torch.manual_seed(0)
        models = Trainer(config, SRResNetMethod).fit()
        evaluation = evaluate_sr(models / "sr", held_out, tile=0, device="cpu")
    finally:
        torch.set_num_threads(threads)
    for scores in evaluation.images:
        print(f"{scores.name}: SRResNet {scores.psnr_y:.2f} dB, bicubic {scores.bicubic_psnr_y:.2f} dB (Y-PSNR)")
    mean = evaluation.mean()
    margin = mean["psnr_y"] - mean["bicubic_psnr_y"]
    print(f"held-out mean Y-PSNR: SRResNet {mean['psnr_y']:.2f} dB, bicubic {mean['bicubic_psnr_y']:.2f} dB")
    print(f"margin {margin:+.2f} dB")
    assert margin > MARGIN
