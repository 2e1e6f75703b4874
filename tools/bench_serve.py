"""How much does batching buy `translate serve`? N concurrent clients for T seconds, batching on and off.

Starts a real server (a separate process, as users run it) once with `--max-batch B` and once with
`--max-batch 1`, lets `--clients` clients post the same image back to back for `--seconds`, and prints
a markdown table: requests, errors, throughput, p50/p95/p99 latency and the mean batch the server
formed, then the throughput ratio. The clients share the machine with the server, so on a small CPU
the ratio (measured in one run) is the figure to report, not the absolute rates.

    python tools/bench_serve.py --clients 16 --seconds 20            # a small ResNet-6 (ngf 8) at 64 px, CPU
    python tools/bench_serve.py --generator resnet9 --ngf 64 --size 256 --device cuda --max-batch 32
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import torch
from PIL import Image

from translate.data.demo import make_domain_images
from translate.model_folder import save_model
from translate.nets.builders import build_generator

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: dict[str, int] = field(default_factory=dict)
    batch_sizes: list[int] = field(default_factory=list)


def small_model(folder: Path, generator: str, ngf: int) -> Path:
    torch.manual_seed(0)
    settings = {
        "name": generator,
        "in_channels": 3,
        "out_channels": 3,
        "ngf": ngf,
        "norm": "instance",
        "dropout": False,
    }
    save_model(build_generator(**settings), {"method": "cyclegan", "generator": settings, "size": 256}, folder)
    return folder


def start(model: str, max_batch: int, args: argparse.Namespace, log: Path) -> tuple[subprocess.Popen, str]:
    """`translate serve` on a free port; returns once it prints its address."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    command = [
        sys.executable, "-m", "translate", "serve", model, "--port", "0", "--device", args.device,
        "--max-batch", str(max_batch), "--max-wait-ms", str(args.max_wait_ms), "--max-queue", str(4 * args.clients),
        "--precision", args.precision,
    ]  # fmt: skip
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    line = process.stdout.readline() if process.stdout else ""
    found = re.search(r"on (http://\S+?)/?$", line.strip())
    if not found:
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}\n{log.read_text()[-2000:]}")
    return process, found.group(1)


async def load(url: str, name: str, image: bytes, clients: int, seconds: float, warmup: int) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=120, limits=limits) as http:
        path = f"/v1/models/{name}/translate"
        for _ in range(warmup):  # kernels built, threads started: not part of the measurement
            (await http.post(path, content=image)).raise_for_status()
        stop = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < stop:
                started = time.monotonic()
                try:
                    answer = await http.post(path, content=image)
                except httpx.HTTPError as exc:
                    tally.errors[type(exc).__name__] = tally.errors.get(type(exc).__name__, 0) + 1
                    continue
                if answer.status_code != 200:
                    tally.errors[str(answer.status_code)] = tally.errors.get(str(answer.status_code), 0) + 1
                    continue
                tally.latencies.append(time.monotonic() - started)
                tally.batch_sizes.append(int(answer.headers.get("x-batch-size", "1")))

        began = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        tally.elapsed = time.monotonic() - began  # type: ignore[attr-defined]
    return tally


def row(label: str, tally: Tally) -> tuple[str, float]:
    done = len(tally.latencies)
    rate = done / tally.elapsed  # type: ignore[attr-defined]
    ms = sorted(1000 * t for t in tally.latencies) or [float("nan")]
    pct = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    errors = sum(tally.errors.values())
    mean_batch = statistics.fmean(tally.batch_sizes) if tally.batch_sizes else float("nan")
    text = (
        f"| {label} | {done} | {errors} | {rate:.1f} | {pct(0.50):.1f} | {pct(0.95):.1f} | {pct(0.99):.1f} "
        f"| {mean_batch:.2f} |"
    )
    return text, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="Any model `translate serve` takes (default: a fresh small generator).")
    parser.add_argument("--generator", default="resnet6")
    parser.add_argument("--ngf", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="Side of the posted image.")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(small_model(Path(tmp) / "small", args.generator, args.ngf))
        buffer = io.BytesIO()
        Image.fromarray(make_domain_images(1, args.size, seed=1)[0]).save(buffer, format="PNG")
        rows, rates = [], {}
        for label, max_batch in ((f"on (--max-batch {args.max_batch})", args.max_batch), ("off (--max-batch 1)", 1)):
            process, url = start(model, max_batch, args, Path(tmp) / f"server-{max_batch}.txt")
            try:
                name = httpx.get(f"{url}/v1/models", trust_env=False).json()["models"][0]["name"]
                tally = asyncio.run(load(url, name, buffer.getvalue(), args.clients, args.seconds, args.warmup))
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            text, rates[max_batch] = row(label, tally)
            rows.append(text)
            if tally.errors:
                print(f"errors with batching {label}: {tally.errors}", file=sys.stderr)
    what = args.model or f"{args.generator} ngf {args.ngf}"
    print(f"{what}, {args.size} px PNG, {args.clients} clients x {args.seconds:g} s, device {args.device}, "
          f"--max-wait-ms {args.max_wait_ms:g}, {os.cpu_count()} CPUs\n")  # fmt: skip
    print("| batching | requests | errors | throughput (req/s) | p50 (ms) | p95 (ms) | p99 (ms) | mean batch |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print(f"\nthroughput ratio, batching on / off: {rates[args.max_batch] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
