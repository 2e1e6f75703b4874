"""Does `translate train` run at its step's pace? The whole CLI process against tools/bench.py's bare step.

The CLI's seconds per step are measured as users see them: two whole `translate train` processes on
the same PNG data, one of `--short` steps and one of `--long`; their difference in wall time over
`long - short` steps leaves out start-up, the first steps' warm-up, the final checkpoint and the
export (issue 19 measured the reference code the same way). tools/bench.py then times the same
method's step on one fixed batch already on the device, with the settings `translate train` picks
(`default`, or `default+bf16`). The ratio CLI / bench is what the loop costs on top of the step:
data loading, host-device copies, synchronisations, logging (target: within 5%).

With `--reference DIR` (a checkout of taesungp/contrastive-unpaired-translation, whose `cycle_gan` model
is run with `--no_antialias --no_antialias_up`, or of junyanz/pytorch-CycleGAN-and-pix2pix, which also
has `pix2pix`), the reference code's train.py is timed the same way on the same images (its
`--max_dataset_size` sets the steps of one epoch), and the table gets our speed-up over it (target: 4x).

    python tools/bench_cli.py --methods cyclegan,pix2pix --size 256 --batch-size 1 --workers 4 --reference .ref/cyclegan
    python tools/bench_cli.py --methods cyclegan,cut --size 32 --ngf 8 --short 2 --long 6 --workers 0  # a CPU rehearsal
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_data(folder: Path, count: int, size: int) -> tuple[Path, Path]:
    """The demo's day and night scenes as PNG files (paired names, so pix2pix can use them too)."""
    sys.path.insert(0, str(ROOT))
    from translate.data.demo import day_to_night, make_domain_images
    from translate.data.images import save_image

    for i, day in enumerate(make_domain_images(count, size, seed=1)):
        save_image(day, folder / "a" / f"{i:04d}.png")
        save_image(day_to_night(day), folder / "b" / f"{i:04d}.png")
    return folder / "a", folder / "b"


def cli_seconds(method: str, steps: int, data: tuple[Path, Path], work: Path, args: argparse.Namespace) -> float:
    """Wall time of one whole `translate train` process of `steps` steps."""
    out = work / f"{method}-{steps}"
    command = [sys.executable, "-m", "translate", "train", method, "--a", str(data[0]), "--b", str(data[1])]
    command += ["--out", str(out), "--steps", str(steps), "--size", str(args.size), "--load-size", str(args.size)]
    command += ["--batch-size", str(args.batch_size), "--workers", str(args.workers), "--log-every", "10"]
    command += ["--sample-every", str(10 * args.long), "--save-every", str(10 * args.long)]
    command += ["--mixed-precision", args.precision, "--compile", args.compile]
    if args.ngf:
        command += ["--ngf", str(args.ngf), "--ndf", str(args.ngf)]
    started = time.perf_counter()
    run(command)
    return time.perf_counter() - started


def bench_seconds(method: str, work: Path, args: argparse.Namespace) -> float:
    """tools/bench.py's median seconds per step for the setting `translate train` picks."""
    setting = "default+bf16" if args.precision == "bf16" else "default"
    setting += {"off": "", "networks": "+compile", "step": "+capture"}[args.compile]
    report = work / f"bench-{method}.json"
    size = "--pix2pix-size" if method == "pix2pix" else "--size"
    command = [sys.executable, str(ROOT / "tools" / "bench.py"), "--methods", method, size, str(args.size)]
    command += ["--batch-size", str(args.batch_size), "--settings", setting, "--json", str(report)]
    command += ["--steps", str(args.bench_steps), "--warmup", "3"]
    if args.ngf:
        command += ["--ngf", str(args.ngf)]
    run(command)
    rows = json.loads(report.read_text())["rows"]  # the fp32 baseline first, then the setting
    return float(next(row for row in rows if row["setting"] == setting)["seconds"])


def run(command: list[str], cwd: Path = ROOT) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")


REFERENCE_MODELS = {"cyclegan": "cycle_gan", "pix2pix": "pix2pix"}


def reference_data(data: tuple[Path, Path], work: Path) -> Path:
    """The same images laid out as the reference code reads them: trainA/trainB (unaligned) and train/
    with A|B side by side (aligned)."""
    from PIL import Image

    root = work / "reference-data"
    if root.exists():
        return root
    (root / "train").mkdir(parents=True)
    for side, folder in zip(("trainA", "trainB"), data, strict=True):
        (root / side).symlink_to(folder, target_is_directory=True)
    for a in sorted(data[0].glob("*.png")):
        left, right = Image.open(a), Image.open(data[1] / a.name)
        both = Image.new("RGB", (left.width * 2, left.height))
        both.paste(left, (0, 0))
        both.paste(right, (left.width, 0))
        both.save(root / "train" / a.name)
    return root


def reference_seconds(method: str, steps: int, root: Path, work: Path, args: argparse.Namespace) -> float:
    """Wall time of one whole reference train.py process of `steps` steps (one epoch of `steps` images)."""
    import torch

    model = REFERENCE_MODELS[method]
    command = [sys.executable, "train.py", "--dataroot", str(root), "--name", f"{method}-{steps}"]
    if (args.reference / "models" / "cut_model.py").is_file():
        # The CUT repository's train.py hands the first batch to every model's data_dependent_initialize,
        # but its CycleGAN's takes none, and reads an `amp` option that its options never define: run
        # train.py with that call accepting the batch and with amp off (fp32, as our runs).
        shim = "import sys, runpy, models.cycle_gan_model as m, options.train_options as o; "
        shim += "m.CycleGANModel.data_dependent_initialize = lambda self, data=None: None; "
        shim += "parse = o.TrainOptions.parse; "
        shim += "o.TrainOptions.parse = lambda self: (lambda opt: setattr(opt, 'amp', False) or opt)(parse(self)); "
        shim += "sys.argv = sys.argv[1:]; runpy.run_path('train.py', run_name='__main__')"
        command[1:2] = ["-c", shim, "train.py"]
    command += ["--model", model, "--checkpoints_dir", str(work / "reference-runs")]
    command += ["--gpu_ids", "0" if torch.cuda.is_available() else "-1", "--num_threads", str(args.workers)]
    command += ["--batch_size", str(args.batch_size), "--load_size", str(args.size), "--crop_size", str(args.size)]
    command += ["--n_epochs", "1", "--n_epochs_decay", "0", "--max_dataset_size", str(steps)]
    command += ["--display_id", "0", "--print_freq", "1000000", "--display_freq", "1000000"]
    command += ["--save_latest_freq", "1000000", "--save_epoch_freq", "1000"]
    command += ["--dataset_mode", "aligned" if model == "pix2pix" else "unaligned"]
    if args.ngf:
        command += ["--ngf", str(args.ngf), "--ndf", str(args.ngf)]
    if (args.reference / "models" / "cut_model.py").is_file():  # the CUT repository: its CycleGAN without blur pooling
        command += ["--no_antialias", "--no_antialias_up"]
    started = time.perf_counter()
    run(command, cwd=args.reference)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="cyclegan", help="comma-separated: cyclegan,cut,fastcut,pix2pix")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--ngf", type=int, default=0, help="narrower networks for a rehearsal (0: the paper's)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--precision", choices=("no", "bf16"), default="no")
    parser.add_argument("--compile", choices=("off", "networks", "step"), default="off", help="translate's --compile")
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--long", type=int, default=220)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--bench-steps", type=int, default=20)
    parser.add_argument("--reference", type=Path, help="a checkout of the reference code, timed on the same data")
    args = parser.parse_args()
    if args.long <= args.short:
        parser.error("--long must be more steps than --short")
    if args.reference and importlib.util.find_spec("dominate") is None:  # before minutes of our own runs
        parser.error("the reference code imports `dominate` (its HTML visualizer): pip install dominate")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        # One epoch of the reference code is one pass over its images: it needs --long of them.
        data = make_data(work / "data", max(args.images, args.long if args.reference else 0), args.size)
        columns = f"| method | CLI s/step ({args.long} - {args.short} steps) | bench s/step | CLI / bench |"
        print(columns + (" reference s/step | speed-up over the reference |" if args.reference else ""))
        print("| --- " * (6 if args.reference else 4) + "|")
        for method in args.methods.split(","):
            cli = cli_seconds(method, args.long, data, work, args) - cli_seconds(method, args.short, data, work, args)
            cli /= args.long - args.short
            bench = bench_seconds(method, work, args)
            row = f"| {method} | {cli:.4f} | {bench:.4f} | {cli / bench:.2f} |"
            model = REFERENCE_MODELS.get(method, "")
            if args.reference and (args.reference / "models" / f"{model}_model.py").is_file():
                root = reference_data(data, work)
                reference = reference_seconds(method, args.long, root, work, args)
                reference -= reference_seconds(method, args.short, root, work, args)
                reference /= args.long - args.short
                row += f" {reference:.4f} | {reference / cli:.2f}x |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
