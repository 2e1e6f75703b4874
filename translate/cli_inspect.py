"""`translate inspect FILE`: what a generator file holds, as `translate.zoo.load_generator` sees it.

Useful before converting with a `.pth` found online: it says which architecture the keys and
shapes match (blocks or depth, ngf, norm, dropout, CUT's anti-aliasing, channels), how many
parameters it has and which image sides it takes, or, for a super-resolution file, its scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from translate.cli_options import DIRECTION, Direction, direction_value, user_errors
from translate.nets.registry import architecture


def inspect(
    file: Path = typer.Argument(
        ..., help="A .pth/.pt/.safetensors file, a model folder, a run folder or a pretrained name."
    ),
    direction: Direction | None = DIRECTION,
) -> None:
    """Show the architecture detected in a generator file (or stored with a model): no need to know it beforehand."""
    with user_errors():
        from translate.zoo import load_generator  # lazy: CLI start-up (torch)

        net, spec = load_generator(file, direction_value(direction))
        parameters = sum(p.numel() for p in net.parameters())
        width = max(len(label) for label, _ in describe(spec, parameters))
        for label, value in describe(spec, parameters):
            typer.echo(f"{label:<{width}}  {value}")


def describe(spec: dict[str, Any], parameters: int) -> list[tuple[str, str]]:
    """(label, value) lines for a model's spec, as `load_generator` returns it."""
    generator = spec.get("generator", {})
    guessed = " (guessed from the architecture)" if spec.get("detected") else ""
    lines = [("source", str(spec.get("source") or spec.get("pretrained") or "-"))]
    if spec.get("method") == "external-sr":
        lines += [
            ("architecture", f"{spec['architecture']} (via spandrel; {', '.join(spec.get('tags', [])) or 'no tags'})"),
            ("method", f"external super-resolution ({spec.get('purpose', 'SR')})"),
            ("scale", f"x{spec['scale']}"),
            ("channels", "3 -> 3"),
            ("parameters", f"{parameters:,}"),
            ("size multiple", _multiple(int(spec.get("size_multiple", 1)))),
        ]
        return lines
    entry = architecture(generator.get("name"))  # load_generator checked the name
    lines += [("architecture", f"{entry.describe()} ({entry.name})"), ("method", f"{spec.get('method', '?')}{guessed}")]
    if "scale" in spec:
        lines.append(("scale", f"x{spec['scale']}"))
    lines.append(("channels", f"{generator.get('in_channels', 3)} -> {generator.get('out_channels', 3)}"))
    shown = {"name", "in_channels", "out_channels", "antialias", "antialias_up"}
    for key, value in generator.items():
        if key in shown:
            continue
        value = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        if key in entry.unseen and spec.get("detected"):
            value += f" (not visible in the weights: {entry.unseen[key]})"
        lines.append((key, value))
    if "antialias" in entry.settings():
        lines.append(("antialias", _antialias(generator)))
    lines.append(("parameters", f"{parameters:,}"))
    if spec.get("fixed_size"):  # DiscoGAN: one size only
        lines.append(("size", f"{spec['fixed_size']} x {spec['fixed_size']} (images are resized in and back out)"))
    else:
        lines.append(("size multiple", _multiple(entry.size.multiple)))
    if spec.get("size"):
        lines.append(("trained at", f"{spec['size']} px (convert with --size {spec['size']} for photos much larger)"))
    if spec.get("eval_mode") is False:
        lines.append(("runs in", "train mode, as the reference test.py (dropout on, per-image batch statistics)"))
    if spec.get("mapping"):
        mapping = spec["mapping"]
        lines.append(("layout", f"other key names, matched in order by shape and role ({len(mapping)} tensors):"))
        lines += [("", pair) for pair in mapping]
    return lines


def _antialias(generator: dict[str, Any]) -> str:
    down = bool(generator.get("antialias", False))
    up = generator.get("antialias_up")
    up = down if up is None else bool(up)
    if down and up:
        return "yes, blurred down- and upsampling (CUT)"
    if down or up:
        return f"{'downsampling' if down else 'upsampling'} only (CUT)"
    return "no"


def _multiple(m: int) -> str:
    return "any size" if m <= 1 else f"{m} (other sides are padded up to it and cropped back)"
