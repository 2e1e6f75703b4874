"""translate/run_folder.py (the run folder's layout and formats) and the pairing key of two folders."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import translate.run_folder as run_folder
from translate.data.folders import images_by_key, pair_folders, pairing_key, pairs_by_name
from translate.errors import ConfigError, DataError
from translate.run_folder import (
    MARKER,
    RunFolder,
    append_jsonl,
    checkpoint_name,
    find_models,
    incomplete_checkpoints,
    latest_checkpoint,
    list_checkpoints,
    read_jsonl,
    read_losses,
    read_run_settings,
    truncate_jsonl,
)


def lines(*records: dict | str) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


# -- the layout ---------------------------------------------------------------------------------------


def test_the_layout_of_a_run(tmp_path):
    run = RunFolder(tmp_path)
    names = {k: getattr(run, k).relative_to(tmp_path).as_posix() for k in ("config", "log", "metrics", "plot")}
    assert names == {"config": "config.yaml", "log": "log.jsonl", "metrics": "metrics.jsonl", "plot": "losses.png"}
    assert run.best == tmp_path / "models" / "best" and run.tensorboard == tmp_path / "tensorboard"
    assert run.sample_grid(12) == tmp_path / "samples" / "step-00000012.png"
    assert checkpoint_name(12) == "step-00000012"


def test_a_run_folder_is_told_from_any_other_folder(tmp_path):
    assert not RunFolder(tmp_path / "missing").is_run()
    (tmp_path / "notes.txt").write_text("")
    assert not RunFolder(tmp_path).is_run()
    (tmp_path / "models").mkdir()
    assert RunFolder(tmp_path).is_run()


def test_sample_grids_in_step_order_and_nothing_else(tmp_path):
    run = RunFolder(tmp_path)
    assert run.sample_grids() == []
    run.samples.mkdir()
    for step in (100, 20, 3):
        run.sample_grid(step).write_bytes(b"")
    for junk in ("step-x.png", "step-00000004.jpg", "other.png", "step-.png"):
        (run.samples / junk).write_bytes(b"")
    assert run.sample_grids() == [(3, run.sample_grid(3)), (20, run.sample_grid(20)), (100, run.sample_grid(100))]


# -- JSONL ------------------------------------------------------------------------------------------


def test_read_jsonl_skips_what_is_no_record_and_a_torn_last_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(
        lines(
            {"step": 1, "losses": {"G": 1.0}},
            "",
            "not json",
            "[1, 2]",
            {"no": "step"},
            {"step": "3"},
            {"step": True},
            {"step": 2.5},
            {"step": 2.0, "x": 1},
        )
        + '{"step": 3, "los'
    )
    records = read_jsonl(path)
    assert records == [{"step": 1, "losses": {"G": 1.0}}, {"step": 2, "x": 1}]
    assert isinstance(records[1]["step"], int)
    assert read_jsonl(tmp_path / "missing.jsonl") == [] and read_jsonl(tmp_path) == []


def test_read_jsonl_lets_a_restarted_step_replace_what_was_logged_at_or_after_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(lines(*({"step": s, "v": "first"} for s in (10, 20, 30)), {"step": 20, "v": "again"}))
    assert [(r["step"], r["v"]) for r in read_jsonl(path)] == [(10, "first"), (20, "again")]


def test_read_jsonl_survives_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(lines({"step": 1}).encode() + b'{"step": 2, "x": "\xff\xfe"}\n' + b"\xc3")
    assert [r["step"] for r in read_jsonl(path)] == [1, 2]


def test_truncate_keeps_the_lines_up_to_the_step_as_they_were(tmp_path):
    path = tmp_path / "log.jsonl"
    kept = ['{"step": 1, "losses": {"G": 1.0}}', '{"losses": {"G": 2.0},   "step": 2}']
    path.write_text("\n".join([*kept, "garbage", '{"step": 3}', '{"step": 4}', '{"step": 5, "lo']))
    truncate_jsonl(path, 2)
    assert path.read_text() == "".join(f"{line}\n" for line in kept)
    append_jsonl(path, {"step": 3, "losses": {"G": 3.0}})  # the resumed run appends on a line of its own
    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 3]
    truncate_jsonl(path, 0)
    assert path.read_text() == ""
    truncate_jsonl(tmp_path / "missing.jsonl", 5)
    assert not (tmp_path / "missing.jsonl").exists()


def test_loss_series_for_plots(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(
        lines(
            {"step": 10, "losses": {"G": 1.0, "D": 0.5}},
            {"step": 20, "losses": {"G": float("nan"), "D": 0.4}},
            {"step": 30, "losses": "broken"},
            {"step": 40, "losses": {"G": "x"}},
            {"step": 30, "losses": {"G": 0.8, "D": 0.3}},  # resumed from step 20: replaces 30 and 40
        )
        + '{"step": 40, "losses": {"G"'
    )
    series = read_losses(log)
    assert series == {"G": ([10.0, 30.0], [1.0, 0.8]), "D": ([10.0, 20.0, 30.0], [0.5, 0.4, 0.3])}
    log.write_text(lines({"step": 1, "losses": {"N": float("inf")}}))
    assert read_losses(log) == {}  # only non-finite values: nothing to plot
    assert read_losses(tmp_path / "missing.jsonl") == {}


# -- settings -------------------------------------------------------------------------------------


def test_settings_strict_and_lenient(tmp_path):
    assert read_run_settings(tmp_path) == (None, None)  # no config.yaml: nothing saved, in both modes
    assert read_run_settings(tmp_path, strict=False) == (None, None)
    config = tmp_path / "config.yaml"
    config.write_text("method: cyclegan\nlr: 0.0002\n")
    assert read_run_settings(tmp_path).values == {"method": "cyclegan", "lr": 0.0002}
    assert read_run_settings(tmp_path, strict=False) == ({"method": "cyclegan", "lr": 0.0002}, None)
    config.write_text("")
    assert read_run_settings(tmp_path).values == {}
    for text, words in (("method: [unclosed\n", "could not be parsed"), ("- a\n- b\n", "must hold a mapping")):
        config.write_text(text)
        with pytest.raises(ConfigError, match=words):
            read_run_settings(tmp_path)
        values, problem = read_run_settings(tmp_path, strict=False)
        assert values is None and words in problem and "\n" not in problem and str(config) in problem
    config.write_bytes(b"method: \xff\xfe\n")
    with pytest.raises(ConfigError, match="could not be read"):
        read_run_settings(tmp_path)
    assert read_run_settings(tmp_path, strict=False).values is None


# -- models ---------------------------------------------------------------------------------------


def model(folder: Path, **spec: object) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(spec))
    return folder


def test_final_models_never_include_best_and_need_a_config(tmp_path):
    models = tmp_path / "models"
    a2b, b2a = model(models / "a2b"), model(models / "b2a")
    (models / "empty").mkdir()
    (models / "file.json").write_text("{}")
    model(models / "best" / "a2b", step=4)
    final, best = find_models(models)
    assert final == {"a2b": a2b, "b2a": b2a} and list(final) == ["a2b", "b2a"]
    assert best == {"a2b": models / "best" / "a2b"}
    assert find_models(tmp_path / "missing") == ({}, {})


@pytest.mark.parametrize(
    ("finals", "spec", "name"),
    [
        (("a2b", "b2a"), {"direction": "b2a"}, "b2a"),  # the direction it names
        (("a2b",), {"direction": "sideways"}, "a2b"),  # a direction the run has no model of: the only one
        (("sr",), {}, "sr"),  # no direction: the run's only model
        (("a2b", "b2a"), {}, "best"),  # no way to tell
        ((), {"direction": "a2b"}, "best"),  # best written, final not yet exported
    ],
)
def test_one_best_model_is_named_after_what_it_is(tmp_path, finals, spec, name):
    for final in finals:
        model(tmp_path / final)
    best = model(tmp_path / "best", **spec)
    assert find_models(tmp_path)[1] == {name: best}


def test_an_unreadable_best_config_still_counts_as_a_model(tmp_path):
    model(tmp_path / "a2b")
    model(tmp_path / "b2a")
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "config.json").write_text("{torn")
    assert find_models(tmp_path)[1] == {"best": tmp_path / "best"}


# -- checkpoints ----------------------------------------------------------------------------------


def test_only_marked_step_folders_are_checkpoints(tmp_path):
    folder = tmp_path / "checkpoints"
    assert list_checkpoints(folder) == [] and latest_checkpoint(folder) is None
    for step in (10, 2, 30):
        (folder / checkpoint_name(step)).mkdir(parents=True)
        if step != 30:
            (folder / checkpoint_name(step) / MARKER).write_text("{}")
    (folder / ".step-00000040.tmp").mkdir()
    (folder / "step-00000050").write_text("a file, not a folder")
    assert [p.name for p in list_checkpoints(folder)] == ["step-00000002", "step-00000010"]
    assert latest_checkpoint(folder) == folder / "step-00000010"
    assert incomplete_checkpoints(folder) == [folder / "step-00000030"]


# -- the pairing key of two folders ---------------------------------------------------------------


def touch(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


def test_the_pairing_key_is_the_relative_path_without_extension(tmp_path):
    assert pairing_key(tmp_path / "sub" / "x.y.JPG", tmp_path) == "sub/x.y"
    assert pairing_key(tmp_path / "1.png", tmp_path) == "1"
    with pytest.raises(ValueError):
        pairing_key(Path("/elsewhere/1.png"), tmp_path)


def test_pairing_two_folders(tmp_path):
    a = touch(tmp_path / "A", "1.jpg", "sub/2.png", "3.png")
    b = touch(tmp_path / "B", "1.png", "sub/2.webp", "3.bmp")
    expected = [(a / "1.jpg", b / "1.png"), (a / "3.png", b / "3.bmp"), (a / "sub/2.png", b / "sub/2.webp")]
    assert pair_folders(a, b) == expected  # in key order
    assert pairs_by_name(a, b)
    touch(b, "2.png")  # same name, other place: no partner
    with pytest.raises(DataError, match=r"1 file in .*B without a partner in .*A: 2\.png"):
        pair_folders(a, b)
    assert not pairs_by_name(a, b)


def test_pairing_lists_at_most_three_lonely_files(tmp_path):
    a = touch(tmp_path / "A", *(f"{i}.png" for i in range(5)))
    b = touch(tmp_path / "B", "0.png")
    with pytest.raises(DataError, match=r"4 files in .* without a partner in .*: 1\.png, 2\.png, 3\.png and 1 more$"):
        pair_folders(a, b)


def test_two_images_with_one_key_make_pairing_a_guess(tmp_path):
    root = touch(tmp_path / "A", "x.jpg", "x.png", "y.png")
    with pytest.raises(DataError, match="two images named 'x'"):
        images_by_key(root)
    assert images_by_key(root, unique=False) == {"x": root / "x.png", "y": root / "y.png"}  # the last by path


# -- layering -------------------------------------------------------------------------------------


def test_run_folder_imports_nothing_above_the_base():
    """It sits beside the zoo: engine, inference, nets, methods or report may not be imported, so the
    report and the zoo read runs without loading the engine (and no import cycle can form)."""
    allowed = {"translate.config", "translate.errors", "translate.atomic", "translate.version", "translate.choices"}
    tree = ast.parse(Path(run_folder.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    ours = {name for name in imported if name.split(".")[0] == "translate"}
    assert ours and ours <= allowed, ours - allowed
    assert not {name.split(".")[0] for name in imported} & {"torch", "accelerate", "numpy", "PIL"}


def test_non_finite_steps_are_no_records(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"step": NaN}\n{"step": Infinity}\n{"step": 1}\n')
    assert [r["step"] for r in read_jsonl(path)] == [1]
