"""Bad input gives one clear line on stderr and exit code 2, never a traceback; options come from
config files too; the CLI starts without importing the heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli, one_line_error, tiny, train, write_domain

# Every run here stops at an error before training: no need to choose a generator, batch size or log interval.
FAST = tiny("cyclegan", generator=None, batch_size=None, log_every=None, steps=1)


@pytest.fixture(scope="module")
def domain(tmp_path_factory) -> Path:
    return write_domain(tmp_path_factory.mktemp("domain") / "a", 2, 32, seed=1)


def test_missing_folder(domain, tmp_path):
    result = cli("train", "cyclegan", "--a", domain, "--b", tmp_path / "nope", "--out", tmp_path / "r", *FAST)
    one_line_error(result, "nope", "no such folder")


def test_empty_folder(domain, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("train", "cyclegan", "--a", domain, "--b", tmp_path / "empty", "--out", tmp_path / "r", *FAST)
    one_line_error(result, "has no images")


def test_folder_of_mostly_files_that_are_not_images(domain, tmp_path):
    bad = write_domain(tmp_path / "b", 2, 32, seed=2)
    for name in ("notes.png", "x.png", "y.png"):  # one bad file is skipped (tests/test_data_bad_inputs.py); most stop
        (bad / name).write_text("not a picture")
    result = cli("train", "cyclegan", "--a", domain, "--b", bad, "--out", tmp_path / "r", *FAST)
    one_line_error(result, "3 of 5 images of domain B cannot be read", "notes.png", "not a readable image")


def test_unknown_domain_name(domain, tmp_path):
    result = cli("train", "cyclegan", "--a", domain, "--b", "zebras-on-mars", "--out", tmp_path / "r", *FAST)
    one_line_error(result, "zebras-on-mars")


def test_size_that_does_not_fit_the_generator(domain, tmp_path):
    result = cli(
        "train", "cyclegan", "--a", domain, "--b", domain, "--out", tmp_path / "r",
        "--generator", "unet256", "--size", "100", "--load-size", "120",
    )  # fmt: skip
    one_line_error(result, "--size 100", "unet256", "multiple of 256")


def test_existing_run_folder_without_resume(domain, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "something").write_text("x")
    result = cli("train", "cyclegan", "--a", domain, "--b", domain, "--out", tmp_path / "r", *FAST)
    one_line_error(result, "already exists", "--resume")


def test_resume_without_checkpoint(domain, tmp_path):
    result = cli("train", "cyclegan", "--a", domain, "--b", domain, "--out", tmp_path / "r", *FAST, "--resume")
    one_line_error(result, "nothing to resume")


def test_missing_required_option(tmp_path):
    result = cli("train", "cyclegan", "--b", "demo-night", "--out", tmp_path / "r")
    one_line_error(result, "missing option --a")


def test_bad_choice_is_a_usage_error():
    result = cli("train", "cyclegan", "--norm", "group")
    assert result.exit_code == 2 and "group" in result.output + result.stderr


def test_config_file_sets_options_and_command_line_wins(domain, tmp_path):
    settings = tmp_path / "run.yaml"
    settings.write_text(f"a: {domain}\nb: {domain}\nsize: 32\nload_size: 32\nngf: 4\nndf: 4\nworkers: 0\nsteps: 5\n")
    out = tmp_path / "r"
    train("cyclegan", out, "--config", settings, "--steps", "1", "--generator", "resnet6")
    saved = (out / "config.yaml").read_text()
    assert "steps: 1" in saved and "ngf: 4" in saved and "generator: resnet6" in saved


def test_config_file_with_unknown_key(tmp_path):
    settings = tmp_path / "run.yaml"
    settings.write_text("a: x\nb: y\nlambda_cycel: 3\n")
    one_line_error(cli("train", "cyclegan", "--config", settings), "lambda_cycel")


def test_cli_start_up_does_not_import_heavy_libraries():
    code = (
        "import sys; from translate.cli import app; "
        "heavy = [m for m in ('torch', 'numpy', 'accelerate', 'albumentations', 'torchvision', 'fastapi', 'uvicorn') "
        "if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
