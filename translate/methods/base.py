"""The plug-in contract between a method (CycleGAN, pix2pix, ...) and the shared engine.

A method says which networks it has, how one batch updates them, what its sample grid shows,
and which generators it exports. The engine (translate/engine/trainer.py) does everything else:
device placement and distribution through Accelerate, the loop, learning-rate schedule,
checkpoints, resume, logs and samples. No method contains a training loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable
from typing import Any, ClassVar

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import Dataset

from translate.config import ImageTranslationConfig, TrainConfig
from translate.losses import GANLoss, gradient_penalty
from translate.methods.host_random import to_device
from translate.nets.builders import build_discriminator

Losses = dict[str, torch.Tensor]
SampleGrid = tuple[list[list[torch.Tensor]], list[str]]


def set_requires_grad(flag: bool, *nets: nn.Module) -> None:
    """Freeze or unfreeze networks; discriminators are frozen while the generators step."""
    for net in nets:
        net.requires_grad_(flag)


def generator_spec(config: ImageTranslationConfig, dropout: bool = False) -> dict[str, Any]:
    """Everything `build_generator` needs; stored in exported models so they rebuild themselves."""
    return {
        "name": config.generator,
        "in_channels": config.input_nc,
        "out_channels": config.output_nc,
        "ngf": config.ngf,
        "norm": config.norm,
        "dropout": dropout,
    }


def reversed_channels(spec: dict[str, Any]) -> dict[str, Any]:
    """A generator spec for the way back (B to A): the same network with input and output channels swapped."""
    return spec | {"in_channels": spec["out_channels"], "out_channels": spec["in_channels"]}


def adam(params: Iterable[nn.Parameter], config: TrainConfig, **options: Any) -> torch.optim.Adam:
    """Adam with the run's learning rate and betas. On a CPU, the fused kernel: PyTorch's default there is
    a Python loop of five kernels per tensor, a tenth of a bf16 CycleGAN step on a 2-core AMX CPU (the
    fused one saved 6% eager, 11% compiled; docs/BENCHMARKS.md). On GPUs the default (foreach) one: the
    fused one made the CycleGAN step slower on an H200, twice."""
    params = list(params)
    if params and params[0].device.type == "cpu":
        options = {"fused": True} | options
    return torch.optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2), **options)


def init_options(config: TrainConfig) -> dict[str, Any]:
    """`build_generator` / `build_discriminator` keywords for the run's --init-type and --init-gain."""
    return {"init_type": config.init_type, "init_gain": config.init_gain}


def patch_discriminator(config: ImageTranslationConfig, in_channels: int, antialias: bool = False) -> nn.Module:
    """The run's PatchGAN: --d-norm if given (spectral...), else the --norm layers, as the papers;
    `antialias`: blurred downsamplings (CUT)."""
    norm = config.d_norm or config.norm
    return build_discriminator(
        in_channels, config.ndf, config.n_layers_d, norm, antialias=antialias, **init_options(config)
    )


def per_image_norm(norm: str | None) -> bool:
    """Norm layers that see one image at a time (or none): a batch of several inputs gives each the
    same output as its own pass. Not batch norm (statistics over the batch), nor spectral norm (one
    power iteration per forward pass)."""
    return norm in ("instance", "none")


def batched(net: nn.Module, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`net` over several inputs as one concatenated batch, split back: fewer and larger kernels than one
    pass each (tools/bench.py). Only for nets whose output for an image does not depend on the others."""
    return net(torch.cat(inputs)).split([x.shape[0] for x in inputs])


def full_discriminator_loss(
    gan_loss: GANLoss, d: nn.Module, real: torch.Tensor, fake: torch.Tensor, batch_passes: bool = False
) -> torch.Tensor:
    """D's loss on real and fake inputs (fake is detached here), plus WGAN-GP's penalty when the
    loss needs it: one place, so no method can forget the penalty. `batch_passes`: both in one pass
    (only for a D with `per_image_norm`)."""
    fake = fake.detach()
    pred_real, pred_fake = batched(d, real, fake) if batch_passes else (d(real), d(fake))
    loss = gan_loss.discriminator_loss(pred_real, pred_fake)
    if gan_loss.needs_gradient_penalty:
        loss = loss + gradient_penalty(d, real, fake)
    return loss


class Method(ABC):
    """Base class of a training method.

    Subclasses build their networks in `__init__` as attributes named in `network_names`; the
    engine then replaces each attribute with its Accelerate-prepared version (each network on its
    own: one module holding G and D breaks DDP), and calls `configure_optimizers`.
    """

    network_names: ClassVar[tuple[str, ...]]
    # Sample-grid columns that translate another column ("A->B": "A"): the engine watches them for
    # mode collapse (translate/engine/collapse.py). Empty: not watched.
    grid_translations: ClassVar[dict[str, str]] = {}

    def __init__(self, config: TrainConfig, accelerator: Accelerator) -> None:
        self.config = config
        self.accelerator = accelerator
        # The global step of the batch being trained: the engine sets it before every `train_step`
        # (steps completed so far, so 0 for the first batch and the checkpoint's step after a resume).
        # For schedules inside a step, such as DiscoGAN's loss curriculum or alternating updates.
        self.step = 0

    @property
    def networks(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in self.network_names}

    @abstractmethod
    def build_dataset(self) -> Dataset:
        """The training data set; items are dicts of tensors the method's `train_step` understands."""

    @abstractmethod
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers over the (already prepared) networks; stored by the engine as `self.optimizers`."""

    @abstractmethod
    def train_step(self, batch: dict[str, Any]) -> Losses:
        """Update every network once on `batch` (with this step's `host_draws`) and return detached losses.

        The engine may capture it as a CUDA graph (`--compile step`) and replay it: it must then run the
        same operations on every step of one `graph_key`, taking whatever varies from `batch` and the
        networks' and optimizers' state, and never read a device value on the host (tests/test_no_sync.py,
        tests/test_graph_ready.py)."""

    def host_draws(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """This step's random choices made on the host (image pools, patch positions, flips), as CPU
        tensors; the engine hands them to `train_step` in the batch, on the device, under these names.
        Drawn before the step, so that the step itself holds no decision of the host's."""
        return {}

    def with_draws(self, batch: dict[str, Any]) -> dict[str, Any]:
        """`batch` and this step's `host_draws`, on the device, without waiting for it."""
        device = self.accelerator.device
        return batch | {name: to_device(value, device) for name, value in self.host_draws(batch).items()}

    def graph_key(self) -> Hashable:
        """What the current step's Python control flow depends on besides the batch (e.g. the step number's
        phase of a schedule): steps with equal keys run the same operations, so one captured graph serves
        them all. None: every step is alike."""
        return None

    @abstractmethod
    def sample_grid(self, batch: dict[str, Any]) -> SampleGrid:
        """Rows of images (one row per example) and column labels for the sample PNG."""

    @abstractmethod
    def exports(self) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
        """Generators to export at the end: name -> (network, config needed to rebuild it)."""

    def lr_factor(self, step: int, total_steps: int) -> float:
        """Multiplier of the base learning rate: constant, then linear decay to 0 (the papers' schedule)."""
        decay_start = int(total_steps * self.config.decay_from)
        if step < decay_start:
            return 1.0
        return max(0.0, 1.0 - (step - decay_start) / max(1, total_steps - decay_start))

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors beyond networks and optimizers that an exact resume needs (image pools, ...)."""
        return {}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what `extra_state` returned."""
        return None

    def unwrap(self, net: nn.Module) -> nn.Module:
        return self.accelerator.unwrap_model(net)
