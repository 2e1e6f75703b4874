"""Convert between the two layouts of paired data: side-by-side A|B images and two aligned folders.

The public pix2pix data sets ship side by side; most people's own data is two folders. Pairing and
its checks are PairedDataset's own (same rules, same messages), so a folder that `combine` accepts
is one that training accepts. Results are PNG (lossless, so `split` gives `combine`'s inputs back
pixel for pixel), each written atomically; inputs are never written to, and existing results are
kept unless asked to overwrite (an interrupted run just continues). A file that cannot be read is
left out (unreadable headers are reported when the pairs are listed, damage found while decoding
in the summary), unless most are: then the pairing's own error stops everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import track

from translate.data.datasets import PairedDataset
from translate.data.folders import pairing_key
from translate.data.images import load_image, save_image
from translate.errors import ConfigError, DataError

SUFFIX = ".png"


@dataclass
class PairsReport:
    output: Path
    written: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)  # one-line reasons of the inputs that could not be decoded

    def summary(self, what: str) -> str:
        text = f"Wrote {self.written} {what} into {self.output}"
        if self.skipped:
            text += f"; skipped {self.skipped} already there (--overwrite to redo)"
        if self.failed:
            more = f" and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
            text += f"; {len(self.failed)} unreadable: {', '.join(self.failed[:3])}{more}"
        return text


def combine_folders(root_a: Path, root_b: Path, out: Path, overwrite: bool = False) -> PairsReport:
    """Write OUT/<relative name>.png = A | B for every pair of the aligned folders A and B."""
    root_a, root_b, out = Path(root_a).expanduser(), Path(root_b).expanduser(), Path(out).expanduser()
    _check_separate(out, {"--a": root_a, "--b": root_b})
    pairs = PairedDataset.from_folders(root_a, root_b).pairs  # refuses unpaired files and size mismatches
    jobs = [((out / a.relative_to(root_a)).with_suffix(SUFFIX), a, b) for a, b in pairs]
    return _run(out, jobs, _combine, overwrite)


def split_folder(data: Path, out: Path, overwrite: bool = False) -> PairsReport:
    """Write OUT/A/<relative name>.png and OUT/B/<relative name>.png from side-by-side A|B images."""
    data, out = Path(data).expanduser(), Path(out).expanduser()
    _check_separate(out, {"--data": data})
    files = [path for path, _ in PairedDataset.from_side_by_side(data).pairs]  # refuses odd widths
    _check_unique_names(files, data)
    names = [path.relative_to(data).with_suffix(SUFFIX) for path in files]
    jobs = [(out / "A" / name, out / "B" / name, path) for name, path in zip(names, files, strict=True)]
    return _run(out, jobs, _split, overwrite)


def _combine(target: Path, path_a: Path, path_b: Path) -> None:
    pixels_a, pixels_b = np.asarray(load_image(path_a)), np.asarray(load_image(path_b))
    if pixels_a.shape != pixels_b.shape:  # headers agreed, pixels did not (an odd EXIF tag, say)
        raise DataError(f"{path_a} and {path_b}: paired images differ in size")
    save_image(np.concatenate([pixels_a, pixels_b], axis=1), target)


def _split(target_a: Path, target_b: Path, path: Path) -> None:
    both = np.asarray(load_image(path))
    half = both.shape[1] // 2
    save_image(both[:, half:], target_b)
    save_image(both[:, :half], target_a)  # A last: its presence marks the pair as done


def _run(out: Path, jobs: list[tuple[Path, ...]], write: Callable[..., None], overwrite: bool) -> PairsReport:
    """Call write(*job) for each job whose first path (its marker of completion) is missing.

    A job whose input cannot be decoded is recorded in the report's `failed` and the rest go on.
    """
    report = PairsReport(out)
    for job in track(jobs, description="write", transient=True):
        if job[0].exists() and not overwrite:
            report.skipped += 1
            continue
        try:
            write(*job)
        except DataError as exc:
            report.failed.append(str(exc))
            continue
        report.written += 1
    return report


def _check_separate(out: Path, inputs: dict[str, Path]) -> None:
    """The output folder must not overlap an input: inputs are never written to, nor mixed with results."""
    dst = out.resolve()
    for flag, root in inputs.items():
        src = root.resolve()
        if dst == src or src in dst.parents or dst in src.parents:
            raise ConfigError(f"--out {out} overlaps {flag} {root}: pick a separate folder (inputs are never written)")


def _check_unique_names(files: list[Path], root: Path) -> None:
    """x.jpg and x.png in one folder would both become x.png: refuse instead of keeping one silently."""
    seen: dict[str, Path] = {}
    for path in files:
        key = pairing_key(path, root)
        if key in seen:
            raise DataError(f"{seen[key]} and {path}: two images named '{key}', so one result would replace the other")
        seen[key] = path
