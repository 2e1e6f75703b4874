"""Conversion's speed switches (issue 19 item 4): results encoded in processes instead of threads, and the
generator compiled together with the quantization. Neither may change a result: processes write the bytes
threads write, failures are reported alike, and compiled results are within one level of eager ones."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image

from tests.dying_encoder import write_or_die
from tests.helpers import cli, one_line_error, random_rgb, write, write_png16
from translate.atomic import atomic_path, remove_temporaries
from translate.cli import app
from translate.errors import WriteError
from translate.inference import pipeline
from translate.inference.encoding import encoder_pool, write_result
from translate.inference.runner import convert_folder


def _mixed_inputs(folder: Path) -> np.ndarray:
    """Two 8-bit RGB images of one size (one batch), a 16-bit RGB PNG and an RGBA PNG; returns the RGBA."""
    write(folder / "a.png", random_rgb(24, 32, seed=1))
    write(folder / "b.png", random_rgb(24, 32, seed=2))
    write_png16(folder / "deep.png", np.random.default_rng(3).integers(0, 65536, (20, 28, 3), dtype=np.uint16))
    rgba = np.dstack([random_rgb(20, 20, seed=4), random_rgb(20, 20, seed=5)[:, :, 0]])
    write(folder / "alpha.png", rgba)
    return rgba


def test_encoder_processes_write_the_bytes_threads_write(tmp_path, tiny_model, monkeypatch):
    rgba = _mixed_inputs(tmp_path / "in")
    pools, real_pool = [], pipeline.encoder_pool
    monkeypatch.setattr(pipeline, "encoder_pool", lambda *args: pools.append(real_pool(*args)) or pools[-1])
    written = {}
    for encoders in ("threads", "processes", "auto"):
        out = tmp_path / encoders
        # --size 16: every result is resized back to its input's size by the writers
        report = convert_folder(tiny_model, tmp_path / "in", out, device="cpu", size=16, encoders=encoders, writers=2)
        assert (report.converted, report.failures) == (4, [])
        written[encoders] = {p.name: p.read_bytes() for p in sorted(out.glob("*.png"))}
    assert [type(pool) for pool in pools] == [ThreadPoolExecutor, ProcessPoolExecutor, ThreadPoolExecutor]
    assert written["processes"] == written["threads"] == written["auto"]  # byte for byte

    out = tmp_path / "processes"
    assert [Image.open(out / name).size for name in ("a.png", "deep.png")] == [(32, 24), (28, 20)]
    assert written["processes"]["deep.png"][24] == 16  # IHDR bit depth: written at the input's 16 bits
    with Image.open(out / "alpha.png") as alpha:
        assert alpha.mode == "RGBA" and np.array_equal(np.asarray(alpha)[:, :, 3], rgba[:, :, 3])


def test_encoder_processes_start_clean_without_torch(tmp_path):
    """Started by forkserver or spawn, not forked from this process (which holds torch, as a converting one
    does, maybe with CUDA): having written a result, an encoder process still has not loaded torch."""
    assert "torch" in __import__("sys").modules
    pool = encoder_pool("processes", 1)
    try:
        pool.submit(write_result, random_rgb(8, 8), tmp_path / "x.png", None, None, 95, "fast").result()
        assert pool.submit(eval, "'torch' in __import__('sys').modules").result() is False
    finally:
        pool.shutdown()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), random_rgb(8, 8))


@pytest.mark.parametrize("encoders", ["threads", "processes"])
def test_a_failing_write_stops_the_run_with_its_path_alike(tmp_path, tiny_model, encoders):
    for i in range(4):
        write(tmp_path / "in" / f"{i}.png", random_rgb(16, 16, seed=i))
    out = tmp_path / "out"
    (out / "2.png").mkdir(parents=True)  # a folder where a result goes: the write's rename fails (EISDIR)
    options = {"device": "cpu", "batch_size": 1, "workers": 0, "overwrite": True, "encoders": encoders}
    with pytest.raises(WriteError) as failed:
        convert_folder(tiny_model, tmp_path / "in", out, **options)
    assert str(failed.value) == f"cannot write {out / '2.png'}: Is a directory (conversion stopped)"
    assert not list(out.glob(".*"))  # no temporary file left
    assert not multiprocessing.active_children()  # the encoder processes were shut down

    base = ("convert", "--model", tiny_model, "--input", tmp_path / "in", "--output", out, "--device", "cpu")
    result = cli(*base, "--overwrite", "--encoders", encoders)
    one_line_error(result, f"cannot write {out / '2.png'}: Is a directory")


def test_an_encoder_process_that_dies_is_one_line_and_leaves_no_temporary(tmp_path, tiny_model, monkeypatch):
    """An encoder process killed mid-write (the OOM killer): one line naming it and what to do, exit code 2
    (a WriteError), the results written before it stay, no temporary file is left, and a re-run continues."""
    for i in range(4):
        write(tmp_path / "in" / f"{i}.png", random_rgb(16, 16, seed=i))
    out = tmp_path / "out"
    monkeypatch.setattr(pipeline, "write_result", write_or_die)
    monkeypatch.setattr(pipeline, "_auto_writers", lambda decoders: 1)  # one process: writes in job order
    base = ("convert", "--model", tiny_model, "--input", tmp_path / "in", "--output", out, "--device", "cpu",
            "--batch-size", 1, "--workers", 0)  # fmt: skip
    result = cli(*base, "--encoders", "processes")
    one_line_error(result, "an encoder process died (out of memory?): rerun with --encoders threads")
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "1.png"]  # 2.png's temporary file removed
    assert all(Image.open(out / name).size == (16, 16) for name in ("0.png", "1.png"))
    assert not multiprocessing.active_children()

    monkeypatch.setattr(pipeline, "write_result", write_result)
    rerun = cli(*base, "--encoders", "threads")
    assert rerun.exit_code == 0, rerun.output
    assert "Converted 2 image(s)" in rerun.output and "skipped 2 already there" in rerun.output


def test_remove_temporaries_takes_only_its_targets_own(tmp_path):
    """What cleans up after a killed encoder removes the temporary file of its target, not one of `a.b.png`'s
    (whose name starts alike) nor any other file."""
    target = tmp_path / "a.png"
    (tmp_path / ".a.png").write_bytes(b"not a temporary")
    with atomic_path(target) as mine, atomic_path(tmp_path / "a.b.png") as theirs:
        mine.write_bytes(b"half")
        theirs.write_bytes(b"other")
        remove_temporaries(target)
        assert not mine.exists() and theirs.exists()
        mine.write_bytes(b"whole")  # so that the write completes
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.png", "a.b.png", "a.png"]


@pytest.mark.slow  # compiling, even a tiny network, takes 10-20 s on a CPU
def test_compiled_conversion_is_within_one_level_of_eager(tmp_path, tiny_model, monkeypatch):
    for i in range(2):  # one batch: one shape, one compilation
        write(tmp_path / "in" / f"{i}.png", random_rgb(24, 32, seed=i))
    compiled, real_compile = [], torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **how: compiled.append(how) or real_compile(fn, **how))
    base = ("convert", "--model", tiny_model, "--input", tmp_path / "in", "--device", "cpu", "--batch-size", 2)
    assert cli(*base, "--output", tmp_path / "eager").exit_code == 0
    assert compiled == []
    result = cli(*base, "--output", tmp_path / "compiled", "--compile")
    assert result.exit_code == 0, result.output
    assert compiled == [{"dynamic": False, "mode": None}]  # on a GPU: reduce-overhead (CUDA graphs)
    for i in range(2):
        eager = np.asarray(Image.open(tmp_path / "eager" / f"{i}.png")).astype(int)
        fast = np.asarray(Image.open(tmp_path / "compiled" / f"{i}.png")).astype(int)
        assert eager.shape == fast.shape == (24, 32, 3)
        assert np.abs(eager - fast).max() <= 1


@pytest.mark.gpu
def test_compiled_conversion_on_a_gpu_keeps_every_batch(tmp_path, tiny_model):
    """A CUDA graph overwrites its outputs at its next replay, and the pipeline starts a batch before the one
    before it is written: every result of three shapes (two sizes, a short last batch) matches eager's."""
    for i in range(3):
        write(tmp_path / "in" / f"wide{i}.png", random_rgb(24, 32, seed=i))
    for i in range(2):
        write(tmp_path / "in" / f"small{i}.png", random_rgb(16, 16, seed=10 + i))
    options = {"device": "cuda", "batch_size": 2, "workers": 0}
    assert convert_folder(tiny_model, tmp_path / "in", tmp_path / "eager", **options).converted == 5
    assert convert_folder(tiny_model, tmp_path / "in", tmp_path / "compiled", compile=True, **options).converted == 5
    for path in sorted((tmp_path / "eager").glob("*.png")):
        eager = np.asarray(Image.open(path)).astype(int)
        fast = np.asarray(Image.open(tmp_path / "compiled" / path.name)).astype(int)
        assert eager.shape == fast.shape and np.abs(eager - fast).max() <= 1, path.name


@pytest.mark.parametrize("option", ["encoders", "compile"])
def test_convert_and_upscale_offer_the_switches_with_one_help(option):
    commands = typer.main.get_command(app).commands
    helps = [next(p.help for p in commands[name].params if p.name == option) for name in ("convert", "upscale")]
    assert helps[0] == helps[1] and helps[0]
    assert ("about a minute" in helps[0]) == (option == "compile")


@pytest.mark.parametrize("command", ["convert", "upscale"])
def test_a_bad_encoders_value_is_one_line(tmp_path, tiny_model, command):
    (tmp_path / "in").mkdir()
    result = cli(command, "--model", tiny_model, "--input", tmp_path / "in", "--output", tmp_path / "out",
                 "--encoders", "fibres")  # fmt: skip
    one_line_error(result, "--encoders 'fibres': choose auto, threads, processes")
