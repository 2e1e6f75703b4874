"""DiscoGAN (Kim et al., ICML 2017): cross-domain relations from unpaired data, after the official
SKTBrain/DiscoGAN code.

Two encoder-decoders (`g_ab`, `g_ba`) and two discriminators (`d_a`, `d_b`) that also return their
hidden activations. For the A -> B -> A direction (and symmetrically B -> A -> B):

    total_ab = (gan_ab * gan_weight + fm_ab * fm_weight) * (1 - rate) + recon_a * rate

- gan_ab: non-saturating BCE of d_b on g_ab(a) (GANLoss("vanilla"), as the official BCELoss);
- fm_ab: feature matching, summed over d_b's hidden layers: mean over elements of
  (batch-mean of real-b features - batch-mean of fake-b features)^2. The official code feeds that
  square to HingeEmbeddingLoss with target 1, which is the plain mean, so we take the mean;
- recon_a: MSE (or L1) between g_ba(g_ab(a)) and a, measured on [0, 1] pixels as the official code
  (our images are in [-1, 1], so the [-1, 1] MSE is divided by 4 and L1 by 2): `rate` keeps its meaning;
- rate: `starting_rate` for the first `gan_curriculum` steps, `default_rate` after.

Discriminators: 0.5 * (BCE(real, 1) + BCE(fake, 0)) per domain, both summed, on the fakes of the
same batch. As in the official loop, a batch updates EITHER the discriminators (the first of every
`update_interval` batches) OR the generators (the others); `update_interval=1` updates both.
Every loss is computed on every batch anyway, so the logged curves have no gaps. Adam with
weight decay (L2) over both generators, and over both discriminators, at a constant learning rate.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from translate.config import DiscoGANConfig
from translate.data.transforms import train_transform
from translate.losses import GANLoss
from translate.methods.base import (
    Losses,
    Method,
    SampleGrid,
    adam,
    init_options,
    reversed_channels,
    set_requires_grad,
)
from translate.methods.unpaired import CYCLE_TRANSLATIONS, cycle_grid, direction_exports, unpaired_dataset
from translate.nets.builders import build_generator
from translate.nets.discogan import DiscoDiscriminator
from translate.nets.norms import initialize


def generator_spec(config: DiscoGANConfig) -> dict[str, Any]:
    """Everything `build_generator` needs; stored in exported models so they rebuild themselves."""
    return {
        "name": "discogan",
        "in_channels": config.input_nc,
        "out_channels": config.output_nc,
        "width": config.width,
        "image_size": config.image_size,
        "extra_layers": False,
    }


def feature_matching_loss(real_features: list[torch.Tensor], fake_features: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of mean((E_batch[real] - E_batch[fake])^2): match the batch statistics, not each image."""
    losses = [
        F.mse_loss(fake.float().mean(0), real.detach().float().mean(0))
        for real, fake in zip(real_features, fake_features, strict=True)
    ]
    return torch.stack(losses).sum()


class DiscoGAN(Method):
    network_names = ("g_ab", "g_ba", "d_a", "d_b")
    grid_translations = CYCLE_TRANSLATIONS
    config: DiscoGANConfig

    def __init__(self, config: DiscoGANConfig, accelerator) -> None:
        super().__init__(config, accelerator)
        spec = generator_spec(config) | init_options(config)
        self.g_ab = build_generator(**spec)
        self.g_ba = build_generator(**reversed_channels(spec))
        self.d_a = initialize(
            DiscoDiscriminator(config.input_nc, config.width, config.image_size), **init_options(config)
        )
        self.d_b = initialize(
            DiscoDiscriminator(config.output_nc, config.width, config.image_size), **init_options(config)
        )
        self.gan_loss = GANLoss("vanilla")

    def build_dataset(self) -> Dataset:
        c = self.config
        # Resize to image_size and no crop (a crop of the full size), as the official code.
        transform = train_transform(c.image_size, c.image_size, flip=c.flip)
        return unpaired_dataset(c.a, c.b, transform, c.seed, (c.input_nc, c.output_nc))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        g_params = itertools.chain(self.g_ab.parameters(), self.g_ba.parameters())
        d_params = itertools.chain(self.d_a.parameters(), self.d_b.parameters())
        decay = c.weight_decay
        return {"g": adam(g_params, c, weight_decay=decay), "d": adam(d_params, c, weight_decay=decay)}

    def lr_factor(self, step: int, total_steps: int) -> float:
        """DiscoGAN keeps its learning rate constant (no decay, whatever --decay-from says)."""
        return 1.0

    @property
    def rate(self) -> float:
        """Weight of the reconstruction loss at the current step; the GAN terms get 1 - rate."""
        c = self.config
        return c.starting_rate if self.step < c.gan_curriculum else c.default_rate

    def updates(self) -> tuple[bool, bool]:
        """(update the discriminators, update the generators) on the current batch."""
        interval = self.config.update_interval
        if interval == 1:
            return True, True
        d_turn = self.step % interval == 0
        return d_turn, not d_turn

    def graph_key(self) -> Hashable:
        """The step's updates and reconstruction weight: the schedule's phases, each its own operations."""
        return self.updates(), self.rate

    def train_step(self, batch: dict[str, Any]) -> Losses:
        real_a, real_b = batch["a"], batch["b"]
        update_d, update_g = self.updates()

        set_requires_grad(False, self.d_a, self.d_b)
        with torch.set_grad_enabled(update_g):
            fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
            losses, total_ab = self._generator_losses("ab", fake_b, real_a, real_b, self.g_ba, self.d_b)
            losses_ba, total_ba = self._generator_losses("ba", fake_a, real_b, real_a, self.g_ab, self.d_a)
            losses |= losses_ba
        if update_g:
            opt_g = self.optimizers["g"]
            opt_g.zero_grad(set_to_none=True)
            self.accelerator.backward(total_ab + total_ba)
            opt_g.step()

        set_requires_grad(True, self.d_a, self.d_b)
        with torch.set_grad_enabled(update_d):
            losses["D_a"] = self._discriminator_loss(self.d_a, real_a, fake_a)
            losses["D_b"] = self._discriminator_loss(self.d_b, real_b, fake_b)
        if update_d:
            opt_d = self.optimizers["d"]
            opt_d.zero_grad(set_to_none=True)
            self.accelerator.backward(losses["D_a"] + losses["D_b"])
            opt_d.step()
        return {name: value.detach() for name, value in losses.items()}

    def _generator_losses(
        self,
        direction: str,
        fake: torch.Tensor,
        real_source: torch.Tensor,
        real_target: torch.Tensor,
        back: nn.Module,
        d_target: nn.Module,
    ) -> tuple[Losses, torch.Tensor]:
        """Losses of one cycle, e.g. "ab": a -> fake b (judged by d_b) -> back to a; and its weighted total."""
        c = self.config
        fake_logits, fake_features = d_target(fake)
        with torch.no_grad():
            _, real_features = d_target(real_target)
        source = direction[0]
        losses = {
            f"G_{direction}": self.gan_loss.generator_loss(fake_logits),
            f"fm_{direction}": feature_matching_loss(real_features, fake_features),
            f"recon_{source}": self._reconstruction_loss(back(fake), real_source),
        }
        gan_terms = losses[f"G_{direction}"] * c.gan_weight + losses[f"fm_{direction}"] * c.fm_weight
        rate = self.rate
        return losses, gan_terms * (1.0 - rate) + losses[f"recon_{source}"] * rate

    def _reconstruction_loss(self, reconstructed: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        # On [0, 1] pixels, as the official code: (x + 1) / 2 for both.
        x, y = (reconstructed.float() + 1.0) / 2.0, (real.float() + 1.0) / 2.0
        return F.l1_loss(x, y) if self.config.recon_loss == "l1" else F.mse_loss(x, y)

    def _discriminator_loss(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real_logits, _ = d(real)
        fake_logits, _ = d(fake.detach())
        return self.gan_loss.discriminator_loss(real_logits, fake_logits)

    def sample_grid(self, batch: dict[str, Any]) -> SampleGrid:
        return cycle_grid(self.g_ab, self.g_ba, batch["a"], batch["b"])

    def exports(self) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
        c = self.config
        spec = {
            "method": "discogan",
            "generator": generator_spec(c),
            "size": c.image_size,
            "fixed_size": c.image_size,  # the runner resizes inputs to it and results back
            "a": c.a,
            "b": c.b,
        }
        spec |= init_options(c)  # how the weights started: a record, not needed to load them
        return direction_exports(self.unwrap(self.g_ab), self.unwrap(self.g_ba), spec)
