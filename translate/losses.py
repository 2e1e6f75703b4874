"""Adversarial and perceptual losses.

Adversarial losses take discriminator *logits*: sigmoid + BCELoss is numerically worse and
autocast refuses it. Logits may be any shape (PatchGAN maps) or a list of tensors from a
multi-output discriminator, in which case the loss is the average over the list. Everything
is computed in float32 so an fp16 autocast region cannot lose precision in the reductions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.errors import ConfigError

GAN_LOSSES = ("vanilla", "lsgan", "hinge", "wgangp")

Logits = Tensor | Sequence[Tensor]


def _as_list(logits: Logits) -> list[Tensor]:
    return [logits] if isinstance(logits, Tensor) else list(logits)


def _g_vanilla(fake: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def _d_vanilla(real: Tensor, fake: Tensor) -> Tensor:
    # The 0.5 follows the reference pix2pix/CycleGAN code: it slows D relative to G.
    real_loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
    fake_loss = F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    return 0.5 * (real_loss + fake_loss)


def _g_lsgan(fake: Tensor) -> Tensor:
    return F.mse_loss(fake, torch.ones_like(fake))


def _d_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * (F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake)))


def _g_critic(fake: Tensor) -> Tensor:
    return -fake.mean()


def _d_hinge(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _d_wgan(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


_KINDS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor, Tensor], Tensor]]] = {
    "vanilla": (_g_vanilla, _d_vanilla),
    "lsgan": (_g_lsgan, _d_lsgan),
    "hinge": (_g_critic, _d_hinge),
    "wgangp": (_g_critic, _d_wgan),
}


class GANLoss(nn.Module):
    """One adversarial objective, chosen by name, with a generator side and a discriminator side.

    Conventions: vanilla and lsgan match the reference pix2pix/CycleGAN code (non-saturating
    G loss against target 1; D loss 0.5 * (real + fake)); hinge and wgangp use G = -mean(fake).
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        if kind not in _KINDS:
            raise ConfigError(f"unknown GAN loss {kind!r}; choose one of: {', '.join(GAN_LOSSES)}")
        self.kind = kind
        self._g, self._d = _KINDS[kind]

    @property
    def needs_gradient_penalty(self) -> bool:
        """WGAN-GP's critic is only Lipschitz through the penalty; the method must add it."""
        return self.kind == "wgangp"

    def generator_loss(self, fake_logits: Logits) -> Tensor:
        fakes = _as_list(fake_logits)
        return torch.stack([self._g(f.float()) for f in fakes]).mean()

    def discriminator_loss(self, real_logits: Logits, fake_logits: Logits) -> Tensor:
        reals, fakes = _as_list(real_logits), _as_list(fake_logits)
        if len(reals) != len(fakes):
            raise ValueError(f"{len(reals)} real outputs but {len(fakes)} fake outputs")
        return torch.stack([self._d(r.float(), f.float()) for r, f in zip(reals, fakes, strict=True)]).mean()

    def extra_repr(self) -> str:
        return repr(self.kind)


def _critic_sum(out: object) -> Tensor:
    """Reduce a discriminator's output to one scalar whose input-gradient is what we penalise.

    A tuple is (logits, features, ...): only the logits count. A list is a multi-output
    discriminator: every output counts.
    """
    if isinstance(out, tuple):
        out = out[0]
    return torch.stack([o.float().sum() for o in _as_list(out)]).sum()


def gradient_penalty(discriminator: nn.Module | Callable, real: Tensor, fake: Tensor, weight: float = 10.0) -> Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017): weight * E[(||grad_x D(x)||_2 - 1)^2].

    x is a per-sample random interpolation between real and fake. The graph is kept
    (create_graph) so the penalty trains D's weights towards unit gradient norm.
    """
    real, fake = real.detach().float(), fake.detach().float()
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(outputs=_critic_sum(discriminator(x)), inputs=x, create_graph=True)
    # The epsilon keeps the backward of the norm finite where the gradient vanishes.
    norm = torch.sqrt(grad.float().flatten(1).pow(2).sum(dim=1) + 1e-12)
    return weight * (norm - 1.0).pow(2).mean()


class PerceptualLoss(nn.Module):
    """MSE between the features of output and target under a fixed extractor (e.g. VGG19 phi_5,4).

    `rescale` defaults to ~1/12.75**2, the factor the SRGAN paper applies so VGG losses are
    on the scale of a pixel MSE. The extractor owns its input normalisation and is frozen here:
    it is a measuring stick, not something to train.
    """

    def __init__(self, extractor: nn.Module, rescale: float = 0.006) -> None:
        super().__init__()
        self.extractor = extractor.eval().requires_grad_(False)
        self.rescale = rescale

    def train(self, mode: bool = True) -> PerceptualLoss:
        # Keep the extractor in eval mode whatever the surrounding model does.
        super().train(mode)
        self.extractor.eval()
        return self

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        with torch.no_grad():
            target_features = self.extractor(target).float()
        return self.rescale * F.mse_loss(self.extractor(output).float(), target_features)


def patch_nce_loss(
    feat_q: Tensor, feat_k: Tensor, batch_size: int, temperature: float = 0.07, batch_negatives: bool = False
) -> Tensor:
    """PatchNCE (Park et al. 2020, CUT): each output patch must pick its own input patch out of the others.

    `feat_q` and `feat_k` are (batch_size * patches, dim) L2-normalised projections of the same patch
    positions of the output and of the input, image by image; the key side is a fixed target (detached).
    Logits are the positive similarity then every other patch of the same image as negatives (of the whole
    batch with `batch_negatives`, as CUT's single-image mode), all over `temperature`; a patch against itself
    is masked to -10 as in the CUT code. Returns the mean cross-entropy over patches.
    """
    feat_k = feat_k.detach().float()
    feat_q = feat_q.float()
    dim = feat_q.shape[1]
    positive = (feat_q * feat_k).sum(dim=1, keepdim=True)
    groups = 1 if batch_negatives else batch_size
    q, k = feat_q.reshape(groups, -1, dim), feat_k.reshape(groups, -1, dim)
    patches = q.shape[1]
    self_pairs = torch.eye(patches, dtype=torch.bool, device=q.device)[None]
    negatives = torch.bmm(q, k.transpose(1, 2)).masked_fill(self_pairs, -10.0).reshape(-1, patches)
    logits = torch.cat([positive, negatives], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))
