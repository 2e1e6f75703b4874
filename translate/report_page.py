"""`translate report RUN`: one self-contained HTML page that shows how a training run went.

Everything is embedded (images as base64 data URIs, plots as inline SVG drawn by matplotlib, a
little CSS), so the page can be mailed, archived beside the run or opened from a laptop with no
server and nothing fetched from the network. Each part of a run may be missing (a run that has
not logged, sampled or exported yet, no evaluation during training): the page then says so.

Importing this module loads no torch, numpy, PIL or matplotlib (tests/test_lazy_imports.py checks
it): each comes in where a part of the page needs it (torch only to run a model, matplotlib only for
plots), its imports marked `# lazy`.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from translate.atomic import write_text
from translate.choices import SR_METHODS
from translate.engine.visuals import ema
from translate.errors import ConfigError, DataError, TranslateError
from translate.run_folder import (
    RunFolder,
    find_models,
    latest_checkpoint,
    read_jsonl,
    read_losses,
    read_run_settings,
)

if TYPE_CHECKING:
    from PIL import Image

MAX_GRIDS = 12  # sample grids shown evenly spaced over a long run, plus the last one
MAX_GRID_SIDE = 1024  # px: bigger grids are downscaled before embedding
MAX_PNG_BYTES = 200_000  # an image whose PNG is larger is embedded as JPEG
MAX_PLOT_POINTS = 1000  # per curve: longer logs are thinned so the SVG stays small
SR_CROP = 192  # px: side of the HR centre crop shown for super-resolution models
LOWER_IS_BETTER = {"l1", "mse", "fid", "kid", "lpips"}  # a guess when metrics.jsonl does not say

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;padding:16px 24px;
color:#222;background:#fafafa}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}.sub{color:#666;margin:0 0 12px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f0f0f0;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.missing{background:#fff6d6;border:1px solid #e8d48a;padding:6px 10px;border-radius:4px;margin:6px 0}
.grids,.columns{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}figure{margin:0}figcaption{color:#555;font-size:12px}
figure img{max-width:100%;height:auto;border:1px solid #ddd;image-rendering:pixelated}svg{max-width:100%;height:auto}
.examples img{image-rendering:pixelated;display:block}.examples td{text-align:center;font-size:12px;color:#555}
code{background:#eee;padding:0 3px;border-radius:3px}.best{color:#b00;font-weight:600}
"""


# -- reading the run ------------------------------------------------------------------------------


@dataclass
class Evaluations:
    """metrics.jsonl: the evaluations made during training and which step scored best."""

    steps: list[int] = field(default_factory=list)
    values: list[dict[str, float]] = field(default_factory=list)
    deciding: str | None = None
    lower_is_better: bool = True
    best_step: int | None = None


@dataclass
class Run:
    root: Path
    settings: dict[str, Any] | None
    settings_error: str | None
    log: list[dict[str, Any]]
    losses: dict[str, tuple[list[float], list[float]]]
    evaluations: Evaluations
    grids: list[tuple[int, Path]]
    models: dict[str, Path]
    best_models: dict[str, Path]

    @property
    def method(self) -> str:
        return str((self.settings or {}).get("method") or _first_spec(self).get("method") or "unknown method")

    @property
    def last_step(self) -> int | None:
        steps = [int(r["step"]) for r in self.log] + [s for s, _ in self.grids] + self.evaluations.steps
        return max(steps) if steps else None


def read_evaluations(path: Path, best_model_step: int | None = None) -> Evaluations:
    """Parse metrics.jsonl; the best step is the exported best model's, else the best value's."""
    found = Evaluations()
    for record in read_jsonl(path):
        metrics = record.get("metrics")
        if not isinstance(metrics, dict):
            continue
        values = {}
        for name, value in metrics.items():
            try:
                values[str(name)] = float(value)
            except (TypeError, ValueError):
                continue
        found.steps.append(record["step"])
        found.values.append(values)
        if isinstance(record.get("best"), str):
            found.deciding = record["best"]
        if isinstance(record.get("lower_is_better"), bool):
            found.lower_is_better = record["lower_is_better"]
        elif found.deciding is not None:
            found.lower_is_better = found.deciding.lower() in LOWER_IS_BETTER
    found.best_step = best_model_step
    scored = [
        (v[found.deciding], s)
        for s, v in zip(found.steps, found.values, strict=True)
        if math.isfinite(v.get(found.deciding, math.nan))
    ]
    if found.best_step is None and scored:  # ties go to the earliest step
        sign = 1 if found.lower_is_better else -1
        found.best_step = min(scored, key=lambda vs: (sign * vs[0], vs[1]))[1]
    return found


def _spec(folder: Path) -> dict[str, Any]:
    try:
        spec = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return spec if isinstance(spec, dict) else {}


def _first_spec(run: Run) -> dict[str, Any]:
    for folder in [*run.models.values(), *run.best_models.values()]:
        return _spec(folder)
    return {}


def read_run(root: Path) -> Run:
    """Everything the page shows, read once; raises if `root` is no run folder at all."""
    if not root.is_dir():
        raise DataError(f"run folder {root} does not exist")
    folder = RunFolder(root)
    if not folder.is_run():
        raise ConfigError(f"{root} is not a run folder: it has no config.yaml, log.jsonl, samples/ or models/")
    settings, settings_error = read_run_settings(root, strict=False)
    models, best_models = find_models(folder.models)
    best_steps = [_spec(p).get("step") for p in best_models.values()]
    best_step = next((int(s) for s in best_steps if isinstance(s, int)), None)
    return Run(
        root=root,
        settings=settings,
        settings_error=settings_error,
        log=read_jsonl(folder.log),
        losses=read_losses(folder.log),
        evaluations=read_evaluations(folder.metrics, best_step),
        grids=folder.sample_grids(),
        models=models,
        best_models=best_models,
    )


def pick_grids(grids: list[tuple[int, Path]], limit: int = MAX_GRIDS) -> list[tuple[int, Path]]:
    """All grids, or `limit` evenly spaced from the first to the one before the last, plus the last."""
    if len(grids) <= limit + 1:
        return list(grids)
    chosen = sorted({round(i * (len(grids) - 2) / (limit - 1)) for i in range(limit)} | {len(grids) - 1})
    return [grids[i] for i in chosen]


# -- images and plots -----------------------------------------------------------------------------


def data_uri(image: Image.Image, max_side: int = MAX_GRID_SIDE) -> str:
    """`image` as a data URI: PNG, or JPEG when the PNG is large; downscaled to `max_side`."""
    from PIL import Image  # lazy

    image = image.convert("RGB")
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    kind = "png"
    if buffer.tell() > MAX_PNG_BYTES:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        kind = "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _thin(steps: list[float], values: list[float]) -> tuple[list[float], list[float]]:
    every = max(1, math.ceil(len(steps) / MAX_PLOT_POINTS))
    keep = list(range(0, len(steps), every))
    if keep[-1] != len(steps) - 1:
        keep.append(len(steps) - 1)  # the latest value always shows
    return [steps[i] for i in keep], [values[i] for i in keep]


def _svg(fig, prefix: str) -> str:
    """A matplotlib figure as an SVG element for inline HTML: no XML prologue, no namespaces, ids
    prefixed so that two plots on one page never share one."""
    import matplotlib  # lazy

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix}):
        fig.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text)
    text = text.replace("xlink:href=", "href=")
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    return text.replace("<svg", f'<svg class="plot" id="{prefix}" role="img"', 1)


def _figure(count: int):
    """A Figure (no pyplot state) with one small panel per curve, three to a row."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy
    from matplotlib.figure import Figure  # lazy

    cols = min(3, count)
    rows = math.ceil(count / cols)
    fig = Figure(figsize=(3.7 * cols, 2.6 * rows), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes


def _style(ax, title: str) -> None:
    from matplotlib.ticker import MaxNLocator  # lazy

    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.set_xlabel("step", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def metric_names(evaluations: Evaluations) -> list[str]:
    """The metrics evaluated, the one that decides the best step first."""
    return sorted({n for v in evaluations.values for n in v}, key=lambda n: (n != evaluations.deciding, n))


def loss_plot(losses: dict[str, tuple[list[float], list[float]]]) -> str:
    """Every loss against the step: raw values faint, a bias-corrected EMA on top."""
    fig, axes = _figure(len(losses))
    for i, (ax, (name, (steps, values))) in enumerate(zip(axes, sorted(losses.items()), strict=False)):
        color = f"C{i % 10}"
        smooth = ema(values)
        ax.plot(*_thin(steps, values), color=color, alpha=0.3, linewidth=0.8)
        ax.plot(*_thin(steps, smooth), color=color, linewidth=1.5, marker="o" if len(steps) == 1 else None)
        _style(ax, name)
    fig.tight_layout()
    return _svg(fig, "loss-plot")


def metric_plot(evaluations: Evaluations) -> str:
    """Every metric against the step, the best step marked in each panel."""
    names = metric_names(evaluations)
    fig, axes = _figure(len(names))
    for i, (ax, name) in enumerate(zip(axes, names, strict=False)):
        points = [(s, v[name]) for s, v in zip(evaluations.steps, evaluations.values, strict=True) if name in v]
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, color=f"C{i % 10}", linewidth=1.5, marker="o", markersize=3)
        if evaluations.best_step is not None:
            ax.axvline(evaluations.best_step, color="#b00", linestyle="--", linewidth=1)
            at_best = [v for s, v in points if s == evaluations.best_step]
            if at_best:
                ax.plot([evaluations.best_step], at_best, marker="*", markersize=12, color="#b00")
        lower = evaluations.lower_is_better if name == evaluations.deciding else name.lower() in LOWER_IS_BETTER
        decides = ", decides best" if name == evaluations.deciding else ""
        _style(ax, f"{name} ({'lower' if lower else 'higher'} is better{decides})")
    fig.tight_layout()
    return _svg(fig, "metric-plot")


# -- held-out examples ----------------------------------------------------------------------------


@dataclass
class Example:
    name: str
    input: Image.Image
    target: Image.Image | None = None


def _spread(items: list, count: int) -> list:
    """`count` items evenly spread over `items` (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[round(i * (len(items) - 1) / max(1, count - 1))] for i in range(count)]


def _square(image: Image.Image, size: int) -> Image.Image:
    """The centre square of `image`, resized to `size` (what training saw, without the random crop)."""
    from PIL import Image  # lazy

    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)


def _centre_crop(image: Image.Image, side: int, multiple: int) -> Image.Image:
    side = min(side, *image.size)
    side -= side % multiple
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def _keyed(root: Path) -> dict[str, Path]:
    from translate.data.folders import images_by_key  # lazy

    return images_by_key(root, unique=False)


def user_examples(images: Path, targets: Path | None, count: int) -> list[tuple[str, Path, Path | None]]:
    """(name, input, target or None) for `count` images of `images`, targets paired by relative name."""
    inputs = _keyed(images)
    if not inputs:
        raise DataError(f"--images {images} holds no images")
    wanted = _keyed(targets) if targets is not None else {}
    return [(key, path, wanted.get(key)) for key, path in _spread(sorted(inputs.items()), count)]


def training_examples(spec: dict[str, Any], settings: dict[str, Any], count: int) -> tuple[list[Example], str]:
    """A few images of the run's own training data, as (input, target) for the model `spec`."""
    from translate.data.domains import resolve_domain  # lazy
    from translate.data.images import load_image  # lazy

    method, direction = spec.get("method") or settings.get("method"), spec.get("direction") or "a2b"
    if method in SR_METHODS:
        source = settings.get("hr")
        if not source:
            return [], "config.yaml names no --hr data"
        scale = int(spec.get("scale") or settings.get("scale") or 4)
        return [
            _sr_example(path, load_image(path), scale) for path in _spread(_images(resolve_domain(str(source))), count)
        ], f"HR images of {source}, shrunk x{scale} (bicubic) for the input"
    if method == "pix2pix" and settings.get("data"):
        source = str(settings["data"])
        examples = [
            _split(path, load_image(path), direction) for path in _spread(_images(resolve_domain(source)), count)
        ]
        return examples, f"side-by-side pairs of {source}"
    if method == "pix2pix" and settings.get("a") and settings.get("b"):
        a, b = resolve_domain(str(settings["a"])), resolve_domain(str(settings["b"]))
        if direction == "b2a":
            a, b = b, a
        partners = _keyed(b)
        chosen = _spread([(k, p) for k, p in sorted(_keyed(a).items()) if k in partners], count)
        examples = [Example(k, load_image(p), load_image(partners[k])) for k, p in chosen]
        return examples, f"pairs of {settings['a']} and {settings['b']}"
    source = settings.get("b" if direction == "b2a" else "a")
    if not source:
        return [], f"config.yaml names no input data for the {direction} model"
    paths = _spread(_images(resolve_domain(str(source))), count)
    return [Example(p.stem, load_image(p)) for p in paths], f"images of {source} (no targets: the data are unpaired)"


def _images(root: Path) -> list[Path]:
    from translate.data.folders import find_images  # lazy

    return find_images(root)


def _split(path: Path, image: Image.Image, direction: str) -> Example:
    half = image.width // 2
    left, right = image.crop((0, 0, half, image.height)), image.crop((half, 0, 2 * half, image.height))
    return Example(path.stem, *((right, left) if direction == "b2a" else (left, right)))


def _sr_example(path: Path, hr: Image.Image, scale: int) -> Example:
    from PIL import Image  # lazy

    hr = _centre_crop(hr, SR_CROP, scale)
    lr = hr.resize((hr.width // scale, hr.height // scale), Image.Resampling.BICUBIC)
    return Example(path.stem, lr, hr)


def prepare(example: Example, spec: dict[str, Any], settings: dict[str, Any]) -> Example:
    """Inputs at the size the model was trained at: a centre square of the training size (SR
    inputs are bounded instead, since those models take any size)."""
    if spec.get("method") in SR_METHODS:
        scale = int(spec.get("scale") or 1)
        side = SR_CROP // scale
        if max(example.input.size) <= side:
            return example
        target = example.target
        if target is not None and target.size != (example.input.width * scale, example.input.height * scale):
            target = None  # not the HR image of this input: nothing to compare with
        small = _centre_crop(example.input, side, 1)
        return Example(example.name, small, None if target is None else _centre_crop(target, small.width * scale, 1))
    size = int(spec.get("fixed_size") or spec.get("size") or settings.get("size") or 256)
    target = None if example.target is None else _square(example.target, size)
    return Example(example.name, _square(example.input, size), target)


def translate_all(folder: Path, inputs: list[Image.Image]) -> list[Image.Image]:
    """Run an exported model on CPU through the one runner, seeded (pix2pix as published keeps dropout on)."""
    import torch  # lazy

    from translate.inference.runner import Translator  # lazy

    model = Translator.load(folder, device="cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return [model(image) for image in inputs]


def _psnr(output: Image.Image, target: Image.Image | None, spec: dict[str, Any]) -> str:
    import numpy as np  # lazy

    from translate.metrics.quality import psnr  # lazy

    if target is None or output.size != target.size:
        return ""
    scale = int(spec.get("scale") or 0)
    value = psnr(np.asarray(output.convert("RGB")), np.asarray(target.convert("RGB")), scale, y_channel=bool(scale))
    return "identical" if math.isinf(value) else f"PSNR {value:.2f} dB{' (Y)' if scale else ''}"


# -- the page -------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _missing(text: str) -> str:
    return f'<p class="missing">{text}</p>'


def _table(rows: list[tuple[str, str]], header: tuple[str, str] | None = None) -> str:
    head = f"<tr><th>{_e(header[0])}</th><th>{_e(header[1])}</th></tr>" if header else ""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{head}{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "null" if value is None else str(value)


def _summary(run: Run) -> str:
    settings = run.settings or {}
    last = run.last_step
    planned = settings.get("steps") or (f"{settings['epochs']} epochs" if settings.get("epochs") else None)
    rows = [("method", _e(run.method)), ("folder", f"<code>{_e(run.root.resolve())}</code>")]
    rows.append(("steps", _e(f"{last if last is not None else 'none yet'}" + (f" of {planned}" if planned else ""))))
    if run.log:
        rows.append(("epoch", _e(run.log[-1].get("epoch", "?"))))
        times = [r["time"] for r in run.log if isinstance(r.get("time"), int | float)]
        if len(times) > 1:
            rows.append(("time between first and last log line", _e(_duration(times[-1] - times[0]))))
    checkpoint = latest_checkpoint(RunFolder(run.root).checkpoints)  # complete ones only
    rows.append(("latest checkpoint", _e(checkpoint.name if checkpoint else "none")))
    rows.append(("exported models", _e(", ".join(run.models) or "none")))
    evaluations = run.evaluations
    if evaluations.best_step is not None:
        rows.append(("best step", f'<span class="best" id="best-step">step {evaluations.best_step}</span>'))
    return _table(rows)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _settings_section(run: Run) -> str:
    if run.settings_error:
        return _missing(_e(run.settings_error))
    if run.settings is None:
        return _missing("No <code>config.yaml</code> in this run folder: its settings are unknown.")
    rows = [(str(k), _e(_fmt(v))) for k, v in run.settings.items()]
    per_column = max(8, math.ceil(len(rows) / 3))  # side by side, so a long config stays short
    tables = [_table(rows[i : i + per_column]) for i in range(0, len(rows), per_column)]
    return f'<div class="columns">{"".join(tables)}</div>'


def _losses_section(run: Run) -> str:
    if not run.losses:
        return _missing("No losses logged yet: <code>log.jsonl</code> is missing or empty.")
    last = run.log[-1] if run.log else {}
    latest = ", ".join(f"{k} {_fmt(v)}" for k, v in sorted((last.get("losses") or {}).items()))
    note = (
        '<p class="sub">Faint: logged values; solid: their moving average.'
        f" At step {_e(last.get('step'))}: {_e(latest)}.</p>"
    )
    return note + loss_plot(run.losses)


def _metrics_section(run: Run) -> str:
    evaluations = run.evaluations
    if not evaluations.steps:
        return _missing(
            "No evaluations: <code>metrics.jsonl</code> is missing or empty (evaluation during training was off)."
        )
    names = metric_names(evaluations)
    best = evaluations.best_step
    rows = []
    shown = [i for i, s in enumerate(evaluations.steps) if s == best] + [len(evaluations.steps) - 1]
    for i in dict.fromkeys(shown):
        step = evaluations.steps[i]
        cells = "".join(f'<td class="num">{_e(_fmt(evaluations.values[i].get(n, "")))}</td>' for n in names)
        label = "best" if step == best else "last"
        rows.append(f"<tr><th>{label}: step {step}</th>{cells}</tr>")
    head = "<tr><th></th>" + "".join(f"<th>{_e(n)}</th>" for n in names) + "</tr>"
    if best is None:
        text = "No best step: the records do not name the deciding metric."
    else:
        way = "lowest" if evaluations.lower_is_better else "highest"
        text = f'Best: <span class="best">step {best}</span> ({way} {_e(evaluations.deciding or "?")}, dashed line).'
    return (
        f'<p class="sub">{len(evaluations.steps)} evaluations. {text}</p><table>{head}{"".join(rows)}</table>'
        + metric_plot(evaluations)
    )


def _grids_section(run: Run) -> str:
    if not run.grids:
        return _missing("No sample grids yet: <code>samples/</code> is missing or empty.")
    shown = pick_grids(run.grids)
    if len(shown) == len(run.grids):
        note = f"All {len(shown)} sample grids, oldest first."
    else:
        note = (
            f"{len(shown)} of {len(run.grids)} sample grids: {len(shown) - 1} evenly spaced over training, "
            "plus the last."
        )
    from PIL import Image  # lazy

    figures = []
    for step, path in shown:
        try:
            with Image.open(path) as image:
                uri, width = data_uri(image), image.width
        except OSError as exc:
            figures.append(_missing(f"{_e(path.name)} could not be read: {_e(exc)}"))
            continue
        figures.append(
            f'<figure class="grid"><img src="{uri}" width="{_display_width(width)}" alt="sample grid at step {step}">'
            f"<figcaption>step {step}</figcaption></figure>"
        )
    return f'<p class="sub">{note}</p><div class="grids">{"".join(figures)}</div>'


def _display_width(width: int) -> int:
    """Small grids shown twice as large (pixelated), big ones at most the page's width."""
    return min(MAX_GRID_SIDE, width * 2 if width < 400 else width)


@dataclass
class ExampleOptions:
    images: Path | None = None
    targets: Path | None = None
    count: int = 4
    model: str | None = None  # only this exported model (a2b, b2a, ...)


def _examples_section(run: Run, options: ExampleOptions) -> str:
    names = sorted(set(run.models) | set(run.best_models))
    names = [n for n in names if options.model in (None, n)]
    if not names:
        return _missing(
            "No exported models: <code>models/</code> is missing or empty (a run exports its models when "
            "training finishes), so there is nothing to translate with yet."
        )
    parts = []
    for name in names:
        parts.append(f"<h3>{_e(name)}</h3>")
        try:
            parts.append(_model_examples(run, name, options))
        except (TranslateError, OSError, RuntimeError, ValueError, KeyError) as exc:
            parts.append(_missing(f"Could not show the {_e(name)} model: {_e(_one_line(exc))}"))
    return "".join(parts)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def _model_examples(run: Run, name: str, options: ExampleOptions) -> str:
    from translate.data.images import load_image  # lazy

    folders = [(f"final model{_at(run, run.models.get(name), run.last_step)}", run.models.get(name))]
    folders.append(
        (f"best model{_at(run, run.best_models.get(name), run.evaluations.best_step)}", run.best_models.get(name))
    )
    folders = [(label, folder) for label, folder in folders if folder is not None]
    spec = _spec(folders[0][1])
    settings = run.settings or {}
    if options.images is not None:
        chosen = user_examples(options.images, options.targets, options.count)
        examples = [Example(k, load_image(i), None if t is None else load_image(t)) for k, i, t in chosen]
        source = f"--images {options.images}" + (f" with --targets {options.targets}" if options.targets else "")
    else:
        examples, source = training_examples(spec, settings, options.count)
        source += " (training data, not held out: pass --images DIR to show others)"
    if not examples:
        return _missing(f"No images to translate: {_e(source)}.")
    examples = [prepare(e, spec, settings) for e in examples]
    if spec.get("method") not in SR_METHODS:
        source += f"; centre squares at the training size, {examples[0].input.width} px"
    outputs = [(label, _spec(folder), translate_all(folder, [e.input for e in examples])) for label, folder in folders]
    has_target = any(e.target is not None for e in examples)
    header = ["input", *(label for label, _, _ in outputs)] + (["target"] if has_target else [])
    largest = max(max(img.size) for e in examples for img in [e.input, *([e.target] if e.target else [])])
    largest = max(largest, *(max(o.size) for _, _, outs in outputs for o in outs))
    width = min(256, max(128, largest))
    rows = []
    for i, example in enumerate(examples):
        cells = [_cell(example.input, width, f"input {example.name}", example.name)]
        for label, model_spec, outs in outputs:
            psnr = _psnr(outs[i], example.target, model_spec)
            cells.append(_cell(outs[i], width, f"{label}: {example.name}", psnr))
        if has_target:
            target = example.target
            cells.append("<td>no target</td>" if target is None else _cell(target, width, f"target {example.name}", ""))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return f'<p class="sub">From {_e(source)}.</p><table class="examples"><tr>{head}</tr>{"".join(rows)}</table>'


def _at(run: Run, folder: Path | None, fallback: int | None) -> str:
    step = _spec(folder).get("step") if folder is not None else None
    step = step if isinstance(step, int) else fallback
    return f" (step {step})" if step is not None else ""


def _cell(image: Image.Image, width: int, alt: str, caption: str) -> str:
    return f'<td><img src="{data_uri(image, 512)}" width="{width}" alt="{_e(alt)}"><div>{_e(caption)}</div></td>'


def render(run: Run, options: ExampleOptions | None = None) -> str:
    """The whole page as a string (ASCII: other characters become character references)."""
    options = options or ExampleOptions()
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    sections = [
        ("summary", "Summary", _summary(run)),
        ("settings", "Settings", _settings_section(run)),
        ("losses", "Losses", _losses_section(run)),
        ("metrics", "Evaluation metrics", _metrics_section(run)),
        ("samples", "Sample grids over training", _grids_section(run)),
        ("examples", "Translations by the exported models", _examples_section(run, options)),
    ]
    body = "".join(f'<section id="{key}"><h2>{title}</h2>{content}</section>' for key, title, content in sections)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(run.root.resolve().name)}: training report</title><style>{CSS}</style></head><body>"
        f'<h1>{_e(run.root.resolve().name)}</h1><p class="sub">{_e(run.method)} run, report made {when} by '
        f"<code>translate report</code></p>{body}</body></html>\n"
    )
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")


def write_report(
    run: Path,
    out: Path | None = None,
    images: Path | None = None,
    targets: Path | None = None,
    count: int = 4,
    model: str | None = None,
) -> Path:
    """Build the page of run folder `run` and write it atomically (default RUN/report.html)."""
    if count < 1:
        raise ConfigError(f"--count {count}: show at least one image")
    if targets is not None and images is None:
        raise ConfigError("--targets needs --images (the inputs they pair with by name)")
    for flag, folder in (("--images", images), ("--targets", targets)):
        if folder is not None and not folder.is_dir():
            raise DataError(f"{flag} {folder} is not a folder")
    found = read_run(run)
    names = sorted(set(found.models) | set(found.best_models))
    if model is not None and model not in names:
        raise ConfigError(f"--model {model}: {run} has no such exported model (it has: {', '.join(names) or 'none'})")
    page = render(found, ExampleOptions(images, targets, count, model))
    target = out if out is not None else run / "report.html"
    if target.is_dir():
        target = target / "report.html"
    write_text(target, page)
    return target
