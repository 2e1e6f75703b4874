"""Shared fixtures: every test gets its own cache folder, so built-in domains are generated fresh
and nothing from the user's ~/.cache leaks in.

Test modules are named `test_<area>.py` or `test_<area>_<aspect>.py`: the area (a part of translate or a
method: data, cli, training, cyclegan, superres, ...) comes first, so that one area's modules sit together
(test_data.py, test_data_bad_inputs.py, test_data_fuzz.py). Shared builders live in tests/helpers.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import save_tiny_model


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu are skipped where torch sees no CUDA GPU (they stay collected, so -m gpu lists them)."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in gpu_tests:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TRANSLATE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """Accelerate keeps one process-wide state, fixed by the first Accelerator (its precision, its device).
    A real `translate` process builds one; tests build many, so each starts from a clean state, the way
    accelerate's own AccelerateTestCase does."""
    yield
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny networks run no faster on two threads, and far slower when the cores are shared: modules of
    many small training runs use it (`pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_model(tmp_path) -> Path:
    """TMP/model: a tiny CycleGAN generator (helpers.TINY_GENERATOR, seed 0) exported as a 32 px a2b model."""
    return save_tiny_model(tmp_path / "model", size=32, direction="a2b")
