"""Every train option that cannot work is refused before anything starts: exit code 2, one short
line naming the option, no traceback. Table-driven over the options, on the command line, in
config files, and for --resume with options that no longer fit the run's checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cli, one_line_error
from translate.config import CycleGANConfig, save_settings

# Data options only need to be present: options are checked before any data is read.
DATA = {
    "cyclegan": ("--a", "x", "--b", "y"),
    "pix2pix": ("--data", "x"),
    "discogan": ("--a", "x", "--b", "y"),
    "srresnet": ("--hr", "x"),
    "srgan": ("--hr", "x"),
}

# (method, options, fragment of the one-line error)
CASES = [
    # the engine's options, for every method
    *[(m, ("--steps", "0"), "--steps must be at least 1") for m in DATA],
    ("cyclegan", ("--steps", "-5"), "--steps must be at least 1"),
    ("pix2pix", ("--epochs", "0"), "--epochs must be at least 1"),
    ("discogan", ("--batch-size", "0"), "--batch-size must be at least 1"),
    ("srgan", ("--save-every", "0"), "--save-every must be at least 1"),
    ("srresnet", ("--sample-every", "-1"), "--sample-every must be at least 1"),
    ("cyclegan", ("--log-every", "0"), "--log-every must be at least 1"),
    ("cyclegan", ("--keep-checkpoints", "0"), "--keep-checkpoints must be at least 1"),
    ("cyclegan", ("--workers", "-1"), "--workers cannot be negative"),
    ("cyclegan", ("--decay-from", "1.5"), "--decay-from must be between 0 and 1"),
    ("cyclegan", ("--lr", "0"), "--lr must be positive"),
    ("srgan", ("--lr", "-0.001"), "--lr must be positive"),
    ("cyclegan", ("--lr", "nan"), "--lr must be a finite number"),
    ("discogan", ("--lr", "inf"), "--lr must be a finite number"),
    ("cyclegan", ("--beta1", "1"), "--beta1 must be at least 0 and below 1"),
    ("pix2pix", ("--beta2", "-0.5"), "--beta2 must be at least 0 and below 1"),
    ("cyclegan", ("--seed", "-1"), "--seed must be between 0 and 4294967295"),
    ("cyclegan", ("--seed", str(2**32)), "--seed must be between 0 and 4294967295"),
    ("cyclegan", ("--compile", "step", "--on-nan", "skip"), "--compile step cannot be used with --on-nan skip"),
    ("srgan", ("--compile", "step", "--mixed-precision", "fp16"), "--compile step cannot be used with --mixed-pre"),
    # image translation networks and crops
    ("cyclegan", ("--size", "0"), "--size 0 does not fit generator resnet9"),
    ("cyclegan", ("--size", "30", "--load-size", "30"), "--size 30 does not fit generator resnet9"),
    ("cyclegan", ("--size", "4", "--load-size", "4"), "--size 4 is too small for generator resnet9"),
    ("cyclegan", ("--size", "64", "--load-size", "32"), "--load-size 32 is smaller than --size 64"),
    ("pix2pix", ("--size", "128", "--load-size", "100"), "--load-size 100 is smaller than --size 128"),
    ("cyclegan", ("--ngf", "0"), "--ngf must be at least 1"),
    ("pix2pix", ("--ndf", "-4"), "--ndf must be at least 1"),
    ("cyclegan", ("--n-layers-d", "-1"), "--n-layers-d cannot be negative"),
    ("cyclegan", ("--size", "32", "--load-size", "32", "--n-layers-d", "4"), "too deep for --size 32"),
    ("cyclegan", ("--lambda-cycle", "-1"), "--lambda-cycle cannot be negative"),
    ("cyclegan", ("--lambda-identity", "-0.5"), "--lambda-identity cannot be negative"),
    ("cyclegan", ("--pool-size", "-1"), "--pool-size cannot be negative"),
    ("pix2pix", ("--lambda-l1", "-100"), "--lambda-l1 cannot be negative"),
    ("pix2pix", ("--a", "x"), "give either --data"),
    # DiscoGAN
    ("discogan", ("--image-size", "96"), "--image-size 96 is not supported"),
    ("discogan", ("--width", "0"), "--width must be at least 1"),
    ("discogan", ("--update-interval", "0"), "--update-interval must be at least 1"),
    ("discogan", ("--starting-rate", "2"), "--starting-rate must be between 0 and 1"),
    ("discogan", ("--gan-curriculum", "-1"), "--gan-curriculum cannot be negative"),
    ("discogan", ("--weight-decay", "-1e-5"), "--weight-decay cannot be negative"),
    # super-resolution
    ("srresnet", ("--scale", "3"), "--scale 3 is not supported"),
    ("srresnet", ("--hr-size", "30"), "--hr-size 30 must be a positive multiple of --scale 4"),
    ("srresnet", ("--hr-size", "0"), "--hr-size 0 must be a positive multiple"),
    ("srresnet", ("--crops-per-image", "0"), "--crops-per-image must be at least 1"),
    ("srresnet", ("--blocks", "-1"), "--blocks cannot be negative"),
    ("srgan", ("--width", "0"), "--width must be at least 1"),
    ("srgan", ("--ndf", "0"), "--ndf must be at least 1"),
    ("srgan", ("--lambda-adv", "-1"), "--lambda-adv cannot be negative"),
    ("srgan", ("--batch-size", "1", "--hr-size", "16"), "--hr-size 16 with --batch-size 1"),
    ("srgan", ("--vgg-weights", "/no/such/vgg19.pth"), "--vgg-weights /no/such/vgg19.pth is not a file"),
]


def assert_refused(result, fragment: str) -> None:
    one_line_error(result, fragment)
    assert isinstance(result.exception, SystemExit)  # typer.Exit(2): nothing escaped as an exception


@pytest.mark.parametrize(
    ("method", "options", "fragment"), CASES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v
)
def test_bad_option_is_one_line(tmp_path, method, options, fragment):
    assert_refused(cli("train", method, *DATA[method], "--out", tmp_path / "run", *options), fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--generator", "resnet7"),
        ("--norm", "group"),
        ("--gan-loss", "wasserstein"),
        ("--mixed-precision", "fp8"),
        ("--steps", "ten"),
        ("--lr", "fast"),
        ("--compile", "graphs"),
    ],
)
def test_unknown_names_and_non_numbers_are_usage_errors(tmp_path, option, value):
    result = cli("train", "cyclegan", *DATA["cyclegan"], "--out", tmp_path / "run", option, value)
    assert result.exit_code == 2
    text = result.output + result.stderr
    assert f"Invalid value for '{option}'" in text and "Traceback" not in text


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("steps: ten", "--steps must be a whole number, got 'ten'"),
        ("steps: 2.5", "--steps must be a whole number, got 2.5"),
        ("flip: 3", "--flip must be true or false, got 3"),
        ("ngf: true", "--ngf must be a whole number, got True"),
        ("norm: group", "--norm 'group' is not one of instance, batch, none"),
        ("generator: resnet7", "--generator 'resnet7' is not one of resnet9"),
        ("lr: .nan", "--lr must be a finite number"),
        ("lambda_cycle: [1, 2]", "--lambda-cycle must be a finite number"),
        ("mixed_precision: fp8", "--mixed-precision 'fp8' is not one of no, fp16, bf16"),
    ],
)
def test_bad_values_in_config_files(tmp_path, setting, fragment):
    config = tmp_path / "run.yaml"
    config.write_text(f"a: x\nb: y\n{setting}\n")
    assert_refused(cli("train", "cyclegan", "--config", config, "--out", tmp_path / "run"), fragment)


def test_compile_as_saved_before_it_had_modes(tmp_path):
    """Runs and settings files of earlier versions say `compile: false` or `true`: off and networks."""
    from translate.config import from_dict

    assert from_dict(CycleGANConfig, {"a": "x", "b": "y", "compile": False}).compile == "off"
    assert from_dict(CycleGANConfig, {"a": "x", "b": "y", "compile": True}).compile == "networks"
    assert from_dict(CycleGANConfig, {"a": "x", "b": "y", "compile": "step"}).compile == "step"


def test_numbers_where_names_are_meant_are_read_as_names(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("a: 2024\nb: y\n")  # a folder called 2024
    assert_refused(cli("train", "cyclegan", "--config", config, "--out", tmp_path / "run"), "unknown domain '2024'")


def test_out_that_is_a_file(tmp_path):
    (tmp_path / "run").write_text("notes")
    assert_refused(cli("train", "cyclegan", *DATA["cyclegan"], "--out", tmp_path / "run"), "is a file")


@pytest.fixture
def saved_run(tmp_path) -> Path:
    """A run folder as training leaves it, as far as --resume's checks look: its config.yaml."""
    run = tmp_path / "run"
    run.mkdir()
    settings = CycleGANConfig(a="x", b="y", out=run, size=32, load_size=32, ngf=4, ndf=4, generator="resnet6")
    save_settings(settings, run / "config.yaml")
    return run


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (("--ngf", "8"), "--resume: --ngf 8 differs from the run's 4"),
        (("--generator", "resnet9"), "--resume: --generator resnet9 differs from the run's resnet6"),
        (("--norm", "batch"), "--resume: --norm batch differs from the run's instance"),
        (("--n-layers-d", "2"), "--resume: --n-layers-d 2 differs from the run's 3"),
    ],
)
def test_resume_refuses_changed_architecture(saved_run, options, fragment):
    result = cli("train", "cyclegan", "--out", saved_run, "--resume", *options)
    assert_refused(result, fragment)
    assert "drop --" in result.stderr and str(saved_run / "config.yaml") in result.stderr


def test_resume_with_unchanged_or_training_options_passes_the_check(saved_run):
    # Same architecture, new length and learning rate: past the option checks, on to the data (the saved "x").
    result = cli("train", "cyclegan", "--out", saved_run, "--resume", "--ngf", "4", "--steps", "9", "--lr", "1e-4")
    assert_refused(result, "unknown domain 'x'")


def test_resume_with_another_method(saved_run):
    result = cli("train", "pix2pix", "--out", saved_run, "--resume")
    assert_refused(result, f"--resume: {saved_run} is a cyclegan run, not pix2pix")
    assert "translate train cyclegan --resume" in result.stderr
