"""The add-on's split, as folders: ``kinetic_gan_blender/core/`` is the pure part and never
imports Blender's modules (``bpy``, ``mathutils``, ``bmesh``, …), torch, the ``kinetic_gan``
backend package or anything under ``blender/``, so it imports and runs outside Blender;
``kinetic_gan_blender/blender/`` is the glue, and each of its modules uses Blender. Nothing
else is left beside the two folders but the package ``__init__``, the manifest, the entry
script and the generated ``vendor/`` (the backend's bundled copies) and ``wheels/``."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import kinetic_gan_blender as addon

PACKAGE = Path(addon.__file__).resolve().parent
PURE, GLUE = "core", "blender"
BLENDER_ONLY = ("bpy", "mathutils", "bmesh", "gpu", "blf", "addon_utils")
BACKEND_ONLY = ("torch", "kinetic_gan")
# What may sit beside core/ and blender/: the package, Blender's manifest, the
# `blender --background --python` entry script, and the gitignored folders the build makes.
TOP_LEVEL = {"__init__.py", "blender_manifest.toml", "batch.py", PURE, GLUE}
GENERATED = {"vendor", "wheels", "__pycache__"}

# Run in a fresh interpreter: Blender's modules, torch and the backend package cannot be
# imported (a finder refuses them), then every pure module is imported; prints what it
# refused, what of them got loaded anyway, and which glue modules came along.
BLOCKED_IMPORT = r"""
import importlib, json, sys, traceback

BLOCKED = set(json.loads(sys.argv[2]))
refused = []


class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            refused.append(name)
            raise ImportError(f"{name} is blocked: the pure part must not import it")
        return None


sys.meta_path.insert(0, Refuse())
for name in list(sys.modules):
    if name.split(".")[0] in BLOCKED:
        sys.modules.pop(name)
failures = {}
for module in json.loads(sys.argv[1]):
    try:
        importlib.import_module(f"kinetic_gan_blender.{module}")
    except Exception:
        failures[module] = traceback.format_exc(limit=-3)
print(json.dumps({
    "failures": failures, "refused": refused,
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
    "glue": sorted(m for m in sys.modules if m.startswith("kinetic_gan_blender.blender")),
}))
"""


def modules_under(folder: str) -> list[str]:
    """The dotted names (``core.render.plan``) of the modules and packages in ``folder``."""
    out = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def source_of(module: str) -> Path:
    path = PACKAGE.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def package_of(module: str) -> list[str]:
    """The package a module's relative imports start from (a package is its own)."""
    parts = module.split(".")
    return parts if source_of(module).name == "__init__.py" else parts[:-1]


def imports_of(module: str) -> list[tuple[int, str]]:
    """(level, name) for every import in the module, inside functions too; relative ones
    resolved to a dotted name inside the add-on (``core.errors``), absolute ones as written.
    ``from . import x`` gives ``x`` as a module; ``from .m import x`` gives ``m`` and ``m.x``."""
    here = package_of(module)
    out = []
    for node in ast.walk(ast.parse(source_of(module).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            if node.level:
                assert node.level - 1 <= len(here), f"{module}: an import above the add-on"
                base = [*here[: len(here) - (node.level - 1)], *base]
            names = [".".join([*base, alias.name]) for alias in node.names]
            out += [(node.level, name) for name in names]
            if node.module:
                out.append((node.level, ".".join(base)))
    return out


def imported_by_name(module: str) -> list[str]:
    """Module names handed to ``importlib.import_module`` or ``__import__`` as literals."""
    out = []
    for node in ast.walk(ast.parse(source_of(module).read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        first = node.args[0]
        if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
            out.append(str(first.value))
    return out


def test_nothing_but_the_package_entry_points_sits_beside_core_and_blender():
    found = {p.name for p in PACKAGE.iterdir()} - GENERATED
    assert found - TOP_LEVEL == set(), "put it in core/ (no bpy) or blender/ (bpy)"
    assert TOP_LEVEL - found == set()


@pytest.mark.parametrize("folder", [PURE, GLUE])
def test_every_folder_of_code_is_a_package(folder):
    for path in (PACKAGE / folder).rglob("*.py"):
        assert (path.parent / "__init__.py").is_file(), f"{path.parent} has no __init__.py"


def test_the_pure_part_imports_with_blender_torch_and_the_backend_blocked():
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORT, json.dumps(modules_under(PURE)),
         json.dumps(BLENDER_ONLY + BACKEND_ONLY)],
        cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(PACKAGE.parent), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failures"] == {}, "\n".join(report["failures"].values())
    assert report["refused"] == [] and report["loaded"] == []
    assert report["glue"] == [], "importing core/ loaded blender/ modules"


@pytest.mark.parametrize("module", modules_under(PURE))
def test_a_pure_module_imports_only_the_pure_part_even_inside_functions(module):
    """Imports done lazily inside a function escape the import test: read the source too.
    Within the add-on a pure module reaches only core/ and the bundled vendor/."""
    for level, name in imports_of(module):
        if level == 0:
            assert name.split(".")[0] not in BLENDER_ONLY, f"{module} imports {name}"
            assert not name.startswith("kinetic_gan_blender"), f"{module} imports {name}"
        else:
            assert name.split(".")[0] in (PURE, "vendor"), f"{module} imports the add-on's {name}"


@pytest.mark.parametrize(
    "module", [m for m in modules_under(GLUE) if source_of(m).name != "__init__.py"]
)
def test_a_glue_module_uses_blender(module):
    """A module of blender/ that needs no Blender module belongs in core/, where it is
    tested without Blender."""
    names = [name for level, name in imports_of(module) if level == 0]
    assert any(name.split(".")[0] in BLENDER_ONLY for name in names), f"move {module} to core/"


ALL_MODULES = ["batch", *modules_under(PURE), *modules_under(GLUE)]


@pytest.mark.parametrize("module", ALL_MODULES)
def test_no_module_of_the_add_on_imports_torch_or_the_backend_package(module):
    """The add-on reaches the backend only as a server, through its bundled client (vendor/):
    no import of torch or the kinetic_gan package, lazy ones and importlib included."""
    names = [name for level, name in imports_of(module) if level == 0] + imported_by_name(module)
    for name in names:
        assert name.split(".")[0] not in BACKEND_ONLY, f"{module} imports {name}"
