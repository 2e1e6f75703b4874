"""Built-in demo domains: drawn on first use, offline, identical on every machine.

`demo-day` holds procedurally drawn daytime landscapes; `demo-night` holds OTHER landscapes passed
through `day_to_night`, a fixed per-pixel colour mapping. The domains are unpaired, like real
CycleGAN data, yet the true translation is known exactly, so a model can be scored against it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from translate.cache import cache_dir
from translate.data.images import save_image
from translate.errors import DataError

DEMO_COUNT = 200
DEMO_SIZE = 128
BUILTIN_DOMAINS: tuple[str, ...] = ("demo-day", "demo-night")
_VERSION = "1"  # bump when the drawing or the mapping changes, so old caches are redrawn
_MARKER = ".complete"  # hidden, so find_images skips it

# Night: colours fade towards a blue-tinted brightness (blue is lit by red and green too, so the
# sun turns into a pale moon brighter than the sky); the gamma then sinks the mid tones (sky,
# grass) while highlights (moon, clouds, windows) stay bright. Invertible, so night -> day is learnable.
_NIGHT_MATRIX = np.array([[0.35, 0.30, 0.00], [0.20, 0.50, 0.05], [0.20, 0.40, 0.40]], dtype=np.float64)
_NIGHT_OFFSET = np.array([0.00, 0.00, 0.02], dtype=np.float64)
_NIGHT_GAMMA = 1.7


def day_to_night(rgb: np.ndarray) -> np.ndarray:
    """The true day -> night mapping: HxWx3 uint8 -> HxWx3 uint8, pixel by pixel."""
    x = np.asarray(rgb, dtype=np.float64) / 255.0
    y = np.clip(x @ _NIGHT_MATRIX.T + _NIGHT_OFFSET, 0.0, 1.0) ** _NIGHT_GAMMA
    return np.rint(y * 255.0).astype(np.uint8)


def make_domain_images(
    n: int, size: int, seed: int, mapping: Callable[[np.ndarray], np.ndarray] | None = None
) -> list[np.ndarray]:
    """n landscapes (HxWx3 uint8), scene i drawn from (seed, i); `mapping` applied to each if given.

    In memory and cache-free, for tests and quick experiments at any size (32x32 works).
    """
    scenes = [draw_scene(np.random.default_rng([seed, i]), size) for i in range(n)]
    return [mapping(s) for s in scenes] if mapping is not None else scenes


def draw_scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """One daytime landscape: sky gradient, sun, clouds, hills, houses and trees."""
    big = size * 2  # draw at twice the size and shrink: smooth edges without anti-aliased drawing
    horizon = int(big * rng.uniform(0.45, 0.7))
    top = np.array([rng.uniform(40, 110), rng.uniform(110, 170), rng.uniform(200, 255)])
    bottom = np.array([rng.uniform(170, 230), rng.uniform(200, 240), rng.uniform(230, 255)])
    t = np.linspace(0.0, 1.0, big)[:, None, None]
    sky = np.broadcast_to(top * (1 - t) + bottom * t, (big, big, 3))
    image = Image.fromarray(np.rint(sky).astype(np.uint8))
    draw = ImageDraw.Draw(image)

    r = big * rng.uniform(0.06, 0.11)
    cx, cy = big * rng.uniform(0.15, 0.85), horizon * rng.uniform(0.2, 0.7)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_colour(rng, (245, 255), (200, 240), (40, 110)))
    for _ in range(rng.integers(0, 4)):
        x, y, w = big * rng.uniform(-0.1, 0.9), horizon * rng.uniform(0.1, 0.6), big * rng.uniform(0.1, 0.25)
        shade = int(rng.uniform(235, 255))
        for dx, dy, k in ((0, 0, 1.0), (w * 0.35, -w * 0.15, 0.8), (w * 0.7, 0, 0.9)):
            h = w * 0.3 * k
            draw.ellipse((x + dx, y + dy - h, x + dx + w * 0.6 * k, y + dy + h), fill=(shade, shade, shade))

    for layer in range(rng.integers(1, 4)):  # far hills first, lighter; near hills darker
        centre, width = big * rng.uniform(-0.2, 1.2), big * rng.uniform(0.5, 1.2)
        height = horizon - big * rng.uniform(0.05, 0.2) + layer * big * 0.04
        fill = _colour(rng, (60, 120), (130, 190), (50, 100), darken=layer * 18)
        draw.ellipse((centre - width, height, centre + width, height + 2 * (big - height)), fill=fill)
    draw.rectangle((0, horizon, big, big), fill=_colour(rng, (70, 120), (140, 190), (50, 90)))

    things = [("house", x) for x in rng.uniform(0.05, 0.85, rng.integers(0, 4))]
    things += [("tree", x) for x in rng.uniform(0.0, 0.95, rng.integers(1, 5))]
    for kind, x in sorted(things, key=lambda thing: thing[1] * 7 % 1):  # mixed overlap order
        base = horizon + big * rng.uniform(0.0, 0.15)
        if kind == "house":
            _house(draw, rng, x * big, base, big * rng.uniform(0.12, 0.2))
        else:
            _tree(draw, rng, x * big, base, big * rng.uniform(0.12, 0.25))
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS))


def demo_domain(name: str) -> Path:
    """The folder of a built-in domain, drawn into the cache the first time (a second or two).

    Drawn into a hidden temporary folder and renamed into place when complete, so an interrupted
    run leaves nothing half-drawn; when another process finishes first, its folder is used.
    """
    if name not in BUILTIN_DOMAINS:
        raise DataError(f"unknown built-in domain '{name}' (built-ins: {', '.join(BUILTIN_DOMAINS)})")
    target = cache_dir() / "demo" / name
    if _is_current(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=target.parent))
    try:
        mapping = day_to_night if name == "demo-night" else None
        # Different seeds: the night scenes are not the day scenes, so the domains are truly unpaired.
        seed = 2 if name == "demo-night" else 1
        for i, pixels in enumerate(make_domain_images(DEMO_COUNT, DEMO_SIZE, seed, mapping)):
            save_image(pixels, tmp / f"{i:04d}.png")
        (tmp / _MARKER).write_text(_VERSION)
        _install(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _is_current(folder: Path) -> bool:
    marker = folder / _MARKER
    return marker.is_file() and marker.read_text().strip() == _VERSION


def _install(tmp: Path, target: Path) -> None:
    """Rename `tmp` onto `target`; an outdated `target` is moved aside first, a current one wins."""
    if target.exists() and not _is_current(target):
        graveyard = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        try:
            os.replace(target, graveyard / target.name)
        except OSError:
            pass  # another process moved it first
        finally:
            shutil.rmtree(graveyard, ignore_errors=True)
    try:
        os.rename(tmp, target)
    except OSError:
        if not _is_current(target):  # not a lost race: a real problem (permissions, disk)
            raise


def _colour(rng: np.random.Generator, red, green, blue, darken: float = 0) -> tuple[int, int, int]:
    return tuple(int(max(0, rng.uniform(*span) - darken)) for span in (red, green, blue))


def _house(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, base: float, w: float) -> None:
    h = w * rng.uniform(0.7, 1.0)
    draw.rectangle((x, base - h, x + w, base), fill=_colour(rng, (180, 250), (150, 230), (110, 200)))
    roof = _colour(rng, (150, 210), (40, 80), (30, 60))
    ridge = (x + w / 2, base - h - w * 0.55)
    draw.polygon([(x - w * 0.1, base - h), ridge, (x + w * 1.1, base - h)], fill=roof)
    door = _colour(rng, (90, 130), (50, 80), (30, 50))
    draw.rectangle((x + w * 0.4, base - h * 0.45, x + w * 0.6, base), fill=door)
    window = _colour(rng, (240, 255), (220, 250), (120, 180))
    for wx in (0.12, 0.68):
        draw.rectangle((x + w * wx, base - h * 0.8, x + w * (wx + 0.2), base - h * 0.55), fill=window)


def _tree(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, base: float, h: float) -> None:
    trunk = h * 0.08
    bark = _colour(rng, (90, 120), (55, 75), (30, 45))
    draw.rectangle((x - trunk, base - h * 0.5, x + trunk, base), fill=bark)
    crown = _colour(rng, (20, 70), (90, 150), (20, 60))
    r = h * rng.uniform(0.25, 0.35)
    if rng.random() < 0.5:  # round tree
        draw.ellipse((x - r, base - h * 0.5 - 1.6 * r, x + r, base - h * 0.5 + 0.3 * r), fill=crown)
    else:  # fir
        draw.polygon([(x - r, base - h * 0.4), (x, base - h * 1.1), (x + r, base - h * 0.4)], fill=crown)
