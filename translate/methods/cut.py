"""CUT and FastCUT (Park et al., ECCV 2020): unpaired translation with one generator and PatchNCE.

Instead of a second generator and a cycle, each patch of the output must be recognisable as the
patch of the input at the same place, against the other patches of that image (PatchNCE on the
generator's own encoder features, through small projection heads `f`). Defaults and the order of
updates follow the official code (taesungp/contrastive-unpaired-translation): one generator pass,
then the discriminator's step on its output, then the generator's and heads' step against the
updated discriminator. FastCUT is the same method with other defaults (translate.config.FastCUTConfig).

Networks: `g` (the anti-aliased ResNet), `d` (the anti-aliased PatchGAN) and `f` (the heads, built
from channel counts at construction, not lazily from the first batch as the CUT code does, so that
every process builds the same networks and checkpoints hold them from the start).
"""

from __future__ import annotations

from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import Dataset

from translate.config import CUTConfig, parse_layers
from translate.errors import ConfigError
from translate.losses import GANLoss, patch_nce_loss
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
from translate.methods.host_random import coin
from translate.methods.unpaired import training_data
from translate.nets.builders import build_generator
from translate.nets.norms import initialize
from translate.nets.patchnce import EncoderShapes, PatchSampleMLP, sample_patch_ids


def cut_generator_spec(config: CUTConfig) -> dict[str, Any]:
    """The generator's settings, with the anti-aliasing keys written as `nets.resnet.recognise` reads them
    from a file (`antialias` only when on, `antialias_up` only when it differs), so that a CUT code file
    given to --init compares equal to this run's generator."""
    spec = generator_spec(config)
    if config.antialias:
        spec["antialias"] = True
    if config.antialias_up != config.antialias:
        spec["antialias_up"] = config.antialias_up
    return spec


class CUT(Method):
    network_names = ("g", "d", "f")
    grid_translations = {"A->B": "A"}
    config: CUTConfig

    def __init__(self, config: CUTConfig, accelerator: Accelerator) -> None:
        super().__init__(config, accelerator)
        self.g = build_generator(**cut_generator_spec(config), **init_options(config))
        self.d = patch_discriminator(config, in_channels=config.output_nc, antialias=config.antialias)
        self.layers = parse_layers(config.nce_layers)
        depth = len(self.g.model)
        if self.layers[-1] >= depth:
            raise ConfigError(
                f"--nce-layers {config.nce_layers}: generator {config.generator} has layers 0 to {depth - 1}"
            )
        self.encoder_shapes = EncoderShapes(self.g, self.layers)
        channels = self.encoder_shapes.channels()
        self.f = initialize(PatchSampleMLP(channels, config.nce_mlp_width), config.init_type, config.init_gain)
        self.gan_loss = GANLoss(config.gan_loss)
        # Patch positions and flips come from a generator of their own, checkpointed with the run.
        self.sampler = torch.Generator().manual_seed(config.seed + 1000 * accelerator.process_index + 7)
        self.batch_d = config.batch_passes and per_image_norm(config.d_norm or config.norm)

    def build_dataset(self) -> Dataset:
        return training_data(self.config)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {"g": adam(self.g.parameters(), c), "f": adam(self.f.parameters(), c), "d": adam(self.d.parameters(), c)}

    def host_draws(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """FastCUT's flip, then the patch positions of each PatchNCE term (the input's, then the identity
        term's), in the order the steps drew them before they moved out of the step. Each term's positions
        are one row of `patch_ids`, the layers' positions end to end (`patch_counts` splits them)."""
        draws = {"flip": torch.tensor(self.draw_flip())} if self.config.flip_equivariance else {}
        shapes = self.feature_shapes(batch["a"])
        terms = 2 if self.config.nce_idt else 1
        draws["patch_ids"] = torch.stack([torch.cat(self.draw_patch_ids(shapes)) for _ in range(terms)])
        return draws

    def train_step(self, batch: dict[str, Any]) -> Losses:
        c = self.config
        real_a, real_b = batch["a"], batch["b"]
        n = real_a.shape[0]
        flip = batch.get("flip")  # FastCUT: translate the flipped batch this step (a device bool)
        ids = batch["patch_ids"].split(self.patch_counts(real_a), dim=1)

        # One generator pass over A (and B for the identity term), flipped half the time for FastCUT.
        real = torch.cat([real_a, real_b]) if c.nce_idt else real_a
        fake = self.g(real if flip is None else torch.where(flip, real.flip(3), real))
        fake_b = fake[:n]

        # Discriminator: real B against this batch's fakes (no pool).
        set_requires_grad(True, self.d)
        opt_d = self.optimizers["d"]
        opt_d.zero_grad(set_to_none=True)
        loss_d = full_discriminator_loss(self.gan_loss, self.d, real_b, fake_b, self.batch_d)
        self.accelerator.backward(loss_d)
        opt_d.step()

        # Generator and heads: fool the updated discriminator, keep the input's patches.
        set_requires_grad(False, self.d)
        opt_g, opt_f = self.optimizers["g"], self.optimizers["f"]
        opt_g.zero_grad(set_to_none=True)
        opt_f.zero_grad(set_to_none=True)
        losses: Losses = {"G_GAN": self.gan_loss.generator_loss(self.d(fake_b)) * c.lambda_gan}
        losses["NCE"] = self.nce_loss(real_a, fake_b, [i[0] for i in ids], flip)
        nce = losses["NCE"]
        if c.nce_idt:
            losses["NCE_Y"] = self.nce_loss(real_b, fake[n:], [i[1] for i in ids], flip)
            nce = (nce + losses["NCE_Y"]) * 0.5
        self.accelerator.backward(losses["G_GAN"] + nce)
        opt_g.step()
        opt_f.step()
        losses["D"] = loss_d
        return {name: value.detach() for name, value in losses.items()}

    def nce_loss(
        self, source: torch.Tensor, output: torch.Tensor, ids: list[torch.Tensor], flip: torch.Tensor | None = None
    ) -> torch.Tensor:
        """PatchNCE between `output` = G(`source`) (G of the flipped source, where `flip` is true) and
        `source`, at patch positions `ids` (one tensor per layer), averaged over the layers and weighted by
        --lambda-nce.

        The source side is the target the output is pulled towards (detached in the loss), so its
        features and projections are computed without a graph: the same numbers, less memory.
        """
        c = self.config
        feat_q = self.g(output, self.layers)
        if flip is not None:
            feat_q = [torch.where(flip, f.flip(3), f) for f in feat_q]
        with torch.no_grad():
            keys = self.f(self.g(source, self.layers), ids)
        queries = self.f(feat_q, ids)
        total = sum(
            patch_nce_loss(q, k, source.shape[0], c.nce_t, c.nce_batch_negatives) * c.lambda_nce
            for q, k in zip(queries, keys, strict=True)
        )
        return total / len(self.layers)

    def draw_flip(self) -> bool:
        """Whether this step translates the flipped batch (FastCUT's flip-equivariance): heads or tails."""
        return coin(self.sampler)

    def draw_patch_ids(self, shapes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """One PatchNCE term's patch positions, one set per layer of `shapes`, shared by the batch and both
        sides of the loss."""
        return sample_patch_ids(shapes, self.config.num_patches, self.sampler)

    def feature_shapes(self, images: torch.Tensor) -> list[tuple[int, int]]:
        """The (height, width) of the encoder's features at --nce-layers for `images`' size, known before the
        step (`EncoderShapes`), so that positions are drawn before it."""
        return [(h, w) for _, h, w in self.encoder_shapes.at(tuple(images.shape[-2:]))]

    def patch_counts(self, images: torch.Tensor) -> list[int]:
        """How many positions each layer's set holds: `num_patches`, or all of a smaller feature map."""
        return [min(self.config.num_patches, h * w) for h, w in self.feature_shapes(images)]

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, Any]) -> SampleGrid:
        """One row per example: A, A->B, B, and G(B) (what identity PatchNCE keeps close to B)."""
        real_a, real_b = batch["a"], batch["b"]
        columns = [real_a, self.g(real_a), real_b, self.g(real_b)]
        rows = [[column[i] for column in columns] for i in range(real_a.shape[0])]
        return rows, ["A", "A->B", "B", "G(B)"]  # ASCII: PIL's default font has no arrow

    def exports(self) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
        c = self.config
        spec = {"method": c.method, "generator": cut_generator_spec(c), "size": c.size, "a": c.a, "b": c.b}
        spec |= init_options(c) | {"direction": "a2b"}
        return {"a2b": (self.unwrap(self.g), spec)}

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {"sampler": self.sampler.get_state()}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        if "sampler" in tensors:
            self.sampler.set_state(tensors["sampler"])
