"""Folder -> generator -> folder, at the speed of the hardware.

One way images flow through a model: `translate convert`, `translate upscale`, `Translator.convert_folder`
and the evaluations all come here.

- The input list is planned once (finished outputs skipped, so a re-run continues), then split
  across processes under `accelerate launch` (each writes its own share; the main process reports).
- Headers are read first, so images of one size are batched together (never resized to fit) and
  files that are not images are reported without decoding them.
- DataLoader workers read and decode; the model runs under `inference_mode` at the chosen
  precision; a pool of writer threads encodes and writes atomically while the next batch computes
  (Pillow releases the GIL while it encodes), or with `--encoders processes` a pool of encoder
  processes (`encoding.py`: no GIL shared with the main loop at all).
- Every file that cannot be read is skipped with its reason, listed in OUTPUT/failures.json (written
  once, with the videos' failures, by media.convert_media); a write that fails (disk full) stops the
  run with the path, since later writes would fail too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from translate.atomic import remove_temporaries, write_text
from translate.data.domains import resolve_domain
from translate.data.folders import find_images, safe_output_path
from translate.data.images import PNG_FAST
from translate.data.pixels import Pixels, read_pixels, resize_pixels
from translate.data.tiff import header_size
from translate.errors import ConfigError, DataError, WriteError
from translate.inference.cpu_trial import CpuTrial
from translate.inference.encoding import ENCODERS, encoder_kind, encoder_pool, write_file, write_result
from translate.inference.jpeg import JPEG_CODECS, Compressed, EncodedFetch, decode, read_compressed, uses_torchvision
from translate.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling
from translate.progress import TrainingProgress

if TYPE_CHECKING:
    from translate.inference.runner import Fetch, Translator

FORMATS = ("png", "jpg", "webp", "tif")
SIXTEEN_BIT_FORMATS = ("png", "tif")
ALPHA_FORMATS = ("png", "webp", "tif")
BIT_DEPTHS = ("auto", "8", "16")
ALPHA_CHOICES = ("keep", "drop")
FAILURES_FILE = "failures.json"
_SHOWN_FAILURES = 5


@dataclass(frozen=True)
class ConvertOptions:
    """How a folder is converted (the model and its precision live in the Translator)."""

    batch_size: int = 8
    workers: int | None = None  # None: one per core (at most 4), none for a handful of images
    format: str = "png"
    quality: int = 95
    # PNG results: "fast" (zlib's run-length strategy) or a zlib level 0-9. "fast" encodes photos 3x
    # faster than Pillow's level 6 for files ~1% larger (tools/bench_convert.py prints both); encoding
    # is most of a conversion's cost once the model is fast.
    png_compression: int | str = PNG_FAST
    size: int | None = None  # shorter side before converting; None: as the image is
    keep_size: bool = True  # with `size`: resize each result back to its input's size
    overwrite: bool = False
    tile: int | None = DEFAULT_TILE  # SR only: LR tiles of at most this many pixels (0/None: whole images)
    tile_overlap: int = DEFAULT_OVERLAP
    writers: int | None = None  # encoding threads or processes; None: one per core not decoding, at least 2
    bit_depth: str | int = "auto"  # 8, 16 (PNG and TIFF only) or auto: as each input, where the format allows
    alpha: str = "keep"  # keep: inputs' transparency goes into results that hold it (PNG, WebP, TIFF); drop
    jpeg_codec: str = "auto"  # torchvision: JPEG decoded and encoded on the device (inference/jpeg.py); pillow; auto
    encoders: str = "auto"  # threads, processes or auto (encoding.ENCODERS): what runs the `writers`

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size} must be at least 1")
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"--workers {self.workers} cannot be negative")
        if self.format not in FORMATS:
            raise ConfigError(f"--format {self.format!r}: choose one of {', '.join(FORMATS)}")
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"--quality {self.quality} must be between 1 and 100")
        if self.size is not None and self.size < 1:
            raise ConfigError(f"--size {self.size} must be a positive number of pixels")
        if self.writers is not None and self.writers < 1:
            raise ConfigError(f"writers {self.writers} must be at least 1")
        if str(self.png_compression) not in (PNG_FAST, *map(str, range(10))):
            raise ConfigError(f"--png-compression {self.png_compression}: choose {PNG_FAST} or a zlib level 0-9")
        if str(self.bit_depth) not in BIT_DEPTHS:
            raise ConfigError(f"--bit-depth {self.bit_depth}: choose 8, 16 or auto (as each input)")
        if str(self.bit_depth) == "16" and self.format not in SIXTEEN_BIT_FORMATS:
            raise ConfigError(f"--bit-depth 16 needs --format png or tif ({self.format} holds 8 bits only)")
        if self.alpha not in ALPHA_CHOICES:
            raise ConfigError(f"--alpha {self.alpha!r}: choose keep or drop")
        if self.encoders not in ENCODERS:
            raise ConfigError(f"--encoders {self.encoders!r}: choose {', '.join(ENCODERS)}")
        check_tiling(self.tile, self.tile_overlap)
        if self.jpeg_codec not in JPEG_CODECS:
            raise ConfigError(f"--jpeg-codec {self.jpeg_codec!r}: choose one of {', '.join(JPEG_CODECS)}")

    def check_channels(self, channels: int) -> None:
        """Refuse a --format that cannot hold a model's results of `channels`: 4 (RGBA) not in JPEG, more
        than 4 only in TIFF (written with tifffile)."""
        if channels > 4 and self.format != "tif":
            raise ConfigError(f"the model writes {channels} channels, which only TIFF holds: add --format tif")
        if channels == 4 and self.format == "jpg":
            raise ConfigError("the model writes 4 channels (RGBA), which JPEG cannot hold: use --format png or tif")

    @property
    def suffix(self) -> str:
        return f".{self.format}"

    @property
    def keeps_alpha(self) -> bool:
        """Inputs' alpha planes are carried to the results (JPEG has no alpha: there it is dropped)."""
        return self.alpha == "keep" and self.format in ALPHA_FORMATS

    def output_bits(self, input_bits: int) -> int:
        """The bits of a result from an input of `input_bits` (8 or 16)."""
        if self.format not in SIXTEEN_BIT_FORMATS:
            return 8
        return input_bits if str(self.bit_depth) == "auto" else int(self.bit_depth)


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path


@dataclass
class ConvertReport:
    output: Path
    converted: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0
    processes: int = 1
    videos: int = 0  # videos converted (not counted in `converted`), their frames and time
    frames: int = 0
    video_seconds: float = 0.0
    tip: str | None = None  # one line of advice for the next run (e.g. a faster precision on this machine)

    @property
    def failed(self) -> list[str]:
        return [path for path, _ in self.failures]

    @property
    def exit_code(self) -> int:
        """0 for a clean run, 1 when any file could not be converted (2 stays for usage errors)."""
        return 1 if self.failures else 0

    def summary(self) -> str:
        rate = f" ({self.converted / self.seconds:.1f} images/s)" if self.converted and self.seconds > 0 else ""
        on = f" on {self.processes} processes" if self.processes > 1 else ""
        lines = [f"Converted {self.converted} image(s) into {self.output}{rate}{on}"]
        if self.skipped:
            lines[0] += f"; skipped {self.skipped} already there (--overwrite to redo)"
        if self.videos:
            fps = f", {self.frames / self.video_seconds:.1f} frames/s" if self.video_seconds > 0 else ""
            videos = f"Converted {self.videos} video(s) ({self.frames} frames{fps}) into {self.output}"
            lines = lines + [videos] if self.converted or self.skipped else [videos]
        if self.failures:
            lines.append(f"{len(self.failures)} file(s) could not be converted (all in {self.output / FAILURES_FILE}):")
            lines += [f"  {path}: {reason}" for path, reason in self.failures[:_SHOWN_FAILURES]]
            if len(self.failures) > _SHOWN_FAILURES:
                lines.append(f"  ... and {len(self.failures) - _SHOWN_FAILURES} more")
        if self.tip:
            lines.append(f"Tip: {self.tip}")
        return "\n".join(lines)


# -- planning ---------------------------------------------------------------------------------------


def plan(input_dir: Path, output_dir: Path, suffix: str, overwrite: bool) -> Plan:
    """The jobs still to do, how many are skipped because their result exists, and inputs refused.

    Results mirror the input's layout and never land outside `output_dir` (`safe_output_path`).
    Two inputs that would share a result (`a.jpg`, `a.png` -> `a.png`) keep their own extension
    in the name instead (`a.jpg.png`, `a.png.png`).
    """
    sources = find_images(input_dir)
    shared: dict[Path, int] = {}
    for source in sources:
        shared[source.with_suffix(suffix)] = shared.get(source.with_suffix(suffix), 0) + 1
    result = Plan()
    for source in sources:
        named = source if shared[source.with_suffix(suffix)] == 1 else source.with_name(source.name + suffix)
        try:
            target = safe_output_path(input_dir, named, output_dir, suffix)
        except DataError as exc:
            result.refused.append((str(source), failure_reason(exc, named)))
            continue
        if target.exists() and not overwrite:
            result.skipped += 1
        else:
            result.jobs.append(Job(source, target))
    return result


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    skipped: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def working_size(size: tuple[int, int], shorter: int | None) -> tuple[int, int]:
    """(width, height) after scaling the shorter side to `shorter` (unchanged when None)."""
    if shorter is None:
        return size
    w, h = size
    factor = shorter / min(w, h)
    return (shorter, max(1, round(h * factor))) if w <= h else (max(1, round(w * factor)), shorter)


def group_batches(sizes: list[tuple[int, int] | None], batch_size: int) -> list[list[int]]:
    """Indices of same-size images in batches of at most `batch_size`, in order of first appearance."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, size in enumerate(sizes):
        if size is not None:
            groups.setdefault(size, []).append(index)
    return [members[i : i + batch_size] for members in groups.values() for i in range(0, len(members), batch_size)]


# -- reading ----------------------------------------------------------------------------------------


@dataclass
class DecodedBatch:
    """One batch as the decoders hand it over: images of one shape stacked as NHWC uint8 (a quarter of
    float32's bytes to pass between processes and to a GPU) or uint16 (16-bit files), the files that
    could not be read, and the alpha planes that go to the writer beside the network."""

    groups: list[tuple[list[int], torch.Tensor]]  # (job indices, their pixels); one group unless EXIF quirks
    errors: list[tuple[int, str]]  # (job index, reason)
    alphas: dict[int, np.ndarray] = field(default_factory=dict)  # job index -> its input's alpha plane
    compressed: list[Compressed] = field(default_factory=list)  # JPEG files for the device decoder (jpeg.py)

    def __len__(self) -> int:
        return sum(len(indices) for indices, _ in self.groups) + len(self.errors) + len(self.compressed)

    def pin_memory(self) -> DecodedBatch:
        """What the DataLoader's pin-memory thread calls (GPU only): page-locked pixels copy asynchronously."""
        pinned = [(indices, pixels.pin_memory()) for indices, pixels in self.groups]
        return DecodedBatch(pinned, self.errors, self.alphas, self.compressed)


class BatchDecoder:
    """Map-style dataset for the DataLoader workers: batch b -> its images decoded (and resized), or why not."""

    def __init__(
        self,
        jobs: list[Job],
        sizes: list[tuple[int, int] | None],
        batches: list[list[int]],
        alpha: bool = False,
        channels: int = 3,
        compressed: bool = False,
    ) -> None:
        self.jobs, self.sizes, self.batches = jobs, sizes, batches
        self.alpha = alpha  # read the inputs' alpha planes (for results that keep them)
        self.channels = channels  # the model's input channels (data.pixels.fit_channels)
        self.compressed = compressed  # JPEG files as bytes for the device decoder (jpeg.read_compressed)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, batch: int) -> DecodedBatch:
        return self.decode(self.batches[batch], self.compressed)

    def decode(self, batch: list[int], compressed: bool = False) -> DecodedBatch:
        """These jobs decoded with Pillow, or with `compressed`, JPEG files the device can decode as bytes."""
        by_shape: dict[tuple[tuple[int, ...], str], tuple[list[int], list[np.ndarray]]] = {}
        errors: list[tuple[int, str]] = []
        alphas: dict[int, np.ndarray] = {}
        files: list[Compressed] = []
        for index in batch:
            found = read_compressed(self.jobs[index].source, index, self.sizes[index]) if compressed else None
            if found is not None:
                files.append(found)
                continue
            try:
                decoded = self._decode(index)
            except DataError as exc:
                errors.append((index, failure_reason(exc, self.jobs[index].source)))
                continue
            pixels = decoded.colour
            # headers rarely lie (EXIF quirks); 8- and 16-bit images of one size run apart
            indices, arrays = by_shape.setdefault((pixels.shape, pixels.dtype.str), ([], []))
            indices.append(index)
            arrays.append(pixels)
            if decoded.alpha is not None:
                alphas[index] = decoded.alpha
        groups = [(indices, torch.from_numpy(np.stack(arrays))) for indices, arrays in by_shape.values()]
        return DecodedBatch(groups, errors, alphas, files)

    def _decode(self, index: int) -> Pixels:
        """The image at its own depth, resized to its working size; its alpha plane stays at the input's
        size (the writer resizes it to the result's)."""
        decoded = read_pixels(self.jobs[index].source, alpha=self.alpha, channels=self.channels)
        wanted, (height, width) = self.sizes[index], decoded.colour.shape[:2]
        if wanted is not None and (width, height) != wanted:
            return Pixels(resize_pixels(decoded.colour, wanted), decoded.alpha)
        return decoded


def decode_on_device(decoded: DecodedBatch, decoder: BatchDecoder, device: torch.device) -> DecodedBatch:
    """The batch with its JPEG files decoded on `device` (jpeg.decode); files the decoder refuses go the
    Pillow route here, so a broken one is reported with the reason it always had."""
    if not decoded.compressed:
        return decoded
    groups, refused = decode(decoded.compressed, device)
    pillow = decoder.decode(refused) if refused else DecodedBatch([], [])
    return DecodedBatch(decoded.groups + groups + pillow.groups, decoded.errors + pillow.errors, decoded.alphas)


def _as_is(batch: DecodedBatch) -> DecodedBatch:
    return batch


def _decoded_batches(decoder: BatchDecoder, workers: int, pin: bool) -> Iterator[DecodedBatch]:
    """The decoder's batches in order: from `workers` DataLoader processes, or with none from one thread
    running up to two batches ahead (Pillow decodes without the GIL, so this overlaps the model
    without the cost of processes)."""
    if workers == 0:
        yield from _on_a_thread(decoder, ahead=2)
        return
    yield from DataLoader(
        decoder,
        batch_size=None,  # the decoders stack each batch themselves
        num_workers=workers,
        collate_fn=_as_is,
        pin_memory=pin,
        generator=torch.Generator(),  # its own seed stream: the global one stays for the model (dropout)
    )


def _on_a_thread(decoder: BatchDecoder, ahead: int) -> Iterator[DecodedBatch]:
    with ThreadPoolExecutor(1, thread_name_prefix="translate-decoder") as pool:
        pending = deque(pool.submit(decoder.__getitem__, b) for b in range(min(ahead, len(decoder))))
        for following in range(ahead, len(decoder) + ahead):
            batch = pending.popleft().result()
            if following < len(decoder):
                pending.append(pool.submit(decoder.__getitem__, following))
            yield batch


def failure_reason(exc: BaseException, path: Path) -> str:
    """DataError messages start with the path; failures.json keeps path and reason apart."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return text.removeprefix(f"{path}: ")


def cores_per_process() -> int:
    """Cores this process may use: its CPU set (smaller than the machine under SLURM, a container or
    `taskset`, where `os.cpu_count()` counts them all), shared with the other processes that
    `accelerate launch` started on this machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def _auto_workers(jobs: int, batch_size: int) -> int:
    """Decode processes: none for a handful of images (starting them costs more), none with two cores
    or fewer (measured with tools/bench_convert.py: the model and the writer threads already keep both
    busy, and worker processes only compete with them), else one per core up to 4."""
    cores = cores_per_process()
    if jobs < 2 * batch_size or cores <= 2:
        return 0
    return min(4, cores)


def _auto_writers(decoders: int) -> int:
    """Encoding threads: one per core the decoders leave (PNG and JPEG encoders release the GIL), at
    least 2. With 2 the pipeline was capped at ~90 images/s on a 16-core GPU machine (docs/BENCHMARKS.md)."""
    return max(2, cores_per_process() - decoders)


# -- writing ----------------------------------------------------------------------------------------


class Writer:
    """Encode and write results (`encoding.write_result`) on a few threads or processes (`options.encoders`),
    at most `limit` waiting; the first failure stops the run."""

    def __init__(self, workers: int, options: ConvertOptions) -> None:
        self.kind, self.workers = encoder_kind(options.encoders), workers
        self.pool: Executor | None = None  # started with the first result (processes take a moment)
        self.pending: deque[tuple[Future, Path]] = deque()
        self.limit = 4 * workers
        self.options = options
        self.written = 0

    def submit(
        self, pixels: np.ndarray, target: Path, size: tuple[int, int] | None, alpha: np.ndarray | None = None
    ) -> None:
        encoding = (self.options.quality, self.options.png_compression)
        self._queue(target, write_result, pixels, target, size, alpha, *encoding)

    def submit_file(self, data: bytes, target: Path) -> None:
        """Write a result encoded elsewhere (JPEG from the device: jpeg.EncodedFetch)."""
        self._queue(target, write_file, data, target)

    def _queue(self, target: Path, write: Callable[..., None], *args: Any) -> None:
        """`write(*args)`, which writes `target`, on the pool."""
        if self.pool is None:
            self.pool = encoder_pool(self.kind, self.workers)
        try:
            future = self.pool.submit(write, *args)
        except BrokenProcessPool:  # an encoder process died since the last result was collected
            raise self._encoder_died() from None
        self.pending.append((future, target))
        while len(self.pending) > self.limit:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        future, target = self.pending.popleft()
        try:
            future.result()
        except OSError as exc:
            raise WriteError(f"cannot write {target}: {exc.strerror or exc} (conversion stopped)") from None
        except BrokenProcessPool:
            raise self._encoder_died(target) from None
        self.written += 1

    def _encoder_died(self, *unwritten: Path) -> WriteError:
        """The error for a pool one of whose processes was killed (out of memory, likely). The pool ends its
        other processes, so nothing pending will be written: once they are gone, the temporary files of
        every unfinished write are removed (a killed process cleans up nothing). Results already written
        stay, and a re-run continues from them."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        for target in (*unwritten, *(target for _, target in self.pending)):
            remove_temporaries(target)
        self.pending.clear()
        return WriteError(
            "an encoder process died (out of memory?): rerun with --encoders threads "
            "(results written so far stay; the re-run continues from them)"
        )

    def close(self) -> None:
        """Wait for every write; raise the first failure."""
        try:
            while self.pending:
                self._finish_oldest()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)


# -- running ----------------------------------------------------------------------------------------


def process_state() -> Any:
    """Accelerate's view of the processes: one, or those of `accelerate launch` / torch.distributed.run.

    ACCELERATE_USE_CPU=1 makes processes without GPUs one (gloo) group, as Accelerator does.
    """
    # lazy: accelerate loads to convert folders only, never for the Python API's images nor in decoder workers
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env  # lazy: as above

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


def check_folders(input_dir: Path, output_dir: Path) -> None:
    src, dst = input_dir.resolve(), output_dir.resolve()
    if dst == src or src in dst.parents:
        raise ConfigError(f"--output {output_dir} must not be --input or inside it (inputs are never overwritten)")


def convert(translator: Translator, input_dir: Path, output_dir: Path, options: ConvertOptions) -> ConvertReport:
    """Convert every image under `input_dir` (a folder or a domain name) into `output_dir`. The caller
    records the report's failures (`record_failures`): media.convert_media, once for images and videos."""
    started = time.monotonic()
    state = process_state()
    input_dir = resolve_domain(str(input_dir))
    check_folders(input_dir, Path(output_dir))
    options.check_channels(translator.out_channels)
    translator.tile, translator.tile_overlap = options.tile, options.tile_overlap
    if state.num_processes > 1:
        translator.net.to(state.device)
        translator.device = state.device
    planned = _plan_once(state, input_dir, Path(output_dir), options)
    with state.split_between_processes(planned.jobs) as mine:
        report = _convert_share(translator, mine, options, state.is_main_process)
    report.output, report.skipped = Path(output_dir), planned.skipped
    report = merge_reports(state, report)
    report.failures = planned.refused + report.failures
    report.seconds = time.monotonic() - started
    return report


def _plan_once(state: Any, input_dir: Path, output_dir: Path, options: ConvertOptions) -> Plan:
    """The main process plans and tells the others, so every process splits the same list."""
    if state.num_processes == 1:
        return plan(input_dir, output_dir, options.suffix, options.overwrite)
    from accelerate.utils import broadcast_object_list  # lazy: only with several processes (accelerate)

    planned = [plan(input_dir, output_dir, options.suffix, options.overwrite) if state.is_main_process else None]
    return broadcast_object_list(planned)[0]


def _convert_share(translator: Translator, jobs: list[Job], options: ConvertOptions, show: bool) -> ConvertReport:
    report = ConvertReport(Path())
    originals: list[tuple[int, int] | None] = []
    for job in jobs:
        try:
            originals.append(header_size(job.source))
        except DataError as exc:
            originals.append(None)
            report.failures.append((str(job.source), failure_reason(exc, job.source)))
    sizes = [working_size(size, options.size) if size else None for size in originals]
    # Results go back to their input's size after a --size resize (not for SR, whose point is a larger size).
    restore = options.size is not None and options.keep_size and translator.scale == 1
    workers = _auto_workers(len(jobs), options.batch_size) if options.workers is None else options.workers
    batches = group_batches(sizes, options.batch_size)
    jpeg = uses_torchvision(options.jpeg_codec, translator.device)
    compressed = jpeg and translator.in_channels in (1, 3)
    decoder = BatchDecoder(jobs, sizes, batches, options.keeps_alpha, translator.in_channels, compressed)
    # Results encoded on the device: JPEG of 3 channels, not resized back (that is Pillow's bicubic, in the writers)
    encode = jpeg and options.format == "jpg" and translator.out_channels == 3 and not restore
    fetch = functools.partial(EncodedFetch, quality=options.quality) if encode else None
    loader = _decoded_batches(decoder, workers, pin=translator.device.type == "cuda")
    writer = Writer(options.writers or _auto_writers(workers), options)
    trial = CpuTrial() if translator.device.type == "cpu" else None
    done = len(report.failures)
    alphas: dict[int, np.ndarray] = {}  # of the batches started and not yet written

    def write(started: list[tuple[list[int], Fetch]]) -> None:
        for indices, results in started:
            for index, result in zip(indices, results.get(), strict=True):
                if isinstance(result, bytes):  # encoded on the device
                    writer.submit_file(result, jobs[index].target)
                    continue
                size = originals[index] if restore else None
                writer.submit(result, jobs[index].target, size, alphas.pop(index, None))

    previous: list[tuple[list[int], Fetch]] = []
    with TrainingProgress(len(jobs), done, show, max(1, len(jobs) // 10), "convert", "image") as progress:
        try:
            for decoded in loader:
                decoded = decode_on_device(decoded, decoder, translator.device)
                report.failures += [(str(jobs[index].source), reason) for index, reason in decoded.errors]
                alphas.update(decoded.alphas)
                # This batch starts before the previous one is written out: a GPU is never left idle.
                started = _start(translator, decoded, trial, options, fetch)
                write(previous)
                previous = started
                done += len(decoded)
                progress.update(done)
            write(previous)
        finally:
            loader.close()  # stops the decoders before the writes are awaited
            writer.close()
            if trial is not None:
                trial.restore()
    report.converted = writer.written
    return report


def _start(
    translator: Translator,
    decoded: DecodedBatch,
    trial: CpuTrial | None,
    options: ConvertOptions,
    fetch: Callable[..., Any] | None = None,
) -> list[tuple[list[int], Fetch]]:
    """Start the network on a batch: a run per group of same-size images, or on a CPU, when its trial
    says so, a run per image (see `CpuTrial`); results at the bits `options` give each group, fetched by
    `fetch` (None: `runner.Fetch`; `jpeg.EncodedFetch`: as JPEG files)."""
    started = []
    for indices, pixels in decoded.groups:
        bits = options.output_bits(pixels.element_size() * 8)  # uint8 or uint16 pixels
        if trial is None or trial.setting.whole_batches:
            runs = [(indices, pixels)]
        else:
            runs = [([index], pixels[i : i + 1]) for i, index in enumerate(indices)]
        for run, run_pixels in runs:
            with trial.timing(len(run)) if trial is not None else contextlib.nullcontext():
                started.append((run, translator.start_pixels(run_pixels, bits, fetch)))
    return started


def merge_reports(state: Any, report: ConvertReport) -> ConvertReport:
    """Every process's counts and failures, summed on all of them (so all exit alike)."""
    if state.num_processes == 1:
        return report
    from accelerate.utils import gather_object  # lazy: only with several processes (accelerate)

    parts = gather_object([report])
    merged = ConvertReport(report.output, skipped=report.skipped, processes=state.num_processes)
    for part in parts:
        merged.converted += part.converted
        merged.failures += part.failures
        merged.videos += part.videos
        merged.frames += part.frames
        merged.video_seconds = max(merged.video_seconds, part.video_seconds)
    merged.failures.sort()
    return merged


def record_failures(report: ConvertReport) -> None:
    """OUTPUT/failures.json lists every failure of this run; a clean run removes an old one."""
    path = report.output / FAILURES_FILE
    if report.failures:
        entries = [{"path": p, "reason": r} for p, r in report.failures]
        write_text(path, json.dumps(entries, indent=2) + "\n")
    elif path.exists():
        path.unlink()
