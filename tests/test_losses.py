import math

import pytest
import torch
from torch import nn

from translate.errors import ConfigError
from translate.losses import GAN_LOSSES, GANLoss, PerceptualLoss, gradient_penalty

REAL = torch.tensor([0.5, 2.0])
FAKE = torch.tensor([-2.0, 0.5])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


@pytest.mark.parametrize(
    ("kind", "g", "d"),
    [
        # BCE(x, 1) = softplus(-x), BCE(x, 0) = softplus(x); D is 0.5 * (real + fake) as in the reference.
        (
            "vanilla",
            (softplus(2.0) + softplus(-0.5)) / 2,
            0.5 * ((softplus(-0.5) + softplus(-2.0)) / 2 + (softplus(-2.0) + softplus(0.5)) / 2),
        ),
        ("lsgan", (9.0 + 0.25) / 2, 0.5 * ((0.25 + 1.0) / 2 + (4.0 + 0.25) / 2)),
        ("hinge", 0.75, (0.5 + 0.0) / 2 + (0.0 + 1.5) / 2),
        ("wgangp", 0.75, -0.75 - 1.25),
    ],
)
def test_values_on_hand_computed_logits(kind, g, d):
    loss = GANLoss(kind)
    assert loss.generator_loss(FAKE).item() == pytest.approx(g, rel=1e-6)
    assert loss.discriminator_loss(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)


def test_vanilla_at_zero_logits_is_log2():
    loss = GANLoss("vanilla")
    zeros = torch.zeros(2, 1, 4, 4)
    assert loss.generator_loss(zeros).item() == pytest.approx(math.log(2))
    assert loss.discriminator_loss(zeros, zeros).item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("kind", GAN_LOSSES)
def test_gradients_flow_to_patch_logits(kind):
    real = torch.randn(2, 1, 6, 6, requires_grad=True)
    fake = torch.randn(2, 1, 6, 6, requires_grad=True)
    loss = GANLoss(kind)
    loss.discriminator_loss(real, fake).backward()
    assert real.grad.abs().sum() > 0 and fake.grad.abs().sum() > 0
    fake.grad = None
    loss.generator_loss(fake).backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", GAN_LOSSES)
def test_list_of_outputs_is_averaged(kind):
    torch.manual_seed(0)
    reals = [torch.randn(2, 1, 8, 8), torch.randn(2, 1, 4, 4)]
    fakes = [torch.randn(2, 1, 8, 8), torch.randn(2, 1, 4, 4)]
    loss = GANLoss(kind)
    expected_g = (loss.generator_loss(fakes[0]) + loss.generator_loss(fakes[1])) / 2
    expected_d = (loss.discriminator_loss(reals[0], fakes[0]) + loss.discriminator_loss(reals[1], fakes[1])) / 2
    assert torch.allclose(loss.generator_loss(fakes), expected_g)
    assert torch.allclose(loss.discriminator_loss(reals, fakes), expected_d)
    with pytest.raises(ValueError):
        loss.discriminator_loss(reals, fakes[:1])


@pytest.mark.parametrize("kind", GAN_LOSSES)
def test_low_precision_logits_give_float32_loss(kind):
    logits = torch.randn(2, 1, 4, 4).to(torch.bfloat16)
    loss = GANLoss(kind)
    assert loss.generator_loss(logits).dtype == torch.float32
    assert loss.discriminator_loss(logits, logits).dtype == torch.float32


def test_unknown_kind_lists_choices():
    with pytest.raises(ConfigError, match="vanilla, lsgan, hinge, wgangp"):
        GANLoss("wasserstein")


def test_only_wgangp_needs_gradient_penalty():
    assert [GANLoss(k).needs_gradient_penalty for k in GAN_LOSSES] == [False, False, False, True]


class Linear(nn.Module):
    """D(x) = sum(w * x) per sample: its input-gradient is w for every x, so the penalty is known."""

    def __init__(self, w: torch.Tensor, with_features: bool = False) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.with_features = with_features

    def forward(self, x):
        out = (self.w * x).flatten(1).sum(1)
        return (out, [x]) if self.with_features else out


@pytest.mark.parametrize("with_features", [False, True])
def test_gradient_penalty_is_exact_for_linear_critic(with_features):
    torch.manual_seed(0)
    d = Linear(torch.randn(3, 4, 4), with_features)
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    norm = d.w.detach().norm().item()
    gp = gradient_penalty(d, real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (norm - 1) ** 2, rel=1e-5)

    # create_graph: the penalty is differentiable w.r.t. D's weights, with the analytic gradient.
    gp.backward()
    expected = 10.0 * 2 * (norm - 1) * d.w.detach() / norm
    assert torch.allclose(d.w.grad, expected, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_trains_critic_towards_unit_norm():
    torch.manual_seed(0)
    d = Linear(3 * torch.randn(8))
    opt = torch.optim.SGD(d.parameters(), lr=0.01)
    real, fake = torch.randn(4, 8), torch.randn(4, 8)
    first = gradient_penalty(d, real, fake).item()
    for _ in range(50):
        opt.zero_grad()
        gradient_penalty(d, real, fake).backward()
        opt.step()
    assert gradient_penalty(d, real, fake).item() < 0.01 * first
    assert d.w.detach().norm().item() == pytest.approx(1.0, abs=0.05)


def test_gradient_penalty_interpolates_per_sample_and_leaves_generator_alone():
    torch.manual_seed(0)
    seen = []

    def critic(x):
        seen.append(x.detach())
        return (x**2).flatten(1).sum(1)

    g_weight = nn.Parameter(torch.tensor(2.0))
    real, fake = torch.ones(6, 3, 2, 2), g_weight * torch.zeros(6, 3, 2, 2) - 1
    gradient_penalty(critic, real, fake).backward()
    alpha = (seen[0] - fake.detach()) / (real - fake.detach())
    per_sample = alpha.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample))  # one alpha per sample
    assert ((per_sample >= 0) & (per_sample <= 1)).all()
    assert per_sample[:, 0].unique().numel() == 6  # random, not shared across the batch
    assert g_weight.grad is None  # the penalty only trains D


def test_perceptual_loss_on_tiny_extractor():
    torch.manual_seed(0)
    extractor = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Dropout(0.5))
    loss = PerceptualLoss(extractor, rescale=0.5)
    out = torch.randn(2, 3, 8, 8, requires_grad=True)
    target = torch.randn(2, 3, 8, 8)

    loss.train()
    assert not extractor.training  # dropout in the extractor would make the loss noisy
    value = loss(out, target)
    expected = 0.5 * ((extractor(out) - extractor(target)) ** 2).mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)

    value.backward()
    assert out.grad.abs().sum() > 0
    assert all(p.grad is None for p in extractor.parameters())
    assert loss(target, target).item() == 0.0
    assert PerceptualLoss(nn.Identity()).rescale == 0.006
