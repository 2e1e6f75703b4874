"""The package's layers, locked: imports point one way and no modules import each other.

Read from the source (no import is executed), module-level and function-level imports alike: an
import inside a function still runs, so it still makes a cycle. Only `if TYPE_CHECKING:` blocks
are left out. docs/ARCHITECTURE.md describes the layers; change both together.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.source_imports import PACKAGE, runtime_imports

# Top to bottom. A module may import from its own group and from any group of a lower layer; groups
# that share a layer are independent of each other (nets never imports data, and so on).
LAYERS: list[list[tuple[str, ...]]] = [
    [("translate", "translate.__main__", "translate.cli", "translate.cli_*")],  # the package root is the API facade
    [("translate.report_page",), ("translate.serve",)],  # nothing but the CLI imports either
    [("translate.engine",)],
    [("translate.methods",), ("translate.evaluation",), ("translate.export",)],
    [("translate.inference",)],
    [("translate.zoo", "translate.pretrained", "translate.model_folder", "translate.run_folder")],
    [("translate.nets",), ("translate.data",), ("translate.metrics",), ("translate.losses",)],
    [("translate.config",)],
    [tuple(f"translate.{m}" for m in ("errors", "atomic", "cache", "version", "choices", "progress", "hardware"))],
]


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """module -> the translate modules it imports at run time (`from a import b` counts a.b when b is a module)."""
    modules = module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node, _ in runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = name.split(".") if is_package else name.split(".")[:-1]
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in candidates:
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != name and target.startswith("translate"):
                    targets.add(target)
        graph[name] = targets
    return graph


def _matches(module: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return module.startswith(pattern[:-1])
    return module == pattern or (pattern != "translate" and module.startswith(pattern + "."))


def place(module: str) -> tuple[int, int]:
    """(layer, group) of a module: layer 0 is the top."""
    for layer, groups in enumerate(LAYERS):
        for group, patterns in enumerate(groups):
            if any(_matches(module, p) for p in patterns):
                return layer, group
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and docs/ARCHITECTURE.md)")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_every_module_has_a_layer():
    for module in module_names():
        place(module)


def test_imports_point_down_the_layers():
    wrong = []
    for module, targets in sorted(import_graph().items()):
        layer, group = place(module)
        for target in sorted(targets):
            target_layer, target_group = place(target)
            if target_layer < layer or (target_layer == layer and target_group != group):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_nothing_imports_the_package_root():
    importers = sorted(m for m, targets in import_graph().items() if "translate" in targets)
    assert not importers, f"import from the real module, not the package root: {importers}"


def test_no_import_cycles():
    assert not cycles(import_graph())


def test_the_checks_catch_a_cycle_and_an_upward_import():
    """The contract is only worth something if it can fail."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert place("translate.nets.resnet")[0] > place("translate.inference.runner")[0]
    assert place("translate.nets.resnet") != place("translate.data.images")
