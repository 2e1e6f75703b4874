"""Pretrained generators published with the reference CycleGAN/pix2pix code, by name.

`translate weights download horse2zebra` fetches the reference `.pth` (resumable, checked against
its sha256 where one is pinned), loads it with `torch.load(weights_only=True)` (nothing is
unpickled), and stores it as an ordinary exported model (`model.safetensors` + `config.json`) in
`<weights root>/horse2zebra/`. From then on the name works wherever a model folder does:
`translate convert --model horse2zebra ...`, `translate train cyclegan --init horse2zebra ...`.

The upstream hosts publish no checksums and this project was written without network access, so
no entry is pinned yet: `download` prints the digest it got so that one can be, after checking.

torch comes in only where a model folder is looked for or written (`is_installed`, `install`: their
imports are marked `# lazy`), so importing this module and checking a name stay torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from translate.cache import cache_subdir
from translate.data.catalog import _did_you_mean
from translate.data.download import Progress, obtain, reason
from translate.errors import ConfigError, DataError

CYCLEGAN_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{}.pth"
PIX2PIX_URL = "https://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{}.pth"

# The reference code's defaults for these models (test.py: --netG resnet_9blocks / unet_256).
_RGB = {"in_channels": 3, "out_channels": 3, "ngf": 64}
CYCLEGAN_GENERATOR = {"name": "resnet9", **_RGB, "norm": "instance", "dropout": False}
PIX2PIX_GENERATOR = {"name": "unet256", **_RGB, "norm": "batch", "dropout": True}


@dataclass(frozen=True)
class Pretrained:
    name: str
    method: str  # cyclegan | pix2pix
    url: str
    about: str
    generator: dict[str, Any] = field(default_factory=dict)  # build_generator's arguments
    size_mb: int = 0  # approximate download size
    sha256: str | None = None

    def spec(self) -> dict[str, Any]:
        """The config.json of the stored model: what `translate convert` needs to run it as the reference does."""
        spec = {"method": self.method, "generator": self.generator, "size": 256, "direction": "a2b"}
        spec |= {"pretrained": self.name, "source": self.url}
        if self.method == "pix2pix":
            spec["eval_mode"] = False  # the reference test.py keeps dropout and batch statistics on
        return spec


def _cyclegan(name: str, about: str) -> Pretrained:
    return Pretrained(name, "cyclegan", CYCLEGAN_URL.format(name), about, CYCLEGAN_GENERATOR, 45)


def _pix2pix(name: str, about: str) -> Pretrained:
    return Pretrained(f"pix2pix/{name}", "pix2pix", PIX2PIX_URL.format(name), about, PIX2PIX_GENERATOR, 218)


MANIFEST: dict[str, Pretrained] = {
    entry.name: entry
    for entry in (
        _cyclegan("horse2zebra", "horses into zebras"),
        _cyclegan("zebra2horse", "zebras into horses"),
        _cyclegan("apple2orange", "apples into oranges"),
        _cyclegan("orange2apple", "oranges into apples"),
        _cyclegan("summer2winter_yosemite", "Yosemite in summer into winter"),
        _cyclegan("winter2summer_yosemite", "Yosemite in winter into summer"),
        _cyclegan("monet2photo", "Monet paintings into photos"),
        _cyclegan("style_monet", "photos into Monet paintings"),
        _cyclegan("style_cezanne", "photos into Cezanne paintings"),
        _cyclegan("style_ukiyoe", "photos into ukiyo-e prints"),
        _cyclegan("style_vangogh", "photos into Van Gogh paintings"),
        _cyclegan("sat2map", "aerial photos into map tiles"),
        _cyclegan("map2sat", "map tiles into aerial photos"),
        _cyclegan("cityscapes_photo2label", "street scenes into label maps"),
        _cyclegan("cityscapes_label2photo", "label maps into street scenes"),
        _cyclegan("facades_photo2label", "facade photos into label maps"),
        _cyclegan("facades_label2photo", "label maps into facade photos"),
        _cyclegan("iphone2dslr_flower", "iPhone flower photos into DSLR-like ones (shallow depth of field)"),
        _pix2pix("edges2shoes", "shoe sketches into shoe photos"),
        _pix2pix("sat2map", "aerial photos into map tiles"),
        _pix2pix("map2sat", "map tiles into aerial photos"),
        _pix2pix("facades_label2photo", "label maps into facade photos"),
        _pix2pix("day2night", "scenes by day into night"),
    )
}


def weights_root() -> Path:
    """$TRANSLATE_WEIGHTS, else <translate cache>/weights."""
    return cache_subdir("TRANSLATE_WEIGHTS", "weights")


def get(name: str) -> Pretrained:
    if name in MANIFEST:
        return MANIFEST[name]
    hint = _did_you_mean(name, list(MANIFEST))
    raise ConfigError(f"unknown pretrained model '{name}'{hint}; see `translate weights list`")


def folder(entry: Pretrained, root: Path) -> Path:
    return root.joinpath(*entry.name.split("/"))


def download_path(entry: Pretrained, root: Path) -> Path:
    """Where the reference `.pth` is kept until converted (put it there by hand to work offline)."""
    return folder(entry, root).with_suffix(".pth")


def is_installed(entry: Pretrained, root: Path) -> bool:
    from translate.model_folder import is_model_folder  # lazy: torch (module docstring)

    return is_model_folder(folder(entry, root))


def resolve(name: str, root: Path | None = None) -> Path | None:
    """The model folder of an installed pretrained `name`; None if `name` is not in the manifest;
    a one-line error saying how to get it if it is known but not downloaded."""
    if name not in MANIFEST:
        return None
    entry, root = MANIFEST[name], root or weights_root()
    if not is_installed(entry, root):
        pth = download_path(entry, root)
        raise ConfigError(
            f"pretrained model '{name}' is not downloaded: run `translate weights download {name}` to fetch "
            f"{entry.url} (~{entry.size_mb} MB), or put {pth.name} into {pth.parent}/ by hand and run that "
            "command offline"
        )
    return folder(entry, root)


def install(entry: Pretrained, root: Path, progress: Progress | None = None) -> str | None:
    """Fetch (resuming), verify and convert `entry`; returns the `.pth`'s sha256, or None if already installed."""
    from translate.model_folder import save_model  # lazy: torch (module docstring)
    from translate.nets.builders import build_generator  # lazy
    from translate.nets.detect import clean_state_dict, read_state_dict  # lazy
    from translate.nets.norms import load_state_dict_compat  # lazy

    if is_installed(entry, root):
        return None
    pth = download_path(entry, root)
    digest = obtain(entry.url, pth, entry.sha256, "the manifest", progress)
    try:
        net = build_generator(**entry.generator)
        load_state_dict_compat(net, clean_state_dict(read_state_dict(pth)))  # weights_only: nothing unpickled
    except Exception as exc:  # an unpickling refusal, a truncated file, another architecture
        raise DataError(f"{pth} is not a {entry.generator['name']} generator state dict: {reason(exc)}") from None
    save_model(net, entry.spec(), folder(entry, root))
    pth.unlink()
    return digest
