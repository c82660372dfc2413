"""``kinetic-gan addon build``: the installable Blender extension (.zip).

One source for the shared records, the wire format, atomic writes and the motion cleanup:
the backend's ``records/``, ``serve/protocol.py``, ``serve/client.py``, ``atomic.py`` and
``motion_cleanup.py`` are
copied into the add-on's ``vendor/`` (gitignored), in the same folders, so their relative
imports work there unchanged — by the build, and by the tests before they load the add-on
(``tests/conftest.py``). pyzmq wheels
for Linux, Windows and macOS are downloaded at build time (``pip download``) into the
gitignored ``wheels/`` cache and listed in the manifest; offline, the build goes on
without them and says so. Blender's own extension CLI (shipped in the
``bpy`` wheel) validates and packs the zip. A second zip, with the package as a folder,
installs as a legacy add-on in Blender < 4.2 (pyzmq must then be installed by hand).
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import kinetic_gan
from kinetic_gan.atomic import atomic_path, atomic_write
from kinetic_gan.errors import KineticGanError

PACKAGE_DIR = Path(kinetic_gan.__file__).resolve().parent
ADDON_DIR = PACKAGE_DIR.parents[1] / "blender_addon" / "kinetic_gan_blender"
# The modules the add-on bundles, by their path in the package. vendor/ mirrors those paths,
# so a copy's relative import (``from . import protocol``) means what it means here.
VENDORED = (
    "atomic.py",
    "records/__init__.py",
    "records/joint_tables.py",
    "records/request.py",
    "records/takes.py",
    "records/take_file.py",
    "records/shot.py",
    "serve/protocol.py",
    "serve/client.py",
    "motion_cleanup.py",
)
PYZMQ = "pyzmq==27.*"
# Blender platform -> pip platform tags that pyzmq publishes wheels for (CPython 3.11).
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_11_0_arm64", "macosx_10_15_universal2", "macosx_10_9_universal2"),
    "macos-x64": ("macosx_10_15_x86_64", "macosx_10_9_x86_64", "macosx_10_15_universal2"),
}
_HEADER = "# Copied from backend/kinetic_gan/{name} by `kinetic-gan addon build`. Do not edit.\n"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "wheels")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="addon_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build the extension .zip (and a legacy add-on .zip)")
    build.add_argument("--out", default="dist", help="output folder (default dist)")
    build.add_argument(
        "--no-wheels", action="store_true", help="skip downloading pyzmq wheels (offline builds)"
    )
    build.add_argument(
        "--platform",
        action="append",
        choices=sorted(PLATFORMS),
        help="bundle wheels for these platforms only (repeatable; default all)",
    )


def run(args: argparse.Namespace) -> int:
    result = build_addon(
        args.out, wheels=not args.no_wheels, platforms=args.platform, log=_print_err
    )
    for path in result:
        print(path)
    return 0


def _print_err(message: str) -> None:
    print(message, file=sys.stderr)


def addon_dir() -> Path:
    if not (ADDON_DIR / "blender_manifest.toml").is_file():
        raise KineticGanError(
            f"{ADDON_DIR}: add-on sources not found (build from a source checkout)"
        )
    return ADDON_DIR


def vendor_backend_modules(target: Path | None = None) -> Path:
    """Copy the ``VENDORED`` modules into ``target/vendor`` (default: the add-on source)."""
    vendor = (target or addon_dir()) / "vendor"
    texts = {name: _vendorable(name) for name in VENDORED}
    written = {vendor / "__init__.py"}
    for name, text in texts.items():
        written.add(_write(vendor / name, _HEADER.format(name=name) + text))
    for package in sorted({PurePosixPath(n).parent for n in VENDORED} - {PurePosixPath(".")}):
        init = vendor / package / "__init__.py"
        if init not in written:  # a package none of whose own code is bundled
            written.add(_write(init, f'"""Copies of backend/kinetic_gan/{package}/ modules."""\n'))
    _write(
        vendor / "__init__.py",
        '"""The backend\'s shared records, wire format, client, atomic writes and motion '
        'cleanup, copied at build time."""\n',
    )
    _remove_stale(vendor, written)
    return vendor


def _vendorable(name: str) -> str:
    """The text of package module ``name``, refused if its copy could not import."""
    text = (PACKAGE_DIR / name).read_text(encoding="utf-8")
    absolute = re.search(r"^\s*(from|import)\s+kinetic_gan\b", text, re.MULTILINE)
    if absolute:
        raise KineticGanError(
            f"{name}: imports the kinetic_gan package ({absolute.group(0).strip()}); "
            "the add-on can only bundle stdlib/numpy/pyzmq modules"
        )
    for module in _relative_imports(name, text):
        if f"{module}.py" not in VENDORED and f"{module}/__init__.py" not in VENDORED:
            raise KineticGanError(
                f"{name}: imports {module.replace('/', '.')}, which the add-on does not bundle"
            )
    return text


def _relative_imports(name: str, text: str) -> list[str]:
    """Package paths (``serve/protocol``) of the modules ``name`` imports relatively."""
    here = PurePosixPath(name).parent.parts
    found = []
    for node in ast.walk(ast.parse(text, filename=name)):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        if node.level - 1 > len(here):
            raise KineticGanError(f"{name}: a relative import reaches above the package")
        base = here[: len(here) - (node.level - 1)]
        if node.module:
            found.append("/".join((*base, *node.module.split("."))))
        else:  # ``from . import protocol``: each name is a module
            found += ["/".join((*base, alias.name)) for alias in node.names]
    return found


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as handle:
        handle.write(text)
    return path


def _remove_stale(vendor: Path, keep: set[Path]) -> None:
    """Delete copies of modules no longer bundled (moved or dropped), and emptied folders."""
    for path in sorted(vendor.rglob("*.py"), reverse=True):
        if path not in keep:
            path.unlink(missing_ok=True)
    for folder in sorted((p for p in vendor.rglob("*") if p.is_dir()), reverse=True):
        if folder.name != "__pycache__" and not any(folder.glob("*.py")):
            shutil.rmtree(folder, ignore_errors=True)


def download_wheels(dest: Path, platforms: list[str], log=_print_err) -> dict[str, list[Path]]:
    """pyzmq wheels per Blender platform (cached in ``dest``); platforms that fail are left out."""
    dest.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[Path]] = {}
    for platform in platforms:
        tags = PLATFORMS[platform]
        cached = [w for w in dest.glob("pyzmq-27.*.whl") if any(t in w.name for t in tags)]
        if not cached:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                   "--no-deps", "--python-version", "3.11", "--dest", str(dest)]
            for tag in tags:
                cmd += ["--platform", tag]
            done = subprocess.run([*cmd, PYZMQ], capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
                log(f"warning: no pyzmq wheel for {platform} ({last}); building without it")
                continue
            cached = [w for w in dest.glob("pyzmq-27.*.whl") if any(t in w.name for t in tags)]
        if cached:
            found[platform] = sorted(cached)[-1:]
    return found


def _blender_ext_cli() -> Path | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec("bpy")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        hits = sorted(Path(root).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if hits:
            return hits[-1]
    return None


def _write_manifest(staging: Path, wheels: dict[str, list[Path]]) -> None:
    manifest = staging / "blender_manifest.toml"
    text = manifest.read_text(encoding="utf-8")
    if wheels:
        names = sorted({w.name for ws in wheels.values() for w in ws})
        keys = "wheels = [\n" + "".join(f'  "./wheels/{n}",\n' for n in names) + "]\n"
        keys += "platforms = [" + ", ".join(f'"{p}"' for p in sorted(wheels)) + "]\n"
        # Top-level keys must come before the first [table].
        text = text.replace("[permissions]", keys + "\n[permissions]", 1)
    manifest.write_text(text, encoding="utf-8")


def _zip_folder(source: Path, target: Path, prefix: str) -> None:
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, f"{prefix}{path.relative_to(source).as_posix()}")


def build_addon(
    out: str | Path,
    wheels: bool = True,
    platforms: list[str] | None = None,
    log=_print_err,
) -> list[Path]:
    """Build ``kinetic_gan-VERSION.zip`` (extension) and ``…-legacy.zip`` into ``out``."""
    source = addon_dir()
    vendor_backend_modules(source)
    version = re.search(
        r'^version\s*=\s*"([^"]+)"', (source / "blender_manifest.toml").read_text(), re.MULTILINE
    )
    if version is None:
        raise KineticGanError(f"{source}/blender_manifest.toml: no version")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundled: dict[str, list[Path]] = {}
    if wheels:
        bundled = download_wheels(source / "wheels", platforms or sorted(PLATFORMS), log)
    with tempfile.TemporaryDirectory(prefix="kgan-addon-") as tmp:
        staging = Path(tmp) / "kinetic_gan"
        shutil.copytree(source, staging, ignore=_IGNORE)
        if bundled:
            (staging / "wheels").mkdir()
            for ws in bundled.values():
                for w in ws:
                    shutil.copy2(w, staging / "wheels" / w.name)
        _write_manifest(staging, bundled)
        extension = out_dir / f"kinetic_gan-{version.group(1)}.zip"
        cli = _blender_ext_cli()
        if cli is None:
            log("warning: Blender's extension CLI (from the bpy module) not found; "
                "packing without manifest validation")
            _zip_folder(staging, extension, "")
        else:
            with atomic_path(extension) as tmp_zip:
                done = subprocess.run(
                    [sys.executable, str(cli), "build", "--source-dir", str(staging),
                     "--output-filepath", str(tmp_zip)],
                    capture_output=True, text=True, timeout=300,
                )
                if done.returncode != 0:
                    detail = (done.stdout + done.stderr).strip().splitlines()
                    raise KineticGanError(f"extension build failed: {' | '.join(detail[-3:])}")
        legacy_source = Path(tmp) / "legacy"
        shutil.copytree(source, legacy_source, ignore=_IGNORE)
        legacy = out_dir / f"kinetic_gan_blender-{version.group(1)}-legacy.zip"
        _zip_folder(legacy_source, legacy, "kinetic_gan_blender/")
    if not bundled:
        log("warning: built without pyzmq wheels: Blender needs pyzmq installed to reach a backend")
    return [extension, legacy]
