"""No import cycles: the modules of the backend package (``backend/kinetic_gan``) and of the
add-on (``blender_addon/kinetic_gan_blender``) import each other as a directed graph without
a circle, so each module can be read, tested and moved after the ones it uses.

The graph is read from the source with ``ast``, not by importing: every ``import`` and
``from … import`` anywhere in a module (inside functions and ``if`` blocks too, because a
lazy import is still a dependency), relative or absolute. ``from package import name`` is an
edge to ``package.name`` when that is a module, else to ``package``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "kinetic_gan": ROOT / "backend" / "kinetic_gan",
    "kinetic_gan_blender": ROOT / "blender_addon" / "kinetic_gan_blender",
}
# Generated copies of backend modules (gitignored), not the add-on's own code.
SKIPPED = {"vendor", "wheels", "__pycache__"}


def module_files(name: str, folder: Path) -> dict[str, Path]:
    """Dotted module name → source file, for every module and package under ``folder``."""
    out = {}
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder)
        if SKIPPED.intersection(rel.parts):
            continue
        parts = (name, *rel.with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _base_of(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The package a ``from`` import names, resolved against ``module`` when relative."""
    if node.level == 0:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` (source at ``path``) imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _base_of(module, path, node)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in known else base)
    return {m for m in found if m in known and m != module}


def import_graph(name: str, folder: Path) -> dict[str, set[str]]:
    files = module_files(name, folder)
    known = set(files)
    return {m: imports_of(m, p, known) for m, p in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, …, a]``, or None (a depth-first search, iterative)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        todo = [iter(sorted(graph[start]))]
        state[start] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(sorted(graph[nxt])))
    return None


def test_the_graph_is_read_from_the_source():
    # A sanity check of the reader itself: a known edge of each package is found.
    backend = import_graph("kinetic_gan", PACKAGES["kinetic_gan"])
    assert "kinetic_gan.errors" in backend["kinetic_gan.train.config"]
    addon = import_graph("kinetic_gan_blender", PACKAGES["kinetic_gan_blender"])
    assert {"kinetic_gan_blender.core.atomic", "kinetic_gan_blender.core.body",
            "kinetic_gan_blender.core.errors"} <= addon["kinetic_gan_blender.core.bone_map"]


def test_find_cycle_names_the_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_no_import_cycle(name):
    cycle = find_cycle(import_graph(name, PACKAGES[name]))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
