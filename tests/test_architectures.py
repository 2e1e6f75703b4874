"""Every registered generator architecture passes one suite, driven by the registry: an entry added to
translate/nets/registry.py is tested here by being registered. Each is built tiny, saved and loaded as
a model folder, recognised from its bare state dict, run through the runner's sizing at odd sizes and at
the sizes its export allows, and its size rule and settings are held to what the network really does."""

from __future__ import annotations

import inspect
import typing

import pytest
import torch

from translate.errors import ConfigError
from translate.export import input_shape
from translate.inference.sizing import make_batch_translator
from translate.model_folder import check_generator_args, read_config, save_model
from translate.nets.builders import build_generator
from translate.nets.detect import clean_state_dict, detect_generator
from translate.nets.registry import BOUNDS, Architecture, architectures, families, family, generator_choices
from translate.zoo import load_generator

pytestmark = pytest.mark.usefixtures("one_thread")

ENTRIES = architectures()
# Small values of settings, wherever an architecture takes them (otherwise its defaults).
TINY = {"ngf": 2, "width": 4, "n_blocks": 1, "scale": 2}


def parametrize_entries(test):
    return pytest.mark.parametrize("entry", ENTRIES, ids=[entry.name for entry in ENTRIES])(test)


def tiny(entry: Architecture) -> dict:
    return {"name": entry.name} | {k: v for k, v in TINY.items() if k in entry.settings()}


def built(entry: Architecture, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_generator(**tiny(entry))
    for m in net.modules():  # batch statistics away from their init, so that every buffer matters
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def model_spec(entry: Architecture, generator: dict) -> dict:
    """A model's config.json as a method writes it: what it runs as, and what that needs."""
    return {"method": entry.method, "generator": generator} | entry.model_settings(generator)


def valid_side(entry: Architecture, generator: dict) -> int:
    """The smallest side the size rule allows (a fixed-size network: its side)."""
    fixed = entry.fixed_size(generator)
    if fixed:
        return fixed
    m = entry.size.multiple
    return -(-entry.size.min_side // m) * m


def rand(channels: int, height: int, width: int, batch: int = 1) -> torch.Tensor:
    return torch.rand(batch, channels, height, width, generator=torch.Generator().manual_seed(1)) * 2 - 1


def in_channels(entry: Architecture) -> int:
    return entry.defaults()["in_channels"]


@parametrize_entries
def test_settings_are_the_constructors_signature(entry):
    constructor = entry.constructor()
    parameters = inspect.signature(constructor).parameters
    hints = typing.get_type_hints(constructor.__init__)
    assert set(entry.preset) <= set(parameters), "the name presets arguments the constructor does not take"
    assert set(entry.settings()) | set(entry.preset) == set(parameters)
    for key, kinds in entry.settings().items():
        hint = hints[key]
        assert kinds == (typing.get_args(hint) or (hint,)), key
    assert set(entry.unseen) <= set(entry.settings())
    for key in (entry.size.fixed_key, entry.size.scale_key):
        assert not key or key in entry.settings()
    # What its constructor defaults to is a config.json the model folder accepts.
    defaults = {k: v for k, v in entry.defaults().items() if k not in entry.preset}
    check_generator_args({"name": entry.name, **defaults}, "defaults")
    with pytest.raises(ConfigError, match="takes no setting"):
        check_generator_args({"name": entry.name, "no_such_setting": 1}, "x")


def test_every_bound_is_a_setting_and_every_family_one_constructor():
    settings = {key for entry in ENTRIES for key in entry.settings()}
    assert set(BOUNDS) <= settings, "a bound for a setting no architecture takes"
    for first in families():
        assert {(e.builder, e.recogniser, e.title) for e in family(first.family)} == {
            (first.builder, first.recogniser, first.title)
        }
    assert generator_choices() == tuple(e.name for e in ENTRIES if e.choice)


@parametrize_entries
def test_size_rule_holds_and_wrong_sizes_are_refused_with_a_hint(entry):
    net, generator = built(entry), tiny(entry)
    scale, side, channels = entry.scale(generator), valid_side(entry, generator), in_channels(entry)
    entry.check_image_size(side)
    with torch.no_grad():
        assert net(rand(channels, side, side)).shape[-2:] == (side * scale, side * scale)
    rule = entry.size
    if rule.fixed:  # each of its sides builds a network for exactly that side
        for fixed in rule.fixed:
            other = build_generator(**generator | {rule.fixed_key: fixed}).eval()
            with torch.no_grad():
                assert other(rand(channels, fixed, fixed)).shape[-2:] == (fixed * scale, fixed * scale)
        with pytest.raises(ConfigError, match=f"choose {' or '.join(map(str, rule.fixed))}"):
            entry.check_image_size(max(rule.fixed) + 32, "--image-size")
        return
    off = side + 1 if rule.multiple > 1 else 0
    with pytest.raises(ConfigError, match=r"does not fit generator .*: it needs a" + (" multiple" if off else "")):
        entry.check_image_size(off)
    if rule.multiple > 1:  # the rule is real: off the multiple, the network fails or changes the size
        with pytest.raises(Exception), torch.no_grad():  # noqa: B017, PT012 - a shape error or the size check
            out = net(rand(channels, off, off))
            assert out.shape[-2:] == (off * scale, off * scale)
    if rule.min_side > rule.multiple:
        with pytest.raises(ConfigError, match=f"too small .* it needs {rule.min_side} or more"):
            entry.check_image_size(rule.min_side - rule.multiple)


@parametrize_entries
def test_a_model_folder_round_trips(entry, tmp_path):
    net, generator = built(entry), tiny(entry)
    spec = model_spec(entry, generator)
    save_model(net, spec, tmp_path / "model")
    assert read_config(tmp_path / "model")["generator"] == generator
    loaded, loaded_spec = load_generator(tmp_path / "model")
    assert loaded_spec["generator"] == generator and not loaded.training
    side = valid_side(entry, generator)
    x = rand(in_channels(entry), side, side, batch=2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), atol=0, rtol=0)


@parametrize_entries
def test_it_is_recognised_from_its_state_dict(entry, tmp_path):
    net, generator = built(entry), tiny(entry)
    state = net.state_dict()
    detected = detect_generator(clean_state_dict(dict(state)), "g.pth")
    everything = {k: v for k, v in entry.defaults().items() if k not in entry.preset} | generator
    seen = {k: v for k, v in everything.items() if k not in entry.unseen}
    assert {k: detected.get(k, entry.defaults().get(k)) for k in seen} == seen
    rebuilt = build_generator(**detected).state_dict()
    assert {k: v.shape for k, v in rebuilt.items()} == {k: v.shape for k, v in state.items()}
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "latest_net_G.pth")  # as DataParallel saves
    loaded, spec = load_generator(tmp_path / "latest_net_G.pth")
    assert spec["detected"] and spec["method"] == entry.method and spec["generator"] == detected
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items() if k in state)


@parametrize_entries
def test_the_runner_keeps_an_odd_size(entry):
    net, generator = built(entry), tiny(entry)
    scale = entry.scale(generator)
    side = valid_side(entry, generator)
    height = side + 1 if side % 2 == 0 else side + 2  # odd, off the multiple: padded and cropped back
    translate = make_batch_translator(net, model_spec(entry, generator))
    out = translate(rand(in_channels(entry), height, height + 2, batch=2))
    assert out.shape == (2, entry.defaults()["out_channels"], height * scale, (height + 2) * scale)
    assert torch.isfinite(out).all()


@parametrize_entries
def test_export_shapes_are_ones_the_network_takes(entry):
    net, generator = built(entry), tiny(entry)
    shape = input_shape(model_spec(entry, generator))
    assert shape.scale == entry.scale(generator)
    example = shape.default_example()
    shape.validate(example)
    channels = in_channels(entry)
    with torch.no_grad():
        for height, width in [(example, example), shape.check_size(example)]:
            out = net(rand(channels, height, width, batch=2))
            assert out.shape[-2:] == (height * shape.scale, width * shape.scale)
