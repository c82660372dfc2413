"""The add-on's split, as declared in ``kinetic_gan_blender.PURE_MODULES`` and
``GLUE_MODULES``: the pure part never imports ``bpy`` (nor ``mathutils``/``bmesh``, nor a glue
module), so it imports and runs outside Blender; every module is declared on one side."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import kinetic_gan_blender as addon

PACKAGE = Path(addon.__file__).resolve().parent
BLENDER_ONLY = ("bpy", "mathutils", "bmesh", "gpu", "blf", "addon_utils")

# Run in a fresh interpreter: Blender's modules cannot be imported (a finder refuses them and
# names the importer), then every pure module is imported; prints what it refused.
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
for name in BLOCKED:
    sys.modules.pop(name, None)
failures = {}
for module in json.loads(sys.argv[1]):
    try:
        importlib.import_module(f"kinetic_gan_blender.{module}")
    except Exception:
        failures[module] = traceback.format_exc(limit=-3)
print(json.dumps({"failures": failures, "refused": refused,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}))
"""


def package_modules() -> set[str]:
    """Every module of the add-on (vendor/ is the backend's own copy: not ours to declare)."""
    out = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("vendor", "wheels") or rel.name == "__init__.py":
            continue
        out.add(".".join(rel.with_suffix("").parts))
    return out


def test_every_module_is_declared_pure_or_glue_once():
    pure, glue = set(addon.PURE_MODULES), set(addon.GLUE_MODULES)
    assert len(pure) == len(addon.PURE_MODULES) and len(glue) == len(addon.GLUE_MODULES)
    assert not pure & glue, f"declared both pure and glue: {sorted(pure & glue)}"
    modules = package_modules()
    assert modules - pure - glue == set(), "undeclared: add them to PURE_MODULES or GLUE_MODULES"
    assert (pure | glue) - modules == set(), "declared but missing"


def test_the_pure_part_imports_with_blender_modules_blocked():
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORT, json.dumps(list(addon.PURE_MODULES)),
         json.dumps(BLENDER_ONLY)],
        cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(PACKAGE.parent), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failures"] == {}, "\n".join(report["failures"].values())
    assert report["refused"] == [] and report["loaded"] == []


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(level, absolute-or-relative module) for every import in the file, functions included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            out += [(node.level, f"{base}.{a.name}" if base else a.name) for a in node.names]
            if base:
                out.append((node.level, base))
    return out


@pytest.mark.parametrize("module", addon.PURE_MODULES)
def test_a_pure_module_names_no_blender_module_and_no_glue_even_inside_functions(module):
    """Imports done lazily inside a function escape the import test: read the source too."""
    path = PACKAGE.joinpath(*module.split(".")).with_suffix(".py")
    here = module.split(".")[:-1]
    glue = set(addon.GLUE_MODULES)
    for level, name in imports_of(path):
        if level == 0:
            assert name.split(".")[0] not in BLENDER_ONLY, f"{module} imports {name}"
            continue
        target = ".".join([*here[: len(here) - (level - 1)], name]) if level else name
        assert target not in glue, f"{module} imports the glue module {target}"



BACKEND_ONLY = ("torch", "kinetic_gan")
# cleanup.py still falls back to kinetic_gan.motion_cleanup when vendor/ lacks its copy;
# strict, so this test says when the fallback is gone and the entry can go too.
BACKEND_FALLBACK = {"cleanup"}


def _backend_import_case(module: str):
    if module not in BACKEND_FALLBACK:
        return module
    reason = "falls back to the backend package's motion_cleanup"
    return pytest.param(module, marks=pytest.mark.xfail(strict=True, reason=reason))


def imported_by_name(path: Path) -> list[str]:
    """Module names handed to ``importlib.import_module`` or ``__import__`` as literals."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        first = node.args[0]
        if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
            out.append(str(first.value))
    return out


@pytest.mark.parametrize("module", [_backend_import_case(m) for m in sorted(package_modules())])
def test_no_module_of_the_add_on_imports_torch_or_the_backend_package(module):
    """The add-on reaches the backend only as a server, through its bundled client (vendor/):
    no import of torch or the kinetic_gan package, lazy ones and importlib included."""
    path = PACKAGE.joinpath(*module.split(".")).with_suffix(".py")
    names = [name for level, name in imports_of(path) if level == 0] + imported_by_name(path)
    for name in names:
        assert name.split(".")[0] not in BACKEND_ONLY, f"{module} imports {name}"
