"""How fast does a folder convert? images/s of the bare network, the serial path and the pipeline.

(a) bare: the network alone on pre-decoded tensors, in batches or one image at a time, whichever is
    faster (no reading, decoding, encoding or writing);
(b) serial: `inference.serial.serial_convert`, one image after the other in one process (the reference path),
    with PNG at Pillow's default level 6 as it was written before the pipeline, and again with the
    pipeline's PNG setting ("fast"), so that the gain of the pipeline's overlap shows on its own;
(c) pipeline: `translate convert`'s batched pipeline (decode workers, batches, writer threads);
and the pipeline's machinery alone: an identity network, encoding and writing left out (the cap that
reading, decoding and moving batches put on any model and device).

Each is run with a near-free generator (U-Net-256, ngf 1: so that reading, decoding, encoding and
writing are what counts), a small one (ResNet-6, ngf 2, which on a CPU costs as much as encoding)
and a real one (ResNet-9, ngf 64), so that (c) vs (b) shows what the pipeline itself gains and
(c) vs (a) how close it gets to the model's own speed. Inputs are 256x256 JPEGs (real photos from
scikit-image when it is installed, else the demo landscapes); outputs PNG. Ratios measured in one
run are the figures to report. `--rounds N` then alternates the bare ResNet-9 and the pipeline held
at the mode its CPU trial settles on, N times: the pipeline's own cost once its trial is over, with the
machine's drift (10-20% between runs on a shared VM) hitting both alike; each round's pipeline rate is
given whole and after its first run (the bare rate, too, leaves out loading and warming up).

`--encoders threads,processes` and `--compile` add a table of the pipeline's switches, so that their
defaults can be chosen by measurement: images/s of the pipeline with each encoder kind, uncompiled and
(with `--compile`) compiled, each after a warm-up run of one batch of every shape (which compiles);
`--switches-only` prints that table alone, `--generators` picks the rows.

    python tools/bench_convert.py --count 200 --real-count 24
    python tools/bench_convert.py --count 16 --real-count 32 --rounds 4

`--jpeg-codec pillow,torchvision` adds JPEG output with each codec (`translate convert --format jpg
--jpeg-codec ...`: torchvision decodes and encodes on the device, nvJPEG on a GPU) beside the bare
network; `--codecs-only` prints that table alone:

    python tools/bench_convert.py --count 600 --real-count 1000 --batch-size 32 --precision bf16 \
        --jpeg-codec pillow,torchvision --codecs-only

    python tools/bench_convert.py --count 512 --real-count 400 --batch-size 16 --generators near-free,real \
        --encoders threads,processes --compile --switches-only
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from PIL import Image

from translate.data.demo import make_domain_images
from translate.data.images import PNG_FAST, image_to_tensor, load_image
from translate.inference.runner import Translator, convert_folder
from translate.inference.serial import serial_convert
from translate.model_folder import save_model
from translate.nets.builders import build_generator

REAL = {"name": "resnet9", "ngf": 64, "norm": "instance"}  # the real generator
REAL_NAME = "resnet9-ngf64"
GENERATORS = {  # --generators: the rows' names and generators
    "near-free": ("near-free (U-Net-256 ngf 1)", {"name": "unet256", "ngf": 1}),
    "small": ("small (ResNet-6 ngf 2)", {"name": "resnet6", "ngf": 2}),
    "real": (REAL_NAME, REAL),
}


def photos(count: int, size: int) -> list[np.ndarray]:
    """`count` different size x size crops of real photos (skimage.data), or demo landscapes without it."""
    try:
        from skimage import data

        names = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")
        sources = [np.asarray(Image.fromarray(getattr(data, n)()).convert("RGB")) for n in names]
    except ImportError:
        return make_domain_images(count, size, seed=0)
    rng = np.random.default_rng(0)
    crops = []
    for i in range(count):
        image = sources[i % len(sources)]
        y, x = rng.integers(0, image.shape[0] - size), rng.integers(0, image.shape[1] - size)
        crops.append(image[y : y + size, x : x + size])
    return crops


def write_inputs(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True)
    for i, pixels in enumerate(photos(count, size)):
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=90)


def bare(translator: Translator, tensors: torch.Tensor, batch_size: int) -> tuple[float, int]:
    """The network alone; its inputs already decoded (on the device for a GPU), results back as uint8.
    The faster of whole batches and single images (on a CPU, ResNets run faster one image at a time):
    (images/s, the batch size that gave it)."""
    rates = {size: _bare_rate(translator, tensors, size) for size in sorted({batch_size, 1}, reverse=True)}
    best = max(rates, key=rates.__getitem__)
    return rates[best], best


def _decoded(model: Path, inputs: Path, args) -> tuple[Translator, torch.Tensor]:
    translator = Translator.load(model, device=args.device, precision=args.precision)
    tensors = torch.stack([image_to_tensor(load_image(p)) for p in sorted(inputs.glob("*.jpg"))])
    return translator, tensors.to(translator.device)


def _bare_rate(translator: Translator, tensors: torch.Tensor, size: int) -> float:
    translator.run_batch(tensors[:size])  # warm-up

    def run() -> int:
        for i in range(0, len(tensors), size):
            translator.run_batch(tensors[i : i + size])
        return len(tensors)

    return timed(run)


def timed(run) -> float:
    start = time.perf_counter()
    count = run()
    return count / (time.perf_counter() - start)


@contextlib.contextmanager
def breakdown(images: int) -> Iterator[None]:
    """Print where the pipeline's time went, per image: the main thread waiting for decoded batches,
    starting the network, waiting for its results, handing them to the writers (waiting when they are
    behind), and the writer threads' CPU time. For finding the cap on a machine with many cores."""
    from translate.inference import pipeline, runner

    spent: Counter[str] = Counter()
    decoded_batches = pipeline._decoded_batches

    def timed_call(key, function, clock=time.perf_counter):
        def wrapper(*args, **kwargs):
            start = clock()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += clock() - start

        return wrapper

    def timed_batches(*args, **kwargs):
        batches = decoded_batches(*args, **kwargs)
        while True:
            start = time.perf_counter()
            batch = next(batches, None)
            spent["main: waiting for decoded batches"] += time.perf_counter() - start
            if batch is None:
                return
            yield batch

    timed_parts = [
        (pipeline, "_decoded_batches", timed_batches),
        (runner.Translator, "start_pixels", timed_call("main: starting the network", runner.Translator.start_pixels)),
        (runner.Fetch, "get", timed_call("main: waiting for results", runner.Fetch.get)),
        (pipeline.Writer, "submit", timed_call("main: handing to writers", pipeline.Writer.submit)),
        (pipeline, "write_result", timed_call("writers: CPU time", pipeline.write_result, time.thread_time)),
    ]
    try:
        with contextlib.ExitStack() as patches:
            for owner, name, replacement in timed_parts:
                patches.enter_context(mock.patch.object(owner, name, replacement))
            yield
    finally:
        for key, seconds in sorted(spent.items()):
            print(f"    {key}: {1000 * seconds / images:.2f} ms per image")


def bench(name: str, spec: dict, inputs: Path, work: Path, args) -> dict[str, float]:
    tag = name.split()[0]  # folder names
    model = work / f"model-{tag}"
    save_model(build_generator(**spec["generator"]), spec, model)
    device = args.device
    rates = {"bare": bare(*_decoded(model, inputs, args), args.batch_size)[0]}
    rates["serial"] = timed(lambda: serial_convert(model, inputs, work / f"serial-{tag}", device=device))
    fast = {"device": device, "png_compression": PNG_FAST}
    rates["serial-fast"] = timed(lambda: serial_convert(model, inputs, work / f"serial-fast-{tag}", **fast))
    out = work / f"pipeline-{tag}"
    options = _pipeline_options(args)
    count = len(list(inputs.glob("*.jpg")))
    with breakdown(count) if args.breakdown else contextlib.nullcontext():
        if args.breakdown:
            print(f"{name}, pipeline:")
        rates["pipeline"] = timed(lambda: convert_folder(model, inputs, out, **options).converted)
    return rates


def steady(model: Path, inputs: Path, work: Path, args) -> list[tuple[float, float, float]]:
    """(bare, pipeline, pipeline after its first run) images/s in `args.rounds` alternating rounds,
    the pipeline held at the bare network's faster mode (what its CPU trial settles on), so that the
    machine's drift between runs hits both alike: the pipeline's own cost once its trial is over.
    The third figure leaves out what the bare rate leaves out too (loading the model, the first
    network run, in which oneDNN builds its kernels): the pipeline's throughput."""
    from translate.inference import pipeline

    translator, tensors = _decoded(model, inputs, args)
    _, size = bare(translator, tensors, args.batch_size)
    options = _pipeline_options(args)
    rounds = []
    settled = _settled_trial(whole_batches=size > 1)
    with mock.patch.object(pipeline, "CpuTrial", settled):
        for index in range(args.rounds):
            rate = _bare_rate(translator, tensors, size)
            out = work / f"steady-{index}"  # a new folder each round: a rerun would skip finished images
            settled.runs_done.clear()
            converted = timed(lambda out=out: convert_folder(model, inputs, out, **options).converted)
            (first, started), (images, ended) = settled.runs_done[0], settled.runs_done[-1]
            rounds.append((rate, converted, (images - first) / (ended - started)))
    return rounds


def _settled_trial(whole_batches: bool) -> type:
    """A CPU trial that has already chosen (all cores, whole batches or single images) and notes
    (images done, time) after each network run."""
    from translate.inference.cpu_trial import CpuTrial, Setting

    class Settled(CpuTrial):
        runs_done: list[tuple[int, float]] = []

        def __init__(self) -> None:
            super().__init__()
            self.chosen = Setting(self.cores, whole_batches)
            self._apply(self.chosen)
            self.images = 0

        def after_run(self, images: int, started: float, ended: float) -> None:
            self.images += images
            self.runs_done.append((self.images, ended))

    return Settled


def jpeg_rates(spec: dict, inputs: Path, work: Path, args) -> dict[str, float]:
    """images/s of the bare network and of the pipeline writing JPEG with each of `args.jpeg_codec`, in one
    run (the bare network first: it also warms up the device)."""
    tag = spec["generator"]["name"]
    model = work / f"model-jpeg-{tag}"
    save_model(build_generator(**spec["generator"]), spec, model)
    rates = {"bare": bare(*_decoded(model, inputs, args), args.batch_size)[0]}
    options = _pipeline_options(args) | {"suffix": ".jpg"}
    for codec in args.jpeg_codec.split(","):
        out = work / f"jpeg-{tag}-{codec}"
        rates[codec] = timed(
            lambda out=out, codec=codec: convert_folder(model, inputs, out, jpeg_codec=codec, **options).converted
        )
    return rates


def print_jpeg_rates(rows: list[tuple[str, int, dict[str, float]]], args) -> None:
    codecs = args.jpeg_codec.split(",")
    print(f"\nJPEG in, JPEG out (quality 95), batch {args.batch_size}, {args.precision}, images/s:")
    header = ["generator", "images", "bare net", *codecs, *(f"{codec}/bare" for codec in codecs)]
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for name, count, r in rows:
        rates = " | ".join(_rate(r[c]) for c in codecs)
        ratios = " | ".join(f"{r[c] / r['bare']:.3f}" for c in codecs)
        print(f"| {name} | {count} | {_rate(r['bare'])} | {rates} | {ratios} |")


def _pipeline_options(args) -> dict:
    return {"batch_size": args.batch_size, "workers": args.workers, "precision": args.precision, "device": args.device}


def machinery(inputs: Path, work: Path, args) -> float:
    """The pipeline with an identity network and encoding/writing left out: images/s that reading,
    decoding, handing batches over and moving pixels to and from the device allow, whatever the model."""
    from translate.inference import pipeline

    spec = {"method": "cyclegan", "generator": {"name": "unet256"}, "size": args.size}  # 256: no padding
    translator = Translator(torch.nn.Identity(), spec, torch.device(args.device), args.precision)
    options = pipeline.ConvertOptions(batch_size=args.batch_size, workers=args.workers)
    with mock.patch.object(pipeline, "write_result", lambda *args: None):
        return timed(lambda: pipeline.convert(translator, inputs, work / "machinery", options).converted)


def switches(model: Path, inputs: Path, work: Path, args) -> dict[str, float]:
    """Pipeline images/s per switch setting ("threads", "processes", "threads+compile", ...). Each setting
    first converts a warm-up folder holding one batch of every shape the timed run meets (the compiled
    network compiles there, and the encoder processes' server starts), then the whole folder."""
    tag, names = model.name, sorted(p.name for p in inputs.glob("*.jpg"))
    warm = work / f"warm-{tag}"
    warm.mkdir(exist_ok=True)
    for name in names[: args.batch_size + len(names) % args.batch_size]:  # same-size inputs: every batch shape
        shutil.copy(inputs / name, warm / name)
    options = {"batch_size": args.batch_size, "workers": args.workers}
    rates = {}
    for compiled in (False, True) if args.compile else (False,):
        translator = Translator.load(model, device=args.device, precision=args.precision, compile=compiled)
        for kind in args.encoders:
            label = kind + ("+compile" if compiled else "")
            done = translator.convert_folder(warm, work / f"warm-{tag}-{label}", encoders=kind, **options)
            assert done.converted == len(list(warm.glob("*.jpg"))), done.summary()
            run = functools.partial(translator.convert_folder, inputs, work / f"switch-{tag}-{label}", encoders=kind)
            rates[label] = timed(lambda run=run: run(**options).converted)
    return rates


def print_switches(rows: list[tuple[str, int, dict[str, float]]], args) -> None:
    labels = list(rows[0][2])
    print(f"\n{_where(args)}, pipeline switches, images/s after a warm-up ({args.precision}, batch {args.batch_size}):")
    print(f"| generator | images | {' | '.join(labels)} | {' | '.join(f'{k}/{labels[0]}' for k in labels[1:])} |")
    print("|---|---|" + "---|" * (2 * len(labels) - 1))
    for name, count, rates in rows:
        ratios = " | ".join(f"{rates[k] / rates[labels[0]]:.3f}" for k in labels[1:])
        print(f"| {name} | {count} | {' | '.join(_rate(rates[k]) for k in labels)} | {ratios} |")


def _where(args) -> str:
    return torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"


def _rate(images_per_second: float) -> str:
    """Three significant figures, so that the ratios of a slow generator's row can be checked."""
    return f"{images_per_second:.1f}" if images_per_second >= 100 else f"{images_per_second:.3g}"


def print_rounds(rounds: list[tuple[float, float, float]], args) -> None:
    print(f"\nResNet-9 ngf 64 after the trial, {args.rounds} alternating rounds of {args.real_count} images:")
    print("| round | bare | pipeline | after its first run | pipeline/bare | after first run/bare |")
    print("|---|---|---|---|---|---|")
    for index, (rate, converted, after) in enumerate(rounds):
        rates = f"{_rate(rate)} | {_rate(converted)} | {_rate(after)}"
        print(f"| {index} | {rates} | {converted / rate:.3f} | {after / rate:.3f} |")
    whole, after = (statistics.median(r[k] / r[0] for r in rounds) for k in (1, 2))
    total = sum(1 / r[1] for r in rounds) / sum(1 / r[0] for r in rounds)
    print(f"median pipeline/bare {whole:.3f}, after its first run {after:.3f}")
    print(f"all rounds: pipeline/bare {1 / total:.3f} (total time bare / total time pipeline)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="images for the near-free generator")
    parser.add_argument("--real-count", type=int, default=24, help="images for ResNet-9 ngf 64")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--device", default="auto", help="auto: a GPU when there is one")
    parser.add_argument("--precision", default="fp32", help="of the bare net and the pipeline (the serial path: fp32)")
    parser.add_argument("--breakdown", action="store_true", help="print where each pipeline run spent its time")
    parser.add_argument(
        "--rounds", type=int, default=0, help="then alternate the bare ResNet-9 and the pipeline after its trial"
    )
    parser.add_argument("--jpeg-codec", default="", help="e.g. pillow,torchvision: also JPEG output with each codec")
    parser.add_argument("--codecs-only", action="store_true", help="with --jpeg-codec: only the JPEG codecs' table")
    parser.add_argument("--encoders", default="threads", help="encoder kinds to compare, e.g. threads,processes")
    parser.add_argument("--compile", action="store_true", help="compare each encoder kind compiled too")
    parser.add_argument("--switches-only", action="store_true", help="print the switches' table alone")
    parser.add_argument("--generators", default=",".join(GENERATORS), help="rows: near-free, small, real")
    args = parser.parse_args()
    args.encoders, args.generators = args.encoders.split(","), args.generators.split(",")
    unknown = set(args.generators) - set(GENERATORS)
    if unknown:
        parser.error(f"--generators: unknown {', '.join(sorted(unknown))} (choose from {', '.join(GENERATORS)})")
    if args.rounds and "real" not in args.generators:
        parser.error("--rounds runs the real generator: keep it in --generators")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"

    work = Path(tempfile.mkdtemp(prefix="bench-convert-"))
    try:
        rows, jpeg_rows, switch_rows = [], [], []
        for key in args.generators:
            name, generator = GENERATORS[key]
            count = args.real_count if key == "real" else args.count
            inputs = work / f"in-{count}"
            if not inputs.exists():
                write_inputs(inputs, count, args.size)
            spec = {"method": "cyclegan", "generator": generator | {"norm": "instance"}, "size": args.size}
            if args.jpeg_codec:
                jpeg_rows.append((name, count, jpeg_rates(spec, inputs, work, args)))
            if not (args.codecs_only or args.switches_only):
                rows.append((name, count, bench(name, spec, inputs, work, args)))
            if args.switches_only or args.compile or args.encoders != ["threads"]:
                model = work / f"model-{name.split()[0]}"
                if not model.exists():
                    save_model(build_generator(**spec["generator"]), spec, model)
                switch_rows.append((name, count, switches(model, inputs, work, args)))
        if jpeg_rows:
            print(f"\n{_where(args)}")
            print_jpeg_rates(jpeg_rows, args)
        if switch_rows:
            print_switches(switch_rows, args)
        if args.codecs_only or args.switches_only:
            return
        if not (work / f"in-{args.count}").exists():
            write_inputs(work / f"in-{args.count}", args.count, args.size)
        cap = machinery(work / f"in-{args.count}", work, args)
        print(f"\n{_where(args)}, {args.size}x{args.size} JPEG in, PNG out, batch {args.batch_size}, {args.precision}")
        print(
            "| generator | images | bare net | serial (PNG level 6) | serial (PNG fast) | pipeline (img/s) "
            "| pipeline/serial | pipeline/serial-fast | pipeline/bare |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, count, r in rows:
            rates = " | ".join(_rate(r[key]) for key in ("bare", "serial", "serial-fast", "pipeline"))
            ratios = f"{r['pipeline'] / r['serial']:.2f}x | {r['pipeline'] / r['serial-fast']:.2f}x"
            print(f"| {name} | {count} | {rates} | {ratios} | {r['pipeline'] / r['bare']:.3f} |")
        print(f"\nPipeline machinery alone (identity network, no encoding or writing): {cap:.0f} images/s")
        if args.rounds:
            rounds = steady(work / f"model-{REAL_NAME}", work / f"in-{args.real_count}", work, args)
            print_rounds(rounds, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
