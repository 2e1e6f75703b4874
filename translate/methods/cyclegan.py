"""CycleGAN (Zhu et al., ICCV 2017): unpaired translation with two generators and cycle consistency.

Naming is by direction rather than the reference code's G_A/D_A: `g_ab` maps A to B, `d_b` judges
whether an image belongs to B. Losses and weights follow the paper and its reference code: LSGAN by
default, cycle L1 weighted by `lambda_cycle` (10), identity L1 weighted by
`lambda_cycle * lambda_identity` (0.5), discriminators trained on a pool of 50 past fakes with
their loss halved.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from translate.config import CycleGANConfig
from translate.losses import GANLoss
from translate.methods.base import (
    Losses,
    Method,
    SampleGrid,
    adam,
    batched,
    full_discriminator_loss,
    generator_spec,
    init_options,
    patch_discriminator,
    per_image_norm,
    reversed_channels,
    set_requires_grad,
)
from translate.methods.image_pool import ImagePool
from translate.methods.unpaired import CYCLE_TRANSLATIONS, cycle_grid, direction_exports, training_data
from translate.nets.builders import build_generator


class CycleGAN(Method):
    network_names = ("g_ab", "g_ba", "d_a", "d_b")
    grid_translations = CYCLE_TRANSLATIONS
    config: CycleGANConfig

    def __init__(self, config: CycleGANConfig, accelerator) -> None:
        super().__init__(config, accelerator)
        spec = generator_spec(config) | init_options(config)
        self.g_ab = build_generator(**spec)
        self.g_ba = build_generator(**reversed_channels(spec))
        self.d_a = patch_discriminator(config, in_channels=config.input_nc)
        self.d_b = patch_discriminator(config, in_channels=config.output_nc)
        self.gan_loss = GANLoss(config.gan_loss)
        seed = config.seed + 1000 * accelerator.process_index
        self.pool_a = ImagePool(config.pool_size, seed=seed)
        self.pool_b = ImagePool(config.pool_size, seed=seed + 1)
        # Instance norm sees one image at a time: passes of one network may share a batch (same maths).
        self.batch_g = config.batch_passes and per_image_norm(config.norm)
        self.batch_d = config.batch_passes and per_image_norm(config.d_norm or config.norm)

    def build_dataset(self) -> Dataset:
        return training_data(self.config)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        g_params = itertools.chain(self.g_ab.parameters(), self.g_ba.parameters())
        d_params = itertools.chain(self.d_a.parameters(), self.d_b.parameters())
        return {"g": adam(g_params, self.config), "d": adam(d_params, self.config)}

    def host_draws(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Which past fakes the discriminators see this step (see `ImagePool`)."""
        n = batch["a"].shape[0]
        return {"pool_a": self.pool_a.draw(n), "pool_b": self.pool_b.draw(n)}

    def train_step(self, batch: dict[str, Any]) -> Losses:
        c = self.config
        real_a, real_b = batch["a"], batch["b"]
        opt_g, opt_d = self.optimizers["g"], self.optimizers["d"]

        # Generators: fool both discriminators, close both cycles, leave in-domain images alone.
        set_requires_grad(False, self.d_a, self.d_b)
        identity = c.lambda_identity > 0
        if identity and self.batch_g:  # each generator's translation and identity passes in one batch
            fake_b, idt_b = batched(self.g_ab, real_a, real_b)
            fake_a, idt_a = batched(self.g_ba, real_b, real_a)
        else:
            fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
            if identity:
                idt_a, idt_b = self.g_ba(real_a), self.g_ab(real_b)
        rec_a, rec_b = self.g_ba(fake_b), self.g_ab(fake_a)
        losses: Losses = {
            "G_ab": self.gan_loss.generator_loss(self.d_b(fake_b)),
            "G_ba": self.gan_loss.generator_loss(self.d_a(fake_a)),
            "cycle_a": F.l1_loss(rec_a, real_a) * c.lambda_cycle,
            "cycle_b": F.l1_loss(rec_b, real_b) * c.lambda_cycle,
        }
        if identity:
            weight = c.lambda_cycle * c.lambda_identity
            losses["idt_a"] = F.l1_loss(idt_a, real_a) * weight
            losses["idt_b"] = F.l1_loss(idt_b, real_b) * weight
        opt_g.zero_grad(set_to_none=True)
        self.accelerator.backward(sum(losses.values()))
        opt_g.step()

        # Discriminators: real vs a mix of new and past fakes.
        set_requires_grad(True, self.d_a, self.d_b)
        opt_d.zero_grad(set_to_none=True)
        for name, d, real, fake in (
            ("D_a", self.d_a, real_a, self.pool_a.query(fake_a, batch["pool_a"])),
            ("D_b", self.d_b, real_b, self.pool_b.query(fake_b, batch["pool_b"])),
        ):
            losses[name] = full_discriminator_loss(self.gan_loss, d, real, fake, self.batch_d)
        self.accelerator.backward(losses["D_a"] + losses["D_b"])
        opt_d.step()
        return {name: value.detach() for name, value in losses.items()}

    def sample_grid(self, batch: dict[str, Any]) -> SampleGrid:
        return cycle_grid(self.g_ab, self.g_ba, batch["a"], batch["b"])

    def exports(self) -> dict[str, tuple[torch.nn.Module, dict[str, Any]]]:
        c = self.config
        base = {"method": "cyclegan", "generator": generator_spec(c), "size": c.size, "a": c.a, "b": c.b}
        base |= init_options(c)  # how the weights started: a record, not needed to load them
        return direction_exports(self.unwrap(self.g_ab), self.unwrap(self.g_ba), base)

    def extra_state(self) -> dict[str, torch.Tensor]:
        state = {f"pool_a.{k}": v for k, v in self.pool_a.state_dict().items()}
        return state | {f"pool_b.{k}": v for k, v in self.pool_b.state_dict().items()}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b)):
            prefix = f"{name}."
            pool.load_state_dict(
                {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)},
                device=self.accelerator.device,
            )
