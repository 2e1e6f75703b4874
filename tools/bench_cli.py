"""Does `translate train` run at its step's pace? The whole CLI process against tools/bench.py's bare step.

The CLI's seconds per step are measured as users see them: two whole `translate train` processes on
the same PNG data, one of `--short` steps and one of `--long`; their difference in wall time over
`long - short` steps leaves out start-up, the first steps' warm-up, the final checkpoint and the
export (issue 19 measured the reference code the same way). tools/bench.py then times the same
method's step on one fixed batch already on the device, with the settings `translate train` picks
(`default`, or `default+bf16`). The ratio CLI / bench is what the loop costs on top of the step:
data loading, host-device copies, synchronisations, logging (target: within 5%).

    python tools/bench_cli.py --methods cyclegan,pix2pix --size 256 --batch-size 1 --workers 4
    python tools/bench_cli.py --methods cyclegan,cut --size 32 --ngf 8 --short 2 --long 6 --workers 0  # a CPU rehearsal
"""

from __future__ import annotations

import argparse
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
    command += ["--mixed-precision", args.precision]
    if args.ngf:
        command += ["--ngf", str(args.ngf), "--ndf", str(args.ngf)]
    started = time.perf_counter()
    run(command)
    return time.perf_counter() - started


def bench_seconds(method: str, work: Path, args: argparse.Namespace) -> float:
    """tools/bench.py's median seconds per step for the setting `translate train` picks."""
    setting = "default+bf16" if args.precision == "bf16" else "default"
    report = work / f"bench-{method}.json"
    size = "--pix2pix-size" if method == "pix2pix" else "--size"
    command = [sys.executable, str(ROOT / "tools" / "bench.py"), "--methods", method, size, str(args.size)]
    command += ["--batch-size", str(args.batch_size), "--settings", setting, "--json", str(report)]
    command += ["--steps", str(args.bench_steps), "--warmup", "3"]
    if args.ngf:
        command += ["--ngf", str(args.ngf)]
    run(command)
    return float(json.loads(report.read_text())["rows"][0]["seconds"])


def run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="cyclegan", help="comma-separated: cyclegan,cut,fastcut,pix2pix")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--ngf", type=int, default=0, help="narrower networks for a rehearsal (0: the paper's)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--precision", choices=("no", "bf16"), default="no")
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--long", type=int, default=220)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--bench-steps", type=int, default=20)
    args = parser.parse_args()
    if args.long <= args.short:
        parser.error("--long must be more steps than --short")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        data = make_data(work / "data", args.images, args.size)
        print(f"| method | CLI s/step ({args.long} - {args.short} steps) | bench s/step | CLI / bench |")
        print("| --- | --- | --- | --- |")
        for method in args.methods.split(","):
            cli = (cli_seconds(method, args.long, data, work, args) - cli_seconds(method, args.short, data, work, args))
            cli /= args.long - args.short
            bench = bench_seconds(method, work, args)
            print(f"| {method} | {cli:.4f} | {bench:.4f} | {cli / bench:.2f} |", flush=True)


if __name__ == "__main__":
    main()
