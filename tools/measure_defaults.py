"""Measure the defaults of docs/DEFAULTS.md: each choice is trained through the real engine on a task whose
right answer is known, with several seeds and equal steps, and scored on held-out data.

Experiments (each appends one JSON line per run to --out and skips runs already there, so an
interrupted measurement continues where it stopped):

- pix2pix-mode: pix2pix trained with batch size 4 and 1 on paired day -> night scenes, converted
  three ways: train (the reference test.py: dropout on, batch norm on each image's own statistics),
  eval (dropout off, running statistics), batch-stats (dropout off, each image's own statistics).
- sr-skip: SRResNet x2 trained on skimage photos, scored on held-out ones (Y-PSNR over bicubic):
  the paper's network vs the bicubic global skip, with and without a zero last conv.
- sr-lr: the default SRResNet at several learning rates (--lrs) and sizes (--width, --blocks).
- init-cyclegan, init-pix2pix, init-discogan, init-srresnet: every --init-type of a method.
- table: print the markdown tables of everything in --out.

    .venv/bin/python tools/measure_defaults.py pix2pix-mode --seeds 0 1 2 --out defaults.jsonl
    .venv/bin/python tools/measure_defaults.py table --out defaults.jsonl

One thread per run: these are learning-quality numbers, not speed, and the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import inspect
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from translate.choices import INIT_CHOICES
from translate.data.demo import day_to_night, make_domain_images
from translate.data.images import image_to_tensor, save_image

SIZE = 32  # pix2pix and CycleGAN tasks; DiscoGAN's networks take 64 only
SR_TRAIN = ("astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "coins", "camera", "brick", "grass")
SR_HELD_OUT = ("coffee", "rocket")

# -- data -------------------------------------------------------------------------------------------


def write_images(images: list[np.ndarray], folder: Path) -> Path:
    for i, image in enumerate(images):
        save_image(image, folder / f"{i:03d}.png")
    return folder


def invert(rgb: np.ndarray) -> np.ndarray:
    return 255 - rgb


def upside_down(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[::-1])


def blur(rgb: np.ndarray) -> np.ndarray:
    """A Gaussian blur (radius 1 px): a change of texture whose right answer is known, pixel by pixel."""
    from PIL import Image, ImageFilter

    return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(1)))


# Generated tasks with known answers: the scene as input, its mapping as the true output.
TASKS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "colour": (day_to_night, "day -> night (colour mapping)"),
    "geometry": (upside_down, "scene -> upside down (geometry)"),
    "texture": (blur, "sharp -> blurred (texture)"),
}


def write_photos(names: tuple[str, ...], folder: Path) -> Path:
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True)
    for name in names:
        pixels = getattr(skimage.data, name)()
        if pixels.ndim == 2:
            pixels = np.repeat(pixels[..., None], 3, axis=2)
        Image.fromarray(pixels).save(folder / f"{name}.png", compress_level=1)
    return folder


def unpaired_folders(tmp: Path, n: int, size: int, mapping: Callable[[np.ndarray], np.ndarray]) -> tuple[str, str]:
    """Folders A and B of `n` scenes each: B holds `mapping` of other scenes than A's (unpaired)."""
    a = write_images(make_domain_images(n, size, seed=1), tmp / "a")
    b = write_images(make_domain_images(n, size, seed=2, mapping=mapping), tmp / "b")
    return str(a), str(b)


def held_out(n: int, size: int, mapping: Callable[[np.ndarray], np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, true outputs) of `n` scenes no run trains on, in [-1, 1]."""
    scenes = make_domain_images(n, size, seed=99)
    x = torch.stack([image_to_tensor(s) for s in scenes])
    y = torch.stack([image_to_tensor(mapping(s)) for s in scenes])
    return x, y


# -- running --------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_run() -> Iterator[Path]:
    """A temporary run folder; Accelerate's process-wide state is reset afterwards (one per Trainer)."""
    from accelerate.state import AcceleratorState

    with tempfile.TemporaryDirectory(prefix="measure-") as tmp:
        try:
            yield Path(tmp)
        finally:
            AcceleratorState._reset_state(reset_partial_state=True)


def train(config_cls: type, method_cls: type, **settings: Any):
    """Train through the real engine; returns the Trainer (its method holds the networks)."""
    from accelerate.state import AcceleratorState

    from translate.engine.trainer import Trainer
    from translate.errors import RunStopped

    quiet = {"workers": 0, "save_every": 10**6, "sample_every": 10**6, "log_every": 10**6}
    config = config_cls(**(quiet | settings))
    config.validate()
    for _ in range(5):
        trainer = Trainer(config, method_cls)
        try:
            trainer.fit()
            return trainer
        except RunStopped as stop:  # a SIGTERM from outside: the resume is exact, so the numbers stay the same
            print(f"{stop}; resuming", flush=True)
            AcceleratorState._reset_state(reset_partial_state=True)
            config.resume = True
    raise RuntimeError("stopped five times")


def l1(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean())


# -- pix2pix inference mode -----------------------------------------------------------------------


def train_pix2pix_day_night(tmp: Path, mapping: Callable[[np.ndarray], np.ndarray] = day_to_night, **settings: Any):
    """pix2pix (ResNet-6 at SIZE px) on 64 paired scenes -> `mapping`(scene) written into `tmp`; the Trainer."""
    from translate.config import Pix2PixConfig
    from translate.methods.pix2pix import Pix2Pix

    scenes = make_domain_images(64, SIZE, seed=1)
    a = write_images(scenes, tmp / "A")
    b = write_images([mapping(s) for s in scenes], tmp / "B")
    return train(
        Pix2PixConfig, Pix2Pix, a=str(a), b=str(b), out=tmp / "run", size=SIZE, load_size=SIZE, generator="resnet6",
        **settings,
    )  # fmt: skip


def pix2pix_modes(seed: int, batch_size: int, steps: int, ngf: int) -> list[dict[str, Any]]:
    """Train pix2pix on paired day -> night, then score the three ways of running its generator."""
    from translate.inference.sizing import make_batch_translator

    x, y = held_out(32, SIZE, day_to_night)
    with fresh_run() as tmp:
        trainer = train_pix2pix_day_night(tmp, ngf=ngf, ndf=ngf, batch_size=batch_size, steps=steps, seed=seed)
        g = trainer.method.unwrap(trainer.method.g)
        spec = {"generator": {"name": "resnet6"}}
        identity = l1(x, y)
        rows = []
        with torch.no_grad():
            for mode in ("train", "eval", "batch-stats"):
                torch.manual_seed(seed)
                net = copy.deepcopy(g).eval()  # train mode updates running statistics: each mode gets its own copy
                translate = make_batch_translator(net, spec | {"eval_mode": mode == "eval"})
                if mode == "batch-stats":  # batch norm on the image's statistics, dropout off
                    for m in net.modules():
                        if isinstance(m, torch.nn.Dropout):
                            m.eval()
                out = translate(x)
                rows.append({"variant": f"batch {batch_size}, {mode}", "l1": l1(out, y), "identity": identity})
    return rows


# -- super-resolution -----------------------------------------------------------------------------

SR_VARIANTS = {
    # name: (--sr-skip, zero the last conv, zero the residual branches)
    "paper (no skip), zero residual branches": ("none", False, True),
    "paper (no skip), default init": ("none", False, False),
    "bicubic skip, zero last conv only": ("bicubic", True, False),
    "bicubic skip, zero last conv + residual branches": ("bicubic", True, True),
    "bicubic skip, default last conv": ("bicubic", False, False),
}
DEFAULT_SR = ("bicubic", True, False)  # what SRResNetMethod does


def sr_run(
    seed: int,
    steps: int,
    width: int,
    blocks: int,
    variant: tuple[str, bool, bool],
    init_type: str | None = None,
    lr: float = 1e-4,
    batch_size: int = 16,
    hr_size: int = 32,
    scale: int = 2,
) -> dict[str, Any]:
    """Train SRResNet (x2 unless `scale` says otherwise) on skimage photos; Y-PSNR on held-out photos and bicubic's.

    `variant`: (--sr-skip, zero the last conv, zero the residual branches)."""
    skip, zero_tail, zero_residuals = variant
    from translate.config import SRResNetConfig
    from translate.evaluation.sr import evaluate_sr
    from translate.methods import srgan

    class Variant(srgan.SRResNetMethod):
        def __init__(self, config, accelerator) -> None:
            super().__init__(config, accelerator)
            fresh = srgan.build_generator(**srgan.sr_generator_spec(config), **srgan.init_options(config))
            self.g.load_state_dict(fresh.state_dict())  # undo the method's own zeroing, then apply the variant's
            if not zero_tail:
                self.g.tail.reset_parameters()
            if zero_residuals:
                srgan.zero_init_residuals(self.g)

    with fresh_run() as tmp:
        train_dir, test_dir = write_photos(SR_TRAIN, tmp / "train"), write_photos(SR_HELD_OUT, tmp / "test")
        extra = {"init_type": init_type} if init_type else {}
        trainer = train(
            SRResNetConfig, Variant, hr=str(train_dir), out=tmp / "run", scale=scale, hr_size=hr_size, width=width,
            blocks=blocks, batch_size=batch_size, lr=lr, steps=steps, crops_per_image=64, seed=seed, sr_skip=skip,
            **extra,
        )  # fmt: skip
        mean = evaluate_sr(trainer.run.models / "sr", test_dir, device="cpu", tile=0).mean()
    return {
        "psnr_y": mean["psnr_y"],
        "bicubic": mean["bicubic_psnr_y"],
        "margin": mean["psnr_y"] - mean["bicubic_psnr_y"],
    }


# -- init types -----------------------------------------------------------------------------------


def init_cyclegan(
    seed: int, init_type: str, steps: int, task: str = "colour", ngf: int = 8, batch_size: int = 4
) -> dict[str, Any]:
    from translate.config import CycleGANConfig
    from translate.methods.cyclegan import CycleGAN

    mapping = TASKS[task][0]
    x, y = held_out(32, SIZE, mapping)
    with fresh_run() as tmp:
        a, b = unpaired_folders(tmp, 64, SIZE, mapping)
        trainer = train(
            CycleGANConfig, CycleGAN, a=a, b=b, out=tmp / "run", size=SIZE, load_size=SIZE,
            generator="resnet6", ngf=ngf, ndf=ngf, batch_size=batch_size, steps=steps, seed=seed, init_type=init_type,
        )  # fmt: skip
        g = trainer.method.unwrap(trainer.method.g_ab).eval()
        with torch.no_grad():
            return {"l1": l1(g(x), y), "identity": l1(x, y)}


def init_pix2pix(
    seed: int, init_type: str, steps: int, task: str = "colour", ngf: int = 8, batch_size: int = 1
) -> dict[str, Any]:
    from translate.inference.sizing import make_batch_translator

    mapping = TASKS[task][0]
    x, y = held_out(32, SIZE, mapping)
    with fresh_run() as tmp:
        trainer = train_pix2pix_day_night(
            tmp, mapping, ngf=ngf, ndf=ngf, batch_size=batch_size, steps=steps, seed=seed, init_type=init_type
        )
        spec = trainer.method.exports()["a2b"][1]
        g = trainer.method.unwrap(trainer.method.g).eval()
        torch.manual_seed(seed)
        with torch.no_grad():
            return {"l1": l1(make_batch_translator(g, spec)(x), y), "identity": l1(x, y)}


def init_discogan(seed: int, init_type: str, steps: int) -> dict[str, Any]:
    from translate.config import DiscoGANConfig
    from translate.methods.discogan import DiscoGAN

    x, y = held_out(32, 64, invert)
    with fresh_run() as tmp:
        a, b = unpaired_folders(tmp, 200, 64, invert)
        trainer = train(
            DiscoGANConfig, DiscoGAN, a=a, b=b, out=tmp / "run", width=8, batch_size=8, steps=steps,
            update_interval=1, gan_curriculum=0, seed=seed, init_type=init_type,
        )  # fmt: skip
        g = trainer.method.unwrap(trainer.method.g_ab).eval()
        with torch.no_grad():
            return {"l1": l1(g(x), y), "identity": l1(x, y)}


# -- CUT and FastCUT against CycleGAN ------------------------------------------------------------

# What a step of each costs relative to CycleGAN's, from tools/bench.py on a quiet 2-core AVX-512 CPU
# (128 px, ResNet-9 ngf 64, batch 1, fp32): 3.001, 2.221 and 1.236 s/step. Equal wall-clock time gives
# each method (CycleGAN's steps) / (its cost) steps.
STEP_COST = {"cyclegan": 1.0, "cut": 0.74, "fastcut": 0.41}


def random_features(images: torch.Tensor) -> np.ndarray:
    """32 features per image from a fixed, randomly initialised conv net (seed 0).

    Stands in for Inception in FID/KID, whose weights cannot be downloaded on this offline machine:
    it ranks distributions of these small generated scenes by colour, edges and layout, not by the
    ImageNet semantics of the papers' FID, so compare these numbers with each other only."""
    from torch import nn

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(3, 16, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(16, 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
    with torch.no_grad():
        return net(images.float()).double().numpy()


def standardised(*feature_sets: np.ndarray) -> list[np.ndarray]:
    """The sets centred on the first set's mean and divided by its overall spread (one number), so that
    FID reads the same whatever the random net's scale (FID grows with the square of the features')."""
    mean, scale = feature_sets[0].mean(axis=0), feature_sets[0].std() + 1e-12
    return [(f - mean) / scale for f in feature_sets]


def unpaired_quality(method: str, seed: int, steps: int, task: str, **settings: Any) -> dict[str, Any]:
    """Train CycleGAN, CUT or FastCUT (their defaults but for size and width) on an unpaired task with a
    known answer; score held-out scenes: L1 to the true answers, FID/KID on `random_features`, and the
    collapse measure of engine/collapse.py (how much outputs differ across inputs, relative to the inputs)."""
    from translate.engine.collapse import collapsed_columns, relative_spread
    from translate.methods import METHODS
    from translate.metrics.distribution import fid, kid

    mapping = TASKS[task][0]
    x, y = held_out(128, SIZE, mapping)
    config_cls, method_cls = METHODS[method].settings, METHODS[method].load()
    with fresh_run() as tmp:
        a, b = unpaired_folders(tmp, 200, SIZE, mapping)
        trainer = train(
            config_cls, method_cls, a=a, b=b, out=tmp / "run", size=SIZE, load_size=SIZE, ngf=8, ndf=8,
            steps=steps, seed=seed, **settings,
        )  # fmt: skip
        net, _spec = trainer.method.exports()["a2b"]
        with torch.no_grad():
            out = net.eval()(x).clamp(-1, 1)
    spread = relative_spread(out, x)  # the collapse check's measure, on 128 scenes
    collapsed = collapsed_columns([[i, o] for i, o in zip(x, out, strict=True)], ["A", "A->B"], {"A->B": "A"})
    real, fake, inputs = standardised(random_features(y), random_features(out), random_features(x))
    return {
        "l1": l1(out, y),
        "identity": l1(x, y),
        "fid": fid(fake, real),
        "kid": kid(fake, real, 64)[0],
        "input_fid": fid(inputs, real),
        "spread": spread,
        "collapsed": bool(collapsed),
    }


# -- tables ---------------------------------------------------------------------------------------


def table(records: list[dict[str, Any]]) -> str:
    """One markdown table per experiment: mean (and spread) over seeds of each variant."""
    out = []
    for experiment in dict.fromkeys(r["experiment"] for r in records):
        rows = [r for r in records if r["experiment"] == experiment]
        out.append(f"### {experiment}\n\n{rows[0]['settings']}\n")
        if "margin" in rows[0]:
            out.append("| variant | seeds | Y-PSNR over bicubic, dB (mean) | min | max | Y-PSNR | bicubic |")
            out.append("| --- | --- | --- | --- | --- | --- | --- |")
        elif "fid" in rows[0]:
            out.append(
                f"input FID {rows[0]['input_fid']:.2f} (untranslated inputs against the true answers)\n\n"
                "| variant | seeds | L1 / identity (mean) | min | max | FID (mean) | KID (mean) | "
                "spread (min) | collapsed runs |"
            )
            out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        else:
            out.append("| variant | seeds | L1 / identity (mean) | min | max | L1 | identity L1 |")
            out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for variant in dict.fromkeys(r["variant"] for r in rows):
            runs = [r for r in rows if r["variant"] == variant]
            seeds = ", ".join(str(r["seed"]) for r in runs)
            if "margin" in runs[0]:
                m = [r["margin"] for r in runs]
                out.append(
                    f"| {variant} | {seeds} | {statistics.mean(m):+.2f} | {min(m):+.2f} | {max(m):+.2f} | "
                    f"{statistics.mean(r['psnr_y'] for r in runs):.2f} | "
                    f"{statistics.mean(r['bicubic'] for r in runs):.2f} |"
                )
            elif "fid" in runs[0]:
                ratio = [r["l1"] / r["identity"] for r in runs]
                out.append(
                    f"| {variant} | {seeds} | {statistics.mean(ratio):.3f} | {min(ratio):.3f} | {max(ratio):.3f} | "
                    f"{statistics.mean(r['fid'] for r in runs):.2f} | "
                    f"{statistics.mean(r['kid'] for r in runs):.3f} | "
                    f"{min(r['spread'] for r in runs):.2f} | {sum(r['collapsed'] for r in runs)} of {len(runs)} |"
                )
            else:
                ratio = [r["l1"] / r["identity"] for r in runs]
                out.append(
                    f"| {variant} | {seeds} | {statistics.mean(ratio):.3f} | {min(ratio):.3f} | {max(ratio):.3f} | "
                    f"{statistics.mean(r['l1'] for r in runs):.4f} | {runs[0]['identity']:.4f} |"
                )
        out.append("")
    return "\n".join(out)


# -- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "experiment",
        choices=[
            "pix2pix-mode", "sr-skip", "sr-lr", *[f"init-{m}" for m in [*METHODS, "srresnet"]], "cut-quality", "table"
        ],
    )  # fmt: skip
    parser.add_argument(
        "--task",
        choices=list(TASKS),
        default="colour",
        help="generated task (init-cyclegan, init-pix2pix, cut-quality)",
    )
    parser.add_argument(
        "--step-cost", type=float, nargs=2, default=[STEP_COST["cut"], STEP_COST["fastcut"]],
        metavar=("CUT", "FASTCUT"),
        help="a CUT and a FastCUT step's cost relative to CycleGAN's (cut-quality's equal time; tools/bench.py)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--ngf", type=int, default=None, help="generator/discriminator width (init-cyclegan, init-pix2pix)"
    )
    parser.add_argument("--gan-batch", type=int, default=None, help="batch size (init-cyclegan, init-pix2pix)")
    parser.add_argument("--scale", type=int, default=2, help="SR scale factor (init-srresnet)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (each experiment has its default)")
    parser.add_argument("--width", type=int, default=16, help="SRResNet width (sr-skip, init-srresnet)")
    parser.add_argument("--blocks", type=int, default=4, help="SRResNet residual blocks (sr-skip, init-srresnet)")
    parser.add_argument("--batch-size", type=int, default=16, help="SR batch size")
    parser.add_argument("--hr-size", type=int, default=32, help="SR HR crop size")
    parser.add_argument("--lr", type=float, default=None, help="learning rate of init-srresnet (default: the method's)")
    parser.add_argument("--init-type", default=None, help="SRResNet init for sr-lr (default: the method's)")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3], help="learning rates (sr-lr)")
    parser.add_argument("--variants", nargs="+", default=None, help="only these variants (names as in the table)")
    parser.add_argument("--out", type=Path, default=Path("measure_defaults.jsonl"))
    args = parser.parse_args()
    done = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.is_file() else []
    if args.experiment == "table":
        print(table(done))
        return
    torch.set_num_threads(1)
    for job in jobs(args):
        if any(
            (r["experiment"], r["seed"]) == (job["experiment"], job["seed"]) and r["variant"].startswith(job["variant"])
            for r in done
        ):
            continue  # measured already (a job may give several rows: "batch 4" gives "batch 4, eval", ...)
        if args.variants and job["variant"] not in args.variants:
            continue
        started = time.perf_counter()
        results = job["run"]()
        for result in results if isinstance(results, list) else [results]:
            record = {k: v for k, v in job.items() if k != "run"} | result
            record["seconds"] = round(time.perf_counter() - started)
            done.append(record)
            with open(args.out, "a") as f:
                f.write(json.dumps(record) + "\n")
            print(json.dumps(record), flush=True)


METHODS = {
    "cyclegan": (init_cyclegan, 600, "CycleGAN, unpaired {task}, {size}x{size}, ResNet-6 ngf {ngf}, batch {batch}, "),
    "pix2pix": (
        init_pix2pix,
        800,
        "pix2pix, paired {task}, {size}x{size}, ResNet-6 ngf {ngf}, batch {batch}, converted in eval mode, ",
    ),
    "cut": (
        lambda seed, init_type, steps, task="colour": unpaired_quality("cut", seed, steps, task, init_type=init_type),
        1000,
        "CUT, unpaired {task}, {size}x{size}, ResNet-9 ngf 8, PatchGAN ndf 8, batch 1, scored on 128 held-out scenes, ",
    ),
    "discogan": (
        init_discogan,
        300,
        "DiscoGAN, unpaired colour inversion, 64x64, width 8, batch 8, both updates every batch, no GAN curriculum, ",
    ),  # its own task: --task does not apply
}


def sr_shape(args: argparse.Namespace) -> dict[str, int]:
    return {"batch_size": args.batch_size, "hr_size": args.hr_size, "scale": args.scale}


def jobs(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """(experiment, variant, seed, settings, run) of every run the experiment makes, in order."""
    name = args.experiment
    net, shape = (args.width, args.blocks), sr_shape(args)  # SRResNet's size and its batches
    if name == "pix2pix-mode":
        steps = args.steps or 400
        for batch_size in (4, 1):
            n = steps * 4 // batch_size  # the same number of images seen
            settings = (
                f"pix2pix, paired day -> night, {SIZE}x{SIZE}, ResNet-6 ngf 16, dropout, batch norm; {steps} steps "
                f"of batch 4 or {steps * 4} of batch 1 (the same images seen); L1 on 32 held-out scenes"
            )
            for seed in args.seeds:
                yield {
                    "experiment": name, "variant": f"batch {batch_size}", "seed": seed, "settings": settings,
                    "run": lambda s=seed, b=batch_size, n=n: pix2pix_modes(s, b, n, 16),
                }  # fmt: skip
    elif name == "sr-skip":
        steps = args.steps or 400
        settings = (
            f"SRResNet x2, width {args.width}, {args.blocks} blocks, batch {args.batch_size} of {args.hr_size} px HR "
            "crops, lr 1e-4, "
            f"{steps} steps; "
            f"train {', '.join(SR_TRAIN)}; held out {', '.join(SR_HELD_OUT)}"
        )
        for variant, (skip, zero_tail, zero_res) in SR_VARIANTS.items():
            for seed in args.seeds:
                yield {
                    "experiment": name, "variant": variant, "seed": seed, "settings": settings,
                    "run": lambda s=seed, v=(skip, zero_tail, zero_res): sr_run(s, steps, *net, v, **shape),
                }  # fmt: skip
    elif name == "sr-lr":
        steps = args.steps or 400
        settings = (
            f"SRResNet x2 (bicubic skip, zero last conv), {steps} steps (a tenth of the rate for the second half); "
            "same photos"
        )
        from translate.config import SRResNetConfig

        init = args.init_type or SRResNetConfig.__dataclass_fields__["init_type"].default
        for lr in args.lrs:
            variant = (
                f"lr {lr:g}, {init} init, width {args.width}, {args.blocks} blocks, "
                f"batch {args.batch_size} of {args.hr_size} px"
            )
            for seed in args.seeds:
                yield {
                    "experiment": name, "variant": variant, "seed": seed, "settings": settings,
                    "run": lambda s=seed, r=lr: sr_run(s, steps, *net, DEFAULT_SR, init, r, **shape),
                }  # fmt: skip
    elif name == "init-srresnet":
        from translate.config import SRResNetConfig

        default_lr = SRResNetConfig.__dataclass_fields__["lr"].default
        steps, lr = args.steps or 400, args.lr or default_lr
        changed = [f"lr {lr:g}"] * (lr != default_lr) + [f"x{args.scale}, {args.hr_size} px"] * (args.scale != 2)
        experiment = f"{name} ({', '.join(changed)})" if changed else name  # the default's table keeps the plain name
        settings = (
            f"SRResNet x{args.scale} (default skip), width {args.width}, {args.blocks} blocks, "
            f"batch {args.batch_size} of {args.hr_size} px HR crops, lr {lr:g}, {steps} steps"
        )
        for init_type in INIT_CHOICES:
            for seed in args.seeds:
                yield {
                    "experiment": experiment, "variant": init_type, "seed": seed, "settings": settings,
                    "run": lambda s=seed, i=init_type: sr_run(s, steps, *net, DEFAULT_SR, i, lr, **shape),
                }  # fmt: skip
    elif name == "cut-quality":
        budget = args.steps or 1000
        cut_cost, fast_cost = args.step_cost
        runs = [
            ("cyclegan", budget, "equal steps and time"),
            ("cut", budget, "equal steps"),
            ("cut", round(budget / cut_cost), "equal time"),
            ("fastcut", budget, "equal steps"),
            ("fastcut", round(budget / fast_cost), "equal time"),
        ]
        settings = (
            f"unpaired {TASKS[args.task][1]}, {SIZE}x{SIZE}, 200 images a side, ResNet-9 ngf 8, PatchGAN ndf 8, "
            "batch 1, "
            f"each method's other defaults; equal time from step costs CUT {cut_cost:g} and FastCUT {fast_cost:g} of "
            "CycleGAN's (tools/bench.py); scored on 128 held-out scenes"
        )
        for method, steps, budget_kind in runs:
            for seed in args.seeds:
                yield {
                    "experiment": f"{name} ({args.task})", "variant": f"{method}, {steps} steps ({budget_kind})",
                    "seed": seed, "settings": settings,
                    "run": lambda s=seed, m=method, n=steps: unpaired_quality(m, s, n, args.task),
                }  # fmt: skip
    else:
        method = name.removeprefix("init-")
        run, default_steps, what = METHODS[method]
        steps = args.steps or default_steps
        task = args.task if method != "discogan" else "colour"
        options: dict[str, Any] = {"task": task} if method != "discogan" else {}
        shape = {"ngf": args.ngf, "batch_size": args.gan_batch} if method in ("cyclegan", "pix2pix") else {}
        options |= {k: v for k, v in shape.items() if v is not None}
        defaults = inspect.signature(run).parameters
        ngf, batch = (options.get(k, defaults[k].default if k in defaults else None) for k in ("ngf", "batch_size"))
        # The first tables' names stay as they were; other tasks and shapes say theirs.
        suffix = ", ".join(
            [task] * (task != "colour")
            + [f"ngf {ngf}"] * ("ngf" in options)
            + [f"batch {batch}"] * ("batch_size" in options)
        )
        experiment = f"{name} ({suffix})" if suffix else name
        settings = what.format(size=SIZE, task=TASKS[task][1], ngf=ngf, batch=batch)
        settings += f"{steps} steps, default learning rate; gain 0.02"
        for init_type in INIT_CHOICES:
            for seed in args.seeds:
                yield {
                    "experiment": experiment, "variant": init_type, "seed": seed, "settings": settings,
                    "run": lambda s=seed, i=init_type: run(s, i, steps, **options),
                }  # fmt: skip


if __name__ == "__main__":
    main()
