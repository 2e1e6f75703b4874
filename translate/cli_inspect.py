"""`translate inspect FILE`: what a generator file holds, as `translate.zoo.load_model` sees it.

Useful before converting with a `.pth` found online: it says which architecture the keys and
shapes match (blocks or depth, ngf, norm, dropout, CUT's anti-aliasing, channels), how many
parameters it has and which image sides it takes, or, for a super-resolution file, its scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from translate.cli_options import DIRECTION, Direction, direction_value, user_errors
from translate.errors import ConfigError


def inspect(
    file: Path = typer.Argument(
        ..., help="A .pth/.pt/.safetensors file, a model folder, a run folder or a pretrained name."
    ),
    direction: Direction | None = DIRECTION,
) -> None:
    """Show the architecture detected in a generator file (or stored with a model): no need to know it beforehand."""
    with user_errors():
        from translate.zoo import load_model

        net, spec = load_model(file, direction_value(direction))
        parameters = sum(p.numel() for p in net.parameters())
        width = max(len(label) for label, _ in describe(spec, parameters))
        for label, value in describe(spec, parameters):
            typer.echo(f"{label:<{width}}  {value}")


def describe(spec: dict[str, Any], parameters: int) -> list[tuple[str, str]]:
    """(label, value) lines for a model's spec, as `load_model` returns it."""
    generator = spec.get("generator", {})
    name = str(generator.get("name", "?"))
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
    lines += [("architecture", _architecture(name)), ("method", f"{spec.get('method', '?')}{guessed}")]
    if "scale" in spec:
        lines.append(("scale", f"x{spec['scale']}"))
    lines.append(("channels", f"{generator.get('in_channels', 3)} -> {generator.get('out_channels', 3)}"))
    for key in ("ngf", "norm"):
        if key in generator:
            lines.append((key, str(generator[key])))
    if "dropout" in generator:
        unseen = name.startswith("unet") and spec.get("detected")
        note = " (not visible in the weights: the reference default for this norm)" if unseen else ""
        lines.append(("dropout", ("yes" if generator["dropout"] else "no") + note))
    if name.startswith("resnet"):
        lines.append(("antialias", _antialias(generator)))
    extra = {k: v for k, v in generator.items() if k not in ("name", "in_channels", "out_channels", "ngf", "norm")}
    extra = {k: v for k, v in extra.items() if k not in ("dropout", "antialias", "antialias_up")}
    lines += [(key, str(value)) for key, value in extra.items()]
    lines.append(("parameters", f"{parameters:,}"))
    if spec.get("fixed_size"):  # DiscoGAN: one size only
        lines.append(("size", f"{spec['fixed_size']} x {spec['fixed_size']} (images are resized in and back out)"))
    else:
        lines.append(("size multiple", _multiple(_size_multiple(name))))
    if spec.get("size"):
        lines.append(("trained at", f"{spec['size']} px (convert with --size {spec['size']} for photos much larger)"))
    if spec.get("eval_mode") is False:
        lines.append(("runs in", "train mode, as the reference test.py (dropout on, per-image batch statistics)"))
    return lines


def _architecture(name: str) -> str:
    from translate.nets.sizes import _spec

    if name.startswith(("resnet", "unet")):
        kind, depth = _spec(name)
        if kind == "resnet":
            return f"ResNet generator, {depth} residual blocks ({name})"
        return f"U-Net generator, {depth} downsamplings ({name})"
    return name


def _antialias(generator: dict[str, Any]) -> str:
    down = bool(generator.get("antialias", False))
    up = generator.get("antialias_up")
    up = down if up is None else bool(up)
    if down and up:
        return "yes, blurred down- and upsampling (CUT)"
    if down or up:
        return f"{'downsampling' if down else 'upsampling'} only (CUT)"
    return "no"


def _size_multiple(name: str) -> int:
    from translate.nets.sizes import size_multiple

    try:
        return size_multiple(name)
    except ConfigError:  # a generator sizes.py does not list
        return 1


def _multiple(m: int) -> str:
    return "any size" if m <= 1 else f"{m} (other sides are padded up to it and cropped back)"
