"""Named public data sets (the pix2pix and CycleGAN collections) and the domains cut from them.

A *data set* is one archive: where it lives, how big it is, its checksum when known, its licence
and its layout. A *domain* is one image folder taken from a data set ("shoes" is the photo half of
edges2shoes), so that `--a shoes --b bags` just works once the archives are here.

Nothing is downloaded behind the user's back: training on a missing set stops with one line
naming the URL, the folder to fill by hand and the command that fetches it. Downloads resume from
a `.part` file (HTTP Range; `file://` URLs seek), are checked against sha256 when known, unpack
into a temporary folder with every member checked (nothing may land outside it) and are renamed
into place only when complete, so an interrupted download never leaves a half data set behind.

Standard library only; the CLI imports this lazily.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from translate.atomic import atomic_dir
from translate.cache import cache_subdir
from translate.data.download import Progress, extract_archive, forget_digest, megabytes, obtain, reason
from translate.errors import DataError

PAIRED, UNPAIRED = "paired", "unpaired"
_PIX2PIX_URL = "https://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{}.tar.gz"
_CYCLEGAN_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{}.zip"
_SPLITS = {PAIRED: ("train", "val"), UNPAIRED: ("trainA", "trainB", "testA", "testB")}
_HALVES = "halves"  # prepared A/B folders of a paired set: <set>/halves/{train,val}/{A,B}
_MARKER = ".complete"  # hidden, so find_images skips it


@dataclass(frozen=True)
class DataSet:
    """One downloadable archive. `paired`: side-by-side A|B images in train/ and val/ (pix2pix);
    `unpaired`: trainA/, trainB/, testA/, testB/ (CycleGAN)."""

    name: str
    kind: str
    url: str
    size: str  # approximate download size, to warn the user before a long download
    sha256: str | None  # None: not published; the download prints the digest it got
    licence: str
    about: str

    @property
    def splits(self) -> tuple[str, ...]:
        return _SPLITS[self.kind]

    @property
    def archive_name(self) -> str:
        return PurePosixPath(urllib.parse.urlparse(self.url).path).name


@dataclass(frozen=True)
class Domain:
    """One side of a data set: `side` "A" or "B" (the left or right half of a paired set, or
    trainA / trainB of an unpaired one); `about` says what the images are."""

    name: str
    dataset: str
    side: str
    about: str


_ZAPPOS = "UT Zappos50K (Yu & Grauman): academic, non-commercial use; cite the authors"
_IMAGENET = "ImageNet images: non-commercial research and education only (ImageNet terms)"
_FLICKR = "Flickr photos collected by the CycleGAN authors: research use; each photo keeps its owner's rights"
_WIKIART = "paintings from WikiArt and photos from Flickr: research use; check the rights of each work"
_MAPS = "scraped from Google Maps: research use only under Google's terms"
_FACADES = "CMP Facade Database (Tylecek & Sara): research use; cite the authors"


def _pix2pix(name: str, size: str, licence: str, about: str) -> DataSet:
    return DataSet(name, PAIRED, _PIX2PIX_URL.format(name), size, None, licence, about)


def _cyclegan(name: str, size: str, licence: str, about: str, catalog_name: str | None = None) -> DataSet:
    return DataSet(catalog_name or name, UNPAIRED, _CYCLEGAN_URL.format(name), size, None, licence, about)


# Sizes are approximate. No checksums are published for these archives, so sha256 is None until
# someone pins them: the first download's digest is trusted and recorded (download.check_first_use),
# later downloads must match it, and `translate datasets download` prints it for comparison.
# facades and maps exist in both collections: the bare name is the pix2pix (paired) one and the
# CycleGAN copy is "cyclegan/NAME".
DATASETS: dict[str, DataSet] = {
    d.name: d
    for d in (
        _pix2pix("edges2shoes", "2.0 GB", _ZAPPOS, "50k shoe photos (right) with their edge maps (left)"),
        _pix2pix(
            "edges2handbags",
            "8.6 GB",
            "Amazon handbag photos collected for iGAN (Zhu et al. 2016): research use",
            "137k handbag photos (right) with their edge maps (left)",
        ),
        _pix2pix("facades", "30 MB", _FACADES, "400 facade photos (left) with their label maps (right)"),
        _pix2pix("maps", "240 MB", _MAPS, "1096 aerial photos (left) with their Google Maps tiles (right)"),
        _pix2pix(
            "night2day",
            "1.9 GB",
            "Transient Attributes (Laffont et al. 2014): research use; cite the authors",
            "20k webcam pairs of one scene at night (left) and by day (right)",
        ),
        _cyclegan("horse2zebra", "115 MB", _IMAGENET, "ImageNet horses (A) and zebras (B)"),
        _cyclegan("apple2orange", "75 MB", _IMAGENET, "ImageNet apples (A) and oranges (B)"),
        _cyclegan("summer2winter_yosemite", "125 MB", _FLICKR, "Yosemite in summer (A) and winter (B)"),
        _cyclegan("monet2photo", "290 MB", _WIKIART, "Monet paintings (A) and landscape photos (B)"),
        _cyclegan("cezanne2photo", "265 MB", _WIKIART, "Cezanne paintings (A) and landscape photos (B)"),
        _cyclegan("ukiyoe2photo", "280 MB", _WIKIART, "ukiyo-e prints (A) and landscape photos (B)"),
        _cyclegan("vangogh2photo", "290 MB", _WIKIART, "Van Gogh paintings (A) and landscape photos (B)"),
        _cyclegan("iphone2dslr_flower", "325 MB", _FLICKR, "flowers by iPhone (A) and by DSLR, shallow focus (B)"),
        _cyclegan("maps", "1.4 GB", _MAPS, "aerial photos (A) and map tiles (B), unpaired copy", "cyclegan/maps"),
        _cyclegan(
            "facades", "35 MB", _FACADES, "facade photos (A) and label maps (B), unpaired copy", "cyclegan/facades"
        ),
    )
}

DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain("shoes", "edges2shoes", "B", "shoe photos, the right halves"),
        Domain("shoes-edges", "edges2shoes", "A", "shoe edge maps, the left halves"),
        Domain("bags", "edges2handbags", "B", "handbag photos, the right halves"),
        Domain("bags-edges", "edges2handbags", "A", "handbag edge maps, the left halves"),
        Domain("facade-photo", "facades", "A", "facade photos, the left halves"),
        Domain("facade-labels", "facades", "B", "facade label maps, the right halves"),
        Domain("aerial", "maps", "A", "aerial photos, the left halves"),
        Domain("map", "maps", "B", "map tiles, the right halves"),
        Domain("night", "night2day", "A", "scenes at night, the left halves"),
        Domain("day", "night2day", "B", "scenes by day, the right halves"),
        Domain("horse", "horse2zebra", "A", "horses, trainA"),
        Domain("zebra", "horse2zebra", "B", "zebras, trainB"),
        Domain("apple", "apple2orange", "A", "apples, trainA"),
        Domain("orange", "apple2orange", "B", "oranges, trainB"),
        Domain("summer", "summer2winter_yosemite", "A", "Yosemite in summer, trainA"),
        Domain("winter", "summer2winter_yosemite", "B", "Yosemite in winter, trainB"),
        Domain("monet", "monet2photo", "A", "Monet paintings, trainA"),
        Domain("photo", "monet2photo", "B", "landscape photos, trainB"),
        Domain("cezanne", "cezanne2photo", "A", "Cezanne paintings, trainA"),
        Domain("ukiyoe", "ukiyoe2photo", "A", "ukiyo-e prints, trainA"),
        Domain("vangogh", "vangogh2photo", "A", "Van Gogh paintings, trainA"),
        Domain("iphone-flower", "iphone2dslr_flower", "A", "flowers shot on iPhones, trainA"),
        Domain("dslr-flower", "iphone2dslr_flower", "B", "flowers shot on DSLRs, trainB"),
    )
}


# -- where things live ---------------------------------------------------------------------------


def data_root(override: str | os.PathLike | None = None) -> Path:
    """`override` (--data-root), else $TRANSLATE_DATA, else <translate cache>/datasets."""
    if override:
        return Path(override).expanduser()
    return cache_subdir("TRANSLATE_DATA", "datasets")


def get(name: str) -> DataSet:
    """The data set called `name`, or holding the domain `name`; else a DataError with close matches."""
    if name in DATASETS:
        return DATASETS[name]
    if name in DOMAINS:
        return DATASETS[DOMAINS[name].dataset]
    names = [*DATASETS, *DOMAINS]
    raise DataError(f"unknown data set '{name}'{_did_you_mean(name, names)}; see `translate datasets list`")


def folder(dataset: DataSet, root: Path) -> Path:
    """Where the unpacked data set lives: <root>/<name> (so "cyclegan/maps" nests)."""
    return root.joinpath(*dataset.name.split("/"))


def archive_path(dataset: DataSet, root: Path) -> Path:
    """Where the downloaded archive is kept until unpacked; the `.part` file sits beside it."""
    return folder(dataset, root).parent / dataset.archive_name


def part_path(dataset: DataSet, root: Path) -> Path:
    return archive_path(dataset, root).with_name(dataset.archive_name + ".part")


def is_downloaded(dataset: DataSet, root: Path) -> bool:
    """Unpacked: every split folder is there (ours are renamed into place complete, all at once)."""
    base = folder(dataset, root)
    return all((base / split).is_dir() for split in dataset.splits)


def is_prepared(dataset: DataSet, root: Path) -> bool:
    """Ready for use as domains: unpaired sets are already split; paired sets need their halves."""
    if not is_downloaded(dataset, root):
        return False
    return dataset.kind == UNPAIRED or (folder(dataset, root) / _HALVES / _MARKER).is_file()


def status(dataset: DataSet, root: Path) -> str:
    """One word or so for `translate datasets list`."""
    if is_prepared(dataset, root):
        return "ready"
    if is_downloaded(dataset, root):
        return "downloaded (not prepared)"
    if archive_path(dataset, root).is_file():
        return "archive here (not unpacked)"
    part = part_path(dataset, root)
    if part.is_file():
        return f"partial ({megabytes(part.stat().st_size)})"
    return "-"


# -- name resolution (used by resolve_domain) ----------------------------------------------------


def resolve(value: str, root: Path | None = None) -> Path | None:
    """The folder a catalog name stands for, or None when `value` is not a catalog name.

    Accepted: a domain ("shoes", "horse"; ":val" / ":test" picks another split), a paired data
    set ("edges2shoes" = its side-by-side train/ folder; "edges2shoes:val"), or an unpaired data
    set with its split folder ("cyclegan/maps:trainA"). A paired set is prepared (split into
    halves, once) on first use. Raises DataError when the name is known but its files are not here.
    """
    name, _, split = value.partition(":")
    root = root if root is not None else data_root()
    if name in DOMAINS:
        domain = DOMAINS[name]
        dataset = DATASETS[domain.dataset]
        split = split or "train"
        allowed = ("train", "val") if dataset.kind == PAIRED else ("train", "test")
        _check_split(value, split, allowed)
        require(dataset, root, f"domain '{name}' ({domain.about})")
        if dataset.kind == UNPAIRED:
            return folder(dataset, root) / f"{split}{domain.side}"
        return prepare(dataset, root) / split / domain.side
    if name in DATASETS:
        dataset = DATASETS[name]
        if dataset.kind == UNPAIRED and not split:
            sides = [d.name for d in DOMAINS.values() if d.dataset == name]
            hint = f"--a {sides[0]} --b {sides[1]}" if len(sides) == 2 else f"{name}:trainA and {name}:trainB"
            raise DataError(f"'{name}' holds two unpaired domains, not one: use {hint}")
        split = split or "train"
        _check_split(value, split, dataset.splits)
        require(dataset, root)
        return folder(dataset, root) / split
    return None


def require(dataset: DataSet, root: Path, what: str | None = None) -> None:
    """Raise the one-line 'not downloaded' error: what is missing, the URL, where to put it by hand.

    `what` names what needed the data set (e.g. a domain), when that is not the data set itself.
    """
    if is_downloaded(dataset, root):
        return
    base, archive = folder(dataset, root), archive_path(dataset, root)
    splits = ", ".join(f"{s}/" for s in dataset.splits)
    missing = f"{what} needs data set '{dataset.name}', which" if what else f"data set '{dataset.name}'"
    raise DataError(
        f"{missing} is not downloaded: run `translate datasets download {dataset.name}` to fetch {dataset.url} "
        f"(~{dataset.size}), or put {archive.name} into {archive.parent}/ by hand and run that command offline, "
        f"or unpack it yourself so that {base}/ holds {splits}"
    )


def close_names(value: str, extra: Iterator[str] | tuple[str, ...] = ()) -> list[str]:
    """Catalog names (and `extra` names) that look like `value`, best first."""
    return difflib.get_close_matches(value, [*DOMAINS, *DATASETS, *extra], n=3, cutoff=0.6)


def _did_you_mean(value: str, names) -> str:
    found = difflib.get_close_matches(value, list(names), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(found)}?)" if found else ""


def _check_split(value: str, split: str, allowed: tuple[str, ...]) -> None:
    if split not in allowed:
        raise DataError(f"'{value}': no split '{split}' (choose {', '.join(allowed)})")


# -- download --------------------------------------------------------------------------------------


def download(dataset: DataSet, root: Path, progress: Progress | None = None, keep_archive: bool = False) -> str | None:
    """Fetch (resuming a `.part`), verify and unpack `dataset` into `folder(dataset, root)`.

    Returns the archive's sha256, or None when the set was already here. An archive already in
    place (put there by hand) is used without touching the network.
    """
    if is_downloaded(dataset, root):
        return None
    archive = archive_path(dataset, root)
    digest = obtain(dataset.url, archive, dataset.sha256, "the catalog's checksum", progress)
    unpack(dataset, archive, root)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return digest


# -- unpacking -------------------------------------------------------------------------------------


def unpack(dataset: DataSet, archive: Path, root: Path) -> Path:
    """Unpack `archive` into the data set's folder, all at once or not at all.

    Members are checked before anything is written: absolute paths, `..`, links and devices are
    refused. The archive's single top folder (e.g. "edges2shoes/") is dropped, and the expected
    split folders must be there. A damaged archive is deleted (it cannot be resumed).
    """
    target = folder(dataset, root)
    if target.exists() and any(target.iterdir()):
        raise DataError(f"{target} exists but is not a complete copy of {dataset.name}: remove it and retry")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        try:
            extract_archive(archive, staging)
        except DataError as exc:  # an unsafe member: the archive is not to be trusted
            archive.unlink(missing_ok=True)
            raise DataError(f"{exc}; {archive.name} was deleted") from None
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
            archive.unlink(missing_ok=True)
            if dataset.sha256 is None:  # its digest was trusted on first use: not a file to trust
                forget_digest(dataset.url)
            raise DataError(
                f"{archive.name} is damaged ({reason(exc)}); it was deleted: "
                f"run `translate datasets download {dataset.name}` again"
            ) from None
        content = _content_root(staging, dataset.splits)
        missing = [s for s in dataset.splits if not (content / s).is_dir()]
        if missing:
            raise DataError(f"{archive.name} does not hold the expected folders {', '.join(missing)} of {dataset.name}")
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(content, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _content_root(staging: Path, splits: tuple[str, ...]) -> Path:
    """The folder holding the splits: `staging` itself or the archive's single top folder."""
    if any((staging / s).is_dir() for s in splits):
        return staging
    entries = [p for p in staging.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else staging


# -- preparation -----------------------------------------------------------------------------------


def prepare(dataset: DataSet, root: Path) -> Path:
    """Split a paired set's side-by-side images into A (left) and B (right) halves, once.

    Returns the folder holding <split>/A/ and <split>/B/ (lossless PNG, so the halves are the
    decoded pixels exactly; the cutting is `translate datasets split`'s). Written into a temporary
    folder and renamed into place with a completion marker, so an interrupted preparation starts
    over instead of leaving half a domain. Unpaired sets are already split: their folder is returned.
    """
    require(dataset, root)
    base = folder(dataset, root)
    if dataset.kind == UNPAIRED:
        return base
    halves = base / _HALVES
    if (halves / _MARKER).is_file():
        return halves
    from translate.data.pairs import split_folder  # lazy: numpy, PIL, torch; this module is standard library only

    with atomic_dir(halves) as tmp:
        for split in dataset.splits:
            split_folder(base / split, tmp / split)
        (tmp / _MARKER).write_text("complete\n")
    return halves
