"""Turn a settings dataclass into a Typer command, so options, config files and saved runs share one schema.

The generated command takes every dataclass field as `--field-name` plus `--config FILE`. Values are
merged as: dataclass defaults < the run's saved config.yaml (with --resume) < the config file <
options given on the command line. Only options the user actually typed override, which is what
makes `--config run.yaml --steps 10` and `--resume --steps 2000` behave as expected.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import inspect
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

from translate.choices import DIRECTION_CHOICES
from translate.config import TrainConfig, config_fields, from_dict, read_settings, saved_run_settings
from translate.errors import ConfigError, TranslateError
from translate.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE
from translate.methods import check_settings, setting_choices

_EXPLICIT_SOURCES = {"COMMANDLINE", "ENVIRONMENT"}


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Report a user's mistake as one line on stderr with exit code 2, not a traceback."""
    try:
        yield
    except TranslateError as exc:
        # An error raised in a DataLoader worker arrives wrapped in torch's multi-line report;
        # its last line holds our message.
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        prefix = f"{type(exc).__module__}.{type(exc).__name__}: "
        typer.echo(f"Error: {message.removeprefix(prefix)}", err=True)
        raise typer.Exit(2) from None


def _choice_enum(name: str, choices: tuple[str, ...]) -> type[enum.Enum]:
    return enum.Enum(name, {c: c for c in choices}, type=str)  # type: ignore[return-value]


Direction = _choice_enum("Direction", DIRECTION_CHOICES)

# Options that several commands share, declared once so their names, defaults and help agree.
MODEL = typer.Option(
    ...,
    "--model",
    help="A run folder, an exported model folder, a pretrained name, or a generator file (.pth / .safetensors; "
    "super-resolution files of ESRGAN, Real-ESRGAN, SwinIR, ... with the `sr` extra).",
)
DIRECTION = typer.Option(None, "--direction", help="Which generator of a run folder with several (a2b or b2a).")
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, ... (under `accelerate launch`: its own).")
JSON_OUT = typer.Option(None, "--json", help="Also write every score to this JSON file.")
TILE = typer.Option(DEFAULT_TILE, "--tile", help="Feed the network LR tiles of at most N x N px (0: whole images).")
TILE_OVERLAP = typer.Option(DEFAULT_OVERLAP, "--tile-overlap", help="LR pixels of context around each tile (no seams).")


def direction_value(direction: enum.Enum | None) -> str | None:
    """The plain string the library takes."""
    return None if direction is None else direction.value


def _panel_of(cls: type, name: str) -> tuple[int, str]:
    """The most basic class in `cls`'s hierarchy declaring field `name` (a subclass may only change its
    default): its depth and help panel title."""
    for depth, klass in reversed(list(enumerate(cls.__mro__))):
        if name in klass.__dict__.get("__annotations__", {}):
            return depth, getattr(klass, "panel", klass.__name__)
    return len(cls.__mro__), "Options"


def _parameter(f: dataclasses.Field, annotation: Any, panel: str) -> inspect.Parameter:
    flag = "--" + f.name.replace("_", "-")
    meta = f.metadata
    default = f.default
    choices = meta.get("choices") or setting_choices().get(f.name)
    if choices:
        annotation = _choice_enum(f.name, choices)
        default = annotation(default) if default is not None else None
    decls = [f"{flag}/--no-{flag[2:]}"] if annotation is bool else [flag]
    help_text = meta.get("help", "")
    if meta.get("required"):
        help_text += " [required]"
    info = typer.Option(default, *decls, help=help_text, show_default=default is not None, rich_help_panel=panel)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def build_config(cls: type[TrainConfig], ctx: typer.Context, values: dict[str, Any], config_file: Path | None):
    """Merge defaults, saved run settings, the config file and explicit options into a validated config."""
    values = {k: v.value if isinstance(v, enum.Enum) else v for k, v in values.items()}
    explicit = {
        k: v for k, v in values.items() if getattr(ctx.get_parameter_source(k), "name", None) in _EXPLICIT_SOURCES
    }
    from_file = read_settings(config_file) if config_file else {}
    from_file.pop("method", None)
    merged: dict[str, Any] = {}
    if explicit.get("resume", from_file.get("resume", False)):
        out = Path(explicit.get("out", from_file.get("out", values["out"])))
        merged |= saved_run_settings(cls, out)  # refuses a run of another method
    merged |= from_file | explicit
    config = from_dict(cls, merged)
    for f in config_fields(cls):
        if f.metadata.get("required") and getattr(config, f.name) is None:
            raise ConfigError(f"missing option --{f.name.replace('_', '-')}: {f.metadata.get('help', '')}")
    check_settings(config)
    return config


def command_from_config(cls: type[TrainConfig], run: Callable[[TrainConfig], None], doc: str) -> Callable:
    """A Typer command function whose options are the fields of `cls`; it calls `run(config)`."""
    hints = typing.get_type_hints(cls)
    # The method's own options first, the engine's last, each group in its own help panel.
    fields = sorted(config_fields(cls), key=lambda f: _panel_of(cls, f.name)[0])
    params = [_parameter(f, hints[f.name], _panel_of(cls, f.name)[1]) for f in fields]

    def command(ctx: typer.Context, config: Path | None = None, **values: Any) -> None:
        with user_errors():
            built = build_config(cls, ctx, values, config)
        run(built)

    config_param = inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(None, "--config", help="YAML or JSON file of options (command-line options win)."),
        annotation=Path | None,
    )
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    all_params = [ctx_param, config_param, *params]
    command.__signature__ = inspect.Signature(all_params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in all_params}
    command.__doc__ = doc
    return command
