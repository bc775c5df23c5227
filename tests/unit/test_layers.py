"""The package's layer order: every module imports only packages below its own.

The order is the one docs/architecture.md draws. A new top-level package or
module must be placed in a layer here, or this test fails and says so.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import emulator

# Bottom first. Names within one layer may not import each other.
LAYERS: list[set[str]] = [
    {"errdefs", "ids", "faults"},
    {"fabric", "ipam", "topology", "pluginhttp"},
    {"swarm"},
    {"drivers"},
    {"cnm"},
    {"api", "probes"},
    {"lab"},
    {"results"},
    {"report"},
    {"conformance"},
    {"experiments"},
    {"cli", "__init__", "__main__"},
]
# Separate programs that speak to the emulator only through its protocols.
PROGRAMS = {"mesh", "plugins"}
PROGRAM_MAY_USE = {"errdefs", "ids", "pluginhttp"}

ROOT = Path(emulator.__file__).parent


def top_level(path: Path) -> str:
    parts = path.relative_to(ROOT).parts
    return parts[0].removesuffix(".py")


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "emulator":
                names = [f"emulator.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "emulator" and len(parts) > 1:
                found.add(parts[1])
    return found


def layer_of(name: str) -> int:
    for index, layer in enumerate(LAYERS):
        if name in layer:
            return index
    raise KeyError(name)


def modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_top_level_package_has_a_layer() -> None:
    placed = set().union(*LAYERS) | PROGRAMS
    unplaced = sorted({top_level(p) for p in modules()} - placed)
    assert not unplaced, f"place these in LAYERS or PROGRAMS of {__file__}: {unplaced}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_only_downwards(path: Path) -> None:
    own = top_level(path)
    used = imported_packages(path) - {own}
    if own in PROGRAMS:
        assert used <= PROGRAM_MAY_USE, f"{own} is a separate program; it imports {used}"
        return
    upward = sorted(name for name in used if name in PROGRAMS or layer_of(name) >= layer_of(own))
    assert not upward, f"{path.relative_to(ROOT)} ({own}) imports {upward}, not below it"
