"""Export a bare generator to ONNX or a `torch.export` program (.pt2), and check the file on the spot.

The exported graph is the network alone: NCHW float32 in [-1, 1] in, the same out (an SR model's
output is `scale` times larger and not clamped). Batch, height and width stay dynamic where the
architecture allows, with the constraint each generator really has (`InputShape`). The network is
exported in eval mode, the only deterministic graph, even for pix2pix models that were published to
run in train mode.

An export that traced fine can still be wrong (a size specialised away, an op the other runtime
computes differently), so `export_model` runs the written file in its own runtime (onnxruntime,
or `torch.export.load`) on an input of another size and batch than the traced one, and compares
with PyTorch before the file replaces anything.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.fx.experimental._config as fx_config
from torch import nn
from torch.export import Dim

from translate.atomic import atomic_path
from translate.errors import ConfigError, TranslateError
from translate.nets.registry import architecture

Format = Literal["onnx", "pt2"]
FORMATS: tuple[str, ...] = ("onnx", "pt2")
DEFAULT_OPSET = 18  # onnxruntime >= 1.14, TensorRT 8.6+ and OpenVINO all read it
DEFAULT_TOLERANCE = 1e-3
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
INPUT_NAME, OUTPUT_NAME = "input", "output"


class ExportCheckError(TranslateError):
    """The exported file computes something else than the PyTorch network (nothing was written)."""


@dataclass(frozen=True)
class InputShape:
    """The image sides an exported generator accepts, and how large its output is."""

    multiple: int  # sides must be multiples of it (1: any side)
    min_side: int
    min_example: int = 0  # smallest side torch.export can trace with (larger than min_side for U-Nets)
    fixed: int | None = None  # the one side the network takes (DiscoGAN)
    scale: int = 1  # output side / input side (super-resolution)

    def describe(self) -> str:
        if self.fixed:
            return f"H = W = {self.fixed} (fixed)"
        if self.multiple == 1:
            return f"H and W any size from {self.min_side}"
        return f"H and W multiples of {self.multiple} from {self.min_side}"

    def output(self, channels: int) -> str:
        if self.scale == 1:
            return f"N x {channels} x H x W in [-1, 1]"
        return f"N x {channels} x {self.scale}H x {self.scale}W, about [-1, 1] (not clamped: clamp it)"

    def default_example(self) -> int:
        if self.fixed:
            return self.fixed
        return max(2 * self.multiple, self.min_example, self.min_side, 32 if self.multiple == 1 else 64)

    def validate(self, size: int) -> None:
        """A traced size the rule cannot hold fails here, not inside the exporter."""
        ok = size == self.fixed if self.fixed else size >= self.min_side and size % self.multiple == 0
        if not ok:
            raise ConfigError(f"--size {size} does not fit this generator: it takes {self.describe()}")
        if size < self.min_example:
            raise ConfigError(
                f"--size {size} is too small to trace this generator: use {self.min_example} or more"
                f" (the exported file still takes {self.describe()})"
            )

    def check_size(self, example: int) -> tuple[int, int]:
        """(H, W) other than the traced size (and unlike each other), so a size fixed by mistake shows."""
        if self.fixed:
            return self.fixed, self.fixed
        m = self.multiple
        width = example - m if example - m >= self.min_side else example + 2 * m
        return example + m, width


def _size_oblivious_available() -> bool:
    return hasattr(fx_config, "backed_size_oblivious")


@contextlib.contextmanager
def _size_oblivious() -> Iterator[None]:
    """Let a side of 1 stay symbolic: a U-Net at exactly 2**depth px has a 1x1 bottleneck, which
    torch.export otherwise specialises away (and then rejects the model's own training size)."""
    if not _size_oblivious_available():
        yield
        return

    with fx_config.patch(backed_size_oblivious=True):
        yield


def input_shape(spec: dict[str, Any]) -> InputShape:
    """What the generator described by `spec` (a model's config.json) accepts: its registry entry's size
    rule, with what torch.export adds. A dynamic side of 1 is specialised, so dynamic sides start at 2, and
    the example is traced where the bottleneck (side / multiple) is 2 or more; the smallest sides whose
    bottleneck is 1x1 (a U-Net at exactly 2**depth) stay dynamic only with size-oblivious tracing."""
    generator = spec.get("generator") or {}
    name = generator.get("name")
    try:
        entry = architecture(name)
    except ConfigError:
        raise ConfigError(f"cannot export generator {name!r}: its input sizes are not known") from None
    rule = entry.size
    if rule.fixed:
        size = int(spec.get("fixed_size") or entry.fixed_size(generator))
        return InputShape(multiple=size, min_side=size, fixed=size)
    traced = 2 * rule.multiple
    min_side = rule.min_side if _size_oblivious_available() else max(rule.min_side, traced)
    return InputShape(rule.multiple, max(2, min_side), min_example=traced, scale=entry.scale(generator))


def _dynamic_shapes(shape: InputShape) -> tuple[dict[int, Any]]:
    dims: dict[int, Any] = {0: Dim("batch", min=1)}
    if shape.fixed:
        return (dims,)
    if shape.multiple == 1:
        dims |= {2: Dim("height", min=shape.min_side), 3: Dim("width", min=shape.min_side)}
    else:
        low = shape.min_side // shape.multiple
        dims |= {2: shape.multiple * Dim("h", min=low), 3: shape.multiple * Dim("w", min=low)}
    return (dims,)


@dataclass
class ExportReport:
    """What was written, what it accepts, and how closely it reproduces PyTorch."""

    path: Path
    format: str
    generator: str
    shape: InputShape
    in_channels: int
    out_channels: int
    example_shape: tuple[int, ...]
    check_shape: tuple[int, ...]
    max_abs_diff: float
    tolerance: float
    opset: int | None = None
    train_mode_model: bool = False

    def summary(self) -> str:
        kind = f"ONNX opset {self.opset}" if self.format == "onnx" else "torch.export program"
        runtime = "onnxruntime" if self.format == "onnx" else "torch.export.load"
        check = " x ".join(map(str, self.check_shape))
        lines = [
            f"Exported the {self.generator} generator to {self.path} ({kind}, eval mode)",
            f"Input:  {INPUT_NAME!r} float32 N x {self.in_channels} x H x W in [-1, 1]; N any, {self.shape.describe()}",
            f"Output: {OUTPUT_NAME!r} float32 {self.shape.output(self.out_channels)}",
            f"Check:  {runtime} vs PyTorch on {check}: max abs difference {self.max_abs_diff:.2e}"
            f" (tolerance {self.tolerance:.0e})",
        ]
        if self.train_mode_model:
            lines.append(
                "Note:   this model is meant to run in train mode (dropout on, per-image batch statistics, as the"
                " reference pix2pix test.py); the export is the deterministic eval-mode network."
            )
        return "\n".join(lines)


def require_onnx() -> None:
    """ONNX export needs optional packages; say which, in one line."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"ONNX export needs {', '.join(missing)}: pip install 'translate-gan[onnx]' (or use --format pt2)"
        )


def export_model(
    net: nn.Module,
    spec: dict[str, Any],
    out: Path,
    fmt: Format,
    example_size: int | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
) -> ExportReport:
    """Export `net` (described by `spec`) to `out` as `fmt`, run the file, and compare it with PyTorch.

    The file replaces `out` only if the exported program reproduces the network on a check input
    (another size and batch than the traced one) within `tolerance`; otherwise ExportCheckError.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        require_onnx()
    shape = input_shape(spec)
    example = example_size or shape.default_example()
    shape.validate(example)
    in_channels = int(spec["generator"].get("in_channels", 3))

    net = copy.deepcopy(net).cpu().eval()  # the caller's network keeps its mode and device
    gen = torch.Generator().manual_seed(seed)
    example_input = torch.rand(1, in_channels, example, example, generator=gen) * 2 - 1
    height, width = shape.check_size(example)
    check_input = torch.rand(2, in_channels, height, width, generator=gen) * 2 - 1
    with torch.inference_mode():
        expected = net(check_input)

    out = Path(out)
    with atomic_path(out) as tmp:
        if fmt == "onnx":
            _write_onnx(net, example_input, shape, tmp, opset)
            got = _run_onnx(tmp, check_input)
        else:
            _write_pt2(net, example_input, shape, tmp)
            got = _run_pt2(tmp, check_input)
        if got.shape != expected.shape:
            raise ExportCheckError(
                f"exported {fmt} gives shape {tuple(got.shape)} for input {tuple(check_input.shape)},"
                f" PyTorch {tuple(expected.shape)}; nothing written"
            )
        diff = float((got - expected).abs().max())
        if not diff <= tolerance:  # also catches NaN
            raise ExportCheckError(
                f"exported {fmt} differs from PyTorch by up to {diff:.2e} (tolerance {tolerance:.0e}); nothing written"
            )
    return ExportReport(
        path=out,
        format=fmt,
        generator=str(spec["generator"]["name"]),
        shape=shape,
        in_channels=in_channels,
        out_channels=int(expected.shape[1]),
        example_shape=tuple(example_input.shape),
        check_shape=tuple(check_input.shape),
        max_abs_diff=diff,
        tolerance=tolerance,
        opset=opset if fmt == "onnx" else None,
        train_mode_model=spec.get("eval_mode") is False,
    )


def _write_pt2(net: nn.Module, example: torch.Tensor, shape: InputShape, path: Path) -> None:
    with _size_oblivious():
        program = torch.export.export(net, (example,), dynamic_shapes=_dynamic_shapes(shape))
    torch.export.save(program, path)


def _run_pt2(path: Path, x: torch.Tensor) -> torch.Tensor:
    module = torch.export.load(path).module()
    with torch.inference_mode():
        return module(x)


def _write_onnx(net: nn.Module, example: torch.Tensor, shape: InputShape, path: Path, opset: int) -> None:
    with _size_oblivious(), contextlib.redirect_stdout(None):  # the exporter narrates its steps on stdout
        program = torch.onnx.export(
            net,
            (example,),
            dynamo=True,
            dynamic_shapes=_dynamic_shapes(shape),
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            verbose=False,
        )
    program.save(path, external_data=False)  # one self-contained file (generators are far below 2 GB)


def _run_onnx(path: Path, x: torch.Tensor) -> torch.Tensor:
    import onnxruntime  # lazy: optional extra 'onnx'

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (result,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
    return torch.from_numpy(result)
