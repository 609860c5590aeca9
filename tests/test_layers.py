"""The package's folders are its layers: no import runs upward or sideways, no module cycle, no UI code.

Read from the source with `ast` (every import, at module level or inside a function), so a lazy import
that breaks the layering is caught too."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spatial_ssrl"
#: Sub-package (or root module) -> layer. A module may import its own sub-package and lower layers only.
LAYERS = {
    "cores": 0, "lazy": 0, "resume": 0, "scenes": 0,
    "tasks": 1, "reward": 1,
    "analysis": 2, "views": 2,
    "data": 3, "models": 3,
    "training": 4,
    "commands": 5, "cli": 6, "__main__": 7,
}


def modules() -> dict[str, set[str]]:
    """Every module of the package -> the project modules it imports."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.level == 0, f"{name}: relative import (the project imports absolutely)"
                imported |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        graph[name] = imported
    return {name: {dep for dep in deps if dep in graph and dep != name} | {dep for dep in deps if dep.startswith(("demo", "gradio"))}
            for name, deps in graph.items()}


def part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "root"


def test_every_sub_package_has_a_layer():
    assert {part(module) for module in modules() if module != "spatial_ssrl"} == set(LAYERS)


def test_no_import_runs_upward_or_sideways():
    wrong = []
    for module, deps in modules().items():
        if module == "spatial_ssrl":
            continue
        for dep in deps:
            if dep == "spatial_ssrl" or part(dep) == part(module):
                continue
            if dep.startswith(("demo", "gradio")) or LAYERS[part(dep)] >= LAYERS[part(module)]:
                wrong.append(f"{module} -> {dep}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_the_verifier_imports_nothing_of_the_project():
    """EasyR1 loads verify.py by its path: it must stand alone."""
    assert not modules()["spatial_ssrl.reward.verify"]


def test_no_module_cycle():
    graph = modules()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep] if dep in path else [module, dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_checks_catch_an_upward_import_and_a_cycle(monkeypatch):
    """The checks themselves can fail: a scenes module importing a task is reported, and so is a cycle."""
    graph = modules()
    graph["spatial_ssrl.scenes.scene"] = graph["spatial_ssrl.scenes.scene"] | {"spatial_ssrl.tasks"}
    monkeypatch.setattr(sys.modules[__name__], "modules", lambda: graph)
    with pytest.raises(AssertionError, match="spatial_ssrl.scenes.scene -> spatial_ssrl.tasks"):
        test_no_import_runs_upward_or_sideways()
    graph["spatial_ssrl.scenes.scene"] = graph["spatial_ssrl.scenes.scene"] | {"spatial_ssrl.scenes.loaders"}
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_module_cycle()
