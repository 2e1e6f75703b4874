"""Normalisation layers, weight init and checkpoint loading shared by all nets.

Kept together because they encode the same reference convention (junyanz CycleGAN/pix2pix):
which norm a name means, whether convs before it carry a bias, and which buffers old
checkpoints carry that today's layers do not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as parametrize

from translate.choices import INIT_CHOICES, NORM_CHOICES
from translate.errors import ConfigError

LEGACY_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")

NormFactory = Callable[[int], nn.Module]


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether a 4-d map is laid out NHWC (and not also NCHW, as maps with one channel or one pixel are)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class InstanceNorm2d(nn.InstanceNorm2d):
    """`nn.InstanceNorm2d` that keeps a channels-last map channels-last. PyTorch computes instance norm as the
    batch norm of an (1, N*C, H, W) view, which copies an NHWC map to NCHW and returns it so: every conv
    after a norm then ran on an NCHW input, and `--channels-last` was NHWC up to the first norm only.
    Here an NHWC map is normalised in place of layout, with the same statistics (biased variance over
    each image's channel, `eps` inside the root), in fp32 like the native kernels; other maps take the
    native path. No new parameters or buffers: state-dict keys stay the reference's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not is_channels_last(x) or self.track_running_stats:
            return super().forward(x)
        wide = x.float()
        var, mean = torch.var_mean(wide, dim=(2, 3), keepdim=True, correction=0)
        y = (wide - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)


def norm_layer(kind: str, affine: bool = False) -> NormFactory:
    """Map a norm name to a `channels -> module` factory.

    Instance norm has no affine params (unless `affine`: other implementations' files carry them) and no
    running stats (as in the reference), so in eval it still normalises per image; "none" gives Identity
    so Sequential indices, and thus state_dict keys, stay the same as with a real norm.
    """
    if kind == "instance":
        return functools.partial(InstanceNorm2d, affine=affine, track_running_stats=False)
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "none":
        return lambda channels: nn.Identity()
    raise ConfigError(f"unknown norm {kind!r}: choose one of {', '.join(NORM_CHOICES)}")


def conv_bias(kind: str, bias: bool | None = None) -> bool:
    """Only convs followed by instance norm carry a bias, as in the reference (`use_bias = norm is
    InstanceNorm2d`): batch norm's shift replaces it, and with "none" the reference has none either,
    so its files (and ours) tell the three norms apart by their keys. `bias` True/False overrides the
    convention, for files of other implementations."""
    return kind == "instance" if bias is None else bias


def norm_of(state: Mapping[str, torch.Tensor], conv: str, norm: str) -> dict[str, object]:
    """The norm settings of a reference-layout state dict, from a conv and the norm layer after it
    (`conv_bias`'s convention read backwards): batch norm has weights and running statistics, affine
    instance norm weights only; without norm weights, biases mean instance norm and none mean "none".
    Returns `norm`, plus `affine` and `bias` where they differ from the convention."""
    if f"{norm}.weight" not in state:
        return {"norm": "instance" if f"{conv}.bias" in state else "none"}
    found: dict[str, object] = {"norm": "batch" if f"{norm}.running_mean" in state else "instance"}
    if found["norm"] == "instance":
        found["affine"] = True
    if (f"{conv}.bias" in state) != conv_bias(str(found["norm"])):
        found["bias"] = f"{conv}.bias" in state
    return found


# The norm settings a foreign file may have been made with (only what differs from the defaults):
# every norm with and without conv biases, instance norm also with a scale and shift.
NORM_VARIANTS: tuple[dict[str, object], ...] = (
    {"norm": "instance"},
    {"norm": "instance", "affine": True},
    {"norm": "instance", "bias": False},
    {"norm": "instance", "affine": True, "bias": False},
    {"norm": "batch"},
    {"norm": "batch", "bias": True},
    {"norm": "none"},
    {"norm": "none", "bias": True},
)


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN/pix2pix init: conv and linear weights ~ N(0, std), batch-norm scale ~ N(1, std), biases 0."""
    return initialize(module, "normal", std)


def initialize(module: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Re-draw the weights of every conv, linear and batch-norm layer, as the reference `init_weights`.

    With gain = `init_gain`: normal: N(0, gain); xavier: Xavier-normal with `gain`; kaiming:
    He-normal (fan_in, ReLU; gain unused); orthogonal: orthogonal rows scaled by `gain`; biases 0 and
    batch-norm scales N(1, gain) for all four. default: PyTorch's own init (each layer's
    `reset_parameters`), which the official DiscoGAN code keeps. Call before `spectral_norm`: it draws
    the plain weights. docs/DEFAULTS.md has which one each method uses, and why.
    """
    if init_type not in INIT_CHOICES:
        raise ConfigError(f"unknown init type {init_type!r}: choose one of {', '.join(INIT_CHOICES)}")
    draw: dict[str, Callable[[torch.Tensor], object]] = {
        "normal": lambda w: nn.init.normal_(w, 0.0, init_gain),
        "xavier": lambda w: nn.init.xavier_normal_(w, gain=init_gain),
        "kaiming": lambda w: nn.init.kaiming_normal_(w, a=0, mode="fan_in"),
        "orthogonal": lambda w: nn.init.orthogonal_(w, gain=init_gain),
    }
    for m in module.modules():
        weighted = isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
        if not weighted and not (isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine):
            continue
        if init_type == "default":
            m.reset_parameters()
        elif weighted:
            draw[init_type](m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        else:
            nn.init.normal_(m.weight, 1.0, init_gain)
            nn.init.zeros_(m.bias)
    return module


def spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every conv and linear weight in `module`: each
    weight is divided by its largest singular value, estimated by one power iteration per training
    forward pass, which keeps the discriminator 1-Lipschitz per layer. Adds `parametrizations.weight`
    keys to the state dict, so only layouts that ask for it change."""
    for m in list(module.modules()):
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            parametrize(m)
    return module


def load_state_dict_compat(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Strictly load a reference checkpoint, tolerating only stale InstanceNorm buffers.

    PyTorch < 0.4 InstanceNorm kept running stats, so old reference .pth files carry
    `running_mean`/`running_var`/`num_batches_tracked` our stat-free layers do not have. Those are
    dropped; any other difference is a wrong model for the file and raises ConfigError.
    """
    own = model.state_dict()
    prefix = "checkpoint does not fit the model:"
    cleaned = {k: v for k, v in state_dict.items() if k in own or not k.endswith(LEGACY_BUFFERS)}
    missing = [k for k in own if k not in cleaned]
    if missing:
        raise ConfigError(f"{prefix} missing key {missing[0]!r} ({len(missing)} missing)")
    unexpected = [k for k in cleaned if k not in own]
    if unexpected:
        raise ConfigError(f"{prefix} unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected)")
    for k, v in cleaned.items():
        if v.shape != own[k].shape:
            raise ConfigError(f"{prefix} {k!r} has shape {tuple(v.shape)}, the model expects {tuple(own[k].shape)}")
    model.load_state_dict(cleaned, strict=True)
