"""How the console entry point ends a run that opened a process group."""

from __future__ import annotations

import pytest
import torch.distributed as dist

from translate import cli


@pytest.fixture
def process_group(tmp_path):
    """A one-process gloo group, as `accelerate launch` / torchrun would open for each process."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.mark.parametrize("code", [0, 1])
def test_a_finished_command_closes_the_process_group(monkeypatch, process_group, code):
    """Left open, gloo's threads can abort the interpreter at teardown after a successful run."""

    def command() -> None:
        raise SystemExit(code)

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == code
    assert not dist.is_initialized()


def test_a_crash_leaves_the_process_group_to_the_launcher(monkeypatch, process_group):
    """Destroying it then could wait on a process that is still inside a collective."""

    def command() -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(RuntimeError):
        cli.main()
    assert dist.is_initialized()
