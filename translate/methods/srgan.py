"""SRResNet and SRGAN (Ledig et al., CVPR 2017): single-image super-resolution on the shared engine.

SRResNet is the generator trained alone on pixel MSE: the PSNR-oriented model, and SRGAN's
starting point. SRGAN adds the SRGAN discriminator and trains the generator on a content loss
(VGG19 phi_5,4 features by default, as the paper's SRGAN-VGG54) plus `lambda_adv` (1e-3) times the
adversarial loss. Both use Adam(beta1 0.9) at 1e-4, dropping to 1e-5 for the second half of the
run (`lr_factor`). Batches hold "a" (LR) and "b" (HR) from `translate.data.superres`.

One addition to the paper, on by default (`--sr-skip bicubic`): the bicubic upscale of the input is
added to the output and the last conv starts at zero, so a fresh model IS bicubic and training only
adds detail: it never starts below the baseline it is judged against. Measured on held-out photos
(docs/DEFAULTS.md, x2, width 16, 4 blocks, 400 steps at 1e-4, PyTorch's init): +0.78 dB over
bicubic, against -5.4 dB for the paper's network and -0.16 dB for the skip with a randomly drawn
last conv; with the default orthogonal init +0.96 dB, and +1.2 dB at the paper's width 64. The
weights are the same tensors either way; `--sr-skip none` is the paper's exact network (and what
model folders without a "skip" key hold). Without the skip a fresh generator starts with its
residual branches at zero (the last batch norm of every branch scaled by 0), which helped that
network over longer runs; with the skip it costs 0.1 dB, so it is not applied there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from translate.config import SRConfig, SRGANConfig
from translate.data.superres import superres_dataset
from translate.losses import GANLoss, PerceptualLoss
from translate.methods.base import (
    Losses,
    Method,
    SampleGrid,
    adam,
    full_discriminator_loss,
    init_options,
    set_requires_grad,
)
from translate.nets.builders import build_generator
from translate.nets.norms import initialize, spectral_norm
from translate.nets.srresnet import ResidualBlock, SRDiscriminator
from translate.nets.vgg import VGGFeatures


def sr_generator_spec(config: SRConfig) -> dict[str, Any]:
    """Everything `build_generator` needs; stored in exported models so they rebuild themselves."""
    return {
        "name": "srresnet",
        "in_channels": 3,
        "out_channels": 3,
        "scale": config.scale,
        "width": config.width,
        "n_blocks": config.blocks,
    } | ({"skip": config.sr_skip} if config.sr_skip != "none" else {})  # no key: the paper's net, as older files


class SRResNetMethod(Method):
    """The generator alone, on pixel MSE."""

    network_names = ("g",)
    grid_translations = {"SR": "LR"}
    config: SRConfig

    def __init__(self, config: SRConfig, accelerator) -> None:
        super().__init__(config, accelerator)
        self.g = build_generator(**sr_generator_spec(config), **init_options(config))  # zero last conv with a skip
        if config.sr_skip == "none":
            zero_init_residuals(self.g)

    def build_dataset(self) -> Dataset:
        c = self.config
        return superres_dataset(c.hr, c.lr_dir, c.scale, c.hr_size, c.flip, c.seed, c.crops_per_image)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": adam(self.g.parameters(), self.config)}

    def lr_factor(self, step: int, total_steps: int) -> float:
        """The paper's step schedule: the base rate (1e-4), then a tenth of it (1e-5) from `decay_from` on."""
        return 1.0 if step < int(total_steps * self.config.decay_from) else 0.1

    def train_step(self, batch: dict[str, Any]) -> Losses:
        opt = self.optimizers["g"]
        loss = F.mse_loss(self.g(batch["a"]).float(), batch["b"].float())
        opt.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        opt.step()
        return {"mse": loss.detach()}

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, Any]) -> SampleGrid:
        lr, hr = batch["a"], batch["b"]
        sr = self.g(lr)
        rows = [[lr[i], sr[i], hr[i]] for i in range(lr.shape[0])]
        return rows, ["LR", "SR", "HR"]  # the grid upscales LR (nearest) to the row's size

    def exports(self) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
        c = self.config
        spec = {"method": c.method, "generator": sr_generator_spec(c), "scale": c.scale, "hr_size": c.hr_size}
        spec["sr_skip"] = c.sr_skip  # for people reading config.json; the generator's own "skip" is what counts
        spec |= init_options(c)  # how the weights started: a record, not needed to load them
        return {"sr": (self.unwrap(self.g), spec)}


class SRGANMethod(SRResNetMethod):
    """SRResNet plus the SRGAN discriminator: content + lambda_adv * adversarial loss."""

    network_names = ("g", "d")
    config: SRGANConfig

    def __init__(self, config: SRGANConfig, accelerator) -> None:
        super().__init__(config, accelerator)
        # The VGG network first: missing weights must stop the run before anything else happens.
        self.content_loss = self._content_loss().to(accelerator.device)
        self.d = initialize(SRDiscriminator(3, config.ndf, config.d_norm), **init_options(config))
        if config.d_norm == "spectral":
            spectral_norm(self.d)
        self.gan_loss = GANLoss(config.gan_loss)

    def _content_loss(self) -> nn.Module:
        if self.config.content_loss == "mse":
            return nn.MSELoss()

        weights = Path(self.config.vgg_weights) if self.config.vgg_weights else None
        return PerceptualLoss(VGGFeatures(weights_path=weights))

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return super().configure_optimizers() | {"d": adam(self.d.parameters(), self.config)}

    def train_step(self, batch: dict[str, Any]) -> Losses:
        lr, hr = batch["a"], batch["b"]
        opt_g, opt_d = self.optimizers["g"], self.optimizers["d"]

        # Generator: close to HR in content, and convincing to a frozen D.
        set_requires_grad(False, self.d)
        sr = self.g(lr)
        losses: Losses = {
            "content": self.content_loss(sr.float(), hr.float()),
            "G_adv": self.gan_loss.generator_loss(self.d(sr)) * self.config.lambda_adv,
        }
        opt_g.zero_grad(set_to_none=True)
        self.accelerator.backward(losses["content"] + losses["G_adv"])
        opt_g.step()

        # Discriminator: HR vs SR (with WGAN-GP's penalty when that loss is chosen).
        set_requires_grad(True, self.d)
        opt_d.zero_grad(set_to_none=True)
        losses["D"] = full_discriminator_loss(self.gan_loss, self.d, hr, sr)
        self.accelerator.backward(losses["D"])
        opt_d.step()
        return {name: value.detach() for name, value in losses.items()}


def zero_init_residuals(net: nn.Module) -> nn.Module:
    """Scale every residual branch of an SRResNet to zero at the start (Goyal et al. 2017's trick)."""
    with torch.no_grad():
        for block in net.modules():
            if isinstance(block, ResidualBlock):
                block.body[-1].weight.zero_()
        net.body[-1].weight.zero_()  # the long skip's branch: all blocks, then conv + batch norm
    return net
