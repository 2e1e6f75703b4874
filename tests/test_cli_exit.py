"""How the console entry point ends a run that opened a process group."""

from __future__ import annotations

import gc

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


class _InACycle:
    """Stands for a DDP-wrapped network: only the cycle collector frees it."""

    freed_with_group_open: list[bool] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        self.freed_with_group_open.append(dist.is_initialized())


@pytest.mark.parametrize("code", [0, 1])
def test_a_finished_command_frees_its_networks_then_closes_the_process_group(monkeypatch, process_group, code):
    """Left to interpreter teardown, DDP networks and gloo's threads aborted one process in thirty
    (SIGABRT after a successful run): both go while the interpreter is whole, networks first."""
    _InACycle.freed_with_group_open.clear()

    def command() -> None:
        _InACycle()
        raise SystemExit(code)

    monkeypatch.setattr(cli, "app", command)
    gc.disable()  # so that only main() can collect the cycle
    try:
        with pytest.raises(SystemExit) as done:
            cli.main()
    finally:
        gc.enable()
    assert done.value.code == code
    assert _InACycle.freed_with_group_open == [True]
    assert not dist.is_initialized()


def test_a_crash_leaves_the_process_group_to_the_launcher(monkeypatch, process_group):
    """Destroying it then could wait on a process that is still inside a collective."""

    def command() -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(RuntimeError):
        cli.main()
    assert dist.is_initialized()
