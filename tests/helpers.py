"""Builders shared by the test modules: images on disk, the CLI run in-process, tiny training options
and runs, tiny models, and the losses of a few training steps (the speed switches' CPU and GPU checks)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from translate.cli import app
from translate.data.demo import make_domain_images
from translate.data.images import save_image

# -- images on disk ---------------------------------------------------------------------------------


def write_domain(
    folder: Path, n: int, size: int, seed: int, mapping: Callable[[np.ndarray], np.ndarray] | None = None
) -> Path:
    """n generated landscapes (optionally mapped) as PNG files in `folder`."""
    for i, image in enumerate(make_domain_images(n, size, seed, mapping)):
        save_image(image, folder / f"{i:03d}.png")
    return folder


def day_and_night(root: Path, count: int = 4, size: int = 32) -> tuple[Path, Path]:
    """Two unpaired domains of generated scenes: A by day, B the night version (translate.data.demo's
    day_to_night, the known answer of the learning tests) of OTHER scenes than A's."""
    from translate.data.demo import day_to_night

    a = write_domain(root / "a", count, size, seed=1)
    return a, write_domain(root / "b", count, size, seed=2, mapping=day_to_night)


def coordinate_pattern(size: int) -> np.ndarray:
    """HxWx3 uint8 whose red channel encodes x and green encodes y (step 6), so a crop's offset
    and a flip can be read back from the output pixels. Works up to size 42."""
    yy, xx = np.mgrid[0:size, 0:size]
    return np.stack([xx * 6, yy * 6, (xx * 7 + yy * 3) % 256], axis=-1).astype(np.uint8)


def read_pattern(chw) -> tuple[int, int, bool]:
    """(x offset, y offset, flipped) of a coordinate_pattern crop, from its [-1, 1] tensor."""
    pixels = np.rint((chw.numpy() + 1.0) * 127.5).astype(int)
    flipped = bool(pixels[0, 0, 0] > pixels[0, 0, 1])
    left = pixels[0, 0, -1] if flipped else pixels[0, 0, 0]
    return int(left // 6), int(pixels[1, 0, 0] // 6), flipped


def random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def write_png16(path: Path, pixels: np.ndarray, exif: bytes | None = None) -> Path:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA by the channel count), unfiltered, by the PNG spec alone."""
    planes = pixels[:, :, None] if pixels.ndim == 2 else pixels
    height, width, channels = planes.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = b"".join(b"\x00" + planes[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    extra = chunk(b"eXIf", exif) if exif else b""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path


def write_side_by_side(path: Path, a: np.ndarray, b: np.ndarray) -> Path:
    return write(path, np.concatenate([a, b], axis=1))


def write_video(
    path: Path,
    frames: list[np.ndarray],
    pts_ms: list[int] | None = None,
    codec: str = "ffv1",
    audio: str | None = "flac",
) -> Path:
    """`frames` (HxWx3 uint8) as a video at `pts_ms` milliseconds (default 100 ms apart: 10 fps), in the
    container of `path`'s suffix, with one second of 8 kHz mono tone encoded with `audio` (None: silent).
    ffv1 stores the frames losslessly (as RGB), so decoding gives them back exactly."""
    import av  # lazy: optional extra 'video' (PyAV)

    path.parent.mkdir(parents=True, exist_ok=True)
    pts_ms = pts_ms if pts_ms is not None else [100 * i for i in range(len(frames))]
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=10)
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)  # else frames snap to the 1/10 s grid of `rate`
        sound = container.add_stream(audio, rate=8000, layout="mono") if audio else None
        for pixels, pts in zip(frames, pts_ms, strict=True):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            tone = (np.sin(np.arange(8000) * 0.1) * 10000).astype(np.int16)[None]
            for start in range(0, 8000, 500):
                chunk = av.AudioFrame.from_ndarray(tone[:, start : start + 500], format="s16", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 8000, start, Fraction(1, 8000)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


# -- the command line ---------------------------------------------------------------------------------


def cli(*args: str | Path | int | float):
    """Run the `translate` CLI in-process; returns click's Result (exit_code, output, stderr)."""
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> str:
    """The one line a usage error prints (exit code 2, "Error: ...", no traceback), which holds `fragments`."""
    assert result.exit_code == 2, result.output + (result.stderr or "")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output + result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def launch(nproc: int, *args: str | Path, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`translate ARGS` on `nproc` CPU processes under torch.distributed.run (one gloo group)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "-m", "translate"]
    # Without ACCELERATE_USE_CPU, Accelerate on a machine without GPUs treats each process as a
    # separate single-process run; with it, the processes form one gloo group.
    env = os.environ | {"OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"} | (env_extra or {})
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


# -- tiny training runs ---------------------------------------------------------------------------------

# One set of tiny training options per method: networks a few channels wide on 32 px crops (DiscoGAN's
# smallest size is 64), no loader processes, a log line every step. A test module states what it needs
# otherwise through tiny(): its own steps, sample and save intervals, learning-rate decay, ...
TINY_OPTIONS: dict[str, dict[str, Any]] = {
    "cyclegan": {
        "size": 32, "load_size": 32, "generator": "resnet6", "ngf": 4, "ndf": 4, "batch_size": 2, "workers": 0,
        "log_every": 1,
    },
    "discogan": {"image_size": 64, "width": 8, "batch_size": 4, "workers": 0},
    "srresnet": {"scale": 2, "hr_size": 24, "blocks": 1, "width": 8, "batch_size": 2, "workers": 0, "log_every": 1},
}  # fmt: skip
TINY_OPTIONS["pix2pix"] = TINY_OPTIONS["cyclegan"]
TINY_OPTIONS["cut"] = TINY_OPTIONS["cyclegan"] | {"num_patches": 32, "nce_mlp_width": 16}
TINY_OPTIONS["fastcut"] = TINY_OPTIONS["cut"]
TINY_OPTIONS["srgan"] = TINY_OPTIONS["srresnet"]


def tiny(method: str, **changes: Any) -> tuple[str, ...]:
    """TINY_OPTIONS[method] as command-line arguments, each option once. `changes` set options by their
    field names (load_size=36 is --load-size 36) or leave them out (None)."""
    options = TINY_OPTIONS[method] | changes
    return tuple(
        arg
        for name, value in options.items()
        if value is not None
        for arg in (f"--{name.replace('_', '-')}", str(value))
    )


def train(method: str, out: Path, *extra: str | Path | int | float, check: bool = True):
    """`translate train METHOD --out OUT EXTRA...` in-process (EXTRA: the data, e.g. tiny(METHOD), the run's
    own options); with `check`, asserts that it succeeded. Returns click's Result."""
    result = cli("train", method, "--out", out, *extra)
    if check:
        assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


def make_run(root: Path) -> Path:
    """A finished 4-step CycleGAN run (ROOT/run) on two generated domains (same file names in both)."""
    from translate.data.demo import day_to_night

    a = write_domain(root / "a", 6, 40, seed=1)
    b = write_domain(root / "b", 6, 40, seed=2, mapping=day_to_night)
    options = tiny("cyclegan", load_size=36, steps=4, sample_every=2, save_every=2)
    train("cyclegan", root / "run", "--a", a, "--b", b, *options)
    return root / "run"


def checkpoint_weights(run: Path) -> dict[str, Any]:
    """Network name -> weights (tensors by key), from the run's latest checkpoint."""
    from safetensors.torch import load_file

    latest = sorted((run / "checkpoints").glob("step-*"))[-1]
    names = json.loads((latest / "trainer_state.json").read_text())["networks"]
    return {
        name: load_file(latest / (f"model_{i}.safetensors" if i else "model.safetensors"))
        for i, name in enumerate(names)
    }


def add_evaluations(run: Path, best_step: int = 2) -> None:
    """What evaluation during training writes: metrics.jsonl and models/best (here: a copy of a2b)."""
    records = [
        {"step": 2, "metrics": {"l1": 0.20, "psnr": 15.0}, "best": "l1", "lower_is_better": True},
        {"step": 4, "metrics": {"l1": 0.25, "psnr": 14.0}, "best": "l1", "lower_is_better": True},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    best = run / "models" / "best"
    shutil.copytree(run / "models" / "a2b", best)
    spec = json.loads((best / "config.json").read_text())
    (best / "config.json").write_text(json.dumps(spec | {"step": best_step}))


# -- tiny models ------------------------------------------------------------------------------------------

# The reference ResNet generator with 6 blocks and 4 filters, every argument spelled out.
TINY_GENERATOR = {
    "name": "resnet6", "in_channels": 3, "out_channels": 3, "ngf": 4, "norm": "instance", "dropout": False
}  # fmt: skip


def random_generator(generator: dict[str, Any], seed: int = 0):
    """build_generator(**generator) after torch.manual_seed(seed), in eval mode, with batch-norm running
    statistics moved away from their init (so that eval mode matters)."""
    import torch

    from translate.nets.builders import build_generator

    torch.manual_seed(seed)
    net = build_generator(**generator)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def save_tiny_model(folder: Path, generator: dict[str, Any] = TINY_GENERATOR, seed: int = 0, **spec: Any) -> Path:
    """A model folder as training exports one: random_generator(generator, seed) and a config.json of
    {"method": "cyclegan", "generator": generator} updated with `spec`."""
    from translate.model_folder import save_model

    save_model(random_generator(generator, seed), {"method": "cyclegan", "generator": dict(generator)} | spec, folder)
    return folder


# -- losses of a few training steps (the speed switches, tests/test_speed_switches.py and test_gpu.py) ----


def prepared_method(method: str, device: str, **values):
    """A method built and prepared the way the engine does it (translate/engine/speed.py), tiny networks;
    returns (method, config)."""
    import torch
    from accelerate import Accelerator

    from translate.config import from_dict
    from translate.engine.speed import prepare_for_speed
    from translate.methods import METHODS, method_class

    base = {"a": "x", "b": "x", "size": 32, "load_size": 32, "generator": "resnet6", "ngf": 8, "ndf": 8}
    base |= {"norm": "instance", "batch_size": 2, "out": "unused"}
    config = from_dict(METHODS[method].settings, base | values)
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=config.mixed_precision)
    torch.manual_seed(0)
    m = method_class(method)(config, accelerator)
    for name in m.network_names:
        setattr(m, name, accelerator.prepare(prepare_for_speed(getattr(m, name), config, accelerator.device)))
    m.optimizers = m.configure_optimizers()
    return m, config


def step_losses(method: str, device: str, steps: int = 3, **values) -> list[dict[str, float]]:
    """The losses of `steps` training steps of prepared_method(method, device, **values) on fixed random batches."""
    import torch

    from translate.engine.speed import to_memory_format, use_channels_last

    m, config = prepared_method(method, device, **values)
    g = torch.Generator().manual_seed(1)
    found = []
    for step in range(steps):
        batch = {k: (torch.rand(2, 3, 32, 32, generator=g) * 2 - 1).to(device) for k in ("a", "b")}
        batch = to_memory_format(batch, use_channels_last(config, torch.device(device)))
        m.step = step
        found.append({k: float(v) for k, v in m.train_step(m.with_draws(batch)).items()})
    return found


def assert_same_losses(fast: list[dict[str, float]], plain: list[dict[str, float]], tolerance: float) -> None:
    assert [list(s) for s in fast] == [list(s) for s in plain]
    for step, (a, b) in enumerate(zip(fast, plain, strict=True)):
        for name in a:
            assert abs(a[name] - b[name]) <= tolerance * max(1.0, abs(b[name])), (step, name, a[name], b[name])


def assert_same_training(fast: list[dict[str, float]], plain: list[dict[str, float]]) -> None:
    """The same losses from two ways of computing one step: the first step's (the same weights, computed
    differently) to 1e-5, the later ones to 1e-3. Adam's first updates are about lr times the gradient's
    sign whatever its size, and for gradients at rounding level (conv biases before instance norm) that
    sign is the rounding's: with CycleGAN's small orthogonal init, channels-last moves the second
    step's cycle loss by 1.0e-4 relative and the third's G loss by 3.6e-4."""
    assert_same_losses(fast[:1], plain[:1], 1e-5)
    assert_same_losses(fast, plain, 1e-3)


# Options under which a method's schedule and random choices change within a few steps (the image pool
# fills, then swaps; DiscoGAN alternates its updates): the `--compile step` checks (test_capture, test_gpu).
CAPTURE_CHANGES = {
    "cyclegan": ("--pool-size", "3"),
    "discogan": ("--update-interval", "2"),  # two graph keys, four steps each in 8: recorded at the third
}


def logged_losses(method: str, run: Path, data: tuple, *extra: Any, steps: int = 8, decay_from: float = 0.5) -> list:
    """Each step's losses, logged one by one, of a tiny `steps`-step run with CAPTURE_CHANGES (sample grids
    every 3 steps, checkpoints every 2)."""
    options = tiny(method, log_every=1, sample_every=3, save_every=2, decay_from=decay_from)
    train(method, run, *data, *options, *CAPTURE_CHANGES.get(method, ()), "--steps", steps, *extra)
    return [json.loads(line)["losses"] for line in (run / "log.jsonl").read_text().splitlines()]


# -- the day->night learning tests (unpaired methods) ------------------------------------------------


def fit_on_one_thread(config: Any, method_cls: type) -> Any:
    """Train in-process; tiny nets run as fast on one thread, and steadily on a busy machine. Returns the Trainer."""
    import torch

    from translate.engine.trainer import Trainer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = Trainer(config, method_cls)
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    return trainer


def day_to_night_errors(generator: Any, size: int, count: int = 20) -> tuple[float, float]:
    """(generator, identity) mean L1 to the true night version of `count` held-out day scenes."""
    import torch

    from translate.data.demo import day_to_night
    from translate.data.images import image_to_tensor

    model_error = identity_error = 0.0
    with torch.no_grad():
        for day in make_domain_images(count, size, seed=3):
            x, target = image_to_tensor(day)[None], image_to_tensor(day_to_night(day))[None]
            model_error += (generator(x) - target).abs().mean().item() / count
            identity_error += (x - target).abs().mean().item() / count
    return model_error, identity_error


def method_data(method: str, root: Path) -> tuple[str | Path, ...]:
    """Data options for a tiny run of any method: four generated images per folder under `root`."""
    size = 64 if method == "discogan" else 32
    a = write_domain(root / "a", 4, size, seed=1)
    if method in ("srresnet", "srgan"):  # VGG19's 548 MB of weights are not at hand: a plain network anyway
        return ("--hr", a, "--content-loss", "mse") if method == "srgan" else ("--hr", a)
    return ("--a", a, "--b", write_domain(root / "b", 4, size, seed=2))


# -- the phases of the training loop (host syncs between boundaries: tests/test_no_sync.py, test_gpu.py) ---


def follow_loop_phases(monkeypatch: Any, log_every: int, enter: Callable[[str], None]) -> None:
    """Call `enter(phase)` as the Trainer's loop moves between phases: "data" (the next batch), "step N",
    "after step N" (with " (log boundary)" on a logging step), "loop" (between those) and "finish"
    (the final checkpoint, samples and export)."""
    from translate.engine.trainer import Trainer

    def around(real: Callable, phase: Callable[[Any], str], after: str) -> Callable:
        def wrapped(trainer: Any, *args: Any) -> Any:
            enter(phase(trainer))
            try:
                return real(trainer, *args)
            finally:
                enter(after)

        return wrapped

    def after_step(trainer: Any) -> str:
        boundary = trainer.step % log_every == 0 or trainer.step == trainer.total_steps
        return f"after step {trainer.step}" + (" (log boundary)" if boundary else "")

    phases = {
        "_loop": (lambda t: "loop", "finish"),
        "_next_batch": (lambda t: "data", "loop"),
        "_train_step": (lambda t: f"step {t.step + 1}", "loop"),
        "_after_step": (after_step, "loop"),
    }
    for name, (phase, after) in phases.items():
        monkeypatch.setattr(Trainer, name, around(getattr(Trainer, name), phase, after))


def between_boundaries(phase: str) -> bool:
    """Whether the loop must not wait for the device in `phase`: inside a step, between steps, or after a
    step that logs nothing (loading data reads host memory only and is not counted)."""
    return phase.startswith("step") or phase == "loop" or (phase.startswith("after") and "boundary" not in phase)
