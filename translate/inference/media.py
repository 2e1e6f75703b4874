"""What `translate convert` and `upscale` take: a folder of images and videos, or one video file.

Images go through the batched image pipeline (`pipeline.convert`); each video goes through
`video.convert_video` (PyAV, the optional extra 'video', imported only when there is a video), frame
batches through the same runner. Both kinds share one ConvertReport and one failures.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from translate.data.domains import resolve_domain
from translate.data.folders import find_files, find_videos, is_video_file, safe_output_path
from translate.data.images import is_image_file
from translate.errors import ConfigError, DataError
from translate.inference.pipeline import (
    ConvertOptions,
    ConvertReport,
    Job,
    check_folders,
    convert,
    failure_reason,
    merge_reports,
    process_state,
    record_failures,
)

if TYPE_CHECKING:
    from translate.inference.runner import Translator

DEFAULT_VIDEO_CODEC = "libx264"
DEFAULT_CRF = 18


@dataclass(frozen=True)
class VideoOptions:
    """How videos are encoded: an FFmpeg encoder and, for lossy ones, its constant-rate factor."""

    codec: str = DEFAULT_VIDEO_CODEC
    crf: int = DEFAULT_CRF  # libx264/libx265: 0 (lossless) to 51; libvpx-vp9, libaom-av1: to 63

    def validate(self) -> None:
        if not 0 <= self.crf <= 63:
            raise ConfigError(f"--crf {self.crf} must be between 0 and 63 (libx264: 0 lossless, 18 default, 51)")


def convert_media(
    translator: Translator, source: Path, output: Path, options: ConvertOptions, video: VideoOptions
) -> ConvertReport:
    """Convert a folder's images and videos into `output`, or one video file (into the folder `output`, or
    onto `output` itself when it has a video extension). A video that cannot be read fails alone: listed
    in a folder's report and its failures.json, a one-line DataError when it is the only input."""
    video.validate()
    if Path(source).is_file() and is_video_file(source):
        return _convert_one(translator, Path(source), Path(output), options, video)
    report = _convert_folder(translator, resolve_domain(str(source)), Path(output), options, video)
    if process_state().is_main_process:
        record_failures(report)  # once, with the failures of both kinds
    return report


def _convert_folder(
    translator: Translator, folder: Path, output: Path, options: ConvertOptions, video: VideoOptions
) -> ConvertReport:
    """A folder's images (`pipeline.convert`), then its videos, in one report."""
    videos = find_videos(folder) if folder.is_dir() else []
    if not videos:
        return convert(translator, folder, output, options)
    check_folders(folder, output)
    translator.tile, translator.tile_overlap = options.tile, options.tile_overlap
    has_images = find_files(folder, is_image_file)
    report = convert(translator, folder, output, options) if has_images else ConvertReport(output)
    jobs, skipped = _plan_videos(folder, videos, output, options.overwrite)
    state = process_state()
    done = merge_reports(state, _convert_videos(translator, jobs[state.process_index :: state.num_processes],
                                                options, video, state.is_main_process))  # fmt: skip
    report.videos, report.frames, report.video_seconds = done.videos, done.frames, done.video_seconds
    report.skipped += skipped
    report.failures = sorted(report.failures + done.failures)
    return report


def _convert_one(
    translator: Translator, source: Path, output: Path, options: ConvertOptions, video: VideoOptions
) -> ConvertReport:
    target = output if is_video_file(output) else output / source.name
    if target.resolve() == source.resolve():
        raise ConfigError(f"--output {output} would overwrite the input {source} (inputs are never overwritten)")
    report = ConvertReport(target.parent)
    if not process_state().is_main_process:  # under `accelerate launch`: one video is one process's work
        return report
    if target.exists() and not options.overwrite:
        report.skipped = 1
        return report
    translator.tile, translator.tile_overlap = options.tile, options.tile_overlap
    module = _video_module()
    module.check_codec(video.codec)
    started = time.monotonic()
    report.frames = module.convert_video(translator, source, target, options, video, show=True)
    report.videos, report.video_seconds = 1, time.monotonic() - started
    return report


def _plan_videos(folder: Path, videos: list[Path], output: Path, overwrite: bool) -> tuple[list[Job], int]:
    """Each video's result keeps its name and container, in the input's layout; existing ones are skipped."""
    jobs = [Job(path, safe_output_path(folder, path, output, path.suffix)) for path in videos]
    todo = [job for job in jobs if overwrite or not job.target.exists()]
    return todo, len(jobs) - len(todo)


def _convert_videos(
    translator: Translator, jobs: list[Job], options: ConvertOptions, video: VideoOptions, show: bool
) -> ConvertReport:
    report = ConvertReport(Path())
    if not jobs:
        return report
    module = _video_module()
    module.check_codec(video.codec)
    started = time.monotonic()
    for job in jobs:
        try:
            report.frames += module.convert_video(translator, job.source, job.target, options, video, show)
            report.videos += 1
        except DataError as exc:
            report.failures.append((str(job.source), failure_reason(exc, job.source)))
    report.video_seconds = time.monotonic() - started
    return report


def _video_module() -> ModuleType:
    """translate.inference.video, or a one-line error naming the extra that brings PyAV."""
    try:
        from translate.inference import video  # lazy: optional extra 'video' (PyAV)
    except ModuleNotFoundError as exc:
        if exc.name != "av":
            raise
        raise ConfigError("videos need PyAV: pip install 'translate-gan[video]'") from None
    return video
