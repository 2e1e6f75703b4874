"""Generator names and the image sizes each accepts.

Kept free of torch so that the CLI can validate `--size` against `--generator` before it imports
anything heavy.
"""

from __future__ import annotations

from translate.errors import ConfigError

GENERATORS = ("resnet9", "resnet6", "unet256", "unet128")

# name -> (kind, depth): resnet depth is the number of residual blocks, unet depth the number of
# stride-2 stages (so inputs must be multiples of 2**depth).
_SPECS = {"resnet9": ("resnet", 9), "resnet6": ("resnet", 6), "unet256": ("unet", 8), "unet128": ("unet", 7)}
_SPECS["resnet4"] = ("resnet", 4)  # CUT's resnet_4blocks: not offered for training, but its files load


# DiscoGAN's encoder-decoder is trained at one of these sizes and converts at exactly that size
# (the converter resizes in and out); 32 is a side both its 64 and 128 variants map back to itself.
DISCOGAN_IMAGE_SIZES = (64, 128)
_FIXED_SIZE_MULTIPLES = {"discogan": 32, "srresnet": 1}  # SRResNet: any size (fully convolutional, no strides)


def _spec(name: str) -> tuple[str, int]:
    if name not in _SPECS:
        raise ConfigError(f"unknown generator {name!r}: choose one of {', '.join(GENERATORS)}")
    return _SPECS[name]


def size_multiple(generator_name: str) -> int:
    """Image sides the generator maps back to the same size: resnet 4, unet256 256, unet128 128."""
    if generator_name in _FIXED_SIZE_MULTIPLES:
        return _FIXED_SIZE_MULTIPLES[generator_name]
    kind, depth = _spec(generator_name)
    return 4 if kind == "resnet" else 2**depth


def check_image_size(generator_name: str, size: int) -> None:
    """Fail early with a hint, instead of a shape error deep inside a skip connection."""
    m = size_multiple(generator_name)
    if size <= 0 or size % m:
        hint = max(m, (size + m // 2) // m * m)
        raise ConfigError(
            f"--size {size} does not fit generator {generator_name}: it needs a multiple of {m} (try --size {hint})"
        )
