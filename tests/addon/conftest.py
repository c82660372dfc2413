"""Fixtures of the add-on tests that run Blender's bpy module in this process."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def bpy(tmp_path_factory):
    """The bpy module, Blender's user folders in a temporary home; the test skips without it."""
    home = tmp_path_factory.mktemp("blender_home")
    os.environ["BLENDER_USER_RESOURCES"] = str(home / "resources")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    return pytest.importorskip("bpy")
