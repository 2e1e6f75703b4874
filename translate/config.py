"""Run settings as dataclasses: one source of truth for CLI options, config files and saved runs.

Each field's `metadata` carries its CLI help (and `choices` where the value is one of a set), so the
CLI is generated from these classes and never drifts from them. This module imports nothing heavy:
the CLI reads it at start-up.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from translate.choices import (
    COMPILE_CHOICES,
    D_NORM_CHOICES,
    DIRECTION_CHOICES,
    GAN_LOSS_CHOICES,
    INIT_CHOICES,
    NORM_CHOICES,
    ON_NAN_CHOICES,
    ON_OFF_AUTO,
    PRECISION_CHOICES,
    RECON_CHOICES,
    REPORT_TO_CHOICES,
    SR_SKIP_CHOICES,
)
from translate.errors import ConfigError

# The options that decide the networks' shapes: a resumed run must keep them (its checkpoint fits no other).
ARCHITECTURE_OPTIONS = ("generator", "ngf", "ndf", "n_layers_d", "norm", "dropout")
ARCHITECTURE_OPTIONS += ("image_size", "scale", "width", "blocks")  # DiscoGAN and super-resolution
ARCHITECTURE_OPTIONS += ("d_norm", "sr_skip")  # spectral norm changes D's keys; the SR skip what G's weights mean
ARCHITECTURE_OPTIONS += ("antialias", "antialias_up", "nce_layers", "nce_mlp_width")  # CUT: G, D and heads' layout
ARCHITECTURE_OPTIONS += ("input_nc", "output_nc")  # the first and last convs' channels
MAX_CHANNELS = 16  # as nets.registry.BOUNDS allows a config.json
MAX_SEED = 2**32 - 1  # numpy's seeding takes no more


def option(default: Any, help: str, choices: tuple[str, ...] | None = None, **extra: Any) -> Any:
    """A dataclass field that also describes its CLI option."""
    return field(default=default, metadata={"help": help, "choices": choices, **extra})


def channels_option(side: str) -> Any:
    """--input-nc / --output-nc: the channels of the images a model reads or writes (the reference code's
    --input_nc / --output_nc), so that greyscale scans and multi-band images train without becoming RGB."""
    return option(
        3,
        f"Channels of the {side} images (after --direction): 1 reads images as greyscale (colour ones are "
        "converted), 3 as RGB (greyscale ones are replicated), any other count (4-band TIFFs...) takes images "
        "with exactly that many.",
    )


def check_channels(config: Any, same: str = "") -> None:
    """--input-nc / --output-nc within 1..MAX_CHANNELS; `same`: why this run needs them equal (empty: it does not)."""
    for name in ("input_nc", "output_nc"):
        value = getattr(config, name)
        if isinstance(value, int) and not 1 <= value <= MAX_CHANNELS:
            raise ConfigError(f"--{name.replace('_', '-')} {value} must be between 1 and {MAX_CHANNELS}")
    if same and config.input_nc != config.output_nc:
        raise ConfigError(f"--input-nc {config.input_nc} and --output-nc {config.output_nc} differ, but {same}")


def init_option(default: str, paper: str) -> Any:
    """--init-type with a method's default (chosen by measurement: docs/DEFAULTS.md) and its paper's choice."""
    return option(
        default,
        f"Weight init of every network (see docs/DEFAULTS.md): normal N(0, gain), xavier (Xavier-normal), kaiming "
        f"(He-normal, no gain), orthogonal, or default (PyTorch's). Paper/official code: {paper}.",
        INIT_CHOICES,
    )


@dataclass(kw_only=True)
class TrainConfig:
    """What the engine needs, whatever the method: run folder, length, logging, precision."""

    panel = "Training run"

    out: Path = option(Path("runs/run"), "Run folder: checkpoints, samples, logs and exported models.")
    steps: int | None = option(None, "Training steps (batches). Overrides --epochs.")
    epochs: int | None = option(None, "Passes over the larger domain, if --steps is not given.")
    batch_size: int = option(1, "Images per batch and process.")
    lr: float = option(2e-4, "Adam learning rate.")
    beta1: float = option(0.5, "Adam beta1.")
    beta2: float = option(0.999, "Adam beta2.")
    decay_from: float = option(0.5, "Fraction of training after which the learning rate decays linearly to 0.")
    seed: int = option(0, "Random seed: same seed, same data order, crops and initial weights.")
    workers: int = option(2, "Data loader worker processes.")
    save_every: int = option(1000, "Write a resumable checkpoint every N steps.")
    keep_checkpoints: int = option(2, "How many recent checkpoints to keep.")
    sample_every: int = option(500, "Save a sample grid (and refresh losses.png) every N steps.")
    log_every: int = option(10, "Append averaged losses to log.jsonl every N steps.")
    mixed_precision: str = option("no", "Mixed precision: fp16 needs a GPU, bf16 works on CPUs too.", PRECISION_CHOICES)
    on_nan: str = option(
        "stop",
        "A NaN or infinite loss: stop, keeping the last good checkpoint; or skip the update of that batch "
        "(skip checks the gradients at every step, which costs a little speed).",
        ON_NAN_CHOICES,
    )
    resume: bool = option(
        False, "Continue the run in --out from its latest good checkpoint (from the start if it has none yet)."
    )
    init: str | None = option(
        None,
        "Fine-tune: start from the weights of a run (generators and discriminators) or an exported model "
        "(generators); optimizers and schedule start fresh.",
    )
    init_type: str = init_option("normal", "normal")
    init_gain: float = option(0.02, "Scale of the normal, xavier and orthogonal inits (the reference code's 0.02).")
    channels_last: str = option(
        "auto",
        "Channels-last (NHWC) memory format for the networks and batches: auto = on a GPU for networks without "
        "instance norm, on a CPU for compiled networks with instance norm (faster there), else off (slower: "
        "docs/BENCHMARKS.md). The same maths either way (dropout draws its masks in memory order).",
        ON_OFF_AUTO,
    )
    compile: str = option(
        "off",
        "torch.compile: networks = compile each network (the same maths, faster steps after a compilation of a "
        "minute or more at the start); step = that, and on one GPU the whole training step (forward, backward, "
        "optimizer updates) captured as a CUDA graph after a few eager steps and replayed in one launch "
        "(docs/BENCHMARKS.md). Checkpoints and models are unchanged.",
        COMPILE_CHOICES,
    )
    eval_every: int | None = option(
        None,
        "Score the model on --eval-a/--eval-b every N steps and at the end, appending to RUN/metrics.jsonl; the "
        "best so far is kept in RUN/models/best. With the folders but no N: once, at the end.",
    )
    eval_a: str | None = option(
        None,
        "Held-out input images for --eval-every. Named like --eval-b's (same relative path, any extension): "
        "scored pair by pair (L1, PSNR, SSIM); else as a set: FID/KID with the Inception weights cached, without "
        "them a colour-histogram proxy (proxy_color_hist_l1, not FID). Not used by super-resolution.",
    )
    eval_b: str | None = option(
        None,
        "Held-out target images for --eval-every (super-resolution: HR images, LR made by bicubic downscaling; "
        "scored by Y-PSNR/SSIM next to bicubic).",
    )
    report_to: str = option(
        "auto",
        "Experiment trackers for losses, eval metrics and sample grids: tensorboard (RUN/tensorboard/), wandb, "
        "all (both), none; auto = tensorboard when the tensorboard package is installed, else none.",
        REPORT_TO_CHOICES,
    )

    default_epochs = 200  # the papers' 100 + 100 decay epochs, when neither --steps nor --epochs is given
    # What runs saved before an option existed had, where that differs from today's default.
    legacy_settings: ClassVar[dict[str, Any]] = {}
    # The held-out folders that evaluation while training needs (super-resolution: HR images only).
    eval_folders: ClassVar[tuple[str, ...]] = ("eval_a", "eval_b")

    method: ClassVar[str]  # the method's name (`translate train NAME`), set by each method's settings class

    def trained_generator(self) -> tuple[str, int, str] | None:
        """(generator architecture, the image side it trains at, the option setting that side), for the
        checks that need the architecture registry: translate.methods.check_settings, as this module sits
        below translate.nets. None: the method's own checks cover its sizes."""
        return None

    def validate(self) -> None:
        """Raise ConfigError for settings that cannot work (checked before anything heavy starts).

        What depends on the networks' architectures (a --size the generator takes) is checked above this
        module, by translate.methods.check_settings, which runs this first.
        """
        check_types(self)
        for name in ("batch_size", "save_every", "sample_every", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("steps", "epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name} must be at least 1")
        if self.workers < 0:
            raise ConfigError("--workers cannot be negative")
        if not 0.0 <= self.decay_from <= 1.0:
            raise ConfigError("--decay-from must be between 0 and 1")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.init_gain <= 0:
            raise ConfigError(f"--init-gain must be positive, got {self.init_gain}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"--{name} must be at least 0 and below 1 (Adam), got {getattr(self, name)}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be between 0 and {MAX_SEED}, got {self.seed}")
        out = Path(self.out).expanduser()
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file; a run needs a folder")
        if self.resume and (out / "config.yaml").is_file():
            self.check_resume(read_settings(out / "config.yaml"), out / "config.yaml")
        self.check_evaluation()
        self.check_capture()

    def check_capture(self) -> None:
        """`--compile step` replays one recorded step: nothing may decide on the host from its values."""
        if self.compile != "step":
            return
        if self.on_nan == "skip":
            raise ConfigError(
                "--compile step cannot be used with --on-nan skip (skip reads every step's gradients on the "
                "host, a captured step cannot); use --on-nan stop or --compile networks"
            )
        if self.mixed_precision == "fp16":
            raise ConfigError(
                "--compile step cannot be used with --mixed-precision fp16 (its loss scaler decides on the host "
                "whether to step); use bf16 or --compile networks"
            )

    def check_evaluation(self) -> None:
        """--eval-every, --eval-a/--eval-b and --report-to: folders that exist, and the ones the method needs."""
        if self.eval_every is not None and self.eval_every < 1:
            raise ConfigError("--eval-every must be at least 1")
        for name in ("eval_a", "eval_b"):
            value = getattr(self, name)
            if value is not None and not Path(value).expanduser().is_dir():
                raise ConfigError(f"--{name.replace('_', '-')} {value} is not a folder")
        given = [name for name in ("eval_a", "eval_b") if getattr(self, name) is not None]
        missing = [name for name in self.eval_folders if getattr(self, name) is None]
        if (given or self.eval_every is not None) and missing:
            asking = f"--{given[0].replace('_', '-')}" if given else "--eval-every"
            needed = " and ".join(f"--{name.replace('_', '-')} DIR" for name in self.eval_folders)
            raise ConfigError(f"{asking} needs held-out images for evaluation: {needed}")
        for tracker in ("tensorboard", "wandb"):
            if self.report_to in (tracker, "all") and importlib.util.find_spec(tracker) is None:
                raise ConfigError(f"--report-to {self.report_to} needs the {tracker} package: pip install {tracker}")

    def check_resume(self, saved: dict[str, Any], where: Path) -> None:
        """A resumed run must build the networks its checkpoint holds: refuse changed architecture options."""
        saved = self.legacy_settings | saved
        for name in ARCHITECTURE_OPTIONS:
            if name in saved and hasattr(self, name) and saved[name] != getattr(self, name):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(
                    f"--resume: {flag} {_show(getattr(self, name))} differs from the run's {_show(saved[name])} "
                    f"({where}); its checkpoint only fits the networks it was saved from: drop {flag} or pick "
                    "a new --out"
                )


@dataclass(kw_only=True)
class ImageTranslationConfig(TrainConfig):
    """Settings shared by the methods built on the reference CycleGAN/pix2pix networks."""

    panel = "Data and networks"

    size: int = option(256, "Crop size fed to the networks.")
    input_nc: int = channels_option("input")
    output_nc: int = channels_option("output")
    load_size: int = option(286, "Images are resized to this square size before random cropping.")
    flip: bool = option(True, "Random horizontal flips.")
    generator: str = option("resnet9", "Generator architecture.")  # its choices: translate.methods.setting_choices
    ngf: int = option(64, "Generator width (filters in the first layer).")
    ndf: int = option(64, "Discriminator width (filters in the first layer).")
    n_layers_d: int = option(3, "PatchGAN depth: 3 gives 70x70 patches.")
    norm: str = option("instance", "Normalisation layers.", NORM_CHOICES)
    d_norm: str | None = option(
        None,
        "Discriminator normalisation, if not --norm's layers (the papers): spectral normalises every conv by its "
        "largest singular value (Miyato et al. 2018) instead of norm layers.",
        D_NORM_CHOICES,
    )
    gan_loss: str = option("lsgan", "Adversarial loss.", GAN_LOSS_CHOICES)
    gradient_checkpointing: bool = option(
        False,
        "Recompute the generator's activations in the backward pass instead of keeping them (ResNet generators): "
        "much less memory at high resolution for about a third more compute.",
    )
    batch_passes: bool = option(
        True,
        "Run the passes of one network over several inputs as one batch (CycleGAN's translation and identity "
        "passes, each discriminator's real and fake passes) where its norm layers treat images one at a time "
        "(instance, none): the same maths in fewer, larger kernels.",
    )

    def validate(self) -> None:
        super().validate()
        if self.load_size < self.size:
            raise ConfigError(f"--load-size {self.load_size} is smaller than --size {self.size}")
        for name in ("ngf", "ndf"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be at least 1")
        if self.n_layers_d < 0:
            raise ConfigError("--n-layers-d cannot be negative (0 is the 1x1 PixelGAN)")
        check_channels(self)

    def trained_generator(self) -> tuple[str, int, str]:
        return self.generator, self.size, "--size"


@dataclass(kw_only=True)
class UnpairedConfig(ImageTranslationConfig):
    """Two unrelated image domains (CycleGAN, CUT)."""

    panel = "Domains"

    a: str | None = option(None, "Domain A: an image folder or a built-in domain name.", required=True)
    b: str | None = option(None, "Domain B: an image folder or a built-in domain name.", required=True)


@dataclass(kw_only=True)
class CycleGANConfig(UnpairedConfig):
    """CycleGAN (Zhu et al. 2017): two generators, two discriminators, cycle consistency."""

    method: ClassVar[str] = "cyclegan"

    panel = "CycleGAN"

    lambda_cycle: float = option(10.0, "Weight of the cycle-consistency L1 loss.")
    lambda_identity: float = option(0.5, "Weight of the identity loss, relative to --lambda-cycle (0 turns it off).")
    pool_size: int = option(50, "Past fakes kept to show the discriminators (0 turns the pool off).")
    init_type: str = init_option("orthogonal", "normal, gain 0.02 (its successor CUT: xavier, gain 0.02)")

    def validate(self) -> None:
        super().validate()
        for name in ("lambda_cycle", "lambda_identity", "pool_size"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} cannot be negative")
        if self.lambda_identity > 0:
            check_channels(
                self, "the identity loss feeds each domain to the other's generator (--lambda-identity 0 drops it)"
            )


def redefault(base: type, name: str, default: Any) -> Any:
    """Field `name` of dataclass `base` with another default (same help and choices), for a method
    whose paper uses different defaults; dataclasses cannot change an inherited default otherwise."""
    return field(default=default, metadata=base.__dataclass_fields__[name].metadata)


def parse_layers(text: str) -> tuple[int, ...]:
    """--nce-layers "0,4,8,12,16" as ascending distinct indices; ConfigError for anything else."""
    try:
        layers = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--nce-layers {text!r} must be comma-separated layer numbers, such as 0,4,8,12,16") from None
    if any(n < 0 for n in layers) or list(layers) != sorted(set(layers)):
        raise ConfigError(f"--nce-layers {text!r} must be distinct layer numbers from 0, in ascending order")
    return layers


@dataclass(kw_only=True)
class CUTConfig(UnpairedConfig):
    """CUT (Park et al. 2020): one generator, one discriminator, and PatchNCE instead of a cycle.

    Defaults follow the official code (taesungp/contrastive-unpaired-translation, --CUT_mode CUT): the
    ResNet-9 and PatchGAN with anti-aliased (blurred) down- and upsampling, LSGAN, PatchNCE on generator
    layers 0,4,8,12,16 with 256 patches each, temperature 0.07, negatives from the same image, 2-layer MLP
    heads of 256 units, identity PatchNCE on domain B, Xavier init (gain 0.02), no image pool, 200 + 200
    epochs with linear decay.
    """

    method: ClassVar[str] = "cut"

    panel = "CUT"

    lambda_gan: float = option(1.0, "Weight of the adversarial loss.")
    lambda_nce: float = option(1.0, "Weight of the PatchNCE loss (must be positive: it is what ties output to input).")
    nce_idt: bool = option(True, "Identity PatchNCE on domain B: G(B) must keep B's patches (CUT: on; FastCUT: off).")
    nce_layers: str = option(
        "0,4,8,12,16",
        "Generator layers (indices of its `model` sequence) whose features PatchNCE compares; the default is "
        "the input, the two downsampling convs and residual blocks 1 and 5 of the anti-aliased ResNet.",
    )
    num_patches: int = option(256, "Patch positions sampled per layer and image for PatchNCE.")
    nce_t: float = option(0.07, "Temperature of the PatchNCE softmax.")
    nce_mlp_width: int = option(256, "Units of the 2-layer MLP projection heads (the CUT code's --netF_nc).")
    nce_batch_negatives: bool = option(
        False,
        "Take PatchNCE negatives from every image of the batch, not only the same image (the CUT code's "
        "--nce_includes_all_negatives_from_minibatch, for single-image training).",
    )
    flip_equivariance: bool = option(
        False,
        "Half the time, translate the horizontally flipped input and flip the output's features back before "
        "PatchNCE: the translation must commute with flips (FastCUT: on).",
    )
    antialias: bool = option(True, "Blurred (anti-aliased) downsampling in the generator and the discriminator.")
    antialias_up: bool = option(True, "Blurred (anti-aliased) upsampling in the generator.")
    init_type: str = init_option("xavier", "xavier, gain 0.02")

    default_epochs = 400  # the official 200 + 200 decay epochs

    def validate(self) -> None:
        super().validate()
        if not self.generator.startswith("resnet"):
            raise ConfigError(
                f"CUT reads the ResNet generator's encoder: --generator resnet9 or resnet6, not {self.generator}"
            )
        parse_layers(self.nce_layers)
        check_channels(self, "CUT reads the output's features through the generator's own encoder")
        for name in ("lambda_nce", "nce_t"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.lambda_gan < 0:
            raise ConfigError("--lambda-gan cannot be negative")
        for name in ("num_patches", "nce_mlp_width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")


@dataclass(kw_only=True)
class FastCUTConfig(CUTConfig):
    """FastCUT (Park et al. 2020): CUT without identity PatchNCE, with a 10x PatchNCE weight and flip-equivariance.

    Defaults follow the official code's --CUT_mode FastCUT: lambda_NCE 10, no identity PatchNCE,
    flip-equivariance, 150 + 50 epochs (decay from 0.75); everything else as CUT.
    """

    method: ClassVar[str] = "fastcut"

    panel = "FastCUT"

    lambda_nce: float = redefault(CUTConfig, "lambda_nce", 10.0)
    nce_idt: bool = redefault(CUTConfig, "nce_idt", False)
    flip_equivariance: bool = redefault(CUTConfig, "flip_equivariance", True)
    decay_from: float = redefault(TrainConfig, "decay_from", 0.75)

    default_epochs = 200  # the official 150 + 50 decay epochs


@dataclass(kw_only=True)
class Pix2PixConfig(ImageTranslationConfig):
    """pix2pix (Isola et al. 2017): paired translation with a U-Net and a conditional PatchGAN."""

    method: ClassVar[str] = "pix2pix"

    panel = "pix2pix"

    data: str | None = option(
        None, "Folder of side-by-side A|B images (A left, B right), or a paired catalog name (facades, ...)."
    )
    a: str | None = option(None, "Folder of A images, paired with --b by relative path and name (any extension).")
    b: str | None = option(None, "Folder of B images, paired with --a by relative path and name.")
    direction: str = option("a2b", "Translate A to B (a2b) or B to A (b2a).", DIRECTION_CHOICES)
    lambda_l1: float = option(100.0, "Weight of the L1 loss between output and target.")
    dropout: bool = option(True, "Dropout in the generator: pix2pix's only source of noise.")
    eval_mode: bool = option(
        True,
        "Convert with the generator in eval mode (dropout off, batch norm on running statistics): measured "
        "closest to the answer after training with batch size 1 and 4 (docs/DEFAULTS.md). --no-eval-mode runs it "
        "as the paper's test.py without --eval (whole net in train mode: dropout on, each image's own statistics).",
    )
    generator: str = redefault(ImageTranslationConfig, "generator", "unet256")
    norm: str = redefault(ImageTranslationConfig, "norm", "batch")
    gan_loss: str = redefault(ImageTranslationConfig, "gan_loss", "vanilla")
    init_type: str = init_option("orthogonal", "normal, gain 0.02")

    colorization: bool = option(
        False,
        "Colorization: --data (or --a) is one folder of colour photos; the input is each photo's greyscale "
        "(1 channel, so --input-nc becomes 1) and the target the photo itself (3 channels).",
    )

    def __post_init__(self) -> None:
        if self.colorization and self.input_nc == 3:
            self.input_nc = 1  # grey in: what --colorization means, without a second option to type

    def validate(self) -> None:
        super().validate()
        if self.lambda_l1 < 0:
            raise ConfigError("--lambda-l1 cannot be negative")
        if self.colorization:
            self.check_colorization()
            return
        folders = self.a is not None or self.b is not None
        if self.data is not None and folders:
            raise ConfigError("give either --data (side-by-side A|B images) or --a and --b (two folders), not both")
        if self.data is None and (self.a is None or self.b is None):
            given = "--a without --b" if self.a is not None else "--b without --a" if folders else "no data"
            raise ConfigError(f"pix2pix needs --data DIR (side-by-side A|B) or both --a DIR and --b DIR; got {given}")

    def check_colorization(self) -> None:
        """One folder of colour photos, grey in and colour out."""
        photos = [name for name in ("data", "a") if getattr(self, name) is not None]
        if self.b is not None or len(photos) != 1:
            raise ConfigError("--colorization takes one folder of colour photos: --data DIR (or --a DIR), no --b")
        if self.input_nc != 1 or self.output_nc != 3:
            raise ConfigError(
                f"--colorization turns grey (1 channel) into colour (3): drop --input-nc {self.input_nc} "
                f"and --output-nc {self.output_nc}"
            )
        if self.direction != "a2b":
            raise ConfigError("--colorization translates grey to colour: drop --direction b2a")


@dataclass(kw_only=True)
class DiscoGANConfig(TrainConfig):
    """DiscoGAN (Kim et al. 2017): two encoder-decoders with a reconstruction loss, at 64x64 or 128x128.

    Defaults follow the official SKTBrain/DiscoGAN code: GAN and feature-matching losses weighted
    0.1 / 0.9, a reconstruction weight `rate` of 0.01 for the first 10000 steps and 0.5 after,
    Adam with weight decay 1e-5 at a constant learning rate (--decay-from is ignored), batches of 64.
    """

    method: ClassVar[str] = "discogan"

    panel = "DiscoGAN"

    a: str | None = option(None, "Domain A: a folder, a built-in domain or a catalog name (shoes...).", required=True)
    b: str | None = option(None, "Domain B: a folder, a built-in domain or a catalog name (bags...).", required=True)
    image_size: int = option(64, "Square size images are resized to (64 or 128); the networks take only this size.")
    width: int = option(64, "Network width (filters in the first layer).")
    input_nc: int = channels_option("input")
    output_nc: int = channels_option("output")
    flip: bool = option(False, "Random horizontal flips (the official code has none).")
    recon_loss: str = option("mse", "Reconstruction loss, on [0, 1] pixels as in the official code.", RECON_CHOICES)
    gan_curriculum: int = option(10000, "Steps that use --starting-rate before switching to --default-rate.")
    starting_rate: float = option(0.01, "Reconstruction weight (rate) in the GAN curriculum; GAN terms get 1 - rate.")
    default_rate: float = option(0.5, "Reconstruction weight (rate) after the GAN curriculum.")
    gan_weight: float = option(0.1, "Weight of the adversarial loss within the GAN terms.")
    fm_weight: float = option(0.9, "Weight of the feature-matching loss within the GAN terms.")
    update_interval: int = option(
        3,
        "Of every N batches the first trains the discriminators and the rest the generators (official: 3); "
        "1 trains both on every batch.",
    )
    weight_decay: float = option(1e-5, "Adam weight decay (L2) of all four networks.")
    init_type: str = init_option("default", "default (PyTorch's)")
    batch_size: int = redefault(TrainConfig, "batch_size", 64)
    lr: float = redefault(TrainConfig, "lr", 2e-4)
    beta1: float = redefault(TrainConfig, "beta1", 0.5)
    beta2: float = redefault(TrainConfig, "beta2", 0.999)

    def trained_generator(self) -> tuple[str, int, str]:
        return "discogan", self.image_size, "--image-size"

    def validate(self) -> None:
        super().validate()
        for name in ("width", "update_interval"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        check_channels(self)
        for name in ("starting_rate", "default_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} must be between 0 and 1")
        for name in ("gan_curriculum", "gan_weight", "fm_weight", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} cannot be negative")


SR_SCALES = (2, 4, 8)
CONTENT_LOSS_CHOICES = ("vgg", "mse")


@dataclass(kw_only=True)
class SRConfig(TrainConfig):
    """Settings shared by SRResNet and SRGAN (Ledig et al. 2017); defaults follow the paper."""

    panel = "Super-resolution"

    hr: str | None = option(
        None, "High-resolution images: a folder or a built-in domain name (LR is made from them).", required=True
    )
    lr_dir: str | None = option(
        None, "Folder of real low-resolution images paired with --hr by name (HR must be exactly scale x LR)."
    )
    scale: int = option(4, "Upscaling factor: 2, 4 or 8.")
    hr_size: int = option(96, "Side of the random HR crops (a multiple of --scale); LR crops are hr-size / scale.")
    crops_per_image: int = option(16, "Random crops taken from each image per epoch.")
    flip: bool = option(True, "Random horizontal and vertical flips.")
    blocks: int = option(16, "Residual blocks in the generator.")
    width: int = option(64, "Generator width (feature channels).")
    sr_skip: str = option(
        "bicubic",
        "Global skip: bicubic adds the bicubic upscale of the input to the output, whose last conv starts at zero, "
        "so a fresh model is bicubic and only learns the detail (docs/DEFAULTS.md); none is the paper's exact network.",
        SR_SKIP_CHOICES,
    )
    init_type: str = init_option("orthogonal", "not stated in the paper (PyTorch's default was ours before)")
    batch_size: int = redefault(TrainConfig, "batch_size", 16)
    lr: float = redefault(TrainConfig, "lr", 1e-4)
    beta1: float = redefault(TrainConfig, "beta1", 0.9)
    decay_from: float = option(
        0.5, "Fraction of training after which the learning rate drops to a tenth (paper: 1e-4, then 1e-5)."
    )
    legacy_settings = {"sr_skip": "none"}  # noqa: RUF012 - runs from before --sr-skip had the paper's network
    eval_folders = ("eval_b",)

    def validate(self) -> None:
        if self.eval_a is not None:
            raise ConfigError(
                "--eval-a is not used by super-resolution: the LR images are made from --eval-b's HR images "
                "by bicubic downscaling"
            )
        super().validate()
        if self.scale not in SR_SCALES:
            raise ConfigError(f"--scale {self.scale} is not supported: choose 2, 4 or 8")
        if self.hr_size < 1 or self.hr_size % self.scale:
            hint = max(self.scale, round(self.hr_size / self.scale) * self.scale)
            raise ConfigError(
                f"--hr-size {self.hr_size} must be a positive multiple of --scale {self.scale} (try --hr-size {hint})"
            )
        for name in ("width", "crops_per_image"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.blocks < 0:
            raise ConfigError("--blocks cannot be negative")
        run = Path(self.init).expanduser() / "config.yaml" if self.init is not None and not self.resume else None
        if run is not None and run.is_file():  # checkpoint weights are copied by name: the skip must match
            skip = (self.legacy_settings | read_settings(run)).get("sr_skip")
            if skip != self.sr_skip:
                raise ConfigError(
                    f"--init {self.init} was trained with --sr-skip {skip}: its weights mean something else with "
                    f"--sr-skip {self.sr_skip}; add --sr-skip {skip}"
                )


@dataclass(kw_only=True)
class SRResNetConfig(SRConfig):
    """SRResNet (Ledig et al. 2017): the super-resolution generator alone, trained with pixel MSE."""

    method: ClassVar[str] = "srresnet"


@dataclass(kw_only=True)
class SRGANConfig(SRConfig):
    """SRGAN (Ledig et al. 2017): SRResNet trained on VGG content loss plus an adversarial loss.

    The paper starts from a trained SRResNet (--init) to avoid poor local optima.
    """

    method: ClassVar[str] = "srgan"

    panel = "SRGAN"

    content_loss: str = option(
        "vgg", "Content loss: VGG19 phi_5,4 features (the paper) or pixel MSE.", CONTENT_LOSS_CHOICES
    )
    vgg_weights: str | None = option(
        None, "torchvision's vgg19-dcbb9e9d.pth (default: torch hub's cache; nothing is downloaded)."
    )
    lambda_adv: float = option(1e-3, "Weight of the adversarial loss.")
    gan_loss: str = option("vanilla", "Adversarial loss.", GAN_LOSS_CHOICES)
    ndf: int = option(64, "Discriminator width (filters in the first layer).")
    d_norm: str = option(
        "batch",
        "Discriminator normalisation: batch norm (the paper) or spectral, which normalises every conv and linear "
        "weight by its largest singular value (Miyato et al. 2018) instead.",
        ("batch", "spectral"),
    )

    def validate(self) -> None:
        super().validate()
        if self.lambda_adv < 0:
            raise ConfigError("--lambda-adv cannot be negative")
        if self.ndf < 1:
            raise ConfigError("--ndf must be at least 1")
        if self.d_norm == "batch" and self.batch_size == 1 and self.hr_size <= 16:  # batch norm: two values a channel
            raise ConfigError(
                f"--hr-size {self.hr_size} with --batch-size 1 leaves the discriminator one value per channel "
                "to normalise: use an --hr-size above 16, or --batch-size 2 or more"
            )
        if self.vgg_weights is not None and not Path(self.vgg_weights).expanduser().is_file():
            raise ConfigError(f"--vgg-weights {self.vgg_weights} is not a file")


C = TypeVar("C", bound=TrainConfig)


def config_fields(cls: type[TrainConfig]) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.init]


def check_types(config: TrainConfig) -> None:
    """Each value has its field's type and is one of its choices (config files bypass the CLI's parsing)."""
    hints = typing.get_type_hints(type(config))
    for f in config_fields(type(config)):
        value, flag = getattr(config, f.name), "--" + f.name.replace("_", "-")
        allowed = typing.get_args(hints[f.name]) if isinstance(hints[f.name], types.UnionType) else (hints[f.name],)
        if value is None and type(None) in allowed:
            continue
        if isinstance(value, bool) and bool not in allowed:
            ok = False  # True is an int to Python, not to a user
        elif float in allowed:
            ok = isinstance(value, (int, float)) and math.isfinite(value)
        elif Path in allowed:
            ok = isinstance(value, (str, Path))
        else:
            ok = isinstance(value, tuple(t for t in allowed if isinstance(t, type)))
        if not ok:
            kind = next((_KINDS[t] for t in allowed if t in _KINDS), "a value")
            raise ConfigError(f"{flag} must be {kind}, got {value!r}")
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{flag} {value!r} is not one of {', '.join(choices)}")


_KINDS = {bool: "true or false", int: "a whole number", float: "a finite number", str: "text", Path: "a path"}


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain, JSON/YAML-friendly settings, with the method name first."""
    values = {f.name: getattr(config, f.name) for f in config_fields(type(config))}
    return {"method": config.method} | {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


# Values that runs and settings files of earlier versions hold for options that have changed type since:
# --compile was on or off before it had modes.
_EARLIER_VALUES: dict[str, dict[bool, str]] = {"compile": {False: "off", True: "networks"}}


def from_dict(cls: type[C], values: dict[str, Any]) -> C:
    """Build a config from plain values, refusing unknown keys (a typo must not be ignored silently)."""
    values = {k.replace("-", "_"): v for k, v in values.items() if k != "method"}
    values |= {k: _EARLIER_VALUES[k][v] for k, v in values.items() if k in _EARLIER_VALUES and isinstance(v, bool)}
    known = {f.name: f for f in config_fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s) for {cls.__name__}: {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    coerced = {k: _coerce(v, hints[k]) for k, v in values.items()}
    return cls(**coerced)


def _coerce(value: Any, hint: Any) -> Any:
    """Settings files give plain YAML values: a path as text, a number where text is meant (a folder "5")."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if Path in allowed and isinstance(value, str):
        return Path(value)
    if str in allowed and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def saved_run_settings(cls: type[TrainConfig], out: Path) -> dict[str, Any]:
    """The settings saved in run folder `out` (for --resume), without the method name; {} if none.

    A run of another method cannot be resumed by this one: say so, rather than list its options as unknown.
    """
    path = out / "config.yaml"
    if not path.is_file():
        return {}
    saved = read_settings(path)
    method = saved.pop("method", None)
    ours = cls.method
    if method is not None and method != ours:
        raise ConfigError(
            f"--resume: {out} is a {method} run, not {ours}: continue it with `translate train {method} --resume`"
        )
    return cls.legacy_settings | saved


def read_settings(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON settings file into a dict."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml  # lazy: the CLI reads this module at start-up

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise ConfigError(f"config file {path} could not be parsed: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of option names to values")
    return data


def save_settings(config: TrainConfig, path: Path) -> None:
    """Write the effective settings of a run as YAML (atomically)."""
    import yaml  # lazy: the CLI reads this module at start-up

    from translate.atomic import write_text  # lazy: the CLI reads this module at start-up

    write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
