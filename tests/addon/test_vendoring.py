"""What the add-on bundles from the backend: copies that import each other and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kinetic_gan.commands import addon
from kinetic_gan.errors import KineticGanError

# Run in a fresh interpreter where the kinetic_gan package cannot be imported at all.
IMPORT_ALONE = """
import sys
sys.modules["kinetic_gan"] = None
sys.path.insert(0, sys.argv[1])
import importlib
for name in sys.argv[2:]:
    importlib.import_module(name)
"""


def test_the_vendored_modules_import_without_the_backend(tmp_path):
    vendor = addon.vendor_backend_modules(tmp_path)
    modules = [f"vendor.{name.removesuffix('.py').replace('/', '.')}" for name in addon.VENDORED]
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALONE, str(vendor.parent), *modules],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_a_module_whose_import_is_not_bundled_is_refused(tmp_path, monkeypatch):
    without_protocol = tuple(n for n in addon.VENDORED if n != "serve/protocol.py")
    monkeypatch.setattr(addon, "VENDORED", without_protocol)
    with pytest.raises(KineticGanError, match=r"serve/client\.py: imports serve\.protocol"):
        addon.vendor_backend_modules(tmp_path)


def test_copies_of_modules_no_longer_bundled_are_removed(tmp_path):
    stale = tmp_path / "vendor" / "protocol.py"  # where an older build put it
    stale.parent.mkdir()
    stale.write_text("# stale\n")
    vendor = addon.vendor_backend_modules(tmp_path)
    assert not stale.exists()
    assert (vendor / "serve" / "protocol.py").read_text().startswith("# Copied from")


def test_the_add_on_writes_files_through_the_backends_atomic_module(tmp_path):
    from kinetic_gan_blender.core import atomic

    assert atomic.atomic_path.__module__ == "kinetic_gan_blender.vendor.atomic"
    target = tmp_path / "done.json"
    atomic.write_text(target, "{}")
    assert target.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["done.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # as open() would make it, not 0600


def test_the_add_on_cleans_takes_with_the_bundled_cleanup_only():
    from kinetic_gan_blender.core import cleanup

    assert cleanup.motion_cleanup.__name__ == "kinetic_gan_blender.vendor.motion_cleanup"
