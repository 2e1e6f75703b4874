"""`translate export`: ONNX and .pt2 files reproduce the PyTorch generator at sizes and batches other
than the traced ones, load without translate, and refuse sizes and mismatches in one line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.helpers import cli, random_generator
from translate import export as export_module
from translate.errors import ConfigError
from translate.export import ExportCheckError, export_model, input_shape
from translate.model_folder import save_model

# (generator kwargs, traced side, two (H, W) check sizes other than the traced one, output scale)
NETS = {
    "resnet": ({"name": "resnet6", "ngf": 4}, 32, [(36, 44), (8, 12)], 1),
    # 128 is unet128's smallest input: a 1x1 bottleneck, which must stay dynamic too. Dropout and
    # eval_mode=False: a pix2pix model published to run in train mode, exported in eval mode.
    "unet": ({"name": "unet128", "ngf": 4, "norm": "batch", "dropout": True}, 256, [(128, 128), (128, 384)], 1),
    "srresnet": ({"name": "srresnet", "scale": 2, "width": 8, "n_blocks": 1}, 16, [(13, 7), (20, 24)], 2),
    # CUT's generator: anti-aliased down- and upsampling (blur pooling, its own padding) in every runtime.
    "cut": ({"name": "resnet9", "ngf": 4, "antialias": True}, 32, [(36, 44), (8, 12)], 1),
}


def _spec(generator: dict) -> dict:
    if generator["name"] == "srresnet":
        return {"method": "srresnet", "generator": generator, "scale": generator["scale"]}
    if generator["name"].startswith("unet"):
        return {"method": "pix2pix", "generator": generator, "eval_mode": False}
    return {"method": "cut" if generator.get("antialias") else "cyclegan", "generator": generator}


def _runner(path: Path, fmt: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if fmt == "pt2":
        module = torch.export.load(path).module()
        return lambda x: module(x).detach()
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
@pytest.mark.parametrize("kind", list(NETS))
def test_export_reproduces_pytorch_at_other_sizes_and_batch(tmp_path, kind, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    generator, example, sizes, scale = NETS[kind]
    net = random_generator(generator).train()  # export must not depend on (nor change) the caller's mode
    out = tmp_path / f"g.{fmt}"
    report = export_model(net, _spec(generator), out, fmt, example_size=example)

    assert net.training
    assert out.is_file() and report.path == out
    assert report.example_shape == (1, 3, example, example)
    assert report.check_shape[0] == 2 and report.check_shape[2:] != (example, example)
    assert report.max_abs_diff <= 1e-4
    summary = report.summary()
    assert "max abs difference" in summary and ("opset 18" in summary) == (fmt == "onnx")
    assert ("train mode" in summary) == (kind == "unet")
    run = _runner(out, fmt)
    net.eval()
    for i, (height, width) in enumerate(sizes):
        x = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(i)) * 2 - 1
        with torch.inference_mode():
            got, expected = run(x), net(x)
        assert got.shape == (2, 3, height * scale, width * scale)
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_pt2_loads_and_runs_without_translate(tmp_path):
    generator = NETS["srresnet"][0]
    net = random_generator(generator)
    export_model(net, _spec(generator), tmp_path / "g.pt2", "pt2")
    x = torch.rand(2, 3, 20, 12) * 2 - 1
    torch.save(x, tmp_path / "x.pt")
    script = (
        "import sys; sys.modules['translate'] = None\n"  # any import of translate now fails
        "import torch\n"
        "m = torch.export.load(sys.argv[1]).module()\n"
        "torch.save(m(torch.load(sys.argv[2], weights_only=True)).detach(), sys.argv[3])\n"
        "assert not [n for n, m in sys.modules.items() if n.startswith('translate') and m is not None]\n"
    )
    args = [sys.executable, "-c", script, str(tmp_path / "g.pt2"), str(tmp_path / "x.pt"), str(tmp_path / "y.pt")]
    subprocess.run(args, check=True, cwd=tmp_path, timeout=120)
    with torch.inference_mode():
        expected = net(x)
    torch.testing.assert_close(torch.load(tmp_path / "y.pt", weights_only=True), expected, atol=1e-5, rtol=0)


def test_discogan_export_is_fixed_size_with_dynamic_batch(tmp_path):
    generator = {"name": "discogan", "width": 4, "image_size": 64}
    spec = {"method": "discogan", "generator": generator, "fixed_size": 64}
    assert input_shape(spec).fixed == 64
    with pytest.raises(ConfigError, match="H = W = 64"):
        export_model(random_generator(generator), spec, tmp_path / "d.pt2", "pt2", example_size=32)
    net = random_generator(generator)
    report = export_model(net, spec, tmp_path / "d.pt2", "pt2")
    assert report.check_shape == (2, 3, 64, 64)
    module = torch.export.load(tmp_path / "d.pt2").module()
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(module(x), net(x), atol=1e-5, rtol=0)
        with pytest.raises(Exception):  # noqa: B017 - torch's guard error type is not public
            module(torch.rand(1, 3, 128, 128))


@pytest.mark.parametrize(
    ("generator", "size", "message"),
    [
        ({"name": "resnet9"}, 30, "multiples of 4 from 8"),
        ({"name": "resnet9"}, 4, "multiples of 4 from 8"),
        ({"name": "unet256"}, 384, "multiples of 256"),
    ],
)
def test_sizes_the_generator_cannot_take_are_refused(tmp_path, generator, size, message):
    net = torch.nn.Identity()  # refused before anything is traced
    with pytest.raises(ConfigError, match=message):
        export_model(net, {"generator": generator}, tmp_path / "x.pt2", "pt2", example_size=size)
    assert not list(tmp_path.iterdir())


def test_unknown_format_and_generator_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="onnx, pt2"):
        export_model(torch.nn.Identity(), {"generator": {"name": "resnet9"}}, tmp_path / "x", "tflite")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cannot export generator 'esrgan'"):
        export_model(torch.nn.Identity(), {"generator": {"name": "esrgan"}}, tmp_path / "x.pt2", "pt2")


@pytest.mark.parametrize(
    ("result", "message"),
    [(lambda x: x + 0.01, "differs from PyTorch by up to 1.00e-02"), (lambda x: x[:, :, :-1], "gives shape")],
)
def test_a_mismatch_writes_nothing_and_keeps_the_old_file(tmp_path, monkeypatch, result, message):
    net = torch.nn.Identity()
    monkeypatch.setattr(export_module, "_write_pt2", lambda net, x, shape, path: path.write_text("bad export"))
    monkeypatch.setattr(export_module, "_run_pt2", lambda path, x: result(x))
    out = tmp_path / "g.pt2"
    out.write_text("previous export")
    with pytest.raises(ExportCheckError, match=message):
        export_model(net, {"generator": {"name": "resnet9"}}, out, "pt2")
    assert out.read_text() == "previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["g.pt2"]  # no temporary file left behind


def test_missing_onnx_packages_is_one_clear_error(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs onnxruntime: pip install 'translate-gan\[onnx\]'"):
        export_model(torch.nn.Identity(), {"generator": {"name": "resnet9"}}, tmp_path / "x.onnx", "onnx")


def test_cli_exports_and_prints_the_difference(tmp_path, monkeypatch):
    generator = NETS["srresnet"][0]
    save_model(random_generator(generator), _spec(generator), tmp_path / "sr-model")
    monkeypatch.chdir(tmp_path)  # the default --out is MODEL.FORMAT in the current folder
    result = cli("export", "sr-model", "--format", "pt2", "--size", "12")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sr-model.pt2").is_file()
    assert "max abs difference" in result.output and "eval mode" in result.output
    assert "2 x 3 x 13 x 11" in result.output and "N x 3 x 2H x 2W" in result.output


def test_cli_help_states_the_convention():
    result = cli("export", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "[-1, 1]" in text and "multiples of 4" in text and "eval mode" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "tflite"], "tflite"),
        (["--format", "pt2", "--size", "1"], "any size from 2"),
    ],
)
def test_cli_user_mistakes_exit_2(tmp_path, args, message):
    generator = NETS["srresnet"][0]
    save_model(random_generator(generator), {"generator": generator}, tmp_path / "m")
    result = cli("export", tmp_path / "m", "--out", tmp_path / "x.pt2", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "x.pt2").exists()


def test_cli_unknown_model_exits_2(tmp_path):
    result = cli("export", tmp_path / "nope", "--format", "onnx")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_cli_module_does_not_import_torch():
    code = "import sys, translate.cli_export; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
