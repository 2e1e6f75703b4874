"""pix2pix (Isola et al., CVPR 2017): paired translation, a U-Net generator and a conditional PatchGAN.

The discriminator sees the input and an output side by side (6 channels), so it judges whether the
output fits *this* input; the L1 term (weight 100) pulls the output towards the target at low
frequencies and leaves the GAN to add the sharp detail. As in the reference code: vanilla GAN loss,
batch norm, dropout in the generator as its noise source, no image pool, and each step updates D
first, then G against the updated D.

Inference: by default the generator converts in eval mode (dropout off, batch norm on its running
statistics). The reference test.py without `--eval` keeps the whole net in train mode instead
(dropout on, batch norm on each image's own statistics), which only matches training at batch size
1 and was measured worse at batch size 1 as well as 4 (docs/DEFAULTS.md: 0.145 and 0.171 of the
identity's L1 against 0.126 and 0.138 in eval mode); `--no-eval-mode` keeps it available. Exported
models record `eval_mode`, and `translate convert` honours it; the sample grids of a run show what
conversion will give.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from translate.config import Pix2PixConfig
from translate.data.datasets import PairedDataset
from translate.data.domains import resolve_domain
from translate.data.transforms import train_transform
from translate.losses import GANLoss
from translate.methods.base import (
    Losses,
    Method,
    SampleGrid,
    adam,
    full_discriminator_loss,
    generator_spec,
    init_options,
    patch_discriminator,
    per_image_norm,
    set_requires_grad,
)
from translate.nets.builders import build_generator


class Pix2Pix(Method):
    network_names = ("g", "d")
    grid_translations = {"output": "input"}
    config: Pix2PixConfig

    def __init__(self, config: Pix2PixConfig, accelerator) -> None:
        super().__init__(config, accelerator)
        self.g = build_generator(**generator_spec(config, dropout=config.dropout), **init_options(config))
        # Conditional: D sees cat(input, output), so input_nc + output_nc channels (3 + 3 for RGB).
        self.d = patch_discriminator(config, in_channels=config.input_nc + config.output_nc)
        self.gan_loss = GANLoss(config.gan_loss)
        self.batch_d = config.batch_passes and per_image_norm(config.d_norm or config.norm)  # real and fake at once

    def build_dataset(self) -> Dataset:
        c = self.config
        transform = train_transform(c.size, c.load_size, flip=c.flip, paired=True)
        channels = (c.input_nc, c.output_nc)
        if c.colorization:  # one folder of colour photos: grey in, colour out
            return PairedDataset.from_photos(resolve_domain(c.data or c.a), transform, c.seed, channels)
        if c.data is not None:
            return PairedDataset.from_side_by_side(resolve_domain(c.data), transform, c.direction, c.seed, channels)
        root_a, root_b = resolve_domain(c.a), resolve_domain(c.b)
        return PairedDataset.from_folders(root_a, root_b, transform, c.direction, c.seed, channels)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": adam(self.g.parameters(), self.config), "d": adam(self.d.parameters(), self.config)}

    def train_step(self, batch: dict[str, Any]) -> Losses:
        real_a, real_b = batch["a"], batch["b"]
        opt_g, opt_d = self.optimizers["g"], self.optimizers["d"]
        fake_b = self.g(real_a)
        real_pair, fake_pair = torch.cat([real_a, real_b], 1), torch.cat([real_a, fake_b], 1)

        # Discriminator: is this (input, output) pair real?
        set_requires_grad(True, self.d)
        opt_d.zero_grad(set_to_none=True)
        loss_d = full_discriminator_loss(self.gan_loss, self.d, real_pair, fake_pair, self.batch_d)
        self.accelerator.backward(loss_d)
        opt_d.step()

        # Generator: fool the updated D and stay close to the target.
        set_requires_grad(False, self.d)
        losses: Losses = {
            "G_gan": self.gan_loss.generator_loss(self.d(fake_pair)),
            "G_l1": F.l1_loss(fake_b, real_b) * self.config.lambda_l1,
        }
        opt_g.zero_grad(set_to_none=True)
        self.accelerator.backward(losses["G_gan"] + losses["G_l1"])
        opt_g.step()
        losses["D"] = loss_d
        return {name: value.detach() for name, value in losses.items()}

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, Any]) -> SampleGrid:
        real_a, real_b = batch["a"], batch["b"]
        if self.config.eval_mode:
            fake_b = self.g(real_a)  # the engine has put the networks in eval mode
        else:
            with reference_test_mode(self.unwrap(self.g), self.accelerator.device) as g:
                # One image at a time, as conversion runs: batch norm then sees one image's statistics.
                fake_b = torch.cat([g(real_a[i : i + 1]) for i in range(real_a.shape[0])])
        columns = [real_a, fake_b, real_b]
        rows = [[column[i] for column in columns] for i in range(real_a.shape[0])]
        return rows, ["input", "output", "target"]

    def exports(self) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
        c = self.config
        spec = {
            "method": "pix2pix",
            "generator": generator_spec(c, dropout=c.dropout),
            "size": c.size,
            "direction": c.direction,
            "eval_mode": c.eval_mode,
            "colorization": c.colorization,
            "data": c.data,
            "a": c.a,
            "b": c.b,
        }
        spec |= init_options(c)  # how the weights started: a record, not needed to load them
        return {c.direction: (self.unwrap(self.g), spec)}


@contextlib.contextmanager
def reference_test_mode(net: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """`net` as the reference test.py runs it without --eval (whole net in train mode), minus the
    side effects that would change training: batch-norm running statistics and the random streams
    are left exactly as they were, so a run gives the same weights whether or not it saves samples."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    was_training = net.training
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            net.train()
            for m in norms:
                m.track_running_stats = False  # in train mode: batch statistics, running ones untouched
            yield net
        finally:
            for m in norms:
                m.track_running_stats = True
            net.train(was_training)
