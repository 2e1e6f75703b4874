"""How much does the shared engine cost? CycleGAN steps/s through `Trainer` vs a bare PyTorch loop.

Both run the same networks, losses and data; the bare loop has no Accelerate, no per-item seeding,
no logging, no progress and no checkpoints. The ratio (engine / bare) is the figure to report: it
does not depend on the machine's speed.

    python tools/bench_engine.py --steps 60 --size 64 --ngf 16
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from translate.config import CycleGANConfig
from translate.data.demo import day_to_night, make_domain_images
from translate.data.images import image_to_tensor, save_image
from translate.engine.trainer import Trainer
from translate.losses import GANLoss
from translate.methods.cyclegan import CycleGAN
from translate.nets.builders import build_discriminator, build_generator


def bare_loop(images_a: list[torch.Tensor], images_b: list[torch.Tensor], steps: int, args) -> float:
    """The textbook CycleGAN step (identity, cycle, LSGAN, no pool), timed over `steps` batches."""
    g_ab, g_ba = (build_generator("resnet6", ngf=args.ngf) for _ in range(2))
    d_a, d_b = (build_discriminator(ndf=args.ngf) for _ in range(2))
    opt_g = torch.optim.Adam(itertools.chain(g_ab.parameters(), g_ba.parameters()), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), 2e-4, betas=(0.5, 0.999))
    gan = GANLoss("lsgan")
    a_all, b_all = torch.stack(images_a), torch.stack(images_b)
    start = 0.0
    for step in range(steps + args.warmup):
        if step == args.warmup:
            start = time.perf_counter()
        index = torch.randint(len(a_all), (args.batch_size,))
        a, b = a_all[index], b_all[index]
        d_a.requires_grad_(False), d_b.requires_grad_(False)
        fake_b, fake_a = g_ab(a), g_ba(b)
        loss = gan.generator_loss(d_b(fake_b)) + gan.generator_loss(d_a(fake_a))
        loss = loss + 10 * (F.l1_loss(g_ba(fake_b), a) + F.l1_loss(g_ab(fake_a), b))
        loss = loss + 5 * (F.l1_loss(g_ba(a), a) + F.l1_loss(g_ab(b), b))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        d_a.requires_grad_(True), d_b.requires_grad_(True)
        loss_d = gan.discriminator_loss(d_a(a), d_a(fake_a.detach())) + gan.discriminator_loss(
            d_b(b), d_b(fake_b.detach())
        )
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    return steps / (time.perf_counter() - start)


def engine_loop(a: Path, b: Path, out: Path, steps: int, args) -> float:
    config = CycleGANConfig(
        a=str(a), b=str(b), out=out, size=args.size, load_size=args.size, generator="resnet6", ngf=args.ngf,
        ndf=args.ngf, batch_size=args.batch_size, steps=steps + args.warmup, workers=args.workers,
        sample_every=10**9, save_every=10**9, log_every=10,
    )  # fmt: skip
    trainer = Trainer(config, CycleGAN)
    times: list[float] = []
    original = trainer.method.train_step

    def timed(batch):
        times.append(time.perf_counter())
        return original(batch)

    trainer.method.train_step = timed
    trainer.fit()
    times.append(time.perf_counter())  # ~end of the last step (fit adds export after the loop)
    measured = times[args.warmup :]
    return (len(measured) - 1) / (measured[-1] - measured[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        days = make_domain_images(64, args.size, seed=1)
        nights = make_domain_images(64, args.size, seed=2, mapping=day_to_night)
        for name, images in (("a", days), ("b", nights)):
            for i, image in enumerate(images):
                save_image(image, root / name / f"{i:03d}.png")
        bare = bare_loop([image_to_tensor(x) for x in days], [image_to_tensor(x) for x in nights], args.steps, args)
        engine = engine_loop(root / "a", root / "b", root / "run", args.steps, args)
    print(f"bare loop:  {bare:.2f} steps/s")
    print(f"engine:     {engine:.2f} steps/s")
    print(f"engine / bare = {engine / bare:.2f}  (1.00 = no overhead)")


if __name__ == "__main__":
    main()
