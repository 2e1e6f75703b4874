"""Training speed of every method against the machine's own peak: seconds per step, FLOP/s, memory.

For each method and setting, one child process builds the method exactly as `translate train`
does (the same Method class, Accelerate-prepared networks and optimizers), feeds it one fixed
batch of the requested size (data loading is measured by tools/bench_engine.py, not here), and
reports the median seconds per step after warm-up, the FLOPs of one step (counted by
`torch.utils.flop_counter`), the achieved FLOP/s as a share of the machine's measured peak
(a 256-channel 3x3 convolution on a 64x64 map, batch 4, forward only, in fp32 and bf16), and
peak memory (the child's max RSS on CPU; max allocated on a GPU). Every setting is compared with
the eager fp32 baseline measured in the same run, so the ratios hold on a noisy machine.

    python tools/bench.py --methods cyclegan --size 128 --batch-size 1 --settings fp32,default,batched,channels-last
    python tools/bench.py --methods cyclegan,pix2pix,discogan,srresnet --size 64 --steps 5
    python tools/bench.py --methods cyclegan,cut,fastcut --size 256 --batch-size 1 --settings fp32,default

Settings are '+'-joined tokens over the baseline `fp32` (eager, NCHW, one pass per input, PyTorch's
default Adam, foreach on GPUs and a per-tensor loop on CPUs: the step as it was before these levers):
`default` (what `translate train` picks on this device: batched passes, channels-last on a GPU for nets
without instance norm, the fused Adam on a CPU), `batched`,
`channels-last`, `fused-adam`, `bf16` (autocast), `compile` (torch.compile: `--compile networks`), `capture`
(`--compile step`: compiled, and on a GPU the whole step replayed as a CUDA graph), `checkpointing`
(`--gradient-checkpointing`). E.g. `fp32,default,default+bf16,default+bf16+compile`. The share of
peak is against the faster of the NCHW and channels-last convolutions of the step's precision.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def conv_peak(dtype_name: str, channels_last: bool, device: str, budget: float = 2.0, batch: int = 4) -> float:
    """FLOP/s of the reference convolution: 256 -> 256 channels, 3x3, 64x64 map, batch 4.

    Timed until `budget` seconds are spent (at least one call after a warm-up call). A precision
    the machine only emulates (bf16 without bf16 units: a hundred times slower) is probed with
    `budget` 0 and batch 1: one call, no warm-up, seconds instead of minutes.
    """
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(device, dtype)
    x = torch.randn(batch, 256, 64, 64, device=device, dtype=dtype)
    if channels_last:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    flops = 2 * batch * 256 * 64 * 64 * 256 * 9
    times: list[float] = []
    with torch.inference_mode():
        if budget > 0:
            conv(x)
        while not times or (sum(times) < budget and len(times) < 20):
            _sync(device)
            start = time.perf_counter()
            conv(x)
            _sync(device)
            times.append(time.perf_counter() - start)
    return flops / statistics.median(times)


def has_bf16_units(device: str) -> bool:
    """GPUs of this decade have them; on a CPU, AMX or AVX-512 bf16 (lscpu's flags)."""
    if device.startswith("cuda"):
        return True
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout if sys.platform == "linux" else ""
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def method_config(method: str, args: argparse.Namespace, work: Path, setting: dict):
    """The method's settings as `translate train` would build them (paper networks), with tiny-data fields filled in.

    Each method runs at its own size: `--size` for CycleGAN, CUT and FastCUT, `--pix2pix-size` (a U-Net-256 takes
    multiples of 256), `--discogan-size` (64 or 128) and `--sr-size` (the HR crop, x4).
    """
    from translate.config import from_dict
    from translate.methods import METHODS

    values: dict = {"out": str(work / "run"), "batch_size": args.batch_size}
    values |= {k: setting[k] for k in ("mixed_precision", "channels_last", "compile")}
    if method in ("cyclegan", "pix2pix", "cut", "fastcut"):
        size = args.pix2pix_size if method == "pix2pix" else args.size
        values |= {"size": size, "load_size": size, "a": str(work), "b": str(work)}
        values |= {"batch_passes": setting["batch_passes"], "gradient_checkpointing": setting["checkpointing"]}
        if args.ngf:  # narrower networks than the paper's, for a rehearsal on a slow machine
            values |= {"ngf": args.ngf, "ndf": args.ngf}
    elif method == "discogan":
        values |= {"image_size": args.discogan_size, "a": str(work), "b": str(work)}
    else:
        values |= {"hr": str(work), "hr_size": args.sr_size, "scale": 4}
        if method == "srgan":
            values |= {"vgg_weights": str(random_vgg(work))}
    return from_dict(METHODS[method].settings, values)


def random_vgg(work: Path) -> Path:
    """A VGG19 with random weights: the perceptual loss costs the same FLOPs as with the real ones."""
    import torch
    import torchvision

    path = work / "vgg19-random.pth"
    if not path.exists():
        torch.save(torchvision.models.vgg19().state_dict(), path)
    return path


def fixed_batch(method: str, config, device):
    import torch

    g = torch.Generator().manual_seed(0)
    if method in ("srresnet", "srgan"):
        hr = torch.rand(config.batch_size, 3, config.hr_size, config.hr_size, generator=g) * 2 - 1
        lr = torch.nn.functional.interpolate(hr, scale_factor=1 / config.scale, mode="bicubic", antialias=True)
        return {"a": lr.clamp(-1, 1).to(device), "b": hr.to(device)}
    side = config.image_size if method == "discogan" else config.size
    shape = (config.batch_size, 3, side, side)
    return {k: (torch.rand(shape, generator=g) * 2 - 1).to(device) for k in ("a", "b")}


TOKENS = ("default", "batched", "channels-last", "fused-adam", "bf16", "compile", "capture", "checkpointing")


def setting_values(setting: str) -> dict:
    """Config values of a setting: '+'-joined tokens over the eager fp32 baseline ('fp32': no batched passes,
    NCHW, PyTorch's default Adam). 'default' is what `translate train` picks on this device by default."""
    tokens = set() if setting == "fp32" else set(setting.split("+"))
    unknown = tokens - set(TOKENS)
    if unknown:
        raise SystemExit(f"unknown setting token(s) {', '.join(sorted(unknown))}: use fp32 or {'+'.join(TOKENS)}")
    default = "default" in tokens
    return {
        "batch_passes": default or "batched" in tokens,
        "channels_last": "on" if "channels-last" in tokens else "auto" if default else "off",
        "compile": "step" if "capture" in tokens else "networks" if "compile" in tokens else "off",
        "mixed_precision": "bf16" if "bf16" in tokens else "no",
        "fused_adam": True if "fused-adam" in tokens else None if default else False,  # None: the engine's
        "checkpointing": "checkpointing" in tokens,
    }


def run_setting(method: str, setting: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    """In a child process: build as the engine does, warm up, time `steps` steps, count one step's FLOPs."""
    import torch
    from accelerate import Accelerator
    from torch.utils.flop_counter import FlopCounterMode

    from translate.engine.capture import autocast_handlers, capture_step
    from translate.engine.speed import prepare_for_speed, to_memory_format, use_channels_last
    from translate.methods import method_class

    values = setting_values(setting)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    config = method_config(method, args, work, values)
    accelerator = Accelerator(
        mixed_precision=config.mixed_precision, cpu=args.device == "cpu", kwargs_handlers=autocast_handlers(config)
    )
    torch.manual_seed(0)
    m = method_class(method)(config, accelerator)
    for name in m.network_names:
        setattr(m, name, accelerator.prepare(prepare_for_speed(getattr(m, name), config, accelerator.device)))
    optimizers = m.configure_optimizers()
    if values["fused_adam"] is not None:  # PyTorch's default Adam (the baseline's) or the fused one, not the engine's
        optimizers = {
            k: torch.optim.Adam([{n: v for n, v in g.items() if n not in ("fused", "foreach")} for g in o.param_groups],
                                fused=values["fused_adam"] or None)
            for k, o in optimizers.items()
        }  # fmt: skip
    m.optimizers = {k: accelerator.prepare(v) for k, v in optimizers.items()}
    captured = capture_step(m, optimizers.values(), accelerator, print)
    batch = to_memory_format(
        fixed_batch(method, config, accelerator.device), use_channels_last(config, accelerator.device)
    )
    nets = list(m.networks.values())
    device = str(accelerator.device)

    def step(i: int) -> None:
        m.step = i
        drawn = m.with_draws(batch)
        with accelerator.accumulate(*nets):
            captured(drawn, m.graph_key()) if captured else m.train_step(drawn)

    compile_start = time.perf_counter()
    for i in range(args.warmup):
        step(i)
    _sync(device)
    warmup_seconds = time.perf_counter() - compile_start
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(args.steps):
        _sync(device)
        start = time.perf_counter()
        step(args.warmup + i)
        _sync(device)
        times.append(time.perf_counter() - start)
    flops = 0
    if values["compile"] == "off":  # the counter sees eager ops only; the same maths as fp32
        with FlopCounterMode(display=False) as counter:
            step(args.warmup + args.steps)
        flops = counter.get_total_flops()
    profile = ""
    if args.profile:  # where one step's time goes, by operator (self time: kernels, not their callers)
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as profiler

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
        with profiler(activities=activities) as prof:
            step(args.warmup + args.steps + 1)
            _sync(device)
        key = "self_cuda_time_total" if device.startswith("cuda") else "self_cpu_time_total"
        profile = prof.key_averages().table(sort_by=key, row_limit=args.profile)
    memory = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.startswith("cuda")
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    queue.put({"seconds": statistics.median(times), "flops": flops, "memory_mib": memory, "warmup": warmup_seconds,
               "profile": profile})  # fmt: skip


def measure(method: str, setting: str, args: argparse.Namespace) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=run_setting, args=(method, setting, args, queue))
    child.start()
    child.join()
    if child.exitcode != 0:
        return {"error": f"exit code {child.exitcode}"}
    return queue.get()


def machine(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "CPU"
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout if sys.platform == "linux" else ""
    units = "AMX bf16" if "amx_bf16" in flags else "AVX-512 bf16" if "avx512_bf16" in flags else "no bf16 units"
    return f"{model}, {os.cpu_count()} cores, {units}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--methods", default="cyclegan", help="comma-separated: cyclegan,cut,fastcut,pix2pix,discogan,srresnet,srgan"
    )
    parser.add_argument("--settings", default="fp32,default,default+bf16", help="see the module docstring")
    parser.add_argument("--size", type=int, default=128, help="CycleGAN, CUT and FastCUT crop")
    parser.add_argument("--pix2pix-size", type=int, default=256)
    parser.add_argument("--discogan-size", type=int, default=64)
    parser.add_argument("--sr-size", type=int, default=96, help="SR's HR crop (LR is a quarter)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--ngf", type=int, default=0, help="CycleGAN, CUT, pix2pix width (0: the paper's 64)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print each setting's top N operators")
    parser.add_argument("--force-bf16", action="store_true", help="time bf16 settings on a CPU without bf16 units")
    args = parser.parse_args()
    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    settings = args.settings.split(",")
    if "fp32" not in settings:
        settings.insert(0, "fp32")  # the baseline every ratio refers to
    bf16_units = has_bf16_units(args.device)
    if not bf16_units and not args.force_bf16:
        skipped = [s for s in settings if "bf16" in s]
        settings = [s for s in settings if "bf16" not in s]
        if skipped:
            print(f"Skipping {', '.join(skipped)}: this CPU has no bf16 units (see the peak below; --force-bf16)")
    peaks = {
        (precision, cl): conv_peak(precision, cl, args.device)
        if precision == "fp32" or bf16_units
        else conv_peak(precision, cl, args.device, budget=0, batch=1)
        for precision in ("fp32", "bf16")
        for cl in (False, True)
    }
    print(f"Device: {machine(args.device)}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("Conv peak (256ch 3x3, 64x64, batch 4), GFLOP/s: " + ", ".join(
        f"{p} {'channels-last' if cl else 'NCHW'} {v / 1e9:.0f}" for (p, cl), v in peaks.items()
    ))  # fmt: skip
    print(f"Command: python tools/bench.py {' '.join(sys.argv[1:])}\n")
    print("| method | setting | s/step | vs fp32 | GFLOP/step | GFLOP/s | share of peak | peak memory MiB |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for method in args.methods.split(","):
        baseline = None
        step_flops = 0
        for setting in settings:
            row = measure(method, setting, args) | {"method": method, "setting": setting}
            rows.append(row)
            if "error" in row:
                print(f"| {method} | {setting} | failed: {row['error']} | | | | | |")
                continue
            step_flops = row["flops"] or step_flops
            baseline = baseline or row["seconds"]
            achieved = step_flops / row["seconds"]
            precision = "bf16" if "bf16" in setting else "fp32"
            peak = max(peaks[(precision, False)], peaks[(precision, True)])
            print(
                f"| {method} | {setting} | {row['seconds']:.3f} | {baseline / row['seconds']:.2f}x "
                f"| {step_flops / 1e9:.1f} | {achieved / 1e9:.0f} | {100 * achieved / peak:.0f}% "
                f"| {row['memory_mib']:.0f} |",
                flush=True,
            )
    for row in rows:
        if row.get("profile"):
            print(f"\n### {row['method']}, {row['setting']}: one step by operator\n{row['profile']}")
    if args.json:
        args.json.write_text(json.dumps({"peaks": {f"{k[0]}-{k[1]}": v for k, v in peaks.items()}, "rows": rows}))


if __name__ == "__main__":
    main()
