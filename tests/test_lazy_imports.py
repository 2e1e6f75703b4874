"""Imports inside functions say why: each is marked `# lazy: reason` (or a bare `# lazy` where the module's
docstring gives the reason once), on its line or the line above. Everything else is imported at the top.

The reasons are of a few kinds: the CLI's start-up (`translate --help` loads no torch), optional extras
(torch-fidelity, spandrel, onnxruntime), and modules meant to import light (the report page, the data
set catalog, image I/O): the last are checked here by importing them in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.source_imports import PACKAGE, Import, runtime_imports

MARKER = "# lazy"


def function_level_imports(tree: ast.AST) -> list[Import]:
    """Imports inside a function (at any depth), except under `if TYPE_CHECKING:`."""
    return [node for node, in_function in runtime_imports(tree) if in_function]


def unexplained(source: str) -> list[int]:
    """Line numbers of function-level imports with no `# lazy` on their line or the line above."""
    lines = source.splitlines()
    return [
        node.lineno
        for node in function_level_imports(ast.parse(source))
        if not any(MARKER in lines[i] for i in (node.lineno - 1, node.lineno - 2) if i >= 0)
    ]


def test_every_function_level_import_says_why():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        wrong += [f"{path.relative_to(PACKAGE.parent)}:{n}: {lines[n - 1].strip()}" for n in unexplained(source)]
    assert not wrong, (
        "imports inside functions must say why they are not at the top (`# lazy: reason`), "
        "or move to the top:\n" + "\n".join(wrong)
    )


def test_the_check_catches_an_unexplained_import():
    """The rule is only worth something if it can fail."""
    source = (
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import torch\n"
        "def f():\n"
        "    if TYPE_CHECKING:\n"
        "        import numpy\n"
        "    import json\n"  # 8: unexplained
        "    import yaml  # lazy: the CLI reads this module at start-up\n"
        "    # lazy: an optional extra\n"
        "    import spandrel\n"
        "    class C:\n"
        "        def g(self):\n"
        "            from PIL import Image\n"  # 14: unexplained, however deep
        "    return lambda: None\n"
    )
    assert unexplained(source) == [8, 14]


# The modules whose laziness is a promise (their `# lazy` reasons say so): imported alone, in a fresh
# interpreter, they load none of these. `translate.cli` (no torch, numpy, accelerate, albumentations)
# is checked by tests/test_cli_errors.py::test_cli_start_up_does_not_import_heavy_libraries.
LIGHT = {
    "translate.report_page": ("torch", "numpy", "PIL", "matplotlib"),
    "translate.data.catalog": ("torch", "numpy", "PIL"),  # `translate datasets list`: standard library only
    "translate.pretrained": ("torch",),
    "translate.data.images": ("torch",),
    "translate.data.pixels": ("torch", "cv2"),  # OpenCV only once a 16-bit colour file comes
    "translate.inference.encoding": ("torch",),  # what encoder processes import (--encoders processes)
    "translate.data.datasets": ("albumentations", "cv2"),  # super-resolution data never augments
    "translate.inference.runner": ("accelerate",),  # the Python API on images
}


@pytest.mark.parametrize("module", sorted(LIGHT))
def test_light_modules_import_light(module):
    code = f"import sys, {module}; print([m for m in {LIGHT[module]!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"importing {module} loaded {done.stdout.strip()}"
